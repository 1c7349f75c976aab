"""The boot: the kernel's own initialisation of the analysed code, run once.

Takes a machine, the generator and a boot plan (the calls ``start_kernel``
makes into the analysed tree, then the initcalls of the built-in files in
level and link order, see :func:`plan`); gives a :class:`BootReport`.  Each
entry runs from its C into all of its callees, in strict mode: an entry that
would need a value the model does not know, a construct it cannot translate,
or code it cannot reach is rolled back as a whole and listed with the reason,
so that the booted state holds only what the kernel's code computed.  Per
namespace ``init`` of ``register_pernet_subsys`` & co. runs because the
kernel's own ``register_pernet_operations`` runs (``ops_init`` for
``init_net``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from analyzer.errors import AnalyzerError
from analyzer.model.values import display

__all__ = ["BootCall", "BootEntry", "BootReport", "boot", "plan"]


@dataclass(frozen=True)
class BootCall:
    """One call of the boot plan: an initcall or a call of start_kernel."""

    function: str
    file: str
    line: int
    level: str  # "start_kernel", "pure", "core", ... "late"
    why: str = ""  # why it is in the plan (its initcall macro, the table line)


@dataclass(frozen=True)
class BootEntry:
    """What became of one call of the plan."""

    call: BootCall
    status: str  # "ran" | "failed" (returned an error) | "skipped" (rolled back)
    value: str = ""
    reason: str = ""
    steps: int = 0
    #: decisions it took on values the model does not know (assume.Assumption.text)
    assumptions: tuple[str, ...] = ()
    #: calls inside it that failed and were undone alone: (caller, function, why)
    undone: tuple[tuple[str, str, str], ...] = ()


@dataclass
class BootReport:
    """The boot: what ran, what was skipped and why, and what the plan left out."""

    entries: list[BootEntry] = field(default_factory=list)
    left_out: list[tuple[str, str, str]] = field(default_factory=list)  # (fn, file, why)
    seconds: float = 0.0
    steps: int = 0
    #: the boot image: "read" (this boot was loaded), "written", or why not
    image: str = ""

    @property
    def skipped(self) -> list[BootEntry]:
        return [e for e in self.entries if e.status == "skipped"]

    @property
    def assumptions(self) -> list[str]:
        return [a for e in self.entries for a in e.assumptions]

    def to_json(self) -> dict:
        return {"seconds": round(self.seconds, 3), "steps": self.steps,
                "assumptions": len(self.assumptions),
                "ran": [_entry(e) for e in self.entries if e.status != "skipped"],
                "skipped": [_entry(e) for e in self.skipped],
                "left_out": [{"function": f, "file": p, "why": w} for f, p, w in self.left_out]}


def _entry(e: BootEntry) -> dict:
    out = {**asdict(e.call), "status": e.status, "steps": e.steps}
    if e.value:
        out["value"] = e.value
    if e.reason:
        out["reason"] = e.reason
    out["assumptions"] = list(e.assumptions)
    out["undone"] = [{"caller": c, "function": f, "why": w} for c, f, w in e.undone]
    return out


def boot(m, calls: list[BootCall]) -> BootReport:
    """Run ``calls`` on ``m`` in order; each one whole or not at all."""
    start = time.perf_counter()
    report = BootReport()
    saved = m.phase, m.strict
    m.phase, m.strict = "boot", False
    try:
        for call in calls:
            report.entries.append(_run_one(m, call))
    finally:
        m.phase, m.strict = saved
    report.steps = len(m.steps)
    report.seconds = time.perf_counter() - start
    return report


def _run_one(m, call: BootCall) -> BootEntry:
    cp = m.checkpoint()
    first, guesses, undone = len(m.steps), len(m.assumptions), len(m.contained)
    m.ticks, m.budget_base, m.assumed_at = 0, first, {}
    try:
        value = m.invoke(call.function, (), origin=call.file)
    except AnalyzerError as e:  # ModelError, Untranslatable, Undecidable
        m.rollback(cp)
        del m.contained[undone:]
        return BootEntry(call, "skipped", reason=_short(str(e)))
    except RecursionError:
        m.rollback(cp)
        del m.contained[undone:]
        return BootEntry(call, "skipped", reason="recursion too deep")
    failed = isinstance(value, int) and not isinstance(value, bool) and int(value) < 0
    return BootEntry(call, "failed" if failed else "ran", display(value) if value is not None
                     else "", steps=len(m.steps) - first,
                     assumptions=tuple(a.text() for a in m.assumptions[guesses:]),
                     undone=tuple(m.contained[undone:]))


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def plan(gen, data: dict) -> tuple[list[BootCall], list[tuple[str, str, str]]]:
    """The boot plan and what it leaves out: the ``[boot].start_kernel`` calls of
    the data table, then the initcalls of the analysed tree that the
    configuration builds in, by level and link order."""
    calls = []
    for name in data.get("boot", {}).get("start_kernel", []):
        rec = gen.facts.functions(name)
        calls.append(BootCall(name, rec[0].file if rec else "", rec[0].line if rec else 0,
                              "start_kernel", "called by start_kernel (init/main.c)"))
    initcalls, left_out = gen.initcalls()
    return calls + initcalls, left_out
