"""The helpers that generated code calls: ``rt`` in every translated function.

Takes nothing at import.  Generated code (see :mod:`analyzer.model.translate`)
reaches values, objects and the machine only through this module's names
(``rt.deref``, ``rt.via``, ``rt.K``, ...), plus ``F`` (functions) and ``G``
(globals) bound by the machine.  Every decision on an unknown goes through
:mod:`analyzer.model.assume`.
"""

from __future__ import annotations

from collections.abc import Iterator

from analyzer.model.assume import case_of_unknown, drop_write, truth_of_unknown
from analyzer.model.context import Goto, ModelError, current_machine, run_in
from analyzer.model.machine import Machine
from analyzer.model.objects import (
    BytePtr,
    CArray,
    Cell,
    FieldRef,
    FieldSpec,
    IndexRef,
    Layout,
    Obj,
    Opaque,
    Outside,
    Prefix,
    Ref,
    StaticCell,
    cast,
    container_of,
    place_of,
    typed,
)
from analyzer.model.values import (
    Addr,
    CharPtr,
    FuncRef,
    K,
    Named,
    SizeOf,
    Sym,
    display,
    fn,
    unknown,
)

__all__ = [
    "K", "Named", "Sym", "SizeOf", "FuncRef", "Goto", "ModelError", "fn", "unknown",
    "display", "cast", "container_of", "via", "addr", "deref", "store", "ref", "iref", "cell",
    "static", "gref", "bump", "first", "slot", "set_slot", "cdiv", "cmod", "once",
    "case_index", "iterate", "new_local", "truth", "compound", "cast_int", "Addr", "conv",
    "sizeof", "Obj", "Opaque", "Layout", "FieldSpec", "CArray", "Machine", "current_machine",
    "run_in", "mcall", "goto_out", "tick", "offsetof", "cannot", "alignof", "S", "to_ptr", "typed",
    "local_array", "copy_string", "copy_into", "aggregate_slot", "static_object",
]

def cell(value=None, name: str = "", ctype: str = "") -> Cell:
    return Cell(value, name, ctype)


def ref(obj, name: str) -> Ref:
    """``&obj->name`` for a scalar field (an aggregate field is its object)."""
    if isinstance(obj, Sym):
        return obj
    if isinstance(obj, Outside):
        return obj.member_address(name)
    value = getattr(obj, name)
    if isinstance(value, (Obj, CArray, Prefix)) and not _pointer_field(obj, name):
        return value
    return FieldRef(obj, name)


def _pointer_field(obj, name: str) -> bool:
    """Is ``name`` a pointer member of ``obj`` (its value an object it points to)?"""
    found = obj._find(name) if isinstance(obj, Obj) else None
    return found is not None and found[0]._index[found[1]].kind == "ptr"


def iref(arr, i) -> Ref:
    """``&arr[i]``."""
    if isinstance(arr, Sym):
        return arr.derived(f"&{arr.name}[{display(i)}]")
    if isinstance(arr, IndexRef):
        return arr + i
    if isinstance(arr, Obj):
        return arr + i
    return arr.addr(i if isinstance(i, Sym) else int(i))


def addr(value):
    """``&x`` of a value that is already its own address (struct, array, function)."""
    return value


def deref(p):
    """``*p``."""
    if p is None:
        raise ModelError("NULL dereference")
    if isinstance(p, (Ref, CharPtr)):
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
        drop_write(p, "", value)
    elif isinstance(p, Obj):  # *p = v of a struct: the members are copied
        if isinstance(value, Obj):
            copy_into(p, value)
        elif isinstance(p._parent, tuple) and isinstance(p._parent[0], (Obj, CArray)):
            holder, key = p._parent  # an unknown struct value (the time): held as such
            current_machine().write(holder, key, value)
        else:
            raise ModelError(f"store of {display(value)} into the struct {p!r}")
    else:
        raise ModelError(f"store through {p!r} is not modelled")
    return value


def static(function: str, name: str, init=0) -> Cell:
    """A function's ``static`` local: one cell per machine."""
    m = current_machine()
    key = f"{function}.{name}"
    if key not in m.statics:
        m.dset(m.statics, key, StaticCell(m, init, name))
    return m.statics[key]


def static_object(function: str, name: str, type_name: str):
    """A function's ``static`` struct: one object per machine; (object, made now)."""
    m = current_machine()
    key = f"{function}.{name}"
    if key in m.statics:
        return m.statics[key].v, False
    saved, m.static_init = m.static_init, True
    try:
        obj = m.new(type_name, key)
    finally:
        m.static_init = saved
    m.dset(m.statics, key, StaticCell(m, obj, name))
    return obj, True


def gref(g, name: str):
    """``&global``: an aggregate global is its own address."""
    value = getattr(g, name)
    if isinstance(value, (Obj, CArray, Sym)):
        return value  # an unknown object's address is as unknown as it
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


def aggregate_slot(target, i):
    """The ``i``-th member of ``target`` filled by a nested ``{ ... }``: an
    element, a struct member, or (when the member at ``i`` is a flattened
    anonymous struct or union, whose members are the object's own) the object."""
    if isinstance(target, (CArray, Prefix)):
        return slot(target, i)
    fields = target._layout.fields
    if int(i) < len(fields) and fields[int(i)].kind in ("struct", "array", "opaque"):
        return slot(target, i)
    return target


def set_slot(target, i, value) -> None:
    if isinstance(target, CArray):
        target[i] = value
    else:
        setattr(target, target._layout.fields[int(i)].name, value)


def cdiv(a, b):
    """C division (truncates toward zero)."""
    if isinstance(a, Sym):
        return a._op(b, "/")
    if isinstance(b, Sym):
        return b._rop(a, "/")
    q = abs(int(a)) // abs(int(b))
    return q if (a >= 0) == (b >= 0) else -q


def cmod(a, b):
    if isinstance(a, Sym):
        return a._op(b, "%")
    if isinstance(b, Sym):
        return b._rop(a, "%")
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
        return case_of_unknown(value, default)
    for i, c in enumerate(cases):
        if c is not None and int(c) == int(value):
            return i
    return default


def new_local(type_name: str, name: str):
    """A local struct variable (``struct qstr name;``)."""
    m = current_machine()
    return m.new(type_name, f"{name}@{m.frame_name()}")


def local_array(elem: str, count, name: str):
    """A local array of ``count`` elements of C type ``elem``."""
    m = current_machine()
    if isinstance(count, Sym):
        raise ModelError(f"local array {name} of unknown size ({count!r})")
    kind = "ptr" if elem.endswith("*") else "scalar"
    sname = m.struct_of(elem)
    spec = FieldSpec("", elem, "struct", sname) if sname else FieldSpec("", elem, kind)
    arr = CArray(m, f"{name}@{m.frame_name()}", spec, int(count))
    m.created(arr)
    return arr


def copy_string(arr, text) -> None:
    """``char buf[8] = "abc";``"""
    data = text.string() if isinstance(text, CharPtr) else str(text)
    for i in range(arr.count if arr.count > 0 else len(data) + 1):
        arr[i] = ord(data[i]) if i < len(data) else 0


def copy_into(dst, src) -> None:
    """``struct T x = y;``: the members of ``y`` copied into ``x``."""
    if isinstance(src, Sym):
        drop_write(src, "", "a struct copy")
        return
    if not isinstance(src, Obj):
        raise ModelError(f"struct copy from {display(src)}")
    for k in list(src._v):
        setattr(dst, k, src._v[k])


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


class _Via:
    """A call through a function pointer, remembering the table that chose it."""

    def __init__(self, holder, field_name: str, expr: str):
        self.holder, self.field, self.expr = holder, field_name, expr

    def __call__(self, *args):
        target = getattr(self.holder, self.field)
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
    if isinstance(head, Sym) and truth_of_unknown(head.derived(f"{head.name} is empty")):
        return  # an unknown list: taken as empty (an assumption)
    node = head.next
    while node is not None and node is not head:
        nxt = node.next
        yield container_of(node, node._parent[0]._layout.name, member) \
            if kind == "entries" else node
        node = nxt


def cast_int(value, ctype: str = ""):
    """``(T)value`` for an integer type ``T``: a pointer becomes an
    :class:`Addr`; an integer is converted as ``T`` holds it."""
    if value is None and ctype and current_machine().integer_type(ctype):
        return 0  # (unsigned long)NULL
    if isinstance(value, (Obj, CArray, Ref, FuncRef, CharPtr)):
        if ctype and not current_machine().integer_type(ctype):
            return value  # a cast to a pointer typedef or an aggregate
        return Addr(value)
    if ctype and (type(value) is int or isinstance(value, Named)):
        return conv(value, ctype)
    return value


def to_ptr(value, pointee: str = ""):
    """``(T *)value`` for a pointer type that is not a struct's: an integer
    that came from a pointer is that pointer again; 0 is NULL; an untyped
    block takes the type."""
    if pointee:
        value = typed(value, pointee)
    if pointee in ("char", "unsigned char", "u8", "void", "const char") \
            and isinstance(value, Obj):  # (char *)sk: the object's bytes
        found = place_of(current_machine(), value)
        if found is not None:
            return BytePtr(*found)
    if isinstance(value, Addr):
        return value.pointer()
    if type(value) is int and value == 0:
        return None
    return value


def conv(value, ctype: str):
    """An integer as a variable of C type ``ctype`` holds it (``(u8)300`` is 44);
    anything else unchanged."""
    if type(value) is int or isinstance(value, Named):
        converted = current_machine().convert(ctype, int(value))
        if converted != int(value):
            return converted
    return value


def goto_out(g: Goto):
    """A goto that no block of the function has a label for."""
    raise ModelError(f"goto {g.label}: a jump into a nested block is not modelled")


def S(text: str) -> CharPtr:  # noqa: N802 - reads as a literal
    """A C string literal."""
    return CharPtr(text)


def cannot(reason: str):
    """A statement the translator could not handle, reached by the run."""
    raise ModelError(reason)


def tick() -> None:
    """One turn of a loop: the machine stops a run whose loops turn more than
    its budget (a loop on an assumption would turn forever)."""
    m = current_machine()
    m.ticks += 1
    if m.ticks > m.tick_budget:
        raise ModelError(f"loops turned more than {m.tick_budget} times "
                         f"(in {m.frame_name()}): a loop the model cannot finish")


def mcall(name: str, file: str, line: int, body, void: bool = False):
    """A function-like macro's expansion, run as a step of its own."""
    return current_machine().call_macro(name, file, line, body, void)


def offsetof(ctype: str, member: str, index=None):
    """``offsetof(T, m)``, ``offsetof(T, m[i])``: a byte offset of T's layout
    (it keeps T, so that ``kzalloc(offsetof(struct net_generic, ptr[n]))``
    makes a net_generic)."""
    m = current_machine()
    if index is None:
        return m.offsetof(ctype, member)
    base, one = m.offsetof(ctype, member), m.offsetof(ctype, f"{member}[1]")
    if isinstance(index, Sym) or not isinstance(base, SizeOf) or not isinstance(one, SizeOf):
        return Sym(f"offsetof({ctype}, {member}[{display(index)}])", "an unknown offset")
    return SizeOf(ctype, int(base) + int(index) * (int(one) - int(base)))


def alignof(ctype: str):
    """``__alignof__(T)``: its alignment in bytes."""
    return current_machine().alignof(ctype)


def sizeof(ctype: str):
    """``sizeof(T)``: a :class:`SizeOf` (an int keeping the type), or an unknown
    when the model cannot lay the type out."""
    return current_machine().sizeof(ctype)


def sizeof_value(value, text: str, ctype: str | None = None):
    """``sizeof x`` of a global: from the object itself (an array's elements, a
    struct's layout), else from its declared ``ctype``; an unknown when neither
    is known (a global of a file outside the analysis)."""
    m = current_machine()
    if isinstance(value, CArray) and value.count >= 0:
        elem = m.sizeof(value.elem.ctype)
        if isinstance(elem, int) and not isinstance(elem, Sym):
            return SizeOf(f"{value.elem.ctype} []", value.count * int(elem))
    if isinstance(value, Obj) and value._parent is None:
        return m.sizeof(f"{value._layout.kind} {value._layout.name}")
    if ctype:
        return m.sizeof(ctype)
    return unknown(f"sizeof {text}", "the type of the variable is not known")
