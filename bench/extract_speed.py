"""Time a bare tree-sitter parse against parse + extract, one process.

Takes the C files (``*.c``, ``*.h``) of net/, fs/ and include/ of the fetched
tree (or the folders given), prints the wall and CPU times of a bare parse,
of preprocess + parse and of the whole extraction, and their ratios.
Usage: ``python bench/extract_speed.py [--limit N] [--jobs N] [parts...]``.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from analyzer import parse
from analyzer.config import DEFAULT_PARTS, Config
from analyzer.extract import extract_file

__all__ = ["c_files", "main"]


def c_files(root: Path, parts) -> list[Path]:
    """The ``.c`` and ``.h`` files under ``root/part`` for each part, sorted."""
    return sorted(p for part in parts for p in (root / part).rglob("*")
                  if p.suffix in (".c", ".h") and p.is_file())


def _interleaved(files: list[tuple[str, bytes]]) -> dict[str, list[float]]:
    """Per file, a bare parse, a preprocess+parse and a full extraction one
    after the other, so that the load of other processes hits all three
    alike; wall and CPU seconds summed per stage."""
    p = parse.parser()
    stages = {"bare parse": lambda rel, src: p.parse(src),
              "preprocess+parse": lambda rel, src: parse.parse(src),
              "extract_file": extract_file}
    totals = {name: [0.0, 0.0] for name in stages}
    for rel, src in files:
        for name, fn in stages.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fn(rel, src)
            totals[name][0] += time.perf_counter() - wall
            totals[name][1] += time.process_time() - cpu
    return totals


def _bare_file(path: str) -> int:
    return parse.parser().parse(Path(path).read_bytes()).root_node.end_byte


def _extract_path(job: tuple[str, str]) -> int:
    root, rel = job
    return len(extract_file(rel, (Path(root) / rel).read_bytes()).functions)


def _pooled(root: Path, paths: list[Path], jobs: int) -> None:
    """Wall time of a bare parse and of extract_file over ``jobs`` processes
    (each reads its files itself, as the pipeline does)."""
    rels = [str(p.relative_to(root)) for p in paths]
    results = {}
    for name, fn, items in (("bare parse", _bare_file, [str(p) for p in paths]),
                            ("extract_file", _extract_path, [(str(root), r) for r in rels])):
        start = time.perf_counter()
        with ProcessPoolExecutor(jobs) as pool:
            list(pool.map(fn, items, chunksize=16))
        results[name] = time.perf_counter() - start
    bare = results["bare parse"]
    print(f"{len(paths)} files, {jobs} processes")
    for name, wall in results.items():
        print(f"{name:17} wall {wall:6.2f} s ({wall / bare:.2f}x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("parts", nargs="*", default=list(DEFAULT_PARTS))
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=0,
                    help="also time both over this many processes (wall only)")
    args = ap.parse_args()
    root = Config.default().kernel_dir
    paths = c_files(root, args.parts)
    if args.limit:
        paths = paths[:: max(1, len(paths) // args.limit)]
    files = [(str(p.relative_to(root)), p.read_bytes()) for p in paths]
    totals = _interleaved(files)
    bare_wall, bare_cpu = totals["bare parse"]
    print(f"{len(files)} files, {sum(len(s) for _, s in files) / 1e6:.1f} MB, one process")
    for name, (wall, cpu) in totals.items():
        print(f"{name:17} wall {wall:6.2f} s ({wall / bare_wall:.2f}x)  "
              f"cpu {cpu:6.2f} s ({cpu / bare_cpu:.2f}x)")
    if args.jobs:
        _pooled(root, paths, args.jobs)


if __name__ == "__main__":
    main()
