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

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from analyzer.errors import AnalyzerError
from analyzer.records import Call, Function, Global, Initializer, Registration, Struct

__all__ = ["Evidence", "Target", "Neighbour", "Step", "RunView", "Facts", "MemoryFacts",
           "StoreFacts", "initializer_end"]


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


class RunView:
    """The model's run: steps as :class:`Step`, snapshots as plain data."""

    def __init__(self, steps: Iterable[object], snapshot, error: str = ""):
        self.steps: list[Step] = [_step(s) for s in steps]
        self._snapshot = snapshot
        self.error = error

    @classmethod
    def of(cls, run: object) -> RunView:
        """Wrap an ``analyzer.model.Run`` (or anything with ``steps`` and ``snapshot``)."""
        return cls(_get(run, "steps", []), run.snapshot)

    def snapshot(self, n: int) -> dict[str, dict]:
        return self._snapshot(n) or {}

    def last(self) -> int:
        return self.steps[-1].n if self.steps else 0


def _step(s: object) -> Step:
    return Step(n=int(_get(s, "n", 0)), event=str(_get(s, "event", "")),
                function=str(_get(s, "function", "")), file=str(_get(s, "file", "") or ""),
                line=int(_get(s, "line", 0) or 0), depth=int(_get(s, "depth", 0) or 0),
                via=_get(s, "via"), changes=tuple(_get(s, "changes", ()) or ()),
                note=str(_get(s, "note", "") or ""), site=str(_get(s, "site", "") or ""),
                value=str(_get(s, "value", "") or ""))


class Facts:
    """The read-only view pages are generated from.  Subclasses fill it in."""

    run: RunView | None = None
    notices: list[str]
    #: names the model runs as runtime primitives (allocation, locks, lists...)
    primitives: frozenset[str] = frozenset()

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

    def _of(self, cls: type) -> list:
        return [r for r in self.records if isinstance(r, cls)]

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
