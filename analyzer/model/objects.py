"""The model's objects: C structs, arrays and pointers to their members.

Takes nothing at import.  A pointer to a struct is the Python object of the
struct (:class:`Obj`); a pointer to a first member is a view of the same
object (field lookups go down the first-member chain, casts go up or down it);
a pointer to a scalar is a :class:`Ref` (a local's :class:`Cell`, a member's
:class:`FieldRef`, an array slot's :class:`IndexRef`); arrays are
:class:`CArray`.  Every write goes through the machine that made the object,
which records it.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from analyzer.model.context import ModelError, current_machine
from analyzer.model.values import Addr, CharPtr, Sym, TailOffset, display

if TYPE_CHECKING:
    from analyzer.model.machine import Machine

__all__ = ["FieldSpec", "Layout", "Obj", "Opaque", "CArray", "Ref", "Cell", "FieldRef",
           "IndexRef", "StaticCell", "Block", "BytePtr", "place_of", "typed", "cast",
           "container_of", "opaque_class", "spec_of", "default_of", "unmangle", "Prefix",
           "Outside"]

_OPAQUE: dict[str, type] = {}
_CHAR = re.compile(r"(?:const )?(?:unsigned |signed )?char|u8|s8|__u8|__s8")

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

    @cached_property
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

    shown = __repr__

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
        if spec.kind in ("struct", "array", "opaque"):  # journaled: a rollback forgets it
            self._m.dset(self._v, name, value)  # with the object it registered
        return value

    def __getattr__(self, name: str):
        name = unmangle(name)
        found = self._find(name)
        if found is None:
            prefix, obj = name + ".", self
            while obj is not None:  # an inline struct member, also of a first member
                if any(k.startswith(prefix) for k in obj._index):
                    return Prefix(obj, prefix)
                first = obj._layout.fields[0] if obj._layout.fields else None
                obj = obj._slot(first.name) if first is not None and first.kind == "struct" \
                    else None
            raise ModelError(f"struct {self._layout.name} has no field {name!r} "
                             f"(object {self._label})")
        obj, key = found
        return obj._slot(key)

    def __setattr__(self, name: str, value) -> None:
        name = unmangle(name)
        found = self._find(name)
        if found is None:
            raise ModelError(f"struct {self._layout.name} has no field {name!r}")
        obj, key = found
        spec = obj._index[key]
        if spec.kind == "array" and isinstance(value, CharPtr):  # char name[8] = "tcp"
            arr = obj._slot(key)
            text = value.string()
            for i in range(max(arr.count, len(text) + 1) if arr.count < 0 else arr.count):
                arr[i] = ord(text[i]) if i < len(text) else 0
            return
        if spec.kind in ("struct", "opaque") and value is None:
            return  # a lock's initial value (a primitive): the zeroed struct stays
        if spec.kind == "struct" and isinstance(value, Obj):
            nested = obj._slot(key)  # a struct assignment copies the members
            for k in list(value._v):
                setattr(nested, k, value._v[k])
            return
        obj._m.write(obj, key, value)

    def _base(self) -> Obj:
        """The outermost object at this object's address (a struct whose first
        member it is, and so on up): ``sk`` as a ``struct sock *`` and the
        ``tcp_sock`` holding it are one pointer (the model passes the outer one)."""
        obj = self
        while isinstance(obj._parent, tuple) and isinstance(obj._parent[0], Obj) \
                and obj._parent[0]._layout.kind == "struct" and obj._parent[0]._layout.fields \
                and obj._parent[0]._layout.fields[0].name == obj._parent[1]:
            obj = obj._parent[0]
        return obj

    def _pos(self) -> tuple[CArray, int] | None:
        p = self._parent
        return (p[0], p[1]) if p is not None and isinstance(p[0], CArray) else None

    def __add__(self, n: int):
        if isinstance(n, TailOffset):
            return n.locate(self)
        pos = self._pos()
        if pos is None and not isinstance(n, Sym) and int(n) == 0:
            return self
        if pos is None and not isinstance(n, Sym) and int(n) == 1:  # one past a lone object
            return Sym(f"&{self._label} + 1", "a pointer one past an object that is not in "
                       "an array (C may compute it, not read through it)")
        if pos is None:
            raise ModelError(f"pointer arithmetic on {self._label}, not an array element")
        return pos[0].addr(pos[1] + int(n))

    def __sub__(self, n):
        if isinstance(n, CArray) and self._pos() is not None and self._pos()[0] is n:
            return self._pos()[1]  # p - array: the array decays to its first element
        if isinstance(n, Obj) and n._pos() is not None and self._pos() is not None:
            return self._pos()[1] - n._pos()[1]  # p - q: elements between
        if isinstance(n, Obj) and n._base() is self._base():
            return 0  # p - p of a lone object
        return self.__add__(-int(n))

    def __getitem__(self, i):
        """``p[i]`` of a pointer to an array element."""
        pos = self._pos()
        if pos is None:
            if int(i) == 0:
                return self
            raise ModelError(f"{self._label}[{display(i)}]: not an array element")
        return pos[0][pos[1] + int(i)]


class Opaque(Obj):
    """An aggregate the analysis has no definition for: accepts any field."""

    __slots__ = ()

    def _find(self, name: str):
        if name not in self._index:
            index = dict(self._index)
            index[name] = FieldSpec(name, "?", "scalar")
            object.__setattr__(self, "_index", index)
        return self, name


class Prefix:
    """``obj.u`` when ``u`` is an inline member flattened as ``u.x`` fields."""

    __slots__ = ("obj", "prefix")

    def __init__(self, obj: Obj, prefix: str):
        object.__setattr__(self, "obj", obj)
        object.__setattr__(self, "prefix", prefix)

    def __getattr__(self, name: str):
        return getattr(self.obj, self.prefix + unmangle(name))

    def __setattr__(self, name: str, value) -> None:
        setattr(self.obj, self.prefix + unmangle(name), value)

    def shown(self) -> str:
        return f"&{self.obj._label}.{self.prefix[:-1]}"

    def __getitem__(self, i):
        """An array of an inline struct (``} rtt_min[3];``): the analysis keeps
        one set of members, so every element is that one set (noted)."""
        current_machine().note(f"{self.obj._label}.{self.prefix[:-1]}[{display(i)}]: "
                               "array of an inline struct modelled as one element")
        return self


def unmangle(name: str) -> str:
    """Generated code spells a field that is a Python keyword with a trailing ``_``."""
    if name.endswith("_") and keyword.iskeyword(name[:-1]):
        return name[:-1]
    return name


class CArray(_Ordered):
    """A C array: elements made zeroed on first use, writes recorded."""

    def __init__(self, m: Machine, label: str, elem: FieldSpec, count: int,
                 parent: tuple | None = None):
        self._m, self._label, self.elem, self.count = m, label, elem, count
        self._v: dict[int, object] = {}
        #: (the struct, the member) of an array member; None for one of its own
        self._parent = parent

    def __repr__(self) -> str:
        return f"&{self._label}[0]"

    def shown(self) -> str:
        """A char array shows its string (``"TCP"``), others their address."""
        if _CHAR.fullmatch(self.elem.ctype.strip()) and self._v:
            chars = []
            for i in range(self.count if self.count > 0 else len(self._v) + 1):
                c = self._v.get(i, 0)
                if not isinstance(c, int) or not c:
                    break
                chars.append(chr(c & 0xFF))
            return '"' + "".join(chars).replace('"', '\\"') + '"'
        return repr(self)

    def __len__(self) -> int:
        if self.count < 0:
            raise ModelError(f"the size of {self._label} is unknown to the analysis")
        return self.count

    def __bool__(self) -> bool:
        return True

    def _check(self, i) -> int:
        i = int(i)
        if self.count < 0 and i >= 0:  # a size the analysis could not evaluate
            return i
        if not 0 <= i < self.count:
            raise ModelError(f"index {i} out of {self._label}[{self.count}]")
        return i

    def key(self, i):
        """The slot key of index ``i``: an int, or ``"[?n]"`` for an index the
        model does not know (a hash of an address): one slot per distinct
        unknown, taken as distinct from every other slot written so far (an
        assumption the first time it is met, see assume.py)."""
        if not isinstance(i, Sym):
            return self._check(i)
        keys = self._m.symbolic_keys.setdefault(id(self), {})
        key = keys.get(i.name)
        if key is None:
            from analyzer.model.assume import distinct_slot, some_slot

            full = 0 < self.count == sum(1 for k in self._v if isinstance(k, int))
            if full:  # no slot is free (a hash table made whole at boot): one of them
                taken = set(keys.values())
                key = next((k for k in range(self.count) if k not in taken), 0)
                self._m.dset(keys, i.name, key)  # journaled: each run meets it afresh
                some_slot(self, key, i)
                return key
            key = f"[?{len(keys) + 1}]"
            self._m.dset(keys, i.name, key)
            if key not in self._v:
                distinct_slot(self, key, i)
        return key

    def __getitem__(self, i):
        k = self.key(i)
        if k not in self._v:
            shown = k if isinstance(k, str) else f"[{k}]"
            value = self._m.zero(self.elem, f"{self._label}{shown}", (self, k))
            if self.elem.kind in ("struct", "array", "opaque") or isinstance(k, str):
                self._m.dset(self._v, k, value)  # journaled, as Obj._slot
            return value
        return self._v[k]

    def __setitem__(self, i, value) -> None:
        self._m.write(self, self.key(i), value)

    def written(self) -> list:
        """The slots that hold something (the keys of written or made elements)."""
        return list(self._v)

    def __getattr__(self, name: str):
        """An array used as a pointer is its first element: ``arr->x``."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self[0], name)

    def __add__(self, n: int):
        return self.addr(int(n))

    def __sub__(self, n):
        """``p - q`` (elements between) or ``p - n``, the array as its first element."""
        return IndexRef(self, 0) - n

    def addr(self, i):
        """``&a[i]``: the element object, or a slot pointer (also one past the end)."""
        if isinstance(i, Sym):
            k = self.key(i)
            return self[i] if self.elem.kind in ("struct", "opaque") else IndexRef(self, k)
        if 0 <= i < self.count and self.elem.kind in ("struct", "opaque"):
            return self[i]
        return IndexRef(self, i)


class Ref:
    """A pointer to a scalar: ``load()`` and ``store(v)``."""

    def shown(self) -> str:
        return repr(self)

    def load(self):
        raise NotImplementedError

    def store(self, value) -> None:
        raise NotImplementedError


class Cell(Ref):
    """A local variable whose address is taken (``&sock``); ``ctype`` the C type
    of a scalar one (its bytes can be copied: analyzer/model/membytes.py)."""

    ctype = ""

    def __init__(self, value=None, name: str = "", ctype: str = ""):
        self.v, self.name = value, name
        if ctype:
            self.ctype = ctype

    def __repr__(self) -> str:
        return f"&{self.name or 'local'}"

    def load(self):
        return self.v

    def store(self, value) -> None:
        self.v = value


class StaticCell(Cell):
    """A function's ``static`` local: lives as long as the machine, and its
    writes are journaled so that a rollback undoes them."""

    def __init__(self, m: Machine, value=None, name: str = ""):
        self._m, self._v, self.name = m, value, name

    @property
    def v(self):
        return self._v

    @v.setter
    def v(self, value) -> None:
        journal = self._m._journal
        if journal is not None:
            journal.append((self, None, True, self._v))
        self._v = value

    def restore(self, value) -> None:
        self._v = value


class FieldRef(Ref):
    def __init__(self, obj, name: str):
        self.obj, self.name = obj, name

    def __repr__(self) -> str:
        return f"&{getattr(self.obj, '_label', '?')}.{self.name}"

    def load(self):
        return getattr(self.obj, self.name)

    def store(self, value) -> None:
        setattr(self.obj, self.name, value)

    def __add__(self, n):
        """``&obj->member + n``: a byte pointer ``n`` members past it (the
        kernel's ``memset(&inet->pinet6 + 1, 0, size)``)."""
        m = current_machine()
        place = place_of(m, self)
        spec = self.obj._layout.index.get(self.name) if isinstance(self.obj, Obj) else None
        size = m.sizeof(spec.ctype) if spec is not None else None
        if place is None or not isinstance(size, int) or isinstance(n, Sym):
            return Sym(f"{self!r} + {display(n)}", "a pointer past a member the layouts "
                       "do not place")
        return BytePtr(place[0], place[1] + int(size) * int(n))


class IndexRef(_Ordered, Ref):
    def __init__(self, arr: CArray, i: int):
        self.arr, self.i = arr, i

    def __repr__(self) -> str:
        return f"&{self.arr._label}[{self.i}]"

    def load(self):
        if isinstance(self.i, str):
            return self.arr._v.get(self.i, 0 if self.arr.elem.kind != "ptr" else None)
        return self.arr[self.i]

    def store(self, value) -> None:
        if isinstance(self.i, str):
            self.arr._m.write(self.arr, self.i, value)
        else:
            self.arr[self.i] = value

    def __add__(self, n: int):
        if isinstance(self.i, str):
            return Sym(f"{self!r} + {display(n)}", "a pointer to a slot at an unknown index")
        return self.arr.addr(self.i + int(n))

    def __sub__(self, n):
        if isinstance(n, CArray) and n is self.arr:
            n = IndexRef(n, 0)
        if isinstance(n, IndexRef) and n.arr is self.arr:  # p - q: elements between
            return self.i - n.i
        return self.arr.addr(self.i - int(n))

    def __getitem__(self, j):
        return self.arr[self.i + int(j)]

    def __setitem__(self, j, value) -> None:
        self.arr[self.i + int(j)] = value

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


class BytePtr:
    """A byte pointer into an object (``(char *)sk + off``): the outermost
    object and a byte offset in it, from the layouts; cast back to a struct
    pointer it is the member of that type found at that offset."""

    def __init__(self, root, offset: int):
        self.root, self.offset = root, offset

    def __repr__(self) -> str:
        return f"(char *)&{self.root._label} + {self.offset}"

    shown = __repr__

    def __bool__(self) -> bool:
        return True

    def __add__(self, n):
        if isinstance(n, Sym):
            return n.derived(f"{self!r} + {n.name}")
        return BytePtr(self.root, self.offset + int(n))

    def __sub__(self, n):
        if isinstance(n, BytePtr) and n.root is self.root:
            return self.offset - n.offset
        return self + (-int(n))

    def __eq__(self, other) -> bool:
        return isinstance(other, BytePtr) and other.root is self.root \
            and other.offset == self.offset

    __hash__ = object.__hash__

    def as_struct(self, m, name: str):
        """The object of struct ``name`` at this byte, or an unknown."""
        found = _object_at(m, self.root, 0, self.offset, name)
        if found is not None:
            return found
        return Sym(f"(struct {name} *){self!r}", "no such member at that offset")


def _object_at(m, obj, base: int, offset: int, name: str):
    if base == offset and obj._layout.name == name:
        return obj
    for spec in obj._layout.fields:
        if spec.kind != "struct":
            continue
        off = m.offsetof(f"struct {obj._layout.name}", spec.name)
        if not isinstance(off, int):
            continue
        at = base + int(off)
        size = m.sizeof(f"struct {spec.target}")
        if at <= offset and (not isinstance(size, int) or offset < at + int(size)):
            found = _object_at(m, getattr(obj, spec.name), at, offset, name)
            if found is not None:
                return found
    return None


def place_of(m, p):
    """(outermost object, byte offset) of a pointer into an object, or None."""
    if isinstance(p, FieldRef) and isinstance(p.obj, Obj):
        base = place_of(m, p.obj)
        off = m.offsetof(f"struct {p.obj._layout.name}", p.name)
        return None if base is None or not isinstance(off, int) else (base[0], base[1] + off)
    if isinstance(p, BytePtr):
        return p.root, p.offset
    if not isinstance(p, Obj):
        return None
    offset, obj = 0, p
    while isinstance(obj._parent, tuple) and isinstance(obj._parent[0], Obj):
        outer, key = obj._parent
        off = m.offsetof(f"struct {outer._layout.name}", key)
        if not isinstance(off, int):
            return None
        offset, obj = offset + int(off), outer
    return obj, offset


class Block:
    """Memory allocated by a size in bytes (``kzalloc(size)``): zeroed, and
    typed by its first typed use (a cast, or its store into a pointer of a
    known type), when it becomes an object or an array of that type."""

    def __init__(self, m: Machine, size: int, label: str):
        self._m, self.size, self._label, self.typed = m, size, label, None

    def __repr__(self) -> str:
        return f"&{self._label} ({self.size} bytes)"

    shown = __repr__

    def __bool__(self) -> bool:
        return True

    def as_type(self, pointee: str):
        """This block seen as memory of ``pointee`` (``struct neighbour *``)."""
        if self.typed is None:
            self.typed = self._m.materialize(pointee, self.size, self._label)
        return self.typed


def typed(value, pointee: str):
    """``value`` stored in a ``pointee *``: an untyped block takes the type."""
    if isinstance(value, Block) and pointee and pointee != "void":
        return value.as_type(pointee)
    return value


def cast(value, target: str):
    """``(struct T *)value``: the object itself, a first member of it or the
    struct it is the first member of."""
    if isinstance(value, BytePtr):  # (struct T *)((char *)p + off)
        return value.as_struct(current_machine(), target)
    if isinstance(value, Addr):  # (struct sock *)data: back from an integer
        value = value.pointer()
    elif type(value) is int and value == 0:
        return None  # (struct T *)0
    elif isinstance(value, Block):
        return value.as_type(f"struct {target}")
    elif isinstance(value, CArray) and target and _CHAR.fullmatch(value.elem.ctype.strip()):
        m = current_machine()  # (struct unix_skb_parms *)&skb->cb: the bytes as a struct
        if m.layouts(target) is not None:
            from analyzer.model.membytes import view

            return view(m, value, target)
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
        m = current_machine()
        if not isinstance(value, Opaque) and m.layouts(target) is not None \
                and not any(f.kind == "ptr" for f in value._layout.fields):
            # plain data (a sockaddr): the same bytes read as the other struct; an
            # object with pointers (a list head cast to its entry) stays itself
            from analyzer.model.membytes import view

            return view(m, value, target)
        m.note(f"cast of {value!r} to struct {target} keeps the object")
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
        return ptr.derived(f"container_of({ptr.name}, {type_name}, {member})")
    found = _container(ptr, type_name, member)
    if found is not None:  # the object the pointer is, as the allocator made it: the
        return found._base()  # tcp_sock holding this sock, so that sk == sk2 holds
    obj = ptr
    while isinstance(obj, Obj):
        parent = obj._parent
        if not (parent and isinstance(parent[0], Obj)):
            break
        outer, key = parent
        if (outer._layout.name == type_name or type_name == "__auto_type") \
                and str(key).split(".")[-1] == member.split(".")[-1]:
            return outer
        if not outer._layout.fields or outer._layout.fields[0].name != key:
            break
        obj = outer
    if isinstance(ptr, Obj):
        found = cast(ptr, type_name)
        if found._layout.name == type_name and found._layout.fields \
                and found._layout.fields[0].name == member:
            return found
    return Outside(ptr, type_name, member)


def _container(ptr, type_name: str, member: str):
    """The T whose member path ``member`` (``ipv4.ping_group_range.range``) is
    ``ptr`` (an object, an array, or an array's first element), going up
    through the members that hold it; None when no container has that path."""
    want = re.sub(r"\s+", "", member).replace("->", ".")
    starts = [ptr]
    up = getattr(ptr, "_parent", None) if isinstance(ptr, (Obj, CArray)) else None
    if isinstance(up, tuple) and isinstance(up[0], CArray) and up[1] == 0:
        starts.append(up[0])  # a pointer to an array's first element is the array
    for node in starts:
        path = ""
        while isinstance(node, (Obj, CArray)):
            up = node._parent
            if not (isinstance(up, tuple) and isinstance(up[0], (Obj, CArray))):
                break
            outer, key = up
            path = f"[{key}]{path}" if isinstance(outer, CArray) else \
                f"{key}{'.' if path and not path.startswith('[') else ''}{path}"
            if isinstance(outer, Obj) and path == want and \
                    (outer._layout.name == type_name or type_name == "__auto_type"):
                return outer
            node = outer
    return None


class Outside:
    """``container_of(p, T, m)`` of a ``p`` that is not the ``m`` of a T (the head
    of a list, at the end of ``list_for_each_entry``): a pointer C computes but
    may not dereference; only ``&x->m`` gives ``p`` back."""

    __slots__ = ("ptr", "type_name", "member")

    def __init__(self, ptr, type_name: str, member: str):
        self.ptr, self.type_name, self.member = ptr, type_name, member

    def __repr__(self) -> str:
        return f"container_of({display(self.ptr)}, {self.type_name}, {self.member})"

    shown = __repr__

    def __bool__(self) -> bool:
        return True

    def member_address(self, name: str):
        if name == self.member.split(".")[0] or name == self.member:
            return self.ptr
        raise ModelError(f"{self!r}->{name}: {display(self.ptr)} is not inside a "
                         f"struct {self.type_name}")

    def __getattr__(self, name: str):
        """``x->m`` is the object at ``p`` itself (``elem->list.prev`` after a
        walk over an empty list is the head's ``prev``); any other member does
        not exist."""
        if name.startswith("__"):
            raise AttributeError(name)
        if name == self.member.split(".")[0] or name == self.member:
            return self.ptr
        raise ModelError(f"{self!r}->{name}: {display(self.ptr)} is not inside a "
                         f"struct {self.type_name}")


def spec_of(holder, key) -> FieldSpec | None:
    """The member spec of ``holder[key]`` (an element's for an array)."""
    if isinstance(holder, CArray):
        return holder.elem
    return holder._index.get(key) if isinstance(holder, Obj) else None


def default_of(holder, key):
    spec = spec_of(holder, key)
    if spec is None:
        return None
    return None if spec.kind == "ptr" else 0


def opaque_class(type_name: str) -> type:
    name = re.sub(r"\W+", "_", type_name) or "anon"
    if name not in _OPAQUE:
        _OPAQUE[name] = type(f"opaque_{name}", (Opaque,),
                             {"__slots__": (), "LAYOUT": Layout(type_name, "opaque", "", 0)})
    return _OPAQUE[name]

