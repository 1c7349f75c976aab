"""What the pages read: records, resolved calls, the model's run, source spans.

Takes the store (``analyzer.store``), the call graph (``analyzer.api``) and the
model (``analyzer.model``) and produces one read-only view, :class:`Facts`,
with a small plain vocabulary (:class:`Target`, :class:`Evidence`,
:class:`Neighbour`, :class:`Step`).  The page generators see nothing else, so
tests drive them with :class:`MemoryFacts` built from a few records.

Source text is read only through the spans the analysis located (a function's
``line``..``end_line``), to show it: it is never parsed again here.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from analyzer.constants import definition_order, evaluate_expr
from analyzer.edits import TreeInfo
from analyzer.errors import AnalyzerError
from analyzer.records import (
    Alias,
    Call,
    Constant,
    Function,
    Global,
    Initializer,
    Registration,
    Struct,
    Typedef,
)

__all__ = ["Evidence", "Target", "Neighbour", "Step", "RunView", "Facts", "MemoryFacts",
           "StoreFacts", "initializer_end", "MacroDef", "find_defines"]


@dataclass(frozen=True)
class Evidence:
    """Why a target was chosen: an initializer, assignment or registration line."""

    text: str
    file: str = ""
    line: int = 0
    kind: str = ""
    table: str = ""  # the table the evidence is about, if any


@dataclass(frozen=True)
class Target:
    """A function an indirect call may reach, with its evidence."""

    name: str
    file: str = ""
    line: int = 0
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class Neighbour:
    """A caller or callee: ``kind`` is "calls" (direct) or "dispatches" (resolved)."""

    name: str
    kind: str
    file: str = ""
    line: int = 0
    expr: str = ""


@dataclass(frozen=True)
class Step:
    """One event of the model's trace (see docs-dev/CONTRACTS.md)."""

    n: int
    event: str
    function: str
    file: str = ""
    line: int = 0
    depth: int = 0
    via: dict | None = None
    changes: tuple[dict, ...] = ()
    note: str = ""
    site: str = ""  # the call site, "file:line"
    value: str = ""  # the returned or assumed value


def _get(obj: object, name: str, default=None):
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


#: the lines a run executed in a function: ``(function, file) -> lines or None``
Executed = Callable[[str, str], "set[int] | None"]


class RunView:
    """The model's run: steps as :class:`Step`, snapshots as plain data, and
    (when the model says) the source lines it executed in each function."""

    def __init__(self, steps: Iterable[object], snapshot, error: str = "",
                 executed: Executed | dict | None = None, label: str = ""):
        self.steps: list[Step] = [_step(s) for s in steps]
        self._snapshot = snapshot
        self.error = error
        self.label = label
        self.raw = None  # the model's Run itself, when wrapped by :meth:`of`
        if isinstance(executed, dict):
            table = {k: set(v) for k, v in executed.items()}
            self._executed: Executed | None = lambda fn, file: table.get((fn, file))
        else:
            self._executed = executed

    @classmethod
    def of(cls, run: object, label: str = "") -> RunView:
        """Wrap an ``analyzer.model.Run`` (or anything with ``steps`` and ``snapshot``);
        a run that has ``executed_lines(function, file)`` gives the lines that ran."""
        executed = getattr(run, "executed_lines", None)
        view = cls(_get(run, "steps", []), run.snapshot,
                   executed=executed if callable(executed) else None, label=label)
        view.raw = run if _get(run, "lines") else None
        return view

    def snapshot(self, n: int) -> dict[str, dict]:
        return self._snapshot(n) or {}

    def scenario_snapshot(self, n: int, written: set[str]) -> dict[str, dict]:
        """The objects at step ``n`` that the scenario made, and the boot's objects
        it wrote (labels in ``written``); without the boot's other objects."""
        try:
            return self._snapshot(n, own=True, also=written) or {}
        except TypeError:  # a snapshot function of plain data: filter its answer
            boot = self.snapshot(0)
            return {label: obj for label, obj in self.snapshot(n).items()
                    if label not in boot or label in written}

    def executed_lines(self, function: str, file: str) -> set[int] | None:
        """The lines of ``function`` (defined in ``file``) that the run executed;
        None when the model does not say (then no line is marked ran or not-ran)."""
        if self._executed is None:
            return None
        lines = self._executed(function, file)
        return set(lines) if lines is not None else None

    def functions(self) -> list[str]:
        """The functions the run called or stubbed, in order, once each."""
        return list(dict.fromkeys(s.function for s in self.steps
                                  if s.event in ("call", "stub") and s.function))

    def last(self) -> int:
        return self.steps[-1].n if self.steps else 0


def _step(s: object) -> Step:
    return Step(n=int(_get(s, "n", 0)), event=str(_get(s, "event", "")),
                function=str(_get(s, "function", "")), file=str(_get(s, "file", "") or ""),
                line=int(_get(s, "line", 0) or 0), depth=int(_get(s, "depth", 0) or 0),
                via=_get(s, "via"), changes=tuple(_get(s, "changes", ()) or ()),
                note=str(_get(s, "note", "") or ""), site=str(_get(s, "site", "") or ""),
                value=str(_get(s, "value", "") or ""))


@dataclass(frozen=True)
class MacroDef:
    """A ``#define``: where it is, its parameters (None: object-like) and body.

    The shape of the extraction's ``Macro`` record; until the store has those
    records, :func:`find_defines` fills it from a plain search of the files
    (``body`` is then the first line's replacement text)."""

    name: str
    file: str
    line: int
    params: tuple[str, ...] | None = None
    body: str = ""
    found_by: str = "records"  # "records" | "search"


_DEFINE = re.compile(rb"#[ \t]*define[ \t]+(\w+)(\([^)]*\))?[ \t]*(.*)")
_DEFINE_NAME = re.compile(rb"#[ \t]*define[ \t]+(\w+)")
_ENUM = re.compile(rb"enum[ \t]+(\w+)\s*\{")
_TYPEDEF = re.compile(rb"typedef[ \t]+([^;{}()#]*?[\w\*])[ \t]*\b(\w+)[ \t]*;")


_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _line_at(data: bytes, pos: int) -> int:
    return data.count(b"\n", 0, pos) + 1


def _define_rank(file: str, near: Sequence[str]) -> tuple:
    return (file not in near, file.startswith("arch/"), not file.startswith("include/linux/"),
            not file.startswith("include/"), file)


def find_defines(files: Iterable[tuple[str, bytes]], names: Iterable[str],
                 near: Sequence[str] = ()) -> dict[str, MacroDef]:
    """The ``#define`` of each of ``names`` found by a plain search of ``files``
    (``(path, bytes)`` pairs); of several, the one in a file of ``near``, then
    include/linux/, include/, the rest (arch/ last), then by file and line.

    >>> src = b"int x;" + bytes([10]) + b"#define  MAX(a, b) ((a) > (b) ? (a) : (b))"
    >>> d = find_defines([("a.h", src)], ["MAX"])["MAX"]
    >>> d.line, d.params, d.body
    (2, ('a', 'b'), '((a) > (b) ? (a) : (b))')
    """
    wanted = {n.encode() for n in names if n.isidentifier()}
    if not wanted:
        return {}
    found: dict[str, list[MacroDef]] = {}
    for path, data in files:
        if b"define" not in data:
            continue
        for m in _DEFINE.finditer(data):
            if m.group(1) not in wanted or not _at_line_start(data, m.start()):
                continue
            params = m.group(2)
            args = tuple(a.strip() for a in params[1:-1].decode(errors="replace").split(",")
                         if a.strip()) if params else None
            body = _body(data, m.start(3))
            name = m.group(1).decode()
            found.setdefault(name, []).append(MacroDef(
                name, path, data.count(b"\n", 0, m.start()) + 1, args, body.strip(),
                "search"))
    return {n: min(defs, key=lambda d: (_define_rank(d.file, near), d.line))
            for n, defs in found.items()}


def _body(data: bytes, start: int, most: int = 16) -> str:
    """A #define's replacement text from ``start``: its continuation lines (ending
    in a backslash) joined by newlines, at most ``most`` lines."""
    lines = []
    pos = start
    for _ in range(most):
        end = data.find(b"\n", pos)
        end = len(data) if end < 0 else end
        line = data[pos:end].rstrip(b"\r")
        more = line.endswith(b"\\")
        lines.append(line.rstrip(b"\\").rstrip().decode(errors="replace"))
        if not more or end >= len(data):
            break
        pos = end + 1
    return "\n".join(lines).strip()


def _at_line_start(data: bytes, pos: int) -> bool:
    i = pos - 1
    while i >= 0 and data[i] in b" \t":
        i -= 1
    return i < 0 or data[i] == 10  # "\n"


class DefineIndex:
    """Where each ``#define`` of a tree is, by name: a plain search of its headers
    (and of the ``.c`` files added), read once; :meth:`lookup` reads the one asked for.
    The ``enum NAME {`` and one-line typedefs are indexed as the files are added,
    the ``#define``s on the first :meth:`lookup` (the files read again from the
    tree): the pages that ask only for typedefs and enums never need them."""

    def __init__(self) -> None:
        self.where: dict[bytes, list[tuple[str, int]]] = {}  # name -> (file, offset)
        self._unindexed: list[str] = []  # files added whose #defines are not in ``where``
        self.enums: dict[str, tuple[str, int]] = {}  # name -> (file, offset)
        self.typedefs: dict[str, tuple[str, int, bytes]] = {}  # name -> (file, offset, type)
        self.files: set[str] = set()
        self._data: dict[str, bytes] = {}
        self._root = Path(".")

    @classmethod
    def of_headers(cls, root: Path) -> DefineIndex:
        index = cls()
        index._root = Path(root)
        for d, _, files in os.walk(root):
            for f in files:
                if f.endswith(".h"):
                    index.add_file(root, os.path.relpath(os.path.join(d, f), root))
        return index

    def add_file(self, root: Path, rel: str) -> None:
        if rel in self.files:
            return
        self.files.add(rel)
        try:
            data = (Path(root) / rel).read_bytes()
        except OSError:
            return
        self.add_text(rel, data)

    def add_text(self, rel: str, data: bytes) -> None:
        """Index the ``enum NAME {`` and one-line typedefs of a file (its text in the
        tree); its ``#define``s wait for the first :meth:`lookup`."""
        if b"define" in data:
            self._unindexed.append(rel)
        if b"enum" in data:
            for m in _ENUM.finditer(data):
                if not (m.start() and data[m.start() - 1] in _WORD_BYTES):
                    self.enums.setdefault(m.group(1).decode(), (rel, m.start()))
        if b"typedef" in data:
            for m in _TYPEDEF.finditer(data):
                if _at_line_start(data, m.start()):
                    self.typedefs.setdefault(m.group(2).decode(), (rel, m.start(), m.group(1)))

    def enum(self, name: str) -> tuple[str, int] | None:
        found = self.enums.get(name)
        return (found[0], self._line(*found)) if found else None

    def typedef(self, name: str) -> Typedef | None:
        found = self.typedefs.get(name)
        if found is None:
            return None
        rel, pos, text = found
        ctype = re.sub(r"\s+", " ", text.decode(errors="replace")).strip()
        return Typedef(name, ctype, rel, self._line(rel, pos))

    def _line(self, rel: str, pos: int) -> int:
        return _line_at(self._bytes(rel), pos)

    def _bytes(self, rel: str) -> bytes:
        if rel not in self._data:
            self._data[rel] = (self._root / rel).read_bytes()
        return self._data[rel]

    def _index_defines(self) -> None:
        """Index the ``#define``s of the files added since the last lookup, in order."""
        where = self.where
        for rel in self._unindexed:
            try:
                data = (self._root / rel).read_bytes()
            except OSError:
                continue
            for m in _DEFINE_NAME.finditer(data):
                key = m.group(1)
                if key in where:
                    where[key].append((rel, m.start()))
                else:
                    where[key] = [(rel, m.start())]
        self._unindexed = []

    def lookup(self, name: str, near: Sequence[str] = ()) -> MacroDef | None:
        self._index_defines()
        places = [p for p in self.where.get(name.encode(), ())
                  if _at_line_start(self._bytes(p[0]), p[1])]
        if not places:
            return None
        rel, pos = min(places, key=lambda p: (_define_rank(p[0], near), p[1]))
        data = self._bytes(rel)
        found = find_defines([(rel, data[pos:])], [name])
        d = found.get(name)
        if d is None:
            return None
        return replace(d, line=data.count(b"\n", 0, pos) + d.line)


class Facts:
    """The read-only view pages are generated from.  Subclasses fill it in."""

    run: RunView | None = None
    #: every scenario the model generates, by label ("socket(AF_INET, SOCK_STREAM, 0)")
    scenarios: dict[str, RunView] = {}
    notices: list[str]
    #: names the model runs as runtime primitives (allocation, locks, lists...)
    primitives: frozenset[str] = frozenset()
    #: the analysed tree and the files that differ from the release (analyzer.edits)
    tree: TreeInfo | None = None
    #: the release's text of the edited files, by path
    released: dict[str, bytes] = {}

    def typedef(self, name: str) -> Typedef | None:
        return None

    def alias(self, name: str) -> Alias | None:
        """A field-alias macro: ``sk_family`` -> ``__sk_common.skc_family``."""
        return None

    def constant(self, name: str) -> Constant | None:
        """The enum constant or ``#define`` of that name (the first definition)."""
        return None

    def constant_value(self, name: str) -> int | None:
        return None

    def macros(self, names: Iterable[str], near: Sequence[str] = ()) -> dict[str, MacroDef]:
        """The ``#define`` of each name that has one (see :class:`MacroDef`)."""
        return {}

    def structs_with_member(self, name: str) -> list[str]:
        """The structs and unions (with a definition) that have a member ``name``."""
        return []

    def enum(self, name: str) -> tuple[str, int] | None:
        """Where ``enum name { ... }`` is defined: (file, line)."""
        return None

    def aliases_of(self, fn: Function) -> list[str]:
        """Other names of a function (``sys_socket`` for ``SyS_socket``)."""
        return []

    def function(self, name: str, file: str = "") -> Function | None:
        raise NotImplementedError

    def struct(self, name: str) -> Struct | None:
        raise NotImplementedError

    def initializer(self, name: str) -> Initializer | None:
        raise NotImplementedError

    def global_(self, name: str) -> Global | None:
        raise NotImplementedError

    def calls(self, fn: Function) -> list[Call]:
        raise NotImplementedError

    def resolve(self, fn: Function, call: Call) -> list[Target]:
        raise NotImplementedError

    def callers(self, fn: Function) -> list[Neighbour]:
        raise NotImplementedError

    def callees(self, fn: Function) -> list[Neighbour]:
        raise NotImplementedError

    def registrations(self, table: str) -> list[Registration]:
        raise NotImplementedError

    def lines(self, file: str, start: int, end: int) -> list[str]:
        raise NotImplementedError


def _pick(cands: Sequence, file: str):
    if not cands:
        return None
    if file:
        for c in cands:
            if c.file == file or c.file.endswith("/" + file):
                return c
    return sorted(cands, key=lambda c: (getattr(c, "header", False), c.file))[0]


def initializer_end(init: Initializer, lines_after: Sequence[str]) -> int:
    """The last line of an initializer: the first ``}``-ending line after its last entry.

    ``lines_after`` are the source lines from the last entry's line on.
    """
    last = max([e.line for e in init.entries] + [init.line])
    for i, text in enumerate(lines_after):
        if text.strip().startswith("}") and text.strip().endswith(";"):
            return last + i
    return last


@dataclass
class MemoryFacts(Facts):
    """Facts held in memory: for tests and small fixtures.

    ``sources`` maps a file to its text; ``resolutions`` maps
    ``(caller id, expression)`` to targets.
    """

    records: Sequence[object] = ()
    sources: dict[str, str] = field(default_factory=dict)
    resolutions: dict[tuple[str, str], list[Target]] = field(default_factory=dict)
    run: RunView | None = None
    notices: list[str] = field(default_factory=list)
    primitives: frozenset[str] = frozenset()
    scenarios: dict[str, RunView] = field(default_factory=dict)

    def _of(self, cls: type) -> list:
        return [r for r in self.records if isinstance(r, cls)]

    def typedef(self, name: str) -> Typedef | None:
        return _pick([t for t in self._of(Typedef) if t.name == name], "")

    def alias(self, name: str) -> Alias | None:
        return _pick([a for a in self._of(Alias) if a.name == name], "")

    def constant(self, name: str) -> Constant | None:
        found = sorted((c for c in self._of(Constant) if c.name == name), key=definition_order)
        return found[0] if found else None

    def constant_value(self, name: str) -> int | None:
        return _constant_value(name, lambda n: [c for c in self._of(Constant) if c.name == n],
                               {})

    def structs_with_member(self, name: str) -> list[str]:
        return sorted({s.name for s in self._of(Struct) if any(f.name == name
                                                               for f in s.fields)})

    def aliases_of(self, fn: Function) -> list[str]:
        return [f.name for f in self._of(Function) if f.alias_of == fn.name
                and f.file == fn.file]

    def enum(self, name: str) -> tuple[str, int] | None:
        m = re.search(r"(?<!\w)enum[ \t]+" + re.escape(name) + r"\s*\{", "\n".join(
            f"\0{f}\0{s}" for f, s in self.sources.items()))
        if m is None:
            return None
        for f, s in self.sources.items():
            found = re.search(r"(?<!\w)enum[ \t]+" + re.escape(name) + r"\s*\{", s)
            if found:
                return f, s.count("\n", 0, found.start()) + 1
        return None

    def macros(self, names: Iterable[str], near: Sequence[str] = ()) -> dict[str, MacroDef]:
        names = set(names)
        out = {m.name: m for m in self._of(MacroDef) if m.name in names}
        rest = names - set(out)
        files = [(f, s.encode()) for f, s in self.sources.items()]
        return out | find_defines(files, rest, near)

    def function(self, name: str, file: str = "") -> Function | None:
        return _pick([f for f in self._of(Function) if f.name == name], file)

    def struct(self, name: str) -> Struct | None:
        return _pick([s for s in self._of(Struct) if s.name == name], "")

    def initializer(self, name: str) -> Initializer | None:
        return _pick([s for s in self._of(Initializer) if s.name == name], "")

    def global_(self, name: str) -> Global | None:
        return _pick([s for s in self._of(Global) if s.name == name], "")

    def calls(self, fn: Function) -> list[Call]:
        return sorted((c for c in self._of(Call) if c.caller == fn.id), key=lambda c: c.line)

    def resolve(self, fn: Function, call: Call) -> list[Target]:
        return list(self.resolutions.get((fn.id, call.expr), []))

    def callees(self, fn: Function) -> list[Neighbour]:
        out = []
        for c in self.calls(fn):
            if c.kind == "direct":
                out.append(Neighbour(c.callee, "calls", c.file, c.line, c.expr))
            for t in self.resolve(fn, c):
                out.append(Neighbour(t.name, "dispatches", c.file, c.line, c.expr))
        return out

    def callers(self, fn: Function) -> list[Neighbour]:
        out = []
        for caller in self._of(Function):
            out += [Neighbour(caller.name, n.kind, n.file, n.line, n.expr)
                    for n in self.callees(caller) if n.name == fn.name]
        return out

    def registrations(self, table: str) -> list[Registration]:
        return [r for r in self._of(Registration) if r.table == table]

    def lines(self, file: str, start: int, end: int) -> list[str]:
        text = self.sources.get(file, "").splitlines()
        return text[start - 1:end]


class StoreFacts(Facts):
    """Facts from the real analysis: the store, the graph (if built), the model (if run)."""

    def __init__(self, store, kernel_dir: Path, graph=None, run: RunView | None = None,
                 notices: list[str] | None = None, primitives: frozenset[str] = frozenset()):
        self.store, self.kernel_dir, self.graph, self.run = store, Path(kernel_dir), graph, run
        self.notices = notices or []
        self.primitives = primitives
        self._files: dict[str, list[str]] = {}
        self._cache: dict[tuple[str, str], list] = {}
        self._regs: dict[str, list[Registration]] | None = None
        self._values: dict[str, int | None] = {}
        self._defines: DefineIndex | None = None
        self._members: dict[str, set[str]] | None = None
        self.scenarios: dict[str, RunView] = {}

    def typedef(self, name: str) -> Typedef | None:
        """From the store, else (``typedef _Bool bool;``, which the parser reads as a
        base type) from a plain search of the headers."""
        return _pick(self._find("typedefs", name), "") or self._index().typedef(name)

    def alias(self, name: str) -> Alias | None:
        return _pick(self._find("aliases", name), "")

    def constant(self, name: str) -> Constant | None:
        found = sorted(self._find("constants", name), key=definition_order)
        return found[0] if found else None

    def constant_value(self, name: str) -> int | None:
        return _constant_value(name, lambda n: self._find("constants", n), self._values)

    def enum(self, name: str) -> tuple[str, int] | None:
        return self._index().enum(name)

    def _index(self) -> DefineIndex:
        """The plain search of the headers (built on first use, ~0.3 s)."""
        if self._defines is None:
            self._defines = DefineIndex.of_headers(self.kernel_dir)
        return self._defines

    def macros(self, names: Iterable[str], near: Sequence[str] = ()) -> dict[str, MacroDef]:
        """From the store's ``macros`` records when extraction has them, otherwise
        by a plain search of the files of ``near`` and of every header."""
        names = set(names)
        if self._has_macro_records():
            out = {}
            for n in names:
                found = sorted(self._find("macros", n), key=definition_order)
                if found:
                    out[n] = _macro_def(found[0])
            return out
        index = self._index()
        for f in near:
            index.add_file(self.kernel_dir, f)
        return {n: d for n in names if (d := index.lookup(n, near)) is not None}

    def _has_macro_records(self) -> bool:
        from analyzer.records import RECORD_KINDS

        return "macros" in RECORD_KINDS and self.store is not None

    def aliases_of(self, fn: Function) -> list[str]:
        return [f.name for f in self.store.in_file("functions", fn.file)
                if f.alias_of == fn.name and f.line == fn.line]

    def structs_with_member(self, name: str) -> list[str]:
        if self._members is None:
            self._members = {}
            for st in self.store.all("structs"):
                for f in st.fields:
                    self._members.setdefault(f.name, set()).add(st.name)
        return sorted(self._members.get(name, ()))

    def _find(self, kind: str, key: str) -> list:
        """``store.find``, remembered: pages ask for the same records many times."""
        hit = self._cache.get((kind, key))
        if hit is None:
            hit = self._cache[(kind, key)] = self.store.find(kind, key)
        return hit

    def function(self, name: str, file: str = "") -> Function | None:
        return _pick(self._find("functions", name), file)

    def struct(self, name: str) -> Struct | None:
        cands = [s for s in self._find("structs", name) if s.fields]
        return _pick(cands, "")

    def initializer(self, name: str) -> Initializer | None:
        return _pick(self._find("initializers", name), "")

    def global_(self, name: str) -> Global | None:
        cands = [g for g in self._find("globals", name) if not g.extern]
        return _pick(cands or self._find("globals", name), "")

    def calls(self, fn: Function) -> list[Call]:
        return sorted(self._find("calls", fn.id), key=lambda c: (c.line, c.expr))

    def resolve(self, fn: Function, call: Call) -> list[Target]:
        if self.graph is None or call.kind == "direct":
            return []
        try:
            found = self.graph.resolve(fn.id, call.expr)
        except sqlite3.DatabaseError:
            raise  # a damaged graph stops the build: no page says "no answer" for it
        except Exception:  # noqa: BLE001 - an unresolvable site is shown as such
            return []
        return [self._with_chains(_target(t), t) for t in _items(found)]

    def _with_chains(self, target: Target, raw: object) -> Target:
        """Add the registration chains the graph keeps on the binding's table."""
        if any(e.kind in ("passed", "bound", "registered") for e in target.evidence):
            return target
        table = (_get(raw, "binding") or {}).get("table", "")
        chains = self._chains(table) if table else None
        if not chains:
            return target
        steps = [step for chain in chains for step in chain]
        extra = [e for e in _evidence(steps) if e not in target.evidence]
        return replace(target, evidence=target.evidence + tuple(dict.fromkeys(extra)))

    def _chains(self, table: str) -> list | None:
        """The table's registration chains: by SQL (``kg.chains``) when the graph
        offers it, else from the networkx graph's table node."""
        if callable(getattr(self.graph, "chains", None)):
            try:
                return self.graph.chains(table)
            except AnalyzerError:
                return None
        nodes = getattr(getattr(self.graph, "graph", None), "nodes", None)
        if nodes is None or table not in nodes:
            return None
        return nodes[table].get("chains", []) or []

    def callees(self, fn: Function) -> list[Neighbour]:
        return self._neighbours("callees", fn)

    def callers(self, fn: Function) -> list[Neighbour]:
        return self._neighbours("callers", fn)

    def _neighbours(self, how: str, fn: Function) -> list[Neighbour]:
        if self.graph is None:
            return []
        try:
            found = getattr(self.graph, how)(fn.id)
        except sqlite3.DatabaseError:
            raise  # a damaged graph stops the build
        except Exception:  # noqa: BLE001 - shown as "no answer from the graph"
            return []
        key = "callee" if how == "callees" else "caller"
        return [_neighbour(x, key) for x in _items(found)]

    def registrations(self, table: str) -> list[Registration]:
        """Calls that hand ``table`` to a registrar of ``analyzer/kernel/registrars.toml``."""
        if self._regs is None:
            from analyzer.resolve import registrars_table

            known = set(registrars_table())
            self._regs = {}
            for r in self.store.all("registrations"):
                if r.registrar in known:
                    self._regs.setdefault(r.table, []).append(r)
        return self._regs.get(table, [])

    def lines(self, file: str, start: int, end: int) -> list[str]:
        if file not in self._files:
            path = self.kernel_dir / file
            text = path.read_text(encoding="utf-8", errors="replace")
            self._files[file] = text.splitlines()
        return self._files[file][start - 1:end]


def _constant_value(name: str, find: Callable[[str], list], memo: dict) -> int | None:
    """The value of a constant through the others it names; of several
    definitions, the first (by :func:`analyzer.constants.definition_order`) that
    evaluates."""
    if name in memo:
        return memo[name]
    memo[name] = None  # a cycle evaluates to None

    def lookup(other: str) -> int:
        value = _constant_value(other, find, memo)
        if value is None:
            raise KeyError(other)
        return value

    for c in sorted(find(name), key=definition_order):
        value = c.value if c.value is not None else evaluate_expr(c.expr, lookup)
        if value is not None:
            memo[name] = value
            break
    return memo[name]


def _macro_def(rec: object) -> MacroDef:
    params = _get(rec, "params")
    return MacroDef(str(_get(rec, "name")), str(_get(rec, "file")), int(_get(rec, "line")),
                    tuple(params) if params is not None else None,
                    str(_get(rec, "body", "") or ""))


def _items(found: object) -> list:
    if found is None:
        return []
    if isinstance(found, dict):
        for key in ("targets", "callers", "callees", "edges", "items"):
            if key in found:
                return list(found[key])
        return list(found.values())
    for key in ("targets", "edges", "items"):
        if hasattr(found, key):
            return list(getattr(found, key))
    return list(found)


def _name(x: object, *keys: str) -> str:
    if isinstance(x, str):
        return x.split("@")[0]
    for k in keys:
        v = _get(x, k)
        if v:
            return str(v).split("@")[0]
    return ""


def _evidence_text(e: object) -> str:
    table, fld = _name(e, "table"), str(_get(e, "field", "") or "")
    step, caller = _get(e, "step"), _name(e, "caller")
    if step == "passed":
        return f"passed to {_get(e, 'registrar')}() in {caller}"
    if step == "bound":
        return f"bound as {table}.{fld}"
    if step == "registered":
        key = f" under {_get(e, 'key_field')} = {_get(e, 'key_expr')}" if _get(e, "key_expr") \
            else ""
        return f"registered by {_get(e, 'registrar')}() in {caller}{key}"
    if _get(e, "registrar"):
        key = _get(e, "key") or _get(e, "value") or ""
        return f"{_get(e, 'registrar')}({table or ''})" + (f" under {key}" if key else "")
    if _get(e, "kind") == "value":
        return ""
    if _get(e, "kind") == "argument" and _get(e, "via"):
        return (f"passed by {_name(e, 'function')}, "
                f"stored in {_get(e, 'expr')} by {_get(e, 'via')}")
    if _get(e, "kind") == "assignment" and _get(e, "expr"):
        where = _name(e, "function")
        return f"{_get(e, 'expr')} = {_name(e, 'target')}" + (f" in {where}" if where else "")
    if table:
        return f"{table}.{fld}" if fld else table
    return str(_get(e, "text", "") or _get(e, "kind", "") or "")


def _evidence(ev: object) -> tuple[Evidence, ...]:
    if not ev:
        return ()
    items = ev if isinstance(ev, list | tuple) else [ev]
    out = []
    for e in items:
        if isinstance(e, str):
            out.append(Evidence(e))
            continue
        text = _evidence_text(e)
        if _get(e, "via") and _get(e, "kind") != "argument":  # copied member to member
            text = f"{text}, {_get(e, 'via')}" if text else str(_get(e, "via"))
        if _get(e, "local"):  # a call through a function-pointer local
            text = f"{text}, through {_get(e, 'local')}" if text else f"{_get(e, 'local')}"
        out.append(Evidence(text, str(_get(e, "file", "") or ""),
                            int(_get(e, "line", 0) or 0),
                            str(_get(e, "step", "") or _get(e, "kind", "") or ""),
                            _name(e, "table")))
    return tuple(out)


def _target(t: object) -> Target:
    name = _name(t, "name", "target", "function", "callee", "id")
    ev = _get(t, "evidence")
    if ev is None:
        binding = _get(t, "binding") or _get(t, "via")
        ev = ([binding] if binding else []) + list(_get(t, "chain", ()) or ())
    return Target(name, str(_get(t, "file", "") or ""), int(_get(t, "line", 0) or 0),
                  _evidence(ev))


def _neighbour(x: object, key: str = "") -> Neighbour:
    name = _name(x, *([key] if key else []), "name", "function", "target", "id")
    return Neighbour(name, str(_get(x, "kind", "calls") or "calls"),
                     str(_get(x, "file", "") or ""), int(_get(x, "line", 0) or 0),
                     str(_get(x, "expr", "") or ""))
