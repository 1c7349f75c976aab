"""Time a bare tree-sitter parse against parse + extract, one process.

Takes the C files (``*.c``, ``*.h``) of net/, fs/ and include/ of the fetched
tree (or the folders given), prints the wall and CPU times of a bare parse,
of preprocess + parse and of the whole extraction, and their ratios.
Usage: ``python bench/extract_speed.py [--limit N] [parts...]``.
"""

from __future__ import annotations

import argparse
import time
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("parts", nargs="*", default=list(DEFAULT_PARTS))
    ap.add_argument("--limit", type=int, default=0)
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


if __name__ == "__main__":
    main()
