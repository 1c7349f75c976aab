"""Forked workers, and the same work run inline."""

from __future__ import annotations

import os

import pytest

from analyzer import workers
from analyzer.errors import AnalyzerError


def test_a_worker_runs_in_a_child_and_gives_plain_data():
    assert workers.Worker(os.getpid).result() != os.getpid()
    assert workers.Worker(lambda: (1, "a")).result() == [1, "a"]  # as JSON gives it


def test_inline_workers_run_here_and_give_the_same_data():
    with workers.inline():
        assert workers.Worker(os.getpid).result() == os.getpid()
        assert workers.Worker(lambda: (1, "a")).result() == [1, "a"]
    assert workers.Worker(os.getpid).result() != os.getpid()  # forks again after


def test_an_error_is_raised_again_either_way():
    def fail():
        raise AnalyzerError("the store is missing")

    with pytest.raises(AnalyzerError, match="the store is missing"):
        workers.Worker(fail).result()
    with workers.inline(), pytest.raises(AnalyzerError, match="the store is missing"):
        workers.Worker(fail).result()


def test_a_child_opens_its_own_database_connections():
    from analyzer import dbfile

    class Reader:
        conn = "inherited"

        def connect(self):
            return "its own"

    reader = Reader()
    dbfile.opened(reader)
    try:
        assert workers.Worker(lambda: reader.conn).result() == "its own"
        assert reader.conn == "inherited"
    finally:
        dbfile.closed(reader)
    assert workers.Worker(lambda: reader.conn).result() == "inherited"  # closed: left alone
