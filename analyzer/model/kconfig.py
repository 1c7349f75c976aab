"""The kernel configuration the model runs under: a ``.config``.

Takes the Kconfig files of the fetched tree (``cfg.kernel_dir``: the files that
``[sources]`` of ``kernel/config.toml`` names, and whatever they ``source``),
read and resolved by kconfiglib, plus the data table ``kernel/config.toml``:
``[outside]`` declares the options that the fetched parts use but do not declare
(each with its type, value and source), ``[defconfig]`` is applied as
``make defconfig`` applies a defconfig fragment, ``[unfetched]`` lists the
Kconfig files that are sourced but not fetched (read as empty).  Or, instead of
the defaults, a user's ``.config``.

Gives a :class:`KernelConfig`: ``value``, ``enabled`` (``defined(CONFIG_X)``),
``is_enabled``/``is_builtin``/``is_module``/``is_reachable`` (the macros of
include/linux/kconfig.h), ``number``, ``source`` (where each value comes
from), ``defines`` (the macros an autoconf.h would hold), ``write`` (a
``.config``) and ``digest``.  A resolved configuration is cached as plain JSON
in ``cfg.build_dir / "config"``, keyed by the hashes of every Kconfig file read,
of the table, of this module and of the user's ``.config``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import shutil
import tempfile
import threading
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from analyzer.constants import evaluate_expr
from analyzer.errors import AnalyzerError
from analyzer.records import maker

__all__ = ["Option", "Outside", "Table", "KernelConfig", "table", "parse_table", "describe",
           "normalize", "parse_config", "kconfig_tree", "clear_cache", "UNDECLARED"]

#: the version of the cached JSON layout
FORMAT = 1
#: the source of an option that neither the fetched Kconfig files nor the table declare
UNDECLARED = ("not declared in the fetched Kconfig files nor in config.toml [outside]: "
              "n (an undeclared option is n)")
_TYPES = ("bool", "tristate", "int", "hex", "string")


@dataclass(frozen=True)
class Option:
    """One option of a configuration.  ``value`` is written as a ``.config``
    writes it (``y``, ``m``, ``n``, ``250``, ``0x1000``, ``"cubic"``; ``""`` for
    a number without a value); ``written`` tells whether the ``.config`` (and
    so autoconf.h) carries the option at all (an invisible option without a
    default is left out)."""

    name: str
    type: str
    value: str
    source: str
    written: bool = True


@dataclass(frozen=True)
class Outside:
    """An option of ``[outside]``: declared outside the fetched parts."""

    name: str
    type: str
    value: str
    source: str
    modules: bool = False  # the MODULES option (kconfiglib's `option modules`)


@dataclass(frozen=True)
class Table:
    """``kernel/config.toml`` as records; ``sha`` is the hash of its text."""

    outside: dict[str, Outside]
    defconfig: dict[str, str]
    unfetched: tuple[str, ...]
    sources: tuple[str, ...]
    sha: str


def normalize(name: str) -> str:
    """An option name without its ``CONFIG_`` prefix.

    >>> normalize("CONFIG_NET"), normalize("NET")
    ('NET', 'NET')
    """
    return name[7:] if name.startswith("CONFIG_") else name


@cache
def table() -> Table:
    """The data table ``kernel/config.toml``, checked."""
    return parse_table(resources.files("analyzer.kernel").joinpath("config.toml").read_text(),
                       "kernel/config.toml")


def parse_table(text: str, label: str = "config table") -> Table:
    """A :class:`Table` from the text of a table like ``kernel/config.toml``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise AnalyzerError(f"{label}: {e}") from None
    outside = {}
    for name, spec in data.get("outside", {}).items():
        kind, value = spec.get("type"), str(spec.get("value", ""))
        if kind not in _TYPES or not spec.get("source"):
            raise AnalyzerError(f"{label}: [outside.{name}] needs a type "
                                f"({', '.join(_TYPES)}) and a source")
        outside[name] = Outside(name, kind, value, spec["source"], bool(spec.get("modules")))
    return Table(outside, {k: str(v) for k, v in data.get("defconfig", {}).items()},
                 tuple(data.get("unfetched", {}).get("files", [])),
                 tuple(data.get("sources", {}).get("files", [])),
                 hashlib.sha256(text.encode()).hexdigest())


# --- the configuration ------------------------------------------------------------

class KernelConfig:
    """A resolved configuration: option name (without ``CONFIG_``) -> Option.

    Names are accepted with or without the ``CONFIG_`` prefix.  An option that
    nothing declares is ``n`` (:data:`UNDECLARED`)."""

    def __init__(self, options: dict[str, Option], origin: str = "default",
                 warnings: tuple[str, ...] = ()):
        self.options = options
        self.origin = origin  # "default" or the path of the user's .config
        self.warnings = warnings

    @classmethod
    def load(cls, cfg, config_file: str | os.PathLike | None = None, *,
             use_cache: bool = True, tab: Table | None = None) -> KernelConfig:
        """The default configuration of the fetched tree, or the one a user's
        ``.config`` gives (AnalyzerError if the file is missing; its bad lines
        become :attr:`warnings` naming the line).  Cached under
        ``cfg.build_dir / "config"``.  ``tab`` replaces kernel/config.toml."""
        path = Path(config_file) if config_file is not None else None
        text = _read_config(path) if path is not None else None
        return _load(cfg, path, text, use_cache, tab or table())

    @classmethod
    def of_tree(cls, kernel_dir: str | os.PathLike) -> KernelConfig:
        """The default configuration of the tree at ``kernel_dir`` (not cached)."""
        return _resolve(Path(kernel_dir), table(), None, None)[0]

    # --- lookups ---------------------------------------------------------------

    def option(self, name: str) -> Option | None:
        """The option ``name`` or None when nothing declares it."""
        return self.options.get(normalize(name))

    def value(self, name: str) -> str:
        """The value as a ``.config`` writes it: ``"y"``, ``"m"``, ``"n"``,
        ``"250"``, ``'"cubic"'``; ``"n"`` for an undeclared option."""
        opt = self.option(name)
        return opt.value if opt is not None else "n"

    def source(self, name: str) -> str:
        """Where the value comes from: ``"net/Kconfig:58: ..."``,
        ``"config.toml [outside]: ..."``, ``"your .config line 12"``."""
        opt = self.option(name)
        return opt.source if opt is not None else UNDECLARED

    def number(self, name: str) -> int | None:
        """The value of an int or hex option, else None."""
        opt = self.option(name)
        if opt is None or opt.type not in ("int", "hex") or not opt.value:
            return None
        try:
            return int(opt.value, 0) if opt.type == "hex" else int(opt.value)
        except ValueError:
            return None

    def enabled(self, name: str) -> bool:
        """The preprocessor's ``defined(CONFIG_X)``: true for a ``y`` option
        and any written number or string; ``CONFIG_X_MODULE`` is defined for an
        ``m`` option."""
        return f"CONFIG_{normalize(name)}" in self.defines()

    def is_builtin(self, name: str) -> bool:
        """``IS_BUILTIN(CONFIG_X)``: the option is ``y``."""
        return self._tristate(name) == "y"

    def is_module(self, name: str) -> bool:
        """``IS_MODULE(CONFIG_X)``: the option is ``m``."""
        return self._tristate(name) == "m"

    def is_enabled(self, name: str) -> bool:
        """``IS_ENABLED(CONFIG_X)``: ``y`` or ``m``."""
        return self._tristate(name) in ("y", "m")

    def is_reachable(self, name: str, module: bool = False) -> bool:
        """``IS_REACHABLE(CONFIG_X)`` for code built in (``module=False``) or
        built as a module: ``y``, or ``m`` seen from a module
        (include/linux/kconfig.h)."""
        v = self._tristate(name)
        return v == "y" or (v == "m" and module)

    def _tristate(self, name: str) -> str:
        opt = self.option(name)
        if opt is None or not opt.written or opt.value not in ("y", "m"):
            return "n"
        return opt.value

    def evaluate(self, cond: str, module: bool = False) -> int | None:
        """The value of a preprocessor condition under this configuration, as
        ``#if`` reads it or as ``Field.guard`` writes it (``defined(X)`` made
        ``X``): ``IS_ENABLED(CONFIG_X)`` and the other helpers of
        include/linux/kconfig.h, ``defined``, ``CONFIG_`` names (0 when not
        defined), ``MODULE`` (``module``), ``__KERNEL__`` (1); None when the
        condition names something else.

        >>> KernelConfig({"A": Option("A", "bool", "y", "")}).evaluate(
        ...     "CONFIG_A && !IS_ENABLED(CONFIG_B) && !defined(MODULE)")
        1
        """
        d = self.defines()

        def helper(m: re.Match) -> str:
            fn, name = m.group(1), normalize(m.group(2))
            if m.group(2) == "MODULE":
                return str(int(module))
            y, mod = d.get(f"CONFIG_{name}") == 1, d.get(f"CONFIG_{name}_MODULE") == 1
            value = {"IS_BUILTIN": y, "config_enabled": y, "IS_MODULE": mod,
                     "IS_ENABLED": y or mod, "IS_REACHABLE": y or (mod and module)}[fn]
            return str(int(value))

        def defined(m: re.Match) -> str:
            name = m.group(1) or m.group(2)
            return str(int(name in d or (name == "MODULE" and module) or name == "__KERNEL__"))

        def lookup(name: str) -> int:
            if name.startswith("CONFIG_"):
                v = d.get(name, 0)
                if isinstance(v, int):
                    return v
            elif name in ("MODULE", "__KERNEL__"):
                return int(module) if name == "MODULE" else 1
            raise ValueError(name)

        text = _DEFINED.sub(defined, _HELPER.sub(helper, cond))
        return evaluate_expr(text, lookup)

    def defines(self) -> dict[str, int | str]:
        """The macros the configuration gives the preprocessor, as autoconf.h
        writes them: ``CONFIG_X: 1`` (y), ``CONFIG_X_MODULE: 1`` (m),
        ``CONFIG_HZ: 250``, ``CONFIG_DEFAULT_TCP_CONG: '"cubic"'``."""
        found = self.__dict__.get("_defines")
        if found is None:
            found = self.__dict__["_defines"] = _defines(self.options.values())
        return found

    def rows(self, names=None) -> list[tuple[str, str, str]]:
        """(``CONFIG_`` name, value, source) of ``names`` (every option when
        None), for :func:`describe`."""
        keys = self.options if names is None else [normalize(n) for n in names]
        return [(f"CONFIG_{k}", self.value(k), self.source(k)) for k in keys]

    @property
    def digest(self) -> str:
        """A stable hash of the values (not of their sources)."""
        h = hashlib.sha256()
        for name in sorted(self.options):
            o = self.options[name]
            h.update(f"{name}={o.value if o.written else ''}\n".encode())
        return h.hexdigest()[:16]

    def write(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        """Write the configuration as a ``.config`` (atomically; an existing
        file only with ``overwrite``)."""
        path = Path(path)
        if path.exists() and not overwrite:
            raise AnalyzerError(f"{path} exists; not overwritten")
        _atomic_write(path, self.config_text())

    def config_text(self) -> str:
        """The ``.config`` text: every written option, in declaration order."""
        lines = ["#", "# Linux 4.4.1 configuration of the analysed tree",
                 f"# ({'defaults' if self.origin == 'default' else self.origin}; "
                 f"digest {self.digest})", "#"]
        for o in self.options.values():
            if not o.written:
                continue
            if o.value == "n" and o.type in ("bool", "tristate"):
                lines.append(f"# CONFIG_{o.name} is not set")
            else:
                lines.append(f"CONFIG_{o.name}={o.value}")
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict:
        """Plain data: origin, warnings, options (name -> [type, value, source, written])."""
        return {"origin": self.origin, "warnings": list(self.warnings),
                "options": {k: [o.type, o.value, o.source, o.written]
                            for k, o in self.options.items()}}

    @classmethod
    def from_json(cls, data: dict) -> KernelConfig:
        """The inverse of :meth:`to_json`."""
        make = _OPTION
        opts = {k: make(k, t, v, s, w) for k, (t, v, s, w) in data["options"].items()}
        return cls(opts, data["origin"], tuple(data.get("warnings", ())))


_OPTION = maker(Option)  # a fast positional constructor (the cached load makes ~1,400)
_HELPER = re.compile(r"\b(IS_ENABLED|IS_BUILTIN|IS_MODULE|IS_REACHABLE|config_enabled)"
                     r"\s*\(\s*(\w+)\s*\)")
_DEFINED = re.compile(r"\bdefined\s*(?:\(\s*(\w+)\s*\)|\s+(\w+))")


def _defines(options) -> dict[str, int | str]:
    out: dict[str, int | str] = {}
    for o in options:
        if not o.written or not o.value:
            continue
        if o.type in ("bool", "tristate") or o.value in ("y", "m", "n"):
            if o.value == "y":
                out[f"CONFIG_{o.name}"] = 1
            elif o.value == "m":
                out[f"CONFIG_{o.name}_MODULE"] = 1
        elif o.type in ("int", "hex"):
            try:
                out[f"CONFIG_{o.name}"] = int(o.value, 0) if o.type == "hex" else int(o.value)
            except ValueError:
                out[f"CONFIG_{o.name}"] = o.value
        else:
            out[f"CONFIG_{o.name}"] = o.value
    return out


def describe(rows) -> str:
    """Rows of three columns (name, value, source) as aligned text, one a line.

    >>> print(describe([("CONFIG_NET", "y", "config.toml [defconfig]"), ("CONFIG_HZ", "250", "x")]))
    CONFIG_NET  y    config.toml [defconfig]
    CONFIG_HZ   250  x
    """
    rows = [tuple(str(c) for c in r) for r in rows]
    if not rows:
        return ""
    w1 = max(len(r[0]) for r in rows)
    w2 = max(len(r[1]) for r in rows)
    return "\n".join(f"{n:<{w1}}  {v:<{w2}}  {s}".rstrip() for n, v, s in rows)


# --- a user's .config ---------------------------------------------------------

_SET = re.compile(r"CONFIG_(\w+)=(.*)")
_UNSET = re.compile(r"# CONFIG_(\w+) is not set")


@dataclass(frozen=True)
class _Assignment:
    name: str
    value: str
    line: int


def _read_config(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", "replace")
    except FileNotFoundError:
        raise AnalyzerError(f"{path}: no such .config file") from None
    except IsADirectoryError:
        raise AnalyzerError(f"{path}: is a directory, not a .config file") from None
    except OSError as e:
        raise AnalyzerError(f"{path}: cannot read ({e.strerror})") from None


def parse_config(text: str, label: str) -> tuple[list[_Assignment], list[str]]:
    """The assignments of a ``.config`` text and a warning per line that is
    none (``label:N: ...``).

    >>> a, w = parse_config("CONFIG_A=y\\n# CONFIG_B is not set\\n# c\\nbad\\n", ".config")
    >>> [(x.name, x.value, x.line) for x in a], w
    ([('A', 'y', 1), ('B', 'n', 2)], [".config:4: not a .config line, ignored: 'bad'"])
    """
    out, warns = [], []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        m = _SET.fullmatch(line)
        if m is not None:
            out.append(_Assignment(m.group(1), m.group(2).strip(), n))
            continue
        m = _UNSET.fullmatch(line)
        if m is not None:
            out.append(_Assignment(m.group(1), "n", n))
        elif not line.startswith("#"):
            warns.append(f"{label}:{n}: not a .config line, ignored: {line[:60]!r}")
    return out, warns


# --- loading and caching ---------------------------------------------------------

def _load(cfg, path: Path | None, text: str | None, use_cache: bool,
          tab: Table) -> KernelConfig:
    kernel_dir = _kernel_dir(cfg)
    config_sha = hashlib.sha256(text.encode()).hexdigest()[:16] if text is not None else ""
    cache_file = Path(cfg.build_dir) / "config" / (
        f"config-{config_sha}.json" if text is not None else "default.json")
    key = {"format": FORMAT, "table": tab.sha, "code": _code_sha(), "config": config_sha}
    if use_cache:
        found = _from_cache(cache_file, key, kernel_dir)
        if found is not None:
            return _with_origin(found, path)
    conf, files = _resolve(kernel_dir, tab, path, text)
    if use_cache:
        _to_cache(cache_file, {**key, "files": files, **conf.to_json()})
    return conf


def _kernel_dir(cfg) -> Path:
    kernel_dir = Path(cfg.kernel_dir)
    if not kernel_dir.is_dir():
        raise AnalyzerError(f"no kernel tree at {kernel_dir}; run `kernel-analyzer analyze` "
                            "(or `kernel-analyzer fetch`)")
    return kernel_dir


def kconfig_tree(cfg, tab: Table | None = None):
    """The kconfiglib ``Kconfig`` of the fetched tree with the ``[defconfig]``
    fragment applied (for inspection; :class:`KernelConfig` is the model's view)."""
    import kconfiglib

    tab = tab or table()
    with tempfile.TemporaryDirectory(prefix="analyzer-kconfig-") as tmp:
        kconf = _parse(kconfiglib, _overlay(Path(tmp), _kernel_dir(cfg), tab), _kernel_dir(cfg))
    _apply_defconfig(kconf, tab)
    return kconf


def _with_origin(conf: KernelConfig, path: Path | None) -> KernelConfig:
    origin = str(path) if path is not None else "default"
    return conf if conf.origin == origin else KernelConfig(conf.options, origin, conf.warnings)


@cache
def _code_sha() -> str:
    """A hash of this module and of kconfiglib's source (found without
    importing it: the cached path stays fast)."""
    h = hashlib.sha256(Path(__file__).read_bytes())
    spec = importlib.util.find_spec("kconfiglib")
    if spec is None or spec.origin is None:
        raise AnalyzerError("kconfiglib is not installed; run `make setup`")
    h.update(Path(spec.origin).read_bytes())
    return h.hexdigest()[:16]


def _file_sha(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()[:16]
    except OSError:
        return "absent"


def _file_key(path: str) -> list:
    """[sha256 prefix, size, mtime in ns] of a Kconfig file (["absent", 0, 0]
    when missing)."""
    try:
        st = os.stat(path)
    except OSError:
        return ["absent", 0, 0]
    return [_file_sha(path), st.st_size, st.st_mtime_ns]


def _unchanged(path: str, key) -> bool:
    """Is the file as when ``key`` was taken?  Its size and mtime first (a
    stat), its hash when they differ."""
    try:
        st = os.stat(path)
    except OSError:
        return key[0] == "absent"
    if [st.st_size, st.st_mtime_ns] == key[1:]:
        return True
    return _file_sha(path) == key[0]


def _from_cache(cache_file: Path, key: dict, kernel_dir: Path) -> KernelConfig | None:
    """The cached configuration if every input is unchanged, else None."""
    try:
        with open(cache_file, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or any(data.get(k) != v for k, v in key.items()):
        return None
    files = data.get("files")
    root = str(kernel_dir) + os.sep
    if not isinstance(files, dict) or not all(
            isinstance(k, list) and len(k) == 3 and _unchanged(root + rel, k)
            for rel, k in files.items()):
        return None
    try:
        return KernelConfig.from_json(data)
    except (KeyError, TypeError, ValueError):
        return None


#: cached configurations of users' .config files kept (the most recent ones)
_KEEP = 8


def _to_cache(cache_file: Path, data: dict) -> None:
    with contextlib.suppress(OSError):  # a cache not written costs time, not correctness
        _atomic_write(cache_file, json.dumps(data, ensure_ascii=False, separators=(",", ":")))
        old = sorted(cache_file.parent.glob("config-*.json"), key=lambda p: p.stat().st_mtime)
        for path in old[:-_KEEP]:
            path.unlink(missing_ok=True)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- resolving with kconfiglib ---------------------------------------------------

#: kconfiglib reads $srctree when a Kconfig is made: one at a time
_SRCTREE_LOCK = threading.Lock()
_SRCTREE = "srctree"  # the (lower-case) variable kconfiglib reads
_TOP = "Kconfig.analyzer"


def _resolve(kernel_dir: Path, tab: Table, path: Path | None,
             text: str | None) -> tuple[KernelConfig, dict[str, list]]:
    """Parse the Kconfig files, apply the defconfig fragment (or the user's
    .config), and read every option back with its source."""
    import kconfiglib

    with tempfile.TemporaryDirectory(prefix="analyzer-kconfig-") as tmp:
        overlay = _overlay(Path(tmp), kernel_dir, tab)
        kconf = _parse(kconfiglib, overlay, kernel_dir)
        files = {rel: _file_key(str(kernel_dir / rel)) for rel in kconf.kconfig_filenames
                 if rel != _TOP}
    if text is None:
        assigned, warns = _apply_defconfig(kconf, tab)
        origin = "default"
    else:
        assigned, warns = _apply_user(kconf, text, str(path))
        origin = str(path)
    options = _options(kconfiglib, kconf, tab, assigned)
    if text is not None:
        _add_undeclared(options, assigned)
    return KernelConfig(options, origin, tuple(warns)), files


def _overlay(root: Path, kernel_dir: Path, tab: Table) -> Path:
    """A source tree for kconfiglib: links to the fetched tree's top-level
    entries, empty files for the sourced but unfetched Kconfig files, and a
    top Kconfig file declaring the ``[outside]`` options and sourcing
    ``[sources]``."""
    for entry in kernel_dir.iterdir():
        if entry.name != _TOP:
            (root / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    for rel in tab.unfetched:
        if not (kernel_dir / rel).exists():
            stub = root / rel
            if stub.parent.is_symlink():
                continue  # a fetched folder: the file is really missing there
            stub.parent.mkdir(parents=True, exist_ok=True)
            stub.write_text("# not in the fetched tree: read as empty\n")
    (root / _TOP).write_text(_top_kconfig(tab))
    return root


def _kconfig_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _top_kconfig(tab: Table) -> str:
    """Kconfig text declaring every ``[outside]`` option (type, prompt,
    default) and sourcing the fetched Kconfig files."""
    out = ['mainmenu "Linux 4.4.1: the fetched tree (net/, fs/) and config.toml [outside]"', ""]
    for o in tab.outside.values():
        out.append(f"config {o.name}")
        out.append(f"\t{o.type} {_kconfig_string(o.name + ' (config.toml [outside])')}")
        if o.value and not (o.type in ("bool", "tristate") and o.value == "n"):
            value = _kconfig_string(o.value.strip('"')) if o.type == "string" else o.value
            out.append(f"\tdefault {value}")
        if o.modules:
            out.append("\toption modules")
        out.append("")
    out += [f'source "{rel}"' for rel in tab.sources]
    return "\n".join(out) + "\n"


def _parse(kconfiglib, overlay: Path, kernel_dir: Path):
    """The Kconfig tree of ``overlay``; AnalyzerError naming a missing file."""
    with _SRCTREE_LOCK:
        old = os.environ.get(_SRCTREE)
        os.environ[_SRCTREE] = str(overlay)
        try:
            return kconfiglib.Kconfig(_TOP, warn_to_stderr=False)
        except kconfiglib.KconfigError as e:
            text = " ".join(str(e).split())
            if missing := re.search(r"'([^']+)' not found", text):
                raise AnalyzerError(
                    f"{kernel_dir / missing.group(1)} is missing: the kernel tree is incomplete "
                    "(the configuration reads its Kconfig files); fetch it again with "
                    "`kernel-analyzer fetch`") from None
            raise AnalyzerError(f"Kconfig: {text}") from None
        finally:
            if old is None:
                os.environ.pop(_SRCTREE, None)
            else:
                os.environ[_SRCTREE] = old


def _apply_defconfig(kconf, tab: Table) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """Set the ``[defconfig]`` values; name -> (value, where) of those set."""
    assigned, warns = {}, []
    for name, value in tab.defconfig.items():
        sym = kconf.syms.get(name)
        if sym is None or not sym.nodes:
            warns.append(f"kernel/config.toml: [defconfig] {name} is not declared by the "
                         "fetched Kconfig files; ignored")
            continue
        if not sym.set_value(value):
            warns.append(f"kernel/config.toml: [defconfig] {name}={value} is not a valid "
                         "value; ignored")
            continue
        assigned[name] = (value, f"config.toml [defconfig]: x86_64_defconfig: "
                                 f"CONFIG_{name}={value}")
    return assigned, warns


def _apply_user(kconf, text: str, label: str) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """Set the values of a user's .config; name -> (value, where)."""
    found, warns = parse_config(text, label)
    assigned: dict[str, tuple[str, str]] = {}
    lines: dict[str, int] = {}
    for a in found:
        where = f"your .config line {a.line}"
        if a.name in lines:
            warns.append(f"{label}:{a.line}: CONFIG_{a.name} set again (line "
                         f"{lines[a.name]}); this line wins")
        sym = kconf.syms.get(a.name)
        if sym is None or not sym.nodes:
            assigned[a.name] = (a.value, where)
            lines[a.name] = a.line
            continue
        value = _unquote(a.value) if _type_name(sym) == "string" else a.value
        if value is None or not sym.set_value(value):
            warns.append(f"{label}:{a.line}: CONFIG_{a.name}={a.value} is not a valid "
                         f"{_type_name(sym)} value; ignored")
            continue
        assigned[a.name] = (a.value, where)
        lines[a.name] = a.line
    return assigned, warns


def _unquote(text: str) -> str | None:
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        return None
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _type_code(kconf, name: str) -> int:
    import kconfiglib

    return {"bool": kconfiglib.BOOL, "tristate": kconfiglib.TRISTATE,
            "string": kconfiglib.STRING, "int": kconfiglib.INT, "hex": kconfiglib.HEX}[name]


def _type_name(sym) -> str:
    import kconfiglib

    return kconfiglib.TYPE_TO_STR.get(sym.orig_type, "unknown") or "unknown"


def _options(kconfiglib, kconf, tab: Table,
             assigned: dict[str, tuple[str, str]]) -> dict[str, Option]:
    out = {}
    for sym in kconf.unique_defined_syms:
        kind = _type_name(sym)
        if kind not in _TYPES:
            continue
        value = sym.str_value
        if kind == "string":
            value = _kconfig_string(value)
        out[sym.name] = Option(sym.name, kind, value,
                               _source(kconfiglib, kconf, sym, tab, assigned),
                               bool(sym.config_string))
    return out


def _add_undeclared(options: dict[str, Option], assigned: dict[str, tuple[str, str]]) -> None:
    """Options of a user's .config that nothing declares: taken as written."""
    for name, (value, where) in assigned.items():
        if name in options:
            continue
        kind = ("tristate" if value in ("y", "m", "n") else "string" if value.startswith('"')
                else "hex" if value.lower().startswith("0x") else "int")
        options[name] = Option(name, kind, value, f"{where} (not declared in the fetched "
                               "Kconfig files nor config.toml [outside]: taken as written)")


# --- where a value comes from ------------------------------------------------------

def _loc(node) -> str:
    if node.filename == _TOP:  # an [outside] option
        return f"config.toml [outside] {node.item.name}"
    return f"{node.filename}:{node.linenr}"


def _source(kconfiglib, kconf, sym, tab: Table, assigned: dict[str, tuple[str, str]]) -> str:
    """Why ``sym`` has its value: the assignment that set it, the choice, the
    selects, the ``[outside]`` entry or the default that applied."""
    note = ""
    if sym.name in assigned:
        want, where = assigned[sym.name]
        if _takes(kconfiglib, sym, want):
            return where
        note = f" ({where} asks {want}; {_why_not(kconfiglib, sym)})"
    return _base_source(kconfiglib, kconf, sym, tab) + note


def _takes(kconfiglib, sym, want: str) -> bool:
    value = sym.str_value
    if sym.orig_type == kconfiglib.STRING:
        return _unquote(want) == value
    return want == value


def _why_not(kconfiglib, sym) -> str:
    if sym.visibility == 0:
        return f"not visible: depends on {kconfiglib.expr_str(sym.direct_dep)}"
    return "limited by its dependencies or selects"


def _base_source(kconfiglib, kconf, sym, tab: Table) -> str:
    if sym.choice is not None:
        return _choice_source(kconfiglib, sym)
    if sym.orig_type in (kconfiglib.BOOL, kconfiglib.TRISTATE) and sym.tri_value > 0 \
            and kconfiglib.expr_value(sym.rev_dep) > 0:
        terms = [kconfiglib.expr_str(t) for t in kconfiglib.split_expr(sym.rev_dep, kconfiglib.OR)
                 if kconfiglib.expr_value(t) > 0]
        return f"{_loc(sym.nodes[0])}: selected by {', '.join(terms)}"
    if sym.name in tab.outside:
        return f"config.toml [outside]: {tab.outside[sym.name].source}"
    return _default_source(kconfiglib, kconf, sym)


def _choice_source(kconfiglib, sym) -> str:
    choice = sym.choice
    where = _loc(choice.nodes[0])
    selected = choice.selection
    if selected is None:
        return f"{where}: choice not visible: depends on {kconfiglib.expr_str(choice.direct_dep)}"
    how = "choice default" if choice.user_selection is None else "choice set to"
    return f"{where}: {how} {selected.name}"


def _default_source(kconfiglib, kconf, sym) -> str:
    for node in sym.nodes:
        for value, cond in node.defaults:
            if kconfiglib.expr_value(cond) == 0:
                continue
            text = f"{_loc(node)}: default {kconfiglib.expr_str(value)}"
            if cond is not kconf.y:
                text += f" if {kconfiglib.expr_str(cond)}"
            if sym.orig_type in (kconfiglib.BOOL, kconfiglib.TRISTATE) \
                    and sym.tri_value < kconfiglib.expr_value(value):
                text += f" (limited: depends on {kconfiglib.expr_str(sym.direct_dep)})"
            return text
    return f"{_loc(sym.nodes[0])}: no default applies"


def clear_cache(cfg) -> None:
    """Remove the cached configurations of ``cfg``."""
    shutil.rmtree(Path(cfg.build_dir) / "config", ignore_errors=True)
