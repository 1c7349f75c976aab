"""The networkx graph as plain data inside ``build/graph.sqlite``.

Takes a networkx ``MultiDiGraph`` (from :func:`analyzer.graph.build_graph`)
and writes it into the table ``graph_parts`` of an open graph database; reads
it back into an equal graph.  Nothing here can run code when it loads: each
part is MessagePack data (maps, lists, strings, numbers, booleans, nil) read
with ``msgpack.unpackb`` and no hooks, then checked for shape; a part that is
not shaped like a graph is refused with :class:`~analyzer.errors.AnalyzerError`.

Layout: one row per source file, ``graph_parts(file, data)``.  ``file`` is
the ``file`` attribute of the part's nodes (``""`` for ``undefined`` nodes);
``data`` is a MessagePack array of the columns named in :data:`_PART`: the
part's string table (kinds, files, neighbour ids), then per node its id,
kind, name, file, line and a map of its other attributes, then per node its
number of neighbours, per neighbour its id and multi-edge keys, and per edge
its kind, file, line and a map of its other attributes (a dispatch's
evidence...).  Columns cost MessagePack and Python far less than a map per
edge.  A file's part can be rewritten alone.  The graph read back is equal to
the graph written (attributes, keys of multi-edges, the order of each node's
neighbours); its nodes come part by part.
"""

from __future__ import annotations

import gc
import sqlite3
from collections.abc import Iterator
from functools import cache
from itertools import accumulate, islice
from typing import TYPE_CHECKING

from analyzer.errors import AnalyzerError

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["FORMAT", "SCHEMA", "write_parts", "read_graph", "parts", "predecessors"]

#: ``meta.graph_format`` of a database whose graph is stored by this module
FORMAT = "parts-msgpack-4"
SCHEMA = "CREATE TABLE graph_parts(file TEXT PRIMARY KEY, data BLOB NOT NULL);\n"


_NODE = ("kind", "name", "file", "line")  # every node's first attributes, in this order
_EDGE = ("kind", "file", "line")  # every edge's first attributes, in this order
_PART = ("strings", "ids", "kind", "name", "file", "line", "extra", "lists",
         "pairs", "dst", "keys", "edge_kind", "edge_file", "edge_line", "edge_extra")


def parts(g: nx.MultiDiGraph) -> Iterator[tuple[str, bytes]]:
    """``(file, data)`` for each part of ``g``, in the order of the files' first nodes."""
    import msgpack

    groups: dict[str, list] = {}
    for nid, attrs in g.nodes(data=True):
        groups.setdefault(attrs.get("file") or "", []).append(nid)
    for file, ids in groups.items():
        yield file, msgpack.packb(_encode(g, ids), use_bin_type=True)


def _encode(g: nx.MultiDiGraph, ids: list) -> list:
    """One part as the columns of :data:`_PART` (strings by their index in
    ``strings``; the other attributes as sparse maps)."""
    strings: dict[str, int] = {}
    ix = lambda text: strings.setdefault(text, len(strings))  # noqa: E731
    cols: dict[str, list] = {name: [] for name in _PART[1:]}
    node, succ = g._node, g._succ  # the plain dicts: g.nodes and g.succ wrap them in views
    for i, nid in enumerate(ids):
        attrs = node[nid]
        cols["ids"].append(nid)
        for key, out in (("kind", ix), ("name", str), ("file", ix), ("line", int)):
            cols[key].append(out(attrs[key]))
        extra = {k: v for k, v in attrs.items() if k not in _NODE}
        cols["extra"].append(extra)
        if _LISTS.keys() & extra.keys():
            cols["lists"].append(i)
        _encode_edges(succ[nid], cols, ix)
    return [list(strings), *cols.values()]


def _encode_edges(nbrs, cols: dict[str, list], ix) -> None:
    cols["pairs"].append(len(nbrs))
    dst, keys_col = cols["dst"].append, cols["keys"].append
    kind, file, line, extra = (cols[c].append for c in
                               ("edge_kind", "edge_file", "edge_line", "edge_extra"))
    for v, keydict in nbrs.items():
        dst(ix(v))
        if len(keydict) == 1 and 0 in keydict:  # most pairs: one edge, key 0
            keys_col(1)
        else:
            keys = list(keydict)
            keys_col(len(keys) if keys == list(range(len(keys))) else keys)
        for attrs in keydict.values():
            kind(ix(attrs["kind"]))
            file(ix(attrs["file"]))
            line(int(attrs["line"]))
            extra({} if len(attrs) == 3 else
                  {k: v for k, v in attrs.items() if k not in _EDGE})


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
                            "which is no node: rebuild it with `kernel-analyzer graph`"
                            ) from None
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

    StoredGraph.__module__, StoredGraph.__qualname__ = __name__, "StoredGraph"
    return StoredGraph


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
    succ: dict = {}
    try:
        rows = conn.execute("SELECT data FROM graph_parts ORDER BY rowid").fetchall()
        for (blob,) in rows:
            _decode(blob, node, succ)
    except sqlite3.DatabaseError as e:
        raise AnalyzerError(f"{path}: the stored graph cannot be read ({e}): rebuild it with "
                            "`python -m analyzer graph`") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, StopIteration,
            msgpack.UnpackException) as e:
        raise AnalyzerError(f"{path}: the stored graph is damaged ({type(e).__name__}: "
                            f"{str(e)[:200]}): rebuild it with `kernel-analyzer graph`"
                            ) from None
    return node, succ


def _decode(blob: bytes, node: dict, succ: dict) -> None:
    """Add one part's nodes and their outgoing edges to ``node`` and ``succ``."""
    import msgpack

    if not isinstance(blob, bytes):
        raise TypeError("a part is not a blob")
    part = msgpack.unpackb(blob, use_list=False)
    if type(part) is not tuple or len(part) != len(_PART) or \
            not all(type(col) is tuple for col in part):
        raise ValueError("a part is not the columns of a graph")
    (strings, ids, kind, name, file, line, extra, lists, pairs, dst, keys,
     edge_kind, edge_file, edge_line, edge_extra) = part
    if not len(ids) == len(kind) == len(name) == len(file) == len(line) == len(extra) \
            == len(pairs) or \
            not len(dst) == len(keys) == sum(pairs) or \
            not len(edge_kind) == len(edge_file) == len(edge_line) == len(edge_extra):
        raise ValueError("columns of different lengths")
    S = strings  # noqa: N806 - the part's string table, read at every step below
    attrs = [{"kind": S[k], "name": n, "file": S[f], "line": ln, **more}
             for k, n, f, ln, more in zip(kind, name, file, line, extra, strict=True)]
    _lists(attrs, lists)
    node.update(zip(ids, attrs, strict=True))
    edges = [{"kind": S[k], "file": S[f], "line": ln, **more}
             for k, f, ln, more in zip(edge_kind, edge_file, edge_line, edge_extra, strict=True)]
    _adjacency(ids, pairs, [S[v] for v in dst], keys, edges, succ)


def _adjacency(ids, pairs, dst: list, keys, edges: list, succ: dict) -> None:
    """``succ[u] = {v: {key: attrs}}`` for the nodes ``ids``, from the number
    of neighbours of each node, each neighbour's keys (a count for 0..n-1),
    and the edges' attributes in the same order."""
    if keys.count(1) == len(keys) == len(edges):  # no multi-edge: one key 0 each
        keydicts = [{0: e} for e in edges]
    else:  # each pair {0: its first edge}, then the pairs of several edges (or other keys)
        starts = list(accumulate((k if type(k) is int else len(k) for k in keys), initial=0))
        if starts[-1] != len(edges):
            raise ValueError("edges and keys do not match")
        keydicts = [{0: e} for e in map(edges.__getitem__, starts[:-1])]
        for i in [i for i, k in enumerate(keys) if k != 1]:
            k, at = keys[i], starts[i]
            ks = range(k) if type(k) is int else k
            keydicts[i] = dict(zip(ks, edges[at:at + len(ks)], strict=True))
    nbrs = zip(dst, keydicts, strict=True)
    succ.update({u: dict(islice(nbrs, count)) for u, count in zip(ids, pairs, strict=True)})
    if next(nbrs, None) is not None:
        raise ValueError("more neighbours than counted")


#: node attributes that the graph holds as lists (of tuples, or of lists)
_LISTS = {"fields": tuple, "entries": tuple, "chains": list}


def _lists(attrs: list, at) -> None:
    """Arrays are read as tuples (a third faster than lists); the node
    attributes that the built graph holds as lists (those of the nodes at
    ``at``) become lists again, so that the graph read equals the graph built."""
    for i in at:
        a = attrs[i]
        for key, inner in _LISTS.items():
            value = a.get(key)
            if type(value) is tuple:
                a[key] = [v if inner is tuple else list(v) for v in value]
