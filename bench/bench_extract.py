"""Extraction speed against its floor and its peers, measured in one run.

Takes the C files (``*.c``, ``*.h``) of ``net/``, ``fs/``, ``include/`` of the
fetched tree (``cfg.kernel_dir``) and prints a table of wall times (medians of
a few runs) with their ratios to the targets of issue 3:

- cold: ``python -m analyzer extract`` into a fresh store (jobs = cores);
- floor: a bare tree-sitter parse of the same files over the same number of
  processes (read + ``Parser.parse``, nothing else);
- for reference, the parse plus one pass of the extractor's query over each
  tree (nodes made, nothing read from them): what any extractor that reads
  tree-sitter trees must at least do;
- ``cscope -b -k`` and ``ctags`` (Universal Ctags) over the same file list,
  installed from Debian's packages when missing;
- warm: the same extraction again, nothing changed;
- peak memory: the largest sum of RSS over the extraction's process tree.

Usage: ``python bench/bench_extract.py [--runs N] [--jobs N] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from analyzer.config import Config  # noqa: E402
from analyzer.pipeline import discover  # noqa: E402

TARGETS = {"cold/floor": 2.0, "cold/cscope": 3.0, "warm/cscope": 0.5}
#: what no tree-sitter extractor can go under: the floor, and the parse with one
#: query pass over each tree, against cscope
REFERENCE = ("floor/cscope", "read/cscope", "read/floor")
MEMORY_TARGET = 2 * 1024**3
PEERS = {"cscope": "cscope", "ctags": "universal-ctags"}


# --- measuring ----------------------------------------------------------------

def _tree_rss(pid: int) -> int:
    """Sum of VmRSS (bytes) of ``pid`` and all its descendants."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


@dataclass(frozen=True)
class Sample:
    wall: float  # seconds
    cpu: float  # user + system seconds of the whole process tree
    peak: int  # largest sum of RSS over the process tree, bytes


def run(cmd: list[str], cwd: Path | None = None) -> Sample:
    """Run ``cmd`` and measure it."""
    peak = [0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.decode()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Sample(wall, cpu, peak[0])


# --- the floor ------------------------------------------------------------------

def _parse_one(path: str) -> int:
    from tree_sitter import Language, Parser

    global _PARSER
    if _PARSER is None:
        import tree_sitter_c

        _PARSER = Parser(Language(tree_sitter_c.language()))
    with open(path, "rb") as f:
        return _PARSER.parse(f.read()).root_node.end_byte


_PARSER = None


def _read_one(path: str) -> int:
    """Parse, then run the extractor's query over the tree once (the nodes are
    made but nothing is read from them): the least any extractor that reads
    tree-sitter trees must do."""
    from analyzer import parse

    with open(path, "rb") as f:
        tree = parse.parser().parse(f.read())
    return sum(len(v) for v in parse.captures("facts", tree.root_node).values())


def floor(list_file: str, jobs: int, one=_parse_one) -> None:
    """Read and parse every file of ``list_file`` over ``jobs`` processes."""
    from multiprocessing import get_context

    paths = Path(list_file).read_text().split("\n")
    paths = sorted((p for p in paths if p), key=lambda p: -os.path.getsize(p))
    if jobs <= 1:
        total = sum(map(one, paths))
    else:
        with get_context("fork").Pool(jobs) as pool:
            total = sum(pool.imap_unordered(one, paths, chunksize=8))
    print(total)


# --- peers ----------------------------------------------------------------------

def ensure_peers() -> None:
    """Install cscope and Universal Ctags from Debian's packages if missing."""
    missing = [pkg for tool, pkg in PEERS.items() if shutil.which(tool) is None]
    if missing:
        print(f"installing {' '.join(missing)} ...", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True,
                       stdout=subprocess.DEVNULL)


# --- the table -------------------------------------------------------------------

def measure(cfg: Config, runs: int, jobs: int) -> dict:
    files = discover(cfg)
    work = Path(tempfile.mkdtemp(prefix="bench-extract-"))
    try:
        return _measure(cfg, files, work, runs, jobs)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _measure(cfg: Config, files: list[str], work: Path, runs: int, jobs: int) -> dict:
    list_file = work / "files"
    list_file.write_text("".join(f"{cfg.kernel_dir / f}\n" for f in files))
    home = work / "home"
    home.mkdir()
    (home / "kernel-src").symlink_to(cfg.kernel_root)
    code = work / "code"  # a snapshot: edits made during the bench do not count
    shutil.copytree(HERE.parent / "analyzer", code / "analyzer",
                    ignore=shutil.ignore_patterns("__pycache__"))
    py = sys.executable
    store = home / "build" / "analysis.sqlite"
    cmds = {
        "floor": ([py, __file__, "--floor", str(list_file), "--jobs", str(jobs)], None),
        "read": ([py, str(HERE / "bench_extract.py"), "--read", str(list_file), "--jobs",
                  str(jobs)], code),
        "cold": ([py, "-m", "analyzer", "--home", str(home), "extract", "-q", "-j", str(jobs)],
                 code),
        "cscope": (["cscope", "-b", "-k", "-u", "-i", str(list_file), "-f", "cscope.out"], work),
        "cscope -q": (["cscope", "-b", "-k", "-q", "-u", "-i", str(list_file),
                       "-f", "cscope-q.out"], work),
        "ctags": (["ctags", "-L", str(list_file), "--languages=C", "--langmap=C:.c.h",
                   "-f", "tags"], work),
    }
    samples: dict[str, list[Sample]] = {name: [] for name in [*cmds, "warm"]}
    for _ in range(runs):  # rounds: each measure sees the same load as the others
        shutil.rmtree(store.parent, ignore_errors=True)
        for name, (cmd, cwd) in cmds.items():
            samples[name].append(run(cmd, cwd))
        samples["warm"].append(run(*cmds["cold"]))  # the store is there: nothing to do
    res: dict = {"files": len(files), "jobs": jobs, "runs": runs,
                 "bytes": sum((cfg.kernel_dir / f).stat().st_size for f in files),
                 "store_bytes": store.stat().st_size}
    for name, got in samples.items():
        res[name] = {"wall": statistics.median(s.wall for s in got),
                     "cpu": statistics.median(s.cpu for s in got),
                     "walls": [round(s.wall, 3) for s in got]}
    res["peak_rss"] = max(s.peak for s in samples["cold"])
    res["ratios"] = _ratios(samples, TARGETS)
    res["reference"] = _ratios(samples, REFERENCE)
    return res


def _ratios(samples: dict[str, list[Sample]], names) -> dict[str, dict[str, float]]:
    """Each ratio as the median of its per-round ratios (wall and CPU)."""
    out = {}
    for name in names:
        a, b = name.split("/")
        out[name] = {kind: statistics.median(getattr(x, kind) / getattr(y, kind)
                                             for x, y in zip(samples[a], samples[b],
                                                             strict=True))
                     for kind in ("wall", "cpu")}
    return out


def table(res: dict) -> str:
    mb = res["bytes"] / 1e6
    rows = [f"{res['files']:,} C files of net/ fs/ include/ ({mb:.1f} MB), "
            f"{res['jobs']} jobs, medians of {res['runs']} rounds",
            f"{'measure':<36}{'wall s':>8}{'cpu s':>8}"]
    labels = {"cold": "ours, cold (fresh store)", "warm": "ours, warm (nothing changed)",
              "floor": "floor: bare tree-sitter parse",
              "read": "parse + one query pass (reference)", "cscope": "cscope -b -k",
              "cscope -q": "cscope -b -k -q (for reference)",
              "ctags": "ctags (Universal Ctags)"}
    for key, label in labels.items():
        rows.append(f"{label:<36}{res[key]['wall']:>8.2f}{res[key]['cpu']:>8.2f}")
    rows += ["", f"{'ratio':<14}{'wall':>7}{'cpu':>7}{'target':>9}  met (wall)"]
    for name, value in res["ratios"].items():
        target = TARGETS[name]
        op = "<" if name.startswith("warm") else "<="
        ok = value["wall"] < target if op == "<" else value["wall"] <= target
        rows.append(f"{name:<14}{value['wall']:>7.2f}{value['cpu']:>7.2f}"
                    f"{op + ' ' + str(target):>9}  {'yes' if ok else 'NO'}")
    for name, value in res["reference"].items():
        rows.append(f"{name:<14}{value['wall']:>7.2f}{value['cpu']:>7.2f}{'':>9}  (reference)")
    gib = res["peak_rss"] / 1024**3
    rows.append(f"{'peak memory':<14}{gib:>7.2f} GiB{'< 2 GiB':>12}  "
                f"{'yes' if res['peak_rss'] < MEMORY_TARGET else 'NO'}")
    rows.append(f"(store {res['store_bytes'] / 1e6:.0f} MB; wall times per round: "
                + "; ".join(f"{k} {res[k]['walls']}" for k in ("cold", "floor", "cscope"))
                + f"; load average now {os.getloadavg()[0]:.1f})")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="runs per measure (median)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", action="store_true", help="also print the figures as JSON")
    ap.add_argument("--floor", metavar="FILE_LIST", help=argparse.SUPPRESS)
    ap.add_argument("--read", metavar="FILE_LIST", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.floor:
        floor(args.floor, args.jobs)
        return 0
    if args.read:
        sys.path.insert(0, os.getcwd())  # the snapshot of the analyzer code
        floor(args.read, args.jobs, _read_one)
        return 0
    ensure_peers()
    res = measure(Config.default(), args.runs, args.jobs)
    print(table(res))
    if args.json:
        print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
