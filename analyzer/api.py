"""The Python API over the analysis: ``from analyzer import load``.

Takes ``build/graph.sqlite`` (made by ``make analyze``) and gives a
:class:`KernelGraph`: the questions people ask of the graph, answered from
the database's indexed tables, and the networkx graph itself (unpickled from
the database on first use of ``kg.graph``).  The questions: who calls what
(direct calls and resolved function-pointer dispatch), what an indirect call
resolves to and why, call chains, structs, ops tables, definitions; and
exports (GraphML, DOT, node-link JSON) of the whole graph or of a
neighbourhood.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from analyzer.errors import AnalyzerError, NotFound
from analyzer.query import GraphDB, chain_matches, key_value, norm_expr

if TYPE_CHECKING:
    import networkx as nx

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
    """The call graph with resolved dispatch; see :func:`load`.

    Questions are answered from the graph database's indexed tables (each in
    well under a millisecond); the networkx graph itself is unpickled on
    first use of :attr:`graph` or of an export.
    """

    def __init__(self, db: GraphDB, path: Path) -> None:
        self._db = db
        self._g: nx.MultiDiGraph | None = None
        self.path_to_db = path

    @property
    def graph(self) -> nx.MultiDiGraph:
        """The networkx ``MultiDiGraph`` itself (see :mod:`analyzer.graph`),
        loaded on first use."""
        if self._g is None:
            row = self._db.conn.execute("SELECT data FROM blobs WHERE name = 'graph'").fetchone()
            if row is None:
                raise AnalyzerError(f"{self.path_to_db} holds no graph: run "
                                    "`kernel-analyzer graph`")
            self._g = _unpickle(row[0])
        return self._g

    # --- names ----------------------------------------------------------------

    def node_id(self, name: str, kinds: tuple[str, ...] = ("function", "undefined")) -> str:
        """The node id of ``name`` (``name`` or ``name@file``); NotFound with
        the closest names, AnalyzerError listing an ambiguous static's files.

        >>> kg.node_id("inet_create")
        'inet_create@net/ipv4/af_inet.c'
        """
        return self._db.one(name, kinds)

    # --- calls ----------------------------------------------------------------

    def callees(self, name: str) -> list[Call]:
        """Direct and resolved calls made by a function.

        >>> targets = {c.callee for c in kg.callees("__sock_create") if c.kind == "dispatches"}
        >>> sorted(t.split("@")[0] for t in targets if t.startswith(("inet", "unix")))
        ['inet6_create', 'inet_create', 'unix_create']
        """
        return [_call(e) for e in self._db.edges(self.node_id(name), "out")]

    def callers(self, name: str) -> list[Call]:
        """Functions calling ``name``, directly or through a resolved pointer.

        >>> [c.caller for c in kg.callers("sock_alloc_inode")]
        ['alloc_inode@fs/inode.c']
        """
        edges = self._db.edges(self.node_id(name), "in")
        return sorted(map(_call, edges), key=lambda c: (c.file, c.line, c.caller))

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
        return [_call(e) for e in self._db.path(s, d, max_depth, want=want)]

    # --- resolution -----------------------------------------------------------

    def resolve(self, function: str, expr: str, family: str | int | None = None) -> Resolution:
        """What an indirect call ``expr`` in ``function`` can reach; with
        ``family`` (a registration key: a constant such as ``"AF_INET"``, a
        file system name such as ``"sockfs"``, or ``"type=SOCK_STREAM"`` for
        one table field), only the targets whose table is registered under
        it, each with the chain of evidence.

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
                    table = (e.get("via") or {}).get("table", "")
                    chain = chain_matches(self._db.chains(table), want)
                    if not chain:
                        continue
                targets.setdefault(e["dst"], self._target(e, chain))
        return Resolution(fid, expr, family, tuple(sites), tuple(targets.values()))

    def chains(self, table: str) -> list[list[dict]]:
        """Every registration chain of a table (by id or name): how it reaches
        a registrar, each a list of steps (``passed``, ``bound``, ``listed``,
        ``registered``); the same as ``kg.graph.nodes[table]["chains"]``
        without loading the networkx graph.

        >>> [s["step"] for s in kg.chains("sockfs_ops")[0]]
        ['passed', 'bound', 'registered']
        """
        tid = table if self._db.node(table) else self.node_id(table, ("table",))
        return self._db.chains(tid)

    def _site_exprs(self, fid: str) -> list[str]:
        rows = self._db.conn.execute("SELECT DISTINCT expr FROM sites WHERE caller = ?",
                                     (fid,)).fetchall()
        return [r[0] for r in rows]

    def _target(self, edge: dict, chain) -> Target:
        node = self._db.node(edge["dst"]) or {}
        return Target(edge["dst"], node.get("name", edge["dst"]), node.get("file", ""),
                      node.get("line", 0), edge.get("via") or {}, tuple(chain or ()))

    # --- structs, tables, definitions -----------------------------------------

    def struct(self, name: str) -> StructInfo:
        """A struct's fields and embedding chain.

        >>> kg.struct("tcp_sock").embeds
        ('struct inet_connection_sock', 'struct inet_sock', 'struct sock', 'struct sock_common')
        """
        found = self._db.node(name)
        sid = name if found and found["kind"] == "struct" else self.node_id(name, ("struct",))
        node = self._db.node(sid)
        chain, cur = [], sid
        while len(chain) < 20:
            nxt = [e["dst"] for e in self._db.edges(cur, "out", ("embeds",))]
            if not nxt or nxt[0] in chain:
                break
            chain.append(cur := nxt[0])
        inside = tuple(sorted(e["src"] for e in self._db.edges(sid, "in", ("embeds",))))
        casts = tuple({"from": e.pop("src"), "to": e.pop("dst"), **e} for e in
                      [*self._db.edges(sid, "in", ("casts",)),
                       *self._db.edges(sid, "out", ("casts",))])
        return StructInfo(node["name"], node["file"], node["line"],
                          tuple(map(tuple, node.get("fields", ()))), tuple(chain), inside, casts)

    def table(self, name: str) -> TableInfo:
        """An ops table, field by field.

        >>> kg.table("tcp_prot").functions["init"]
        'tcp_v4_init_sock@net/ipv4/tcp_ipv4.c'
        """
        tid = self.node_id(name, ("table",))
        node = self._db.node(tid)
        funcs = {e["field"]: e["dst"] for e in self._db.edges(tid, "out", ("assigns",))
                 if (self._db.node(e["dst"]) or {}).get("kind") == "function"}
        regs = tuple({"caller": e.pop("src"), **e}
                     for e in self._db.edges(tid, "in", ("registers",)))
        return TableInfo(tid, node.get("type", ""), node["file"], node["line"],
                         tuple(map(tuple, node.get("entries", ()))), funcs, regs)

    def where(self, name: str) -> list[Location]:
        """Where ``name`` (a function, table or struct) is defined.

        >>> [(w.file, w.line) for w in kg.where("sock_alloc_inode")]
        [('net/socket.c', 245)]
        """
        kinds = ("function", "table", "struct")
        ids = self._db.ids(name, kinds)
        if not ids:
            self.node_id(name, kinds)
        nodes = [self._db.node(i) for i in ids]
        return [Location(n["id"], n["kind"], n["file"], n["line"]) for n in nodes]

    # --- exports --------------------------------------------------------------

    def neighbourhood(self, name: str, radius: int = 1) -> nx.MultiDiGraph:
        """The subgraph of nodes within ``radius`` edges of ``name`` (both ways)."""
        nid = name if self._db.node(name) else self.node_id(name, ("function", "struct", "table"))
        g = self.graph
        keep, frontier = {nid}, {nid}
        for _ in range(radius):
            reached = {m for n in frontier for m in (*g.successors(n), *g.predecessors(n))}
            frontier = reached - keep
            keep |= frontier
        return g.subgraph(keep).copy()

    def to_json(self, name: str | None = None, radius: int = 1) -> dict:
        """Node-link JSON data of the graph or of a neighbourhood."""
        import networkx as nx

        g = self.graph if name is None else self.neighbourhood(name, radius)
        return nx.node_link_data(g, edges="edges")

    def to_graphml(self, path, name: str | None = None, radius: int = 1) -> None:
        """Write GraphML (lists and dicts as JSON strings)."""
        import networkx as nx

        g = self.graph if name is None else self.neighbourhood(name, radius)
        nx.write_graphml(_scalar_copy(g), str(path))

    def to_dot(self, path=None, name: str | None = None, radius: int = 1) -> str:
        """DOT text of the graph or a neighbourhood (written to ``path`` if given)."""
        g = self.graph if name is None else self.neighbourhood(name, radius)
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
    import networkx as nx
    def clean(d: dict) -> dict:
        return {k: (v if isinstance(v, str | int | float | bool) else json.dumps(v))
                for k, v in d.items() if v is not None}

    out = nx.MultiDiGraph()
    out.add_nodes_from((n, clean(a)) for n, a in g.nodes(data=True))
    out.add_edges_from((u, v, k, clean(a)) for u, v, k, a in g.edges(keys=True, data=True))
    return out


def _call(e: dict) -> Call:
    return Call(e["src"], e["dst"], e["kind"], e.get("file", ""), e.get("line", 0),
                e.get("expr", ""), e.get("confidence", ""), e.get("via") or {})


def load(path=None) -> KernelGraph:
    """The analysis made by ``make analyze`` (``build/graph.sqlite``, or
    ``path``), as a :class:`KernelGraph`."""
    from analyzer.config import Config

    path = Path(path) if path else Config.default().graph_path
    db = GraphDB.open(path)
    try:
        found = db.conn.execute("SELECT count(*) FROM blobs WHERE name = 'graph'").fetchone()
    except sqlite3.DatabaseError as e:
        raise AnalyzerError(f"{path} is not a graph database ({e}): "
                            "run `kernel-analyzer analyze`") from e
    if not found[0]:
        raise AnalyzerError(f"{path} holds no graph: run `kernel-analyzer graph`")
    return KernelGraph(db, path)


def _unpickle(data: bytes) -> nx.MultiDiGraph:
    """Unpickle without the cyclic garbage collector (3x faster: the graph's
    half a million dicts would otherwise trigger full collections again and
    again), then freeze them out of later collections."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        g = pickle.loads(data)
        gc.freeze()
        return g
    finally:
        if enabled:
            gc.enable()
