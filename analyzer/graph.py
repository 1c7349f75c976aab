"""The call graph: a networkx ``MultiDiGraph`` over the extracted records.

Takes an :class:`analyzer.resolve.Index` (from the store, or from the
:class:`records.FileFacts` of a few snippet files) and produces the graph, the
resolved indirect call sites, and ``build/graph.sqlite``.

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
from pathlib import Path

import networkx as nx

from analyzer import graphdata, records
from analyzer.dbfile import database_problem
from analyzer.errors import AnalyzerError
from analyzer.resolve import Index, Resolver, Site, Unresolved, strip_indexes, type_text
from analyzer.resolve import row_fields as rf
from analyzer.store import fsync
from analyzer.tempfiles import remove_stale
from analyzer.workers import Worker

__all__ = ["GraphReport", "build_graph", "graph_from_facts", "build_graph_store",
           "write_graph_db", "detect_casts", "struct_id", "SCHEMA"]

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
""" + graphdata.SCHEMA

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

def build_graph(index: Index, source: Source | None = None,
                resolver: Resolver | None = None) -> tuple[nx.MultiDiGraph, list[Site]]:
    """The graph and the resolved indirect sites of ``index``.

    ``source(file)`` gives a file's text, for detecting cast functions from
    their bodies; without it only ``container_of`` uses make ``casts`` edges.
    """
    res = resolver or Resolver(index)
    g = nx.MultiDiGraph()
    _add_nodes(g, index)
    _add_calls(g, index)
    sites = [res.resolve_call(c) for c in index.calls]
    _add_dispatches(g, sites)
    _add_bindings(g, index, res)
    _add_registrations(g, res)
    _add_structs(g, index, res, source)
    for nid, attrs in g.nodes(data=True):
        if "kind" not in attrs:  # a caller the extraction named but did not define
            attrs.update(kind="undefined", name=nid.split("@")[0], file="", line=0)
    return g, sites


def graph_from_facts(facts: Iterable[records.FileFacts],
                     sources: dict[str, str] | None = None):
    """``build_graph`` over some files' facts (e.g. extracted C snippets)."""
    index = Index.from_facts(facts)
    return build_graph(index, (sources or {}).get)


def _add_nodes(g: nx.MultiDiGraph, index: Index) -> None:
    add = _node_adder(g)
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


def _node_adder(g: nx.MultiDiGraph) -> Callable[[str, dict], None]:
    """``add(n, attrs)``: what ``g.add_node(n, **attrs)`` does, written
    straight into the graph's dicts (as :func:`_edge_adder`)."""
    succ, pred, node = g._succ, g._pred, g._node
    nx._clear_cache(g)

    def add(n: str, attrs: dict) -> None:
        if n not in succ:
            succ[n], pred[n], node[n] = {}, {}, attrs
        else:
            node[n].update(attrs)

    return add


def _add_calls(g: nx.MultiDiGraph, index: Index) -> None:
    add, add_node, node = _edge_adder(g), _node_adder(g), g._node
    caller, file, line, callee = rf.caller, rf.file, rf.line, rf.callee
    for row, fid in index.direct_calls():
        dst = fid or row[callee]
        if dst not in node:
            add_node(dst, {"kind": "undefined", "name": dst, "file": "", "line": 0})
        add(row[caller], dst, {"kind": "calls", "file": row[file], "line": row[line]})


def _add_dispatches(g: nx.MultiDiGraph, sites: list[Site]) -> None:
    add = _edge_adder(g)
    for i, site in enumerate(sites):
        for b in site.targets:
            add(site.caller, b.target, {
                "kind": "dispatches", "file": site.file, "line": site.line, "site": i,
                "expr": site.expr, "rtype": site.rtype, "struct": site.struct,
                "field": site.field, "confidence": site.confidence, "via": b.evidence()})


def _edge_adder(g: nx.MultiDiGraph) -> Callable[[str, str, dict], None]:
    """``add(u, v, attrs)``: what ``g.add_edge(u, v, **attrs)`` does (the nodes
    made when missing, the edge under the next free key of the pair, ``attrs``
    kept as the edge's own dict), written straight into the graph's dicts: a
    third of the time of ``add_edge`` for the 380,000 calls of the tree."""
    succ, pred, node = g._succ, g._pred, g._node
    nx._clear_cache(g)

    def add(u: str, v: str, attrs: dict) -> None:
        for n in (u, v):
            if n not in succ:
                if n is None:
                    raise ValueError("None cannot be a node")
                succ[n], pred[n], node[n] = {}, {}, {}
        keydict = succ[u].get(v)
        if keydict is None:
            succ[u][v] = pred[v][u] = {0: attrs}
        else:
            key = len(keydict)
            while key in keydict:
                key += 1
            keydict[key] = attrs

    return add


def _add_bindings(g: nx.MultiDiGraph, index: Index, res: Resolver) -> None:
    for blist in res.bindings().values():
        for b in blist:
            src = b.table or b.function
            if src:
                g.add_edge(src, b.target, kind="assigns", file=b.file, line=b.line,
                           struct=b.struct, field=b.field)
    for ini in index.initializers:
        tid = records.function_id(ini.name, ini.file, ini.static)
        for e in ini.entries:
            ref = res._table_id(e.ref, ini.file) if e.ref else ""
            if ref and ref != tid:
                g.add_edge(tid, ref, kind="assigns", file=ini.file, line=e.line,
                           field=strip_indexes(e.path))


def _add_registrations(g: nx.MultiDiGraph, res: Resolver) -> None:
    for tid, regs in res._registrations().items():
        for reg in regs:
            if reg.caller in g:
                g.add_edge(reg.caller, tid, kind="registers", file=reg.file, line=reg.line,
                           registrar=reg.registrar)
        g.nodes[tid]["chains"] = [list(c) for c in res.registration_chains(tid)]


def _add_structs(g: nx.MultiDiGraph, index: Index, res: Resolver, source: Source | None):
    for name in index.structs:
        st = index.struct(name)
        first = st.first
        inner = index.struct_of(first.type) if first and "*" not in first.type else ""
        if inner and inner in index.structs and inner != name:
            kind = index.struct(inner).kind
            g.add_edge(struct_id(name, st.kind), struct_id(inner, kind), kind="embeds",
                       file=st.file, line=first.line, field=first.name)
    for src, dst, attrs in detect_casts(index, res, source):
        g.add_edge(_sid(index, src), _sid(index, dst), kind="casts", **attrs)


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


def _cast_function(index: Index, res: Resolver, fn: records.Function, source: Source):
    if fn.end_line - fn.line > 8:  # the cheap test first: most functions are longer
        return None
    ret = index.struct_of(fn.return_type)
    params = {p.name: index.struct_of(p.type) for p in fn.params if "*" in p.type} \
        if ret else {}
    if not ret or not params:
        return None
    text = source(fn.file)
    if not text:
        return None
    body = "\n".join(text.splitlines()[fn.line - 1:fn.end_line])
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

#: indexes made once the table they index is written (those of ``edges``
#: while another process writes ``nodes`` and ``graph_parts``)
EDGE_INDEXES = """
CREATE INDEX edges_src ON edges(src, kind);
CREATE INDEX edges_dst ON edges(dst, kind);
CREATE INDEX edges_site ON edges(site) WHERE site IS NOT NULL;
"""
_EDGE_INDEX_NAMES = ("edges_src", "edges_dst", "edges_site")
OTHER_INDEXES = """
CREATE INDEX nodes_name ON nodes(name);
CREATE INDEX sites_caller ON sites(caller, expr);
"""
#: the tables a worker writes into a file of its own, copied in after
_SIDE_TABLES = ("nodes", "graph_parts")


def write_graph_db(path: Path, g: nx.MultiDiGraph, sites: list[Site], index: Index,
                   meta: dict | None = None, constants_db: Path | None = None) -> None:
    """Write the graph to ``path`` atomically (a temporary file renamed).

    Two processes share the work: a forked worker writes ``nodes`` and
    ``graph_parts`` (the graph's own data) into a file of its own while this
    one writes ``edges`` and its indexes, ``sites``, ``chains``,
    ``constants`` and ``meta``; the worker's tables are then copied in (in
    their order: the parts' order is the order of the graph read back).
    ``constants_db``: a database whose ``constants`` table is already made
    (:func:`_constants_db`), copied rather than computed again."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp, side = _scratch(path), _scratch(path, "side")
    for old in (tmp, side):
        old.unlink(missing_ok=True)
    import msgpack  # noqa: F401 - imported before the fork, not in the worker
    worker = Worker(lambda: _write_side(side, g))
    try:
        conn = sqlite3.connect(tmp)
        # nobody reads the temporary file before the rename: no journal, no syncs
        # until the one before the rename
        conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")
        with conn:
            conn.executescript(SCHEMA)
            _write_rows(conn, _edge_rows(g), _site_rows(sites), _chain_rows(g))
            if constants_db is None:
                _write_constants(conn, index, index.const_values())
            meta = {**(meta or {}), "graph_format": graphdata.FORMAT}
            conn.executemany("INSERT INTO meta VALUES (?, ?)",
                             [(k, json.dumps(v)) for k, v in meta.items()])
            conn.executescript(EDGE_INDEXES)
        worker.result()
        _copy_tables(conn, side, _SIDE_TABLES)
        if constants_db is not None:
            _copy_tables(conn, constants_db, ("constants",))
        conn.executescript(OTHER_INDEXES)
        conn.close()
        fsync(tmp)
        os.replace(tmp, path)
    finally:
        worker.stop()
        tmp.unlink(missing_ok=True)
        side.unlink(missing_ok=True)


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


def update_graph_db(path: Path, g: nx.MultiDiGraph, sites: list[Site], index: Index,
                    meta: dict, constants_db: Path | None = None,
                    keep_constants: bool = False) -> dict[str, int]:
    """Make the database at ``path`` hold what :func:`write_graph_db` would
    write, rewriting only the rows that differ; return how many rows of each
    table were written or deleted.

    The graph's parts (``graph_parts``: a file's nodes with all their
    attributes and outgoing edges) are made and compared with the stored ones
    by a forked worker (:func:`_changed_parts`) while this process writes
    the other tables:
    the rows of ``nodes`` are made from a node's attributes alone, so those of
    the nodes of a part whose bytes did not change are the stored ones, and
    only the parts that differ have their nodes' rows deleted and written
    again.  ``graph_parts`` keeps the order of the new graph's files (the
    order of the graph read back): changed parts are updated in place, or,
    when the order of the files changed, the table is written again whole.
    ``sites``, ``chains``, ``meta`` and ``constants`` are compared row by row
    on their key.  ``edges`` is left as it is when no part differs (every edge
    is a node's outgoing edge), else written again whole, with its indexes:
    the order of its rows is the order in which ``callers`` lists calls on
    the same line and ``path`` meets a function's callers, and rows written
    again for some nodes only would come after the others (about 2 s).
    ``keep_constants``: the ``constants`` table is left as it is (the
    constants' records did not change, :func:`_stored_constants`); else it is
    updated from ``constants_db`` (:func:`_constants_db`), or from one made here.
    The file is copied, updated and renamed into place: readers see the old
    database or the new one."""
    tmp, made, side = _scratch(path), _scratch(path, "made-constants"), _scratch(path, "side")
    for old in (tmp, side):
        old.unlink(missing_ok=True)
    import msgpack  # noqa: F401 - imported before the fork, not in the worker
    worker = Worker(lambda: _changed_parts(side, path, g))
    try:
        if keep_constants:
            constants_db = None
        elif constants_db is None:
            constants_db = made
            _constants_db(constants_db, index, index.const_values())
        shutil.copyfile(path, tmp)
        conn = sqlite3.connect(tmp)
        conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")
        with conn:
            new_sites = _stale_rows(conn, "sites", _site_rows(sites))
            new_chains = _stale_rows(conn, "chains", _chain_rows(g))
            _write_rows(conn, (), new_sites, new_chains)
            changed = {"sites": len(new_sites), "chains": len(new_chains)}
            meta = {**meta, "graph_format": graphdata.FORMAT}
            new_meta = _stale_rows(conn, "meta", [(k, json.dumps(v)) for k, v in meta.items()])
            conn.executemany("INSERT INTO meta VALUES (?, ?)", new_meta)
        found = worker.result()
        if found["differ"] or not found["same_order"]:
            changed["edges"] = _rewrite_edges(conn, g)
        changed.update(_apply_parts(conn, side, found))
        if constants_db is not None:
            changed.update(_update_from(conn, constants_db, ("constants",)))
        conn.close()
        fsync(tmp)
        os.replace(tmp, path)
    finally:
        worker.stop()
        for done in (tmp, made, side):
            done.unlink(missing_ok=True)
    return changed


def _rewrite_edges(conn: sqlite3.Connection, g: nx.MultiDiGraph) -> int:
    """Write ``edges`` again whole, with its indexes; how many rows."""
    conn.executescript("".join(f"DROP INDEX {name};" for name in _EDGE_INDEX_NAMES)
                       + "DELETE FROM edges;")
    with conn:
        n = conn.executemany("INSERT INTO edges VALUES (?, ?, ?, ?, ?, ?, ?)",
                             _edge_rows(g)).rowcount
    conn.executescript(EDGE_INDEXES)
    return n


def _changed_parts(side: Path, path: Path, g: nx.MultiDiGraph) -> dict:
    """The worker's share of :func:`update_graph_db`: encode the parts of
    ``g`` and compare them with those stored in ``path``; write into a new
    database at ``side`` the parts that differ (all of them when the order of
    the files changed) and the ``nodes`` rows of their nodes.  Returns the
    files whose parts differ and whether the order of the files is the same."""
    new = dict(graphdata.parts(g))
    conn = sqlite3.connect(path)
    try:
        old = dict(conn.execute("SELECT file, data FROM graph_parts ORDER BY rowid"))
    finally:
        conn.close()
    differ = {f for f, data in new.items() if old.get(f) != data} | (old.keys() - new.keys())
    same_order = list(old) == list(new)
    conn = sqlite3.connect(side)
    conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")
    with conn:
        conn.executescript(SCHEMA)
        conn.executemany("INSERT INTO graph_parts VALUES (?, ?)",
                         [(f, data) for f, data in new.items()
                          if f in differ or not same_order])
        _write_nodes(conn, g, [n for n, a in g._node.items() if (a.get("file") or "") in differ])
    conn.close()
    return {"differ": sorted(differ), "same_order": same_order}


def _apply_parts(conn: sqlite3.Connection, side: Path, found: dict) -> dict[str, int]:
    """Write what :func:`_changed_parts` found into ``graph_parts`` and ``nodes``."""
    differ = set(found["differ"])
    gone = [(nid,) for nid, file in conn.execute("SELECT id, file FROM nodes")
            if (file or "") in differ]
    conn.execute("ATTACH DATABASE ? AS side", (str(side),))
    with conn:
        if found["same_order"]:
            parts = conn.execute(
                "UPDATE main.graph_parts SET data = (SELECT s.data FROM side.graph_parts s "
                "WHERE s.file = graph_parts.file) "
                "WHERE file IN (SELECT file FROM side.graph_parts)").rowcount
        else:
            parts = conn.execute("DELETE FROM main.graph_parts").rowcount
            parts += conn.execute("INSERT INTO main.graph_parts SELECT * FROM side.graph_parts "
                                  "ORDER BY rowid").rowcount
        conn.executemany("DELETE FROM main.nodes WHERE id = ?", gone)
        nodes = conn.execute("INSERT INTO main.nodes SELECT * FROM side.nodes "
                             "ORDER BY rowid").rowcount
    conn.execute("DETACH DATABASE side")
    return {"graph_parts": parts, "nodes": len(gone) + nodes}


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


def _constants_db(path: Path, index: Index, values: dict[str, int] | None = None
                  ) -> dict[str, int]:
    """Write the ``constants`` table into a database of its own at ``path``;
    return the values (``analyzer.constants.evaluate``, unless given)."""
    from analyzer.constants import evaluate

    if values is None:
        values = evaluate(index.constant_records)
    conn = sqlite3.connect(path)
    conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")
    with conn:
        conn.executescript(SCHEMA)
        _write_constants(conn, index, values)
    conn.close()
    return values


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


def _write_side(path: Path, g: nx.MultiDiGraph) -> None:
    """The worker's share of :func:`write_graph_db`: ``nodes`` and ``graph_parts``."""
    conn = sqlite3.connect(path)
    conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")
    with conn:
        conn.executescript(SCHEMA)
        _write_nodes(conn, g)
        graphdata.write_parts(conn, g)
    conn.close()


def _write_nodes(conn: sqlite3.Connection, g: nx.MultiDiGraph,
                 ids: Iterable[str] | None = None) -> None:
    """The rows of ``nodes`` (of the nodes ``ids``, else of all)."""
    plain = ("kind", "name", "file", "line")
    node = g._node
    conn.executemany("INSERT INTO nodes VALUES (?, ?, ?, ?, ?, ?)", (
        (n, a["name"], a["kind"], a.get("file", ""), a.get("line", 0),
         _json({k: v for k, v in a.items() if k not in plain and k != "chains"}))
        for n, a in (node.items() if ids is None else ((n, node[n]) for n in ids))))


def _write_rows(conn: sqlite3.Connection, edges: Iterable[tuple], sites: Iterable[tuple],
                chains: Iterable[tuple]) -> None:
    """Insert rows into ``edges``, ``sites`` and ``chains``."""
    conn.executemany("INSERT INTO edges VALUES (?, ?, ?, ?, ?, ?, ?)", edges)
    conn.executemany("INSERT INTO sites VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", sites)
    conn.executemany("INSERT INTO chains VALUES (?, ?)", chains)


def _site_rows(sites: list[Site]) -> Iterator[tuple]:
    return ((i, s.caller, s.file, s.line, s.expr, s.kind, s.rtype, s.struct, s.field,
             s.confidence, s.cause, len(s.targets)) for i, s in enumerate(sites))


def _chain_rows(g: nx.MultiDiGraph) -> Iterator[tuple]:
    return ((n, json.dumps(a["chains"])) for n, a in g.nodes(data=True) if a.get("chains"))


def _edge_rows(g: nx.MultiDiGraph) -> Iterator[tuple]:
    """The rows of ``edges``, in the order of ``g.edges``: most edges (direct
    calls) have only kind, file and line, and no JSON to make."""
    plain = ("kind", "file", "line", "site")
    for u, nbrs in g._adj.items():  # the plain dicts (g.adj wraps each in a view)
        for v, keydict in nbrs.items():
            for a in keydict.values():
                if len(a) == 3 and "file" in a and "line" in a:
                    yield u, v, a["kind"], a["file"], a["line"], None, None
                else:
                    yield (u, v, a["kind"], a.get("file", ""), a.get("line", 0), a.get("site"),
                           _json({k: v for k, v in a.items() if k not in plain}))


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
    that just ends when done: the two million objects it makes are not freed
    one by one (0.7 s on the real tree), and this process's memory stays as it
    was."""
    return GraphReport(**Worker(lambda: _stage(cfg, progress, update)).result())


def _stage(cfg, progress: bool, update: bool) -> dict:
    """The stage in its own process, with Python's cyclic garbage collector
    off: it makes about two million long-lived objects (records, nodes, edges,
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
    """The stage; its index, graph and sites are added to ``keep`` (when
    given) rather than freed when it returns."""
    from analyzer.store import Store

    times: dict[str, float] = {}
    t0 = time.perf_counter()
    source = _source_reader(cfg.kernel_dir)  # before the long work: is the tree there?
    with Store.open(cfg.store_path) as store:
        index = Index.from_store(store)
        generation = store.generation()
        files = dict(store.file_hashes())
    times["load_store"] = _lap(t0, "read the store", progress)
    t1 = time.perf_counter()
    path = cfg.graph_path
    constants_db = _scratch(path, "constants")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(path.parent, (f".{path.name}.",))  # those of killed runs
        code, digest = _code(), constants_digest(index.constant_records)
        update = update and _can_update(path, files, code)
        kept = _stored_constants(path, digest) if update else None
        if kept is not None:  # the same constants as last time: their values are stored
            index.values_from(lambda: kept)
            constants = None
        else:  # their values and table made by a worker while the graph is built
            constants = Worker(lambda: _constants_db(constants_db, index))
            index.values_from(constants.result)
        try:
            g, sites = build_graph(index, source)
            values = index.const_values()
        finally:
            if constants is not None:
                constants.stop()
        times["build"] = _lap(t1, "built the graph", progress)
        t2 = time.perf_counter()
        report = _report(g, sites, times, path)
        meta = {"store_generation": generation, "report": report.to_json(),
                "store_files": files, "code": code, "constants_digest": digest,
                "big_constants": _big(values)}
        if update:
            changed = update_graph_db(path, g, sites, index, meta, constants_db,
                                      keep_constants=kept is not None)
            what = f"updated {path} ({_changes(changed)})"
        else:
            write_graph_db(path, g, sites, index, meta, constants_db)
            what = f"wrote {path}"
    except (sqlite3.Error, OSError) as e:  # a full disk, a read-only folder
        raise AnalyzerError(f"cannot write {path} ({_why(e)}); the previous one "
                            "is kept, nothing half-written is left") from None
    finally:
        constants_db.unlink(missing_ok=True)
    times["write"] = _lap(t2, what, progress)
    times["total"] = round(time.perf_counter() - t0, 3)
    if keep is not None:
        keep.append((index, g, sites))
    return report


def _why(e: BaseException) -> str:
    if isinstance(e, OSError):
        return f"{e.filename + ': ' if e.filename else ''}{e.strerror or e}"
    return str(e)


def _report(g: nx.MultiDiGraph, sites: list[Site], times: dict, path: Path) -> GraphReport:
    from analyzer.resolve import site_stats

    nodes = Counter(a["kind"] for a in g._node.values())
    edges = Counter(a["kind"] for nbrs in g._adj.values() for keydict in nbrs.values()
                    for a in keydict.values())
    stats = site_stats((s.confidence, s.cause, len(s.targets)) for s in sites)
    return GraphReport(dict(nodes), dict(edges), nodes.get("undefined", 0), stats, times,
                       str(path))


def _lap(t0: float, what: str, progress: bool) -> float:
    dt = round(time.perf_counter() - t0, 3)
    if progress:
        print(f"graph: {what} in {dt:.2f} s", file=sys.stderr)
    return dt


def _source_reader(root: Path) -> Source:
    cache: dict[str, str | None] = {}

    def read(rel: str) -> str | None:
        if rel not in cache:
            try:
                cache[rel] = (root / rel).read_text(errors="replace")
            except OSError:
                cache[rel] = None
        return cache[rel]

    if not root.is_dir():
        raise AnalyzerError(f"{root} is missing: run `kernel-analyzer fetch`")
    return read
