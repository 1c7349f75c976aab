"""The result of a model run: the trace (steps) and the object snapshots.

Takes what a :class:`~analyzer.model.machine.Machine` recorded (step dicts,
the write log, the objects made) and gives :class:`Run`: ``steps`` as
:class:`Step` records, ``snapshot(n)`` (every object after step ``n``) and
``to_json()``.  Boot steps are kept apart in ``boot``; objects made at boot
(the globals the registrations filled) are in every snapshot.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from functools import cached_property

from analyzer.model import rt
from analyzer.model.assume import Assumption

__all__ = ["Step", "Run", "default_display"]


@dataclass(frozen=True)
class Step:
    """One event: a ``call`` or ``return`` of a translated function, a
    ``stub`` (a function off the path, with its assumed value), or an
    ``assume`` (a decision taken on an unknown value; ``note`` says which).

    ``file``/``line`` locate the called function's definition; ``site`` is the
    call site (``file:line``); ``via`` is the dispatch evidence of an indirect
    call; ``changes`` (on ``return``) are the writes made by the function's own
    statements and the primitives it called; ``value`` is the returned or
    assumed value; ``notes`` are assumptions made about unknown values."""

    n: int
    event: str
    function: str
    file: str
    line: int
    depth: int
    via: dict | None = None
    changes: tuple = ()
    note: str = ""
    site: str = ""
    value: str = ""
    notes: tuple[str, ...] = ()


def default_display(spec: rt.FieldSpec) -> str:
    """What a zeroed member shows."""
    if spec.kind == "ptr":
        return "NULL"
    if spec.kind in ("struct", "opaque"):
        return "{...}"
    if spec.kind == "array":
        return "[...]"
    return "0"


@dataclass
class Run:
    """A finished model run."""

    scenario: str
    args: tuple
    result: str
    steps: list[Step]
    boot: list[Step]
    objects: list[tuple[str, str, int, tuple]] = field(default_factory=list)
    writes: list[tuple[int, str, str, str]] = field(default_factory=list)
    seconds: float = 0.0
    #: decisions taken on unknown values during the run (not the boot)
    assumptions: list[Assumption] = field(default_factory=list)
    #: the boot the run started from (analyzer.model.boot.BootReport)
    boot_report: object = None
    #: each new C line the run reached, with the stack (analyzer.model.lines)
    lines: list = field(default_factory=list)
    #: the part of ``objects`` and ``writes`` it shares with the other runs of its
    #: booted state (see :func:`_prefix`), or None
    prefix: object = None

    def executed_lines(self, function: str, file: str) -> set[int]:
        """The lines of ``function`` (defined in ``file``) that the run executed."""
        return {e.line for e in self.lines if e.function == function and e.file == file}

    @classmethod
    def from_machine(cls, m: rt.Machine, scenario: str, args: tuple, result,
                     boot_count: int) -> Run:
        steps = [_step(s, boot_count) for s in m.steps[boot_count:]]
        boot = [_step(s, 0) for s in m.steps[:boot_count]]
        prefix = _prefix(m, boot_count)  # what every run of the booted state shares
        n_objects, n_writes = (prefix.objects_count, prefix.writes_count) if prefix else (0, 0)
        objects = (prefix.objects if prefix else []) \
            + _objects(m.objects[n_objects:], boot_count)
        writes = (prefix.writes if prefix else []) + _writes(m.writes[n_writes:], boot_count)
        assumptions = [replace(a, step=a.step - boot_count) for a in m.assumptions
                       if a.step > boot_count]
        return cls(scenario, tuple(args), rt.display(result), steps, boot, objects, writes,
                   assumptions=assumptions, prefix=prefix)

    def snapshot(self, n: int | None = None, own: bool = False,
                 also: frozenset[str] | set[str] = frozenset()) -> dict[str, dict]:
        """Every object as it is when step ``n`` happens (after the last step if
        None): a ``return`` step includes all the function did, a ``call`` step
        the state the function starts from.  Objects made at boot or statically
        are there from step 0; ``own`` leaves them out (only what the run made,
        and the boot's objects named in ``also``).
        ``{label: {"type": ..., "fields": [[name, display], ...]}}``; the fields of
        objects no step changed are shared tuples (read them, do not change them)."""
        last = len(self.steps) + 1 if n is None else n
        base = self._base
        if own:  # the boot's objects named in ``also``, in the boot's order
            order = self._base_order
            base = {label: base[label] for label in sorted(
                (lab for lab in also if lab in base), key=order.__getitem__)}
        out: dict[str, dict] = {label: {"type": kind, "fields": fields}
                                for label, (kind, fields) in base.items()}
        fresh: set[str] = set()  # objects whose field list is this call's own
        made, later = self._later
        for label, kind, created, specs in made:
            if created >= last:
                break
            out[label] = {"type": kind, "fields": [list(p) for p in specs]}
            fresh.add(label)
        for step, label, name, shown in later:
            if step >= last:
                break
            if label not in out:
                if own or label != "globals":
                    continue
                out[label] = {"type": "globals", "fields": []}
            obj = out[label]
            if label not in fresh:  # copy the shared base's list before changing it
                obj["fields"] = [list(p) for p in obj["fields"]]
                fresh.add(label)
            for pair in obj["fields"]:
                if pair[0] == name:
                    pair[1] = shown
                    break
            else:
                obj["fields"].append([name, shown])
        return out

    @cached_property
    def _later(self) -> tuple[list, list]:
        """(objects made by the run, writes after step 0), by step."""
        made = sorted((o for o in self.objects if o[2] > 0), key=lambda o: o[2])
        later = sorted((w for w in self.writes if w[0] > 0), key=lambda w: w[0])
        return made, later

    @cached_property
    def _base_order(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self._base)}

    @cached_property
    def _base(self) -> dict[str, tuple[str, tuple]]:
        """The state at step 0: boot and static objects with their step-0 writes
        (an object no write changed keeps its layout's shared tuple of fields).
        The booted state's part is made once for all the runs that share it."""
        prefix = self.prefix
        if prefix is None:
            return _base(self.objects, self.writes)
        if prefix.base is None:
            prefix.base = _base(prefix.objects, prefix.writes)
        return _base(self.objects[prefix.objects_count:], self.writes[prefix.writes_count:],
                     prefix.base)

    def functions(self) -> list[str]:
        """The called functions in order (calls and stubs)."""
        return [s.function for s in self.steps if s.event in ("call", "stub")]

    def to_json(self) -> dict:
        return {"scenario": self.scenario, "args": list(self.args), "result": self.result,
                "seconds": round(self.seconds, 3),
                "steps": [asdict(s) for s in self.steps],
                "boot": self.boot_report.to_json() if self.boot_report is not None
                else [asdict(s) for s in self.boot],
                "objects": [{"label": lb, "type": t, "created": c} for lb, t, c, _ in
                            self.objects],
                "writes": [list(w) for w in self.writes],
                "assumptions": [asdict(a) for a in self.assumptions],
                "lines": [[e.after, e.function, e.file, e.line] for e in self.lines],
                "final": self.snapshot()}


def _base(objects: list, writes: list,
          before: dict | None = None) -> dict[str, tuple[str, tuple]]:
    """The objects made at step 0 with the writes of step 0 (see Run._base);
    ``before``: the same of the objects and writes that come before these (a
    booted state's): its objects first, then these, then the tables its writes
    alone made (``globals``), as if all were read at once."""
    base: dict[str, tuple[str, tuple | list]] = {}
    made_by_writes = []
    if before is not None:
        made_by_writes = [k for k, (kind, _) in before.items() if kind == "globals"]
        base = {k: v for k, v in before.items() if k not in made_by_writes}
    for label, kind, created, specs in objects:
        if created == 0:
            base[label] = (kind, specs)
    for label in made_by_writes:
        base[label] = before[label]
    index: dict[str, dict[str, int]] = {}
    for step, label, name, shown in writes:
        if step != 0:
            continue
        if label not in base:
            if label != "globals":
                continue
            base[label] = ("globals", [])
        kind, fields = base[label]
        if type(fields) is not list:  # its own copy, on its first write
            fields = [tuple(p) for p in fields]
            base[label] = (kind, fields)
        where = index.get(label)
        if where is None:  # made once per object (setdefault would make it per write)
            where = index[label] = {k: i for i, (k, _) in enumerate(fields)}
        if name in where:
            fields[where[name]] = (name, shown)
        else:
            where[name] = len(fields)
            fields.append((name, shown))
    return {k: (kind, tuple(fields)) for k, (kind, fields) in base.items()}


@dataclass
class _Prefix:
    """The objects and writes of a booted state, as every run lent it has them
    first (its own come after), and their state at step 0 once made."""

    objects_count: int
    writes_count: int
    objects: list
    writes: list
    base: dict | None = None


def _prefix(m: rt.Machine, boot_count: int) -> _Prefix | None:
    """The booted state's part of a run's tables, made once per booted state
    (the machine lent by ``checked_out``; kept on it while its logs start the same)."""
    cp = m.lent
    if cp is None or not 0 < cp.objects <= len(m.objects) or not 0 < cp.writes <= len(m.writes):
        return None
    key = (cp.objects, cp.writes, boot_count, id(m.objects[cp.objects - 1]),
           id(m.writes[cp.writes - 1]))
    if m.run_prefix is None or m.run_prefix[0] != key:  # one booted state per machine
        m.run_prefix = key, _Prefix(cp.objects, cp.writes,
                                    _objects(m.objects[:cp.objects], boot_count),
                                    _writes(m.writes[:cp.writes], boot_count))
    return m.run_prefix[1]


def _objects(objects: list, boot_count: int) -> list:
    out = []
    for label, kind, created, obj in objects:
        specs = _defaults(obj._layout) \
            if isinstance(obj, rt.Obj) and not isinstance(obj, rt.Opaque) else ()
        out.append((label, kind, max(0, created - boot_count), specs))
    return out


def _writes(writes: list, boot_count: int) -> list:
    return [(max(0, n - boot_count), obj, fld, shown) for n, obj, fld, shown in writes]


_DEFAULTS: dict[int, tuple] = {}


def _defaults(layout) -> tuple:
    """(member, zero value shown) of each member of a layout, once per layout."""
    found = _DEFAULTS.get(id(layout))
    if found is None or found[0] is not layout:
        found = _DEFAULTS[id(layout)] = (
            layout, tuple((f.name, default_display(f)) for f in layout.fields))
    return found[1]


def _step(s: dict, offset: int) -> Step:
    return Step(n=s["n"] - offset, event=s["event"], function=s["function"], file=s["file"],
                line=s["line"], depth=s["depth"], via=s.get("via"),
                changes=tuple(s.get("changes", ())), note=s.get("note", ""),
                site=s.get("site", ""), value=s.get("value", ""),
                notes=tuple(s.get("notes", ())))
