"""The embedded SQLite store of extracted facts (``build/analysis.sqlite``).

Takes :class:`records.FileFacts` (from :mod:`analyzer.extract`, through
:mod:`analyzer.pipeline`) and keeps them; gives them back as records to the
graph, model and docs stages.

Schema (``SCHEMA_VERSION``):

- ``files(path PRIMARY KEY, sha256, size, error_nodes, error_bytes, warnings)``:
  one row per source file, ``warnings`` a JSON array of strings;
- ``facts_<kind>(key, file, line, data)`` for each kind of
  :data:`records.RECORD_KINDS`: one row per record, ``key`` the lookup name of
  :meth:`Store.find`, ``data`` the record as a JSON array of its field values
  in declaration order (nested records as arrays too; ``meta.fields`` names
  them), indexed on ``key`` and ``file``.  One table per kind keeps
  ``all("calls")`` a straight scan.  The view ``facts(kind, key, file, line,
  data)`` unites them for ad-hoc SQL;
- ``meta(key, value)``: ``schema``, ``generation`` (bumped by every write),
  ``fingerprint`` (of the extractor's code: facts made by other code are not
  reused), ``fields`` (JSON: kind -> field names).

Every write is one transaction.  A store made from nothing is written to a
temporary file renamed into place at the end; an update of an existing store
is one SQLite transaction (rollback journal).  A run killed at any moment thus
leaves either the previous store or the new one.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path

from analyzer import records
from analyzer.errors import AnalyzerError

__all__ = ["Store", "Writer", "FileRow", "SCHEMA_VERSION", "KEY_FIELDS",
           "encode", "decode", "fact_rows"]

SCHEMA_VERSION = "1"

#: the field of each record kind that :meth:`Store.find` looks up
KEY_FIELDS: dict[str, str] = {
    "functions": "name", "calls": "caller", "structs": "name", "aliases": "name",
    "typedefs": "name", "globals": "name", "initializers": "name",
    "assignments": "function", "registrations": "caller", "constants": "name",
}

_FILES = """CREATE TABLE IF NOT EXISTS files(path TEXT PRIMARY KEY, sha256 TEXT NOT NULL,
    size INTEGER NOT NULL, error_nodes INTEGER NOT NULL, error_bytes INTEGER NOT NULL,
    warnings TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def _schema() -> str:
    tables = "".join(f"CREATE TABLE IF NOT EXISTS facts_{k}(key TEXT NOT NULL, "
                     "file TEXT NOT NULL, line INTEGER NOT NULL, data TEXT NOT NULL);\n"
                     for k in records.RECORD_KINDS)
    view = " UNION ALL ".join(f"SELECT '{k}' AS kind, key, file, line, data FROM facts_{k}"
                              for k in records.RECORD_KINDS)
    return _FILES + tables + f"CREATE VIEW IF NOT EXISTS facts AS {view};\n"


def _indexes() -> str:
    return "".join(f"CREATE INDEX IF NOT EXISTS facts_{k}_key ON facts_{k}(key);\n"
                   f"CREATE INDEX IF NOT EXISTS facts_{k}_file ON facts_{k}(file);\n"
                   for k in records.RECORD_KINDS)


@dataclass(frozen=True)
class FileRow:
    """The parse statistics of one stored file."""

    path: str
    sha256: str
    size: int
    error_nodes: int
    error_bytes: int
    warnings: tuple[str, ...] = ()


# --- record <-> JSON array --------------------------------------------------

def _nested(cls: type) -> dict[str, type]:
    return {f: inner for (c, f), inner in records._NESTED.items() if c is cls}


@cache
def _layout(cls: type) -> tuple[tuple[str, ...], tuple[int, ...], dict[int, type]]:
    """Field names, indexes of tuple-valued fields, index -> nested class."""
    names = tuple(f.name for f in fields(cls))
    nested = _nested(cls)
    tuples = tuple(i for i, f in enumerate(fields(cls))
                   if "tuple" in str(f.type) and f.name not in nested)
    return names, tuples, {names.index(n): c for n, c in nested.items()}


def _values(record) -> list:
    names, _, nested = _layout(type(record))
    values = [getattr(record, n) for n in names]
    for i in nested:
        values[i] = [_values(item) for item in values[i]]
    return values


def encode(record) -> str:
    """A record as its JSON array of field values."""
    return json.dumps(_values(record), ensure_ascii=False, separators=(",", ":"))


def _build(cls: type, values: list):
    names, tuples, nested = _layout(cls)
    for i in tuples:
        if i < len(values):
            values[i] = tuple(values[i])
    for i, inner in nested.items():
        if i < len(values):
            values[i] = tuple(_build(inner, v) for v in values[i])
    obj = cls.__new__(cls)
    # frozen dataclasses without __post_init__: filling __dict__ is what
    # __init__ does, minus one object.__setattr__ call per field
    obj.__dict__.update(zip(names, values, strict=False))
    return obj


def decode(kind: str, data: str):
    """The record of ``kind`` that :func:`encode` gave ``data`` for."""
    return _build(records.RECORD_KINDS[kind], json.loads(data))


def fact_rows(facts: records.FileFacts) -> list[tuple[str, str, int, str]]:
    """``(kind, key, line, data)`` rows of every record of one file."""
    rows = []
    for kind, key in KEY_FIELDS.items():
        for rec in getattr(facts, kind):
            rows.append((kind, _key(kind, rec, key), rec.line, encode(rec)))
    return rows


def _key(kind: str, rec, key: str) -> str:
    value = getattr(rec, key)
    return value if isinstance(value, str) else str(value)


# --- reading ----------------------------------------------------------------

def _connect(path: Path) -> sqlite3.Connection:
    """A connection to an existing store file.  Read-write, so that SQLite can
    roll back the journal a killed writer left; ``query_only`` otherwise."""
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.execute("PRAGMA query_only=ON")
    return conn


def _meta(conn: sqlite3.Connection) -> dict[str, str]:
    try:
        return dict(conn.execute("SELECT key, value FROM meta"))
    except sqlite3.DatabaseError:
        return {}


class Store:
    """Read access to a finished store.

    >>> Store.open("/nonexistent/analysis.sqlite")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    analyzer.errors.AnalyzerError: no analysis at /nonexistent/analysis.sqlite; run ...
    """

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self.conn = conn
        self.path = path

    @classmethod
    def open(cls, path: str | os.PathLike) -> Store:
        """Open the store at ``path``; AnalyzerError if there is none."""
        path = Path(path)
        if not path.is_file():
            raise AnalyzerError(f"no analysis at {path}; run `make analyze` "
                                "(or `python -m analyzer extract`)")
        conn = _connect(path)
        meta = _meta(conn)
        if meta.get("schema") != SCHEMA_VERSION or "generation" not in meta:
            conn.close()
            raise AnalyzerError(f"{path} is not an analysis store of schema {SCHEMA_VERSION} "
                                f"(found {meta.get('schema')!r}); run `make analyze`")
        return cls(conn, path)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def meta(self) -> dict[str, str]:
        """The ``meta`` table: schema, generation, fingerprint, fields."""
        return _meta(self.conn)

    def generation(self) -> int:
        """A number that changes on every write of the store."""
        return int(self.meta()["generation"])

    def _rows(self, kind: str, where: str, args: tuple) -> Iterator:
        _check_kind(kind)
        cls = records.RECORD_KINDS[kind]
        loads = json.loads
        sql = f"SELECT data FROM facts_{kind} {where} ORDER BY rowid"
        for (data,) in self.conn.execute(sql, args):
            yield _build(cls, loads(data))

    def all(self, kind: str) -> Iterator:
        """Every record of ``kind``, file by file, in line order."""
        return self._rows(kind, "", ())

    def find(self, kind: str, key: str) -> list:
        """The records of ``kind`` whose key field (:data:`KEY_FIELDS`) is ``key``."""
        return list(self._rows(kind, "WHERE key=?", (key,)))

    def in_file(self, kind: str, file: str) -> list:
        """The records of ``kind`` found in ``file`` (relative to the tree)."""
        return list(self._rows(kind, "WHERE file=?", (file,)))

    def count(self, kind: str) -> int:
        """How many records of ``kind`` the store holds."""
        _check_kind(kind)
        return self.conn.execute(f"SELECT count(*) FROM facts_{kind}").fetchone()[0]

    def counts(self) -> dict[str, int]:
        """Record kind -> how many records."""
        return {kind: self.count(kind) for kind in records.RECORD_KINDS}

    def files(self) -> list[FileRow]:
        """Every stored file with its parse statistics, by path."""
        return [FileRow(p, s, n, en, eb, tuple(json.loads(w))) for p, s, n, en, eb, w in
                self.conn.execute("SELECT path, sha256, size, error_nodes, error_bytes, "
                                  "warnings FROM files ORDER BY path")]

    def hashes(self) -> dict[str, str]:
        """path -> sha256 of every stored file."""
        return dict(self.conn.execute("SELECT path, sha256 FROM files"))


def _check_kind(kind: str) -> None:
    if kind not in records.RECORD_KINDS:
        raise AnalyzerError(f"unknown record kind {kind!r}; one of "
                            + ", ".join(records.RECORD_KINDS))


# --- writing ----------------------------------------------------------------

class Writer:
    """One write transaction: ``with Writer(path, fingerprint) as w: ...``.

    Without a usable store at ``path`` (none, another schema, another
    fingerprint) it writes a new one to ``<path>.tmp-<pid>`` and renames it
    over ``path`` on success; otherwise it updates ``path`` in one SQLite
    transaction.  An exception inside the block leaves ``path`` as it was.
    """

    def __init__(self, path: str | os.PathLike, fingerprint: str = ""):
        self.path = Path(path)
        self.fingerprint = fingerprint
        self.fresh = not _usable(self.path, fingerprint)
        self.target = (self.path.with_name(f"{self.path.name}.tmp-{os.getpid()}")
                       if self.fresh else self.path)
        self.conn: sqlite3.Connection | None = None
        self.changed = self.fresh

    def __enter__(self) -> Writer:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(self.path)
        self.conn = sqlite3.connect(self.target, isolation_level=None)
        if self.fresh:  # nobody sees this file before the rename: no journal
            self.conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")
        else:
            self.conn.executescript("PRAGMA journal_mode=DELETE; PRAGMA synchronous=NORMAL;")
        self.conn.execute("PRAGMA cache_size=-65536")
        self.conn.execute("BEGIN IMMEDIATE")
        _script(self.conn, _schema())
        return self

    def old_hashes(self) -> dict[str, str]:
        """path -> sha256 of the files the store holds now (none when fresh)."""
        return {} if self.fresh else dict(self.conn.execute("SELECT path, sha256 FROM files"))

    def remove(self, paths: Iterable[str]) -> None:
        """Drop the files ``paths`` and their facts."""
        rows = [(p,) for p in paths]
        if not rows:
            return
        self.changed = True
        for kind in records.RECORD_KINDS:
            self.conn.executemany(f"DELETE FROM facts_{kind} WHERE file=?", rows)
        self.conn.executemany("DELETE FROM files WHERE path=?", rows)

    def add(self, stat: FileRow, rows: Iterable[tuple[str, str, int, str]]) -> None:
        """Store one file: its statistics and its ``(kind, key, line, data)`` rows,
        replacing what the store had for that file."""
        if not self.fresh:
            self.remove([stat.path])
        self.changed = True
        file, conn = stat.path, self.conn
        conn.execute("INSERT INTO files VALUES (?,?,?,?,?,?)",
                     (file, stat.sha256, stat.size, stat.error_nodes, stat.error_bytes,
                      json.dumps(list(stat.warnings), ensure_ascii=False)))
        by_kind: dict[str, list] = {}
        for kind, key, line, data in rows:
            by_kind.setdefault(kind, []).append((key, file, line, data))
        for kind, values in by_kind.items():
            _check_kind(kind)
            conn.executemany(f"INSERT INTO facts_{kind} VALUES (?,?,?,?)", values)

    def add_facts(self, facts: records.FileFacts) -> None:
        """Store one file's :class:`records.FileFacts`."""
        self.add(FileRow(facts.file, facts.sha256, facts.size, facts.error_nodes,
                         facts.error_bytes, facts.warnings), fact_rows(facts))

    def _finish(self) -> None:
        conn = self.conn
        _script(conn, _indexes())
        gen = conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        meta = {"schema": SCHEMA_VERSION, "fingerprint": self.fingerprint,
                "generation": str(int(gen[0]) + 1 if gen else 1),
                "fields": json.dumps({k: _layout(c)[0] for k, c in
                                      records.RECORD_KINDS.items()})}
        conn.executemany("INSERT OR REPLACE INTO meta VALUES (?,?)", meta.items())
        conn.execute("COMMIT")

    def __exit__(self, exc_type, exc, tb) -> None:
        conn = self.conn
        try:
            if exc_type is None and self.changed:
                self._finish()
            elif conn.in_transaction:
                conn.execute("ROLLBACK")
        finally:
            conn.close()
            self.conn = None
        if self.fresh:
            if exc_type is None:
                _fsync(self.target)
                os.replace(self.target, self.path)
            else:
                self.target.unlink(missing_ok=True)


def _script(conn: sqlite3.Connection, text: str) -> None:
    """Run ``;``-separated statements inside the open transaction
    (``executescript`` would commit it first)."""
    for stmt in text.split(";\n"):
        if stmt.strip():
            conn.execute(stmt)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_temps(path: Path) -> None:
    """Delete temporary stores that killed writers left behind."""
    for tmp in path.parent.glob(f"{path.name}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # ours from an earlier, failed attempt
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _usable(path: Path, fingerprint: str) -> bool:
    """Is there a complete store of this schema and fingerprint at ``path``?"""
    if not path.is_file():
        return False
    conn = _connect(path)
    try:
        meta = _meta(conn)
    finally:
        conn.close()
    return (meta.get("schema") == SCHEMA_VERSION and "generation" in meta
            and meta.get("fingerprint") == fingerprint)
