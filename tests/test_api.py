"""Tests of analyzer.api (``from analyzer import load``): on a tiny graph,
then the must-hold facts of the real tree, and the module's doctests."""

from __future__ import annotations

import doctest
import json
import subprocess
import sys

import networkx as nx
import pytest
from graph_snippets import SOCKET_SNIPPETS, tiny_home

import analyzer.api
from analyzer import load
from analyzer.errors import AnalyzerError, NotFound

FILES = {**SOCKET_SNIPPETS,
         "net/dup1.c": "static int dup(void) { return 0; }\nint d1(void) { return dup(); }\n",
         "net/dup2.c": "static int dup(void) { return 1; }\nint d2(void) { return dup(); }\n"}


@pytest.fixture(scope="module")
def kg(tmp_path_factory):
    cfg, _ = tiny_home(tmp_path_factory.mktemp("home"), FILES)
    return load(cfg.graph_path)


def test_graph_is_networkx(kg):
    assert isinstance(kg.graph, nx.MultiDiGraph)
    assert kg.graph.nodes["inet_create@net/ipv4/af_inet.c"]["kind"] == "function"


def test_callers_callees(kg):
    assert [c.caller for c in kg.callers("tcp_init_sock")] == [
        "tcp_v4_init_sock@net/ipv4/tcp_ipv4.c"]
    calls = kg.callees("inet_create")
    assert {(c.callee, c.kind) for c in calls} >= {
        ("inet_sk@include/net/sock.h", "calls"),
        ("tcp_v4_init_sock@net/ipv4/tcp_ipv4.c", "dispatches")}
    d = next(c for c in calls if c.kind == "dispatches")
    assert d.expr == "sk->sk_prot->init" and d.via["table"] == "tcp_prot"
    assert str(d).startswith("net/ipv4/af_inet.c:") and "via sk->sk_prot->init" in str(d)


def test_resolve_and_narrow(kg):
    r = kg.resolve("__sock_create", "pf->create")
    assert r.names == ["inet_create", "unix_create"]
    assert r.sites[0]["rtype"] == "const struct net_proto_family *"
    r = kg.resolve("__sock_create", "pf->create", family="AF_INET")
    assert r.names == ["inet_create"]
    assert r.targets[0].chain[-1]["key_expr"] == "PF_INET"
    assert kg.resolve("alloc_inode", "sb->s_op->alloc_inode", family="sockfs").names == [
        "sock_alloc_inode"]
    with pytest.raises(NotFound, match="its indirect calls: pf->create"):
        kg.resolve("__sock_create", "pf->release")


def test_path_struct_table_where(kg):
    hops = kg.path("__sock_create", "tcp_init_sock")
    assert [c.kind for c in hops] == ["dispatches", "dispatches", "calls"]
    assert kg.path("tcp_init_sock", "__sock_create") == []
    s = kg.struct("inet_sock")
    assert s.embeds == ("struct sock", "struct sock_common") and s.fields[0][0] == "sk"
    assert any(c["function"] == "inet_sk@include/net/sock.h" for c in s.casts)
    t = kg.table("inet_family_ops")
    assert t.functions == {"create": "inet_create@net/ipv4/af_inet.c"}
    assert t.registrations[0]["registrar"] == "sock_register"
    assert [(w.kind, w.file) for w in kg.where("tcp_prot")] == [("table", "net/ipv4/tcp_ipv4.c")]


def test_chains_without_the_networkx_graph(kg):
    fresh = load(kg.path_to_db)
    (chain,) = fresh.chains("inet_family_ops")
    assert chain[-1]["registrar"] == "sock_register" and fresh._g is None
    assert kg.chains("sockfs_ops") == kg.graph.nodes["sockfs_ops@net/socket.c"]["chains"]


def test_names_unknown_and_ambiguous(kg):
    with pytest.raises(NotFound, match="closest: .*inet_create"):
        kg.callers("inet_creat")
    with pytest.raises(AnalyzerError, match="ambiguous: dup@net/dup1.c, dup@net/dup2.c"):
        kg.callers("dup")
    assert [c.caller for c in kg.callers("dup@net/dup1.c")] == ["d1"]


def test_exports(kg, tmp_path):
    data = kg.to_json("inet_create", radius=1)
    assert {"nodes", "edges"} <= set(data) and json.dumps(data)
    assert any(n["id"] == "tcp_v4_init_sock@net/ipv4/tcp_ipv4.c" for n in data["nodes"])
    kg.to_graphml(tmp_path / "g.graphml", "inet_create")
    back = nx.read_graphml(tmp_path / "g.graphml")
    assert "inet_create@net/ipv4/af_inet.c" in back
    text = kg.to_dot(tmp_path / "g.dot", "__sock_create")
    assert text.startswith("digraph kernel {") and '"__sock_create" -> ' in text
    assert (tmp_path / "g.dot").read_text() == text
    assert len(kg.to_json()["nodes"]) == kg.graph.number_of_nodes()


def test_load_errors(tmp_path):
    with pytest.raises(AnalyzerError, match="missing"):
        load(tmp_path / "nope.sqlite")
    (tmp_path / "bad.sqlite").write_text("not a database")
    with pytest.raises(AnalyzerError):
        load(tmp_path / "bad.sqlite")


# --- the real tree --------------------------------------------------------------

@pytest.fixture(scope="module")
def real(graph_cfg):
    return load(graph_cfg.graph_path)


@pytest.mark.kernel
def test_pf_create_in_sock_create(real):
    r = real.resolve("__sock_create", "pf->create")
    assert {"inet_create", "inet6_create", "unix_create"} <= set(r.names)
    assert r.sites[0]["rtype"] == "const struct net_proto_family *"
    narrowed = real.resolve("__sock_create", "pf->create", family="AF_INET")
    assert narrowed.names == ["inet_create"]
    (t,) = narrowed.targets
    assert (t.binding["table"], t.binding["table_line"]) == (
        "inet_family_ops@net/ipv4/af_inet.c", 985)
    step = t.chain[-1]
    assert (step["registrar"], step["caller"], step["key_expr"], step["key_value"]) == (
        "sock_register", "inet_init@net/ipv4/af_inet.c", "PF_INET", 2)
    assert real.resolve("__sock_create", "pf->create", family="AF_INET6").names == [
        "inet6_create"]


@pytest.mark.kernel
def test_s_op_alloc_inode_and_sk_prot_init(real):
    r = real.resolve("alloc_inode", "sb->s_op->alloc_inode")
    t = next(t for t in r.targets if t.name == "sock_alloc_inode")
    assert (t.binding["table"], t.binding["table_line"]) == ("sockfs_ops@net/socket.c", 304)
    assert real.resolve("alloc_inode", "sb->s_op->alloc_inode", family="sockfs").names == [
        "sock_alloc_inode"]
    r = real.resolve("inet_create", "sk->sk_prot->init")
    t = next(t for t in r.targets if t.name == "tcp_v4_init_sock")
    assert t.binding["table"] == "tcp_prot"


@pytest.mark.kernel
def test_socket_call_path_with_family(real):
    hops = real.path("SyS_socket", "tcp_init_sock", family="AF_INET")
    assert [c.callee.split("@")[0] for c in hops] == [
        "sock_create", "__sock_create", "inet_create", "tcp_v4_init_sock", "tcp_init_sock"]
    assert [c.kind for c in hops].count("dispatches") == 2
    assert real.path("SyS_socket", "tcp_init_sock")  # without narrowing too


@pytest.mark.kernel
@pytest.mark.parametrize("src, mid, dst, dispatched", [
    ("SyS_bind", "inet_bind", "inet_csk_get_port", True),
    ("SyS_listen", "inet_listen", "inet_csk_listen_start", False),  # a direct call
    ("SyS_connect", "inet_stream_connect", "tcp_v4_connect", True),
    ("SyS_accept", "inet_accept", "inet_csk_accept", True),
    ("SyS_sendmsg", "inet_sendmsg", "tcp_sendmsg", True),
    ("SyS_recvmsg", "inet_recvmsg", "tcp_recvmsg", True),
    ("sock_close", "inet_release", "tcp_close", True),
])
def test_socket_syscall_paths_resolve(real, src, mid, dst, dispatched):
    first, second = real.path(src, mid), real.path(mid, dst)
    assert first and first[-1].callee.split("@")[0] == mid
    assert second and second[-1].callee.split("@")[0] == dst
    assert first[-1].kind == "dispatches"  # sock->ops->... chose the inet function
    # sk->sk_prot->... chose the tcp function
    assert any(c.kind == "dispatches" for c in second) == dispatched


@pytest.mark.kernel
def test_connect_dispatches_to_inet_stream_connect(real):
    assert "inet_stream_connect" in {c.callee for c in real.callees("SyS_connect")
                                     if c.kind == "dispatches"}


@pytest.mark.kernel
def test_real_tree_answers_from_sql_and_builds_the_graph_on_first_use(graph_cfg):
    """callers/callees answer from the graph database alone; the networkx graph
    is loaded when ``kg.graph`` is first asked for (speed: bench/bench_query.py)."""
    code = ("import sys; from analyzer import load; kg = load(sys.argv[1]); "
            "a = kg.callers('sock_alloc_inode'); b = kg.callees('inet_create'); "
            "before = 'networkx' in sys.modules; n = kg.graph.number_of_nodes(); "
            "print(len(a), len(b), before, n)")
    out = subprocess.run([sys.executable, "-c", code, str(graph_cfg.graph_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    callers, callees, before, nodes = out.stdout.split()
    assert int(callers) > 0 and int(callees) > 0 and before == "False"
    assert int(nodes) > 50_000


@pytest.mark.kernel
def test_api_doctests_run_on_the_real_tree(real):
    result = doctest.testmod(analyzer.api, extraglobs={"kg": real},
                             optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 8 and result.failed == 0


@pytest.mark.kernel
def test_cast_functions_and_embedding_on_the_real_tree(real):
    casts = {(c["function"].split("@")[0], c["to"]) for c in real.struct("sock").casts
             if c["from"] == "struct sock"}
    assert {("inet_sk", "struct inet_sock"), ("tcp_sk", "struct tcp_sock"),
            ("inet_csk", "struct inet_connection_sock")} <= casts
    socket_i = [c for c in real.struct("inode").casts if c["function"].startswith("SOCKET_I@")]
    assert socket_i and socket_i[0]["to"] == "struct socket_alloc"
    assert real.struct("tcp_sock").embeds[-1] == "struct sock_common"
    assert [f[0] for f in real.struct("socket").fields][:3] == ["state", "type", "flags"]
