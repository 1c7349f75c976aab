"""SQLite files of the analysis: is this one a sound database?

Takes a path; says why it is not a usable SQLite database (missing, a folder,
empty, another kind of file, damaged pages), or None.  Used by the readers of
``build/analysis.sqlite`` and ``build/graph.sqlite`` to name a broken file and
how to make it again, instead of failing deep inside a query.

Readers that keep a connection open register it (:func:`opened`), so that a
forked process (:class:`analyzer.workers.Worker`) opens connections of its own
(:func:`reopen_in_child`): SQLite forbids using one connection on both sides of
a ``fork``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import weakref
from pathlib import Path

__all__ = ["database_problem", "integrity_problem", "checked_before", "mark_checked",
           "opened", "closed", "reopen_in_child"]

_SQLITE_MAGIC = b"SQLite format 3\x00"
#: the readers whose connection is open (each has ``conn`` and ``connect()``)
_OPEN: weakref.WeakSet = weakref.WeakSet()
#: in a forked child, the connections it inherited: kept, never used nor closed
_INHERITED: list[sqlite3.Connection] = []


def opened(reader) -> None:
    """Remember a reader whose connection ``reader.conn`` is open: a forked
    child gives it one of its own from ``reader.connect()`` (:func:`reopen_in_child`)."""
    _OPEN.add(reader)


def closed(reader) -> None:
    """Forget a reader whose connection was closed."""
    _OPEN.discard(reader)


def reopen_in_child() -> None:
    """In a process just forked: every open reader gets a connection of its own
    to its file; the inherited ones are kept here, never used nor closed
    (closing them could release locks that the parent's SQLite counts on)."""
    for reader in list(_OPEN):
        _INHERITED.append(reader.conn)
        reader.conn = reader.connect()


def database_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` is not an SQLite database at all (missing, a folder, empty,
    another kind of file), or None.  Reads 100 bytes: cheap enough for every
    open; damage further in is found by :func:`integrity_problem`."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(100)
    except FileNotFoundError:
        return "is missing"
    except IsADirectoryError:
        return "is a folder, not a database file"
    except OSError as e:
        return f"cannot be read ({e.strerror})"
    if not head:
        return "is empty (0 bytes)"
    if len(head) < 100 or not head.startswith(_SQLITE_MAGIC):
        return "is not an SQLite database (truncated or overwritten)"
    return None


def integrity_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` is not a sound SQLite database, or None: the header, then
    SQLite's ``PRAGMA quick_check`` (about 0.2 s per 100 MB)."""
    problem = database_problem(path)
    if problem:
        return problem
    try:
        conn = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True)
        try:
            found = conn.execute("PRAGMA quick_check(1)").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        return f"is damaged ({e})"
    if not found or found[0] != "ok":
        detail = " ".join(str(found[0] if found else "no answer").split())
        return f"is damaged ({detail[:160]})"
    return None


# --- the quick check, once per version of the file ----------------------------------

def _checked_marker(path: Path) -> Path:
    return path.with_name(f".{path.name}.checked")


def _file_stat(path: Path) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def checked_before(path: Path) -> bool:
    """Was ``path`` found sound (or written by a :class:`Writer`) and has its
    stat (size, mtime, ctime, inode) not changed since?  Then SQLite's quick
    check, which reads the whole file (0.15 s from memory, seconds from disk),
    is not run again on every ``analyze``."""
    try:
        recorded = json.loads(_checked_marker(path).read_text())
    except (OSError, ValueError):
        return False
    return recorded == _file_stat(path)


def mark_checked(path: Path) -> None:
    """Record the stat of a store found sound; without the record (a full disk)
    the next run checks it again."""
    marker = _checked_marker(path)
    st = _file_stat(path)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}.checked")  # a writer removes stale ones
    try:
        if st is None:
            marker.unlink(missing_ok=True)
            return
        tmp.write_text(json.dumps(st))
        os.replace(tmp, marker)
    except OSError:
        tmp.unlink(missing_ok=True)
