"""The configuration and build layer, timed on the fetched tree in one run.

Prints medians of a few runs of: kconfiglib's parse of the Kconfig files
(``kconfig_tree``), a full resolution of the default configuration (parse,
defconfig fragment, every option's source; no cache), a load from the cached
JSON, the evaluation of the kbuild Makefiles (``kbuild.built``) and the initcall
order over the store's Initcall records; each as a ratio to a baseline measured
in the same run: reading and hashing every Kconfig file once (what any cache
check must at least do).

Usage: ``python bench/bench_kconfig.py [--runs N] [--json]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from timing import median_time  # noqa: E402

from analyzer.config import Config  # noqa: E402
from analyzer.model import kbuild, kconfig  # noqa: E402


def measure(cfg: Config, runs: int) -> dict:
    kconf = kconfig.kconfig_tree(cfg)
    files = [cfg.kernel_dir / f for f in kconf.kconfig_filenames if (cfg.kernel_dir / f).is_file()]
    kconfig.KernelConfig.load(cfg)  # fill the cache (build/config/default.json)
    conf = kconfig.KernelConfig.load(cfg, use_cache=False)
    build = kbuild.built(cfg, conf)
    initcalls = _initcalls(cfg)
    res = {
        "baseline: read+hash Kconfig files": median_time(
            lambda: [hashlib.sha256(p.read_bytes()).digest() for p in files], runs),
        "kconfiglib parse": median_time(lambda: kconfig.kconfig_tree(cfg), runs),
        "resolve default config (no cache)": median_time(
            lambda: kconfig.KernelConfig.load(cfg, use_cache=False), runs),
        "load cached config": median_time(lambda: kconfig.KernelConfig.load(cfg), runs),
        "kbuild evaluation": median_time(lambda: kbuild.built(cfg, conf), runs),
    }
    if initcalls:
        res["initcall order"] = median_time(
            lambda: kbuild.initcall_order(initcalls, build, conf), runs)
    return {"files": len(files), "options": len(conf.options), "runs": runs, "seconds": res}


def _initcalls(cfg: Config) -> list:
    from analyzer.errors import AnalyzerError
    from analyzer.store import Store

    try:
        with Store.open(cfg.store_path) as st:
            return list(st.all("initcalls"))
    except AnalyzerError:
        return []


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    res = measure(Config.default(), args.runs)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    base = next(iter(res["seconds"].values()))
    print(f"{res['files']} Kconfig files, {res['options']} options, median of {res['runs']} runs")
    for name, secs in res["seconds"].items():
        print(f"{name:<38} {secs * 1000:9.1f} ms  {secs / base:7.1f}x baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
