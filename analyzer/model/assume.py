"""The one place where the model decides on a value it does not know.

Takes a :class:`~analyzer.model.values.Sym` met where C needs a decision (the
truth of a condition, a switch, a write through an unknown pointer) and the
machine running it; gives the choice and records it as an
:class:`Assumption`: a step of its own in the trace with the C line, the
unknown, why it is unknown and what was chosen.  A machine in ``strict`` mode
(the boot) refuses to assume: the decision raises :class:`Undecidable`, so
that the caller can say what could not run instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass

from analyzer.model.context import ModelError, active_machine

__all__ = ["Assumption", "Undecidable", "truth_of_unknown", "case_of_unknown", "drop_write",
           "distinct_slot"]


@dataclass(frozen=True)
class Assumption:
    """A decision taken on an unknown value."""

    kind: str  # "branch" | "switch" | "write"
    unknown: str  # how the unknown shows: "?ca->flags"
    why: str  # why the model does not know it
    choice: str  # what the model did: "taken as non-zero", "default case", "write dropped"
    file: str = ""
    line: int = 0
    function: str = ""
    step: int = 0  # the trace step it is recorded at

    def text(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file else ""
        why = f" ({self.why})" if self.why else ""
        return f"{where}{self.unknown}{why}: {self.choice}"


class Undecidable(ModelError):  # noqa: N818 - names the situation
    """A decision on an unknown where the machine may not assume."""

    def __init__(self, assumption: Assumption):
        super().__init__(f"needs a value the model does not know: {assumption.text()}")
        self.assumption = assumption


def _decide(kind: str, sym, choice: str) -> None:
    m = active_machine()
    if m is None:
        return
    file, line = m.caller_location() or ("", 0)
    a = Assumption(kind, repr(sym), getattr(sym, "why", ""), choice, file, line,
                   m.frame_name())
    if m.strict:
        raise Undecidable(a)
    key = (a.file, a.line, a.kind)
    m.dset(m.assumed_at, key, m.assumed_at.get(key, 0) + 1)  # per run: a rollback undoes it
    if m.assumed_at[key] > 64:  # a loop that turns on an assumption
        raise ModelError(f"{a.file}:{a.line}: the same assumption taken 64 times: "
                         "a loop on a value the model does not know")
    m.assume(a)


def truth_of_unknown(sym) -> bool:
    """``if (x)`` on an unknown: taken as non-zero (a pointer that is valid, a
    flag that is set), except on the result of a function the model cannot
    run, which is taken as its success: a test on it is false (``if (err)``,
    ``if (!p)``, ``if (err < 0)`` all go the way of success)."""
    outcome = getattr(sym, "outcome", None)
    if outcome is not None:
        _decide("branch", sym, "taken as the success of a function the model cannot run")
        return bool(outcome)
    _decide("branch", sym, "taken as non-zero")
    return True


def case_of_unknown(sym, default: int) -> int:
    """``switch (x)`` on an unknown: the default case."""
    _decide("switch", sym, "the default case taken")
    return default


def distinct_slot(arr, key: str, index) -> None:
    """A first use of an array slot at an unknown index while other slots hold
    something: taken as a slot of its own (no collision with them)."""
    others = [k for k in arr.written() if k != key]
    if others:
        _decide("index", index, f"{arr._label}{key} taken as distinct from the "
                f"{len(others)} slot(s) already used")


def some_slot(arr, k: int, index) -> None:
    """An unknown index into an array whose every slot holds something (a hash
    table initialised whole): taken as one slot no other unknown index took; the
    code then reads what that slot holds."""
    _decide("index", index, f"{arr._label}[{k}] taken (every one of its {arr.count} slots "
            "holds something; no other unknown index took this one)")


def drop_write(target, field, value) -> None:
    """A write through an unknown pointer: nothing the model shows can change."""
    from analyzer.model.values import display

    place = f"{target!r}->{field}" if field else repr(target)
    _decide("write", target, f"write of {display(value)} to {place} dropped")
