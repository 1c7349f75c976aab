"""The call graph over the extracted records.

Takes an :class:`analyzer.resolve.Index` (from the store, or from the
:class:`records.FileFacts` of a few snippet files) and makes the graph as the
rows of its tables (:class:`GraphRows`: nodes, edges, resolved indirect call
sites), written to ``build/graph.sqlite``; the networkx ``MultiDiGraph`` is
made from those rows when asked (:func:`build_graph` here, ``kg.graph`` from
the database: :mod:`analyzer.graphdata`).

Nodes (attribute ``kind``):

- ``function``: id ``name`` (external) or ``name@file`` (static);
- ``undefined``: a called name with no definition in the analysed tree (a
  macro such as ``likely``, or a function of ``mm/`` or ``kernel/``): kept so
  that ``callees`` shows it, id the bare name, counted in the report;
- ``struct``: id ``struct NAME`` / ``union NAME``, with its fields;
- ``table``: a global with an initializer (``inet_family_ops@net/ipv4/af_inet.c``).

Edges (attribute ``kind``; every edge has ``file`` and ``line``):

- ``calls``: a direct call.  The callee name is resolved as C links it: a
  static of the caller's file, else the external function, else a static
  inline of a header;
- ``dispatches``: an indirect call site to each function it resolves to, with
  ``expr``, ``rtype``, ``struct``, ``field``, ``confidence`` and ``via`` (the
  binding: the table and its entry line, or the assignment);
- ``assigns``: table -> function (``field``) from initializers, and assigning
  function -> function from ``x->f = fn`` assignments; table -> table for
  ``.prot = &tcp_prot``;
- ``registers``: the function holding a registration call -> the table;
- ``embeds``: struct -> the struct of its first member;
- ``casts``: struct -> struct, through a cast function detected from its body
  (``inet_sk``: ``return (struct inet_sock *)sk;``; ``SOCKET_I``:
  ``return &container_of(inode, struct socket_alloc, vfs_inode)->socket;``)
  or a ``container_of`` use.
"""

from __future__ import annotations

import gc
import json
import os
import re
import shutil
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

from analyzer import graphdata, records
from analyzer.dbfile import database_problem
from analyzer.errors import AnalyzerError
from analyzer.resolve import (
    INDEXED_KINDS,
    Index,
    Resolver,
    Site,
    Unresolved,
    strip_indexes,
    type_text,
)
from analyzer.resolve import row_fields as rf
from analyzer.store import fsync
from analyzer.tempfiles import remove_stale
from analyzer.workers import Worker

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["GraphReport", "GraphRows", "graph_rows", "build_graph", "graph_from_facts",
           "build_graph_store", "write_graph_db", "detect_casts", "struct_id", "SCHEMA"]

SCHEMA = """
CREATE TABLE nodes(id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL,
    file TEXT, line INTEGER, data TEXT);
CREATE TABLE edges(src TEXT NOT NULL, dst TEXT NOT NULL, kind TEXT NOT NULL,
    file TEXT, line INTEGER, site INTEGER, data TEXT);
CREATE TABLE sites(id INTEGER PRIMARY KEY, caller TEXT, file TEXT, line INTEGER, expr TEXT,
    kind TEXT, rtype TEXT, struct TEXT, field TEXT, confidence TEXT, cause TEXT,
    ntargets INTEGER);
CREATE TABLE chains(tbl TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE constants(name TEXT PRIMARY KEY, value INTEGER, file TEXT, line INTEGER);
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);
"""

Source = Callable[[str], "str | None"]


@dataclass(frozen=True)
class GraphReport:
    """What :func:`build_graph_store` made."""

    nodes: dict[str, int] = field(default_factory=dict)
    edges: dict[str, int] = field(default_factory=dict)
    undefined_callees: int = 0  # distinct called names without a definition
    resolution: dict = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    path: str = ""

    def __str__(self) -> str:
        r = self.resolution
        return (f"graph: {sum(self.nodes.values())} nodes {self.nodes}, "
                f"{sum(self.edges.values())} edges {self.edges}; "
                f"{self.undefined_callees} called names undefined in the tree; "
                f"indirect sites {r.get('indirect_sites', 0)}, resolved "
                f"{100 * r.get('resolved_share', 0):.1f}% "
                f"(mean {r.get('mean_targets', 0)} / median {r.get('median_targets', 0)} "
                f"targets); times {self.seconds} -> {self.path}")

    def to_json(self) -> dict:
        return dict(self.__dict__)


def struct_id(name: str, kind: str = "struct") -> str:
    """The node id of a struct or union: ``struct socket``."""
    return f"{kind} {name}"


# --- building ---------------------------------------------------------------

@dataclass(frozen=True)
class GraphRows:
    """The graph as the stage makes it: the rows of its tables, not a networkx
    graph (about 450,000 edges: a tuple each, no dict, no predecessor maps).

    ``nodes``: id -> attributes, in the order the nodes were made (a node
    first named by an edge comes when that edge does); ``edges``: the rows of
    the ``edges`` table (src, dst, kind, file, line, site, data), in the order
    the edges were made; ``sites``: the indirect call sites, resolved."""

    nodes: dict[str, dict]
    edges: list[tuple]
    sites: list[Site]

    def node_rows(self, start: int = 0) -> Iterator[tuple]:
        """The rows of ``nodes`` (from the ``start``-th node on): id, name,
        kind, file, line and the other attributes as JSON (``chains`` apart:
        :meth:`chain_rows`)."""
        for n, a in islice(self.nodes.items(), start, None):
            yield (n, a["name"], a["kind"], a.get("file", ""), a.get("line", 0),
                   _json({k: v for k, v in a.items() if k not in _NODE_COLUMNS}))

    def chain_rows(self) -> Iterator[tuple]:
        """The rows of ``chains``: a table's registration chains."""
        return ((n, json.dumps(a["chains"])) for n, a in self.nodes.items() if a.get("chains"))

    def site_rows(self) -> Iterator[tuple]:
        return ((i, s.caller, s.file, s.line, s.expr, s.kind, s.rtype, s.struct, s.field,
                 s.confidence, s.cause, len(s.targets)) for i, s in enumerate(self.sites))

    def graph(self) -> nx.MultiDiGraph:
        """The networkx graph of these rows: the one ``kg.graph`` reads back."""
        return graphdata.graph_from_rows(self.node_rows(), self.edges, self.chain_rows())


#: node attributes with columns of their own in ``nodes`` (``chains``: in ``chains``)
_NODE_COLUMNS = ("kind", "name", "file", "line", "chains")


class _Maker:
    """Makes :class:`GraphRows`: nodes and edges as ``g.add_node`` and
    ``g.add_edge`` would add them to a graph, as rows."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict] = {}
        self.edges: list[tuple] = []

    def node(self, n: str, attrs: dict) -> None:
        old = self.nodes.get(n)
        if old is None:
            self.nodes[n] = attrs
        else:
            old.update(attrs)

    def edge(self, u: str, v: str, kind: str, file: str, line: int, site: int | None = None,
             **extra) -> None:
        """An edge; a node it names that is not there yet is ``undefined``
        (:func:`_add_nodes` made every defined one first)."""
        nodes = self.nodes
        for n in (u, v):
            if n not in nodes:
                if n is None:
                    raise ValueError("None cannot be a node")
                nodes[n] = _undefined(n)
        self.edges.append((u, v, kind, file, line, site, _json(extra)))


def _undefined(nid: str) -> dict:
    """The attributes of a node named but defined nowhere in the tree (a
    macro, a function of mm/, a caller the extraction named)."""
    return {"kind": "undefined", "name": nid.split("@")[0], "file": "", "line": 0}


def graph_rows(index: Index, source: Source | None = None,
               resolver: Resolver | None = None,
               calls_made: Callable[[GraphRows], None] | None = None) -> GraphRows:
    """The rows of the graph of ``index`` and its resolved indirect sites.

    ``source(file)`` gives a file's text, for detecting cast functions from
    their bodies; without it only ``container_of`` uses make ``casts`` edges.
    ``calls_made(rows)`` is called with the graph as made once the direct
    calls' edges are (its nodes and those edges: the first rows of both
    tables, as they will stay), before the rest is made (the graph stage
    starts writing them meanwhile).
    """
    res = resolver or Resolver(index)
    if source is not None and not isinstance(source, _Reader):
        source = _Reader(source)
    made = _Maker()
    _add_nodes(made, index)
    _add_calls(made, index)
    if calls_made is not None:
        calls_made(GraphRows(dict(made.nodes), made.edges[:], []))
    sites = [res.resolve_call(c) for c in index.calls]
    _add_dispatches(made, sites)
    _add_bindings(made, index, res)
    _add_registrations(made, res)
    _add_structs(made, index, res, source)
    return GraphRows(made.nodes, made.edges, sites)


def build_graph(index: Index, source: Source | None = None,
                resolver: Resolver | None = None) -> tuple[nx.MultiDiGraph, list[Site]]:
    """The networkx graph and the resolved indirect sites of ``index``
    (:func:`graph_rows` made into a graph, as ``kg.graph`` reads it)."""
    rows = graph_rows(index, source, resolver)
    return rows.graph(), rows.sites


def graph_from_facts(facts: Iterable[records.FileFacts],
                     sources: dict[str, str] | None = None):
    """``build_graph`` over some files' facts (e.g. extracted C snippets)."""
    index = Index.from_facts(facts)
    return build_graph(index, (sources or {}).get)


def _add_nodes(made: _Maker, index: Index) -> None:
    add = made.node
    for fid, fn in index.functions.items():
        add(fid, {"kind": "function", "name": fn.name, "file": fn.file, "line": fn.line,
                  "end_line": fn.end_line, "static": fn.static, "signature": fn.signature})
    for ini in index.initializers:
        tid = records.function_id(ini.name, ini.file, ini.static)
        entries = [(e.path, e.value, e.line) for e in ini.entries]
        add(tid, {"kind": "table", "name": ini.name, "file": ini.file, "line": ini.line,
                  "type": ini.type, "entries": entries})
    for name in index.structs:
        st = index.struct(name)
        fields = [(f.name, f.type, f.line, f.guard) for f in st.fields]
        add(struct_id(name, st.kind), {"kind": "struct", "name": name, "file": st.file,
                                       "line": st.line, "end_line": st.end_line,
                                       "fields": fields})


def _add_calls(made: _Maker, index: Index) -> None:
    """The direct calls' edges: most of the graph, made here without
    :meth:`_Maker.edge` (the callers are functions, already nodes, but for
    a caller the extraction named and did not define)."""
    nodes, append = made.nodes, made.edges.append
    caller, file, line, callee = rf.caller, rf.file, rf.line, rf.callee
    for row, fid in index.direct_calls():
        src, dst = row[caller], fid or row[callee]
        if src not in nodes:
            nodes[src] = _undefined(src)
        if dst not in nodes:
            nodes[dst] = _undefined(dst)
        append((src, dst, "calls", row[file], row[line], None, None))


def _add_dispatches(made: _Maker, sites: list[Site]) -> None:
    for i, site in enumerate(sites):
        for b in site.targets:
            made.edge(site.caller, b.target, "dispatches", site.file, site.line, i,
                      expr=site.expr, rtype=site.rtype, struct=site.struct, field=site.field,
                      confidence=site.confidence, via=b.evidence())


def _add_bindings(made: _Maker, index: Index, res: Resolver) -> None:
    for blist in res.bindings().values():
        for b in blist:
            src = b.table or b.function
            if src:
                made.edge(src, b.target, "assigns", b.file, b.line, struct=b.struct,
                          field=b.field)
    for ini in index.initializers:
        tid = records.function_id(ini.name, ini.file, ini.static)
        for e in ini.entries:
            ref = res._table_id(e.ref, ini.file) if e.ref else ""
            if ref and ref != tid:
                made.edge(tid, ref, "assigns", ini.file, e.line, field=strip_indexes(e.path))


def _add_registrations(made: _Maker, res: Resolver) -> None:
    for tid, regs in res._registrations().items():
        for reg in regs:
            if reg.caller in made.nodes:
                made.edge(reg.caller, tid, "registers", reg.file, reg.line,
                          registrar=reg.registrar)
        made.nodes[tid]["chains"] = [list(c) for c in res.registration_chains(tid)]


def _add_structs(made: _Maker, index: Index, res: Resolver, source: Source | None):
    for name in index.structs:
        st = index.struct(name)
        first = st.first
        inner = index.struct_of(first.type) if first and "*" not in first.type else ""
        if inner and inner in index.structs and inner != name:
            kind = index.struct(inner).kind
            made.edge(struct_id(name, st.kind), struct_id(inner, kind), "embeds",
                      st.file, first.line, field=first.name)
    for src, dst, attrs in detect_casts(index, res, source):
        made.edge(_sid(index, src), _sid(index, dst), "casts", **attrs)


def _sid(index: Index, name: str) -> str:
    st = index.struct(name)
    return struct_id(name, st.kind if st else "struct")


# --- cast functions ---------------------------------------------------------

_RET_CAST = re.compile(r"return\s*\(\s*(?:const\s+)?(?:struct|union)\s+(\w+)\s*\*\s*\)\s*(\w+)\s*;")
_RET_CONTAINER = re.compile(
    r"return\s*(&?)\s*container_of\s*\(\s*(\w+)\s*,\s*(?:struct|union)\s+(\w+)\s*,"
    r"\s*([\w.]+)\s*\)\s*(?:->\s*(\w+))?\s*;")


def detect_casts(index: Index, res: Resolver, source: Source | None):
    """``(from_struct, to_struct, attrs)`` for every cast function (found from
    its body) and every ``container_of`` use whose pointer type is known."""
    for fn in index.functions.values():
        found = _cast_function(index, res, fn, source) if source else None
        if found:
            yield found
    for row in index.direct:
        if res.type_arg.get(row[rf.callee]) == 1:
            call = index.call(row)
            found = _container_use(index, res, call) if len(call.args) > 2 else None
            if found:
                yield found


def _cast_function(index: Index, res: Resolver, fn: records.Function, source: _Reader):
    if fn.end_line - fn.line > 8:  # the cheap test first: most functions are longer
        return None
    ret = index.struct_of(fn.return_type)
    params = {p.name: index.struct_of(p.type) for p in fn.params if "*" in p.type} \
        if ret else {}
    if not ret or not params:
        return None
    body = source.lines(fn.file, fn.line, fn.end_line)
    if not body:
        return None
    m = _RET_CAST.search(body)
    if m and params.get(m.group(2)) and params[m.group(2)] != m.group(1):
        return params[m.group(2)], m.group(1), _cast_attrs(fn, "cast")
    m = _RET_CONTAINER.search(body)
    if m and params.get(m.group(2)):
        return params[m.group(2)], m.group(3), _cast_attrs(fn, "container_of", m.group(4))
    return None


def _cast_attrs(fn: records.Function, how: str, member: str = "") -> dict:
    return {"file": fn.file, "line": fn.line, "function": fn.id, "how": how,
            "member": member}


def _container_use(index: Index, res: Resolver, call: records.Call):
    to = index.struct_of(type_text(call.args[1]))
    fn = index.functions.get(call.caller)
    try:
        frm = index.struct_of(res.infer(call.args[0], fn).ctype) if fn else ""
    except Unresolved:
        return None
    if not to or not frm or to == frm:
        return None
    return frm, to, {"file": call.file, "line": call.line, "function": call.caller,
                     "how": call.callee, "member": call.args[2].strip()}


# --- the graph database -----------------------------------------------------

#: each table's indexes (name -> SQL), made once the table is written
INDEXES = {
    "edges": {"edges_src": "CREATE INDEX edges_src ON edges(src, kind)",
              "edges_dst": "CREATE INDEX edges_dst ON edges(dst, kind)",
              "edges_site": "CREATE INDEX edges_site ON edges(site) WHERE site IS NOT NULL"},
    "nodes": {"nodes_name": "CREATE INDEX nodes_name ON nodes(name)"},
    "sites": {"sites_caller": "CREATE INDEX sites_caller ON sites(caller, expr)"},
}


def _index(conn: sqlite3.Connection, *tables: str) -> None:
    conn.executescript("".join(f"{sql};\n" for t in tables for sql in INDEXES[t].values()))


def write_graph_db(path: Path, rows: GraphRows, meta: dict, constants_db: Path,
                   begun: Worker | None = None) -> None:
    """Write the graph's rows to ``path`` atomically (a temporary file renamed),
    with the ``constants`` table of the database ``constants_db``
    (:func:`_constants_db`).

    ``begun``: a worker that has started the temporary file meanwhile
    (:func:`_begin_db` with the first rows of ``nodes`` and ``edges``, those
    made with the direct calls' edges, while the rest of the graph was
    made); else it is started here with them all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _scratch(path)
    try:
        written = begun.result() if begun is not None else _begin_db(tmp, rows)
        conn = _connect_scratch(tmp)
        with conn:
            meta = {**meta, "graph_format": graphdata.FORMAT}
            for table, new in (("edges", rows.edges[written["edges"]:]),
                               ("nodes", rows.node_rows(written["nodes"])),
                               ("sites", rows.site_rows()), ("chains", rows.chain_rows()),
                               ("meta", [(k, json.dumps(v)) for k, v in meta.items()])):
                _write_rows(conn, table, new)
        _copy_tables(conn, constants_db, ("constants",))
        _index(conn, "nodes", "sites")
        conn.close()
        fsync(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _begin_db(tmp: Path, rows: GraphRows) -> dict[str, int]:
    """A new graph database at ``tmp`` (this process's temporary file) holding
    the rows of ``nodes`` and ``edges`` of ``rows`` (the first rows of these
    tables) and the indexes of ``edges``, for :func:`write_graph_db` to go on
    with; how many rows of each.  The edges that come after are indexed as
    they are written: far fewer than these."""
    tmp.unlink(missing_ok=True)
    conn = _connect_scratch(tmp)
    with conn:
        conn.executescript(SCHEMA)
        _write_rows(conn, "edges", rows.edges)
    _index(conn, "edges")
    with conn:
        _write_rows(conn, "nodes", rows.node_rows())
    conn.close()
    return {"edges": len(rows.edges), "nodes": len(rows.nodes)}


def _connect_scratch(path: Path) -> sqlite3.Connection:
    """A connection to a temporary file of the stage: nobody reads it before
    it is renamed into place, so no journal and no syncs (one fsync before the
    rename)."""
    conn = sqlite3.connect(path)
    conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")
    return conn


def _scratch(path: Path, what: str = "") -> Path:
    """A temporary file of this process beside the database ``path``
    (``.graph.sqlite.<pid>[.what].tmp``: those of killed runs are removed
    by prefix)."""
    return path.with_name(f".{path.name}.{os.getpid()}{'.' + what if what else ''}.tmp")


# --- updating the graph database -------------------------------------------

#: at most this many of the store's files (or this share of them, when more)
#: differ from those a graph database was made from for :func:`update_graph_db`
#: to update it: past it, writing every row anew costs less than finding the
#: rows that differ
UPDATE_FILES, UPDATE_SHARE = 16, 0.02


def _can_update(path: Path, files: dict[str, str], code: str) -> bool:
    """Is ``path`` a sound graph database of this format, made by this code
    (meta ``code``, :func:`_code`) from a store whose files (path -> SHA-256,
    meta ``store_files``) were ``files`` but for a few?"""
    if database_problem(path):
        return False
    try:
        conn = sqlite3.connect(path)
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN "
                                     "('graph_format', 'code', 'store_files')"))
        finally:
            conn.close()
        if json.loads(meta.get("graph_format", "null")) != graphdata.FORMAT or \
                json.loads(meta.get("code", "null")) != code:
            return False
        before = json.loads(meta.get("store_files", "null"))
    except (sqlite3.Error, ValueError):
        return False
    if not isinstance(before, dict):
        return False
    differ = sum(before.get(f) != sha for f, sha in files.items()) + len(before.keys() - files)
    return differ <= max(UPDATE_FILES, UPDATE_SHARE * len(files))


def _code() -> str:
    """A digest of the code and tables the graph is made by (the package's
    modules, ``kernel/*.toml``): a database made by other code is written anew."""
    import hashlib

    package = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted([*package.glob("*.py"), *package.glob("kernel/*.toml")]):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def update_graph_db(path: Path, rows: GraphRows, meta: dict, constants_db: Path,
                    keep_constants: bool = False) -> dict[str, int]:
    """Make the database at ``path`` hold what :func:`write_graph_db` would
    write, rewriting only what differs; return how many rows of each table
    were written or deleted.

    ``sites``, ``chains``, ``meta`` and ``constants`` are compared row by row
    on their key.  ``nodes`` and ``edges`` keep the order of a new database
    (:func:`_update_in_order`: the rows that differ are updated where they
    are; a table gaining or losing rows, or a node changing its id, is written
    again whole with its indexes): their order is the order ``kg.graph``
    meets the nodes and each node's neighbours in (and ``path`` a function's
    callers), and rows added for some nodes or edges only would come after
    the others.
    ``keep_constants``: the ``constants`` table is left as it is (the
    constants' records did not change, :func:`_stored_constants`); else it is
    updated from that of ``constants_db`` (:func:`_constants_db`).  The file
    is copied, updated and renamed into place: readers see the old database or
    the new one."""
    tmp = _scratch(path)
    tmp.unlink(missing_ok=True)
    try:
        shutil.copyfile(path, tmp)
        conn = _connect_scratch(tmp)
        changed = {}
        with conn:
            for table, new in (("sites", rows.site_rows()), ("chains", rows.chain_rows())):
                stale = _stale_rows(conn, table, new)
                _write_rows(conn, table, stale)
                changed[table] = len(stale)
            meta = {**meta, "graph_format": graphdata.FORMAT}
            _write_rows(conn, "meta", _stale_rows(conn, "meta",
                                                  [(k, json.dumps(v)) for k, v in meta.items()]))
        for table, new in (("nodes", list(rows.node_rows())), ("edges", rows.edges)):
            changed[table] = _update_in_order(conn, table, new)
        if not keep_constants:
            changed.update(_update_from(conn, constants_db, ("constants",)))
        conn.close()
        fsync(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return changed


def _rewrite(conn: sqlite3.Connection, table: str, rows: list[tuple]) -> int:
    """Write ``table`` again whole, with its indexes; how many rows."""
    conn.executescript("".join(f"DROP INDEX {name};" for name in INDEXES[table])
                       + f"DELETE FROM {table};")
    with conn:
        _write_rows(conn, table, rows)
    _index(conn, table)
    return len(rows)


def _update_in_order(conn: sqlite3.Connection, table: str, rows: list[tuple]) -> int:
    """Make ``table`` hold ``rows`` in their order; how many rows were written.

    As many rows as before, with the same keys (``nodes``: ids; ``edges`` has
    none): the rows that differ are updated where they are (lines shifted by
    an edit: a few thousand rows); else the table is written again whole."""
    old = conn.execute(f"SELECT rowid, * FROM {table} ORDER BY rowid").fetchall()
    if len(old) != len(rows):
        return _rewrite(conn, table, rows)
    differ = [(was, row) for was, row in zip(old, rows, strict=True) if was[1:] != row]
    if table == "nodes" and any(was[1] != row[0] for was, row in differ):  # an id changed
        return _rewrite(conn, table, rows)
    names = [r[1] for r in conn.execute(f"SELECT * FROM pragma_table_info('{table}')")]
    with conn:
        conn.executemany(f"UPDATE {table} SET {', '.join(f'{n} = ?' for n in names)} "
                         "WHERE rowid = ?", [(*row, was[0]) for was, row in differ])
    return len(differ)


def _stale_rows(conn: sqlite3.Connection, table: str, rows: Iterable[tuple]) -> list[tuple]:
    """Delete the rows of ``table`` (keyed by its first column) that are not
    among ``rows``; return those of ``rows`` it lacks now."""
    new = {row[0]: row for row in rows}
    old = {row[0]: row for row in conn.execute(f"SELECT * FROM {table}")}
    stale = [(k,) for k, row in old.items() if new.get(k) != row]
    key = {"sites": "id", "chains": "tbl", "meta": "key"}[table]
    conn.executemany(f"DELETE FROM {table} WHERE {key} = ?", stale)
    return [row for k, row in new.items() if old.get(k) != row]


def _update_from(conn: sqlite3.Connection, db: Path, tables: Iterable[str]) -> dict[str, int]:
    """Make ``tables`` of ``conn`` (keyed by their first column) hold the rows
    of the same tables of the database ``db``, writing the rows that differ
    (compared by SQL)."""
    changed = {}
    conn.execute("ATTACH DATABASE ? AS side", (str(db),))
    with conn:
        for table in tables:
            key = conn.execute(f"SELECT name FROM pragma_table_info('{table}') "
                               "WHERE cid = 0").fetchone()[0]
            n = conn.execute(
                f"DELETE FROM main.{table} WHERE {key} IN (SELECT {key} FROM ("
                f"SELECT * FROM main.{table} EXCEPT SELECT * FROM side.{table}))").rowcount
            n += conn.execute(f"INSERT INTO main.{table} SELECT * FROM side.{table} "
                              f"EXCEPT SELECT * FROM main.{table}").rowcount
            changed[table] = n
    conn.execute("DETACH DATABASE side")
    return changed


def _changes(changed: dict[str, int]) -> str:
    rows = {t: n for t, n in changed.items() if n}
    return ", ".join(f"{n:,} rows of {t}" for t, n in rows.items()) or "no row differs"


def _copy_tables(conn: sqlite3.Connection, db: Path, tables: Iterable[str]) -> None:
    """Copy ``tables`` of the database ``db`` into the same tables of ``conn``,
    in their order."""
    conn.execute("ATTACH DATABASE ? AS side", (str(db),))
    with conn:
        for table in tables:
            conn.execute(f"INSERT INTO main.{table} SELECT * FROM side.{table} ORDER BY rowid")
    conn.execute("DETACH DATABASE side")


def _constants_db(path: Path, index: Index) -> dict[str, int]:
    """Write the ``constants`` table into a database of its own at ``path``;
    return the values (``analyzer.constants.evaluate``)."""
    from analyzer.constants import evaluate

    values = evaluate(index.constant_records)
    conn = _connect_scratch(path)
    with conn:
        conn.executescript(SCHEMA)
        _write_constants(conn, index, values)
    conn.close()
    return values


def _constants_lane(store_path: Path, path: Path, scratch: Path, update: bool) -> dict:
    """The constants' share of the stage, run by a worker from its start: their
    records read from the store at ``store_path``, their digest (meta
    ``constants_digest``) and their values: those stored in the graph database
    at ``path`` when it was made from the same records and is to be updated
    (``kept``), else evaluated, with the ``constants`` table written into a
    database at ``scratch`` (:func:`_constants_db`).  Also the names of the
    constants without a value, and the store's generation read."""
    from analyzer.store import Store

    with Store.open(store_path) as store:
        index = Index.from_store(store, ["constants"])
        generation = store.generation()
    digest = constants_digest(index.constant_records)
    values = _stored_constants(path, digest) if update else None
    kept = values is not None
    if not kept:
        values = _constants_db(scratch, index)
    return {"generation": generation, "digest": digest, "kept": kept, "values": values,
            "unvalued": sorted(index.constants.keys() - values.keys())}


def _lane_values(found: dict, generation: int) -> tuple[dict[str, int], frozenset[str]]:
    """What :meth:`Index.constants_from` asks of :func:`_constants_lane`'s result."""
    if found["generation"] != generation:
        raise AnalyzerError("the store changed while the graph was built: run it again")
    return found["values"], frozenset(found["unvalued"])


def _write_constants(conn: sqlite3.Connection, index: Index, values: dict[str, int]) -> None:
    conn.executemany("INSERT OR IGNORE INTO constants VALUES (?, ?, ?, ?)", (
        (c.name, v, c.file, c.line) for c in index.constants.values()
        if (v := values.get(c.name)) is not None and _fits(v)))


def _fits(v: int) -> bool:
    """Does ``v`` fit an SQLite integer (the ``constants`` table's values)?"""
    return -2**63 <= v < 2**63


def _big(values: dict[str, int]) -> dict[str, int]:
    """The values that do not fit the ``constants`` table (meta ``big_constants``)."""
    return {name: v for name, v in values.items() if not _fits(v)}


def constants_digest(consts: Iterable[records.Constant]) -> str:
    """A digest of the constants' records, in order: what their values are
    evaluated from (``analyzer.constants.evaluate``)."""
    import hashlib

    text = "\n".join(f"{c.name}\0{c.kind}\0{c.expr}\0{c.file}\0{c.line}\0{c.value}\0{c.enum}"
                     for c in consts)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _stored_constants(path: Path, digest: str) -> dict[str, int] | None:
    """The constants' values stored in the graph database at ``path`` (the
    ``constants`` table, meta ``big_constants``) when it was made from constant
    records of this ``digest`` (meta ``constants_digest``); None otherwise:
    they are evaluated again (1.5 s on the real tree)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN "
                                     "('constants_digest', 'big_constants')"))
            if json.loads(meta.get("constants_digest", "null")) != digest:
                return None
            values = dict(conn.execute("SELECT name, value FROM constants"))
        finally:
            conn.close()
        big = json.loads(meta.get("big_constants", "null"))
    except (sqlite3.Error, ValueError):
        return None
    if not isinstance(big, dict):
        return None
    values.update(big)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values.values()):
        return None
    return values


#: the statement that inserts a row into each table
_INSERT = {table: f"INSERT INTO {table} VALUES ({', '.join('?' * n)})" for table, n in
           (("nodes", 6), ("edges", 7), ("sites", 12), ("chains", 2), ("meta", 2))}


def _write_rows(conn: sqlite3.Connection, table: str, rows: Iterable[tuple]) -> None:
    conn.executemany(_INSERT[table], rows)


#: ``json.dumps(d, separators=(",", ":"))`` without making an encoder per call
_COMPACT = json.JSONEncoder(separators=(",", ":")).encode


def _json(d: dict) -> str | None:
    return _COMPACT(d) if d else None


def build_graph_store(cfg, progress: bool = False, update: bool = True) -> GraphReport:
    """Build the graph from ``cfg.store_path`` and write ``cfg.graph_path``.

    With ``update``, a graph database made from an earlier version of the store
    in which few files differ (:func:`_can_update`) is updated rather than
    written anew (:func:`update_graph_db`): the same tables, only the rows
    that differ rewritten.

    The stage runs in a forked process (:class:`analyzer.workers.Worker`)
    that just ends when done: the million and more objects it makes are not
    freed one by one, and this process's memory stays as it was."""
    return GraphReport(**Worker(lambda: _stage(cfg, progress, update)).result())


def _stage(cfg, progress: bool, update: bool) -> dict:
    """The stage in its own process, with Python's cyclic garbage collector
    off: it makes over a million long-lived objects (records, nodes, edges,
    rows) and almost no cycles, and at the default thresholds the collector
    walked them again and again (a third of the stage's time).  It is not
    turned on again at the end (its first pass would walk them all, a
    second), and the objects are not freed: the process ends."""
    gc.disable()
    return _build_graph_store(cfg, progress, update, keep=_KEPT).to_json()


#: the objects of the stage, kept by its process until it ends (unfreed)
_KEPT: list = []


def _build_graph_store(cfg, progress: bool, update: bool = True,
                       keep: list | None = None) -> GraphReport:
    """The stage; its index and rows are added to ``keep`` (when
    given) rather than freed when it returns."""
    from analyzer.store import Store

    times: dict[str, float] = {}
    t0 = time.perf_counter()
    source = _Reader.of_tree(cfg.kernel_dir)  # before the long work: is the tree there?
    path, code = cfg.graph_path, _code()
    tmp, constants_db = _scratch(path), _scratch(path, "constants")
    begun: list[Worker] = []  # writing a new database: the calls' edges, meanwhile
    lane = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(path.parent, (f".{path.name}.",))  # those of killed runs
        with Store.open(cfg.store_path) as store:
            files = dict(store.file_hashes())
        update = update and _can_update(path, files, code)
        # the constants in a lane of their own, from the start: read, then evaluated or
        # found stored, while this process reads the other records and builds the graph
        lane = Worker(lambda: _constants_lane(cfg.store_path, path, constants_db, update))
        with Store.open(cfg.store_path) as store:
            index = Index.from_store(store, [k for k in INDEXED_KINDS if k != "constants"])
            generation = store.generation()
        times["load_store"] = _lap(t0, "read the store", progress)
        t1 = time.perf_counter()
        index.constants_from(lambda: _lane_values(lane.result(), generation))
        rows = graph_rows(index, source, calls_made=None if update else (
            lambda early: begun.append(Worker(lambda: _begin_db(tmp, early)))))
        values = index.const_values()
        times["build"] = _lap(t1, "built the graph", progress)
        t2 = time.perf_counter()
        report = _report(rows, times, path)
        found = lane.result()
        meta = {"store_generation": generation, "report": report.to_json(),
                "store_files": files, "code": code, "constants_digest": found["digest"],
                "big_constants": _big(values), "texts_read": source.read}
        if update:
            changed = update_graph_db(path, rows, meta, constants_db,
                                      keep_constants=found["kept"])
            what = f"updated {path} ({_changes(changed)})"
        else:
            write_graph_db(path, rows, meta, constants_db, *begun)
            what = f"wrote {path}"
    except (sqlite3.Error, OSError) as e:  # a full disk, a read-only folder
        raise AnalyzerError(f"cannot write {path} ({_why(e)}); the previous one "
                            "is kept, nothing half-written is left") from None
    finally:  # after an error, the workers' results are not wanted
        for worker in (lane, *begun):
            if worker is not None:
                worker.stop()
        for scratch in (constants_db, tmp):
            scratch.unlink(missing_ok=True)
    times["write"] = _lap(t2, what, progress)
    times["total"] = round(time.perf_counter() - t0, 3)
    if keep is not None:
        keep.append((index, rows))
    return report


def _why(e: BaseException) -> str:
    if isinstance(e, OSError):
        return f"{e.filename + ': ' if e.filename else ''}{e.strerror or e}"
    return str(e)


def _report(rows: GraphRows, times: dict, path: Path) -> GraphReport:
    from analyzer.resolve import site_stats

    nodes = Counter(a["kind"] for a in rows.nodes.values())
    edges = Counter(e[2] for e in rows.edges)
    stats = site_stats((s.confidence, s.cause, len(s.targets)) for s in rows.sites)
    return GraphReport(dict(nodes), dict(edges), nodes.get("undefined", 0), stats, times,
                       str(path))


def _lap(t0: float, what: str, progress: bool) -> float:
    dt = round(time.perf_counter() - t0, 3)
    if progress:
        print(f"graph: {what} in {dt:.2f} s", file=sys.stderr)
    return dt


class _Reader:
    """A :data:`Source` (each file read once) that also gives lines of a file
    and remembers them: ``read`` holds (file, first, last, digest of the lines),
    kept in the database's meta (``texts_read``) so that a later run can tell
    whether an edit changed any line the graph read (:func:`graphdata.texts_digest`)."""

    def __init__(self, read: Source):
        self.read_file = read
        self.cache: dict[str, str | None] = {}
        self.read: list[tuple[str, int, int, str]] = []

    @classmethod
    def of_tree(cls, root: Path) -> _Reader:
        if not root.is_dir():
            raise AnalyzerError(f"{root} is missing: run `kernel-analyzer fetch`")

        def read(rel: str) -> str | None:
            try:
                return (root / rel).read_text(errors="replace")
            except OSError:
                return None
        return cls(read)

    def __call__(self, rel: str) -> str | None:
        if rel not in self.cache:
            self.cache[rel] = self.read_file(rel)
        return self.cache[rel]

    def lines(self, rel: str, first: int, last: int) -> str:
        """Lines ``first``..``last`` of ``rel`` ("" when it cannot be read)."""
        body = graphdata.file_lines(self(rel), first, last)
        self.read.append((rel, first, last, graphdata.lines_digest(body)))
        return body
