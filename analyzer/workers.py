"""A share of a stage's work done by a forked process, meanwhile.

Takes a function of no arguments; :class:`Worker` runs it in a child forked
from this process (the child sees this process's objects as they were, at no
copying cost) and gives back what it returned, as JSON through a pipe (plain
data only: dicts, lists, strings, numbers).  An error in the child
is raised again here: an :class:`~analyzer.errors.AnalyzerError` as itself, an
``sqlite3.Error`` or ``OSError`` (a full disk) as ``sqlite3.OperationalError``
with the same message, anything else as ``RuntimeError``.  The child ends with
``os._exit``: it frees nothing and runs no exit handler.  The child opens
SQLite connections of its own (:func:`analyzer.dbfile.reopen_in_child`).  Where ``os.fork`` is
missing the function runs at once in this process.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import sys
from collections.abc import Callable

from analyzer.errors import AnalyzerError

__all__ = ["Worker", "inline", "forks"]

_FORK = [True]


@contextlib.contextmanager
def inline():
    """Within: workers run at once in this process (when another stage takes the
    other core, a fork gains no time and its copied pages cost memory)."""
    saved, _FORK[0] = _FORK[0], False
    try:
        yield
    finally:
        _FORK[0] = saved


def forks() -> bool:
    """Does a :class:`Worker` run in a forked process here (not :func:`inline`)?"""
    return hasattr(os, "fork") and _FORK[0]


class Worker:
    """``w = Worker(fn)`` starts ``fn()`` in a forked child; ``w.result()``
    waits for it and returns its value (decoded from JSON); ``w.stop()`` ends
    a child whose result is not wanted any more (after an error here)."""

    def __init__(self, work: Callable[[], object]):
        self.pid = 0
        self._done: tuple | None = None
        if not forks():  # as plain data, as from a child
            self._done = tuple(json.loads(json.dumps(_outcome(work))))
            return
        sys.stdout.flush()
        sys.stderr.flush()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(read)
            _child(write, work)
        os.close(write)
        self.pid, self._read = pid, read

    def result(self):
        """What the function returned; its error raised again."""
        if self._done is None:
            with os.fdopen(self._read, "rb") as f:
                data = f.read()
            _, status = os.waitpid(self.pid, 0)
            self.pid = 0
            try:
                self._done = tuple(json.loads(data))
            except ValueError:
                self._done = ("died", f"a worker process ended without a result (wait "
                                      f"status {status})")
        kind, value = self._done
        if kind == "value":
            return value
        if kind == "analyzer":
            raise AnalyzerError(value)
        if kind == "write":
            raise sqlite3.OperationalError(value)
        raise RuntimeError(value)

    def stop(self) -> None:
        """End the child if it still runs (its result was not asked for)."""
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            os.close(self._read)
            self.pid = 0


def _outcome(work: Callable[[], object]) -> tuple[str, object]:
    try:
        return "value", work()
    except AnalyzerError as e:
        return "analyzer", str(e)
    except sqlite3.Error as e:
        return "write", str(e)
    except OSError as e:
        return "write", f"{e.filename + ': ' if e.filename else ''}{e.strerror or e}"
    except Exception as e:  # noqa: BLE001 - raised again in the parent
        return "error", f"{type(e).__name__}: {e}"


def _child(fd: int, work: Callable[[], object]) -> None:
    from analyzer.dbfile import reopen_in_child

    code = 1
    try:
        reopen_in_child()  # no SQLite connection is used on both sides of a fork
        outcome = _outcome(work)
        try:
            data = json.dumps(outcome)
        except (TypeError, ValueError) as e:
            data = json.dumps(("error", f"a worker's result is not plain data: {e}"))
        with os.fdopen(fd, "w") as f:
            f.write(data)
        code = 0
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
