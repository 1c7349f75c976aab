"""SQLite files of the analysis: is this one a sound database?

Takes a path; says why it is not a usable SQLite database (missing, a folder,
empty, another kind of file, damaged pages), or None.  Used by the readers of
``build/analysis.sqlite`` and ``build/graph.sqlite`` to name a broken file and
how to make it again, instead of failing deep inside a query.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

__all__ = ["database_problem", "integrity_problem"]

_SQLITE_MAGIC = b"SQLite format 3\x00"


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
