"""Functions of the parts the model reads but the analysis does not: kernel/,
mm/ and lib/ (``config.MODEL_PARTS``).

Takes the kernel tree; gives :class:`OutsideIndex`, which says which files of
those parts may define a function (a quick scan of their text, made once per
process), so that the generator parses only those files to find the
definition.  The analysis (store, call graph, site) stays on net/, fs/ and
include/; the model follows a call into kernel/, mm/ or lib/ when the
analysed code makes one (an rb-tree insert, an id allocation, a sysctl helper).
"""

from __future__ import annotations

import re
from pathlib import Path

from analyzer.config import MODEL_PARTS

__all__ = ["OutsideIndex"]

#: a line at column 0 that opens a function definition: type words, then NAME(
_HEAD = re.compile(rb"^(?![#\s/*}{])(?:[A-Za-z_][\w\s*]*?[\s*])?([A-Za-z_]\w*)\s*\([^;]*$",
                   re.M)


class OutsideIndex:
    """name -> files of MODEL_PARTS whose text has a definition head for it."""

    def __init__(self, kernel_dir: Path):
        self.kernel_dir = Path(kernel_dir)
        self._index: dict[str, list[str]] | None = None

    def files(self, name: str) -> list[str]:
        if self._index is None:
            self._index = self._scan()
        return self._index.get(name, [])

    def _scan(self) -> dict[str, list[str]]:
        index: dict[str, list[str]] = {}
        for part in MODEL_PARTS:
            root = self.kernel_dir / part
            for path in sorted(root.rglob("*.[ch]")) if root.is_dir() else ():
                rel = path.relative_to(self.kernel_dir).as_posix()
                try:
                    data = path.read_bytes()
                except OSError:
                    continue
                for m in _HEAD.finditer(data):
                    name = m.group(1).decode()
                    files = index.setdefault(name, [])
                    if not files or files[-1] != rel:
                        files.append(rel)
        return index
