"""The embedded SQLite store of extracted facts (``build/analysis.sqlite``).

Takes :class:`records.FileFacts` (from :mod:`analyzer.extract`, through
:mod:`analyzer.pipeline`) and keeps them; gives them back as records to the
graph, model and docs stages.

Schema (``SCHEMA_VERSION``):

- ``files(path PRIMARY KEY, sha256, size, error_nodes, error_bytes, warnings)``:
  one row per source file, ``warnings`` a JSON array of strings;
- one table per kind of :data:`records.RECORD_KINDS`, named after it
  (``functions``, ``calls``, ...), with one column per field of the record
  class in declaration order; tuple fields (``args``, ``params``, ``fields``,
  ``entries``...) are JSON arrays (nested records as arrays of their field
  values; an optional tuple that is None, ``Macro.params`` of an object-like
  macro, is NULL), booleans are 0/1.  Each table is indexed on its key field
  (:data:`KEY_FIELDS`, what :meth:`Store.find` looks up) and on ``file``.
  Plain columns make ad-hoc SQL easy (``SELECT file, line FROM calls WHERE
  callee = 'sock_alloc'``) and spare a JSON round trip per record;
- ``stats(path PRIMARY KEY, size, mtime_ns, ctime_ns, inode, sha256)``: the
  stat signature a file had when its content was hashed to ``sha256`` (see
  :meth:`Writer.signatures`): a file whose signature is unchanged is not hashed
  again;
- ``meta(key, value)``: ``schema``, ``generation`` (bumped by every write),
  ``fingerprint`` (of the extractor's code: facts made by other code are not
  reused), ``fields`` (JSON: kind -> column names).

Every write is one transaction.  A store made from nothing is written to a
temporary file renamed into place at the end; an update of an existing store
is one SQLite transaction (rollback journal).  A run killed at any moment thus
leaves either the previous store or the new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from functools import cache, lru_cache
from pathlib import Path

from analyzer import records
from analyzer.dbfile import checked_before as _checked_before
from analyzer.dbfile import closed, database_problem, integrity_problem, opened
from analyzer.dbfile import mark_checked as _mark_checked
from analyzer.errors import AnalyzerError
from analyzer.tempfiles import remove_stale

__all__ = ["Store", "Writer", "Scratch", "FileRow", "SCHEMA_VERSION", "KEY_FIELDS",
           "encode", "decode", "fact_rows", "columns", "fsync", "database_problem",
           "integrity_problem", "REBUILD_STORE"]

SCHEMA_VERSION = "4"
#: how to make a store again (the end of every message about a broken one)
REBUILD_STORE = "rebuild it with `kernel-analyzer analyze` (or `kernel-analyzer extract`)"

#: the field of each record kind that :meth:`Store.find` looks up
KEY_FIELDS: dict[str, str] = {
    "functions": "name", "calls": "caller", "structs": "name", "aliases": "name",
    "typedefs": "name", "globals": "name", "initializers": "name",
    "assignments": "function", "registrations": "caller", "constants": "name",
    "macros": "name", "initcalls": "function",
}

_FILES = """CREATE TABLE IF NOT EXISTS files(path TEXT PRIMARY KEY, sha256 TEXT NOT NULL,
    size INTEGER NOT NULL, error_nodes INTEGER NOT NULL, error_bytes INTEGER NOT NULL,
    warnings TEXT NOT NULL, records_sha TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stats(path TEXT PRIMARY KEY, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, inode INTEGER NOT NULL,
    sha256 TEXT NOT NULL) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class FileRow:
    """The parse statistics of one stored file."""

    path: str
    sha256: str
    size: int
    error_nodes: int
    error_bytes: int
    warnings: tuple[str, ...] = ()
    #: a digest of the file's records (:func:`rows_digest`): one edit that changes
    #: no record (a value in a statement) leaves it as it was
    records_sha: str = ""


# --- record <-> row ------------------------------------------------------------

@dataclass(frozen=True)
class _Layout:
    names: tuple[str, ...]  # field names = column names, in declaration order
    json: tuple[int, ...]  # columns holding JSON arrays (tuple fields)
    nested: dict[int, type]  # column -> class of the records in its array
    bools: tuple[int, ...]  # columns stored as 0/1
    big: tuple[int, ...]  # optional ints (values), as text when over 64 bits
    optional: tuple[int, ...]  # JSON columns that may be None (SQL NULL)


@cache
def _layout(cls: type) -> _Layout:
    fs = fields(cls)
    names = tuple(f.name for f in fs)
    nested = {names.index(f): inner for (c, f), inner in records._NESTED.items() if c is cls}
    types = [str(f.type).replace(" ", "") for f in fs]
    return _Layout(names, tuple(i for i, t in enumerate(types) if t.startswith("tuple")),
                   nested, tuple(i for i, t in enumerate(types) if t == "bool"),
                   tuple(i for i, t in enumerate(types) if t in ("int|None", "None|int")),
                   tuple(i for i, t in enumerate(types) if t.startswith("tuple")
                         and t.endswith("|None")))


def columns(kind: str) -> tuple[str, ...]:
    """The column names of the table of ``kind``: its record's field names."""
    _check_kind(kind)
    return _layout(records.RECORD_KINDS[kind]).names


def _values(record) -> list:
    """The field values of a record in declaration order."""
    values = record.__dict__
    names = _layout(type(record)).names
    if len(values) == len(names):  # set by __init__ in declaration order
        return list(values.values())
    return [getattr(record, n) for n in names]


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False,
                         default=_values).encode
_STR = json.encoder.encode_basestring  # a str as a JSON string, in C


@cache
def _encoder(cls: type) -> Callable[[object], tuple]:
    """A function that makes the row of a ``cls`` record.

    Generated like :func:`_builder`: one tuple display per record, nested
    records written as JSON by generated code too (any value of an unexpected
    type falls back to the json module)."""
    lay = _layout(cls)
    env = {"strs": _strings_json, "big": _big_text, "optstrs": _optional_json}
    items = []
    for i, name in enumerate(lay.names):
        value = f"d[{name!r}]"
        if i in lay.nested:
            env[f"nest{i}"] = _nested_json(lay.nested[i])
            value = f"nest{i}({value})"
        elif i in lay.optional:
            value = f"optstrs({value})"
        elif i in lay.json:
            value = f"strs({value})"
        elif i in lay.big:
            value = f"big({value})"
        items.append(value)
    src = f"def encode(o):\n    d = o.__dict__\n    return ({', '.join(items)},)\n"
    exec(src, env)  # noqa: S102 - code made from the field names of a record class
    return env["encode"]


def _nested_json(cls: type) -> Callable[[tuple], str]:
    """A function that writes a tuple of ``cls`` records as a JSON array of arrays."""
    lay = _layout(cls)
    parts = []
    for i, name in enumerate(lay.names):
        t = str(fields(cls)[i].type)
        fn = {"str": "s", "int": "n", "bool": "b"}.get(t, "j")
        parts.append(f"{{{fn}(x.{name})}}")
    env = {"s": _STR, "n": _int_json, "b": _bool_json, "j": _JSON, "_JSON": _JSON}
    src = ("def nest(items):\n    try:\n"
           f"        return '[' + ','.join([f'[{','.join(parts)}]' for x in items]) + ']'\n"
           "    except TypeError:\n        return _JSON(items)\n")
    exec(src, env)  # noqa: S102 - code made from the field names of a record class
    return env["nest"]


def _int_json(x) -> str:
    if type(x) is not int:
        raise TypeError(x)
    return str(x)


def _bool_json(x) -> str:
    if type(x) is not bool:
        raise TypeError(x)
    return "true" if x else "false"


def _strings_json(items) -> str:
    """A tuple of strings as a JSON array (anything else through the json module)."""
    try:
        return "[" + ",".join(map(_STR, items)) + "]"
    except TypeError:  # not all strings
        return _JSON(items)


def _optional_json(items) -> str | None:
    """A tuple of strings as a JSON array, None as SQL NULL."""
    return None if items is None else _strings_json(items)


def _big_text(value):
    """An int over 64 bits as text (SQLite integers have 64); others as they are."""
    if value is not None and type(value) is int and not -_INT64 <= value < _INT64:
        return str(value)
    return value


def encode(record) -> tuple:
    """A record as its row: field values, tuples as JSON text."""
    return _encoder(type(record))(record)


_INT64 = 2**63


@cache
def _builder(cls: type) -> Callable[[Sequence], object]:
    """A function that makes a ``cls`` from its row (or, for a nested record,
    from its list of field values inside a JSON array).

    The function is generated (as :func:`collections.namedtuple` does) so
    that each record costs one dict display and no per-field loop: reading
    ``all("calls")`` is about twice as fast as a generic loop."""
    lay = _layout(cls)
    env = {"cls": cls, "new": object.__new__, "loads": _loads, "big": _big_int,
           "opt": _optional_tuple}
    items = []
    for i, name in enumerate(lay.names):
        value = f"r[{i}]"
        if i in lay.nested:
            env[f"inner{i}"] = _builder(lay.nested[i])
            value = f"tuple(map(inner{i}, loads({value})))"
        elif i in lay.optional:
            value = f"opt({value})"
        elif i in lay.json:
            value = f"tuple(loads({value}))"
        elif i in lay.bools:
            value = f"bool({value})"
        elif i in lay.big:
            value = f"big({value})"
        items.append(f"{name!r}: {value}")
    # what the frozen dataclass's __init__ does, minus one object.__setattr__
    # call per field (records have no __post_init__)
    src = ("def build(r):\n    obj = new(cls)\n"
           f"    obj.__dict__.update({{{', '.join(items)}}})\n    return obj\n")
    exec(src, env)  # noqa: S102 - code made from the field names of a record class
    return env["build"]


def _optional_tuple(value):
    return None if value is None else tuple(_loads(value))


_SCAN = json.JSONDecoder().scan_once  # the C scanner behind json.loads


def _loads(text: str):
    """``json.loads(text)`` for the compact JSON this module writes, without
    ``loads``'s checks and whitespace skipping (half of its time on ~550,000
    small arrays); anything else goes to ``json.loads`` (and its errors)."""
    try:
        value, end = _SCAN(text, 0)
    except (StopIteration, TypeError):
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


def _big_int(value):
    return int(value) if type(value) is str else value


def decode(kind: str, row: Iterable):
    """The record of ``kind`` that :func:`encode` gave ``row`` for."""
    return _builder(records.RECORD_KINDS[kind])(row)


def fact_rows(facts: records.FileFacts) -> dict[str, list[tuple]]:
    """Kind -> rows (:func:`encode`) of every record of one file."""
    out = {}
    for kind, cls in records.RECORD_KINDS.items():
        recs = getattr(facts, kind)
        if recs:
            enc = _encoder(cls)
            out[kind] = [enc(r) if type(r) is cls else encode(r) for r in recs]
    return out


def rows_digest(rows: dict[str, list[tuple]]) -> str:
    """A digest of one file's rows (:func:`fact_rows`): equal for equal records."""
    return hashlib.sha256(repr(sorted(rows.items())).encode()).hexdigest()


def _file_row(stat: FileRow) -> tuple:
    return (stat.path, stat.sha256, stat.size, stat.error_nodes, stat.error_bytes,
            json.dumps(list(stat.warnings), ensure_ascii=False), stat.records_sha)


def _schema() -> str:
    tables = "".join(f"CREATE TABLE IF NOT EXISTS {k}("
                     + ", ".join(f'"{c}"' for c in columns(k)) + ");\n"
                     for k in records.RECORD_KINDS)
    return _FILES + tables


def _indexes() -> str:
    return "".join(f'CREATE INDEX IF NOT EXISTS {k}_key ON {k}("{key}");\n'
                   f"CREATE INDEX IF NOT EXISTS {k}_file ON {k}(file);\n"
                   for k, key in KEY_FIELDS.items())


@cache
def _insert(kind: str) -> str:
    _check_kind(kind)
    return f"INSERT INTO {kind} VALUES ({','.join('?' * len(columns(kind)))})"


@lru_cache(maxsize=256)  # the same few texts, asked again and again (the site: 10,000)
def _select(kind: str, where: str = "", by_file: bool = False,
            names: tuple[str, ...] = ()) -> str:
    if not set(names) <= set(columns(kind)):
        raise ValueError(f"{kind} has no column {sorted(set(names) - set(columns(kind)))}")
    cols = ", ".join(f'"{c}"' for c in names or columns(kind))
    return f"SELECT {cols} FROM {kind} {where} ORDER BY {'file, ' if by_file else ''}rowid"


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
        opened(self)

    @classmethod
    def open(cls, path: str | os.PathLike) -> Store:
        """Open the store at ``path``; AnalyzerError if there is none."""
        path = Path(path)
        if not path.exists():
            raise AnalyzerError(f"no analysis at {path}; run `kernel-analyzer analyze` "
                                "(or `kernel-analyzer extract`)")
        problem = database_problem(path)
        if problem:
            raise AnalyzerError(f"{path} {problem}: {REBUILD_STORE}")
        try:
            conn = _connect(path)
        except sqlite3.DatabaseError as e:
            raise AnalyzerError(f"{path} cannot be opened ({e}): {REBUILD_STORE}") from None
        meta = _meta(conn)
        if meta.get("schema") != SCHEMA_VERSION or "generation" not in meta:
            conn.close()
            raise AnalyzerError(f"{path} is not an analysis store of schema {SCHEMA_VERSION} "
                                f"(found {meta.get('schema')!r}): {REBUILD_STORE}")
        return cls(conn, path)

    def close(self) -> None:
        closed(self)
        self.conn.close()

    def connect(self) -> sqlite3.Connection:
        """A new connection to the store (a forked child's own: see
        :func:`analyzer.dbfile.reopen_in_child`)."""
        return _connect(self.path)

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

    def file_hashes(self) -> list[tuple[str, str]]:
        """(path, SHA-256) of every analysed file, by path: what the store was made from."""
        return [tuple(r) for r in self.conn.execute(
            "SELECT path, sha256 FROM files ORDER BY path")]

    def _rows(self, kind: str, where: str, args: tuple, by_file: bool = False) -> Iterator:
        _check_kind(kind)
        return map(_builder(records.RECORD_KINDS[kind]),
                   self.conn.execute(_select(kind, where, by_file), args))

    def all(self, kind: str, where: str = "", by_file: bool = False) -> Iterator:
        """Every record of ``kind``, file by file, in line order; ``where``: an
        SQL condition on its columns that the records kept meet.  The files come
        in the order they were stored in (that of the extraction's workers),
        or, ``by_file``, in the order of their paths: an order that depends on
        the files alone, not on how and when each was extracted."""
        return self._rows(kind, f"WHERE {where}" if where else "", (), by_file)

    def rows(self, kind: str, where: str = "", by_file: bool = False,
             columns: tuple[str, ...] = ()) -> list[tuple]:
        """The rows of :meth:`all` as stored (:func:`encode`; :func:`decode`
        makes a row's record), for a reader that needs few of them as records;
        with ``columns``, those columns only (of :func:`columns`)."""
        _check_kind(kind)
        return self.conn.execute(
            _select(kind, f"WHERE {where}" if where else "", by_file, columns)).fetchall()

    def find(self, kind: str, key: str) -> list:
        """The records of ``kind`` whose key field (:data:`KEY_FIELDS`) is ``key``,
        by file path, then in line order: the same records in the same order
        however and whenever each file was extracted (a file extracted again
        after an edit is stored last)."""
        _check_kind(kind)
        return list(self._rows(kind, f'WHERE "{KEY_FIELDS[kind]}"=?', (key,), by_file=True))

    def in_file(self, kind: str, file: str) -> list:
        """The records of ``kind`` found in ``file`` (relative to the tree)."""
        return list(self._rows(kind, "WHERE file=?", (file,)))

    def count(self, kind: str) -> int:
        """How many records of ``kind`` the store holds."""
        _check_kind(kind)
        return self.conn.execute(f"SELECT count(*) FROM {kind}").fetchone()[0]

    def counts(self) -> dict[str, int]:
        """Record kind -> how many records."""
        return {kind: self.count(kind) for kind in records.RECORD_KINDS}

    def files(self) -> list[FileRow]:
        """Every stored file with its parse statistics, by path."""
        return [FileRow(p, s, n, en, eb, tuple(json.loads(w)), r)
                for p, s, n, en, eb, w, r in self.conn.execute(
                    "SELECT path, sha256, size, error_nodes, error_bytes, warnings, "
                    "records_sha FROM files ORDER BY path")]

    def records_hashes(self) -> list[tuple[str, str]]:
        """(path, digest of its records) of every analysed file, by path."""
        return [tuple(r) for r in self.conn.execute(
            "SELECT path, records_sha FROM files ORDER BY path")]

    def hashes(self) -> dict[str, str]:
        """path -> sha256 of every stored file."""
        return dict(self.conn.execute("SELECT path, sha256 FROM files"))


def _check_kind(kind: str) -> None:
    if kind not in records.RECORD_KINDS:
        raise AnalyzerError(f"unknown record kind {kind!r}; one of "
                            + ", ".join(records.RECORD_KINDS))


# --- writing ----------------------------------------------------------------

class Scratch:
    """The facts one worker process extracted, in a private SQLite file
    (tables without indexes, no journal), for :meth:`Writer.merge`.  Rows go
    from the worker to the store without being serialised through a pipe."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.unlink(missing_ok=True)
        self.conn = sqlite3.connect(self.path, isolation_level=None)
        self.conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")
        _script(self.conn, _schema())
        self.conn.execute("BEGIN")

    def add(self, rows: dict[str, list]) -> None:
        """Add the rows of one file (:func:`fact_rows`)."""
        for kind, values in rows.items():
            self.conn.executemany(_insert(kind), values)

    def commit(self) -> None:
        """Make what was added visible to the store's writer."""
        self.conn.execute("COMMIT")
        self.conn.execute("BEGIN")


#: scratch files attached at once (SQLite allows 10 by default)
_MAX_ATTACHED = 8


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
        self._signed = False  # stat signatures written (a commit without a new generation)
        self._attached: list[str] = []

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

    def signatures(self) -> dict[str, tuple]:
        """path -> ``(size, mtime_ns, ctime_ns, inode, sha256)`` recorded by
        :meth:`sign` (none when fresh)."""
        if self.fresh:
            return {}
        return {r[0]: r[1:] for r in self.conn.execute(
            "SELECT path, size, mtime_ns, ctime_ns, inode, sha256 FROM stats")}

    def sign(self, rows: Iterable[tuple], drop: Iterable[str] = ()) -> None:
        """Record ``(path, size, mtime_ns, ctime_ns, inode, sha256)`` signatures and
        forget those of ``drop``; committed with the transaction even when no
        fact changed (the store's generation then stays)."""
        drop = [(p,) for p in drop]
        rows = list(rows)
        if drop:
            self.conn.executemany("DELETE FROM stats WHERE path=?", drop)
        if rows:
            self.conn.executemany("INSERT OR REPLACE INTO stats VALUES (?,?,?,?,?,?)", rows)
        self._signed = self._signed or bool(rows or drop)

    def remove(self, paths: Iterable[str]) -> None:
        """Drop the files ``paths`` and their facts."""
        rows = [(p,) for p in paths]
        if not rows:
            return
        self.changed = True
        for kind in records.RECORD_KINDS:
            self.conn.executemany(f"DELETE FROM {kind} WHERE file=?", rows)
        self.conn.executemany("DELETE FROM files WHERE path=?", rows)
        self.conn.executemany("DELETE FROM stats WHERE path=?", rows)

    def add(self, stat: FileRow, rows: dict[str, list]) -> None:
        """Store one file: its statistics and its rows by kind (:func:`fact_rows`),
        replacing what the store had for that file."""
        if not self.fresh:
            self.remove([stat.path])
        self.changed = True
        conn = self.conn
        conn.execute("INSERT INTO files VALUES (?,?,?,?,?,?,?)", _file_row(stat))
        for kind, values in rows.items():
            conn.executemany(_insert(kind), values)

    def add_file(self, stat: FileRow) -> None:
        """Store one file's statistics only; its facts come by :meth:`merge`."""
        self.changed = True
        self.conn.execute("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?)",
                          _file_row(stat))

    def merge(self, scratch: str | os.PathLike) -> None:
        """Copy every fact of a :class:`Scratch` file into the store (the
        caller has removed the old facts of its files)."""
        self.changed = True
        conn, n = self.conn, len(self._attached)
        if n < _MAX_ATTACHED:  # ATTACH inside a transaction: DETACH only after it
            alias = f"scratch{n}"
            conn.execute(f"ATTACH DATABASE ? AS {alias}", (str(scratch),))
            self._attached.append(alias)
            for kind in records.RECORD_KINDS:
                conn.execute(f"INSERT INTO main.{kind} SELECT * FROM {alias}.{kind}")
            return
        src = sqlite3.connect(scratch)
        try:
            for kind in records.RECORD_KINDS:
                conn.executemany(_insert(kind), src.execute(f"SELECT * FROM {kind}"))
        finally:
            src.close()

    def add_facts(self, facts: records.FileFacts) -> None:
        """Store one file's :class:`records.FileFacts`."""
        rows = fact_rows(facts)
        self.add(FileRow(facts.file, facts.sha256, facts.size, facts.error_nodes,
                         facts.error_bytes, facts.warnings, rows_digest(rows)), rows)

    def _finish(self) -> None:
        conn = self.conn
        _script(conn, _indexes())
        gen = conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        meta = {"schema": SCHEMA_VERSION, "fingerprint": self.fingerprint,
                "generation": str(int(gen[0]) + 1 if gen else 1),
                "fields": json.dumps({k: columns(k) for k in records.RECORD_KINDS})}
        conn.executemany("INSERT OR REPLACE INTO meta VALUES (?,?)", meta.items())
        conn.execute("COMMIT")

    def __exit__(self, exc_type, exc, tb) -> None:
        conn = self.conn
        try:
            if exc_type is None and self.changed:
                self._finish()
            elif exc_type is None and self._signed:
                conn.execute("COMMIT")
            elif conn.in_transaction:
                conn.execute("ROLLBACK")
            for alias in self._attached:
                conn.execute(f"DETACH DATABASE {alias}")
        finally:
            conn.close()
            self.conn = None
        if self.fresh:
            if exc_type is None:
                fsync(self.target)
                os.replace(self.target, self.path)
            else:
                self.target.unlink(missing_ok=True)
        if exc_type is None:
            _mark_checked(self.path)


def _script(conn: sqlite3.Connection, text: str) -> None:
    """Run ``;``-separated statements inside the open transaction
    (``executescript`` would commit it first)."""
    for stmt in text.split(";\n"):
        if stmt.strip():
            conn.execute(stmt)


def fsync(path: Path) -> None:
    """Flush a file to disk (before it is renamed into place)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_temps(path: Path) -> None:
    """Delete temporary stores and scratch files that killed writers left behind."""
    remove_stale(path.parent, (f"{path.name}.tmp-",))


def _usable(path: Path, fingerprint: str) -> bool:
    """Is there a complete store of this schema and fingerprint at ``path``?"""
    if not _checked_before(path):
        if integrity_problem(path):  # missing, or damaged: made afresh
            return False
        _mark_checked(path)
    try:
        conn = _connect(path)
        try:
            meta = _meta(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return False
    return (meta.get("schema") == SCHEMA_VERSION and "generation" in meta
            and meta.get("fingerprint") == fingerprint)
