"""The least work an `analyze` of this design must do after the benchmark's edit
and from cold, each part measured alone beside cscope.

bench_analyze.py times whole runs; this one times the parts that no schedule of
those runs can leave out or overlap, because each needs the one before it:

- after the edit of ``ei->socket.flags`` in ``sock_alloc_inode`` (net/socket.c):
  a fresh interpreter opening the generator (imports, the analysis, the
  configuration); the socket model's boot from the C, counted only from the
  first initcall that runs ``sock_alloc_inode`` (the boot before it could, in
  another design, be kept); one ``socket(AF_INET, SOCK_STREAM, 0)`` run; and
  MkDocs building the one tour page that shows the value (a dirty build);
- from cold: the fetch of the tarball, the extraction of an empty home, the
  generator opened and the whole boot from the C with one run, and MkDocs
  building the whole site.

Left out, so that the sums are lower bounds: comparing the tree, extracting
the edited file, writing the boot image, the graph, the programs' boot, the
other runs, and generating the pages' Markdown.  A boot cannot start from the
translations of an earlier process: they are Python code, and the project
never executes code it stored (only data; analyzer/model/image.py).

Works on a copy of this home's analysis (``make analyze`` first); ``--cold``
needs ``$KERNEL_TARBALL``.  Writes the figures to build/bench_floor.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_analyze import _cscope, _run  # noqa: E402

from analyzer.config import Config  # noqa: E402

#: the edited function, and the tour page that shows the value it sets
EDITED = "sock_alloc_inode"
PAGE = "generated/tour/sock_alloc_inode.md"

#: run in a fresh interpreter: open the generator, boot from the C (each boot
#: entry timed; the first entry that translates EDITED noted), run one scenario;
#: prints the figures as JSON on its last line
_BOOT = """
import json, sys, time
t0 = time.perf_counter()
from analyzer.config import Config
from analyzer.model import open_generator, run_with
import analyzer.model.boot as boot
import analyzer.model.generate as generate
entries, first, now = [], {}, [None]
run_one, function = boot._run_one, generate.Generator.function
def timed(m, call):
    now[0], t = call.function, time.perf_counter()
    try:
        return run_one(m, call)
    finally:
        entries.append((call.function, time.perf_counter() - t))
def noted(self, name, origin):
    first.setdefault(name, now[0])
    return function(self, name, origin)
boot._run_one, generate.Generator.function = timed, noted
gen = open_generator(Config.default())
gen.read_image, gen.image_dir = False, None
opened = time.perf_counter()
gen.booted()
booted = time.perf_counter()
run_with(gen.facts, "socket", ["AF_INET", "SOCK_STREAM", "0"], generator=gen)
ran = time.perf_counter()
names = [n for n, _ in entries]
at = names.index(first[sys.argv[1]])
print(json.dumps({"open_s": opened - t0, "boot_s": booted - opened, "run_s": ran - booted,
                  "entries": len(entries), "edited_entry": names[at], "edited_index": at,
                  "from_edit_s": sum(t for _, t in entries[at:])}))
"""


def _boot(home: Path) -> dict:
    """The generator opened, the boot from the C and one run, in a fresh
    interpreter; after one such process whose caches it may use, as the edit's
    `analyze` does (the index of kernel/, mm/ and lib/ in build/model/index is
    made again in a copied home: its key holds the home's path)."""
    _run(home, "-c", _BOOT, EDITED)
    seconds, lines = _run(home, "-c", _BOOT, EDITED)
    found = next(line for line in reversed(lines) if line.startswith("{"))
    return {**json.loads(found), "process_s": seconds}


_MKDOCS = ("import sys; from pathlib import Path; from analyzer.docs import build_in_two; "
           "build_in_two(Path(sys.argv[1]), Path(sys.argv[2]), False, dirty=sys.argv[3] == '1')")


def _mkdocs(home: Path, tmp: Path, page: str | None) -> float:
    """MkDocs on a copy of the generated project: every page (``page`` None),
    or a dirty build after ``page`` changed; seconds of the whole process."""
    cfg = Config(home)
    stage, out = tmp / "mk-src", tmp / "mk-out"
    for d in (stage, out):
        shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(cfg.site_src_dir, stage)
    if page is not None:
        shutil.copytree(cfg.site_out_dir, out)
        os.utime(stage / "docs" / page)  # newer than its output: built again
    seconds, _ = _run(home, "-c", _MKDOCS, str(stage), str(out), "1" if page else "0")
    return seconds


def _line(name: str, seconds: float, cscope: float) -> str:
    return f"{name:<62} {seconds:7.2f} s  = {seconds / cscope:5.2f}x cscope"


def _edit(home: Path, tmp: Path, cscope: float, b: dict) -> dict:
    page = _mkdocs(home, tmp, PAGE)
    floor = b["open_s"] + b["from_edit_s"] + b["run_s"] + page
    print(_line("fresh interpreter: imports, generator opened", b["open_s"], cscope))
    print(_line(f"boot from the C, whole ({b['entries']} entries)", b["boot_s"], cscope))
    print(_line(f"  from entry {b['edited_index']} ({b['edited_entry']}, the first to run "
                f"{EDITED})", b["from_edit_s"], cscope))
    print(_line("socket(AF_INET, SOCK_STREAM, 0) run", b["run_s"], cscope))
    print(_line(f"MkDocs, one page changed ({PAGE})", page, cscope))
    print(_line("edit floor (sum)", floor, cscope))
    return {"edit_boot": b, "edit_page_mkdocs_s": round(page, 2),
            "edit_floor_s": round(floor, 2), "edit_floor_ratio": round(floor / cscope, 2)}


def _cold(home: Path, tmp: Path, cscope: float, b: dict) -> dict:
    """``b``: the boot measured for the edit (the copied home's store holds the
    same records as the fresh one's)."""
    empty = tmp / "cold"
    fetch, _ = _run(empty, "-m", "analyzer", "fetch", "-q")
    extract, _ = _run(empty, "-m", "analyzer", "extract", "-q")
    site = _mkdocs(home, tmp, None)
    boot = b["open_s"] + b["boot_s"] + b["run_s"]
    floor = fetch + extract + boot + site
    print(_line("fetch (empty home)", fetch, cscope))
    print(_line("extract (empty build/)", extract, cscope))
    print(_line("generator opened, boot from the C, one run", boot, cscope))
    print(_line("MkDocs, the whole site (two processes)", site, cscope))
    print(_line("cold floor (sum)", floor, cscope))
    return {"cold_fetch_s": round(fetch, 2), "cold_extract_s": round(extract, 2),
            "cold_boot_s": round(boot, 2), "cold_site_mkdocs_s": round(site, 2),
            "cold_floor_s": round(floor, 2), "cold_floor_ratio": round(floor / cscope, 2)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python bench/bench_floor.py",
        description="The parts of an `analyze` after the benchmark's edit (and, with "
                    "--cold, from cold) that must run one after the other, each timed "
                    "alone beside `cscope -b -k`, on a copy of this home's analysis (run "
                    "`make analyze` first); figures also written to build/bench_floor.json.")
    ap.add_argument("--cold", action="store_true",
                    help="also the cold floor: fetch, extraction, boot, whole site "
                         "(needs $KERNEL_TARBALL)")
    args = ap.parse_args(argv)
    if args.cold and not os.environ.get("KERNEL_TARBALL"):
        sys.exit("--cold needs KERNEL_TARBALL (a local linux-4.4.1 tarball)")
    cfg = Config.default()
    if not cfg.store_path.is_file() or not (cfg.site_src_dir / "docs" / PAGE).is_file():
        sys.exit(f"no analysis at {cfg.home}: run `make analyze` first")
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as name:
        tmp = Path(name)
        home = Config(tmp / "home")
        shutil.copytree(cfg.fetched_dir, home.fetched_dir, symlinks=True)
        shutil.copytree(cfg.build_dir, home.build_dir, symlinks=True,
                        ignore=shutil.ignore_patterns(".*.tmp", ".site-*", "bench_*"))
        cscope = _cscope(home.fetched_dir, tmp)
        print(f"{'cscope -b -k (net/ fs/ include/, median of 3)':<62} {cscope:7.2f} s")
        boot = _boot(home.home)
        figures = {"cscope_build_s": round(cscope, 2), **_edit(home.home, tmp, cscope, boot)}
        if args.cold:
            figures.update(_cold(home.home, tmp, cscope, boot))
    (cfg.build_dir / "bench_floor.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
