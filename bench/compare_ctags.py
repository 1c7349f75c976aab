"""Compare our function definitions with Universal Ctags' on the same files.

Takes the C files (``*.c``, ``*.h``) of net/ and fs/ of the fetched tree (or
the folders given), runs ``ctags --languages=C --langmap=C:.c.h --c-kinds=f``
on them and :func:`analyzer.extract.extract_file` (in parallel), compares
the (name, file) pairs, prints our coverage of ctags' set and lists what we
miss.  Exit status 1 when the coverage is under ``--target`` (99.5 %).
Install ctags with ``apt-get install -y universal-ctags``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from analyzer.config import Config
from analyzer.extract import extract_file

__all__ = ["ctags_functions", "our_functions", "main"]


def _c_files(root: Path, parts) -> list[str]:
    return sorted(str(p.relative_to(root)) for part in parts for p in (root / part).rglob("*")
                  if p.suffix in (".c", ".h") and p.is_file())


def ctags_functions(root: Path, files: list[str]) -> set[tuple[str, str]]:
    """(name, file) of every function definition Universal Ctags finds."""
    exe = shutil.which("ctags")
    version = subprocess.run([exe or "ctags", "--version"], capture_output=True, text=True)
    if exe is None or "Universal Ctags" not in version.stdout:
        sys.exit("needs Universal Ctags: apt-get install -y universal-ctags")
    cmd = [exe, "--languages=C", "--langmap=C:.c.h", "--c-kinds=f", "--fields=+n",
           "--output-format=json", "-f", "-", "-L", "-"]
    out = subprocess.run(cmd, cwd=root, input="\n".join(files), capture_output=True,
                         text=True, check=True).stdout
    found = set()
    for line in out.splitlines():
        tag = json.loads(line)
        if tag.get("_type") == "tag":
            found.add((tag["name"], tag["path"]))
    return found


def _functions_of(job: tuple[str, str]) -> list[tuple[str, str]]:
    """Our (name, file) pairs; a macro-defined function also under its macro's
    name, which is how ctags names ``SYSCALL_DEFINE3(socket, ...)``."""
    root, rel = job
    facts = extract_file(rel, (Path(root) / rel).read_bytes())
    return [(f.name, f.file) for f in facts.functions] + \
        [(f.macro, f.file) for f in facts.functions if f.macro]


def our_functions(root: Path, files: list[str], jobs: int) -> set[tuple[str, str]]:
    """(name, file) of every Function record we extract."""
    with ProcessPoolExecutor(jobs) as pool:
        chunks = pool.map(_functions_of, [(str(root), f) for f in files], chunksize=32)
        return {pair for chunk in chunks for pair in chunk}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("parts", nargs="*", default=["net", "fs"])
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--target", type=float, default=99.5)
    ap.add_argument("--show", type=int, default=50, help="how many missing ones to list")
    args = ap.parse_args()
    root = Config.default().kernel_dir
    files = _c_files(root, args.parts)
    theirs = ctags_functions(root, files)
    ours = our_functions(root, files, args.jobs)
    missing = sorted(theirs - ours, key=lambda p: (p[1], p[0]))
    coverage = 100.0 * (len(theirs) - len(missing)) / max(1, len(theirs))
    print(f"{len(files)} files; ctags: {len(theirs)} functions; ours: {len(ours)}; "
          f"ours not in ctags: {len(ours - theirs)}")
    print(f"coverage of ctags: {coverage:.2f}% (target {args.target}%), missing {len(missing)}")
    for name, file in missing[: args.show]:
        print(f"  missing {file}: {name}")
    sys.exit(0 if coverage >= args.target else 1)


if __name__ == "__main__":
    main()
