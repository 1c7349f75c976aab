"""The machine that runs one model: objects, globals, frames and the trace.

Takes, from the generator, how to make struct objects (``layouts``), how to
link a called name (``link``: translated code, a primitive or a stub, see
:mod:`analyzer.model.linker`), how to make a global (``make_global``) and how
to map generated code back to C (``locate``).  Gives a :class:`Machine` that
records every call, return, stub, assumption and write as plain data (read by
:mod:`analyzer.model.trace`), and that can take a :meth:`Machine.checkpoint`
and :meth:`Machine.rollback` to it (the boot runs each initcall that way, and
every scenario starts from the booted state).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from analyzer.errors import AnalyzerError
from analyzer.model.assume import Assumption
from analyzer.model.context import Goto, ModelError
from analyzer.model.objects import (
    Block,
    CArray,
    FieldSpec,
    Obj,
    StaticCell,
    default_of,
    opaque_class,
    spec_of,
    unmangle,
)
from analyzer.model.values import Sym, display

__all__ = ["Machine", "Frame", "Checkpoint"]


@dataclass
class Frame:
    function: str
    file: str
    line: int
    depth: int
    changes: list = field(default_factory=list)


@dataclass(frozen=True)
class Checkpoint:
    """Where the machine was: the lengths of its logs and of its journal."""

    steps: int
    writes: int
    objects: int
    assumptions: int
    journal: int
    frames: int


class Machine:
    """One model: objects, globals, the trace, and the callables.

    ``link(machine, name, origin)`` returns a :class:`~analyzer.model.linker.Link`
    for C function ``name`` as seen from file ``origin``."""

    def __init__(self, layouts: Callable[[str], type | None],
                 link: Callable[[Machine, str, str], object],
                 globals_: Callable[[Machine, str, str], tuple[str, object]],
                 locate: Callable[[str, int], tuple[str, int] | None]):
        self.layouts, self.link, self.make_global, self.locate = \
            layouts, link, globals_, locate
        self.steps: list[dict] = []
        self.writes: list[tuple[int, str, str, str]] = []
        self.objects: list[tuple[str, str, int, Obj | CArray]] = []
        self.assumptions: list[Assumption] = []
        self.assumed_at: dict[tuple, int] = {}
        self.frames: list[Frame] = []
        self.counters: dict[str, int] = {}
        self.globals: dict[str, object] = {}
        self.global_keys: dict[tuple[str, str], str] = {}
        self.statics: dict[str, StaticCell] = {}
        self.where: dict[tuple[int, object], tuple[str, int]] = {}
        #: how each global is held (its FieldSpec), by key
        self.global_specs: dict[str, FieldSpec] = {}
        #: per array (by id): unknown index -> its slot key ("[?1]")
        self.symbolic_keys: dict[int, dict[str, str]] = {}
        #: named registries primitives keep (sysctl tables, timers): name -> list
        self.registry: dict[str, tuple] = {}
        self.phase = "run"
        self.boot_count = 0
        #: the calling process (a Process) and its task_struct, made on first use
        self.process = None
        self.task = None
        self.static_init = False
        #: refuse to assume (the boot): a decision on an unknown raises
        self.strict = False
        self.max_depth = 40
        #: at boot, calls this deep below an initcall are undone alone on failure
        self.contain_depth = 2
        #: (caller, function, reason) of each boot call undone alone
        self.contained: list[tuple[str, str, str]] = []
        #: loop turns so far and the most a boot call or a run may take
        self.ticks = 0
        self.tick_budget = 200_000
        self.budget_base = 0
        #: trace steps a boot call or a run may record
        self.step_budget = 200_000
        #: the machine the model boots (``[machine]`` of primitives.toml)
        self.cpus = 1
        self.memory_mb = 64
        self.machine_globals: dict[str, str] = {}
        self._journal: list[tuple] | None = None
        #: the checkpoint of the booted state while a run has it (:meth:`checked_out`)
        self.lent: Checkpoint | None = None
        #: (key, what every run of this booted state shares) (analyzer.model.trace)
        self.run_prefix: tuple | None = None
        #: ``convert(ctype, value)``: an integer as a variable of C type ``ctype``
        #: holds it (``-1`` in a ``__u16`` is 65535)
        self.convert: Callable[[str, int], int] = lambda ctype, value: value
        #: ``integer_type(ctype)``: is it an integer type (through typedefs)?
        self.integer_type: Callable[[str], bool] = lambda ctype: True
        #: ``struct_of(ctype)``: the struct a type names through typedefs, or None
        self.struct_of: Callable[[str], str | None] = lambda ctype: None
        #: ``offsetof(ctype, member)``: a SizeOf of the struct, or an unknown
        self.offsetof: Callable[[str, str], object] = \
            lambda ctype, m: Sym(f"offsetof({ctype}, {m})")
        #: ``alignof(ctype)``: an int, or an unknown
        self.alignof: Callable[[str], object] = lambda ctype: Sym(f"__alignof__({ctype})")
        #: ``sizeof(ctype)``: a SizeOf, or an unknown
        self.sizeof: Callable[[str], object] = lambda ctype: Sym(f"sizeof({ctype})")
        #: ``constant(name)``: a constant of the analysed tree (None if unknown)
        self.constant: Callable[[str], int | None] = lambda name: None

    def machine_global(self, name: str):
        """A value of the machine the model boots: ``pages``, ``cpus``, or a
        kernel variable ``[machine].globals`` gives in terms of them; None."""
        from analyzer.constants import evaluate_expr

        shift = int(self.constant("PAGE_SHIFT") or 12)
        base = {"pages": (self.memory_mb << 20) >> shift, "cpus": self.cpus}
        if name in base:
            return base[name]
        expr = self.machine_globals.get(name)
        return evaluate_expr(expr, base.__getitem__) if expr is not None else None

    def namespace(self, file: str) -> dict:
        """The names generated code of ``file`` runs with."""
        from analyzer.model import rt

        return {"rt": rt, "F": _Functions(self, file), "G": _Globals(self, file)}

    # --- objects -------------------------------------------------------------------
    def label(self, type_name: str) -> str:
        n = self.counters.get(type_name, 0) + 1
        self.dset(self.counters, type_name, n)
        return f"{type_name}#{n}"

    def new(self, type_name: str, label: str = "", parent: tuple | None = None) -> Obj:
        """A zeroed object of struct ``type_name``."""
        cls = self.layouts(type_name)
        if cls is None:
            cls = opaque_class(type_name)
        return cls(self, label or self.label(type_name), parent)

    def created(self, obj) -> None:
        kind = f"{obj._layout.kind} {obj._layout.name}" if isinstance(obj, Obj) else "array"
        self.objects.append((obj._label, kind, 0 if self.static_init else len(self.steps), obj))

    def forget(self, obj) -> None:
        """Leave ``obj`` out of the state tables (its writes stay in the trace).
        An object is listed once (:meth:`created`), most often just made: it is
        looked for from the end."""
        objects = self.objects
        for i in range(len(objects) - 1, -1, -1):
            if objects[i][3] is obj:
                del objects[i]
                return

    def zero(self, spec: FieldSpec, label: str, parent: tuple):
        if spec.kind == "struct":
            return self.new(spec.target, label, parent)
        if spec.kind == "opaque":
            return opaque_class(spec.target or spec.ctype)(self, label, parent)
        if spec.kind == "array":
            arr = CArray(self, label, spec.elem, spec.count, parent)
            self.created(arr)
            return arr
        return None if spec.kind == "ptr" else 0

    def materialize(self, pointee: str, size: int, label: str):
        """Memory of ``size`` bytes seen as ``pointee``: one struct, or an
        array of as many elements as fit."""
        import re

        from analyzer.model.objects import FieldSpec as Spec

        pointee = re.sub(r"\b(const|volatile|__rcu)\b", " ", pointee).strip()
        m = re.fullmatch(r"(?:struct|union)\s+(\w+)", pointee)
        elem = self.sizeof(pointee)
        if m and not (type(size) is int and isinstance(elem, int) and int(elem) > 0
                      and size >= 2 * int(elem)):
            return self.new(m.group(1), label)  # one struct (and its flexible tail)
        if m:
            arr = CArray(self, label, Spec("", pointee, "struct", m.group(1)),
                         int(size) // int(elem))
            self.created(arr)
            return arr
        count = int(size) // int(elem) if type(size) is int and isinstance(elem, int) \
            and int(elem) else -1
        kind = "ptr" if pointee.endswith("*") else "scalar"
        arr = CArray(self, label, Spec("", pointee, kind), count)
        self.created(arr)
        return arr

    def write(self, holder, key, value) -> None:
        if type(value) is int:
            spec = spec_of(holder, key)
            if spec is not None and spec.kind == "scalar":
                value = self.convert(spec.ctype, value)
        elif isinstance(value, Block):
            spec = spec_of(holder, key) if not isinstance(holder, _Globals) \
                else self.global_specs.get(key)
            if spec is not None and spec.kind == "ptr" and spec.ctype.rstrip().endswith("*"):
                value = value.as_type(spec.ctype.rstrip()[:-1].strip())
        had = key in holder._v
        old = holder._v[key] if had else default_of(holder, key)
        if self._journal is not None:
            self._journal.append((holder._v, key, had, old))
        holder._v[key] = value
        label = holder._label
        name = key if isinstance(key, str) else f"[{key}]"
        self.writes.append((0 if self.static_init else len(self.steps), label, name,
                            display(value)))
        where = self.caller_location()
        if where is not None:
            self.dset(self.where, (id(holder), key), where)
        if self.static_init:
            return
        if self.frames:
            self.frames[-1].changes.append(
                {"object": label, "field": name, "old": display(old), "new": display(value)})

    def dset(self, table: dict, key, value) -> None:
        """``table[key] = value``, journaled (a rollback undoes it)."""
        if self._journal is not None:
            self._journal.append((table, key, key in table, table.get(key)))
        table[key] = value

    def record(self, name: str, item) -> None:
        """Add ``item`` to the registry ``name`` (sysctl tables, ids, ...)."""
        self.dset(self.registry, name, self.registry.get(name, ()) + (item,))

    def records(self, name: str) -> tuple:
        return self.registry.get(name, ())

    def set_records(self, name: str, items) -> None:
        self.dset(self.registry, name, tuple(items))

    def note(self, text: str) -> None:
        if self.steps:
            notes = self.steps[-1].setdefault("notes", [])
            if text not in notes and len(notes) < 20:
                notes.append(text)

    def assume(self, a: Assumption) -> None:
        """Record a decision taken on an unknown (see assume.py): a step of its own."""
        rec = self.step("assume", a.function, a.file, a.line, note=a.text(),
                        value=a.choice)
        from dataclasses import replace

        self.assumptions.append(replace(a, step=rec["n"]))

    def frame_name(self) -> str:
        return self.frames[-1].function if self.frames else self.phase

    def glob(self, name: str, file: str = "") -> tuple[str, object]:
        """(key, value) of global ``name`` as seen from ``file``; made on first use."""
        key = self.global_keys.get((name, file))
        if key is None:
            key, maker = self.make_global(self, name, file)
            self.dset(self.global_keys, (name, file), key)
            if key not in self.globals:
                self.dset(self.globals, key, None)  # guards recursion through self-references
                saved, self.static_init = self.static_init, True
                try:
                    self.dset(self.globals, key, maker())
                finally:
                    self.static_init = saved
        return key, self.globals[key]

    def caller_location(self) -> tuple[str, int] | None:
        """The C file:line of the generated statement running now."""
        frame = sys._getframe(1)
        while frame is not None:
            where = self.locate(frame.f_code.co_filename, frame.f_lineno)
            if where is not None:
                return where
            frame = frame.f_back
        return None

    def evidence(self, holder, field_name: str, expr: str) -> dict:
        label = getattr(holder, "_label", repr(holder))
        found = holder._find(field_name) if isinstance(holder, Obj) else None
        where = self.where.get((id(found[0]), found[1])) if found else None
        return {"expr": expr, "table": label, "field": field_name,
                "file": where[0] if where else "", "line": where[1] if where else 0}

    # --- checkpoints -------------------------------------------------------------
    def checkpoint(self) -> Checkpoint:
        """Start (or continue) journaling writes; :meth:`rollback` undoes them."""
        if self._journal is None:
            self._journal = []
        return Checkpoint(len(self.steps), len(self.writes), len(self.objects),
                          len(self.assumptions), len(self._journal), len(self.frames))

    @contextlib.contextmanager
    def checked_out(self) -> Iterator[Checkpoint]:
        """The booted machine lent to one run: when the block ends, every change
        the run made is undone (:meth:`rollback`) and the calling process, the
        task and the phase are the booted ones again."""
        cp, saved = self.checkpoint(), (self.process, self.task, self.phase)
        self.lent = cp
        try:
            yield cp
        finally:
            self.lent = None
            self.rollback(cp)
            self.process, self.task, self.phase = saved

    def rollback(self, cp: Checkpoint, keep_trace: bool = False) -> None:
        """Put every object and table back as it was at ``cp``."""
        journal = self._journal or []
        for store, key, had, old in reversed(journal[cp.journal:]):
            if key is None:  # a static local
                store.restore(old)
            elif had:
                store[key] = old
            else:
                store.pop(key, None)
        del journal[cp.journal:]
        del self.objects[cp.objects:]
        del self.writes[cp.writes:]
        if not keep_trace:
            del self.steps[cp.steps:]
            del self.assumptions[cp.assumptions:]
        del self.frames[cp.frames:]

    def compact_boot(self) -> None:
        """After the boot: keep the state and drop its history (the boot's steps
        are counted in its report; each field keeps its last write; the objects
        are there from step 0), so that a run's trace starts at step 1."""
        last: dict[tuple[str, str], tuple] = {}
        for _, label, name, shown in self.writes:
            last.pop((label, name), None)  # re-inserted: the order of last writes
            last[(label, name)] = (0, label, name, shown)
        self.writes = list(last.values())
        self.objects = [(label, kind, 0, obj) for label, kind, _, obj in self.objects]
        self.steps, self.assumptions, self.assumed_at = [], [], {}
        self.boot_count = 0

    def commit(self) -> None:
        """Stop journaling (the state is final)."""
        self._journal = None

    # --- calls -----------------------------------------------------------------------
    def step(self, event: str, function: str, file: str, line: int, **extra) -> dict:
        if len(self.steps) - self.budget_base > self.step_budget:
            raise ModelError(f"more than {self.step_budget} steps (in {self.frame_name()})")
        site = self.caller_location() if event != "return" else None
        rec = {"n": len(self.steps) + 1, "event": event, "function": function,
               "file": file, "line": line, "depth": len(self.frames), "via": None,
               "changes": [], "note": "", "phase": self.phase,
               "site": f"{site[0]}:{site[1]}" if site else ""}
        rec.update(extra)
        self.steps.append(rec)
        return rec

    def invoke(self, name: str, args: tuple, via: dict | None = None, origin: str = ""):
        link = self.link(self, name, origin)
        if link.kind == "prim":
            return link.target(*args)
        if link.kind == "standin":
            value = link.target(*args)
            self.step("stub", name, link.file, link.line, via=via, note=link.note,
                      value=display(value))
            return value
        if link.kind == "stub":
            value = link.value(args)
            self.step("stub", name, link.file, link.line, via=via, note=link.note,
                      value=display(value))
            return value
        return self._run(name, link, args, via)

    def call_macro(self, name: str, file: str, line: int, body, void: bool):
        """Run a macro's expansion (a nested function of the caller) as a step."""
        from analyzer.model.linker import Link

        link = Link("macro", body or (lambda: None), file, line, void=void)
        return self._run(name, link, (), None)

    def _run(self, name: str, link, args: tuple, via):
        if len(self.frames) >= self.max_depth:
            raise ModelError(f"call depth over {self.max_depth} at {name}")
        if self.phase == "boot" and 1 <= len(self.frames) <= self.contain_depth:
            return self._contained(name, link, args, via)
        return self._call(name, link, args, via)

    def _contained(self, name: str, link, args: tuple, via):
        """A call of the boot that fails is undone alone: its caller goes on
        with an unknown value, and the failure is listed (``contained``)."""
        cp = self.checkpoint()
        try:
            return self._call(name, link, args, via)
        except AnalyzerError as e:
            self.rollback(cp)
            reason = " ".join(str(e).split())[:300]
            self.contained.append((self.frames[-1].function if self.frames else "", name,
                                   reason))
            rtype = link.rtype
            value = None if rtype == "void" else Sym(
                f"{name}()", f"it could not run: {reason}",
                True if "*" in rtype or rtype in ("bool", "_Bool") else
                False if rtype else None)
            self.step("stub", name, link.file, link.line, via=via,
                      note=f"could not run: {reason}", value=display(value))
            return value

    def _call(self, name: str, link, args: tuple, via):
        self.step("call", name, link.file, link.line, via=via,
                  **({"macro": True} if link.kind == "macro" else {}))
        frame = Frame(name, link.file, link.line, len(self.frames))
        self.frames.append(frame)
        try:
            result = link.target(*args)
        except (AnalyzerError, Goto):
            raise
        except RecursionError:
            raise ModelError(f"{self._where(None)}: recursion too deep") from None
        except Exception as e:  # a fault of the modelled code: say where in C
            raise ModelError(f"{self._where(e)}: {type(e).__name__}: {e}") from e
        finally:
            self.frames.pop()
        self.step("return", name, link.file, link.line, changes=frame.changes,
                  value="" if link.void else display(result))
        return result

    def _where(self, e: Exception | None) -> str:
        tb, found = (e.__traceback__ if e is not None else None), None
        while tb is not None:
            where = self.locate(tb.tb_frame.f_code.co_filename, tb.tb_lineno)
            if where is not None:
                found = where
            tb = tb.tb_next
        name = self.frames[-1].function if self.frames else "?"
        return f"in {name} at {found[0]}:{found[1]}" if found else f"in {name}"

    def unknown_call(self, expr: str, args: tuple, evidence: dict, target=None):
        value = target.derived(f"{expr}()") if isinstance(target, Sym) \
            else Sym(f"{expr}()", "the function pointer holds a value the model does not know")
        self.step("stub", expr, "", 0, via=evidence, note="target unknown to the model",
                  value=display(value))
        return value


class _Functions:
    """``F.name``: the callable standing for C function ``name`` seen from a file."""

    def __init__(self, m: Machine, file: str):
        self._m, self._file = m, file

    def __getattr__(self, pyname: str) -> Callable:
        name = unmangle(pyname)
        m, file = self._m, self._file
        return lambda *args: m.invoke(name, args, origin=file)


class _Globals:
    """``G.name``: the global variables seen from one file (its statics first),
    made from their initializers on first use."""

    _label = "globals"

    def __init__(self, m: Machine, file: str):
        object.__setattr__(self, "_m", m)
        object.__setattr__(self, "_file", file)
        object.__setattr__(self, "_v", m.globals)

    def __getattr__(self, pyname: str):
        return self._m.glob(unmangle(pyname), self._file)[1]

    def __setattr__(self, pyname: str, value) -> None:
        key, _ = self._m.glob(unmangle(pyname), self._file)
        self._m.write(self, key, value)

    def _find(self, name: str):
        key = self._m.global_keys.get((name, self._file), name)
        return (self, key) if key in self._v else None
