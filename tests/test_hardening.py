"""Hardening: no crafted file runs code, no bad state or bad input ends in a
traceback, nothing is left behind (issue 14).

Most tests run on a tiny project home (the socket snippets, their store and
graph); those that need the kernel's own answers are marked ``kernel``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import multiprocessing
import os
import pickle
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from ci import unavailable
from graph_snippets import tiny_home
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer import cli
from analyzer.api import load
from analyzer.errors import AnalyzerError
from analyzer.graph import build_graph_store, graph_from_facts
from analyzer.tempfiles import remove_stale

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A tiny project home with its store and graph database."""
    cfg, _ = tiny_home(tmp_path_factory.mktemp("home"))
    return cfg


@pytest.fixture
def own_home(tmp_path):
    """A tiny home of this test's own, to break."""
    cfg, _ = tiny_home(tmp_path / "home")
    return cfg


def run_cli(cfg, *args: str) -> tuple[int, str, str]:
    """``python -m analyzer --home HOME ARGS`` in this process: (code, out, err)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(["--home", str(cfg.home), *args])
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()


def assert_one_error(code: int, err: str, *parts: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert "error: " in last, err
    for part in parts:
        assert part in last, last


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def digest(*paths: Path) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


# --- security: a store never runs code -------------------------------------------

class _Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_payload_in_the_graph_db_is_never_run(own_home, tmp_path):
    marker = tmp_path / "ran"
    payload = pickle.dumps(_Payload(marker))
    assert not marker.exists()
    with sqlite3.connect(own_home.graph_path) as conn:  # where the old versions kept it
        conn.execute("CREATE TABLE blobs(name TEXT PRIMARY KEY, data BLOB)")
        conn.execute("INSERT INTO blobs VALUES ('graph', ?)", (payload,))
    g = load(own_home.graph_path).graph
    assert g.number_of_edges() > 0 and not marker.exists()
    for table in ("nodes", "edges"):  # and as the attributes of a node or an edge
        with sqlite3.connect(own_home.graph_path) as conn:
            conn.execute(f"UPDATE {table} SET data = ? WHERE rowid = "
                         f"(SELECT min(rowid) FROM {table} WHERE data IS NOT NULL)", (payload,))
        with pytest.raises(AnalyzerError, match="graph.sqlite: the stored graph is damaged"):
            _ = load(own_home.graph_path).graph
    assert run_cli(own_home, "query", "callers", "sock_alloc_inode")[0] in (0, 2)
    assert not marker.exists()


def test_a_graph_db_of_the_pickle_format_is_refused_not_loaded(own_home):
    with sqlite3.connect(own_home.graph_path) as conn:
        conn.execute("DELETE FROM meta WHERE key = 'graph_format'")
    with pytest.raises(AnalyzerError, match="another version of the analyzer.*rebuild it"):
        load(own_home.graph_path)


def test_no_module_loads_stored_data_with_pickle_marshal_or_eval():
    found = subprocess.run(["grep", "-rnI", "--include=*.py", r"pickle\|marshal\|eval(",
                            "analyzer/"],
                           cwd=ROOT, capture_output=True, text=True).stdout
    assert found == "", found


def test_the_graph_read_back_equals_the_graph_built(home):
    from analyzer.graph import _Reader, build_graph
    from analyzer.resolve import Index
    from analyzer.store import Store

    with Store.open(home.store_path) as st:
        built, _ = build_graph(Index.from_store(st), _Reader.of_tree(home.kernel_dir))
    read = load(home.graph_path).graph
    assert dict(read.nodes(data=True)) == dict(built.nodes(data=True))
    for n in built:  # neighbours in order, multi-edge keys and attributes
        assert list(read.succ[n].items()) == list(built.succ[n].items())
        assert dict(read.pred[n]) == dict(built.pred[n])
    assert read.number_of_edges() == built.number_of_edges()


def test_the_read_graph_behaves_as_a_networkx_graph(home):
    import networkx as nx

    g = load(home.graph_path).graph
    assert isinstance(g, nx.MultiDiGraph)
    some = next(iter(g.pred))
    assert list(g.in_edges(some, keys=True)) == [(u, some, k) for u in g.pred[some]
                                                  for k in g.pred[some][u]]
    copy = g.copy()
    copy.add_edge("x", "y", kind="calls")
    assert copy.has_edge("x", "y") and not g.has_edge("x", "y")
    assert copy.in_degree("y") == 1
    g2 = graph_from_facts([])[0]
    assert g2.number_of_nodes() == 0


# --- bad state: a damaged store ----------------------------------------------------

def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "zero":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(data[:len(data) // 2])
    elif how == "random":
        path.write_bytes(os.urandom(len(data)))
    else:  # "pages": garbage over every page after the first three
        with open(path, "r+b") as f:
            for at in range(3 * 4096, len(data), 4096):
                f.seek(at)
                f.write(os.urandom(4096))


@pytest.mark.parametrize("how", ["zero", "truncated", "random", "pages"])
@pytest.mark.parametrize("command", [("query", "callers", "sock_alloc_inode"), ("stats",),
                                     ("query", "path", "SyS_socket", "sock_alloc_inode")])
def test_a_damaged_graph_db_is_named_with_how_to_rebuild(own_home, how, command):
    _damage(own_home.graph_path, how)
    code, _, err = run_cli(own_home, *command)
    assert_one_error(code, err, str(own_home.graph_path), "rebuild it with")


@pytest.mark.parametrize("how", ["zero", "truncated", "random", "pages"])
@pytest.mark.parametrize("command", [("stats",), ("model", "socket", "AF_INET", "SOCK_STREAM",
                                                  "0")])
def test_a_damaged_store_is_named_with_how_to_rebuild(own_home, how, command):
    _damage(own_home.store_path, how)
    code, _, err = run_cli(own_home, *command)
    assert_one_error(code, err, str(own_home.store_path),
                     "rebuild it with `kernel-analyzer analyze`")


def test_extract_replaces_a_damaged_store(own_home):
    from analyzer.pipeline import extract_tree

    _damage(own_home.store_path, "pages")
    report = extract_tree(own_home, jobs=1, progress=False)
    assert report.parsed == report.files > 0
    assert run_cli(own_home, "stats")[0] == 0


@pytest.mark.parametrize("how", ["zero", "pages"])
@pytest.mark.parametrize("which", ["graph_path", "store_path"])
def test_docs_stops_on_a_damaged_database_and_keeps_the_site(own_home, how, which):
    from analyzer.docs import build_site

    site = own_home.build_dir / "site"
    site.mkdir(parents=True)
    (site / "index.html").write_text("the good site")
    damaged = getattr(own_home, which)
    _damage(damaged, how)
    with pytest.raises(AnalyzerError, match=rf"{damaged.name} .*the site was not rebuilt"):
        build_site(own_home, progress=False)
    assert (site / "index.html").read_text() == "the good site"
    assert not (own_home.site_src_dir / "docs" / "generated").exists()


def test_docs_without_kernel_sources_is_a_clear_error(own_home):
    import shutil

    from analyzer.docs import build_site

    shutil.rmtree(own_home.kernel_dir)
    with pytest.raises(AnalyzerError, match="linux-4.4.1 is missing.*fetch"):
        build_site(own_home, progress=False)


def test_graph_without_kernel_sources_says_so_before_the_long_work(own_home, monkeypatch):
    import shutil

    from analyzer import resolve

    shutil.rmtree(own_home.kernel_dir)
    monkeypatch.setattr(resolve.Index, "from_store", None)  # never reached
    code, _, err = run_cli(own_home, "graph", "-q")
    assert_one_error(code, err, "linux-4.4.1 is missing", "fetch")


# --- bad state: read-only folders and full disks -------------------------------------

@contextlib.contextmanager
def small_fs(path: Path, size: str, read_only: bool = False):
    """A tmpfs of ``size`` at ``path`` (made read-only after ``path``'s files are
    copied in, when asked); yields False when this machine cannot mount one."""
    import shutil

    keep = path.with_name(path.name + ".keep")
    if path.exists():
        shutil.copytree(path, keep, symlinks=True)
    path.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                      capture_output=True).returncode != 0:
        yield False
        return
    try:
        if keep.exists():
            shutil.copytree(keep, path, symlinks=True, dirs_exist_ok=True)
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
        yield True
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def _full(*args, **kwargs):
    raise sqlite3.OperationalError("database or disk is full")


@pytest.mark.parametrize("fs", ["tmpfs", "faked"])
def test_graph_on_a_full_disk_keeps_the_previous_db(own_home, monkeypatch, fs):
    from analyzer import graph

    build = own_home.build_dir
    with small_fs(build, "300k") as mounted:
        if fs == "tmpfs" and not mounted:
            unavailable("a tmpfs mount (the faked case covers it elsewhere)")
        if fs == "faked":
            monkeypatch.setattr(graph, "_write_rows", _full)
        else:  # fill the disk
            with open(build / "filler", "wb") as f, contextlib.suppress(OSError):
                f.write(b"\0" * 400_000)
        before = digest(own_home.graph_path)
        code, _, err = run_cli(own_home, "graph", "-q")
        assert_one_error(code, err, f"cannot write {own_home.graph_path}", "previous one is kept")
        assert digest(own_home.graph_path) == before
        assert not list(build.glob(".graph.sqlite.*"))


@pytest.mark.parametrize("fs", ["tmpfs", "faked"])
def test_extract_into_a_read_only_folder_keeps_the_store(own_home, monkeypatch, fs):
    from analyzer import pipeline

    (own_home.kernel_dir / "net" / "new.c").write_text("int added(void) { return 1; }\n")
    with small_fs(own_home.build_dir, "50m", read_only=True) as mounted:
        if fs == "tmpfs" and not mounted:
            unavailable("a tmpfs mount (the faked case covers it elsewhere)")
        if fs == "faked":
            def read_only(*args, **kwargs):
                raise OSError(errno.EROFS, "Read-only file system", str(own_home.store_path))
            monkeypatch.setattr(pipeline, "Writer", read_only)
        before = digest(own_home.store_path)
        code, _, err = run_cli(own_home, "extract", "-q", "-j", "1")
        assert_one_error(code, err, f"cannot write {own_home.store_path}", "previous store is kept")
        assert digest(own_home.store_path) == before


@pytest.mark.parametrize("fs", ["tmpfs", "faked"])
def test_pages_on_a_full_disk_leave_the_old_pages_and_no_temporary_folder(tmp_path, monkeypatch,
                                                                          fs):
    from analyzer.docs import write_pages

    docs = tmp_path / "docs"
    with small_fs(docs, "200k") as mounted:
        if fs == "tmpfs" and not mounted:
            unavailable("a tmpfs mount (the faked case covers it elsewhere)")
        write_pages(docs, _site("old", 3))
        if fs == "faked":
            real = Path.write_text

            def full(self, *args, **kwargs):
                if self.name == "page7.md":
                    raise OSError(errno.ENOSPC, "No space left on device", str(self))
                return real(self, *args, **kwargs)
            monkeypatch.setattr(Path, "write_text", full)
            big = _site("new", 10)
        else:
            big = _site("new", 400, size=2000)  # 800 kB: more than the disk holds
        with pytest.raises(OSError):
            write_pages(docs, big)
        assert sorted(p.name for p in (docs / "generated").iterdir()) == \
            ["nav.yml", "page0.md", "page1.md", "page2.md"]
        assert sorted(p.name for p in docs.iterdir()) == ["generated"]


@pytest.mark.parametrize("error", [
    OSError(errno.EROFS, "Read-only file system", "/h/build/.site-stage-1"),
    OSError(errno.ENOSPC, "No space left on device", "/venv/x.js", "/h/build/.site-out-1/x.js"),
])
def test_a_file_system_error_is_one_line_naming_the_path(home, error):
    text = cli._message(error, home)
    assert text.startswith((error.filename2 or error.filename) + ": " + error.strerror)
    assert "\n" not in text


# --- bad state: what killed runs leave, concurrent runs --------------------------------

def test_temporary_files_of_killed_runs_are_removed_by_the_next_run(own_home):
    build = own_home.build_dir
    dead, live = dead_pid(), os.getppid()
    left = [build / f".graph.sqlite.{dead}.tmp", build / f"analysis.sqlite.tmp-{dead}"]
    for p in left:
        p.write_bytes(b"half")
    held = build / f".graph.sqlite.{live}.tmp"
    held.write_bytes(b"another run's")
    build_graph_store(own_home)
    assert not left[0].exists() and held.exists()
    from analyzer.pipeline import extract_tree

    (own_home.kernel_dir / "net" / "new.c").write_text("int added(void) { return 1; }\n")
    extract_tree(own_home, jobs=1, progress=False)
    assert not left[1].exists()


def test_site_temporaries_of_killed_runs_are_removed(own_home, monkeypatch):
    from analyzer import docs

    dead = dead_pid()
    build, gen_parent = own_home.build_dir, own_home.build_dir / "site-src" / "docs"
    stale = [build / f".site-out-{dead}", build / f".site-out-{dead}-half",
             build / f".site-stage-{dead}", build / f".site-old-{dead}-x",
             gen_parent / f".generated-tmp-{dead}-x"]
    for d in stale:
        (d / "sub").mkdir(parents=True)
    live = build / f".site-out-{os.getppid()}"
    live.mkdir()

    def fake_mkdocs(site_dir, out_dir, strict, dirty=False):
        Path(out_dir).mkdir(exist_ok=True)  # holds the pages the other process builds
        (Path(out_dir) / "index.html").write_text("new")

    monkeypatch.setattr(docs, "run_mkdocs", fake_mkdocs)
    docs._build_private(own_home, _site("p", 2), strict=True)
    docs.write_pages(gen_parent, _site("p", 2))
    assert [d for d in stale if d.exists()] == []
    assert live.exists() and (build / "site" / "index.html").read_text() == "new"
    assert remove_stale(build, (".site-out-",)) == []  # a live run's folder stays


def _site(stem: str, n: int, size: int = 20) -> SimpleNamespace:
    pages = {f"generated/page{i}.md": f"{stem} {i}\n" + "x" * size for i in range(n)}
    return SimpleNamespace(pages=pages, nav=[{stem: f"generated/page{i}.md"} for i in range(n)])


def _write_many(docs: str, stem: str, rounds: int) -> None:
    from analyzer.docs import write_pages

    for _ in range(rounds):
        write_pages(Path(docs), _site(stem, 160))


def test_concurrent_page_writers_never_lose_pages(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_many, args=(str(docs), f"run{i}", 15)) for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    pages = sorted((docs / "generated").iterdir())
    assert len(pages) == 161  # 160 pages and nav.yml, all of one run
    stems = {p.read_text().split()[0] for p in pages if p.suffix == ".md"}
    assert len(stems) == 1
    assert sorted(p.name for p in docs.iterdir()) == ["generated"]


# --- bad input ----------------------------------------------------------------------

BIG = "9" * 5000


@pytest.mark.parametrize("args", [
    ("query", "callers", "\udcff\udcfesock"),
    ("query", "resolve", "__sock_create", "pf->create", "--family", "\udcff"),
    ("model", "socket", "\udcff", "SOCK_STREAM", "0"),
    ("model", "socket", "AF_INET", "SOCK_STREAM", "0", "--python", "\udcffx"),
])
def test_arguments_that_are_not_utf8_are_named(home, args):
    code, _, err = run_cli(home, *args)
    assert_one_error(code, err, "is not valid UTF-8 (byte 0xff")


def test_non_utf8_arguments_through_a_real_process(home):
    run = subprocess.run([sys.executable, "-m", "analyzer", "--home", str(home.home), "query",
                          "callers", b"\xff\xfesock"], capture_output=True, timeout=60)
    assert run.returncode == 2 and b"Traceback" not in run.stderr
    assert b"is not valid UTF-8" in run.stderr


@pytest.mark.parametrize("args, message", [
    (("model", "socket", BIG, "SOCK_STREAM", "0"), "(5000 digits) is out of range"),
    (("model", "skb", f"alloc_skb({BIG})"), "is out of range"),
    (("query", "callers", "sock_alloc_inode", "--limit", BIG), "is not a count"),
    (("query", "callers", "sock_alloc_inode", "--limit", "-1"), "is not a count"),
    (("model", "socket", "AF_INET", "SOCK_STREAM", "0", "--step", BIG), "is not a step"),
    (("extract", "-j", "0"), "is not a number of worker processes"),
])
def test_huge_and_negative_numbers_are_refused(home, args, message):
    code, _, err = run_cli(home, *args)
    assert_one_error(code, err, message)
    assert len(err) < 1000


def test_a_long_argument_is_cut_in_the_message(home):
    code, _, err = run_cli(home, "query", "callers", "x" * 100_000)
    assert_one_error(code, err, "no function/undefined named 'xxxx", "more characters")
    assert len(err) < 400


def test_limit_says_how_many_there_are(home):
    code, out, _ = run_cli(home, "query", "callees", "__sock_create")
    total = int(out.split(": ")[1].split()[0])
    assert total > 2
    code, out, _ = run_cli(home, "query", "callees", "__sock_create", "--limit", "2")
    assert code == 0 and out.startswith(f"callees of __sock_create: 2 of {total} (--limit 2)")
    assert len(out.strip().splitlines()) == 3


def test_path_from_a_function_to_itself_is_empty(home):
    code, out, _ = run_cli(home, "query", "path", "alloc_inode", "alloc_inode")
    assert code == 0 and "0 calls (the empty chain)" in out
    assert load(home.graph_path).path("alloc_inode", "alloc_inode") == []


def test_family_on_a_query_that_ignores_it_is_an_error(home):
    code, _, err = run_cli(home, "query", "callers", "sock_alloc_inode", "--family", "AF_INET")
    assert_one_error(code, err, "--family narrows only `resolve` and `path`")


@pytest.mark.kernel
@pytest.mark.parametrize("family, message", [
    ("af_inet", "constant names are case-sensitive; did you mean AF_INET?"),
    ("", "--family is empty"),
    ("-1", "no table is registered under this key"),
    ("12345678901234567890", "no table is registered under this key"),
    (BIG, "no registration key is that long a number"),
    ("NOT_A_CONSTANT_X", "unknown constant"),
])
def test_bad_family_values_are_errors(graph_cfg, family, message):
    for question in (("resolve", "__sock_create", "pf->create"),
                     ("path", "SyS_socket", "tcp_init_sock")):
        code, _, err = run_cli(graph_cfg, "query", *question, "--family", family)
        assert_one_error(code, err, message)


@pytest.mark.kernel
def test_good_family_values_still_narrow(graph_cfg):
    code, out, _ = run_cli(graph_cfg, "query", "resolve", "__sock_create", "pf->create",
                           "--family", "AF_INET")
    assert code == 0 and "1 target(s)" in out and "inet_create" in out
    code, out, _ = run_cli(graph_cfg, "query", "resolve", "sock_alloc_inode", "x", "--family",
                           "sockfs")
    assert code == 2  # no such site, but the key itself is known
    assert "no table is registered" not in _


@pytest.mark.kernel
@pytest.mark.parametrize("ops, message", [
    (("skb_put(skb9, 10)",), "no buffer 'skb9'; buffers: none"),
    (("alloc_skb(100)", "skb_put(skb9, 10)"), "no buffer 'skb9'; buffers: skb1"),
    (("socket(AF_INET)",), "socket takes 3 arguments (family, type, protocol)"),
])
def test_skb_operation_messages(store_cfg, ops, message):
    code, _, err = run_cli(store_cfg, "model", "skb", *ops)
    assert_one_error(code, err, message)
    assert "TypeError" not in err and "error: none" not in err


def test_model_integer_arguments_fit_64_bits():
    from analyzer.model import int_arg
    from analyzer.model.skb import parse_op

    assert int_arg("-9223372036854775808") == -(2**63)
    assert int_arg(str(2**64 - 1)) == 2**64 - 1
    for bad in (str(2**64), BIG, "-" + BIG):
        with pytest.raises(AnalyzerError, match="out of range"):
            int_arg(bad)
    with pytest.raises(AnalyzerError, match="out of range"):
        parse_op(f"alloc_skb({BIG})")


# --- a property: random argument vectors ----------------------------------------------

settings.register_profile("cli", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])

_WORDS = ["callers", "callees", "path", "resolve", "struct", "table", "where", "sock_alloc_inode",
          "alloc_inode", "__sock_create", "pf->create", "socket", "inet_family_ops", "AF_INET",
          "PF_INET", "--json", "--family", "--limit", "-q", "--help", "-1", "0", "3", BIG, "",
          "name@net/socket.c", "struct socket", "%s", "'", "\\"]
_TOKEN = st.one_of(
    st.sampled_from(_WORDS),
    st.text(max_size=30),
    st.binary(max_size=12).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.integers(-(10**30), 10**30).map(str),
).filter(lambda t: not t.startswith("--ho"))  # --home elsewhere would leave this home
_ARGV = st.tuples(st.sampled_from(["query", "stats", "fetch", "frob", ""]),
                  st.lists(_TOKEN, max_size=6)).map(lambda t: [t[0], *t[1]] if t[0] else t[1])


@settings(settings.get_profile("cli"))
@given(argv=_ARGV)
def test_random_argument_vectors_end_in_an_answer_or_a_clear_error(home, argv):
    stores = (home.store_path, home.graph_path)
    before = digest(*stores)
    code, _, err = run_cli(home, *argv)
    assert code in (0, 2), (argv, err)
    assert "Traceback" not in err, (argv, err)
    if code == 2:
        assert err.strip().splitlines()[-1].startswith(("error: ", "kernel-analyzer")), err
    assert digest(*stores) == before


def test_the_read_graph_can_be_copied_and_pickled_by_its_user(home):
    import copy

    g = load(home.graph_path).graph
    for other in (pickle.loads(pickle.dumps(g)), copy.deepcopy(g)):
        assert type(other) is type(g)
        assert list(other.edges(keys=True, data=True)) == list(g.edges(keys=True, data=True))
        assert dict(other.pred) == dict(g.pred)
