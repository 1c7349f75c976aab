"""The model's values: named constants, unknowns, sizes and function pointers.

Takes nothing at import.  C integers are Python ints; :class:`Named` keeps the
name of a constant (``SS_UNCONNECTED (1)``); :class:`Sym` is a value the model
does not know, named after where it came from and saying why; :class:`SizeOf`
is ``sizeof(T)``: an int when the layout is known, and the type, so that an
allocation knows what to make; :class:`FuncRef` points at a kernel function.
A decision taken on a :class:`Sym` (its truth, a switch on it) is not made
here: :mod:`analyzer.model.assume` records it as an assumption.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from analyzer.model.context import ModelError, active_machine, current_machine

__all__ = ["Named", "K", "Sym", "SizeOf", "TailOffset", "FuncRef", "fn", "unknown",
           "display", "is_unknown", "Addr", "note", "TypeSize", "CharPtr"]


class Named(int):
    """An integer that keeps the name of the constant it came from."""

    name: str

    def __new__(cls, name: str, value: int) -> Named:
        obj = super().__new__(cls, value)
        obj.name = name
        return obj

    def __repr__(self) -> str:
        return f"{self.name} ({int(self)})"

    def _keep(self, value: int):
        """A mask or flag operation that leaves the value as it was keeps its name
        (``type & SOCK_TYPE_MASK`` is still SOCK_STREAM)."""
        return self if value == int(self) else value

    def __and__(self, other):
        return self._keep(int(self) & other) if isinstance(other, int) else NotImplemented

    def __or__(self, other):
        """``S_IFSOCK | S_IRWXUGO`` keeps both names (as the source writes it)."""
        if not isinstance(other, int):
            return NotImplemented
        value = int(self) | int(other)
        if isinstance(other, Named) and value not in (int(self), int(other)):
            return Named(f"{self.name} | {other.name}", value)
        if isinstance(other, Named) and value == int(other) != int(self):
            return other
        return self._keep(value)

    def __ror__(self, other):
        return self.__or__(other)

    __rand__ = __and__


def K(name: str, value: int) -> Named:  # noqa: N802 - reads as a constant
    """A constant of the analysed tree: its name and evaluated value."""
    return Named(name, value)


class Sym:
    """A value the model does not know: ``name`` says where it came from
    (``?uninitialized ca``, ``?nr_free_buffer_pages()``), ``why`` why it is
    unknown.  Arithmetic and comparisons on it give further unknowns; its
    truth is an assumption (see :mod:`analyzer.model.assume`)."""

    __slots__ = ("name", "why", "outcome")

    def __init__(self, name: str, why: str = "", outcome: bool | None = None):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "why", why)
        #: the result of a function the model cannot run: the truth its success
        #: has (True for a pointer or a bool, False for an error code), which a
        #: test on it takes (see assume.truth_of_unknown); None otherwise
        object.__setattr__(self, "outcome", outcome)

    def __repr__(self) -> str:
        return f"?{self.name}"

    def derived(self, name: str) -> Sym:
        return Sym(name, self.why, self.outcome)

    def __getattr__(self, item: str) -> Sym:
        if item.startswith("__"):
            raise AttributeError(item)
        return self.derived(f"{self.name}->{item}")

    def __setattr__(self, key, value) -> None:
        from analyzer.model.assume import drop_write

        drop_write(self, key, value)

    def __bool__(self) -> bool:
        from analyzer.model.assume import truth_of_unknown

        return truth_of_unknown(self)

    def __call__(self, *args) -> Sym:
        return self.derived(f"{self.name}()")

    def __getitem__(self, i) -> Sym:
        return self.derived(f"{self.name}[{display(i)}]")

    def __setitem__(self, i, v) -> None:
        from analyzer.model.assume import drop_write

        drop_write(self, f"[{display(i)}]", v)

    def __eq__(self, other):
        if other is self:
            return True
        return self._op(other, "==")

    def __ne__(self, other):
        if other is self:
            return False
        return self._op(other, "!=")

    __hash__ = object.__hash__

    def _op(self, other, op: str) -> Sym:
        why = self.why or (other.why if isinstance(other, Sym) else "")
        outcome = _outcome(op, self.outcome, other) if not isinstance(other, Sym) else None
        return Sym(f"({self.name} {op} {display(other)})", why, outcome)

    def _rop(self, other, op: str) -> Sym:
        return Sym(f"({display(other)} {op} {self.name})", self.why, self.outcome)


def _outcome(op: str, success: bool | None, other) -> bool | None:
    """The truth a comparison of a function's result takes when the function
    succeeds (its result is non-zero if ``success`` else 0), or None."""
    if success is None:
        return None
    zero = other is None or (isinstance(other, int) and int(other) == 0)
    value_is_zero = not success
    table = {"==": value_is_zero if zero else False, "!=": (not value_is_zero) if zero else True,
             "<": False, "<=": value_is_zero, ">": not value_is_zero, ">=": True}
    return table.get(op)


def _sym_binop(op: str) -> Callable:
    def f(self, other):
        return self._op(other, op)
    return f


def _sym_rbinop(op: str) -> Callable:
    def f(self, other):
        return self._rop(other, op)
    return f


for _name, _op in (("add", "+"), ("sub", "-"), ("mul", "*"), ("and", "&"),
                   ("or", "|"), ("xor", "^"), ("lshift", "<<"), ("rshift", ">>"),
                   ("floordiv", "/"), ("mod", "%"), ("lt", "<"), ("le", "<="),
                   ("gt", ">"), ("ge", ">=")):
    setattr(Sym, f"__{_name}__", _sym_binop(_op))
    if _name not in ("lt", "le", "gt", "ge"):
        setattr(Sym, f"__r{_name}__", _sym_rbinop(_op))
Sym.__neg__ = lambda self: self.derived(f"-{self.name}")
Sym.__pos__ = lambda self: self
Sym.__invert__ = lambda self: self.derived(f"~{self.name}")


def _no_int(self):
    raise ModelError(f"unknown value {self.name} used as a number (an index, a count)"
                     + (f": {self.why}" if self.why else ""))


Sym.__index__ = Sym.__int__ = _no_int  # an unknown is never used as a number silently


def unknown(name: str, why: str = "") -> Sym:
    """An identifier the analysis gives no value for."""
    return Sym(name, why or "no definition of it in the analysed tree")


def is_unknown(value) -> bool:
    return isinstance(value, Sym)


class SizeOf(int):
    """``sizeof(T)``: the size in bytes (x86-64), keeping the type so that an
    allocation of it makes a T.  Arithmetic gives plain ints, as in C;
    ``sizeof(outer) - sizeof(T)`` keeps both types (:class:`TailOffset`)."""

    ctype: str

    def __new__(cls, ctype: str, size: int) -> SizeOf:
        obj = super().__new__(cls, size)
        obj.ctype = ctype
        return obj

    def __repr__(self) -> str:
        return f"sizeof({self.ctype}) ({int(self)})"

    def __sub__(self, other):
        if isinstance(other, SizeOf):
            return TailOffset(self.ctype, other.ctype, int(self) - int(other))
        return int.__sub__(self, other)

    def __add__(self, other):
        """``sizeof(T) + n``: still a T to allocate (a struct with ``n`` bytes
        after it, for its flexible array member)."""
        if type(other) is int or isinstance(other, Named) and not isinstance(other, SizeOf):
            return SizeOf(self.ctype, int(self) + int(other)) if int(other) >= 0 \
                else int(self) + int(other)
        return int.__add__(self, other)

    __radd__ = __add__


class TypeSize(Sym):
    """``sizeof(T)`` of a type the model cannot lay out: unknown as a number,
    but an allocation of it still makes a T."""

    __slots__ = ("ctype",)

    def __add__(self, other):
        if type(other) is int and other >= 0:
            return self  # sizeof(T) + n: still a T to allocate
        return self._op(other, "+")

    def __init__(self, ctype: str, why: str):
        super().__init__(f"sizeof({ctype})", why)
        object.__setattr__(self, "ctype", ctype)


class TailOffset(int):
    """The byte offset of a member of type ``tail`` that ends a ``whole``
    (``obj_size - sizeof(struct ipv6_pinfo)``); adding it to a pointer to the
    whole gives that member."""

    whole: str
    tail: str

    def __new__(cls, whole: str, tail: str, value: int) -> TailOffset:
        obj = super().__new__(cls, value)
        obj.whole, obj.tail = whole, tail
        return obj

    def __repr__(self) -> str:
        return f"(sizeof({self.whole}) - sizeof({self.tail})) ({int(self)})"

    def locate(self, obj):
        root = obj
        while isinstance(root._parent, tuple) and hasattr(root._parent[0], "_layout"):
            root = root._parent[0]
        fields = root._layout.fields
        want = re.sub(r"^(?:struct|union)\s+", "", self.tail)
        if fields and fields[-1].kind == "struct" and fields[-1].target == want \
                and root._layout.name == re.sub(r"^(?:struct|union)\s+", "", self.whole):
            return getattr(root, fields[-1].name)
        raise ModelError(f"{obj!r} + {self!r}: the object does not end with a {self.tail}")


@dataclass(frozen=True)
class FuncRef:
    """A pointer to a kernel function, by name and the file that names it (so
    that a ``static`` function of that file is found); calling it goes
    through the machine."""

    name: str
    file: str = ""

    def __repr__(self) -> str:
        return self.name

    def __call__(self, *args):
        return current_machine().invoke(self.name, args, origin=self.file)


def fn(name: str, file: str = "") -> FuncRef:
    return FuncRef(name, file)


class Addr:
    """A pointer cast to an integer (``(unsigned long)sk``): the object it
    points to, whose numeric address the model does not know (it is fixed when
    the kernel is linked or the object allocated), and the low bits a tagged
    pointer sets (``(unsigned long)parent | RB_BLACK`` in an rb-tree).  Objects
    are aligned (the model takes 8 bytes, a pointer's alignment on x86-64), so
    their low three bits are known: 0 plus the tag.  Cast back to a pointer it
    is the object again; other arithmetic on it is an unknown."""

    __slots__ = ("obj", "tag")
    ALIGN = 8

    def __init__(self, obj, tag: int = 0):
        self.obj, self.tag = obj, tag

    def __repr__(self) -> str:
        shown = f"(unsigned long){display(self.obj)}"
        return f"({shown} | {self.tag})" if self.tag else shown

    shown = __repr__

    def __bool__(self) -> bool:
        return True

    def __eq__(self, other) -> bool:
        return isinstance(other, Addr) and other.obj is self.obj and other.tag == self.tag

    def __ne__(self, other) -> bool:
        return not self.__eq__(other)

    __hash__ = object.__hash__

    def __and__(self, mask):
        if isinstance(mask, int) and not isinstance(mask, bool):
            low = self.ALIGN - 1
            if int(mask) & ~low == 0:  # only low bits: the tag's
                return self.tag & int(mask)
            if int(mask) | low == -1 or int(mask) & ((1 << 64) - 1) | low == (1 << 64) - 1:
                return Addr(self.obj, self.tag & int(mask))  # clears tag bits only
        return self._op(mask, "&")

    __rand__ = __and__

    def __or__(self, bits):
        if isinstance(bits, int) and 0 <= int(bits) < self.ALIGN:
            return Addr(self.obj, self.tag | int(bits))
        return self._op(bits, "|")

    __ror__ = __or__

    def pointer(self):
        """The pointer this integer came from (None when a tag is set)."""
        return self.obj if not self.tag else None

    def sym(self) -> Sym:
        return Sym(f"address of {display(self.obj)}",
                   "the numeric address of an object is not known statically")

    def _op(self, other, op: str):
        return self.sym()._op(other, op)

    def _rop(self, other, op: str):
        return self.sym()._rop(other, op)


for _n, _o in (("add", "+"), ("sub", "-"), ("mul", "*"), ("xor", "^"), ("lshift", "<<"),
               ("rshift", ">>"), ("floordiv", "/"), ("mod", "%"), ("lt", "<"), ("le", "<="),
               ("gt", ">"), ("ge", ">=")):
    setattr(Addr, f"__{_n}__", lambda self, other, _o=_o: self._op(other, _o))
    if _n not in ("lt", "le", "gt", "ge"):
        setattr(Addr, f"__r{_n}__", lambda self, other, _o=_o: self._rop(other, _o))


class CharPtr:
    """A pointer into a C string literal: its text and an offset (``"tcp" + 1``).
    Reading past the text gives its NUL; the text itself is never written."""

    __slots__ = ("text", "i")

    def __init__(self, text: str, i: int = 0):
        self.text, self.i = text, i

    def __repr__(self) -> str:
        shown = '"' + self.text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return shown if self.i == 0 else f"{shown} + {self.i}"

    shown = __repr__

    def __bool__(self) -> bool:
        return True

    def __eq__(self, other) -> bool:
        return isinstance(other, CharPtr) and other.text is self.text and other.i == self.i

    __hash__ = object.__hash__

    def __getitem__(self, k) -> int:
        j = self.i + int(k)
        return ord(self.text[j]) if 0 <= j < len(self.text) else 0

    def load(self) -> int:
        return self[0]

    def __add__(self, n):
        if isinstance(n, Sym):
            return n.derived(f"{self!r} + {n.name}")
        return CharPtr(self.text, self.i + int(n))

    __radd__ = __add__

    def __sub__(self, other):
        if isinstance(other, CharPtr):
            return self.i - other.i
        return CharPtr(self.text, self.i - int(other))

    def __lt__(self, other) -> bool:
        return self.i < other.i

    def __le__(self, other) -> bool:
        return self.i <= other.i

    def __gt__(self, other) -> bool:
        return self.i > other.i

    def __ge__(self, other) -> bool:
        return self.i >= other.i

    def string(self) -> str:
        return self.text[self.i:].split("\0", 1)[0]


def display(value) -> str:
    """How a value is shown in the trace and the snapshots."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return str(int(value))
    if type(value) is int:
        return str(value)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (Sym, Named)):
        return repr(value)
    shown = getattr(value, "shown", None)  # objects and references say how they show
    if shown is not None:
        return shown()
    return repr(value)


def note(text: str) -> None:
    """A remark on the current step (not a decision: see assume)."""
    m = active_machine()
    if m is not None:
        m.note(text)
