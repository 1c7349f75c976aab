"""The runtime under the generated model: values, objects and kernel primitives.

Takes nothing at import.  A :class:`Machine` (one per model run) holds the
objects, the trace and the registry of callables; generated code reaches it
through three names bound when it is executed: ``rt`` (this module), ``F``
(functions: translated, primitive or stub) and ``G`` (global variables).

Values:

- C integers are Python ints; :class:`Named` keeps the name of a constant
  (``SS_UNCONNECTED (1)``);
- a pointer to a struct is the Python object of the struct (:class:`Obj`); a
  pointer to a first member is a view of the same object (field lookups go
  down the first-member chain, casts go up or down it);
- a pointer to a scalar is a :class:`Ref` (a local's :class:`Cell`, a field,
  an array slot); arrays are :class:`CArray`;
- ``sizeof(T)`` is a :class:`SizeOf` that allocation turns into an object of T;
- a value the model cannot know is a :class:`Sym`, shown with its name.

The primitives (allocation, lists, locks, RCU, atomics, wait queues, error
pointers) are the functions of :data:`PRIMITIVES`; ``kernel/primitives.toml``
lists which C names they stand for.
"""

from __future__ import annotations

import contextvars
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from analyzer.errors import AnalyzerError

__all__ = [
    "ModelError", "Goto", "Named", "Sym", "SizeOf", "FuncRef", "Obj", "CArray",
    "Ref", "Cell", "Machine", "Layout", "FieldSpec", "PRIMITIVES", "display",
    "K", "fn", "unknown", "cast", "container_of", "via", "addr", "deref", "store",
    "ref", "iref", "cell", "static", "gref", "bump", "first", "slot", "set_slot",
    "cdiv", "cmod", "once",
    "case_index", "iterate",
    "current_machine", "new_local", "truth", "compound", "cast_int",
]

_MACHINE: contextvars.ContextVar[Machine] = contextvars.ContextVar("model_machine")


class ModelError(AnalyzerError):
    """The model cannot go on (an untranslatable statement, a NULL dereference)."""


class Goto(Exception):  # noqa: N818 - a jump, not an error
    """``goto label`` inside a translated function."""

    def __init__(self, label: str):
        super().__init__(label)
        self.label = label


def current_machine() -> Machine:
    m = _MACHINE.get(None)
    if m is None:
        raise ModelError("no model run is active")
    return m


# --- values -------------------------------------------------------------------

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
        return self._keep(int(self) | other) if isinstance(other, int) else NotImplemented

    __rand__, __ror__ = __and__, __or__


def K(name: str, value: int) -> Named:  # noqa: N802 - reads as a constant
    """A constant of the analysed tree: its name and evaluated value."""
    return Named(name, value)


class Sym:
    """A value the model does not know, named after where it came from."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"?{self.name}"

    def __getattr__(self, item: str) -> Sym:
        if item.startswith("__"):
            raise AttributeError(item)
        return Sym(f"{self.name}->{item}")

    def __setattr__(self, key, value) -> None:
        if key == "name":
            object.__setattr__(self, key, value)
            return
        m = _MACHINE.get(None)
        if m is not None:
            m.note(f"write to unknown object {self.name}->{key} ignored")

    def __bool__(self) -> bool:
        m = _MACHINE.get(None)
        if m is not None:
            m.note(f"unknown value {self.name} taken as non-zero")
        return True

    def __call__(self, *args) -> Sym:
        return Sym(f"{self.name}()")

    def __getitem__(self, i) -> Sym:
        return Sym(f"{self.name}[{display(i)}]")

    def __setitem__(self, i, v) -> None:
        pass

    def __eq__(self, other) -> bool:
        return other is self

    def __ne__(self, other) -> bool:
        return other is not self

    __hash__ = object.__hash__

    def _op(self, other, op: str) -> Sym:
        return Sym(f"({self.name} {op} {display(other)})")


def _sym_binop(op: str) -> Callable:
    def f(self, other):
        return self._op(other, op)
    return f


for _name, _op in (("add", "+"), ("sub", "-"), ("mul", "*"), ("and", "&"),
                   ("or", "|"), ("xor", "^"), ("lshift", "<<"), ("rshift", ">>"),
                   ("floordiv", "/"), ("mod", "%"), ("lt", "<"), ("le", "<="),
                   ("gt", ">"), ("ge", ">=")):
    setattr(Sym, f"__{_name}__", _sym_binop(_op))
    if _name not in ("lt", "le", "gt", "ge"):
        setattr(Sym, f"__r{_name}__", _sym_binop(_op))
Sym.__neg__ = lambda self: Sym(f"-{self.name}")
Sym.__invert__ = lambda self: Sym(f"~{self.name}")
def _no_int(self):
    raise ModelError(f"unknown value {self.name} used as a number (an index, a count)")


Sym.__index__ = Sym.__int__ = _no_int  # an unknown is never used as a number silently


@dataclass(frozen=True)
class TailOffset:
    """The byte offset of a member of type ``tail`` that ends a ``whole``
    (``obj_size - sizeof(struct ipv6_pinfo)``); adding it to a pointer to the
    whole gives that member."""

    whole: str
    tail: str

    def __repr__(self) -> str:
        return f"(sizeof({self.whole}) - sizeof({self.tail}))"

    def locate(self, obj: Obj):
        root = obj
        while isinstance(root._parent, tuple) and isinstance(root._parent[0], Obj):
            root = root._parent[0]
        fields = root._layout.fields
        want = re.sub(r"^(?:struct|union)\s+", "", self.tail)
        if fields and fields[-1].kind == "struct" and fields[-1].target == want \
                and root._layout.name == re.sub(r"^(?:struct|union)\s+", "", self.whole):
            return getattr(root, fields[-1].name)
        raise ModelError(f"{obj!r} + {self!r}: the object does not end with a {self.tail}")


def unknown(name: str) -> Sym:
    """An identifier the analysis gives no value for."""
    return Sym(name)


@dataclass(frozen=True)
class SizeOf:
    """``sizeof(T)`` kept as the type, so that allocation knows what to make."""

    ctype: str

    def __repr__(self) -> str:
        return f"sizeof({self.ctype})"

    def _op(self, other, op: str = "?") -> Sym:
        return Sym(f"({self!r} {op} {display(other)})")

    def __sub__(self, other):
        """``sizeof(outer) - sizeof(T)``: the offset of a T that ends the object."""
        if isinstance(other, SizeOf):
            return TailOffset(self.ctype, other.ctype)
        return self._op(other, "-")

    __add__ = __radd__ = __mul__ = __rmul__ = __rsub__ = _op
    __lt__ = __le__ = __gt__ = __ge__ = __floordiv__ = __rfloordiv__ = _op

    def __bool__(self) -> bool:
        return True


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


# --- struct layouts and objects ----------------------------------------------

@dataclass(frozen=True)
class FieldSpec:
    """One member: name (dotted for inline members), C type and kind:
    ``scalar``, ``ptr``, ``struct`` (by value, ``target`` = its name),
    ``array`` (``count`` elements of ``elem``), ``opaque`` (a typedef'd
    aggregate the analysis does not define)."""

    name: str
    ctype: str
    kind: str
    target: str = ""
    count: int = 0
    elem: FieldSpec | None = None


@dataclass(frozen=True)
class Layout:
    """A struct or union as the generated class declares it."""

    name: str
    kind: str
    file: str
    line: int
    fields: tuple[FieldSpec, ...] = ()

    @property
    def index(self) -> dict[str, FieldSpec]:
        return {f.name: f for f in self.fields}


class _Ordered:
    """Pointers into the same array compare by position, as in C."""

    __slots__ = ()

    def __lt__(self, other) -> bool:
        return _position(self) < _position(other)

    def __le__(self, other) -> bool:
        return _position(self) <= _position(other)

    def __gt__(self, other) -> bool:
        return _position(self) > _position(other)

    def __ge__(self, other) -> bool:
        return _position(self) >= _position(other)


class Obj(_Ordered):
    """An instance of a C struct: fields in a dict, writes recorded by the machine."""

    __slots__ = ("_layout", "_index", "_v", "_label", "_parent", "_m", "__weakref__")
    LAYOUT: Layout = Layout("?", "struct", "", 0)

    def __init__(self, m: Machine, label: str, parent: tuple | None = None):
        object.__setattr__(self, "_layout", type(self).LAYOUT)
        object.__setattr__(self, "_index", type(self).LAYOUT.index)
        object.__setattr__(self, "_v", {})
        object.__setattr__(self, "_label", label)
        object.__setattr__(self, "_parent", parent)
        object.__setattr__(self, "_m", m)
        m.created(self)

    def __repr__(self) -> str:
        return f"&{self._label}"

    def __bool__(self) -> bool:
        return True

    def _find(self, name: str) -> tuple[Obj, str] | None:
        obj: Obj | None = self
        while obj is not None:
            if name in obj._index:
                return obj, name
            first = obj._layout.fields[0] if obj._layout.fields else None
            obj = obj._slot(first.name) if first is not None and first.kind == "struct" else None
        return None

    def _slot(self, name: str):
        """The value of an own field, making zeroed aggregates on first use."""
        if name in self._v:
            return self._v[name]
        spec = self._index[name]
        value = self._m.zero(spec, f"{self._label}.{name}", (self, name))
        if spec.kind in ("struct", "array", "opaque"):
            self._v[name] = value
        return value

    def __getattr__(self, name: str):
        name = _unmangle(name)
        found = self._find(name)
        if found is None:
            prefix = name + "."
            if any(k.startswith(prefix) for k in self._index):
                return _Prefix(self, prefix)
            raise ModelError(f"struct {self._layout.name} has no field {name!r} "
                             f"(object {self._label})")
        obj, key = found
        return obj._slot(key)

    def __setattr__(self, name: str, value) -> None:
        name = _unmangle(name)
        found = self._find(name)
        if found is None:
            raise ModelError(f"struct {self._layout.name} has no field {name!r}")
        obj, key = found
        if obj._index[key].kind == "struct" and isinstance(value, Obj):
            nested = obj._slot(key)  # a struct assignment copies the members
            for k in list(value._v):
                setattr(nested, k, value._v[k])
            return
        obj._m.write(obj, key, value)

    def _pos(self) -> tuple[CArray, int] | None:
        p = self._parent
        return (p[0], p[1]) if p is not None and isinstance(p[0], CArray) else None

    def __add__(self, n: int):
        if isinstance(n, TailOffset):
            return n.locate(self)
        pos = self._pos()
        if pos is None:
            raise ModelError(f"pointer arithmetic on {self._label}, not an array element")
        return pos[0].addr(pos[1] + int(n))

    def __sub__(self, n: int):
        return self.__add__(-int(n))


class Opaque(Obj):
    """An aggregate the analysis has no definition for: accepts any field."""

    __slots__ = ()

    def _find(self, name: str):
        if name not in self._index:
            index = dict(self._index)
            index[name] = FieldSpec(name, "?", "scalar")
            object.__setattr__(self, "_index", index)
        return self, name


class _Prefix:
    """``obj.u`` when ``u`` is an inline member flattened as ``u.x`` fields."""

    __slots__ = ("obj", "prefix")

    def __init__(self, obj: Obj, prefix: str):
        object.__setattr__(self, "obj", obj)
        object.__setattr__(self, "prefix", prefix)

    def __getattr__(self, name: str):
        return getattr(self.obj, self.prefix + _unmangle(name))

    def __setattr__(self, name: str, value) -> None:
        setattr(self.obj, self.prefix + _unmangle(name), value)

    def __getitem__(self, i):
        """An array of an inline struct (``} rtt_min[3];``): the analysis keeps
        one set of members, so every element is that one set (noted)."""
        current_machine().note(f"{self.obj._label}.{self.prefix[:-1]}[{display(i)}]: "
                               "array of an inline struct modelled as one element")
        return self


def _unmangle(name: str) -> str:
    """Generated code spells a field that is a Python keyword with a trailing ``_``."""
    import keyword

    if name.endswith("_") and keyword.iskeyword(name[:-1]):
        return name[:-1]
    return name


class CArray(_Ordered):
    """A C array: elements made zeroed on first use, writes recorded."""

    def __init__(self, m: Machine, label: str, elem: FieldSpec, count: int):
        self._m, self._label, self.elem, self.count = m, label, elem, count
        self._v: dict[int, object] = {}

    def __repr__(self) -> str:
        return f"&{self._label}[0]"

    def __len__(self) -> int:
        if self.count < 0:
            raise ModelError(f"the size of {self._label} is unknown to the analysis")
        return self.count

    def __bool__(self) -> bool:
        return True

    def _check(self, i) -> int:
        if isinstance(i, Sym):
            raise ModelError(f"index of {self._label} is unknown ({i!r})")
        i = int(i)
        if self.count < 0 and i >= 0:  # a size the analysis could not evaluate
            return i
        if not 0 <= i < self.count:
            raise ModelError(f"index {i} out of {self._label}[{self.count}]")
        return i

    def __getitem__(self, i):
        i = self._check(i)
        if i not in self._v:
            value = self._m.zero(self.elem, f"{self._label}[{i}]", (self, i))
            if self.elem.kind in ("struct", "array", "opaque"):
                self._v[i] = value
            return value
        return self._v[i]

    def __setitem__(self, i, value) -> None:
        self._m.write(self, self._check(i), value)

    def __getattr__(self, name: str):
        """An array used as a pointer is its first element: ``arr->x``."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self[0], name)

    def __add__(self, n: int):
        return self.addr(int(n))

    def addr(self, i: int):
        """``&a[i]``: the element object, or a slot pointer (also one past the end)."""
        if 0 <= i < self.count and self.elem.kind in ("struct", "opaque"):
            return self[i]
        return IndexRef(self, i)


class Ref:
    """A pointer to a scalar: ``load()`` and ``store(v)``."""

    def load(self):
        raise NotImplementedError

    def store(self, value) -> None:
        raise NotImplementedError


class Cell(Ref):
    """A local variable whose address is taken (``&sock``)."""

    def __init__(self, value=None, name: str = ""):
        self.v, self.name = value, name

    def __repr__(self) -> str:
        return f"&{self.name or 'local'}"

    def load(self):
        return self.v

    def store(self, value) -> None:
        self.v = value


class FieldRef(Ref):
    def __init__(self, obj, name: str):
        self.obj, self.name = obj, name

    def __repr__(self) -> str:
        return f"&{getattr(self.obj, '_label', '?')}.{self.name}"

    def load(self):
        return getattr(self.obj, self.name)

    def store(self, value) -> None:
        setattr(self.obj, self.name, value)


class IndexRef(_Ordered, Ref):
    def __init__(self, arr: CArray, i: int):
        self.arr, self.i = arr, i

    def __repr__(self) -> str:
        return f"&{self.arr._label}[{self.i}]"

    def load(self):
        return self.arr[self.i]

    def store(self, value) -> None:
        self.arr[self.i] = value

    def __add__(self, n: int):
        return self.arr.addr(self.i + int(n))

    def __sub__(self, n: int):
        return self.arr.addr(self.i - int(n))

    def __eq__(self, other) -> bool:
        return isinstance(other, IndexRef) and other.arr is self.arr and other.i == self.i

    __hash__ = object.__hash__


def _position(p) -> tuple[int, int]:
    if isinstance(p, IndexRef):
        return id(p.arr), p.i
    if isinstance(p, Obj) and p._pos() is not None:
        arr, i = p._pos()
        return id(arr), i
    if isinstance(p, CArray):
        return id(p), 0
    raise ModelError(f"ordering of pointers that are not in one array: {p!r}")


# --- generated-code helpers ---------------------------------------------------

def cell(value=None, name: str = "") -> Cell:
    return Cell(value, name)


def ref(obj, name: str) -> Ref:
    """``&obj->name`` for a scalar field (an aggregate field is its object)."""
    if isinstance(obj, Sym):
        return obj
    value = getattr(obj, name)
    if isinstance(value, (Obj, CArray, _Prefix)) and not _pointer_field(obj, name):
        return value
    return FieldRef(obj, name)


def _pointer_field(obj, name: str) -> bool:
    """Is ``name`` a pointer member of ``obj`` (its value an object it points to)?"""
    found = obj._find(name) if isinstance(obj, Obj) else None
    return found is not None and found[0]._index[found[1]].kind == "ptr"


def iref(arr, i) -> Ref:
    """``&arr[i]``."""
    if isinstance(arr, Sym):
        return Sym(f"&{arr.name}[{display(i)}]")
    if isinstance(arr, IndexRef):
        return arr.arr.addr(arr.i + int(i))
    if isinstance(arr, Obj):
        return arr + int(i)
    return arr.addr(int(i))


def addr(value):
    """``&x`` of a value that is already its own address (struct, array, function)."""
    return value


def deref(p):
    """``*p``."""
    if p is None:
        raise ModelError("NULL dereference")
    if isinstance(p, Ref):
        return p.load()
    if isinstance(p, CArray):
        return p[0]
    return p


def store(p, value):
    """``*p = value``; returns value."""
    if p is None:
        raise ModelError("NULL dereference in a store")
    if isinstance(p, Ref):
        p.store(value)
    elif isinstance(p, CArray):
        p[0] = value
    elif isinstance(p, Sym):
        current_machine().note(f"store through unknown pointer {p.name} ignored")
    else:
        raise ModelError(f"store of a whole struct through {p!r} is not modelled")
    return value


def static(function: str, name: str, init=0) -> Cell:
    """A function's ``static`` local: one cell per machine."""
    m = current_machine()
    return m.statics.setdefault(f"{function}.{name}", Cell(init, name))


def gref(g, name: str):
    """``&global``: an aggregate global is its own address."""
    value = getattr(g, name)
    if isinstance(value, (Obj, CArray)):
        return value
    return FieldRef(g, name)


def bump(p, delta: int, prefix: bool):
    """``++*p`` / ``(*p)++`` through a pointer; the new or the old value."""
    old = deref(p)
    new = old + delta
    store(p, new)
    return new if prefix else old


def first(a, *rest):
    """The value of a post-increment: the old value, the others evaluated after."""
    return a


def slot(target, i):
    """The ``i``-th member of a struct (positional initializer) or element of an array."""
    if isinstance(target, CArray):
        return target[i]
    return getattr(target, target._layout.fields[int(i)].name)


def set_slot(target, i, value) -> None:
    if isinstance(target, CArray):
        target[i] = value
    else:
        setattr(target, target._layout.fields[int(i)].name, value)


def cdiv(a, b):
    """C division (truncates toward zero)."""
    if isinstance(a, Sym) or isinstance(b, Sym):
        return Sym(f"({display(a)} / {display(b)})")
    q = abs(int(a)) // abs(int(b))
    return q if (a >= 0) == (b >= 0) else -q


def cmod(a, b):
    if isinstance(a, Sym) or isinstance(b, Sym):
        return Sym(f"({display(a)} % {display(b)})")
    return int(a) - cdiv(a, b) * int(b)


def truth(value) -> bool:
    """C truth of a value (None is NULL)."""
    return bool(value)


def once() -> Iterator[int]:
    """The one-turn loop that a ``switch`` runs in, so that ``break`` leaves it."""
    yield 0


def case_index(value, cases: list, default: int) -> int:
    """Where a ``switch`` enters: the index of the first matching case, else default."""
    if isinstance(value, Sym):
        current_machine().note(f"switch on unknown value {value.name}: default taken")
        return default
    for i, c in enumerate(cases):
        if c is not None and int(c) == int(value):
            return i
    return default


def new_local(type_name: str, name: str):
    """A local struct variable (``struct qstr name;``)."""
    m = current_machine()
    return m.new(type_name, f"{name}@{m.frame_name()}")


def compound(type_name: str, members: list[tuple[str | int, object]]):
    """A compound literal ``(T){ .a = x }``; an int key is a member's position
    (``(kuid_t){ 0 }``).  The object is a temporary that assignments copy: its
    writes are in the trace, the state tables leave it out."""
    m = current_machine()
    obj = m.new(type_name)
    top = [f.name for f in obj._layout.fields if "." not in f.name]
    for name, value in members:
        if isinstance(name, int):
            if name >= len(top):
                raise ModelError(f"{type_name} has no member #{name} for its compound literal")
            name = top[name]
        setattr(obj, name, value)
    m.forget(obj)  # a temporary: in the trace only
    return obj


def cast(value, target: str):
    """``(struct T *)value``: the object itself, a first member of it or the
    struct it is the first member of."""
    if not isinstance(value, Obj) or not target:
        return value
    obj: Obj | None = value
    while obj is not None:  # up: value is the first member of a T
        if obj._layout.name == target:
            return obj
        parent = obj._parent
        if not (parent and isinstance(parent[0], Obj)
                and parent[0]._layout.fields and parent[0]._layout.fields[0].name == parent[1]):
            break
        obj = parent[0]
    found = _first_chain(value, target)
    if found is None:
        current_machine().note(f"cast of {value!r} to struct {target} keeps the object")
        return value
    return found


def _first_chain(obj: Obj, target: str) -> Obj | None:
    while obj is not None:
        if obj._layout.name == target:
            return obj
        first = obj._layout.fields[0] if obj._layout.fields else None
        obj = obj._slot(first.name) if first is not None and first.kind == "struct" else None
    return None


def container_of(ptr, type_name: str, member: str):
    """The struct of type ``type_name`` whose ``member`` is ``ptr``."""
    if isinstance(ptr, Sym):
        return Sym(f"container_of({ptr.name}, {type_name}, {member})")
    obj = ptr
    while isinstance(obj, Obj):
        parent = obj._parent
        if not (parent and isinstance(parent[0], Obj)):
            break
        outer, key = parent
        if outer._layout.name == type_name and key.split(".")[-1] == member.split(".")[-1]:
            return outer
        if not outer._layout.fields or outer._layout.fields[0].name != key:
            break
        obj = outer
    if isinstance(ptr, Obj):
        found = cast(ptr, type_name)
        if found._layout.name == type_name and found._layout.fields \
                and found._layout.fields[0].name == member:
            return found
    raise ModelError(f"container_of({ptr!r}, struct {type_name}, {member}): "
                     "the object is not such a member")


class _Via:
    """A call through a function pointer, remembering the table that chose it."""

    def __init__(self, holder, field_name: str, expr: str):
        self.holder, self.field, self.expr = holder, field_name, expr

    def __call__(self, *args):
        target = getattr(self.holder, self.field) if not isinstance(self.holder, Sym) \
            else Sym(f"{self.holder.name}->{self.field}")
        m = current_machine()
        evidence = m.evidence(self.holder, self.field, self.expr)
        if target is None:
            raise ModelError(f"call through NULL function pointer {self.expr}")
        if isinstance(target, FuncRef):
            return m.invoke(target.name, args, via=evidence, origin=target.file)
        return m.unknown_call(self.expr, args, evidence)


def via(holder, field_name: str, expr: str) -> _Via:
    return _Via(holder, field_name, expr)


def iterate(kind: str, head, member: str = "") -> Iterator:
    """The iteration macros: ``entries`` yields the structs whose ``member``
    list_head is linked after ``head``; ``nodes`` yields the list_heads."""
    if isinstance(head, Sym):
        current_machine().note(f"iteration over unknown list {head.name}: empty")
        return
    node = head.next
    while node is not None and node is not head:
        nxt = node.next
        yield container_of(node, node._parent[0]._layout.name, member) \
            if kind == "entries" else node
        node = nxt


# --- display ------------------------------------------------------------------

def display(value) -> str:
    """How a value is shown in the trace and the snapshots."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (Named, Sym, SizeOf, FuncRef, Obj, Ref, CArray)):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, _Prefix):
        return f"&{value.obj._label}.{value.prefix[:-1]}"
    return repr(value)


# --- the machine --------------------------------------------------------------

@dataclass
class Frame:
    function: str
    file: str
    line: int
    depth: int
    changes: list = field(default_factory=list)


class Machine:
    """One model run: objects, globals, the trace, and the callables.

    ``resolve(name, origin)`` (given by the generator) returns ``(kind, target,
    info)`` for a C function name named in file ``origin``: kind ``"func"``
    (a Python function translated from C), ``"prim"`` (a primitive of this
    module) or ``"stub"`` (off the path, with ``info["returns"]`` the assumed value)."""

    def __init__(self, layouts: Callable[[str], type | None],
                 resolve: Callable[[Machine, str, str], tuple],
                 globals_: Callable[[Machine, str, str], tuple[str, object]],
                 locate: Callable[[str, int], tuple[str, int] | None]):
        self.layouts, self.resolve, self.make_global, self.locate = \
            layouts, resolve, globals_, locate
        self.steps: list[dict] = []
        self.writes: list[tuple[int, str, str, str]] = []
        self.objects: list[tuple[str, str, int, Obj | CArray]] = []
        self.frames: list[Frame] = []
        self.counters: dict[str, int] = {}
        self.globals: dict[str, object] = {}
        self.global_keys: dict[tuple[str, str], str] = {}
        self.statics: dict[str, Cell] = {}
        self.where: dict[tuple[int, object], tuple[str, int]] = {}
        self.addresses: dict[int, int] = {}
        self.phase = "run"
        self.boot_count = 0
        self.process: dict = {}
        self.static_init = False
        self.max_depth = 40
        #: ``convert(ctype, value)``: an integer as a member of C type ``ctype``
        #: holds it (``-1`` stored in a ``__u16`` is 65535); None keeps values as given
        self.convert: Callable[[str, int], int] | None = None
        #: ``constant(name)``: a constant of the analysed tree (None if unknown)
        self.constant: Callable[[str], int | None] = lambda name: None

    def namespace(self, file: str) -> dict:
        """The names generated code of ``file`` runs with."""
        import analyzer.model.runtime as rt

        return {"rt": rt, "F": _Functions(self, file), "G": _Globals(self, file)}

    # objects
    def label(self, type_name: str) -> str:
        n = self.counters.get(type_name, 0) + 1
        self.counters[type_name] = n
        return f"{type_name}#{n}"

    def new(self, type_name: str, label: str = "", parent: tuple | None = None) -> Obj:
        """A zeroed object of struct ``type_name``."""
        cls = self.layouts(type_name)
        if cls is None:
            cls = _opaque_class(type_name)
        return cls(self, label or self.label(type_name), parent)

    def created(self, obj) -> None:
        kind = f"{obj._layout.kind} {obj._layout.name}" if isinstance(obj, Obj) else "array"
        self.objects.append((obj._label, kind, 0 if self.static_init else len(self.steps), obj))

    def forget(self, obj) -> None:
        """Leave ``obj`` out of the state tables (its writes stay in the trace)."""
        self.objects = [o for o in self.objects if o[3] is not obj]

    def zero(self, spec: FieldSpec, label: str, parent: tuple):
        if spec.kind == "struct":
            return self.new(spec.target, label, parent)
        if spec.kind == "opaque":
            return _opaque_class(spec.target or spec.ctype)(self, label, parent)
        if spec.kind == "array":
            arr = CArray(self, label, spec.elem, spec.count)
            self.created(arr)
            return arr
        return None if spec.kind == "ptr" else 0

    def write(self, holder, key, value) -> None:
        if self.convert is not None and type(value) is int:
            spec = _spec(holder, key)
            if spec is not None and spec.kind == "scalar":
                value = self.convert(spec.ctype, value)
        old = holder._v[key] if key in holder._v else _default(holder, key)
        holder._v[key] = value
        label = holder._label
        name = key if isinstance(key, str) else f"[{key}]"
        self.writes.append((0 if self.static_init else len(self.steps), label, name,
                            display(value)))
        where = self.caller_location()
        if where is not None:
            self.where[(id(holder), key)] = where
        if self.static_init:
            return
        if self.frames:
            self.frames[-1].changes.append(
                {"object": label, "field": name, "old": display(old), "new": display(value)})

    def note(self, text: str) -> None:
        if self.steps:
            notes = self.steps[-1].setdefault("notes", [])
            if text not in notes and len(notes) < 20:
                notes.append(text)

    def frame_name(self) -> str:
        return self.frames[-1].function if self.frames else "boot"

    def glob(self, name: str, file: str = "") -> tuple[str, object]:
        """(key, value) of global ``name`` as seen from ``file``; made on first use."""
        key = self.global_keys.get((name, file))
        if key is None:
            key, maker = self.make_global(self, name, file)
            self.global_keys[(name, file)] = key
            if key not in self.globals:
                self.globals[key] = None  # guards recursion through self-references
                saved, self.static_init = self.static_init, True
                try:
                    self.globals[key] = maker()
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

    # calls
    def step(self, event: str, function: str, file: str, line: int, **extra) -> dict:
        site = self.caller_location() if event != "return" else None
        rec = {"n": len(self.steps) + 1, "event": event, "function": function,
               "file": file, "line": line, "depth": len(self.frames), "via": None,
               "changes": [], "note": "", "phase": self.phase,
               "site": f"{site[0]}:{site[1]}" if site else ""}
        rec.update(extra)
        self.steps.append(rec)
        return rec

    def invoke(self, name: str, args: tuple, via: dict | None = None, origin: str = ""):
        kind, target, info = self.resolve(self, name, origin)
        if kind == "prim":
            return target(*args)
        if kind == "stub":
            value = args[info["arg"]] if "arg" in info and len(args) > info["arg"] \
                else info.get("returns")
            self.step("stub", name, info.get("file", ""), info.get("line", 0), via=via,
                      note=info.get("note", ""), value=display(value))
            return value
        return self._run(name, target, info, args, via)

    def _run(self, name: str, target: Callable, info: dict, args: tuple, via):
        if len(self.frames) >= self.max_depth:
            raise ModelError(f"call depth over {self.max_depth} at {name}")
        self.step("call", name, info["file"], info["line"], via=via)
        frame = Frame(name, info["file"], info["line"], len(self.frames))
        self.frames.append(frame)
        try:
            result = target(*args)
        except (AnalyzerError, Goto):
            raise
        except Exception as e:  # a fault of the modelled code: say where in C
            raise ModelError(f"{self._where(e)}: {type(e).__name__}: {e}") from e
        finally:
            self.frames.pop()
        self.step("return", name, info["file"], info["line"], changes=frame.changes,
                  value="" if info.get("void") else display(result))
        return result

    def _where(self, e: Exception) -> str:
        tb, found = e.__traceback__, None
        while tb is not None:
            where = self.locate(tb.tb_frame.f_code.co_filename, tb.tb_lineno)
            if where is not None:
                found = where
            tb = tb.tb_next
        name = self.frames[-1].function if self.frames else "?"
        return f"in {name} at {found[0]}:{found[1]}" if found else f"in {name}"

    def unknown_call(self, expr: str, args: tuple, evidence: dict):
        self.step("stub", expr, "", 0, via=evidence, note="target unknown to the model",
                  value=f"?{expr}()")
        return Sym(f"{expr}()")


def _spec(holder, key) -> FieldSpec | None:
    """The member spec of ``holder[key]`` (an element's for an array)."""
    if isinstance(holder, CArray):
        return holder.elem
    return holder._index.get(key) if isinstance(holder, Obj) else None


def _default(holder, key):
    spec = _spec(holder, key)
    if spec is None:
        return None
    return None if spec.kind == "ptr" else 0


class _Functions:
    """``F.name``: the callable standing for C function ``name`` seen from a file."""

    def __init__(self, m: Machine, file: str):
        self._m, self._file = m, file

    def __getattr__(self, pyname: str) -> Callable:
        name = _unmangle(pyname)
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
        return self._m.glob(_unmangle(pyname), self._file)[1]

    def __setattr__(self, pyname: str, value) -> None:
        key, _ = self._m.glob(_unmangle(pyname), self._file)
        self._m.write(self, key, value)

    def _find(self, name: str):
        key = self._m.global_keys.get((name, self._file), name)
        return (self, key) if key in self._v else None


_OPAQUE: dict[str, type] = {}


def _opaque_class(type_name: str) -> type:
    name = re.sub(r"\W+", "_", type_name) or "anon"
    if name not in _OPAQUE:
        _OPAQUE[name] = type(f"opaque_{name}", (Opaque,),
                             {"__slots__": (), "LAYOUT": Layout(type_name, "opaque", "", 0)})
    return _OPAQUE[name]


# --- primitives ---------------------------------------------------------------

def _alloc(size, what: str):
    m = current_machine()
    if isinstance(size, SizeOf):
        return m.new(_struct_name(size.ctype))
    if isinstance(size, Obj):  # a kmem_cache
        return _cache_alloc(size)
    m.note(f"{what} of a size the model cannot type ({display(size)})")
    return Sym(f"{what}({display(size)})")


def _struct_name(ctype: str) -> str:
    m = re.search(r"\b(?:struct|union)\s+(\w+)", ctype)
    return m.group(1) if m else ctype.strip()


def kmalloc(size, flags=0, *rest):
    return _alloc(size, "kmalloc")


def kcalloc(n, size, flags=0):
    """``kcalloc(n, sizeof(T))``: an array of ``n`` zeroed objects of T."""
    m = current_machine()
    if isinstance(size, SizeOf) and not isinstance(n, Sym):
        name = _struct_name(size.ctype)
        arr = CArray(m, m.label(name + "[]"), FieldSpec("", size.ctype, "struct", name),
                     int(n))
        m.created(arr)
        return arr
    return _alloc(size, "kcalloc")


def kmem_cache_create(name, size, *rest):
    """A cache object of the opaque type kmem_cache that remembers the object size."""
    m = current_machine()
    cache = m.new("kmem_cache")
    cache.name = name
    cache.object_size = size
    return cache


def memcpy(dst, src, n):
    """``memcpy(dst, src, n)`` into array slots (``memcpy(dentry->d_iname,
    name->name, len)``): the bytes of a string, or the elements of an array,
    one slot at a time; any other copy is noted and leaves ``dst`` as it was."""
    m = current_machine()
    if isinstance(dst, CArray):
        dst = IndexRef(dst, 0)
    if isinstance(src, CArray):
        src = IndexRef(src, 0)
    if isinstance(dst, IndexRef) and type(n) in (int, Named):
        if isinstance(src, str | bytes):
            data = src.encode() if isinstance(src, str) else src
            for k in range(int(n)):
                dst.arr[dst.i + k] = data[k] if k < len(data) else 0
            return dst
        if isinstance(src, IndexRef):
            for k in range(int(n)):
                dst.arr[dst.i + k] = src.arr[src.i + k]
            return dst
    m.note(f"memcpy({display(dst)}, {display(src)}, {display(n)}): a copy the model "
           "does not follow")
    return dst


def jiffies_to_usecs(j):
    """``jiffies_to_usecs(j)`` of kernel/time/time.c (not among the analysed
    files): ``(USEC_PER_SEC / HZ) * j`` when HZ divides USEC_PER_SEC, the
    kernel's own ``#if``; both constants come from the tree."""
    m = current_machine()
    hz, usec = m.constant("HZ"), m.constant("USEC_PER_SEC")
    if not hz or usec is None or usec % hz or type(j) not in (int, Named):
        return Sym(f"jiffies_to_usecs({display(j)})")
    return (usec // hz) * int(j)


def kmem_cache_of_struct(struct_name, flags=0, *rest):
    """``KMEM_CACHE(dentry, flags)``: ``kmem_cache_create("dentry",
    sizeof(struct dentry), ...)``, the macro's expansion (include/linux/slab.h)."""
    return kmem_cache_create(str(struct_name), SizeOf(f"struct {struct_name}"))


def _cache_alloc(cache):
    if isinstance(cache, Sym) or cache is None:
        return Sym("kmem_cache_alloc(unknown cache)")
    return _alloc(cache.object_size, "kmem_cache_alloc")


def kmem_cache_alloc(cache, flags=0, *rest):
    obj = _cache_alloc(cache)
    if isinstance(obj, Obj):
        current_machine().note(f"{obj._label} from cache {display(cache.name)}: the model's "
                               "slab gives zeroed objects")
    return obj


def kmem_cache_zalloc(cache, flags=0, *rest):
    return _cache_alloc(cache)


def nothing(*args):
    """Locks, RCU read sections, memory barriers, debug checks: no state the model shows."""
    return None


def identity(x, *rest):
    """``likely(x)``, ``rcu_dereference(p)``, ``READ_ONCE(x)``: the value itself."""
    return x


def assign_ref(ref_, value, *rest):
    """``rcu_assign_pointer(p, v)``, ``RCU_INIT_POINTER(p, v)``, ``WRITE_ONCE(x, v)``."""
    store(ref_, value)
    return value


def init_list_head(head):
    head.next = head
    head.prev = head


def list_add(new, head):
    _list_insert(new, head, head.next)


def list_add_tail(new, head):
    _list_insert(new, head.prev, head)


def _list_insert(new, prev, nxt):
    nxt.prev = new
    new.next = nxt
    new.prev = prev
    prev.next = new


def list_empty(head) -> int:
    return int(head.next is head)


def hlist_add_head(n, h):
    first = h.first
    n.next = first
    if first is not None:
        first.pprev = FieldRef(n, "next")
    h.first = n
    n.pprev = FieldRef(h, "first")


def init_hlist_head(h):
    h.first = None


def init_hlist_node(n):
    n.next = None
    n.pprev = None


def init_waitqueue_head(q):
    """``init_waitqueue_head(q)``: its lock (not modelled) and an empty task list."""
    init_list_head(q.task_list)


def _counter(a) -> Ref:
    """The ``counter`` of an atomic_t (or the slot itself if it is a plain ref)."""
    return a if isinstance(a, Ref) else FieldRef(a, "counter")


def atomic_init(value):
    """``ATOMIC_INIT(i)``: an atomic_t holding ``i``."""
    a = current_machine().new("atomic_t")
    a.counter = value
    return a


def atomic_set(a, value):
    _counter(a).store(value)


def atomic_read(a):
    return _counter(a).load()


def atomic_add(i, a):
    c = _counter(a)
    c.store(c.load() + i)


def atomic_inc(a):
    atomic_add(1, a)


def atomic_dec(a):
    atomic_add(-1, a)


def atomic_dec_and_test(a) -> int:
    atomic_add(-1, a)
    return int(atomic_read(a) == 0)


def atomic_inc_return(a):
    atomic_add(1, a)
    return atomic_read(a)


def address_of(obj) -> int:
    """A pointer cast to an integer: the model's allocator gives each object a
    fixed fake address in the order of these casts (only hashing uses it)."""
    addresses = current_machine().addresses
    key = id(obj)
    if key not in addresses:
        addresses[key] = 0xffff880000000000 + 0x1000 * (len(addresses) + 1)
    return addresses[key]


def cast_int(value):
    """``(unsigned long)p``: an integer; a pointer becomes its fake address."""
    if isinstance(value, (Obj, CArray)):
        current_machine().note(f"{value!r} cast to an integer: a fake address")
        return address_of(value)
    return value


def set_bit(nr, ref_):
    store(ref_, deref(ref_) | (1 << int(nr)))


def clear_bit(nr, ref_):
    store(ref_, deref(ref_) & ~(1 << int(nr)))


def test_bit(nr, ref_):
    return int(bool(deref(ref_) & (1 << int(nr))))


def is_err(p):
    """``IS_ERR(p)``: ``p`` is an error code, ``-MAX_ERRNO <= p < 0`` with
    MAX_ERRNO read from the tree (include/linux/err.h); objects are pointers."""
    if not isinstance(p, int) or isinstance(p, bool):
        return 0
    limit = current_machine().constant("MAX_ERRNO")
    if limit is None:
        return Sym(f"IS_ERR({display(p)})")
    return int(-limit <= int(p) < 0)


def ptr_err(p):
    return p


def err_ptr(e):
    return e


def is_err_or_null(p) -> int:
    return int(p is None or bool(is_err(p)))


def array_size(arr) -> int:
    return len(arr)


def container_of_prim(ptr, type_name, member):
    return container_of(ptr, type_name, member)


def current():
    """``current``: the task running socket(); its namespaces are the initial
    ones (the global named by ``[process].net_ns`` of primitives.toml)."""
    m = current_machine()
    if "current" not in m.statics:
        saved, m.static_init = m.static_init, True
        try:
            task = m.new("task_struct", "current")
            proxy = m.new("nsproxy", "init_nsproxy")
            net_ns = m.process.get("net_ns")
            proxy.net_ns = m.glob(net_ns)[1] if net_ns else Sym("net_ns")
            task.nsproxy = proxy
        finally:
            m.static_init = saved
        m.statics["current"] = Cell(task, "current")
    return m.statics["current"].v


def list_head_init(head):
    """``LIST_HEAD_INIT(name)``: a list_head pointing at ``name`` both ways."""
    obj = current_machine().new("list_head")
    obj.next = head
    obj.prev = head
    return obj


def strlen(s) -> int:
    return len(s) if isinstance(s, str) else Sym(f"strlen({display(s)})")


def kasprintf(flags, fmt, *args):
    return Sym(f"kasprintf({display(fmt)})")


def mount_pseudo(fs_type, name, ops, dops, magic, *rest):
    """A pseudo filesystem's mount (fs/libfs.c): a super_block whose s_op is
    ``ops`` and s_d_op ``dops`` (the dentry operations its dentries get), and a
    dentry for its root."""
    m = current_machine()
    sb = m.new("super_block")
    sb.s_op = ops
    sb.s_magic = magic
    sb.s_type = fs_type
    root = m.new("dentry")
    root.d_sb = sb
    sb.s_root = root
    sb.s_d_op = dops
    return root


def kern_mount(fs_type):
    """``kern_mount(type)``: runs ``type->mount`` and wraps its root in a vfsmount."""
    m = current_machine()
    root = via(fs_type, "mount", "type->mount")(fs_type, 0, fs_type.name, None)
    mnt = m.new("mount").mnt  # a vfsmount lives in a struct mount (real_mount())
    mnt.mnt_root = root
    mnt.mnt_sb = root.d_sb if isinstance(root, Obj) else Sym("mnt_sb")
    return mnt


#: primitive implementations by the key primitives.toml gives them
PRIMITIVES: dict[str, Callable] = {
    "kmalloc": kmalloc, "kmem_cache_create": kmem_cache_create,
    "kmem_cache_of_struct": kmem_cache_of_struct, "memcpy": memcpy,
    "jiffies_to_usecs": jiffies_to_usecs,
    "kmem_cache_alloc": kmem_cache_alloc, "kmem_cache_zalloc": kmem_cache_zalloc,
    "nothing": nothing, "identity": identity,
    "assign_ref": assign_ref, "init_list_head": init_list_head, "list_add": list_add,
    "list_add_tail": list_add_tail, "list_empty": list_empty,
    "hlist_add_head": hlist_add_head, "init_waitqueue_head": init_waitqueue_head,
    "init_hlist_node": init_hlist_node, "init_hlist_head": init_hlist_head,
    "kcalloc": kcalloc,
    "atomic_set": atomic_set, "atomic_init": atomic_init, "atomic_read": atomic_read,
    "atomic_add": atomic_add, "atomic_dec_and_test": atomic_dec_and_test,
    "atomic_inc": atomic_inc, "atomic_dec": atomic_dec,
    "atomic_inc_return": atomic_inc_return, "set_bit": set_bit, "clear_bit": clear_bit,
    "test_bit": test_bit, "is_err": is_err, "ptr_err": ptr_err, "err_ptr": err_ptr,
    "is_err_or_null": is_err_or_null, "array_size": array_size,
    "container_of": container_of_prim, "current": current, "list_head_init": list_head_init,
    "strlen": strlen,
    "kasprintf": kasprintf, "mount_pseudo": mount_pseudo, "kern_mount": kern_mount,
}


def run_in(m: Machine, fn_: Callable, *args):
    """Run ``fn_`` with ``m`` as the active machine."""
    token = _MACHINE.set(m)
    try:
        return fn_(*args)
    finally:
        _MACHINE.reset(token)
