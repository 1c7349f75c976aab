"""The networkx graph from the rows of ``build/graph.sqlite``.

The graph stage (:mod:`analyzer.graph`) makes the rows of the tables
``nodes``, ``edges`` and ``chains``; this module makes the networkx
``MultiDiGraph`` from those rows, whether they come from the stage itself
(:func:`analyzer.graph.build_graph`, for snippets and tests) or from the
database on the first use of ``kg.graph`` (:func:`read_graph`).  One function
makes both, so the graph read back equals the graph built, down to the order
of each node's neighbours and the keys of multi-edges.  The graph is stored
once, as those tables: nothing here can run code when it loads; the ``data``
columns are JSON objects, and a row of another shape is refused with
:class:`~analyzer.errors.AnalyzerError`.

Rows:

- ``nodes(id, name, kind, file, line, data)``: ``data`` the node's other
  attributes as a JSON object (``fields`` and ``entries`` are lists of
  tuples in the graph), or NULL;
- ``edges(src, dst, kind, file, line, site, data)``: in the order the edges
  were made; ``site`` the index of a dispatch's call site (else NULL),
  ``data`` the edge's other attributes as a JSON object, or NULL;
- ``chains(tbl, data)``: a table's registration chains (its node's
  ``chains`` attribute), a JSON array.
"""

from __future__ import annotations

import gc
import hashlib
import json
import sqlite3
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from analyzer.errors import AnalyzerError

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["FORMAT", "graph_from_rows", "read_graph", "predecessors", "texts_digest",
           "lines_digest", "file_lines"]

#: ``meta.graph_format`` of a database whose graph is its tables, read by this module
FORMAT = "tables-1"

#: node attributes that the graph holds as lists of tuples (JSON has arrays only)
_TUPLES = ("fields", "entries")

_REBUILD = "rebuild it with `python -m analyzer graph`"


def graph_from_rows(nodes: Iterable[tuple], edges: Iterable[tuple],
                    chains: Iterable[tuple] = ()) -> nx.MultiDiGraph:
    """The graph (a :class:`StoredGraph`) of the rows of ``nodes``, ``edges``
    and ``chains``; ValueError, TypeError or KeyError for rows not shaped
    like a graph's (:func:`read_graph` names the database)."""
    enabled = gc.isenabled()
    gc.disable()  # half a million dicts: the collector would run again and again
    try:
        node = _nodes(nodes, chains)
        succ = _adjacency(node, edges)
        g = _stored_graph_class()()
        g._node, g._adj = node, succ
        g.__dict__.pop("_pred", None)  # made on first use, from succ
        return g
    finally:
        if enabled:
            gc.enable()


def _nodes(rows: Iterable[tuple], chains: Iterable[tuple]) -> dict[str, dict]:
    loads = json.loads
    node: dict[str, dict] = {}
    for nid, name, kind, file, line, data in rows:
        attrs = {"kind": kind, "name": name, "file": file, "line": line}
        if data is not None:
            more = loads(data)
            if type(more) is not dict:
                raise ValueError(f"the attributes of node {nid!r} are not an object")
            for key in _TUPLES:
                if key in more:
                    more[key] = [tuple(x) for x in more[key]]
            attrs.update(more)
        node[nid] = attrs
    for tbl, data in chains:
        found = loads(data)
        if type(found) is not list:
            raise ValueError(f"the chains of {tbl!r} are not a list")
        node[tbl]["chains"] = found
    return node


def _adjacency(node: dict, rows: Iterable[tuple]) -> dict[str, dict]:
    """``succ[u] = {v: {key: attrs}}``: neighbours in the order of their
    first edge, the keys of a pair's edges 0, 1, ... in their order."""
    loads = json.loads
    succ: dict[str, dict] = {n: {} for n in node}
    for u, v, kind, file, line, site, data in rows:
        attrs = {"kind": kind, "file": file, "line": line}
        if site is not None:
            attrs["site"] = site
        if data is not None:
            more = loads(data)
            if type(more) is not dict:
                raise ValueError(f"the attributes of an edge of {u!r} are not an object")
            attrs.update(more)
        if v not in node:
            raise KeyError(v)
        nbrs = succ[u]
        keydict = nbrs.get(v)
        if keydict is None:
            nbrs[v] = {0: attrs}
        else:
            keydict[len(keydict)] = attrs
    return succ


def read_graph(conn: sqlite3.Connection, path) -> nx.MultiDiGraph:
    """The graph stored in the tables of the graph database ``conn`` (a
    :class:`StoredGraph`, frozen out of later garbage collections);
    AnalyzerError naming ``path`` if a table is missing or a row is not
    shaped like a graph's."""
    try:
        nodes = conn.execute("SELECT id, name, kind, file, line, data FROM nodes "
                             "ORDER BY rowid").fetchall()
        chains = conn.execute("SELECT tbl, data FROM chains ORDER BY rowid").fetchall()
        edges = conn.execute("SELECT src, dst, kind, file, line, site, data FROM edges "
                             "ORDER BY rowid").fetchall()
    except sqlite3.DatabaseError as e:
        raise AnalyzerError(f"{path}: the stored graph cannot be read ({e}): {_REBUILD}"
                            ) from None
    try:
        g = graph_from_rows(nodes, edges, chains)
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise AnalyzerError(f"{path}: the stored graph is damaged ({type(e).__name__}: "
                            f"{str(e)[:200]}): {_REBUILD}") from None
    gc.freeze()  # long-lived: keep them out of later collections
    return g


def predecessors(node: dict, succ: dict) -> dict:
    """networkx's ``_pred`` for the adjacency ``succ``: ``pred[v][u]`` is the
    same per-edge map as ``succ[u][v]``."""
    pred: dict = {n: {} for n in node}
    for u, nbrs in succ.items():
        for v, keydict in nbrs.items():
            pred[v][u] = keydict
    return pred


def __getattr__(name: str):
    """``analyzer.graphdata.StoredGraph``, made on first use (so that importing
    this module does not import networkx)."""
    if name == "StoredGraph":
        return _stored_graph_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@cache
def _stored_graph_class() -> type:
    """:class:`StoredGraph` (networkx is imported only now)."""
    import networkx as nx

    class StoredGraph(nx.MultiDiGraph):
        """A ``MultiDiGraph`` made from the graph's rows.  Its predecessor
        maps (``_pred``: ``g.pred``, ``in_edges``, ``predecessors``...) are
        made from the successors on first use: reading the graph does not
        pay for them when nothing asks (about 0.3 s on the real tree)."""

        @property
        def _pred(self) -> dict:
            d = self.__dict__
            if "_pred" not in d:
                d["_pred"] = predecessors(d["_node"], d["_succ"])
            return d["_pred"]

        @_pred.setter
        def _pred(self, value: dict) -> None:
            _base_pred().__set__(self, value)

    StoredGraph.__module__, StoredGraph.__qualname__ = __name__, "StoredGraph"
    return StoredGraph


def _base_pred():
    """networkx's own ``_pred`` descriptor (it resets the cached views)."""
    import networkx as nx

    for cls in nx.MultiDiGraph.__mro__:
        if "_pred" in cls.__dict__:
            return cls.__dict__["_pred"]
    raise AttributeError("networkx.MultiDiGraph has no _pred")


# --- the lines the graph stage read from the tree ---------------------------------------
def file_lines(text: str | None, first: int, last: int) -> str:
    """Lines ``first``..``last`` (from 1) of a file's ``text`` ("" without one)."""
    return "\n".join(text.splitlines()[first - 1:last]) if text else ""


def lines_digest(text: str) -> str:
    """The digest of lines read from a file (meta ``texts_read``)."""
    return hashlib.sha1(text.encode()).hexdigest()


def texts_digest(graph_path: Path, kernel_dir: Path, files: dict[str, str]) -> str:
    """A digest of the lines the graph database at ``graph_path`` read from the
    tree (meta ``texts_read``: file, first, last, digest), as they are now;
    ``files``: path -> SHA-256 of the analysed files now, so that a file whose
    hash is the one the graph was made from (meta ``store_files``) is not read
    again; "" when there is no readable database."""
    try:
        conn = sqlite3.connect(f"file:{graph_path}?mode=ro", uri=True)
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN "
                                     "('texts_read', 'store_files')"))
        finally:
            conn.close()
        spans = json.loads(meta.get("texts_read", "null"))
        before = json.loads(meta.get("store_files", "null"))
    except (sqlite3.Error, ValueError):
        return ""
    if not isinstance(spans, list) or not isinstance(before, dict):
        return ""
    texts: dict[str, str | None] = {}
    h = hashlib.sha256()
    for span in spans:
        try:
            rel, first, last, sha = str(span[0]), int(span[1]), int(span[2]), str(span[3])
        except (TypeError, ValueError, IndexError):
            return ""
        if rel not in files or files[rel] != before.get(rel):  # read it as it is now
            if rel not in texts:
                try:
                    texts[rel] = (Path(kernel_dir) / rel).read_text(errors="replace")
                except OSError:
                    texts[rel] = None
            sha = lines_digest(file_lines(texts[rel], first, last))
        h.update(f"{rel}\0{first}\0{last}\0{sha}\0".encode())
    return h.hexdigest()
