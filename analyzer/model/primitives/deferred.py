"""Deferred work: timers (kernel/time/timer.c) and work queues
(kernel/workqueue.c).  The model has no clock and no scheduler: arming a timer
or queueing work is recorded in the machine's ``deferred`` registry (what,
which function, when), and nothing runs later."""

from __future__ import annotations

from analyzer.model.context import current_machine
from analyzer.model.primitives.registry import primitive
from analyzer.model.values import display


def _record(kind: str, what, *details) -> None:
    m = current_machine()
    m.record("deferred", (kind, what, details))
    m.note(f"{kind} {display(what)}: recorded; the model has no clock or scheduler to run it")


@primitive
def queue_work(*args):
    """``queue_work(wq, work)``, ``schedule_work(work)``, ``queue_delayed_work``."""
    work = args[1] if len(args) > 1 else args[0]
    _record("work queued", work, *args)
    return 1


@primitive
def arm_timer(timer, *args):
    """``mod_timer(timer, expires)``, ``add_timer(timer)``."""
    _record("timer armed", timer, *args)
    return 0


@primitive
def cancel(*args):
    """``del_timer()``, ``cancel_work_sync()``: nothing was pending."""
    return 0


@primitive
def new_workqueue(*args):
    """``alloc_workqueue(fmt, flags, max_active)``: a work queue object; work
    queued on it is recorded, never run."""
    m = current_machine()
    return m.new("workqueue_struct")
