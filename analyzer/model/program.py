"""Programs of system calls run on one booted model of the kernel.

Takes statements as user space writes them (``fd = socket(AF_INET,
SOCK_STREAM, 0)``, ``bind(fd, "0.0.0.0", 8080)``, ``read(sv[1], 16)``) and the
analysis; gives a :class:`ProgramRun`: one :class:`Statement` per call (its
kernel entry, the trace steps it spans, its value, the user memory it read
back) and the :class:`~analyzer.model.trace.Run` of the whole program (steps,
snapshots, executed lines), as ``model socket`` gives one.

Statements are parsed by a small grammar (never ``eval``).  Which entry each
call runs and how each C argument is made is data:
``kernel/syscalls.toml``.  User memory (a ``struct sockaddr_in``, an ``int``, a
byte buffer) is made of model objects, labelled ``user:...``; the kernel's own
``copy_from_user``/``copy_to_user`` move their bytes
(model/primitives/uaccess.py).  Every call starts from the state the previous
one left; after each, what the return to user space runs (the task's queued
work: a close's last ``fput``) runs.  The machine is put back in its booted
state afterwards.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from analyzer.config import Config
from analyzer.errors import AnalyzerError
from analyzer.model import rt
from analyzer.model.objects import CArray, FieldSpec, IndexRef
from analyzer.model.trace import Run

__all__ = ["Call", "Arg", "parse_statement", "parse_program", "syscalls_table",
           "Statement", "ProgramRun", "run_program", "run_program_with", "program_generator"]


def syscalls_table() -> dict:
    """``kernel/syscalls.toml``."""
    from analyzer.model.spec import load_table

    return load_table("syscalls.toml")


# --- the statement syntax --------------------------------------------------------------

@dataclass(frozen=True)
class Arg:
    """One argument as written: ``kind`` is "int", "str", "name" or "item"
    (``sv[1]``: ``value`` the name, ``index`` the item)."""

    kind: str
    value: int | str
    index: int = 0

    def __str__(self) -> str:
        if self.kind == "str":
            return '"' + str(self.value).encode("unicode_escape").decode().replace(
                '"', '\\"') + '"'
        return f"{self.value}[{self.index}]" if self.kind == "item" else str(self.value)


@dataclass(frozen=True)
class Call:
    """One statement: ``[target =] name(args)``."""

    text: str
    name: str
    args: tuple[Arg, ...] = ()
    target: str = ""
    line: int = 0


_TOKEN = re.compile(r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<num>-?(?:0[xX][0-9a-fA-F]+|\d+))
                       |(?P<name>[A-Za-z_]\w*)|(?P<op>[=(),\[\];]))""", re.X)
_ESCAPES = {"n": "\n", "t": "\t", "0": "\0", "\\": "\\", '"': '"', "r": "\r"}


def _fail(text: str, col: int, why: str, line: int = 0):
    where = f"line {line}, " if line else ""
    shown = text if len(text) <= 80 else text[:77] + "..."
    raise AnalyzerError(f"statement {shown!r} ({where}column {col + 1}): {why}")


def _tokens(text: str, line: int) -> list[tuple[str, str, int]]:
    out, pos = [], 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            col = len(text) - len(text[pos:].lstrip())
            _fail(text, col, f"unexpected {text[col]!r}", line)
        kind = m.lastgroup
        out.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return out


def _string(raw: str, text: str, col: int, line: int) -> str:
    out, i, body = [], 0, raw[1:-1]
    while i < len(body):
        c = body[i]
        if c == "\\":
            nxt = body[i + 1] if i + 1 < len(body) else ""
            if nxt not in _ESCAPES:
                _fail(text, col + i + 1, f"unknown escape \\{nxt}", line)
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def parse_statement(text: str, line: int = 0) -> Call:
    """``'n = read(sv[1], 16)'`` -> ``Call(name="read", target="n", args=...)``.

    >>> parse_statement('bind(fd, "0.0.0.0", 8080)').args[2]
    Arg(kind='int', value=8080, index=0)
    """
    toks = _tokens(text, line)
    i, target = 0, ""
    if len(toks) >= 2 and toks[0][0] == "name" and toks[1][1] == "=":
        target, i = toks[0][1], 2
    if i >= len(toks) or toks[i][0] != "name":
        _fail(text, toks[i][2] if i < len(toks) else len(text),
              "expected a system call, e.g. fd = socket(AF_INET, SOCK_STREAM, 0)", line)
    name = toks[i][1]
    i += 1
    if i >= len(toks) or toks[i][1] != "(":
        _fail(text, toks[i][2] if i < len(toks) else len(text), f"expected ( after {name}",
              line)
    i += 1
    args: list[Arg] = []
    while i < len(toks) and toks[i][1] != ")":
        kind, value, col = toks[i]
        if kind == "num":
            digits = value.lstrip("-")
            if len(digits) > 20 or not -(2**63) <= int(value, 0) < 2**64:
                _fail(text, col, f"the number {value[:24]} is out of range (64 bits)", line)
            args.append(Arg("int", int(value, 0)))
        elif kind == "str":
            args.append(Arg("str", _string(value, text, col, line)))
        elif kind == "name" and i + 3 < len(toks) and toks[i + 1][1] == "[":
            if toks[i + 2][0] != "num" or toks[i + 3][1] != "]":
                _fail(text, toks[i + 2][2], "expected NAME[NUMBER], e.g. sv[0]", line)
            args.append(Arg("item", value, int(toks[i + 2][1], 0)))
            i += 3
        elif kind == "name":
            args.append(Arg("name", value))
        else:
            _fail(text, col, f"unexpected {value!r}: an argument is a number, a \"string\", "
                  "a constant or a name", line)
        i += 1
        if i < len(toks) and toks[i][1] == ",":
            i += 1
            if i < len(toks) and toks[i][1] == ")":
                _fail(text, toks[i][2], "an argument is missing after ','", line)
        elif i < len(toks) and toks[i][1] != ")":
            _fail(text, toks[i][2], "expected ',' or ')'", line)
    if i >= len(toks):
        _fail(text, len(text), "missing ')'", line)
    rest = toks[i + 1:]
    if rest and not (len(rest) == 1 and rest[0][1] == ";"):
        _fail(text, rest[0][2], "unexpected text after the call", line)
    return Call(text.strip(), name, tuple(args), target, line)


def parse_program(statements: Sequence[str] | str) -> list[Call]:
    """Statements (a list, or a program's text: one a line, ``#`` comments);
    every call checked against ``syscalls.toml`` before anything runs."""
    if isinstance(statements, str):
        items = [(n, t) for n, t in enumerate(statements.splitlines(), start=1)]
    else:
        items = [(0, t) for t in statements]
    calls = []
    for n, t in items:
        if t.strip() and not t.lstrip().startswith("#"):  # a line of its own is a comment
            calls.append(parse_statement(t, n))
    if not calls:
        raise AnalyzerError("a program needs statements, e.g. 'fd = socket(AF_INET, "
                            "SOCK_STREAM, 0)' 'bind(fd, \"0.0.0.0\", 8080)'")
    table = syscalls_table()["syscalls"]
    for c in calls:
        _spec(table, c)
    return calls


def _spec(table: dict, c: Call) -> dict:
    found = [s for k, s in table.items() if s.get("call", k) == c.name]
    if not found:
        known = sorted({s.get("call", k) for k, s in table.items()})
        raise AnalyzerError(f"statement {c.text!r}: unknown system call {c.name!r}; known: "
                            + ", ".join(known))
    for s in found:
        params = s["params"]
        if len(params) == len(c.args) and all(
                (a.kind == "str") == (p.endswith(":str")) for p, a in zip(params, c.args,
                                                                          strict=True)):
            return s
    forms = "; ".join(f"{c.name}({', '.join(p.split(':')[0] for p in s['params'])})"
                      for s in found)
    raise AnalyzerError(f"statement {c.text!r}: {c.name} takes {forms} (a \"string\" where "
                        "the name says so)")


# --- the result ------------------------------------------------------------------------

@dataclass(frozen=True)
class Statement:
    """A statement run: the entry called, the steps it spans, its value and
    what it gives its name, and the user memory read back after it."""

    n: int
    text: str
    entry: str
    first_step: int
    last_step: int
    value: str
    bound: str = ""
    memory: tuple[tuple[str, str], ...] = ()
    limits: tuple[str, ...] = ()  # what the model's kernel lacks on this path (syscalls.toml)

    def to_json(self) -> dict:
        return {"n": self.n, "statement": self.text, "entry": self.entry,
                "steps": [self.first_step, self.last_step], "value": self.value,
                "bound": self.bound, "memory": dict(self.memory), "limits": list(self.limits)}


@dataclass
class ProgramRun:
    """A finished program: its statements, the trace, and where it stopped."""

    statements: list[Statement]
    run: Run
    error: str = ""
    names: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"statements": [s.to_json() for s in self.statements], "error": self.error,
                "names": self.names, "seconds": round(self.seconds, 3),
                "trace": self.run.to_json()}


# --- running ---------------------------------------------------------------------------

def run_program(statements: Sequence[str] | str, cfg: Config | None = None,
                write: bool = False, user: str | None = None) -> ProgramRun:
    """Parse and run a program on the analysis of ``cfg`` (as root or ``user``)."""
    from analyzer.model.process import Process, parse_user

    calls = parse_program(statements)
    cfg = cfg or Config.default()
    gen = program_generator(cfg)
    base = Process.from_table(gen.data.get("process", {}))
    process = parse_user(user, base) if user is not None else None
    try:
        return run_program_with(gen, calls, process)
    finally:
        if write:
            gen.write(cfg.model_dir)


def check_names(calls: Sequence[Call], constant) -> None:
    """Every name a statement uses is bound by an earlier one or is a constant
    of the tree (``constant(name)`` not None): one line naming the first that
    is neither, before anything runs."""
    bound: set[str] = set()
    for c in calls:
        for a in c.args:
            name = str(a.value)
            if a.kind in ("name", "item") and name not in bound and \
                    (a.kind == "item" or constant(name) is None):
                raise AnalyzerError(f"statement {c.text!r}: {name!r} is neither a name bound "
                                    "by an earlier statement nor a constant of the analysed "
                                    "tree")
        if c.target:
            bound.add(c.target)


def program_generator(cfg: Config):
    """The socket model's generator with the socket buffers' primitives
    (kernel/skb.toml: data areas of real bytes, ``skb_shinfo`` placed after
    ``end``), so that data written to a socket travels in bytes; its boot image
    is kept apart (build/model/boot-program)."""
    from analyzer.model.facts import open_facts
    from analyzer.model.kconfig import KernelConfig
    from analyzer.model.skb import SkbGenerator, merged_table

    facts = open_facts(cfg.store_path, cfg.kernel_dir)
    return SkbGenerator(facts, merged_table(True), KernelConfig.load(cfg),
                        cache_dir=cfg.build_dir / "model" / "index",
                        image_dir=cfg.build_dir / "model" / "boot-program")


def run_program_with(gen, calls: Sequence[Call], process=None) -> ProgramRun:
    """Run parsed ``calls`` on ``gen``'s booted machine; roll it back after."""
    from analyzer.model.lines import recording

    start = time.perf_counter()
    table = syscalls_table()
    check_names(calls, gen.facts.constant)
    m, report = gen.booted()
    driver = _Driver(gen, m, table)
    with m.checked_out():
        m.process, m.task = process or m.process, None
        m.boot_count = len(m.steps)
        driver.boot_count = m.boot_count
        with recording(lambda: len(m.steps) - driver.boot_count, gen.locate) as lines:
            rt.run_in(m, driver.run, list(calls))
        r = Run.from_machine(m, "program", tuple(c.text for c in calls), driver.last,
                             driver.boot_count)
        r.lines = lines
    r.boot_report = report
    r.seconds = time.perf_counter() - start
    return ProgramRun(driver.results, r, driver.error,
                      {k: _show(v) for k, v in driver.env.items()}, r.seconds)


def _show(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    if isinstance(value, bytes):
        return '"' + value.decode("latin-1").encode("unicode_escape").decode() + '"'
    if isinstance(value, rt.Obj):  # a struct of user memory: its members that are set
        return "{" + ", ".join(f"{k} = {_member(v)}" for k, v in value._v.items()) + "}"
    return rt.display(value)


def _member(v) -> str:
    if isinstance(v, CArray):  # sun_path: its bytes up to the last one set
        keys = [k for k in v._v if isinstance(k, int)]
        data = bytes(int(v._v.get(i, 0)) & 0xFF for i in range(max(keys, default=-1) + 1))
        return _show(data)
    return _show(v)


class _Driver:
    """Runs the statements one by one, binding names and reading user memory."""

    def __init__(self, gen, m, table: dict):
        self.gen, self.m, self.table = gen, m, table
        self.env: dict[str, object] = {}
        self.iov_buffers: dict[int, IndexRef] = {}  # a msghdr made, by id: its buffer
        self.results: list[Statement] = []
        self.error = ""
        self.last = None
        self.boot_count = 0

    def run(self, calls: list[Call]) -> None:
        for n, c in enumerate(calls, start=1):
            first = len(self.m.steps) + 1
            spec = _spec(self.table["syscalls"], c)
            try:
                args, memory = self.arguments(c, spec)
                value = self.m.invoke(spec["entry"], tuple(args))
                self.return_to_user()
            except AnalyzerError as e:
                why = str(e).removeprefix(f"statement {c.text!r}: ")
                self.error = f"statement {n} {c.text!r}: {why}"
                self.m.step("stub", spec["entry"], "", 0, note=f"stopped: {e}", value="")
                self.record(n, c, spec, first, "", "", ())
                return
            self.last = value
            shown_mem = tuple((label, _show(v)) for label, v in self.read_back(memory, value))
            bound = self.bind(c, spec, value, memory)
            self.record(n, c, spec, first, rt.display(value), bound, shown_mem)

    def record(self, n, c, spec, first, value, bound, memory) -> None:
        last = len(self.m.steps) - self.boot_count
        self.results.append(Statement(n, c.text, spec["entry"], first - self.boot_count, last,
                                      value, bound, memory, self.limits(first)))

    def limits(self, first: int) -> tuple[str, ...]:
        """The [limits] of syscalls.toml this statement's steps met."""
        called = {s["function"] for s in self.m.steps[first - 1:] if s["event"] == "call"}
        return tuple(limit["says"] for limit in self.table.get("limits", {}).values()
                     if called & set(limit["reached_by"])
                     and not any(not g.extern for g in self.gen.facts.find("globals",
                                                                           limit["symbol"])))

    def return_to_user(self) -> None:
        """The return to user space: the task's queued work runs (a close's fput)."""
        task = self.m.task
        if task is None or getattr(task, "task_works", None) is None:
            return
        for fn in self.table.get("return_to_user", {}).get("calls", []):
            self.m.invoke(fn, ())

    # arguments
    def value(self, c: Call, a: Arg):
        from analyzer.model import parse_args

        if a.kind == "int":
            return a.value
        if a.kind == "str":
            return a.value
        if a.kind == "item":
            held = self.env.get(str(a.value))
            if not isinstance(held, list):
                raise AnalyzerError(f"statement {c.text!r}: {a.value} is not a pair of fds "
                                    "bound by an earlier statement")
            if not 0 <= a.index < len(held):
                raise AnalyzerError(f"statement {c.text!r}: {a} is out of range "
                                    f"({a.value} has {len(held)} items)")
            return held[a.index]
        if a.value in self.env:
            held = self.env[str(a.value)]
            if isinstance(held, list):
                raise AnalyzerError(f"statement {c.text!r}: {a.value} holds {len(held)} "
                                    f"values; write {a.value}[0]")
            return held
        if self.gen.facts.constant(str(a.value)) is None:
            raise AnalyzerError(f"statement {c.text!r}: {a.value!r} is neither a name bound "
                                "by an earlier statement nor a constant of the analysed tree")
        return parse_args(self.gen.facts, [str(a.value)])[0]

    def arguments(self, c: Call, spec: dict) -> tuple[list, list]:
        params = {p.split(":")[0]: self.value(c, a) for p, a in zip(spec["params"], c.args,
                                                                     strict=True)}
        out, memory = [], []
        for i, text in enumerate(spec["args"]):
            made = self.arg(text, params, c)
            out.append(made)
            kind = text.split("(")[0]
            if kind in ("int_out", "bytes_out", "ints_out", "len_inout", "int_in",
                        "bytes_in", "sockaddr_in", "sockaddr_un"):
                memory.append((i, kind, made))
            elif kind in ("msghdr_in", "msghdr_out"):  # shown: the bytes its iovec holds
                memory.append((i, "bytes" + kind[6:], self.iov_buffers[id(made)]))
        return out, memory

    def arg(self, text: str, params: dict, c: Call):
        m = re.fullmatch(r"(\w+)(?:\((.*)\))?", text.strip())
        if m is None:
            raise AnalyzerError(f"syscalls.toml: {c.name}: bad argument {text!r}")
        kind, inner = m.group(1), [s.strip() for s in (m.group(2) or "").split(",") if s.strip()]
        if kind in params and m.group(2) is None:
            return params[kind]
        if kind.isdigit() and m.group(2) is None:  # a literal: sendmsg's flags
            return int(kind)
        if kind == "sizeof":
            size = self.m.sizeof(inner[0] if inner else "")
            if not isinstance(size, int):
                raise AnalyzerError(f"sizeof({inner[0]}) is unknown to the model")
            return int(size)
        if kind == "sockaddr_in":
            return self.sockaddr_in(str(params[inner[0]]), params[inner[1]], c)
        if kind == "sockaddr_un":
            return self.sockaddr_un(str(params[inner[0]]))
        if kind == "sun_len":
            return self.sun_len(str(params[inner[0]]))
        if kind == "int_in":
            return self.ints([int(params[inner[0]])], "int")
        if kind == "int_out":
            return self.ints([0], "int")
        if kind == "ints_out":
            return self.ints([0] * int(inner[0]), "int")
        if kind == "len_inout":
            size = self.m.sizeof(inner[0])
            return self.ints([int(size)], "int")
        if kind == "bytes_in":
            data = str(params[inner[0]]).encode("latin-1", "replace")
            return self.buffer(data, len(data))
        if kind == "bytes_out":
            return self.buffer(b"", self.count(params[inner[0]], c))
        if kind == "msghdr_in":
            data = str(params[inner[0]]).encode("latin-1", "replace")
            return self.msghdr(self.buffer(data, len(data)), self.count(params[inner[1]], c))
        if kind == "msghdr_out":
            count = self.count(params[inner[0]], c)
            return self.msghdr(self.buffer(b"", count), count)
        raise AnalyzerError(f"syscalls.toml: {c.name}: unknown argument kind {text!r}")

    @staticmethod
    def count(value, c: Call) -> int:
        count = int(value)
        if not 0 <= count <= 1 << 20:
            raise AnalyzerError(f"statement {c.text!r}: a buffer of {count} bytes is not "
                                "modelled (0 to 1 MiB)")
        return count

    # user memory
    def msghdr(self, buffer: IndexRef, length: int):
        """User space's struct msghdr (the kernel's struct user_msghdr) of one
        struct iovec over ``buffer``; no address, no control data."""
        iov = self.m.new("iovec", self.m.label("user:iovec"))
        iov.iov_base = buffer
        iov.iov_len = length
        msg = self.m.new("user_msghdr", self.m.label("user:msghdr"))
        msg.msg_iov = iov
        msg.msg_iovlen = 1
        self.iov_buffers[id(msg)] = buffer
        return msg

    def ints(self, values: list[int], ctype: str) -> IndexRef:
        arr = CArray(self.m, self.m.label(f"user:{ctype}"), FieldSpec("", ctype, "scalar"),
                     len(values))
        self.m.created(arr)
        for i, v in enumerate(values):
            if v:
                arr[i] = v
        return IndexRef(arr, 0)

    def buffer(self, data: bytes, size: int) -> IndexRef:
        arr = CArray(self.m, self.m.label("user:char"), FieldSpec("", "char", "scalar"), size)
        self.m.created(arr)
        for i, b in enumerate(data):
            arr[i] = b
        return IndexRef(arr, 0)

    def sockaddr_in(self, address: str, port, c: Call):
        parts = address.split(".")
        if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
            raise AnalyzerError(f"statement {c.text!r}: {address!r} is not an IPv4 address "
                                "(a.b.c.d)")
        if not isinstance(port, int) or not 0 <= int(port) < 65536:
            raise AnalyzerError(f"statement {c.text!r}: port {port} is out of 0..65535")
        sa = self.m.new("sockaddr_in", self.m.label("user:sockaddr_in"))
        sa.sin_family = rt.Named("AF_INET", int(self.gen.facts.constant("AF_INET")))
        # network byte order: the bytes big-endian, held by a little-endian integer
        sa.sin_port = int.from_bytes(int(port).to_bytes(2, "big"), "little")
        sa.sin_addr.s_addr = int.from_bytes(bytes(int(p) for p in parts), "little")
        return sa

    def sockaddr_un(self, path: str):
        sa = self.m.new("sockaddr_un", self.m.label("user:sockaddr_un"))
        sa.sun_family = rt.Named("AF_UNIX", int(self.gen.facts.constant("AF_UNIX")))
        raw = ("\0" + path[1:] if path.startswith("@") else path).encode("latin-1")
        for i, b in enumerate(raw[:len(sa.sun_path)]):
            sa.sun_path[i] = b
        return sa

    def sun_len(self, path: str) -> int:
        """The length user space gives with a struct sockaddr_un (unix(7)): up to
        the end of the name; a path's terminating NUL counted, an abstract
        name's leading NUL counted and nothing after it."""
        start = self.m.offsetof("struct sockaddr_un", "sun_path")
        if not isinstance(start, int):
            raise AnalyzerError("offsetof(struct sockaddr_un, sun_path) is unknown to the model")
        return int(start) + len(path.encode("latin-1")) + (0 if path.startswith("@") else 1)

    def read_back(self, memory: list, value) -> list[tuple[str, object]]:
        out = []
        for _, kind, made in memory:
            if isinstance(made, IndexRef):
                arr = made.arr
                vals = [arr._v.get(i, 0) for i in range(arr.count)]
                if arr.elem.ctype == "char":
                    n = int(value) if kind == "bytes_out" and isinstance(value, int) \
                        and 0 <= int(value) <= arr.count else arr.count
                    out.append((arr._label, bytes(int(v) & 0xFF for v in vals[:n]
                                                  if isinstance(v, int))))
                else:
                    out.append((arr._label, vals if len(vals) > 1 else vals[0]))
            else:
                out.append((made._label, made))
        return out

    def bind(self, c: Call, spec: dict, value, memory: list) -> str:
        result = spec.get("result", "return")
        bound = value
        if result.startswith("out "):
            index = int(result.split()[1])
            found = next((made for i, _, made in memory if i == index), None)
            vals = self.read_back([(index, "", found)], value) if found is not None else []
            if vals and isinstance(value, int) and int(value) == 0:
                bound = vals[0][1]
        if c.target:
            self.env[c.target] = bound if not isinstance(bound, rt.Named) else int(bound)
        return _show(bound)


def read_program(path: Path) -> str:
    """A program file's text, or one clear line naming it."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise AnalyzerError(f"{path}: cannot read the program ({e})") from None
