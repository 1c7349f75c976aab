"""Time a bare tree-sitter parse against parse + extract, one process.

Takes the C files (``*.c``, ``*.h``) of net/, fs/ and include/ of the fetched
tree (or the folders given), prints both wall times and their ratio.
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


def _time(fn, files: list[tuple[str, bytes]]) -> float:
    start = time.perf_counter()
    for rel, src in files:
        fn(rel, src)
    return time.perf_counter() - start


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
    p = parse.parser()
    bare = _time(lambda rel, src: p.parse(src), files)
    pre = _time(lambda rel, src: parse.parse(src), files)
    full = _time(extract_file, files)
    print(f"{len(files)} files, {sum(len(s) for _, s in files) / 1e6:.1f} MB")
    print(f"bare parse       {bare:6.2f} s")
    print(f"preprocess+parse {pre:6.2f} s  ({pre / bare:.2f}x)")
    print(f"extract_file     {full:6.2f} s  ({full / bare:.2f}x)")


if __name__ == "__main__":
    main()
