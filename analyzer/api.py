"""The Python API over the analysis: ``from analyzer import load``.

Takes ``build/graph.sqlite`` (made by ``make analyze``) and gives a
:class:`KernelGraph`: the networkx graph (unpickled from the database) plus
the questions people ask of it: who calls what (direct calls and resolved
function-pointer dispatch), what an indirect call resolves to and why, call
chains, structs, ops tables, definitions; and exports (GraphML, DOT,
node-link JSON) of the whole graph or of a neighbourhood.

Examples (they run as doctests against the real tree; the methods' examples
use this ``kg``):

>>> kg = load()
>>> kg.resolve("__sock_create", "pf->create", family="AF_INET").names
['inet_create']
>>> "sock_alloc_inode" in kg.resolve("alloc_inode", "sb->s_op->alloc_inode").names
True
"""

from __future__ import annotations

import gc
import json
import pickle
import sqlite3
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx

from analyzer.errors import AnalyzerError, NotFound
from analyzer.query import CALL_KINDS, GraphDB, allowed, chain_matches, key_value, norm_expr

__all__ = ["load", "KernelGraph", "Call", "Target", "Resolution", "StructInfo",
           "TableInfo", "Location"]


@dataclass(frozen=True)
class Call:
    """A call from ``caller`` to ``callee``: ``kind`` is ``calls`` (direct) or
    ``dispatches`` (through a function pointer, ``expr``, resolved by type;
    ``via`` is the binding: table and line, or assignment)."""

    caller: str
    callee: str
    kind: str
    file: str
    line: int
    expr: str = ""
    confidence: str = ""
    via: dict = field(default_factory=dict, compare=False, hash=False)

    def __str__(self) -> str:
        how = ""
        if self.kind == "dispatches":
            how = (f" via {self.expr} [{self.via.get('table') or self.via.get('function')}"
                   f" at {self.via.get('file')}:{self.via.get('line')}]")
        return f"{self.file}:{self.line}  {self.caller} -> {self.callee}{how}"


@dataclass(frozen=True)
class Target:
    """A function an indirect call can reach, with its evidence."""

    function: str  # node id
    name: str
    file: str  # where it is defined
    line: int
    binding: dict = field(default_factory=dict, compare=False, hash=False)
    chain: tuple = field(default=(), compare=False, hash=False)


@dataclass(frozen=True)
class Resolution:
    """What ``expr`` in ``function`` resolves to.  ``sites``: the call sites
    (file, line, inferred receiver type, struct, field, confidence, cause)."""

    function: str
    expr: str
    family: str | None
    sites: tuple[dict, ...]
    targets: tuple[Target, ...]

    @property
    def names(self) -> list[str]:
        """The targets' function names, sorted and unique."""
        return sorted({t.name for t in self.targets})


@dataclass(frozen=True)
class StructInfo:
    """A struct: fields ``(name, type, line, guard)`` and its embedding
    chain (``tcp_sock`` -> ``inet_connection_sock`` -> ... -> ``sock_common``)."""

    name: str
    file: str
    line: int
    fields: tuple[tuple, ...]
    embeds: tuple[str, ...]  # the chain of first-member structs
    embedded_in: tuple[str, ...]  # structs whose first member is this one
    casts: tuple[dict, ...]  # cast functions and container_of uses from/to it


@dataclass(frozen=True)
class TableInfo:
    """A global table (an ops table): its entries ``(field, value, line)``,
    the functions bound, and the registrations that hand it to the kernel."""

    id: str
    type: str
    file: str
    line: int
    entries: tuple[tuple, ...]
    functions: dict[str, str]  # field -> function id
    registrations: tuple[dict, ...]


@dataclass(frozen=True)
class Location:
    id: str
    kind: str
    file: str
    line: int


class KernelGraph:
    """The call graph with resolved dispatch; see :func:`load`."""

    def __init__(self, graph: nx.MultiDiGraph, db: GraphDB, path: Path) -> None:
        self._g = graph
        self._db = db
        self.path_to_db = path
        self._names: dict[str, list[str]] = {}
        for nid, attrs in graph.nodes(data=True):
            name = attrs.get("name", nid)
            if name in self._names:
                self._names[name].append(nid)
            else:
                self._names[name] = [nid]

    @property
    def graph(self) -> nx.MultiDiGraph:
        """The networkx ``MultiDiGraph`` itself (see :mod:`analyzer.graph`)."""
        return self._g

    # --- names ----------------------------------------------------------------

    def node_id(self, name: str, kinds: tuple[str, ...] = ("function", "undefined")) -> str:
        """The node id of ``name`` (``name`` or ``name@file``).

        >>> kg.node_id("inet_create")
        'inet_create@net/ipv4/af_inet.c'
        """
        if name in self._g and self._g.nodes[name].get("kind") in kinds:
            return name
        ids = [i for i in self._names.get(name, ()) if self._g.nodes[i].get("kind") in kinds]
        if len(ids) == 1:
            return ids[0]
        if ids:
            raise AnalyzerError(f"{name!r} is ambiguous: {', '.join(sorted(ids))} "
                                "(give one as name@file)")
        import difflib

        close = difflib.get_close_matches(name, list(self._names), n=6, cutoff=0.6)
        raise NotFound(f"no {'/'.join(kinds)} named {name!r}"
                       + ("; closest: " + ", ".join(close) if close else ""))

    # --- calls ----------------------------------------------------------------

    def callees(self, name: str) -> list[Call]:
        """Direct and resolved calls made by a function.

        >>> targets = {c.callee for c in kg.callees("__sock_create") if c.kind == "dispatches"}
        >>> sorted(t.split("@")[0] for t in targets if t.startswith(("inet", "unix")))
        ['inet6_create', 'inet_create', 'unix_create']
        """
        nid = self.node_id(name)
        return sorted((_call(nid, v, a) for v, keyed in self._g._succ[nid].items()
                       for a in keyed.values() if a["kind"] in CALL_KINDS),
                      key=lambda c: (c.line, c.callee))

    def callers(self, name: str) -> list[Call]:
        """Functions calling ``name``, directly or through a resolved pointer.

        >>> [c.caller for c in kg.callers("sock_alloc_inode")]
        ['alloc_inode@fs/inode.c']
        """
        nid = self.node_id(name)
        return sorted((_call(u, nid, a) for u, keyed in self._g._pred[nid].items()
                       for a in keyed.values() if a["kind"] in CALL_KINDS),
                      key=lambda c: (c.file, c.line, c.caller))

    def path(self, src: str, dst: str, family: str | int | None = None,
             max_depth: int = 30) -> list[Call]:
        """A shortest call chain from ``src`` to ``dst`` (through dispatch
        edges too); ``[]`` when there is none.  With ``family``, dispatches
        through tables registered under another key are skipped.

        >>> hops = kg.path("SyS_socket", "tcp_init_sock", family="AF_INET")
        >>> [c.callee.split("@")[0] for c in hops]
        ['sock_create', '__sock_create', 'inet_create', 'tcp_v4_init_sock', 'tcp_init_sock']
        """
        s, d = self.node_id(src), self.node_id(dst)
        want = key_value(family, self._db.constant) if family is not None else None
        prev: dict[str, tuple] = {s: ()}
        queue = deque([(s, 0)])
        while queue:
            u, depth = queue.popleft()
            if u == d:
                return _unwind(prev, d)
            if depth >= max_depth:
                continue
            for v, keyed in self._g._succ[u].items():
                if v in prev:
                    continue
                attrs = next((a for a in keyed.values() if a["kind"] in CALL_KINDS
                              and self._allowed(a, want)), None)
                if attrs is not None:
                    prev[v] = (u, attrs)
                    queue.append((v, depth + 1))
        return []

    # --- resolution -----------------------------------------------------------

    def resolve(self, function: str, expr: str, family: str | int | None = None) -> Resolution:
        """What an indirect call ``expr`` in ``function`` can reach; with
        ``family`` (a registration key such as ``"AF_INET"``, or a file
        system name such as ``"sockfs"``), only the targets whose table is
        registered under it, each with the chain of evidence.

        >>> r = kg.resolve("__sock_create", "pf->create", family="AF_INET")
        >>> r.targets[0].binding["table"], r.targets[0].chain[-1]["registrar"]
        ('inet_family_ops@net/ipv4/af_inet.c', 'sock_register')
        """
        fid = self.node_id(function, ("function",))
        sites = self._db.sites(fid, expr)
        if not sites:
            raise NotFound(f"no indirect call {norm_expr(expr)!r} in {fid}; its indirect "
                           f"calls: {', '.join(self._site_exprs(fid)) or 'none'}")
        want = key_value(family, self._db.constant) if family is not None else None
        targets: dict[str, Target] = {}
        for site in sites:
            for e in self._db.site_targets(site["id"]):
                chain = ()
                if want is not None:
                    chain = chain_matches(self._chains(e.get("via", {}).get("table")), want)
                    if not chain:
                        continue
                targets.setdefault(e["dst"], self._target(e, chain))
        return Resolution(fid, expr, family, tuple(sites), tuple(targets.values()))

    def _allowed(self, attrs: dict, want) -> bool:
        if want is None or attrs["kind"] != "dispatches":
            return True
        return allowed(self._chains((attrs.get("via") or {}).get("table")), want)

    def _chains(self, table: str | None) -> list:
        return self._g.nodes[table].get("chains", []) if table in self._g else []

    def _site_exprs(self, fid: str) -> list[str]:
        rows = self._db.conn.execute("SELECT DISTINCT expr FROM sites WHERE caller = ?",
                                     (fid,)).fetchall()
        return [r[0] for r in rows]

    def _target(self, edge: dict, chain) -> Target:
        a = self._g.nodes[edge["dst"]]
        return Target(edge["dst"], a.get("name", edge["dst"]), a.get("file", ""),
                      a.get("line", 0), edge.get("via", {}), tuple(chain or ()))

    # --- structs, tables, definitions -----------------------------------------

    def struct(self, name: str) -> StructInfo:
        """A struct's fields and embedding chain.

        >>> kg.struct("tcp_sock").embeds
        ('struct inet_connection_sock', 'struct inet_sock', 'struct sock', 'struct sock_common')
        """
        sid = name if name in self._g else self.node_id(name, ("struct",))
        a = self._g.nodes[sid]
        chain, cur = [], sid
        while True:
            nxt = [v for v, k in self._g._succ[cur].items()
                   if any(x["kind"] == "embeds" for x in k.values())]
            if not nxt or nxt[0] in chain or len(chain) > 20:
                break
            chain.append(cur := nxt[0])
        inside = tuple(sorted(u for u, k in self._g._pred[sid].items()
                              if any(x["kind"] == "embeds" for x in k.values())))
        casts = tuple({"from": u, "to": v, **x} for u, v, x in
                      [*self._g.in_edges(sid, data=True), *self._g.out_edges(sid, data=True)]
                      if x["kind"] == "casts")
        return StructInfo(a["name"], a["file"], a["line"], tuple(map(tuple, a["fields"])),
                          tuple(chain), inside, casts)

    def table(self, name: str) -> TableInfo:
        """An ops table, field by field.

        >>> kg.table("tcp_prot").functions["init"]
        'tcp_v4_init_sock@net/ipv4/tcp_ipv4.c'
        """
        tid = self.node_id(name, ("table",))
        a = self._g.nodes[tid]
        funcs = {x["field"]: v for _, v, x in self._g.out_edges(tid, data=True)
                 if x["kind"] == "assigns" and self._g.nodes[v].get("kind") == "function"}
        regs = tuple({"caller": u, **x} for u, _, x in self._g.in_edges(tid, data=True)
                     if x["kind"] == "registers")
        return TableInfo(tid, a.get("type", ""), a["file"], a["line"],
                         tuple(map(tuple, a.get("entries", ()))), funcs, regs)

    def where(self, name: str) -> list[Location]:
        """Where ``name`` (a function, table or struct) is defined.

        >>> [(w.file, w.line) for w in kg.where("sock_alloc_inode")]
        [('net/socket.c', 245)]
        """
        ids = [i for i in self._names.get(name, ())
               if self._g.nodes[i].get("kind") in ("function", "table", "struct")]
        if not ids:
            self.node_id(name, ("function", "table", "struct"))
        return [Location(i, self._g.nodes[i]["kind"], self._g.nodes[i]["file"],
                         self._g.nodes[i]["line"]) for i in sorted(ids)]

    # --- exports --------------------------------------------------------------

    def neighbourhood(self, name: str, radius: int = 1) -> nx.MultiDiGraph:
        """The subgraph of nodes within ``radius`` edges of ``name`` (both ways)."""
        nid = name if name in self._g else self.node_id(name, ("function", "struct", "table"))
        keep = set(nx.ego_graph(self._g, nid, radius=radius, undirected=True))
        return self._g.subgraph(keep).copy()

    def to_json(self, name: str | None = None, radius: int = 1) -> dict:
        """Node-link JSON data of the graph or of a neighbourhood."""
        g = self._g if name is None else self.neighbourhood(name, radius)
        return nx.node_link_data(g, edges="edges")

    def to_graphml(self, path, name: str | None = None, radius: int = 1) -> None:
        """Write GraphML (lists and dicts as JSON strings)."""
        g = self._g if name is None else self.neighbourhood(name, radius)
        nx.write_graphml(_scalar_copy(g), str(path))

    def to_dot(self, path=None, name: str | None = None, radius: int = 1) -> str:
        """DOT text of the graph or a neighbourhood (written to ``path`` if given)."""
        g = self._g if name is None else self.neighbourhood(name, radius)
        lines = ["digraph kernel {", '  node [shape=box, fontname="monospace"];']
        lines += [f"  {_q(n)} [label={_q(a.get('name', n))}, kind={_q(a.get('kind', ''))}];"
                  for n, a in g.nodes(data=True)]
        lines += [f"  {_q(u)} -> {_q(v)} [label={_q(a['kind'])}, "
                  f"file={_q(a.get('file', ''))}, line={int(a.get('line') or 0)}];"
                  for u, v, a in g.edges(data=True)]
        text = "\n".join(lines + ["}"]) + "\n"
        if path is not None:
            Path(path).write_text(text)
        return text


def _q(text) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _scalar_copy(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    def clean(d: dict) -> dict:
        return {k: (v if isinstance(v, str | int | float | bool) else json.dumps(v))
                for k, v in d.items() if v is not None}

    out = nx.MultiDiGraph()
    out.add_nodes_from((n, clean(a)) for n, a in g.nodes(data=True))
    out.add_edges_from((u, v, k, clean(a)) for u, v, k, a in g.edges(keys=True, data=True))
    return out


def _call(u: str, v: str, a: dict) -> Call:
    return Call(u, v, a["kind"], a.get("file", ""), a.get("line", 0), a.get("expr", ""),
                a.get("confidence", ""), a.get("via") or {})


def _unwind(prev: dict, d: str) -> list[Call]:
    out, cur = [], d
    while prev[cur]:
        u, attrs = prev[cur]
        out.append(_call(u, cur, attrs))
        cur = u
    return out[::-1]


def load(path=None) -> KernelGraph:
    """The analysis made by ``make analyze`` (``build/graph.sqlite``, or
    ``path``), as a :class:`KernelGraph`."""
    from analyzer.config import Config

    path = Path(path) if path else Config.default().graph_path
    db = GraphDB.open(path)
    try:
        row = db.conn.execute("SELECT data FROM blobs WHERE name = 'graph'").fetchone()
    except sqlite3.DatabaseError as e:
        raise AnalyzerError(f"{path} is not a graph database ({e}): run `make analyze`") from e
    if row is None:
        raise AnalyzerError(f"{path} holds no graph: run `python -m analyzer graph`")
    return _unpickle(row[0], db, path)


def _unpickle(data: bytes, db: GraphDB, path: Path) -> KernelGraph:
    """Unpickle and index without the cyclic garbage collector (3x faster:
    the graph's half a million dicts would otherwise trigger full collections
    again and again), then freeze them out of later collections."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        kg = KernelGraph(pickle.loads(data), db, path)
        gc.freeze()
        return kg
    finally:
        if enabled:
            gc.enable()
