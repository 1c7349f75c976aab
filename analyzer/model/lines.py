"""The C lines a run executes, with the call stack and its locals at each.

Takes a machine running translated code (every generated function is
compiled under the name ``<model:FILE:FUNCTION>`` and maps its Python lines
to C lines, :meth:`~analyzer.model.generate.Generator.locate`) and gives, while
:func:`recording` is active, :class:`LineEvent` records: one each time the
run reaches a new C line of a function, with the stack of C frames (each
with its locals as the trace shows values).  The debugger pages and the
``ran``/``not-ran`` marks of the code excerpts read them; the boot is not
recorded (only a scenario's run).

It uses :func:`sys.settrace` restricted to the model's own code objects:
other Python code runs untraced.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from analyzer.model.objects import Cell
from analyzer.model.values import display

__all__ = ["Local", "FrameView", "LineEvent", "recording"]

_PREFIX = "<model:"
#: names of the generated code that are not C locals
_NOT_LOCALS = frozenset({"rt", "F", "G", "K", "S"})


@dataclass(frozen=True)
class Local:
    name: str
    value: str


@dataclass(frozen=True)
class FrameView:
    """One C function on the stack: where it is and its locals (parameters first)."""

    function: str
    file: str
    line: int
    locals: tuple[Local, ...]


@dataclass(frozen=True)
class LineEvent:
    """The run reached ``file:line`` of ``function``; ``after`` steps of the
    trace happened before it; ``stack`` is outermost first (the last frame is
    this function); ``writes`` is the number of the run's writes (``Run.writes``,
    the boot's included) made before it, -1 when not counted."""

    after: int
    function: str
    file: str
    line: int
    stack: tuple[FrameView, ...]
    writes: int = -1


def _c_function(code) -> str | None:
    """The C function of a generated code object: ``<model:net/socket.c:sock_alloc>``
    (its top-level function, not a nested macro body)."""
    name = code.co_filename
    if not name.startswith(_PREFIX) or " " in name:  # "init X", "struct X"
        return None
    function = name[:-1].rsplit(":", 1)[-1]
    return function if code.co_name == function else None


def _locals(frame) -> tuple[tuple[Local, ...], bool]:
    """The frame's C locals as shown, and whether one is address-taken."""
    out, cells = [], False
    for name, value in frame.f_locals.items():
        if name.startswith("_k_"):  # a C name Python reserves (type, id, ...)
            name = name[3:]
        elif name.startswith("_") or name in _NOT_LOCALS:
            continue
        if isinstance(value, Cell) and value.name == name:  # an address-taken local
            value, cells = value.load(), True
        try:
            shown = display(value)
        except Exception:  # noqa: BLE001 - a value that cannot show itself
            shown = "?"
        out.append(Local(name, shown if len(shown) <= 200 else shown[:197] + "..."))
    return tuple(out), cells


def _stack(frame, locate: Callable,
           seen: dict[int, tuple[FrameView, bool]]) -> tuple[FrameView, ...]:
    """The C frames from ``frame`` outwards.  The innermost is read afresh; an
    outer one has not moved since it made the call in progress, so its view
    from ``seen`` (by frame id, with whether it holds an address-taken local)
    serves again, unless it holds such a local (``&len`` passed down: the callee
    may have written it)."""
    views = []
    while frame is not None:
        function = _c_function(frame.f_code)
        if function is not None:
            view, cells = seen.get(id(frame), (None, True)) if views else (None, True)
            if view is None or cells:
                where = locate(frame.f_code.co_filename, frame.f_lineno) or ("", 0)
                shown, cells = _locals(frame)
                view = FrameView(function, where[0], where[1], shown)
                seen[id(frame)] = view, cells
            views.append(view)
        frame = frame.f_back
    return tuple(reversed(views))


@contextmanager
def recording(steps: Callable[[], int], locate: Callable,
              writes: Callable[[], int] = lambda: -1) -> Iterator[list[LineEvent]]:
    """Record :class:`LineEvent`s into the yielded list while the block runs;
    ``steps()`` is the number of trace steps so far, ``writes()`` of writes."""
    events: list[LineEvent] = []
    last: dict[int, tuple[str, int]] = {}  # frame id -> its last C line
    seen: dict[int, tuple[FrameView, bool]] = {}  # frame id -> its view at its last line

    def local(frame, event, arg):
        if event == "line":
            where = locate(frame.f_code.co_filename, frame.f_lineno)
            if where and where[1] and last.get(id(frame)) != where:
                last[id(frame)] = where
                top = frame
                while top is not None and _c_function(top.f_code) is None:
                    top = top.f_back  # a macro body: the line belongs to its function
                if top is not None:
                    events.append(LineEvent(steps(), _c_function(top.f_code), where[0],
                                            where[1], _stack(frame, locate, seen), writes()))
        return local

    def tracer(frame, event, arg):
        if frame.f_code.co_filename.startswith(_PREFIX):
            last.pop(id(frame), None)  # a new call (ids of dead frames are reused)
            seen.pop(id(frame), None)
            return local
        return None

    old = sys.gettrace()
    sys.settrace(tracer)
    try:
        yield events
    finally:
        sys.settrace(old)
