"""Write analyzer/kernel/MANIFEST: the SHA-256 of every file that ``analyzer.fetch`` may extract.

Takes the offline copy of the sources (a tarball with the top folder ``linux-4.4.1/``),
produces a ``sha256sum``-style list (symlinks get the SHA-256 of their target), sorted by
path, with a header naming the tarball and its own SHA-256.  Run it once, commit the result::

    .venv/bin/python tools/make_manifest.py ../shared/kernel/linux-4.4.1-subset.tar.xz

The default parts (net fs include) and the extra ones (arch/x86/include kernel mm lib)
are all in the subset, so one manifest serves ``fetch`` and ``fetch --all``.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from analyzer.config import Config
from analyzer.errors import AnalyzerError
from analyzer.fetch import manifest_text

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("tarball", type=Path, help="the offline subset (or the release) tarball")
    p.add_argument("-o", "--output", type=Path, default=Config.default().manifest,
                   help="where to write (default: analyzer/kernel/MANIFEST)")
    args = p.parse_args(argv)
    try:
        digest = hashlib.sha256(args.tarball.read_bytes()).hexdigest()
        header = (f"SHA-256 of the Linux 4.4.1 files that `python -m analyzer fetch` extracts.\n"
                  f"Made by tools/make_manifest.py from {args.tarball.name} (sha256 {digest}).\n"
                  "Check a fetched tree (in a checkout) with: cd kernel-src/linux-4.4.1 && "
                  "sha256sum --quiet --ignore-missing -c ../../analyzer/kernel/MANIFEST")
        text = manifest_text(args.tarball, header)
    except (OSError, AnalyzerError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    args.output.write_text(text)
    count = sum(1 for line in text.splitlines() if not line.startswith("#"))
    print(f"{args.output}: {count} files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
