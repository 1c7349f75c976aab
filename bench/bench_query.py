"""Benchmark of the graph stage and of queries, beside cscope, in one run.

Measures on the analysed tree (``make analyze`` first; the store must exist):
graph build time (``python -m analyzer graph``), ``load()`` time, in-process
latency of ``callers``/``callees``/``resolve``/``path``, and the end-to-end
wall time of ``python -m analyzer query callers|callees X`` (process start
included) beside ``cscope -d -L -3 X`` / ``-2 X`` on a cscope database built
in the same run over the same files (the C files of net/, fs/, include/).
Prints the figures and the ratios, and writes them to build/bench_query.json.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import median_time  # noqa: E402

from analyzer.config import Config

NAMES = ["sock_alloc_inode", "inet_create", "tcp_v4_connect", "sock_sendmsg"]
RUNS = 7


def _median_wall(cmd: list[str], runs: int = RUNS, **kw) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, **kw)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _ensure_cscope() -> str:
    path = shutil.which("cscope")
    if path is None:
        subprocess.run(["apt-get", "install", "-y", "cscope"], check=True, capture_output=True)
        path = shutil.which("cscope")
    return path


def _cscope_db(cfg: Config, work: Path) -> tuple[Path, float]:
    files = sorted(str(p) for part in ("net", "fs", "include")
                   for p in (cfg.kernel_dir / part).rglob("*") if p.suffix in (".c", ".h"))
    (work / "files").write_text("\n".join(files) + "\n")
    t0 = time.perf_counter()
    subprocess.run(["cscope", "-b", "-k", "-q", "-i", "files", "-f", "cscope.out"],
                   cwd=work, check=True, capture_output=True)
    return work / "cscope.out", time.perf_counter() - t0


def _graph_build(cfg: Config) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "analyzer", "--home", str(cfg.home), "graph", "-q"],
                   check=True, capture_output=True)
    return time.perf_counter() - t0


def _load_time(cfg: Config) -> tuple[float, float]:
    """``load()`` and then the first ``kg.graph`` (the networkx graph), in a
    fresh process each time: medians of 3."""
    code = ("import time, analyzer; t = time.perf_counter(); kg = analyzer.load(); "
            "t1 = time.perf_counter(); kg.graph; t2 = time.perf_counter(); "
            "print(t1 - t, t2 - t1)")
    env = {**os.environ, "ANALYZER_HOME": str(cfg.home)}
    runs = [tuple(map(float, subprocess.run([sys.executable, "-c", code], check=True, env=env,
                                            capture_output=True, text=True).stdout.split()))
            for _ in range(3)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def _in_process(cfg: Config) -> dict[str, float]:
    from analyzer.api import load

    kg = load(cfg.graph_path)
    return {
        "graph.neighbourhood": median_time(lambda: kg.neighbourhood("inet_create"), 5),
        "callers": median_time(lambda: kg.callers("sock_alloc_inode"), 200),
        "callees": median_time(lambda: kg.callees("inet_create"), 200),
        "resolve": median_time(lambda: kg.resolve("__sock_create", "pf->create",
                                                   family="AF_INET"), 50),
        "path": median_time(lambda: kg.path("SyS_socket", "tcp_init_sock"), 20),
    }


def _cli_vs_cscope(cfg: Config, db: Path) -> list[dict]:
    rows = []
    for name in NAMES:
        ours = {q: _median_wall([sys.executable, "-m", "analyzer", "--home", str(cfg.home),
                                 "query", q, name]) for q in ("callers", "callees")}
        theirs = {q: _median_wall(["cscope", "-d", "-L", flag, name, "-f", db.name],
                                  cwd=db.parent) for q, flag in (("callers", "-3"),
                                                                  ("callees", "-2"))}
        rows.append({"name": name, "ours": ours, "cscope": theirs})
    return rows


def main() -> int:
    cfg = Config.default()
    if not cfg.store_path.is_file():
        print("no store: run `make analyze` first", file=sys.stderr)
        return 2
    _ensure_cscope()
    result: dict = {"load_average": os.getloadavg()[0]}
    result["graph_build_s"] = _graph_build(cfg)
    result["load_s"], result["graph_first_use_s"] = _load_time(cfg)
    result["in_process_s"] = _in_process(cfg)
    with tempfile.TemporaryDirectory() as tmp:
        db, result["cscope_build_s"] = _cscope_db(cfg, Path(tmp))
        result["cli"] = _cli_vs_cscope(cfg, db)
    _print(result)
    out = cfg.build_dir / "bench_query.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"(written to {out})")
    return 0


def _print(r: dict) -> None:
    print(f"load average at start: {r['load_average']:.2f} (2 cores)")
    print(f"graph build (python -m analyzer graph): {r['graph_build_s']:.2f} s; "
          f"cscope -b -k -q on the same files: {r['cscope_build_s']:.2f} s "
          f"(ratio {r['graph_build_s'] / r['cscope_build_s']:.1f}x)")
    print(f"load(): {r['load_s']:.3f} s (target 1.5 s); first kg.graph (unpickling the "
          f"networkx graph): {r['graph_first_use_s']:.3f} s; together "
          f"{r['load_s'] + r['graph_first_use_s']:.3f} s")
    for q, s in r["in_process_s"].items():
        print(f"in-process {q}: {s * 1e3:.3f} ms")
    print(f"{'query':32} {'ours (ms)':>10} {'cscope (ms)':>12} {'ratio':>7}")
    for row in r["cli"]:
        for q in ("callers", "callees"):
            ours, theirs = row["ours"][q] * 1e3, row["cscope"][q] * 1e3
            print(f"{q + ' ' + row['name']:32} {ours:10.1f} {theirs:12.1f} "
                  f"{ours / theirs:7.2f}")


if __name__ == "__main__":
    sys.exit(main())
