"""The extraction pipeline: discovery, per-file cache by content hash,
parallel workers, one transaction, the report, and a kill at any moment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import standin_extract

from analyzer import pipeline
from analyzer.config import Config
from analyzer.errors import AnalyzerError
from analyzer.store import Store

TESTS = Path(__file__).resolve().parent


def make_tree(home: Path, files: dict[str, str | bytes]) -> Config:
    """A Config whose kernel tree holds ``files`` (path relative to the tree)."""
    cfg = Config(home.resolve())
    for rel, text in files.items():
        path = cfg.kernel_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return cfg


@pytest.fixture
def standin(monkeypatch):
    """Use the stand-in extractor, counting the files it is given (jobs=1)."""
    seen: list[str] = []

    def extract(rel, src):
        seen.append(rel)
        return standin_extract.extract_file(rel, src)

    monkeypatch.setattr(pipeline, "_extractor", lambda: extract)
    return seen


FILES = {
    "net/socket.c": "int sock_alloc(void) { return new_inode(0); }\n",
    "net/ipv4/af_inet.c": "static int inet_create(int x) { return sk_alloc(x); }\n",
    "fs/inode.c": "int new_inode(int sb) { return alloc(sb); }\n",
    "include/linux/net.h": "struct socket { int state; };\n",
    "net/README": "not C\n",
    "kernel/fork.c": "int not_in_the_parts(void) { return 0; }\n",
}


def test_discover_finds_the_c_files_of_net_fs_include(tmp_path):
    cfg = make_tree(tmp_path, FILES)
    assert pipeline.discover(cfg) == ["fs/inode.c", "include/linux/net.h",
                                      "net/ipv4/af_inet.c", "net/socket.c"]


def test_missing_tree_tells_how_to_fetch(tmp_path):
    with pytest.raises(AnalyzerError, match=r"no kernel sources at .*analyzer fetch.*"
                                            r"KERNEL_TARBALL"):
        pipeline.extract_tree(Config(tmp_path), jobs=1, progress=False)


def test_first_run_extracts_everything(tmp_path, standin):
    cfg = make_tree(tmp_path, FILES)
    report = pipeline.extract_tree(cfg, jobs=1, progress=False)
    assert (report.files, report.parsed, report.cached) == (4, 4, 0)
    assert sorted(standin) == pipeline.discover(cfg)
    assert report.records["functions"] == 3
    with Store.open(cfg.store_path) as st:
        [fn] = st.find("functions", "inet_create")
        assert (fn.file, fn.line, fn.static) == ("net/ipv4/af_inet.c", 1, False)
        assert {c.callee for c in st.find("calls", "sock_alloc")} == {"new_inode"}


def test_second_run_parses_nothing(tmp_path, standin):
    cfg = make_tree(tmp_path, FILES)
    pipeline.extract_tree(cfg, jobs=1, progress=False)
    gen = Store.open(cfg.store_path).generation()
    standin.clear()
    report = pipeline.extract_tree(cfg, jobs=1, progress=False)
    assert standin == [] and (report.parsed, report.cached) == (0, 4)
    assert Store.open(cfg.store_path).generation() == gen  # nothing written


def test_changing_one_file_reparses_that_file_alone(tmp_path, standin):
    cfg = make_tree(tmp_path, FILES)
    pipeline.extract_tree(cfg, jobs=1, progress=False)
    standin.clear()
    (cfg.kernel_dir / "fs/inode.c").write_text("int new_inode2(int sb) { return 1; }\n")
    report = pipeline.extract_tree(cfg, jobs=1, progress=False)
    assert standin == ["fs/inode.c"] and (report.parsed, report.cached) == (1, 3)
    with Store.open(cfg.store_path) as st:
        assert st.find("functions", "new_inode") == []
        assert [f.file for f in st.find("functions", "new_inode2")] == ["fs/inode.c"]
        assert len(st.find("functions", "sock_alloc")) == 1  # kept, not duplicated


def test_touching_without_change_reparses_nothing(tmp_path, standin):
    cfg = make_tree(tmp_path, FILES)
    pipeline.extract_tree(cfg, jobs=1, progress=False)
    standin.clear()
    path = cfg.kernel_dir / "net/socket.c"
    path.write_bytes(path.read_bytes())
    os.utime(path, (time.time() + 100, time.time() + 100))
    assert pipeline.extract_tree(cfg, jobs=1, progress=False).parsed == 0


@pytest.fixture
def hashed(monkeypatch):
    """The files the stage hashes to check them against the store."""
    seen: list[str] = []
    real = pipeline._safe_hash

    def count(path):
        seen.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(pipeline, "_safe_hash", count)
    return seen


def _age(cfg: Config, seconds: float = 100) -> None:
    """Give every file of the tree an mtime ``seconds`` in the past."""
    for path in cfg.kernel_dir.rglob("*"):
        if path.is_file():
            os.utime(path, (time.time() - seconds, time.time() - seconds))


def test_unchanged_stat_signature_spares_the_hash(tmp_path, standin, hashed, monkeypatch):
    monkeypatch.setattr(pipeline, "_RACY_NS", 0)  # ctime is now: trust any past one
    cfg = make_tree(tmp_path, FILES)
    _age(cfg)
    pipeline.extract_tree(cfg, jobs=1, progress=False)
    gen = Store.open(cfg.store_path).generation()
    standin.clear()
    report = pipeline.extract_tree(cfg, jobs=1, progress=False)
    assert (hashed, standin, report.parsed, report.cached) == ([], [], 0, 4)
    assert Store.open(cfg.store_path).generation() == gen


def test_same_size_edit_with_the_old_mtime_is_found(tmp_path, standin, hashed, monkeypatch):
    monkeypatch.setattr(pipeline, "_RACY_NS", 0)
    cfg = make_tree(tmp_path, FILES)
    _age(cfg)
    pipeline.extract_tree(cfg, jobs=1, progress=False)
    standin.clear()
    path = cfg.kernel_dir / "fs/inode.c"
    st = path.stat()
    path.write_text(path.read_text().replace("new_inode", "old_inode"))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # size and mtime as before
    report = pipeline.extract_tree(cfg, jobs=1, progress=False)
    assert hashed == ["inode.c"] and standin == ["fs/inode.c"] and report.parsed == 1
    with Store.open(cfg.store_path) as st:
        assert [f.file for f in st.find("functions", "old_inode")] == ["fs/inode.c"]
    standin.clear()
    hashed.clear()
    assert pipeline.extract_tree(cfg, jobs=1, progress=False).parsed == 0
    assert hashed == [] and standin == []  # signed again after the edit


def test_a_file_modified_just_now_is_hashed_every_time(tmp_path, standin, hashed):
    cfg = make_tree(tmp_path, FILES)  # written now: its stat could hide a later write
    pipeline.extract_tree(cfg, jobs=1, progress=False)
    for _ in range(2):
        hashed.clear()
        assert pipeline.extract_tree(cfg, jobs=1, progress=False).parsed == 0
        assert sorted(hashed) == ["af_inet.c", "inode.c", "net.h", "socket.c"]


def test_removed_file_loses_its_facts(tmp_path, standin):
    cfg = make_tree(tmp_path, FILES)
    pipeline.extract_tree(cfg, jobs=1, progress=False)
    (cfg.kernel_dir / "net/socket.c").unlink()
    report = pipeline.extract_tree(cfg, jobs=1, progress=False)
    assert (report.files, report.parsed, report.removed) == (3, 0, 1)
    with Store.open(cfg.store_path) as st:
        assert st.find("functions", "sock_alloc") == []
        assert st.in_file("calls", "net/socket.c") == []
        assert "net/socket.c" not in st.hashes()


def test_new_extractor_code_rebuilds_everything(tmp_path, standin, monkeypatch):
    cfg = make_tree(tmp_path, FILES)
    pipeline.extract_tree(cfg, jobs=1, progress=False)
    monkeypatch.setattr(pipeline, "fingerprint", lambda: "another-extractor")
    assert pipeline.extract_tree(cfg, jobs=1, progress=False).parsed == 4


def test_parallel_run_equals_serial_run(tmp_path, standin):
    files = {f"net/f{i}.c": f"int f{i}(void) {{ return g{i}(); }}\n" for i in range(40)}
    serial = make_tree(tmp_path / "a", files)
    parallel = make_tree(tmp_path / "b", files)
    pipeline.extract_tree(serial, jobs=1, progress=False)
    report = pipeline.extract_tree(parallel, jobs=2, progress=False)
    assert (report.parsed, report.jobs) == (40, 2)
    with Store.open(serial.store_path) as a, Store.open(parallel.store_path) as b:
        for kind in ("functions", "calls"):
            assert sorted(map(repr, a.all(kind))) == sorted(map(repr, b.all(kind)))
        assert a.hashes() == b.hashes()


def test_report_counts_warnings_and_errors(tmp_path, standin):
    cfg = make_tree(tmp_path, {**FILES, "net/bad.c": "int f( { WARNME }\n"})
    report = pipeline.extract_tree(cfg, jobs=1, progress=False)
    assert report.warnings == 1 and report.warning_files == ("net/bad.c",)
    assert report.error_files == 1 and 0 < report.error_bytes <= report.total_bytes
    text = report.summary()
    assert "5 files" in text and "net/bad.c" in text and "warnings: 1 in 1 files" in text
    assert json.loads(json.dumps(report.to_json()))["parsed"] == 5


def test_fingerprint_covers_the_extractor_sources():
    seen = pipeline._local_imports("store")
    assert "records" in seen and "errors" in seen
    names = {p.name for p in pipeline.fingerprint_files()}
    assert {"extract.py", "parse.py", "records.py", "store.py", "macros.toml"} <= names
    assert "primitives.toml" not in names  # the model's table
    assert any(n.endswith(".scm") for n in names)
    assert len(pipeline.fingerprint()) == 16


def test_analyze_runs_stages_and_skips_missing_ones(tmp_path, standin, monkeypatch, capsys):
    cfg = make_tree(tmp_path, FILES)
    present = {"analyzer.pipeline"}
    monkeypatch.setattr(pipeline, "_has_module", lambda name: name in present)
    pipeline.analyze(cfg, jobs=1, progress=False, docs=True)
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert list(lines) == ["fetch", "tree", "extract", "graph", "model", "docs"]
    assert "4 parsed" in lines["extract"] and "skipped" not in lines["extract"]
    for stage in ("fetch", "tree", "graph", "model", "docs"):
        assert "skipped" in lines[stage]
    assert Store.open(cfg.store_path).count("functions") == 3


def test_analyze_skips_the_graph_when_its_inputs_did_not_change(tmp_path, standin,
                                                               monkeypatch, capsys):
    import analyzer.graph

    cfg = make_tree(tmp_path, FILES)
    monkeypatch.setattr(pipeline, "_has_module",
                        lambda name: name in {"analyzer.pipeline", "analyzer.graph"})
    built = []

    def build(cfg, progress):
        built.append(1)
        cfg.graph_path.write_text(f"graph {len(built)}")

    monkeypatch.setattr(analyzer.graph, "build_graph_store", build)

    def graph_line() -> str:
        pipeline.analyze(cfg, jobs=1, progress=False, docs=False)
        return next(x for x in capsys.readouterr().out.splitlines() if x.startswith("graph"))

    assert "skipped" not in graph_line() and len(built) == 1
    assert "inputs did not change" in graph_line() and len(built) == 1
    (cfg.kernel_dir / "net/socket.c").write_text("int sock_alloc(void) { return 5; }\n")
    assert "skipped" not in graph_line() and len(built) == 2
    cfg.graph_path.write_text("replaced by hand")  # an output made elsewhere is made again
    assert "skipped" not in graph_line() and len(built) == 3
    cfg.graph_path.unlink()
    assert "skipped" not in graph_line() and len(built) == 4


CAST_TREE = {
    "net/socket.c": "struct a { int x; };\nstruct b { int y; };\n\n"
                    "int g(int x)\n{\n\treturn x;\n}\n\n"
                    "int f(int x)\n{\n\tint y = 0;\n\treturn g(x + y);\n}\n\n"
                    "struct b *to_b(struct a *p)\n{\n\treturn (struct b *)p;\n}\n",
}


def test_an_edit_that_changes_no_record_nor_a_line_the_graph_read_keeps_the_graph(
        tmp_path, monkeypatch, capsys):
    """The graph's inputs are the records and the lines it read itself (a short
    function's body, for casts), not the files' text."""
    cfg = make_tree(tmp_path, CAST_TREE)
    monkeypatch.setattr(pipeline, "_has_module",
                        lambda name: name in {"analyzer.pipeline", "analyzer.graph"})
    socket_c = cfg.kernel_dir / "net/socket.c"

    def graph_after(old: str, new: str) -> str:
        text = socket_c.read_text()
        assert text.count(old) == 1
        socket_c.write_text(text.replace(old, new))
        pipeline.analyze(cfg, jobs=1, progress=False, docs=False)
        return next(x for x in capsys.readouterr().out.splitlines() if x.startswith("graph"))

    assert "skipped" not in graph_after("int g(", "int g(")  # the first graph
    assert "skipped" in graph_after("int y = 0;", "int y = 5;")  # a value: no record
    assert "skipped" not in graph_after("(struct b *)p", "(struct a *)p")  # a line it read
    assert "skipped" in graph_after("\treturn x;", "\treturn x + 0;")  # not a cast: not read
    assert "skipped" not in graph_after("\treturn x + 0;", "\t;\n\treturn x;")  # lines move


def test_analyze_without_docs_stops_before_them(tmp_path, standin, monkeypatch, capsys):
    cfg = make_tree(tmp_path, FILES)
    monkeypatch.setattr(pipeline, "_has_module", lambda name: name == "analyzer.pipeline")
    pipeline.analyze(cfg, jobs=1, progress=False, docs=False)
    assert "docs" not in capsys.readouterr().out


def test_analyze_lets_a_stage_error_surface(tmp_path, standin, monkeypatch):
    import analyzer.graph

    cfg = make_tree(tmp_path, FILES)
    present = {"analyzer.pipeline", "analyzer.graph"}
    monkeypatch.setattr(pipeline, "_has_module", lambda name: name in present)

    def broken(cfg, progress):
        raise AnalyzerError("graph: something the user must fix")

    monkeypatch.setattr(analyzer.graph, "build_graph_store", broken)
    with pytest.raises(AnalyzerError, match="something the user must fix"):
        pipeline.analyze(cfg, jobs=1, progress=False, docs=False)


def test_has_module_tells_code_from_nothing():
    assert pipeline._has_module("analyzer.store")
    assert not pipeline._has_module("analyzer.no_such_stage")


# --- a run killed at any moment ------------------------------------------------

_CHILD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    import standin_extract
    from pathlib import Path
    from analyzer import pipeline, store
    from analyzer.config import Config

    pipeline._extractor = lambda: standin_extract.extract_file
    add = store.Writer.add

    def slow_add(self, stat, rows):
        add(self, stat, rows)
        print("added", flush=True)
        time.sleep({delay})

    store.Writer.add = slow_add
    enter = store.Writer.__enter__

    def small_cache_enter(self):  # spill uncommitted pages into the file early
        enter(self)
        self.conn.execute("PRAGMA cache_size={cache}")
        return self

    store.Writer.__enter__ = small_cache_enter
    pipeline.extract_tree(Config(Path({home!r})), jobs=1, progress=False)
    print("done", flush=True)
""")


def _run_and_kill(cfg: Config, after_lines: int, delay: float = 0.02,
                  cache: int = -65536) -> bool:
    """Run an extraction in a child and SIGKILL it after ``after_lines`` files
    were added to the open transaction; True if it finished first.  A small
    ``cache`` (pages) makes SQLite write uncommitted pages to the file."""
    code = _CHILD.format(tests=str(TESTS), home=str(cfg.home), delay=delay, cache=cache)
    env = {**os.environ, "PYTHONPATH": str(TESTS.parent)}
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                             text=True, env=env)
    for lines, line in enumerate(child.stdout, start=1):
        if line.startswith("done"):
            break
        if lines >= after_lines:
            child.send_signal(signal.SIGKILL)
            break
    child.wait()
    child.stdout.close()
    return child.returncode == 0


def _tree_files(version: int) -> dict[str, str]:
    return {f"net/m{i}.c": f"int v{version}_f{i}(void) {{ return g(); }}\n" for i in range(12)}


def _state(cfg: Config):
    """The files and function names the store holds, or None if there is none."""
    try:
        st = Store.open(cfg.store_path)
    except AnalyzerError:
        return None
    with st:
        return st.hashes(), sorted(f.name for f in st.all("functions"))


@pytest.mark.parametrize("cache", [-65536, 2])
@pytest.mark.parametrize("after", [1, 6, 12])
def test_killed_update_leaves_old_or_new_store(tmp_path, standin, after, cache):
    old_cfg = make_tree(tmp_path / "old", _tree_files(1))
    new_cfg = make_tree(tmp_path / "new", _tree_files(2))
    for c in (old_cfg, new_cfg):  # the expected old and new stores, made in-process
        pipeline.extract_tree(c, jobs=1, progress=False)
    old, new = _state(old_cfg), _state(new_cfg)
    assert old[1] != new[1]
    cfg = make_tree(tmp_path / "run", _tree_files(1))
    pipeline.extract_tree(cfg, jobs=1, progress=False)
    assert _state(cfg) == old
    make_tree(tmp_path / "run", _tree_files(2))
    finished = _run_and_kill(cfg, after_lines=after, cache=cache)
    state = _state(cfg)
    assert state == (new if finished else old)
    assert not finished or after >= 12  # the kill came while writing
    if not finished:  # and the next run completes the work
        assert _run_and_kill(cfg, after_lines=10**6, delay=0)
        assert _state(cfg) == new


#: what a finished extraction leaves in build/: the store and the record of its quick check
_STORE_FILES = [".analysis.sqlite.checked", "analysis.sqlite"]


@pytest.mark.parametrize("after", [1, 11])
def test_killed_first_run_leaves_no_store(tmp_path, after):
    cfg = make_tree(tmp_path, _tree_files(1))
    assert not _run_and_kill(cfg, after_lines=after)
    assert _state(cfg) is None
    with pytest.raises(AnalyzerError, match="run `kernel-analyzer analyze`"):
        Store.open(cfg.store_path)
    assert _run_and_kill(cfg, after_lines=10**6, delay=0)
    assert len(_state(cfg)[0]) == 12
    assert sorted(p.name for p in cfg.build_dir.iterdir()) == _STORE_FILES


@pytest.mark.parametrize(("fraction", "jobs"), [(0.3, 1), (0.7, 2), (0.95, 2)])
def test_killed_at_a_random_moment_leaves_old_or_new(tmp_path, fraction, jobs):
    """Unpatched run (its process group) killed at a fraction of its measured duration."""
    files = {f"net/k{i}.c": "int f(void) { return g(); }\n" * 200 for i in range(30)}
    cfg = make_tree(tmp_path, files)
    script = (f"from analyzer import pipeline; import standin_extract; "
              f"pipeline._extractor = lambda: standin_extract.extract_file; "
              f"from analyzer.config import Config; from pathlib import Path; "
              f"pipeline.extract_tree(Config(Path({str(cfg.home)!r})), jobs={jobs}, "
              f"progress=False)")
    env = {**os.environ, "PYTHONPATH": f"{TESTS.parent}{os.pathsep}{TESTS}"}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", script], env=env, check=True)
    duration = time.perf_counter() - start
    old = _state(cfg)
    for rel in files:
        (cfg.kernel_dir / rel).write_text("int h(void) { return 1; }\n" * 150)
    child = subprocess.Popen([sys.executable, "-c", script], env=env, start_new_session=True)
    time.sleep(duration * fraction)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    state = _state(cfg)
    assert state == old or (state is not None and set(state[1]) == {"h"})
    subprocess.run([sys.executable, "-c", script], env=env, check=True)
    assert set(_state(cfg)[1]) == {"h"}
    assert sorted(p.name for p in cfg.build_dir.iterdir()) == _STORE_FILES  # no scratch left


def test_workers_die_with_their_parent(tmp_path):
    files = {f"net/k{i}.c": "int f(void) { return g(); }\n" * 400 for i in range(40)}
    cfg = make_tree(tmp_path, files)
    script = (f"from analyzer import pipeline; import standin_extract, os; "
              f"pipeline._extractor = lambda: standin_extract.extract_file; "
              f"from analyzer.config import Config; from pathlib import Path; "
              f"pipeline.extract_tree(Config(Path({str(cfg.home)!r})), jobs=2, progress=False)")
    env = {**os.environ, "PYTHONPATH": f"{TESTS.parent}{os.pathsep}{TESTS}"}
    child = subprocess.Popen([sys.executable, "-c", script], env=env)
    workers: list[int] = []
    for _ in range(200):  # wait for the pool
        time.sleep(0.02)
        with open(f"/proc/{child.pid}/task/{child.pid}/children") as f:
            workers = [int(p) for p in f.read().split()]
        if len(workers) >= 2:
            break
    child.send_signal(signal.SIGKILL)  # the parent alone
    child.wait()

    def alive() -> list[int]:
        def running(pid: int) -> bool:
            try:
                return "zombie" not in Path(f"/proc/{pid}/status").read_text()
            except OSError:  # gone
                return False
        return [p for p in workers if running(p)]

    for _ in range(100):  # a busy machine may take a moment to deliver the signal
        if not alive():
            break
        time.sleep(0.05)
    assert workers and not alive()


def test_a_stage_beside_the_model_runs_in_a_worker_and_its_error_surfaces(tmp_path):
    cfg = Config(tmp_path)  # no tree: the graph stage, in the worker, says how to fetch it
    with pytest.raises(AnalyzerError, match="is missing: run `kernel-analyzer fetch`"), \
            pipeline._Beside(2) as beside:
        assert beside.pool is None  # made for the first stage
        beside.run(pipeline._graph_stage, cfg, "some key", False)
        assert beside.pool is not None


def test_with_one_job_the_stages_beside_the_model_run_right_here(tmp_path):
    ran = []
    with pipeline._Beside(1) as beside:
        beside.run(ran.append, os.getpid())
        assert ran == [os.getpid()] and beside.pool is None
