"""The analysed tree on the site: its version and the user's edits.

Takes the :class:`~analyzer.edits.TreeInfo` of the analysis (``facts.tree``) and
the release's text of the edited files (``facts.released``); produces the home
page's section on the tree (path, version, each edited file with the number of
lines that differ) and, for an excerpt whose file is edited, a note with the
changes that fall inside the excerpt, as a diff against the release.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence

from analyzer.config import KERNEL_VERSION
from analyzer.docs.render import admonition, code, esc, table
from analyzer.edits import TreeInfo

__all__ = ["home_section", "excerpt_note"]


def home_section(tree: TreeInfo | None) -> str:
    """Markdown for the home page: which tree was analysed and what differs."""
    if tree is None:
        return ""
    version = tree.version or "of unknown version"
    out = ["\n## The analysed tree\n",
           f"Linux {esc(version)} at {code(str(tree.path))} ({esc(tree.origin)}).\n"]
    if tree.note:
        return "\n".join(out + [esc(tree.note) + ".\n"])
    if not tree.edits:
        return "\n".join(out + [f"No file differs from the {KERNEL_VERSION} release.\n"])
    rows = [(code(e.path), esc(e.status), "unknown: " + esc(e.why) if e.lines_changed is None
             else f"{e.lines_changed:,}") for e in tree.edits]
    out.append(f"The analysis reads these files as you edited them; {len(tree.edits)} "
               f"file(s) differ from the {KERNEL_VERSION} release "
               "(`python -m analyzer fetch --restore PATH` puts a released file back):\n")
    out.append(table(["file", "how", "lines that differ"], rows))
    return "\n".join(out)


def excerpt_note(tree: TreeInfo | None, released: Mapping[str, bytes], file: str,
                 start: int, end: int, current: Sequence[str]) -> str:
    """A note for an excerpt of ``file`` (lines ``start``..``end`` of the tree,
    whose whole text is ``current``) when the file is edited: how many lines of
    the file differ, and the changes inside the excerpt against the release."""
    edited = tree.edited(file) if tree is not None else None
    if edited is None:
        return ""
    head = f"This excerpt comes from your edited {code(file)}: " + \
        esc(edited.describe().removeprefix(file).strip(" ()")) + "."
    old = released.get(file)
    if old is None:
        return admonition("note", "Edited file", head + " The release's text is not at hand, "
                          "so the changes are not shown.")
    diff = _diff_within(old.decode("utf-8", "replace").splitlines(), list(current),
                        start, end)
    body = head + (" Inside the excerpt:\n\n" + _diff_block(diff)
                   if diff else f" Nothing differs inside lines {start}-{end}.")
    return admonition("note", f"Edited: differs from {KERNEL_VERSION}", body)


def _diff_block(lines: list[str]) -> str:
    """A fenced ``diff`` block (no line numbers: the hunk heads give both files')."""
    body = "\n".join(line.replace("\t", "    ").rstrip() for line in lines)
    ticks = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", body)), default=0))
    return f"{ticks}diff\n{body}\n{ticks}\n"


def _diff_within(old: list[str], new: list[str], start: int, end: int) -> list[str]:
    """The changes of ``new`` against ``old`` that touch lines ``start``..``end``
    of ``new``, as diff lines with the line numbers of both.

    >>> _diff_within(["a", "b", "c"], ["a", "B", "c"], 1, 3)
    ['@@ 4.4.1 line 2, yours line 2 @@', '-b', '+B']
    """
    out = []
    ops = difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal" or j2 < start or j1 + 1 > end + (j1 == j2):
            continue
        out.append(f"@@ {KERNEL_VERSION} line {i1 + 1}, yours line {j1 + 1} @@")
        out += [f"-{line}" for line in old[i1:i2]] + [f"+{line}" for line in new[j1:j2]]
    return out
