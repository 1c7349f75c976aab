"""What a build compiles in, and in which order the kernel runs the initcalls.

Takes the kbuild Makefiles of the fetched tree and a
:class:`~analyzer.model.kconfig.KernelConfig`; gives a :class:`Build`: for each
``.c`` file of the tree whether it is built in (``"y"``), built as a module
(``"m"``) or not built (None, with the reason), and the link order of the
built-in ones.  The top-level Makefile of the release gives the order of the
top directories (``KBUILD_VMLINUX_MAIN := $(core-y) $(libs-y) $(drivers-y)
$(net-y)``, ``core-y += ... fs/ ...``, ``net-y := net/``); each directory's
Makefile gives its ``obj-y``/``obj-m`` lists, composite objects
(``unix-y := af_unix.o garbage.o``, ``foo-objs``), and subdirectories, read the
way kbuild reads them: a descent into ``dir/`` reads ``dir/Makefile`` with the
parent's y/m.

The Makefiles are evaluated by a small make interpreter: ``:=``, ``=``, ``+=``,
``?=``, ``$(VAR)``, ``$(VAR:a=b)``, line continuations, ``ifeq``/``ifneq``/
``ifdef``/``ifndef``/``else``/``endif`` and the functions kbuild files use
(``subst``, ``patsubst``, ``filter``, ``addprefix``, ``if``, ...).  What it
cannot evaluate (``$(shell ...)``, ``include``, an unknown function) is a
warning naming the Makefile and line, and counts as empty.

:func:`initcall_order` then sorts the Initcall records of the built-in files
whose guard the configuration keeps: by level (include/linux/init.h), then link
order, then line; every one left out is listed with its reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from analyzer.directives import level_rank
from analyzer.errors import AnalyzerError

__all__ = ["BuiltObject", "Build", "built", "BootCall", "Skipped", "InitcallOrder",
           "initcall_order", "TOP_GROUPS"]

#: the link groups of the top-level Makefile, as KBUILD_VMLINUX_INIT and
#: KBUILD_VMLINUX_MAIN list them; read from the Makefile, this is the fallback
TOP_GROUPS = ("head-y", "init-y", "core-y", "libs-y", "drivers-y", "net-y", "virt-y")


@dataclass(frozen=True)
class BuiltObject:
    """A ``.c`` file the build compiles: its status (``"y"`` or ``"m"``), its
    position in the link order (built-in ones), and why (the Makefile line)."""

    file: str
    status: str
    order: int | None
    makefile: str
    line: int
    why: str


@dataclass
class Build:
    """What the build compiles, by ``.c`` path relative to the tree."""

    objects: dict[str, BuiltObject] = field(default_factory=dict)
    #: files or folders left out, with the reason ("CONFIG_IP_DCCP is n")
    excluded: dict[str, str] = field(default_factory=dict)
    #: folders read, with the status they were read with
    dirs: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: top-level folders in link order
    top: tuple[str, ...] = ()

    def status(self, file: str) -> str | None:
        """``"y"`` (built in), ``"m"`` (a module) or None (not built)."""
        obj = self.objects.get(file)
        return obj.status if obj is not None else None

    def order(self, file: str) -> int | None:
        """The position of a built-in file in the link order (None otherwise)."""
        obj = self.objects.get(file)
        return obj.order if obj is not None else None

    def why(self, file: str) -> str:
        """Why ``file`` is built (the Makefile line) or not."""
        obj = self.objects.get(file)
        if obj is not None:
            return obj.why
        path = file
        while path:
            if path in self.excluded:
                return self.excluded[path]
            parent = path.rsplit("/", 1)[0] if "/" in path else ""
            if parent and parent in self.dirs and path != file:
                return f"{path}/ is not in the obj- lists of {parent}/Makefile"
            if parent in self.dirs and path == file:
                return f"not in the obj- lists of {parent}/Makefile"
            path = parent
        return "not in a folder the build reads"

    def built_in(self) -> list[BuiltObject]:
        """The built-in objects in link order."""
        return sorted((o for o in self.objects.values() if o.status == "y"),
                      key=lambda o: o.order)


# --- the make interpreter -----------------------------------------------------------

_ASSIGN = re.compile(r"^(?P<lhs>[^=]*?)\s*(?P<op>::=|:=|\+=|\?=|=)\s*(?P<rhs>.*)$")
_CONDITIONAL = re.compile(r"^(ifeq|ifneq|ifdef|ifndef)\b\s*(.*)$")
_CONFIG_REF = re.compile(r"\$[({]CONFIG_(\w+)[)}]")
_FUNCTIONS = frozenset({
    "subst", "patsubst", "strip", "findstring", "filter", "filter-out", "sort", "word",
    "words", "wordlist", "firstword", "lastword", "dir", "notdir", "suffix", "basename",
    "addsuffix", "addprefix", "join", "wildcard", "if", "or", "and", "foreach", "call",
    "origin", "flavor", "value", "error", "warning", "info", "shell", "eval", "abspath",
    "realpath", "file"})


class _Unevaluable(Exception):
    """Something make would do that this interpreter cannot."""


class _Make:
    """One Makefile's variables, evaluated line by line."""

    def __init__(self, path: str, folder: str, lookup, root: Path, warnings: list[str]):
        self.path = path  # "net/unix/Makefile"
        self.folder = folder  # "net/unix"
        self.lookup = lookup  # CONFIG_X -> make value ("y", "m", "", "250")
        self.root = root
        self.warnings = warnings
        self.vars: dict[str, str] = {}
        self.recursive: set[str] = set()
        #: (variable, word) -> (line, "left side and operator") where the word was added
        self.origin: dict[tuple[str, str], tuple[int, str]] = {}
        #: words of object lists whose assignment the configuration turned off
        self.off: dict[str, str] = {}
        self.line = 0

    # --- expansion ---------------------------------------------------------

    def warn(self, text: str) -> None:
        self.warnings.append(f"{self.path}:{self.line}: {text}")

    def expand(self, text: str, depth: int = 0) -> str:
        if "$" not in text:
            return text
        if depth > 30:
            raise _Unevaluable("expansion too deep")
        out, i, n = [], 0, len(text)
        while i < n:
            j = text.find("$", i)
            if j < 0 or j + 1 >= n:
                out.append(text[i:] if j < 0 else text[i:j])
                break
            out.append(text[i:j])
            c = text[j + 1]
            if c == "$":
                out.append("$")
                i = j + 2
            elif c in "({":
                close = _matching(text, j + 1)
                out.append(self._reference(text[j + 2:close], depth))
                i = close + 1
            else:
                out.append(self.variable(c, depth))
                i = j + 2
        return "".join(out)

    def variable(self, name: str, depth: int = 0) -> str:
        if name.startswith("CONFIG_"):
            return self.lookup(name[7:])
        if name in ("obj", "src"):
            return self.folder
        if name in ("srctree", "objtree"):
            return "."
        if name in ("ARCH", "SRCARCH"):
            return "x86"
        value = self.vars.get(name, "")
        return self.expand(value, depth + 1) if name in self.recursive else value

    def _reference(self, inner: str, depth: int) -> str:
        head = re.match(r"([a-z-]+)[ \t]", inner)
        if head is not None and head.group(1) in _FUNCTIONS:
            return self._function(head.group(1), inner[head.end():], depth)
        name = inner
        if ":" in inner and "=" in inner.split(":", 1)[1]:  # $(var:a=b)
            name, pattern = inner.split(":", 1)
            src, dst = pattern.split("=", 1)
            words = self.variable(self.expand(name, depth + 1).strip(), depth).split()
            return " ".join(_patsubst(src if "%" in src else "%" + src,
                                      dst if "%" in src else "%" + dst, w) for w in words)
        return self.variable(self.expand(name, depth + 1).strip(), depth)

    def _function(self, name: str, rest: str, depth: int) -> str:
        args = _split_args(rest)
        if name in ("if", "or", "and", "foreach", "call"):
            return self._lazy_function(name, args, depth)
        a = [self.expand(x, depth + 1) for x in args]
        simple = _SIMPLE.get(name)
        if simple is not None:
            try:
                return simple(*a)
            except TypeError:
                raise _Unevaluable(f"$({name} ...) with {len(a)} arguments") from None
        if name == "wildcard":
            return " ".join(sorted(str(p.relative_to(self.root)) for pat in a[0].split()
                                   for p in self.root.glob(pat)))
        if name in ("warning", "info"):
            return ""
        if name == "error":
            raise _Unevaluable(f"$(error {a[0].strip()})")
        if name in ("origin", "flavor"):
            var = a[0].strip()
            return ("file" if name == "origin" else "simple") if var in self.vars \
                else "undefined"
        if name == "value":
            return self.vars.get(a[0].strip(), "")
        raise _Unevaluable(f"$({name} ...) cannot be evaluated here")

    def _lazy_function(self, name: str, args: list[str], depth: int) -> str:
        if name == "if":
            cond = self.expand(args[0], depth + 1).strip()
            branch = args[1] if cond else (args[2] if len(args) > 2 else "")
            return self.expand(branch, depth + 1)
        if name in ("or", "and"):
            last = ""
            for arg in args:
                last = self.expand(arg, depth + 1).strip()
                if bool(last) == (name == "or"):
                    return last
            return last if name == "and" else ""
        if name == "foreach":
            var = self.expand(args[0], depth + 1).strip()
            saved = (self.vars.get(var), var in self.recursive)
            out = []
            for word in self.expand(args[1], depth + 1).split():
                self.vars[var] = word
                self.recursive.discard(var)
                out.append(self.expand(args[2], depth + 1))
            _restore(self, var, saved)
            return " ".join(x for x in out if x)
        fn = self.expand(args[0], depth + 1).strip()
        if fn not in self.vars:
            raise _Unevaluable(f"$(call {fn},...): {fn} is not defined in this Makefile "
                               "(scripts/Kbuild.include is not read)")
        values = [self.expand(a, depth + 1) for a in args[1:]]
        body = self.vars[fn]
        for k, v in enumerate(values, 1):
            body = body.replace(f"$({k})", v).replace(f"${{{k}}}", v)
        return self.expand(body, depth + 1)

    # --- statements -------------------------------------------------------------

    def assign(self, lhs_raw: str, op: str, rhs: str) -> None:
        name = self.expand(lhs_raw).strip()
        for word in ("override ", "export "):
            if name.startswith(word):
                name = name[len(word):].strip()
        if not name or " " in name:
            raise _Unevaluable(f"assignment to {name!r}")
        if op == "?=" and name in self.vars:
            return
        if op in ("=", "?="):
            self.vars[name] = rhs
            self.recursive.add(name)
            added = self.expand(rhs)
        elif op == "+=":
            if name in self.recursive:
                self.vars[name] = f"{self.vars.get(name, '')} {rhs}".strip()
                added = self.expand(rhs)
            else:
                added = self.expand(rhs)
                self.vars[name] = f"{self.vars.get(name, '')} {added}".strip()
        else:  # := and ::=
            added = self.expand(rhs)
            self.vars[name] = added
            self.recursive.discard(name)
        for word in added.split():
            self.origin.setdefault((name, word), (self.line, f"{lhs_raw.strip()} {op}"))
        self._note_off(lhs_raw, name, added)

    def _note_off(self, lhs_raw: str, name: str, added: str) -> None:
        """Remember the words of an ``obj-$(CONFIG_X)`` (or ``unix-$(CONFIG_X)``,
        ``tmp-$(CONFIG_X)``) line that the configuration turned off (the name
        ends in ``-`` or ``-n``), with the reason."""
        refs = _CONFIG_REF.findall(lhs_raw)
        if not (name.endswith("-") or name.endswith("-n")) or not refs:
            return
        why = " and ".join(f"CONFIG_{r} is {self.lookup(r) or 'n'}" for r in refs)
        for word in added.split():
            self.off.setdefault(word, f"{self.path}:{self.line}: {why}")

    def words(self, name: str) -> list[str]:
        return self.variable(name).split()


def _restore(make: _Make, var: str, saved) -> None:
    value, recursive = saved
    if value is None:
        make.vars.pop(var, None)
    else:
        make.vars[var] = value
    if recursive:
        make.recursive.add(var)


def _matching(text: str, open_at: int) -> int:
    """The index of the parenthesis or brace closing the one at ``open_at``."""
    opener = text[open_at]
    closer = ")" if opener == "(" else "}"
    depth = 0
    for i in range(open_at, len(text)):
        c = text[i]
        if c == opener:
            depth += 1
        elif c == closer:
            depth -= 1
            if depth == 0:
                return i
    raise _Unevaluable(f"unbalanced {opener!r}")


def _split_args(text: str) -> list[str]:
    """Split a function's arguments at top-level commas."""
    out, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c in "({":
            depth += 1
        elif c in ")}":
            depth -= 1
        elif c == "," and depth == 0:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return out


def _patsubst(pattern: str, replacement: str, word: str) -> str:
    if "%" not in pattern:
        return replacement if word == pattern else word
    pre, post = pattern.split("%", 1)
    if word.startswith(pre) and word.endswith(post) and len(word) >= len(pre) + len(post):
        stem = word[len(pre):len(word) - len(post)]
        return replacement.replace("%", stem, 1) if "%" in replacement else replacement
    return word


def _filter(patterns: str, text: str, keep: bool) -> str:
    pats = patterns.split()
    return " ".join(w for w in text.split()
                    if any(_patsubst(p, "\0", w) == "\0" for p in pats) == keep)


_SIMPLE = {
    "subst": lambda a, b, t: t.replace(a, b),
    "patsubst": lambda p, r, t: " ".join(_patsubst(p.strip(), r.strip(), w) for w in t.split()),
    "strip": lambda t: " ".join(t.split()),
    "findstring": lambda f, t: f if f in t else "",
    "filter": lambda p, t: _filter(p, t, True),
    "filter-out": lambda p, t: _filter(p, t, False),
    "sort": lambda t: " ".join(sorted(set(t.split()))),
    "word": lambda n, t: (t.split()[int(n) - 1:int(n)] or [""])[0],
    "words": lambda t: str(len(t.split())),
    "firstword": lambda t: (t.split() or [""])[0],
    "lastword": lambda t: (t.split() or [""])[-1],
    "dir": lambda t: " ".join(w.rsplit("/", 1)[0] + "/" if "/" in w else "./" for w in t.split()),
    "notdir": lambda t: " ".join(w.rsplit("/", 1)[-1] for w in t.split()),
    "suffix": lambda t: " ".join("." + w.rsplit(".", 1)[1] for w in t.split() if "." in w),
    "basename": lambda t: " ".join(w.rsplit(".", 1)[0] for w in t.split()),
    "addsuffix": lambda s, t: " ".join(w + s.strip() for w in t.split()),
    "addprefix": lambda p, t: " ".join(p.strip() + w for w in t.split()),
}


# --- reading one Makefile ---------------------------------------------------------

def _logical_lines(text: str):
    """(line number, text) of each logical line: continuations joined,
    comments removed."""
    start, parts = 0, []
    for n, raw in enumerate(text.split("\n"), 1):
        if not parts:
            start = n
        if raw.endswith("\\"):
            parts.append(raw[:-1])
            continue
        parts.append(raw)
        line = " ".join(p.strip() if i else p for i, p in enumerate(parts))
        parts = []
        yield start, _uncomment(line)
    if parts:
        yield start, _uncomment(" ".join(parts))


def _uncomment(line: str) -> str:
    i = line.find("#")
    while i >= 0:
        if i == 0 or line[i - 1] != "\\":
            return line[:i].rstrip()
        i = line.find("#", i + 1)
    return line.rstrip()


def _evaluate(make: _Make, text: str) -> None:
    """Run a Makefile's lines: conditionals, assignments; rules, recipes and
    ``define`` blocks are skipped."""
    stack: list[list[bool]] = []  # per conditional: [active now, a branch was taken]
    in_rule = in_define = False
    for n, line in _logical_lines(text):
        make.line = n
        if in_define:
            in_define = line.strip() != "endef"
            continue
        if in_rule and line.startswith("\t"):
            continue
        in_rule = False
        stripped = line.strip()
        if not stripped:
            continue
        if _directive(make, stripped, stack):
            continue
        if not all(frame[0] for frame in stack):
            _note_inactive(make, stripped, stack)
            continue
        in_rule, in_define = _statement(make, stripped)


def _directive(make: _Make, line: str, stack: list[list[bool]]) -> bool:
    """Handle a conditional line; False if the line is none."""
    word = line.split(None, 1)[0]
    if word == "endif":
        if stack:
            stack.pop()
        else:
            make.warn("endif without if; ignored")
        return True
    if word == "else":
        if not stack:
            make.warn("else without if; ignored")
            return True
        frame = stack[-1]
        rest = line[4:].strip()
        if frame[1]:
            frame[0] = False
        elif rest:
            m = _CONDITIONAL.match(rest)
            frame[0] = _test(make, m.group(1), m.group(2)) if m else False
        else:
            frame[0] = True
        frame[1] = frame[1] or frame[0]
        return True
    m = _CONDITIONAL.match(line)
    if m is None:
        return False
    outer = all(f[0] for f in stack)
    value = _test(make, m.group(1), m.group(2)) if outer else False
    stack.append([value, value or not outer])
    return True


def _test(make: _Make, kind: str, args: str) -> bool:
    try:
        if kind in ("ifdef", "ifndef"):
            name = make.expand(args).strip()
            defined = bool(make.variable(name).strip()) if name.startswith("CONFIG_") \
                else bool(make.vars.get(name, "").strip())
            return defined == (kind == "ifdef")
        a, b = _condition_args(args)
        same = make.expand(a).strip() == make.expand(b).strip()
        return same == (kind == "ifeq")
    except _Unevaluable as e:
        make.warn(f"{kind} {args}: {e}; taken as false")
        return False


def _condition_args(args: str) -> tuple[str, str]:
    args = args.strip()
    if args.startswith("("):
        inner = args[1:_matching(args, 0)]
        parts = _split_args(inner)
        if len(parts) == 2:
            return parts[0], parts[1]
    m = re.fullmatch(r"""(["'])(.*?)\1\s+(["'])(.*?)\3""", args)
    if m is not None:
        return m.group(2), m.group(4)
    raise _Unevaluable("a condition this interpreter does not read")


def _statement(make: _Make, line: str) -> tuple[bool, bool]:
    """One active statement; gives (starts a rule, starts a define)."""
    first = line.split(None, 1)[0]
    if first == "define":
        return False, True
    if first in ("include", "-include", "sinclude"):
        make.warn(f"{line}: not followed (its variables are not read)")
        return False, False
    m = _ASSIGN.match(line)
    if m is not None and ":" not in m.group("lhs").replace("$(", "").split(")")[-1]:
        try:
            make.assign(m.group("lhs"), m.group("op"), m.group("rhs"))
        except _Unevaluable as e:
            make.warn(f"{line[:80]}: {e}; the line counts as empty")
        return False, False
    if ":" in line:
        return True, False  # a rule: its recipe lines follow
    try:
        if make.expand(line).strip():
            make.warn(f"{line[:80]}: not a statement this interpreter reads; ignored")
    except _Unevaluable as e:
        make.warn(f"{line[:80]}: {e}; ignored")
    return False, False


def _note_inactive(make: _Make, line: str, stack: list[list[bool]]) -> None:
    """Remember the objects an assignment in a false conditional would add."""
    m = _ASSIGN.match(line)
    if m is None or not m.group("lhs").strip().startswith("obj-"):
        return
    try:
        words = make.expand(m.group("rhs")).split()
    except _Unevaluable:
        return
    for word in words:
        make.off.setdefault(word, f"{make.path}:{make.line}: inside a conditional that is "
                                  "false under this configuration")


# --- the tree ---------------------------------------------------------------------

def _lookup(kconfig):
    """CONFIG_X -> the value kbuild's auto.conf gives make ("" for n)."""
    cache: dict[str, str] = {}

    def lookup(name: str) -> str:
        found = cache.get(name)
        if found is None:
            opt = kconfig.option(name)
            found = "" if opt is None or not opt.written or opt.value == "n" else opt.value
            cache[name] = found
        return found

    return lookup


def _top_order(root: Path, lookup, warnings: list[str]) -> tuple[str, ...]:
    """The top-level folders in link order, from the release's Makefile."""
    path = root / "Makefile"
    try:
        text = path.read_text(errors="replace")
    except OSError:
        raise AnalyzerError(f"{path}: cannot read the top-level Makefile") from None
    make = _Make("Makefile", "", lookup, root, [])
    groups: dict[str, list[str]] = {}
    main: list[str] = []
    for n, line in _logical_lines(text):
        m = _ASSIGN.match(line.strip())
        if m is None:
            continue
        lhs = m.group("lhs").strip()
        if lhs in TOP_GROUPS and m.group("op") in (":=", "+=", "="):
            words = [w for w in m.group("rhs").split() if w.endswith("/")]
            if words:
                groups.setdefault(lhs, []) if m.group("op") == "+=" else groups.pop(lhs, None)
                groups.setdefault(lhs, []).extend(words)
        elif lhs in ("export KBUILD_VMLINUX_INIT", "export KBUILD_VMLINUX_MAIN"):
            main += re.findall(r"\$\(([\w-]+)\)", m.group("rhs"))
        make.line = n
    if not main:
        warnings.append("Makefile: KBUILD_VMLINUX_MAIN not found; the link order "
                        f"{' '.join(TOP_GROUPS)} of 4.4 is assumed")
        main = list(TOP_GROUPS)
    out = []
    for group in main:
        for folder in groups.get(group, []):
            folder = folder.rstrip("/")
            if folder not in out:
                out.append(folder)
    return tuple(out)


class _Walker:
    """Reads folders depth first in link order and fills a Build."""

    def __init__(self, root: Path, lookup, build: Build):
        self.root, self.lookup, self.build = root, lookup, build
        self.counter = 0

    def folder(self, folder: str, status: str, why: str) -> None:
        if folder in self.build.dirs and (self.build.dirs[folder] == "y" or status == "m"):
            return
        self.build.dirs[folder] = status
        makefile = next((f"{folder}/{n}" for n in ("Kbuild", "Makefile")
                         if (self.root / folder / n).is_file()), None)
        if makefile is None:
            self.build.warnings.append(f"{folder}/: no Makefile or Kbuild ({why})")
            return
        make = _Make(makefile, folder, self.lookup, self.root, self.build.warnings)
        _evaluate(make, (self.root / makefile).read_text(errors="replace"))
        self._objects(make, status)

    def _objects(self, make: _Make, status: str) -> None:
        builtin = _unique(make.words("obj-y"))
        modular = [w for w in _unique(make.words("obj-m")) if w not in builtin]
        for word, off in make.off.items():
            parts = self._parts(make, word, "y") if word.endswith(".o") else [word]
            for part in parts:
                self._exclude(make.folder, part, off)
        for word in builtin:
            self._word(make, word, status, "obj-y")
        for word in modular:
            self._word(make, word, "m", "obj-m")
        for word in _unique(make.words("subdir-y") + make.words("subdir-m")):
            if word.rstrip("/") and f"{make.folder}/{word.rstrip('/')}" not in self.build.dirs:
                self.build.warnings.append(f"{make.path}: subdir {word} is built but not "
                                           "linked into the kernel; not read")

    def _exclude(self, folder: str, word: str, why: str) -> None:
        target = f"{folder}/{word.rstrip('/')}" if word.endswith("/") else \
            f"{folder}/{word[:-2]}.c" if word.endswith(".o") else ""
        if target:
            self.build.excluded.setdefault(target, why)

    def _word(self, make: _Make, word: str, status: str, var: str) -> None:
        line, lhs = make.origin.get((var, word), (0, f"{var} +="))
        refs = sorted(set(_CONFIG_REF.findall(lhs)))
        values = ", ".join(f"CONFIG_{r}={self.lookup(r) or 'n'}" for r in refs)
        why = f"{make.path}:{line}: {lhs} {word}" + (f" ({values})" if values else "")
        if word.endswith("/"):
            self.folder(f"{make.folder}/{word.rstrip('/')}", status, why)
        elif word.endswith(".o"):
            for part in self._parts(make, word, status):
                self._add(f"{make.folder}/{part[:-2]}.c", status, make.path, line,
                          why if part == word else f"{why} (part of {word})")

    def _parts(self, make: _Make, word: str, status: str) -> list[str]:
        stem = word[:-2]
        parts = make.words(f"{stem}-objs") + make.words(f"{stem}-y")
        if status == "m":
            parts += make.words(f"{stem}-m")
        parts = _unique(p for p in parts if p.endswith(".o"))
        return parts or [word]

    def _add(self, file: str, status: str, makefile: str, line: int, why: str) -> None:
        old = self.build.objects.get(file)
        if old is not None and (old.status == "y" or status == "m"):
            return
        order = None
        if status == "y":
            order = self.counter
            self.counter += 1
        self.build.objects[file] = BuiltObject(file, status, order, makefile, line, why)
        self.build.excluded.pop(file, None)


def _unique(words) -> list[str]:
    seen, out = set(), []
    for w in words:
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


def built(cfg_or_tree, kconfig) -> Build:
    """What the build compiles under ``kconfig``: ``cfg_or_tree`` is a
    :class:`~analyzer.config.Config` or the path of a kernel tree.  The
    top-level folders the tree holds are read in the link order of the
    release's Makefile, each with status y."""
    root = Path(getattr(cfg_or_tree, "kernel_dir", cfg_or_tree))
    if not root.is_dir():
        raise AnalyzerError(f"no kernel tree at {root}; run `kernel-analyzer analyze`")
    lookup = _lookup(kconfig)
    build = Build()
    order = _top_order(root, lookup, build.warnings)
    build.top = tuple(f for f in order if (root / f).is_dir())
    walker = _Walker(root, lookup, build)
    for folder in build.top:
        walker.folder(folder, "y", f"Makefile: {folder}/ in the link groups")
    return build


# --- the initcalls ------------------------------------------------------------------

@dataclass(frozen=True)
class BootCall:
    """An initcall the boot runs: the record, its file's link position, why."""

    initcall: object  # records.Initcall
    order: int
    why: str


@dataclass(frozen=True)
class Skipped:
    """An initcall the boot does not run, and why."""

    initcall: object
    why: str


@dataclass(frozen=True)
class InitcallOrder:
    calls: tuple[BootCall, ...]
    skipped: tuple[Skipped, ...]

    def names(self) -> list[str]:
        """The functions of :attr:`calls`, in boot order."""
        return [c.initcall.function for c in self.calls]

    def rows(self) -> list[tuple[str, str, str]]:
        """(function, level, why) of each call, for :func:`kconfig.describe`."""
        return [(c.initcall.function, c.initcall.level, c.why) for c in self.calls]

    def skipped_rows(self) -> list[tuple[str, str, str]]:
        """(function, level, why not) of each skipped initcall."""
        return [(s.initcall.function, s.initcall.level, s.why) for s in self.skipped]


def initcall_order(initcalls, build: Build, kconfig) -> InitcallOrder:
    """The initcalls of built-in files whose guard ``kconfig`` keeps, in the
    order the kernel runs them: by level (``directives.level_rank``), then by
    the link order of their file, then by line.  Every other one is in
    ``skipped`` with its reason."""
    calls, skipped = [], []
    for ic in initcalls:
        status = build.status(ic.file)
        if status is None:
            skipped.append(Skipped(ic, f"{ic.file}: not built ({build.why(ic.file)})"))
            continue
        if status == "m":
            skipped.append(Skipped(ic, f"{ic.file}: module (m): runs when loaded, not at boot"))
            continue
        if ic.guard:
            kept = kconfig.evaluate(ic.guard)
            if kept is None:
                skipped.append(Skipped(ic, f"{ic.file}:{ic.line}: its guard `{ic.guard}` "
                                           "cannot be decided from the configuration"))
                continue
            if not kept:
                skipped.append(Skipped(ic, f"{ic.file}:{ic.line}: its guard `{ic.guard}` "
                                           "is false under this configuration"))
                continue
        why = f"{ic.file} is built in ({build.why(ic.file)}); {ic.macro} at line {ic.line}"
        if ic.guard:
            why += f" under `{ic.guard}`"
        calls.append(BootCall(ic, build.order(ic.file), why))
    calls.sort(key=lambda c: (level_rank(c.initcall.level), c.order, c.initcall.line))
    skipped.sort(key=lambda s: (s.initcall.file, s.initcall.line))
    return InitcallOrder(tuple(calls), tuple(skipped))
