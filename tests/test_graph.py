"""Tests of analyzer.graph: nodes, every edge kind with its location and
evidence, callee name resolution, cast detection, and the graph database."""

from __future__ import annotations

import sqlite3

import pytest
from graph_snippets import SOCKET_SNIPPETS, graph_of, tiny_home

from analyzer.graph import struct_id


@pytest.fixture(scope="module")
def built():
    return graph_of(SOCKET_SNIPPETS)


def _edges(g, kind, src=None, dst=None):
    return [(u, v, a) for u, v, a in g.edges(data=True)
            if a["kind"] == kind and (src is None or u == src) and (dst is None or v == dst)]


def test_every_edge_has_file_and_line(built):
    g, _, _ = built
    kinds = {a["kind"] for _, _, a in g.edges(data=True)}
    assert kinds == {"calls", "dispatches", "assigns", "registers", "embeds", "casts"}
    for u, v, a in g.edges(data=True):
        assert a["file"] and a["line"] > 0, (u, v, a)


def test_dispatch_edge_carries_evidence(built):
    g, _, _ = built
    (_, _, a), = _edges(g, "dispatches", "__sock_create", "inet_create@net/ipv4/af_inet.c")
    assert (a["expr"], a["struct"], a["field"], a["confidence"]) == (
        "pf->create", "net_proto_family", "create", "typed")
    assert a["via"]["table"] == "inet_family_ops@net/ipv4/af_inet.c"
    lines = SOCKET_SNIPPETS["net/ipv4/af_inet.c"].splitlines()
    assert lines[a["via"]["line"] - 1].strip() == ".create = inet_create,"
    assert SOCKET_SNIPPETS["net/socket.c"].splitlines()[a["line"] - 1].strip() == (
        "return pf->create(sock, type);")


def test_callee_resolution_prefers_same_file_static_then_external_then_header():
    files = {
        "include/h.h": "static inline int helper(void) { return 0; }\n",
        "a.c": "static int helper(void) { return 1; }\nint f(void) { return helper(); }\n",
        "b.c": "int g(void) { return helper() + ext() + MACRO_THING(1); }\n",
        "c.c": "int ext(void) { return 2; }\n",
    }
    g, _, _ = graph_of(files)
    assert [v for _, v, _ in _edges(g, "calls", "f")] == ["helper@a.c"]
    assert sorted(v for _, v, _ in _edges(g, "calls", "g")) == [
        "MACRO_THING", "ext", "helper@include/h.h"]
    assert g.nodes["MACRO_THING"]["kind"] == "undefined"


def test_assigns_registers_embeds(built):
    g, _, _ = built
    assert _edges(g, "assigns", "tcp_prot", "tcp_v4_init_sock@net/ipv4/tcp_ipv4.c")
    (_, _, a), = _edges(g, "assigns", "inet_create@net/ipv4/af_inet.c",
                        "inet_sock_destruct@net/ipv4/af_inet.c")
    assert (a["struct"], a["field"]) == ("sock", "sk_destruct")
    (_, _, a), = _edges(g, "registers", "inet_init@net/ipv4/af_inet.c",
                        "inet_family_ops@net/ipv4/af_inet.c")
    assert a["registrar"] == "sock_register"
    assert _edges(g, "embeds", struct_id("inet_sock"), struct_id("sock"))
    assert _edges(g, "embeds", struct_id("sock"), struct_id("sock_common"))


def test_cast_functions_detected_from_their_bodies(built):
    g, _, _ = built
    (_, _, a), = _edges(g, "casts", struct_id("sock"), struct_id("inet_sock"))
    assert a["function"] == "inet_sk@include/net/sock.h" and a["how"] == "cast"


def test_container_of_function_and_use():
    files = {"s.c": """
struct inode { int i_ino; };
struct socket { int state; };
struct socket_alloc { struct socket socket; struct inode vfs_inode; };
static inline struct socket *SOCKET_I(struct inode *inode)
{
	return &container_of(inode, struct socket_alloc, vfs_inode)->socket;
}
static void sock_destroy_inode(struct inode *inode)
{
	struct socket_alloc *ei = container_of(inode, struct socket_alloc, vfs_inode);
	kfree(ei);
}
"""}
    g, _, _ = graph_of(files)
    found = {(a["function"], a["how"]) for _, _, a in
             _edges(g, "casts", struct_id("inode"), struct_id("socket_alloc"))}
    assert found == {("SOCKET_I@s.c", "container_of"),
                     ("sock_destroy_inode@s.c", "container_of")}


def test_graph_db_is_written_with_indexes(tmp_path):
    cfg, report = tiny_home(tmp_path)
    assert report.edges["dispatches"] >= 4 and report.nodes["function"] > 10
    assert report.resolution["indirect_sites"] == 6
    conn = sqlite3.connect(cfg.graph_path)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"edges_src", "edges_dst", "nodes_name"} <= names
    assert conn.execute("SELECT value FROM constants WHERE name='PF_INET'").fetchone() == (2,)
    assert not list(tmp_path.glob("build/.graph.sqlite*"))  # no temp file left


def test_failed_write_keeps_the_previous_db(tmp_path, monkeypatch):
    import analyzer.graph as graph

    cfg, _ = tiny_home(tmp_path)
    before = cfg.graph_path.read_bytes()

    def boom(*args):
        raise RuntimeError("killed")

    monkeypatch.setattr(graph, "_write_rows", boom)
    with pytest.raises(RuntimeError):
        graph.build_graph_store(cfg)
    assert cfg.graph_path.read_bytes() == before
    assert not list(tmp_path.glob("build/.graph.sqlite*"))
