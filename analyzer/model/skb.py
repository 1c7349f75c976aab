"""The socket-buffer model: sk_buff operations run from the kernel's own C.

Takes a scenario, a list of operations written like C calls
(``alloc_skb(1500)``, ``skb_reserve(66)``, ``skb_put(100)``,
``skb_queue_tail(sk_receive_queue)``; optionally
``socket(AF_INET, SOCK_STREAM, 0)`` first), and the analysis; gives a
:class:`SkbRun`: the model's trace (a :class:`~analyzer.model.trace.Run`), and
after each operation the layout of every buffer (head, data, tail, end as
offsets into a real byte buffer; len, data_len) and the buffers on every queue.

The operations are parsed by a small grammar (never ``eval``): a name, then
integers, constant names of the tree or labels (``skb2``, ``sk_buff#2``,
a queue name).  What each operation calls and where its C arguments come from
is data (``kernel/skb.toml`` ``[ops]``).  The kernel functions are translated
by :mod:`analyzer.model.generate` (the socket model's generator, extended by
:class:`SkbGenerator` with the buffer primitives and function-like macros
translated from their ``#define``).  The kernel's own checks fire:
``skb_over_panic`` / ``skb_under_panic`` end the run with :class:`SkbPanic`
naming the function and line.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from analyzer.config import Config
from analyzer.errors import AnalyzerError
from analyzer.model import rt
from analyzer.model.generate import Generator, ParsedFile, table
from analyzer.model.linker import Link
from analyzer.model.machine import Machine
from analyzer.model.sizes import Sizes
from analyzer.model.trace import Run
from analyzer.model.translate import c_int

__all__ = ["Op", "parse_op", "parse_ops", "skb_table", "merged_table", "SkbGenerator",
           "Buffer", "BufPtr", "SkbPanic", "BufferState", "OpResult", "SkbRun", "run_skb",
           "run_skb_with", "PRIMITIVES"]


def skb_table() -> dict:
    """The buffer model's data table, ``kernel/skb.toml`` (see spec.py)."""
    from analyzer.model.spec import load_table

    return load_table("skb.toml")


def merged_table(with_socket: bool) -> dict:
    """primitives.toml with skb.toml's additions (config, primitives, offpath, boot)."""
    base, add = copy.deepcopy(table()), skb_table()
    cfg = base.setdefault("config", {})
    cfg["enabled"] = list(cfg.get("enabled", [])) + list(add["config"]["enabled"])
    base.setdefault("primitives", {}).update(add["primitives"])
    base.setdefault("offpath", {}).update(add["offpath"])
    boot = base.setdefault("boot", {})
    boot["follow"] = list(boot.get("follow", [])) + list(add["boot"]["entries"])
    if not with_socket:
        boot["entries"] = list(add["boot"]["entries"])
    base["skb"] = add
    return base


# --- the scenario syntax --------------------------------------------------------------

@dataclass(frozen=True)
class Op:
    """One operation of a scenario: ``name(args)`` as the user wrote it."""

    text: str
    name: str
    args: tuple[int | str, ...] = ()


_OP = re.compile(r"\s*([A-Za-z_]\w*)\s*\((.*)\)\s*;?\s*\Z", re.S)
_LABEL = re.compile(r"[A-Za-z_]\w*(?:#\d+)?\Z")


def parse_op(text: str) -> Op:
    """``"skb_put(100)"`` -> ``Op("skb_put(100)", "skb_put", (100,))``.

    >>> parse_op("skb_reserve( 0x42 )").args
    (66,)
    """
    m = _OP.match(text)
    if m is None:
        raise AnalyzerError(f"operation {text!r}: expected NAME(ARG, ...), e.g. skb_put(100)")
    inner = m.group(2).strip()
    args: list[int | str] = []
    for raw in inner.split(",") if inner else []:
        a = raw.strip()
        if re.fullmatch(r"-?(?:0[xX][0-9a-fA-F]+|[0-9]+)[uUlL]*", a):
            if len(a) > 24:  # no C integer of 64 bits is written longer
                raise AnalyzerError(f"operation {_short(text)!r}: the number {_short(a)} is "
                                    "out of range: the model's integers have at most 64 bits")
            args.append(c_int(a))
        elif _LABEL.match(a):
            args.append(a)
        else:
            raise AnalyzerError(f"operation {text!r}: argument {a!r} is neither a number, "
                                "a constant name nor a label")
    return Op(text.strip(), m.group(1), tuple(args))


def _short(text: str, keep: int = 40) -> str:
    """``text``, or its start and end around a count of the characters left out."""
    if len(text) <= keep:
        return text
    return f"{text[:keep // 2]}...({len(text) - keep} more characters)...{text[-keep // 4:]}"


def parse_ops(texts: Sequence[str]) -> list[Op]:
    """Parse and check every operation against ``[ops]`` before anything runs."""
    ops = [parse_op(t) for t in texts]
    known = skb_table()["ops"]
    for i, op in enumerate(ops):
        if op.name == "socket":
            if i != 0:
                raise AnalyzerError(f"operation {op.text!r}: socket(...) can only come first")
            continue
        if op.name not in known:
            raise AnalyzerError(f"unknown operation {op.name!r} in {op.text!r}; known: "
                                + ", ".join(["socket", *sorted(known)]))
    if not ops:
        raise AnalyzerError("an skb scenario needs operations, e.g. 'alloc_skb(1500)' "
                            "'skb_reserve(66)' 'skb_put(100)'")
    return ops


# --- the byte buffer ------------------------------------------------------------------

class Buffer:
    """A kmalloc'ed data area: real bytes, objects placed in it, freed or not."""

    def __init__(self, label: str, size: int):
        self.label, self.size = label, size
        self.bytes = bytearray(size)
        self.placed: dict[tuple[int, str], rt.Obj] = {}
        self.freed = False

    def __repr__(self) -> str:
        return f"&{self.label}"


class BufPtr:
    """``unsigned char *`` into a :class:`Buffer`: pointer arithmetic and comparisons."""

    __slots__ = ("buf", "off")

    def __init__(self, buf: Buffer, off: int):
        self.buf, self.off = buf, int(off)

    def __repr__(self) -> str:
        return f"{self.buf.label}+{self.off}"

    def __bool__(self) -> bool:
        return True

    def __add__(self, n):
        if isinstance(n, rt.Sym):
            return rt.Sym(f"({self!r} + {n.name})")
        return BufPtr(self.buf, self.off + int(n))

    __radd__ = __add__

    def __sub__(self, other):
        if isinstance(other, BufPtr):
            return self.off - self._same(other).off
        return BufPtr(self.buf, self.off - int(other))

    def _same(self, other: BufPtr) -> BufPtr:
        if other.buf is not self.buf:
            raise rt.ModelError(f"pointers into two buffers compared: {self!r}, {other!r}")
        return other

    def __eq__(self, other) -> bool:
        return isinstance(other, BufPtr) and other.buf is self.buf and other.off == self.off

    __hash__ = object.__hash__

    def __lt__(self, other) -> bool:
        return self.off < self._same(other).off

    def __le__(self, other) -> bool:
        return self.off <= self._same(other).off

    def __gt__(self, other) -> bool:
        return self.off > self._same(other).off

    def __ge__(self, other) -> bool:
        return self.off >= self._same(other).off


@dataclass(frozen=True)
class OffsetOf:
    """``offsetof(struct T, member)``, kept as the member name."""

    type: str
    member: str

    def __repr__(self) -> str:
        return f"offsetof(struct {self.type}, {self.member})"


class SkbPanic(rt.ModelError):
    """``skb_over_panic`` / ``skb_under_panic``: the kernel's check fired."""


# --- the primitives -------------------------------------------------------------------

class _Prims:
    """Implementations of skb.toml's ``[primitives]``; each gets its C name first."""

    def __init__(self, gen: SkbGenerator):
        self.gen = gen
        # the labels of freed objects; written through the machine's journal, as
        # the buffers' flags, so that a rollback after a run forgets them
        self.freed: dict[str, bool] = {}

    def kmalloc_reserve(self, name, size, flags=0, node=0, pfmemalloc=None):
        m = rt.current_machine()
        if not isinstance(size, int):
            raise rt.ModelError(f"{name}: the size {rt.display(size)} is unknown to the model")
        wanted = int(size)
        most = self.gen.facts.constant("KMALLOC_MAX_SIZE")
        if wanted < 0 or most is not None and wanted > most:
            self._shown(name, None, f"runtime primitive: {wanted} bytes is more than "
                        f"KMALLOC_MAX_SIZE ({most}): the allocation fails")
            return None
        buf = Buffer(m.label("data"), self.gen.slab_size(wanted))
        if pfmemalloc is not None:
            rt.store(pfmemalloc, 0)
        ptr = BufPtr(buf, 0)
        self._shown(name, ptr, f"runtime primitive: {wanted} bytes asked, a {buf.size}-byte "
                    "block of the kmalloc class that holds them (skb.toml [slab])")
        return ptr

    def _shown(self, name: str, value, note: str) -> None:
        """A primitive that matters for the buffer appears in the trace as a stub step."""
        rt.current_machine().step("stub", name, "", 0, note=note, value=rt.display(value))

    def ksize(self, name, p):
        if not isinstance(p, BufPtr):
            return rt.Sym(f"ksize({rt.display(p)})")
        self._shown(name, p.buf.size, f"runtime primitive: the size of {p.buf.label}")
        return p.buf.size

    def kfree(self, name, p, *rest):
        if isinstance(p, BufPtr):
            rt.current_machine().dset(vars(p.buf), "freed", True)
            self._shown(name, None, f"runtime primitive: {p.buf.label} freed")
        return None

    def kmem_cache_free(self, name, cache, obj, *rest):
        if isinstance(obj, rt.Obj):
            rt.current_machine().dset(self.freed, obj._label, True)
            self._shown(name, None, f"runtime primitive: {obj._label} freed")
        return None

    def skb_shinfo(self, name, skb):
        m = rt.current_machine()
        end = m.invoke("skb_end_pointer", (skb,), origin="include/linux/skbuff.h")
        if not isinstance(end, BufPtr):
            return rt.Sym(f"skb_shinfo({rt.display(skb)})")
        key = (end.off, "skb_shared_info")
        if key not in end.buf.placed:
            end.buf.placed[key] = m.new("skb_shared_info", f"shinfo@{end!r}")
        return end.buf.placed[key]

    def memset(self, name, p, value, n):
        if isinstance(n, rt.Sym):
            m = re.fullmatch(r"offsetof\((?:struct|union)\s+(\w+)\s*,\s*(\w+)\)", n.name)
            n = OffsetOf(m.group(1), m.group(2)) if m else n
        if isinstance(p, rt.Obj) and isinstance(n, OffsetOf):
            for f in p._layout.fields:
                if f.name == n.member:
                    break
                if f.name in p._v and f.kind in ("scalar", "ptr"):
                    setattr(p, f.name, None if f.kind == "ptr" else int(value))
        elif isinstance(p, BufPtr) and isinstance(n, int):
            p.buf.bytes[p.off:p.off + int(n)] = bytes([int(value) & 0xFF]) * int(n)
        else:
            rt.current_machine().note(f"memset({rt.display(p)}, ..., {rt.display(n)}) "
                                      "not modelled")
        return p

    def skb_panic(self, name, skb, sz, addr=None):
        m = rt.current_machine()
        where = m.caller_location() or ("?", 0)
        caller = m.frame_name()
        state = ", ".join(f"{f}:{rt.display(getattr(skb, f))}"
                          for f in ("len", "head", "data", "tail", "end"))
        raise SkbPanic(f"{name}: {caller}() at {where[0]}:{where[1]} — "
                       f"put:{rt.display(sz)} {state}")

    def nothing(self, name, *args):
        return None

    def unknown(self, name, *args):
        return rt.Sym(f"{name}({', '.join(rt.display(a) for a in args)})")


#: the names skb.toml's ``impl`` may use (besides "macro")
PRIMITIVES = tuple(n for n in vars(_Prims) if not n.startswith("_"))


# --- the generator --------------------------------------------------------------------

_TYPEOF_CAST = re.compile(rb"\(\s*typeof\s*\((?:[^()]|\([^()]*\))*\)\s*\)(?=\s*[~\w(-])")


class SkbGenerator(Generator):
    """The socket model's generator, plus buffer primitives and translated macros."""

    def __init__(self, facts, data: dict, kconfig=None, **where):
        abi = {**data.get("abi", {}), **data["skb"]["abi"],
               "constants": data.get("arch", {}).get("constants", {})}
        super().__init__(facts, data, kconfig, **where)
        self.sizes = Sizes(self, abi)
        self.prims = _Prims(self)
        self.base_link, self.linker.link = self.linker.link, self.link

    def slab_size(self, size: int) -> int:
        """ksize() of a kmalloc of ``size`` bytes: the smallest class that holds it."""
        for s in self.data["skb"]["slab"]["sizes"]:
            if size <= s:
                return int(s)
        page = self.sizes.constant("PAGE_SIZE") or 4096
        n = page
        while n < size:
            n *= 2
        return n

    def link(self, m: Machine, name: str, origin: str) -> Link:
        prim = self.data["skb"]["primitives"].get(name)
        if prim is None:
            return self.base_link(m, name, origin)
        if prim["impl"] == "macro":
            tr, code = self.macro(name, prim["file"])
            ns = m.namespace(tr.file)
            exec(code, ns)  # noqa: S102 - generated by the translator from validated pieces
            fn = ns[tr.name]
            return Link("macro", lambda *a: fn(*(self.size_value(x) for x in a)),
                        tr.file, tr.line)
        impl = getattr(self.prims, prim["impl"], None)
        if impl is None or prim["impl"] not in PRIMITIVES:
            raise AnalyzerError(f"skb.toml: {name}: no primitive {prim['impl']!r}")
        return Link("prim", lambda *a: impl(name, *a))

    def size_value(self, value):
        """``sizeof(T)`` as a number (the layout computed from T's definition)."""
        if isinstance(value, rt.SizeOf):
            return rt.Named(f"sizeof({value.ctype})", self.sizes.sizeof(value.ctype))
        return value

    def file(self, rel: str) -> ParsedFile:
        """As :meth:`Generator.file`, with ``(typeof(x))`` casts blanked (same length,
        so lines stay true) before parsing: tree-sitter-c does not parse them; the
        value is kept uncast."""
        if rel not in self.files:
            pf = super().file(rel)
            src = pf.parsed.source
            blanked = _TYPEOF_CAST.sub(lambda m: b" " * len(m.group(0)), src)
            if blanked != src:
                parsed, functions, decls = self.parsed(blanked)
                self.files[rel] = dataclasses.replace(pf, parsed=parsed, functions=functions,
                                                      declarations=decls)
        return self.files[rel]


# --- the result -----------------------------------------------------------------------

@dataclass(frozen=True)
class BufferState:
    """One buffer after an operation: offsets into its data area and its lengths."""

    label: str
    area: str
    size: int
    head: int
    data: int
    tail: int
    end: int
    len: int
    data_len: int
    truesize: int
    users: int
    freed: bool = False
    queue: str = ""

    @property
    def headroom(self) -> int:
        return self.data - self.head

    @property
    def tailroom(self) -> int:
        return self.end - self.tail

    def to_json(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d.update(headroom=self.headroom, tailroom=self.tailroom)
        return d


@dataclass(frozen=True)
class OpResult:
    """An operation: its text, the kernel function run, the trace steps it spans,
    its value, and the buffers and queues after it."""

    n: int
    text: str
    function: str
    first_step: int
    last_step: int
    value: str
    buffers: tuple[BufferState, ...] = ()
    queues: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def to_json(self) -> dict:
        return {"n": self.n, "op": self.text, "function": self.function,
                "steps": [self.first_step, self.last_step], "value": self.value,
                "buffers": [b.to_json() for b in self.buffers],
                "queues": {q: list(s) for q, s in self.queues}}


@dataclass
class SkbRun:
    """A finished buffer scenario."""

    ops: list[OpResult]
    run: Run
    error: str = ""
    socket: dict = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"ops": [o.to_json() for o in self.ops], "error": self.error,
                "socket": self.socket, "sizes": self.sizes, "trace": self.run.to_json()}


# --- running --------------------------------------------------------------------------

def run_skb(texts: Sequence[str], cfg: Config | None = None, write: bool = True,
            session=None) -> SkbRun:
    """Run a buffer scenario on the analysis of ``cfg`` (default: Config.default());
    one that opens a socket runs on ``session``'s program generator when given."""
    from analyzer.model.facts import open_facts
    from analyzer.model.kconfig import KernelConfig

    ops = parse_ops(texts)
    cfg = cfg or Config.default()
    if session is not None and ops and ops[0].name == "socket":
        gen = session.generator("program")
        return run_skb_with(gen.facts, ops, model_dir=cfg.model_dir if write else None,
                            generator=gen)
    facts = open_facts(cfg.store_path, cfg.kernel_dir)
    return run_skb_with(facts, ops, model_dir=cfg.model_dir if write else None,
                        kconfig=KernelConfig.load(cfg), build_dir=cfg.build_dir)


def run_skb_with(facts, ops: Sequence[Op], model_dir=None, kconfig=None,
                 build_dir=None, generator: SkbGenerator | None = None) -> SkbRun:
    """Run parsed ``ops`` on ``facts``; write the generated modules to ``model_dir``
    (the boot image and prototype index go under ``build_dir``/model when given).
    ``generator``: a booted socket-buffer generator shared with other runs (for
    ops that open a socket); its machine is checked out and rolled back."""
    with_socket = bool(ops) and ops[0].name == "socket"
    data = merged_table(with_socket)
    where = {} if build_dir is None else {
        "cache_dir": Path(build_dir) / "model" / "index",
        "image_dir": Path(build_dir) / "model" / "boot"}
    shared = generator is not None and with_socket
    gen = generator if shared else SkbGenerator(facts, data, kconfig, **where)
    # a socket needs the kernel booted as for `model socket` (boot.py); buffers
    # alone need only skb.toml's [boot] entries
    m = gen.booted()[0] if with_socket else gen.machine()
    driver = _Driver(gen, m, facts, data, booted=with_socket)
    try:
        with m.checked_out() if shared else contextlib.nullcontext():
            rt.run_in(m, driver.run, list(ops))
            run = Run.from_machine(m, "skb", tuple(o.text for o in ops), None,
                                   driver.boot_count)
            socket = driver.socket_info()
    finally:
        if model_dir is not None:
            gen.write(model_dir)
    return SkbRun(driver.results, run, driver.error, socket, _sizes(gen, data))


def _sizes(gen: SkbGenerator, data: dict) -> dict[str, int]:
    """sizeof of the structs named in skb.toml [report] (those the model can size)."""
    out = {}
    for name in data["skb"].get("report", {}).get("sizes", []):
        try:
            out[f"struct {name}"] = gen.sizes.sizeof(f"struct {name}")
        except AnalyzerError:
            continue
    return out


class _Driver:
    """Runs the operations one by one on a machine and records the state after each."""

    def __init__(self, gen: SkbGenerator, m: Machine, facts, data: dict, booted=False):
        self.gen, self.m, self.facts, self.data = gen, m, facts, data
        self.booted = booted
        self.results: list[OpResult] = []
        self.skbs: list[rt.Obj] = []
        self.queues: dict[str, rt.Obj] = {}
        self.sock: rt.Obj | None = None
        self.current: rt.Obj | None = None
        self.boot_count = 0
        self.error = ""

    def run(self, ops: list[Op]) -> None:
        self.m.phase = "boot"
        for fn in () if self.booted else self.data.get("boot", {}).get("entries", []):
            self.m.invoke(fn, ())
        self.boot_count = len(self.m.steps)
        self.m.phase = "run"
        for n, op in enumerate(ops, start=1):
            first = len(self.m.steps) + 1
            try:
                fn, value = self.one(op)
            except SkbPanic as e:
                self.error = f"{op.text}: {e}"
                self.record(n, op, op.name, first, "")
                return
            except rt.ModelError as e:
                raise rt.ModelError(f"operation {n} {op.text!r}: {e}") from None
            self.record(n, op, fn, first, rt.display(value))

    def record(self, n: int, op: Op, fn: str, first: int, value: str) -> None:
        last = len(self.m.steps) - self.boot_count
        self.results.append(OpResult(n, op.text, fn, first - self.boot_count, last, value,
                                     self.buffers(), self.queue_contents()))

    def one(self, op: Op) -> tuple[str, object]:
        if op.name == "socket":
            return self.socket(op)
        spec = self.data["skb"]["ops"][op.name]
        args = self.bind(op, spec)
        value = self.m.invoke(spec["call"], tuple(args))
        if spec.get("result") == "skb":
            if isinstance(value, rt.Obj) and value not in self.skbs:
                self.skbs.append(value)
            self.current = value if isinstance(value, rt.Obj) else None
        return spec["call"], value

    def socket(self, op: Op) -> tuple[str, object]:
        from analyzer.model import parse_args

        spec = self.data.get("scenarios", {}).get("socket")
        if spec is None:
            raise AnalyzerError("primitives.toml has no [scenarios.socket]")
        params = spec.get("params", ())
        if len(op.args) != len(params):
            raise AnalyzerError(f"operation {op.text!r}: socket takes {len(params)} "
                                f"arguments ({', '.join(params)}), e.g. "
                                "socket(AF_INET, SOCK_STREAM, 0)")
        value = self.m.invoke(spec["entry"], tuple(parse_args(self.facts, op.args)))
        self.sock = self.find_sock()
        return spec["entry"], value

    def find_sock(self) -> rt.Obj | None:
        """The outermost object made by socket() that embeds the queues' struct."""
        what = self.data["skb"]["scenarios"]["socket"]["queues"].split()[-1]
        for _, _, created, obj in self.m.objects:
            if created > self.boot_count and isinstance(obj, rt.Obj) and obj._parent is None and \
                    any(o._layout.name == what for o in _chain(obj)):
                return obj
        return None

    # arguments
    def bind(self, op: Op, spec: dict) -> list:
        slots = spec["args"]
        given = [s for s in slots if not s.startswith("=")]
        user = list(op.args)
        if len(user) == len(given) - 1 and "skb" in given:
            user.insert(given.index("skb"), None)
        if len(user) != len(given):
            raise AnalyzerError(f"operation {op.text!r} takes {len(given)} argument(s): "
                                + ", ".join(given))
        out, it = [], iter(user)
        for slot in slots:
            out.append(self.constant(slot[1:], op) if slot.startswith("=")
                       else self.value(slot, next(it), op))
        self.check_unsigned(op, spec["call"], out)
        return out

    def check_unsigned(self, op: Op, call: str, values: list) -> None:
        """A negative number for an ``unsigned`` parameter of the C function is refused
        (C would wrap it; the model does not)."""
        recs = self.facts.functions(call)
        params = recs[0].params if recs else ()
        for p, v in zip(params, values, strict=False):
            if isinstance(v, int) and v < 0 and "unsigned" in p.type:
                raise AnalyzerError(f"operation {op.text!r}: {p.name} is {p.type} in "
                                    f"{call}(); {v} is not modelled")

    def constant(self, name: str, op: Op):
        value = self.facts.constant(name)
        return rt.Named(name, value) if value is not None else rt.Sym(name)

    def value(self, slot: str, a, op: Op):
        if slot == "skb":
            return self.skb(a, op)
        if slot == "queue":
            return self.queue(a, op)
        if isinstance(a, int):
            return a
        return self.constant(str(a), op) if self.facts.constant(str(a)) is not None else \
            _fail(op, f"{a!r} is not a constant of the analysed tree")

    def skb(self, a, op: Op) -> rt.Obj:
        if a is None:
            if self.current is None:
                raise AnalyzerError(f"operation {op.text!r}: no current buffer (none "
                                    "allocated yet, or the last alloc_skb/skb_dequeue/"
                                    "skb_peek gave NULL)")
            return self.live(self.current, op)
        for i, obj in enumerate(self.skbs, start=1):
            if a in (obj._label, f"skb{i}"):
                return self.live(obj, op)
        raise AnalyzerError(f"operation {op.text!r}: no buffer {a!r}; buffers: "
                            + (", ".join(self.names()) if self.skbs else "none"))

    def live(self, obj: rt.Obj, op: Op) -> rt.Obj:
        if obj._label in self.gen.prims.freed:
            raise AnalyzerError(f"operation {op.text!r}: {obj._label} was freed "
                                "(use after free)")
        return obj

    def names(self) -> list[str]:
        return [f"skb{i} ({o._label})" for i, o in enumerate(self.skbs, start=1)]

    def queue(self, a, op: Op):
        if not isinstance(a, str):
            raise AnalyzerError(f"operation {op.text!r}: a queue is named, e.g. "
                                "sk_receive_queue or q")
        if self.sock is not None:
            try:
                found = getattr(self.sock, a)
            except rt.ModelError:
                found = None
            if isinstance(found, rt.Obj) and found._layout.name == "sk_buff_head":
                return found
        if a not in self.queues:
            self.queues[a] = self.m.new("sk_buff_head", a)
        return self.queues[a]

    # state
    def all_queues(self) -> list[tuple[str, rt.Obj]]:
        out = list(self.queues.items())
        for part in _chain(self.sock) if self.sock is not None else []:
            for f in part._layout.fields:
                q = getattr(part, f.name) if f.kind == "struct" and \
                    f.target == "sk_buff_head" else None
                if q is not None and _get(q, "next") is not None:  # initialised
                    out.append((f"{self.sock._label}.{f.name}", q))
        return out

    def queue_contents(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        out = []
        for name, q in self.all_queues():
            out.append((name, tuple(o._label for o in _walk(q))))
        return tuple(out)

    def buffers(self) -> tuple[BufferState, ...]:
        where = {label: q for q, labels in self.queue_contents() for label in labels}
        out = []
        for obj in self.skbs + [o for _, _, _, o in self.m.objects if _is_queued(o, where)
                                and o not in self.skbs]:
            state = _state(obj, self.gen.prims.freed, where.get(obj._label, ""))
            if state is not None:
                out.append(state)
        return tuple(out)

    def socket_info(self) -> dict:
        if self.sock is None:
            return {}
        sk_socket = _get(self.sock, "sk_socket")
        queues = [n for n, _ in self.all_queues() if n.startswith(self.sock._label)]
        return {"sock": self.sock._label, "type": f"struct {self.sock._layout.name}",
                "socket": sk_socket._label if isinstance(sk_socket, rt.Obj) else "",
                "queues": queues, "initialised_by": self.initialisers(queues)}

    def initialisers(self, queues: list[str]) -> dict[str, str]:
        """Which function of the socket path initialised each queue: the innermost
        caller of the queue-head initialiser that wrote its ``next``."""
        own = {o["call"] for o in self.data["skb"]["ops"].values()}
        found: dict[str, str] = {}
        stack: list[str] = []
        for st in self.m.steps:
            if st["event"] == "call":
                stack.append(st["function"])
                continue
            if st["event"] != "return":
                continue
            for c in st.get("changes", ()):
                q = next((q for q in queues if c["object"].endswith("." + q.split(".")[-1])
                          and c["field"] == "next"), None)
                outer = [f for f in stack if f not in own]
                if q and q not in found and outer:
                    found[q] = outer[-1]
            if stack:
                stack.pop()
        return found


def _fail(op: Op, why: str):
    raise AnalyzerError(f"operation {op.text!r}: {why}")


def _is_queued(o, where: dict) -> bool:
    return isinstance(o, rt.Obj) and o._label in where


def _get(obj: rt.Obj, name: str):
    try:
        return getattr(obj, name)
    except rt.ModelError:
        return None


def _chain(obj: rt.Obj) -> list[rt.Obj]:
    """``obj`` and its first members, outermost first (tcp_sock, ..., sock)."""
    out = [obj]
    while out[-1]._layout.fields and out[-1]._layout.fields[0].kind == "struct":
        inner = out[-1]._slot(out[-1]._layout.fields[0].name)
        if not isinstance(inner, rt.Obj) or inner in out:
            break
        out.append(inner)
    return out


def _walk(q: rt.Obj) -> list[rt.Obj]:
    out, node = [], _get(q, "next")
    while isinstance(node, rt.Obj) and node is not q and len(out) < 10_000:
        out.append(node)
        node = _get(node, "next")
    return out


def _state(skb: rt.Obj, freed, queue: str) -> BufferState | None:
    head, data = _get(skb, "head"), _get(skb, "data")
    if not isinstance(head, BufPtr) or not isinstance(data, BufPtr):
        return None
    users = _get(skb, "users")
    return BufferState(skb._label, head.buf.label, head.buf.size, 0, data.off - head.off,
                       int(_get(skb, "tail") or 0), int(_get(skb, "end") or 0),
                       int(_get(skb, "len") or 0), int(_get(skb, "data_len") or 0),
                       int(_get(skb, "truesize") or 0),
                       int(_get(users, "counter") or 0) if isinstance(users, rt.Obj) else 0,
                       skb._label in freed or head.buf.freed, queue)

