"""A program of ten system calls against a baseline measured in the same run.

Takes the finished analysis of ``Config.default()`` (``make analyze``) and
prints the wall time of one program of ten statements (``model run``: the
booted machine read back from its image, then socket, setsockopt, bind,
listen, getsockopt, a second socket and bind, close, setsockopt and close run
from the kernel's C) beside a baseline taken in the same process: the bare
tree-sitter parse of net/socket.c (read + ``Parser.parse``), and their ratio.
The first run (which may boot and write the boot image) is reported apart.

Usage: ``python bench/bench_program.py [--runs N] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from analyzer.config import Config  # noqa: E402

PROGRAM = [
    "fd = socket(AF_INET, SOCK_STREAM, 0)",
    "setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1)",
    'bind(fd, "0.0.0.0", 8080)',
    "listen(fd, 128)",
    "rcv = getsockopt(fd, SOL_SOCKET, SO_RCVBUF)",
    "fd2 = socket(AF_INET, SOCK_STREAM, 0)",
    'bind(fd2, "0.0.0.0", 8080)',
    "close(fd2)",
    "setsockopt(fd, SOL_SOCKET, SO_RCVBUF, 4096)",
    "close(fd)",
]


def parse_baseline(cfg: Config) -> float:
    from analyzer.parse import parse

    start = time.perf_counter()
    parse((cfg.kernel_dir / "net" / "socket.c").read_bytes())
    return time.perf_counter() - start


def one_program(cfg: Config) -> float:
    from analyzer.model.program import run_program

    start = time.perf_counter()
    p = run_program(PROGRAM, cfg)
    if p.error:
        raise SystemExit(f"the program stopped: {p.error}")
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    cfg = Config.default()
    first = one_program(cfg)
    program = statistics.median(one_program(cfg) for _ in range(args.runs))
    base = statistics.median(parse_baseline(cfg) for _ in range(args.runs))
    data = {"statements": len(PROGRAM), "first_run_s": round(first, 3),
            "program_s": round(program, 3), "parse_socket_c_s": round(base, 4),
            "ratio": round(program / base, 1), "target_s": 3.0}
    if args.json:
        print(json.dumps(data, indent=1))
    else:
        print(f"program of {len(PROGRAM)} statements: {program:.2f} s (median of {args.runs}; "
              f"first run {first:.2f} s)")
        print(f"baseline, tree-sitter parse of net/socket.c: {base:.4f} s")
        print(f"ratio: {program / base:.1f}x the parse; target under 3 s: "
              f"{'met' if program < 3.0 else 'not met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
