"""The calling process: ``current`` (see analyzer/model/process.py)."""

from __future__ import annotations

from analyzer.model.context import current_machine
from analyzer.model.primitives.registry import primitive


@primitive
def current():
    """``current``: the task of the process the machine runs for (made from
    its :class:`~analyzer.model.process.Process` on first use)."""
    m = current_machine()
    if m.task is None:
        from analyzer.model.process import Process, build_task

        m.task = build_task(m, m.process or Process())
    return m.task
