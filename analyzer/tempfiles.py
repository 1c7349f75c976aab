"""Temporary files and folders of the stages: named after the process that
made them, removed by the next run once that process is gone, and swapped
into place whole.

Takes a folder and the name prefixes of a stage's temporary entries
(``.graph.sqlite.<pid>.tmp``, ``.site-out-<pid>``, ``.generated-tmp-<pid>-*``);
:func:`remove_stale` deletes those whose process no longer runs (killed runs,
whatever their pid), and leaves those of live runs alone.  :func:`swap_dir`
puts a finished folder in the place of another, so that readers see the old
folder or the new one, and concurrent writers each leave a complete one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

__all__ = ["remove_stale", "swap_dir", "alive"]

_PID = re.compile(r"(\d+)")


def alive(pid: int) -> bool:
    """Is process ``pid`` running (a zombie counts as gone; this process too,
    since its own leftovers come from an earlier, failed attempt)?"""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process not reaped yet is a zombie: dead for us
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def remove_stale(folder: Path, prefixes: Iterable[str]) -> list[Path]:
    """Delete the entries of ``folder`` named ``<prefix><pid>...`` whose
    process is gone; return them."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        for prefix in prefixes:
            m = _PID.match(entry.name[len(prefix):]) if entry.name.startswith(prefix) else None
            if m and not alive(int(m.group(1))):
                _remove(Path(entry.path))
                removed.append(Path(entry.path))
                break
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def swap_dir(new: Path, target: Path, attempts: int = 20) -> None:
    """Rename the folder ``new`` to ``target``, moving the old ``target`` aside
    (``.<name>-old-<pid>-*``) and deleting it.  When another run puts its own
    folder there in between, that one is moved aside in turn: the last to
    finish wins, and each leaves a complete folder."""
    for _ in range(attempts):
        aside = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-{os.getpid()}-",
                                      dir=target.parent))
        try:
            with contextlib.suppress(FileNotFoundError):  # none yet, or moved by another run
                os.rename(target, aside / "old")
            try:
                os.rename(new, target)
                return
            except OSError as e:
                if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
        finally:
            shutil.rmtree(aside, ignore_errors=True)
    raise OSError(errno.EBUSY, "other runs keep replacing it", str(target))
