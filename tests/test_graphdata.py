"""Tests of analyzer.graphdata: the networkx graph made from the rows of the
graph database's tables, equal to the one built, and damaged rows refused."""

from __future__ import annotations

import sqlite3

import pytest
from graph_snippets import SOCKET_SNIPPETS, tiny_home

from analyzer import load
from analyzer.errors import AnalyzerError
from analyzer.graph import build_graph
from analyzer.graphdata import graph_from_rows
from analyzer.resolve import Index
from analyzer.store import Store

NODES = [
    ("f", "f", "function", "a.c", 1, '{"end_line":3,"static":false}'),
    ("g", "g", "function", "a.c", 5, None),
    ("t", "t", "table", "a.c", 9, '{"entries":[[".open","g",10]]}'),
    ("struct s", "s", "struct", "s.h", 1, '{"fields":[["x","int",2,""]]}'),
]
EDGES = [
    ("f", "g", "calls", "a.c", 2, None, None),
    ("f", "t", "calls", "a.c", 2, None, None),
    ("f", "g", "dispatches", "a.c", 3, 0, '{"expr":"t->open"}'),
]


def test_neighbours_in_the_order_of_their_first_edge_and_keys_in_order():
    g = graph_from_rows(NODES, EDGES, [("t", '[[{"step":"registered"}]]')])
    assert list(g.succ["f"]) == ["g", "t"]
    assert g.succ["f"]["g"] == {
        0: {"kind": "calls", "file": "a.c", "line": 2},
        1: {"kind": "dispatches", "file": "a.c", "line": 3, "site": 0, "expr": "t->open"}}
    assert g.nodes["f"] == {"kind": "function", "name": "f", "file": "a.c", "line": 1,
                            "end_line": 3, "static": False}
    assert g.nodes["t"]["entries"] == [(".open", "g", 10)]  # tuples, as built
    assert g.nodes["struct s"]["fields"] == [("x", "int", 2, "")]
    assert g.nodes["t"]["chains"] == [[{"step": "registered"}]]
    assert list(g.pred["g"]) == ["f"] and g._pred["g"]["f"] is g._succ["f"]["g"]


@pytest.mark.parametrize("nodes, edges, error", [
    ([(*NODES[0][:5], "[1]"), *NODES[1:]], EDGES, ValueError),  # data not an object
    (NODES, [*EDGES, ("f", "nowhere", "calls", "a.c", 4, None, None)], KeyError),
    (NODES, [("x", "g", "calls", "a.c", 4, None, None)], KeyError),
    (NODES, [("f", "g", "calls", "a.c", 4, None, "{not json")], ValueError),
])
def test_rows_not_shaped_like_a_graph_are_refused(nodes, edges, error):
    with pytest.raises(error):
        graph_from_rows(nodes, edges)


def test_the_graph_read_from_a_written_database_equals_the_graph_built(tmp_path):
    cfg, _ = tiny_home(tmp_path / "home")
    with Store.open(cfg.store_path) as store:
        built, _ = build_graph(Index.from_store(store), SOCKET_SNIPPETS.get)
    read = load(cfg.graph_path).graph
    assert list(read.nodes(data=True)) == list(built.nodes(data=True))
    assert list(read.edges(keys=True, data=True)) == list(built.edges(keys=True, data=True))


def test_a_damaged_row_is_an_error_naming_the_database(tmp_path):
    cfg, _ = tiny_home(tmp_path / "home")
    with sqlite3.connect(cfg.graph_path) as conn:
        conn.execute("UPDATE edges SET dst = 'nowhere' WHERE rowid = 1")
    with pytest.raises(AnalyzerError, match=f"{cfg.graph_path}: the stored graph is damaged"):
        _ = load(cfg.graph_path).graph
