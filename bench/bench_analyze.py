"""Benchmark of `analyze` when nothing changed and after a one-line edit, beside cscope.

Works on a copy of the analysed home (``make analyze`` first): the fetched tree and
build/ are copied into a temporary home, so the project's own tree and build are
never touched.  In that home: one `analyze` to settle it (paths differ from the
original home's), then the timed runs of ``python -m analyzer analyze``:

- no change: everything up to date;
- edit: ``ei->socket.flags = 0;`` becomes ``5`` in net/socket.c, then `analyze`
  until the model and the site show it; ``--edits N`` (default 3) such one-line
  edits in turn (``0`` -> ``5``, ``5`` -> ``0``, ...), the median given with each
  (the boot runs that line: the kernel's own sockets are made at boot, so both
  boots of the model run again);
- edit outside the boot: ``err = -EINVAL;`` becomes ``-EFAULT`` in ``inet_bind``
  (net/ipv4/af_inet.c), which no initcall reaches, so the boot images stay in use
  (analyzer/model/bootinputs.py); then put back;

with ``--graph``, only the graph stage: ``extract`` alone in an empty home holding
the tree, then the graph written anew there (their ratio, each stage alone; ``--runs N``
pairs in turn, the median pair given), then
after a line added to net/socket.c (lines below it shift) and ``extract``,
``python -m analyzer graph`` updating the copied home's database (the rows that differ);
and, with ``--cold`` (``$KERNEL_TARBALL`` set), a cold ``analyze`` in an empty home
(fetch from the tarball included, the virtual environment excluded), with the
ratio of its graph stage to its extraction and the peak memory of the runs; each
beside ``cscope -b -k`` over the same files (the C files of net/, fs/, include/;
median of 3 builds in the same run), with the stage-by-stage times that `analyze`
prints.  Writes the figures to build/bench_analyze.json of the project.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from analyzer.config import Config

OLD = b"\tei->socket.flags = 0;\n"
NEW = b"\tei->socket.flags = 5;\n"
#: a line of inet_bind (net/ipv4/af_inet.c), code no initcall reaches
BIND_OLD = b"\terr = -EINVAL;\n\tif (addr_len < sizeof(struct sockaddr_in))"
BIND_NEW = b"\terr = -EFAULT;\n\tif (addr_len < sizeof(struct sockaddr_in))"


def _cscope(tree: Path, work: Path, runs: int = 3) -> float:
    if shutil.which("cscope") is None:
        sys.exit("cscope is not installed (apt-get install cscope)")
    files = sorted(str(p) for part in ("net", "fs", "include")
                   for p in (tree / part).rglob("*") if p.suffix in (".c", ".h"))
    (work / "files").write_text("\n".join(files) + "\n")
    times = []
    for _ in range(runs):
        for old in work.glob("cscope.out*"):
            old.unlink()
        t0 = time.perf_counter()
        subprocess.run(["cscope", "-b", "-k", "-i", "files", "-f", "cscope.out"], cwd=work,
                       check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _analyze(home: Path) -> tuple[float, list[str]]:
    env = {**os.environ, "ANALYZER_HOME": str(home)}
    env.pop("KERNEL_TREE", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "analyzer", "analyze", "-q"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = threading.Thread(target=_sample_tree, args=(proc,), daemon=True)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - t0
    sampler.join()
    if proc.returncode:
        sys.exit(f"analyze failed: {err.strip()[-2000:]}")
    return seconds, [line for line in out.splitlines() if not line.startswith("home")]


_PEAK = [0]  # the largest sum of the proportional set sizes of a run's processes, in bytes


def _sample_tree(proc: subprocess.Popen, every: float = 0.2) -> None:
    """Sum the memory of ``proc`` and its descendants (the extraction's and the
    stages' worker processes run at once) every ``every`` s, from /proc: each
    process's proportional set size (shared pages, as a forked worker's, counted
    once over the processes that share them)."""
    while proc.poll() is None:
        parent = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
        tree, grew = {proc.pid}, True
        while grew:
            grew = False
            for pid, ppid in parent.items():
                if ppid in tree and pid not in tree:
                    tree.add(pid)
                    grew = True
        _PEAK[0] = max(_PEAK[0], sum(_pss(pid) for pid in tree))
        time.sleep(every)


def _pss(pid: int) -> int:
    """The proportional set size of a process in bytes (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


_STAGE = re.compile(r"^(\w+)\s+([\d.]+) s\b")


def _stage_seconds(lines: list[str]) -> dict[str, float]:
    """stage -> seconds, from the lines `analyze` prints (skipped stages left out)."""
    return {m.group(1): float(m.group(2)) for line in lines if (m := _STAGE.match(line))}


def _peak_mib() -> int:
    """The largest memory in use at once by the runs so far (the sum of the
    proportional set sizes of a run's processes, sampled), in MiB; at least the
    largest single process's resident set (getrusage), which sampling may miss."""
    single = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return max(_PEAK[0], single) // (1024 * 1024)


def _cold(tmp: Path, cscope: float) -> dict:
    """A cold `analyze` in an empty home, fetching from $KERNEL_TARBALL."""
    if not os.environ.get("KERNEL_TARBALL"):
        sys.exit("--cold needs KERNEL_TARBALL (a local linux-4.4.1 tarball)")
    seconds, lines = _analyze(tmp / "cold")
    stages = _stage_seconds(lines)
    extract, graph = stages.get("extract", 0.0), stages.get("graph", 0.0)
    return {"cold_s": round(seconds, 2), "cold_ratio": round(seconds / cscope, 2),
            "cold_stages_s": stages,
            "graph_over_extract": round(graph / extract, 2) if extract else None,
            "cold_peak_mib": _peak_mib(), "cold_lines": lines}


def _run(home: Path, *args: str) -> tuple[float, list[str]]:
    """``python -m ANALYZER ARGS`` in ``home``: seconds and its output lines."""
    env = {**os.environ, "ANALYZER_HOME": str(home)}
    env.pop("KERNEL_TREE", None)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode:
        sys.exit(f"{' '.join(args)} failed: {done.stderr.strip()[-2000:]}")
    return seconds, (done.stdout + done.stderr).splitlines()


_FULL = ("from analyzer.config import Config; from analyzer.graph import build_graph_store; "
         "build_graph_store(Config.default(), progress=True, update=False)")


def _laps(lines: list[str]) -> list[str]:
    """The lines of the graph stage's laps (read, built, wrote or updated)."""
    return [x for x in lines if x.startswith(("graph: read", "graph: built", "graph: wrote",
                                              "graph: updated"))]


def _graph(home: Path, cscope: float, runs: int) -> dict:
    """The extraction alone in an empty home holding the tree, then the graph
    stage written anew there, ``runs`` times in turn (the machine's speed
    drifts: each pair's ratio is of two runs next to each other; the median
    pair is given), then the graph of ``home`` updated after a line added to
    net/socket.c."""
    fresh = home.parent / "fresh"
    shutil.copytree(Config(home).fetched_dir, Config(fresh).fetched_dir, symlinks=True)
    pairs = []
    for i in range(runs):
        shutil.rmtree(Config(fresh).build_dir, ignore_errors=True)
        extract_alone, _ = _run(fresh, "-m", "analyzer", "extract", "-q")
        full, full_lines = _run(fresh, "-c", _FULL)
        pairs.append((full / extract_alone, extract_alone, full, full_lines))
        print(f"run {i + 1}: extraction alone (empty build/) {extract_alone:6.2f} s, graph "
              f"written anew {full:6.2f} s: graph/extract {full / extract_alone:.2f}")
    ratio, extract_alone, full, full_lines = sorted(pairs)[len(pairs) // 2]
    ratio = round(ratio, 2)
    print(f"{'extraction alone (empty build/), median pair':<46} {extract_alone:7.2f} s  = "
          f"{extract_alone / cscope:5.2f}x cscope")
    socket_c = Config(home).fetched_dir / "net/socket.c"
    socket_c.write_bytes(socket_c.read_bytes().replace(OLD, b"\t/* a line */\n" + OLD, 1))
    extract, _ = _run(home, "-m", "analyzer", "extract", "-q")
    update, update_lines = _run(home, "-m", "analyzer", "graph")
    figures = {"extract_alone_s": round(extract_alone, 2), "graph_full_s": round(full, 2),
               "graph_over_extract_alone": ratio,
               "graph_over_extract_runs": [round(p[0], 2) for p in pairs],
               "graph_edit_extract_s": round(extract, 2),
               "graph_update_s": round(update, 2),
               "graph_full_lines": _laps(full_lines), "graph_update_lines": _laps(update_lines)}
    print(f"{'graph written anew, alone, median pair':<46} {full:7.2f} s  = "
          f"{full / cscope:5.2f}x cscope; graph/extract {ratio}")
    for line in figures["graph_full_lines"]:
        print(f"    {line[:150]}")
    print(f"{'a line added to net/socket.c: extract':<46} {extract:7.2f} s")
    print(f"{'  then graph (updated)':<46} {update:7.2f} s  = {update / cscope:5.2f}x cscope")
    for line in figures["graph_update_lines"]:
        print(f"    {line[:150]}")
    return figures


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python bench/bench_analyze.py",
        description="`analyze` with nothing changed and after one-line edits of "
                    "net/socket.c, beside `cscope -b -k` over the same files, on a copy "
                    "of this home's analysis (run `make analyze` first); figures also "
                    "written to build/bench_analyze.json.")
    ap.add_argument("--cold", action="store_true",
                    help="also a cold `analyze` in an empty home (needs $KERNEL_TARBALL)")
    ap.add_argument("--graph", action="store_true",
                    help="only the graph stage: written anew, then updated after an edit")
    ap.add_argument("--edits", type=int, default=3, metavar="N",
                    help="one-line edits timed in turn, the median given (default 3)")
    ap.add_argument("--runs", type=int, default=3, metavar="N",
                    help="with --graph: extraction and graph timed N times in turn, the "
                         "median pair given (default 3)")
    return ap


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.edits < 1 or args.runs < 1:
        sys.exit("--edits and --runs: at least 1")
    cold, only_graph = args.cold, args.graph
    cfg = Config.default()
    if not cfg.store_path.is_file() or not (cfg.fetched_dir / "net/socket.c").is_file():
        sys.exit(f"no analysis at {cfg.home}: run `make analyze` first")
    with tempfile.TemporaryDirectory(prefix="bench-analyze-") as tmp:
        home = Path(tmp) / "home"
        copy = Config(home)
        shutil.copytree(cfg.fetched_dir, copy.fetched_dir, symlinks=True)
        shutil.copytree(cfg.build_dir, copy.build_dir, symlinks=True,
                        ignore=shutil.ignore_patterns(".*.tmp", ".site-*", "bench_*"))
        cscope = _cscope(copy.fetched_dir, Path(tmp))
        if only_graph:
            print(f"cscope -b -k (net/ fs/ include/, median of 3)   {cscope:7.2f} s")
            figures = {"cscope_build_s": round(cscope, 2), **_graph(home, cscope, args.runs)}
            cfg.build_dir.mkdir(exist_ok=True)
            (cfg.build_dir / "bench_graph.json").write_text(json.dumps(figures, indent=2))
            return
        cold_figures = _cold(Path(tmp), cscope) if cold else {}
        settle, _ = _analyze(home)
        same, same_lines = _analyze(home)
        socket_c = copy.fetched_dir / "net/socket.c"
        edits = []
        for i in range(args.edits):  # 0 -> 5, 5 -> 0, ...: each a one-line edit
            old, new = (OLD, NEW) if i % 2 == 0 else (NEW, OLD)
            socket_c.write_bytes(socket_c.read_bytes().replace(old, new))
            edits.append(_analyze(home))
        edit, edit_lines = sorted(edits)[len(edits) // 2]
        again, again_lines = _analyze(home)
        af_inet = copy.fetched_dir / "net/ipv4/af_inet.c"
        original = af_inet.read_bytes()
        af_inet.write_bytes(original.replace(BIND_OLD, BIND_NEW, 1))
        outside, outside_lines = _analyze(home)
        af_inet.write_bytes(original)
    figures = {"cscope_build_s": round(cscope, 2), "settle_s": round(settle, 2),
               "no_change_s": round(same, 2), "no_change_ratio": round(same / cscope, 2),
               "edit_s": round(edit, 2), "edit_ratio": round(edit / cscope, 2),
               "edit_runs_s": [round(t, 2) for t, _ in edits],
               "no_change_after_edit_s": round(again, 2),
               "edit_outside_boot_s": round(outside, 2),
               "edit_outside_boot_ratio": round(outside / cscope, 2),
               "stages": {"no_change": same_lines, "edit": edit_lines,
                          "no_change_after_edit": again_lines,
                          "edit_outside_boot": outside_lines},
               "peak_mib": _peak_mib(), **cold_figures}
    print(f"cscope -b -k (net/ fs/ include/, median of 3)   {cscope:7.2f} s")
    runs = ", ".join(f"{t:.2f}" for t in figures["edit_runs_s"])
    for name, key in (("no-change analyze", "no_change"), ("edit one line + analyze", "edit"),
                      ("no-change after the edit", "no_change_after_edit"),
                      ("edit inet_bind (outside the boot) + analyze", "edit_outside_boot")):
        seconds = figures[f"{key}_s"]
        median = f"  (median of {runs} s)" if key == "edit" and len(edits) > 1 else ""
        print(f"{name:<46} {seconds:7.2f} s  = {seconds / cscope:5.2f}x cscope{median}")
        for line in figures["stages"][key]:
            print(f"    {line[:110]}")
    if cold:
        print(f"{'cold analyze (fetch included)':<46} {figures['cold_s']:7.2f} s  = "
              f"{figures['cold_ratio']:5.2f}x cscope; graph/extract "
              f"{figures['graph_over_extract']} (the graph beside the model, on one core; "
              f"each alone: --graph); peak {figures['cold_peak_mib']} MiB")
        for line in figures["cold_lines"]:
            print(f"    {line[:110]}")
    print(f"peak memory of the runs: {figures['peak_mib']} MiB")
    cfg.build_dir.mkdir(exist_ok=True)
    (cfg.build_dir / "bench_analyze.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
