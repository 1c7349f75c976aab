"""What the model reads from the analysis: a small access layer over the records.

Takes a record source with ``find(kind, key)`` (the :class:`analyzer.store.Store`
made by ``make analyze``, or :class:`MemorySource` over
:func:`analyzer.extract.extract_file` results for tests on a few files) and
gives :class:`Facts`: function definitions, struct layouts, field aliases,
typedefs, globals and constants (evaluated through other constants and
``#define``s, keeping the name).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from analyzer import records
from analyzer.constants import definition_order, evaluate_expr
from analyzer.errors import AnalyzerError

__all__ = ["Facts", "MemorySource", "open_facts", "facts_from_files", "anonymous_name",
           "ANONYMOUS", "TAG"]

#: the name the model gives a struct or union without a tag: where it is written
ANONYMOUS = "anonymous@"
#: a struct or union's name in a C type: a tag, or the place of one without
TAG = rf"\w+|{ANONYMOUS}[\w/.+-]+:\d+"


def anonymous_name(file: str, line: int) -> str:
    """``anonymous@net/core/sock.c:1034``, the name of the struct or union without a
    tag that begins on that line (clang's ``(anonymous at FILE:LINE)``)."""
    return f"{ANONYMOUS}{file}:{line}"


def _anonymous_struct(kernel_dir: Path, name: str) -> records.Struct | None:
    from analyzer.extract import _walk_fields
    from analyzer.model.sizes import _node_at
    from analyzer.parse import parse

    file, _, line = name[len(ANONYMOUS):].rpartition(":")
    try:
        src = (Path(kernel_dir) / file).read_bytes()
    except OSError:
        return None
    if not line.isdigit():
        return None
    parsed = parse(src)
    node = _node_at(parsed.root, int(line), ("struct_specifier", "union_specifier"))
    body = node.child_by_field_name("body") if node is not None else None
    if body is None:
        return None
    fields: list[records.Field] = []
    _walk_fields(parsed.source, body, "", (), fields)
    return records.Struct(name, node.type.split("_")[0], file, int(line),
                          node.end_point.row + 1, tuple(fields))

_KEYS = {"functions": "name", "structs": "name", "aliases": "name", "typedefs": "name",
         "globals": "name", "initializers": "name", "constants": "name", "macros": "name",
         "initcalls": "function"}


@dataclass
class MemorySource:
    """Records of some files, indexed like the store (``find(kind, key)``)."""

    facts: list[records.FileFacts]
    index: dict[tuple[str, str], list] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for ff in self.facts:
            for kind, key in _KEYS.items():
                for rec in getattr(ff, kind):
                    self.index.setdefault((kind, getattr(rec, key)), []).append(rec)

    def find(self, kind: str, key: str) -> list:
        return list(self.index.get((kind, key), ()))


def facts_from_files(root: Path, relpaths: Iterable[str]) -> Facts:
    """Facts extracted directly from some files of a tree (no store)."""
    from analyzer.extract import extract_file

    found = [extract_file(rel, (Path(root) / rel).read_bytes()) for rel in relpaths]
    return Facts(MemorySource(found), Path(root))


def open_facts(store_path: Path, kernel_dir: Path) -> Facts:
    """Facts from the store made by ``make analyze``."""
    from analyzer.store import Store

    if not Path(store_path).exists():
        raise AnalyzerError(f"no analysis at {store_path}: run `kernel-analyzer analyze` "
                            "(or `kernel-analyzer extract`) first")
    return Facts(Store.open(store_path), Path(kernel_dir))


class Facts:
    """Look-ups the generator needs, cached."""

    def __init__(self, source, kernel_dir: Path):
        self.source, self.kernel_dir = source, Path(kernel_dir)
        self._cache: dict[tuple[str, str], list] = {}
        self._values: dict[str, int | None] = {}

    def find(self, kind: str, key: str) -> list:
        k = (kind, key)
        if k not in self._cache:
            self._cache[k] = self.source.find(kind, key)
        return self._cache[k]

    def functions(self, name: str) -> list[records.Function]:
        return self.find("functions", name)

    def has_function(self, name: str) -> bool:
        return bool(self.functions(name))

    def struct(self, name: str) -> records.Struct | None:
        """The definition of struct/union ``name``: one from a header first (a
        struct of a .c file is private to it), then the fullest."""
        if name.startswith(ANONYMOUS):
            return self._anonymous(name)
        found = self.find("structs", name)
        if not found:  # a tag renamed by a #define: `#define rcu_head callback_head`
            target = self.macro(name)
            if target and target.isidentifier() and target != name:
                found = self.find("structs", target)
        return max(found, key=lambda s: (s.file.startswith("include/"), len(s.fields),
                                         -s.line)) if found else None

    def _anonymous(self, name: str) -> records.Struct | None:
        """The struct/union without a tag a local is declared with
        (``union { int val; struct linger ling; } v;``), by its place:
        ``anonymous@FILE:LINE`` (see :func:`anonymous_name`)."""
        k = ("anonymous", name)
        if k not in self._cache:
            self._cache[k] = [_anonymous_struct(self.kernel_dir, name)]
        return self._cache[k][0]

    def alias(self, name: str) -> str | None:
        found = self.find("aliases", name)
        return found[0].target if found else None

    def typedef(self, name: str) -> str | None:
        found = self.find("typedefs", name)
        return found[0].type if found else None

    def globals(self, name: str) -> list[records.Global]:
        return self.find("globals", name)

    def definition(self, name: str, file: str) -> records.Global | None:
        """The defining declaration of global ``name`` as seen from ``file``:
        a static of that file first, else a non-static definition."""
        found = [g for g in self.globals(name) if not g.extern]
        local = [g for g in found if g.file == file]
        if local:
            return local[0]
        public = [g for g in found if not g.static]
        return (public or [None])[0]

    def is_global(self, name: str) -> bool:
        return any(not g.extern for g in self.globals(name)) or bool(self.globals(name))

    def field_type(self, struct: str, name: str) -> str | None:
        s = self.struct(struct)
        if s is None:
            return None
        for f in s.fields:
            if f.name == name or f.name.endswith("." + name):
                return f.type
        return None

    def constant(self, name: str) -> int | None:
        """The value of an enum constant or ``#define``, or None."""
        if name not in self._values:
            self._values[name] = None  # a cycle evaluates to None
            self._values[name] = self._evaluate(name)
        return self._values[name]

    def _evaluate(self, name: str) -> int | None:
        defs = sorted(self.find("constants", name), key=definition_order)

        def lookup(other: str) -> int:
            value = self.constant(other)
            if value is None:
                raise KeyError(other)
            return value

        for c in defs:
            value = c.value if c.value is not None else evaluate_expr(c.expr, lookup)
            if value is not None:
                return value
        return None

    def macro(self, name: str) -> str | None:
        """The body of an object-like ``#define`` (``ARRAY_SIZE(inetsw_array)``)."""
        for d in sorted(self.find("macros", name), key=definition_order):
            if d.params is None and d.body.strip():
                return " ".join(d.body.split())
        for c in sorted(self.find("constants", name), key=definition_order):
            if c.kind == "define" and c.expr.strip():
                return c.expr
        return None

    def macros(self, name: str) -> list:
        """The ``#define name(...)`` records (function-like macros) of the tree."""
        return [m for m in self.find("macros", name) if m.params is not None]

    def files_read(self) -> set[str]:
        """The files of every record the look-ups so far returned."""
        return {rec.file for recs in self._cache.values() for rec in recs}

    @cached_property
    def generation(self) -> str:
        gen = getattr(self.source, "generation", None)
        return str(gen()) if callable(gen) else "memory"


class ConfigFacts(Facts):
    """The analysis as the model's configuration sees it: ``values`` give the
    symbols whose value lies outside the analysed files (``CONFIG_HZ``, arch
    constants), and of several ``#define``s of one name those in an ``#if``
    branch that ``keep`` drops are left out (``HZ`` of include/linux/raid/pq.h
    is under ``#ifndef __KERNEL__``)."""

    def __init__(self, facts: Facts, values: dict[str, int],
                 keep: Callable[[object], bool] | None = None):
        super().__init__(facts.source, facts.kernel_dir)
        self._cache = facts._cache  # the same look-ups: files_read() sees them all
        self.values = {k: int(v) for k, v in values.items()}
        self.keep = keep

    def constant(self, name: str) -> int | None:
        if name in self.values:
            return self.values[name]
        return super().constant(name)

    def find(self, kind: str, key: str) -> list:
        found = super().find(kind, key)
        if kind not in ("constants", "macros") or len(found) < 2 or self.keep is None:
            return found
        return [r for r in found if self.keep(r)] or found

