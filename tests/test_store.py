"""The SQLite store: round trip of every record kind, lookups, transactions."""

from __future__ import annotations

import sqlite3

import pytest
from standin_extract import sample_facts

from analyzer import records
from analyzer.errors import AnalyzerError
from analyzer.store import (
    KEY_FIELDS,
    FileRow,
    Store,
    Writer,
    columns,
    decode,
    encode,
    fact_rows,
    rows_digest,
)


def _write(path, *facts, fingerprint="fp"):
    with Writer(path, fingerprint) as w:
        for f in facts:
            w.add_facts(f)
    return path


def test_every_kind_has_a_key_field():
    assert set(KEY_FIELDS) == set(records.RECORD_KINDS)


@pytest.mark.parametrize("kind", list(records.RECORD_KINDS))
def test_encode_decode_round_trip(kind):
    for rec in getattr(sample_facts(), kind):
        back = decode(kind, encode(rec))
        assert back == rec
        assert hash(back) == hash(rec)  # tuples, not lists
        assert records.from_dict(type(rec), records.to_dict(back)) == rec


@pytest.mark.parametrize("kind", list(records.RECORD_KINDS))
def test_store_round_trip_every_kind(tmp_path, kind):
    facts = sample_facts("net/x.c")
    other = sample_facts("fs/y.c")
    path = _write(tmp_path / "a.sqlite", facts, other)
    with Store.open(path) as st:
        want = list(getattr(facts, kind)) + list(getattr(other, kind))
        assert list(st.all(kind)) == want
        assert st.in_file(kind, "fs/y.c") == list(getattr(other, kind))
        rec = getattr(facts, kind)[0]
        key = getattr(rec, KEY_FIELDS[kind])
        assert rec in st.find(kind, key)
        assert st.find(kind, "no-such-key") == []
        assert st.count(kind) == len(want)


def test_files_keep_parse_stats_and_warnings(tmp_path):
    facts = sample_facts("net/x.c")
    with Store.open(_write(tmp_path / "a.sqlite", facts)) as st:
        assert st.files() == [FileRow("net/x.c", "0" * 64, 100, 1, 7, facts.warnings,
                                      rows_digest(fact_rows(facts)))]
        assert st.records_hashes() == [("net/x.c", rows_digest(fact_rows(facts)))]
        assert st.hashes() == {"net/x.c": "0" * 64}


def test_find_functions_by_name_and_calls_by_caller_id(tmp_path):
    facts = sample_facts("net/x.c")
    with Store.open(_write(tmp_path / "a.sqlite", facts)) as st:
        [fn] = st.find("functions", "f")
        assert fn.id == "f@net/x.c"
        assert [c.expr for c in st.find("calls", fn.id)] == ["sk->sk_prot->init"]
        assert st.find("registrations", fn.id)[0].table == "inet_family_ops"
        assert st.find("assignments", fn.id)[0].value == "inet_sock_destruct"


def test_open_missing_store_says_run_make_analyze(tmp_path):
    with pytest.raises(AnalyzerError, match=r"no analysis at .*run `kernel-analyzer analyze`"):
        Store.open(tmp_path / "none.sqlite")


def test_open_garbage_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(AnalyzerError, match="bad.sqlite"):
        Store.open(bad)


def test_unknown_kind_is_a_clear_error(tmp_path):
    with (Store.open(_write(tmp_path / "a.sqlite", sample_facts())) as st,
          pytest.raises(AnalyzerError, match="unknown record kind 'nope'")):
        st.find("nope", "x")


def test_generation_changes_on_every_write(tmp_path):
    path = _write(tmp_path / "a.sqlite", sample_facts("a.c"))
    with Store.open(path) as st:
        first = st.generation()
    _write(path, sample_facts("b.c"))
    with Store.open(path) as st:
        assert st.generation() != first
        assert [f.path for f in st.files()] == ["a.c", "b.c"]  # an update, not a rebuild


def test_update_replaces_a_file_and_remove_drops_it(tmp_path):
    path = _write(tmp_path / "a.sqlite", sample_facts("a.c"), sample_facts("b.c"))
    with Writer(path, "fp") as w:
        assert not w.fresh
        w.add_facts(records.FileFacts(file="a.c", sha256="1" * 64))
        w.remove(["b.c"])
    with Store.open(path) as st:
        assert st.hashes() == {"a.c": "1" * 64}
        assert all(st.count(k) == 0 for k in records.RECORD_KINDS)


def test_other_fingerprint_rebuilds_from_nothing(tmp_path):
    path = _write(tmp_path / "a.sqlite", sample_facts("a.c"))
    with Writer(path, "other") as w:
        assert w.fresh and w.old_hashes() == {}
        w.add_facts(sample_facts("b.c"))
    with Store.open(path) as st:
        assert st.hashes() == {"b.c": "0" * 64}
        assert st.meta()["fingerprint"] == "other"


def test_an_exception_leaves_the_old_store(tmp_path):
    path = _write(tmp_path / "a.sqlite", sample_facts("a.c"))
    with pytest.raises(RuntimeError), Writer(path, "fp") as w:
        w.add_facts(sample_facts("b.c"))
        raise RuntimeError("boom")
    with Store.open(path) as st:
        assert st.hashes() == {"a.c": "0" * 64}


def test_a_failed_first_write_leaves_no_store(tmp_path):
    path = tmp_path / "a.sqlite"
    with pytest.raises(RuntimeError), Writer(path, "fp") as w:
        w.add_facts(sample_facts("b.c"))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_stale_temporary_stores_are_removed(tmp_path):
    stale = tmp_path / "a.sqlite.tmp-999999999"
    stale.write_bytes(b"left by a killed run")
    _write(tmp_path / "a.sqlite", sample_facts())
    assert not stale.exists()


def test_tables_have_one_column_per_field_for_plain_sql(tmp_path):
    path = _write(tmp_path / "a.sqlite", sample_facts())
    conn = sqlite3.connect(path)
    for kind in records.RECORD_KINDS:
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({kind})")]
        assert tuple(cols) == columns(kind)
    assert conn.execute("SELECT receiver, field, args FROM calls WHERE expr = "
                        "'sk->sk_prot->init'").fetchall() == [("sk->sk_prot", "init",
                                                               '["sk","ü"]')]
    assert conn.execute("SELECT static FROM globals").fetchall() == [(1,)]


@pytest.mark.kernel
def test_real_store_has_the_functions_of_net_socket_c(store_cfg):
    with Store.open(store_cfg.store_path) as st:
        names = {f.name for f in st.in_file("functions", "net/socket.c")}
        assert {"sock_alloc", "sock_alloc_inode", "__sock_create", "sock_register"} <= names
        [fn] = [f for f in st.find("functions", "sock_alloc") if f.file == "net/socket.c"]
        src = (store_cfg.kernel_dir / "net/socket.c").read_text().splitlines()
        assert "sock_alloc(void)" in src[fn.line - 1]
        callees = {c.callee for c in st.find("calls", fn.id)}
        assert "new_inode_pseudo" in callees
        assert len(st.files()) > 7000


def test_values_of_unexpected_types_still_round_trip():
    odd = records.Function("g", "a.c", 1, 2, "int", (records.Var("x", None, 1),),
                           (records.Var("y", "int", "7"),))
    assert decode("functions", encode(odd)) == odd
    call = records.Call("g", "a.c", 1, "direct", "h", "h", args=("a", 3, None))
    assert decode("calls", encode(call)) == call


@pytest.fixture
def checks(monkeypatch):
    """The paths SQLite's quick check is run on when a Writer opens a store."""
    from analyzer import store

    seen = []

    def count(path):
        seen.append(path)
        return store.integrity_problem.__wrapped__(path)

    count.__wrapped__ = store.integrity_problem
    monkeypatch.setattr(store, "integrity_problem", count)
    return seen


def test_a_store_unchanged_since_it_was_written_is_not_checked_again(tmp_path, checks):
    path = _write(tmp_path / "a.sqlite", sample_facts("a.c"))
    checks.clear()
    for _ in range(2):
        with Writer(path, "fp") as w:
            assert not w.fresh
    assert checks == []


def test_a_store_changed_in_place_is_checked_again(tmp_path, checks):
    import os

    path = _write(tmp_path / "a.sqlite", sample_facts("a.c"))
    st = path.stat()
    with open(path, "r+b") as f:  # garbage over the pages after the first, size kept
        f.seek(4096)
        f.write(os.urandom(st.st_size - 4096))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the mtime put back
    checks.clear()
    with Writer(path, "fp") as w:
        assert w.fresh  # damaged: made afresh
    assert checks == [path]
    with Writer(path, "fp") as w:
        assert not w.fresh
    assert checks == [path]  # the new store was written by the Writer: not checked


def test_a_forked_worker_reads_the_store_through_its_own_connection(tmp_path):
    from analyzer.workers import Worker

    with Store.open(_write(tmp_path / "a.sqlite", sample_facts("net/x.c"))) as st:
        parents = st.conn
        assert Worker(lambda: [st.conn is parents, st.find("functions", "f")[0].id]
                      ).result() == [False, "f@net/x.c"]
        assert st.conn is parents and st.find("functions", "f")
