"""The model's run context: the active machine and the two control exceptions.

Takes nothing at import.  Generated code and primitives reach the machine that
runs them through :func:`current_machine` (a context variable set by
:func:`run_in`), never through a global.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import TYPE_CHECKING

from analyzer.errors import AnalyzerError

if TYPE_CHECKING:
    from analyzer.model.machine import Machine

__all__ = ["ModelError", "Goto", "current_machine", "active_machine", "run_in"]

_MACHINE: contextvars.ContextVar[Machine] = contextvars.ContextVar("model_machine")


class ModelError(AnalyzerError):
    """The model cannot go on (an untranslatable statement, a NULL dereference)."""


class Goto(Exception):  # noqa: N818 - a jump, not an error
    """``goto label`` inside a translated function."""

    def __init__(self, label: str):
        super().__init__(label)
        self.label = label


def current_machine() -> Machine:
    """The machine running now (a :class:`ModelError` outside a run)."""
    m = _MACHINE.get(None)
    if m is None:
        raise ModelError("no model run is active")
    return m


def active_machine() -> Machine | None:
    """The machine running now, or None."""
    return _MACHINE.get(None)


def run_in(m: Machine, fn_: Callable, *args):
    """Run ``fn_`` with ``m`` as the active machine."""
    token = _MACHINE.set(m)
    try:
        return fn_(*args)
    finally:
        _MACHINE.reset(token)
