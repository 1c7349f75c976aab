"""The model's speed on a finished analysis, measured in one run.

Prints medians of a few runs of:

- ``boot``: a new generator reading the boot image (build/model/boot/) back;
- ``run``: one socket() scenario on that booted machine, for each example of
  kernel/primitives.toml (the translation of the functions it meets included);
- ``boot+run``: both, for TCP (the target: under 2 s);
- ``cli``: ``python -m analyzer model socket AF_INET SOCK_STREAM 0`` as a user
  types it (interpreter start and imports included);
- ``cold boot``: the boot executed from the C when there is no image.

Each is also given as a ratio to a baseline measured in the same run: the bare
tree-sitter parse of the C files the TCP run translated (what any model that
reads the source must at least do).

Usage: ``python bench/bench_model.py [--runs N] [--cold] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from timing import median_time  # noqa: E402

from analyzer.config import Config  # noqa: E402
from analyzer.model import open_generator, run_with  # noqa: E402
from analyzer.model.generate import table  # noqa: E402

TARGET = 2.0  # seconds: boot + run of one scenario


def parse_floor(cfg: Config, files: list[str], runs: int) -> float:
    from analyzer.parse import parse

    sources = [(cfg.kernel_dir / f).read_bytes() for f in files]
    return median_time(lambda: [parse(src) for src in sources], runs)


def measure(cfg: Config, runs: int, cold: bool) -> dict:
    tcp = ["AF_INET", "SOCK_STREAM", "0"]
    open_generator(cfg).booted()  # the image exists after this

    def boot():
        return open_generator(cfg).booted()

    def boot_and_run():
        gen = open_generator(cfg)
        return run_with(gen.facts, "socket", tcp, generator=gen)

    out = {"boot": median_time(boot, runs), "boot+run": median_time(boot_and_run, runs)}
    gen = open_generator(cfg)
    runs_by = {}
    for ex in table()["scenarios"]["socket"]["examples"]:
        fresh = open_generator(cfg)
        fresh.booted()
        start = time.perf_counter()
        run_with(fresh.facts, "socket", ex, generator=fresh)
        runs_by[" ".join(ex)] = time.perf_counter() - start
    out["run"] = runs_by
    run_with(gen.facts, "socket", tcp, generator=gen)
    out["files"] = sorted(gen.files)
    out["floor"] = parse_floor(cfg, out["files"], runs)
    cmd = [sys.executable, "-m", "analyzer", "model", "socket", *tcp]
    out["cli"] = median_time(lambda: subprocess.run(cmd, check=True, capture_output=True,
                                                    cwd=cfg.home), runs)
    if cold:
        out["cold boot"] = median_time(
            lambda: open_generator(cfg).__class__(gen.facts, gen.data, gen.kconfig)._boot(), 1)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--cold", action="store_true", help="also time a boot without the image")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    cfg = Config.default()
    if not cfg.store_path.is_file():
        print("no analysis: run `make analyze` first", file=sys.stderr)
        return 2
    m = measure(cfg, args.runs, args.cold)
    if args.json:
        json.dump(m, sys.stdout, indent=1)
        print()
        return 0
    floor = m["floor"]
    print(f"baseline: tree-sitter parse of the {len(m['files'])} files the TCP run "
          f"translated: {floor:.2f} s")
    rows = [("boot (image read)", m["boot"]), ("boot+run TCP", m["boot+run"]),
            ("cli model socket TCP", m["cli"])]
    rows += [(f"run {k}", v) for k, v in m["run"].items()]
    if "cold boot" in m:
        rows.append(("cold boot (no image)", m["cold boot"]))
    for name, t in rows:
        print(f"  {name:<40} {t:6.2f} s  {t / floor:5.1f}x parse")
    verdict = "meets" if m["boot+run"] < TARGET else "misses"
    print(f"boot+run of one scenario: {m['boot+run']:.2f} s ({verdict} the {TARGET:.0f} s target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
