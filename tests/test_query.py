"""Tests of analyzer.query (the SQL answers behind ``python -m analyzer
query``) on a tiny graph, and end to end on the real tree."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from graph_snippets import SOCKET_SNIPPETS, tiny_home

from analyzer.errors import AnalyzerError, NotFound
from analyzer.query import norm_expr, run_query

FILES = {**SOCKET_SNIPPETS,
         "net/dup1.c": "static int dup(void) { return 0; }\nint d1(void) { return dup(); }\n",
         "net/dup2.c": "static int dup(void) { return 1; }\nint d2(void) { return dup(); }\n",
         "fs/rw.c": ("struct fops { int (*read)(int); };\nstruct file { struct fops *f_op; };\n"
                     "int gen_read(int n) { return n; }\n"
                     "struct fops a_fops = { .read = gen_read };\n"
                     "struct fops b_fops = { .read = gen_read };\n"
                     "int vfs_read(struct file *f) { return f->f_op->read(1); }\n")}


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    return tiny_home(tmp_path_factory.mktemp("home"), FILES)[0]


def test_callers_and_callees_show_file_line(cfg):
    data, text = run_query(cfg, "callers", ["tcp_init_sock"])
    assert [e["src"] for e in data["edges"]] == ["tcp_v4_init_sock@net/ipv4/tcp_ipv4.c"]
    assert "net/ipv4/tcp_ipv4.c:4" in text
    data, text = run_query(cfg, "callees", ["__sock_create"])
    dispatched = sorted(e["dst"] for e in data["edges"] if e["kind"] == "dispatches")
    assert dispatched == ["inet_create@net/ipv4/af_inet.c", "unix_create@net/unix/af_unix.c"]
    assert "via pf->create [inet_family_ops@net/ipv4/af_inet.c .create at net/ipv4/af_inet.c:" \
        in text


def test_a_target_bound_by_several_tables_is_one_line_of_text(cfg):
    data, text = run_query(cfg, "callees", ["vfs_read"])
    assert [(e["dst"], e["via"]["table"]) for e in data["edges"]] == [
        ("gen_read", "a_fops"), ("gen_read", "b_fops")]  # JSON keeps every binding
    assert text.splitlines()[0] == "callees of vfs_read: 1 (2 edges, one per binding)"
    assert text.count("gen_read") == 1 and "(+1 more bindings)" in text


def test_resolve_with_family_gives_the_chain(cfg):
    data, text = run_query(cfg, "resolve", ["__sock_create", "pf->create"], family="AF_INET")
    (site,) = data["sites"]
    assert [t["dst"] for t in site["targets"]] == ["inet_create@net/ipv4/af_inet.c"]
    assert site["targets"][0]["chain"][-1]["registrar"] == "sock_register"
    assert "registered by sock_register in inet_init@net/ipv4/af_inet.c" in text
    assert ".family = PF_INET (2)" in text
    data, _ = run_query(cfg, "resolve", ["__sock_create", "pf->create(sock, type)"])
    assert len(data["sites"][0]["targets"]) == 2


def test_path_through_dispatch(cfg):
    data, text = run_query(cfg, "path", ["__sock_create", "tcp_init_sock"])
    assert [(e["src"].split("@")[0], e["kind"]) for e in data["path"]] == [
        ("__sock_create", "dispatches"), ("inet_create", "dispatches"),
        ("tcp_v4_init_sock", "calls")]
    assert text.count("net/") >= 3
    data, text = run_query(cfg, "path", ["tcp_init_sock", "__sock_create"])
    assert data["path"] == [] and "no call chain" in text


def test_struct_table_where(cfg):
    data, text = run_query(cfg, "struct", ["sock"])
    assert [f[0] for f in data["fields"]] == ["__sk_common", "sk_destruct"]
    assert "embeds struct sock_common" in text
    data, text = run_query(cfg, "table", ["inet_family_ops"])
    assert data["registrations"][0]["registrar"] == "sock_register"
    assert ".create = inet_create" in text
    data, text = run_query(cfg, "where", ["inet_bind", "tcp_prot"])
    assert [(n["kind"], n["file"]) for n in data] == [
        ("function", "net/ipv4/af_inet.c"), ("table", "net/ipv4/tcp_ipv4.c")]


def test_unknown_and_ambiguous_names(cfg):
    with pytest.raises(NotFound, match="closest: inet_create"):
        run_query(cfg, "callers", ["inet_creat"])
    with pytest.raises(AnalyzerError, match="ambiguous.*dup@net/dup1.c.*dup@net/dup2.c"):
        run_query(cfg, "callers", ["dup"])
    data, _ = run_query(cfg, "callers", ["dup@net/dup2.c"])
    assert [e["src"] for e in data["edges"]] == ["d2"]
    with pytest.raises(NotFound, match="no indirect call"):
        run_query(cfg, "resolve", ["__sock_create", "pf->destroy"])
    with pytest.raises(AnalyzerError, match="path needs two names"):
        run_query(cfg, "path", ["__sock_create"])


def test_missing_graph_is_a_clear_error(tmp_path):
    from analyzer.config import Config

    with pytest.raises(AnalyzerError, match="kernel-analyzer analyze"):
        run_query(Config(tmp_path), "callers", ["x"])


def test_norm_expr():
    assert norm_expr("sk->sk_prot->init(sk)") == "sk->sk_prot->init"
    assert norm_expr("(*fp)") == "(*fp)"


def _cli(home, *args):
    return subprocess.run([sys.executable, "-m", "analyzer", "--home", str(home), "query",
                           *args], capture_output=True, text=True, timeout=60)


def test_cli_json_and_errors(cfg):
    out = _cli(cfg.home, "callers", "tcp_init_sock", "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["edges"][0]["line"] == 4
    out = _cli(cfg.home, "callers", "no_such_function")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.startswith("error: no function/undefined named 'no_such_function'")


def test_cli_does_not_import_networkx(cfg):
    code = ("import sys; from analyzer.cli import main; main(['--home', sys.argv[1], 'query', "
            "'path', '__sock_create', 'tcp_init_sock']); print('networkx' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(cfg.home)], capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.strip().endswith("False")


@pytest.mark.kernel
def test_real_tree_cli_answers_from_sql_alone(graph_cfg):
    """On the real store the query CLI answers without loading the graph
    library or the parser (its speed is measured by bench/bench_query.py)."""
    code = ("import sys; from analyzer.cli import main; main(['--home', sys.argv[1], 'query', "
            "'callers', 'sock_alloc_inode']); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'networkx', 'tree_sitter'}))")
    out = subprocess.run([sys.executable, "-c", code, str(graph_cfg.home)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "fs/inode.c:" in out.stdout and out.stdout.strip().endswith("[]"), out.stdout


def test_path_with_family_skips_other_families(cfg):
    data, _ = run_query(cfg, "path", ["__sock_create", "unix_create"], family="AF_INET")
    assert data["path"] == []
    data, _ = run_query(cfg, "path", ["__sock_create", "unix_create"], family="AF_UNIX")
    assert [e["dst"] for e in data["path"]] == ["unix_create@net/unix/af_unix.c"]
