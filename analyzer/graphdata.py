"""The networkx graph as plain data inside ``build/graph.sqlite``.

Takes a networkx ``MultiDiGraph`` (from :func:`analyzer.graph.build_graph`)
and writes it into the table ``graph_parts`` of an open graph database; reads
it back into an equal graph.  Nothing here can run code when it loads: each
part is MessagePack data (maps, lists, strings, numbers, booleans, nil) read
with ``msgpack.unpackb`` and no hooks, then checked for shape; a part that is
not shaped like a graph is refused with :class:`~analyzer.errors.AnalyzerError`.

Layout: one row per source file, ``graph_parts(file, data)``.  ``file`` is
the ``file`` attribute of the part's nodes (``""`` for ``undefined`` nodes);
``data`` is the MessagePack map ``{"nodes": {id: attrs}, "adj": {id: {dst:
{key: attrs}}}, "lists": [id, ...]}`` holding those nodes with their
attributes, their outgoing edges (the networkx adjacency, multi-edge keys as
integers) and the ids of the nodes that have list attributes (``fields``,
``entries``, ``chains``).  A
file's part can be rewritten alone.  The graph read back is equal to the
graph written (attributes, keys of multi-edges, the order of each node's
neighbours); its nodes come part by part.
"""

from __future__ import annotations

import gc
import sqlite3
from collections.abc import Iterator
from typing import TYPE_CHECKING

from analyzer.errors import AnalyzerError

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["FORMAT", "SCHEMA", "write_parts", "read_graph", "parts", "predecessors"]

#: ``meta.graph_format`` of a database whose graph is stored by this module
FORMAT = "parts-msgpack-1"
SCHEMA = "CREATE TABLE graph_parts(file TEXT PRIMARY KEY, data BLOB NOT NULL);\n"


def parts(g: nx.MultiDiGraph) -> Iterator[tuple[str, bytes]]:
    """``(file, data)`` for each part of ``g``, in the order of the files' first nodes."""
    import msgpack

    groups: dict[str, list] = {}
    for nid, attrs in g.nodes(data=True):
        groups.setdefault(attrs.get("file") or "", []).append(nid)
    succ = g.succ
    for file, ids in groups.items():
        nodes = {n: g.nodes[n] for n in ids}
        adj = {n: {v: dict(kd) for v, kd in succ[n].items()} for n in ids if succ[n]}
        lists = [n for n in ids if _LISTS.keys() & nodes[n].keys()]
        yield file, msgpack.packb({"nodes": nodes, "adj": adj, "lists": lists},
                                  use_bin_type=True)


def write_parts(conn: sqlite3.Connection, g: nx.MultiDiGraph) -> None:
    """Store ``g`` in ``graph_parts`` (the table must exist and be empty)."""
    conn.executemany("INSERT INTO graph_parts VALUES (?, ?)", parts(g))


def read_graph(conn: sqlite3.Connection, path) -> nx.MultiDiGraph:
    """The graph stored in ``graph_parts`` (a :class:`StoredGraph`); AnalyzerError
    naming ``path`` if it is missing or not shaped like a graph."""
    enabled = gc.isenabled()
    gc.disable()  # half a million dicts: the collector would run again and again
    try:
        node, succ = _read(conn, path)
        g = _stored_graph_class()()
        g._node, g._adj = node, succ
        g.__dict__.pop("_pred", None)  # made on first use, from succ
        gc.freeze()  # long-lived: keep them out of later collections
        return g
    finally:
        if enabled:
            gc.enable()


def predecessors(node: dict, succ: dict) -> dict:
    """networkx's ``_pred`` for the adjacency ``succ``: ``pred[v][u]`` is the
    same per-edge map as ``succ[u][v]``.  AnalyzerError for an edge to a
    node that is not there (a damaged database)."""
    pred: dict = {n: {} for n in node}
    try:
        for u, nbrs in succ.items():
            for v, keydict in nbrs.items():
                pred[v][u] = keydict
    except KeyError as e:
        raise AnalyzerError(f"the stored graph is damaged: an edge to {str(e)[:100]}, "
                            "which is no node: rebuild it with `python -m analyzer graph`"
                            ) from None
    return pred


_CLASS: list = []


def _stored_graph_class() -> type:
    """:class:`StoredGraph`, made on first use (networkx is imported only then)."""
    if not _CLASS:
        import networkx as nx

        class StoredGraph(nx.MultiDiGraph):
            """A ``MultiDiGraph`` read from the graph database.  Its predecessor
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

        StoredGraph.__module__ = __name__
        _CLASS.append(StoredGraph)
    return _CLASS[0]


def _base_pred():
    """networkx's own ``_pred`` descriptor (it resets the cached views)."""
    import networkx as nx

    for cls in nx.MultiDiGraph.__mro__:
        if "_pred" in cls.__dict__:
            return cls.__dict__["_pred"]
    raise AttributeError("networkx.MultiDiGraph has no _pred")


def _read(conn: sqlite3.Connection, path) -> tuple[dict, dict]:
    import msgpack

    node: dict = {}
    adj: dict = {}
    listed: list = []
    try:
        rows = conn.execute("SELECT data FROM graph_parts ORDER BY rowid").fetchall()
        for (blob,) in rows:
            nodes, out, lists = _part(blob)
            node.update(nodes)
            adj.update(out)
            listed.extend(lists)
        succ = {n: adj.pop(n, None) or {} for n in node}
        if adj:
            raise ValueError(f"edges from {len(adj)} unknown node(s)")
        _lists(node, listed)
    except sqlite3.DatabaseError as e:
        raise AnalyzerError(f"{path}: the stored graph cannot be read ({e}): rebuild it with "
                            "`python -m analyzer graph`") from None
    except (ValueError, TypeError, KeyError, AttributeError, msgpack.UnpackException) as e:
        raise AnalyzerError(f"{path}: the stored graph is damaged ({type(e).__name__}: "
                            f"{str(e)[:200]}): rebuild it with `python -m analyzer graph`"
                            ) from None
    return node, succ


#: node attributes that the graph holds as lists (of tuples, or of lists)
_LISTS = {"fields": tuple, "entries": tuple, "chains": list}


def _lists(node: dict, ids: list) -> None:
    """Arrays are read as tuples (a third faster than lists); the node
    attributes that the built graph holds as lists (those of the nodes
    ``ids``) become lists again, so that the graph read equals the graph built."""
    for nid in ids:
        attrs = node[nid]
        for key, inner in _LISTS.items():
            value = attrs.get(key)
            if type(value) is tuple:
                attrs[key] = [v if inner is tuple else list(v) for v in value]


def _part(blob: bytes) -> tuple[dict, dict]:
    """One part's nodes and adjacency, checked for shape."""
    import msgpack

    if not isinstance(blob, bytes):
        raise TypeError("a part is not a blob")
    part = msgpack.unpackb(blob, strict_map_key=False, use_list=False)
    if type(part) is not dict or type(part.get("nodes")) is not dict \
            or type(part.get("adj")) is not dict:
        raise ValueError("a part is not {nodes, adj}")
    nodes, adj, lists = part["nodes"], part["adj"], part.get("lists", ())
    if not all(type(a) is dict for a in nodes.values()) or \
            not all(type(a) is dict for a in adj.values()) or type(lists) is not tuple:
        raise ValueError("node attributes or neighbours that are not a map")
    return nodes, adj, lists
