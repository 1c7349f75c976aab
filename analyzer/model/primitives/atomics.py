"""Atomics and bit operations: x86 assembly in the kernel, plain arithmetic here."""

from __future__ import annotations

from analyzer.model.context import current_machine
from analyzer.model.objects import CArray, FieldRef, Obj, Ref
from analyzer.model.primitives.registry import primitive
from analyzer.model.rt import deref, store


def _counter(a) -> Ref:
    """The ``counter`` of an atomic_t (or the slot itself if it is a plain ref)."""
    return a if isinstance(a, Ref) else FieldRef(a, "counter")


@primitive
def atomic_init(value):
    """``ATOMIC_INIT(i)``: an atomic_t holding ``i``."""
    a = current_machine().new("atomic_t")
    a.counter = value
    return a


@primitive
def atomic_set(a, value):
    _counter(a).store(value)


@primitive
def atomic_read(a):
    return _counter(a).load()


@primitive
def atomic_add(i, a):
    c = _counter(a)
    c.store(c.load() + i)


@primitive
def atomic_inc(a):
    atomic_add(1, a)


@primitive
def atomic_dec(a):
    atomic_add(-1, a)


@primitive
def atomic_dec_and_test(a) -> int:
    atomic_add(-1, a)
    return int(atomic_read(a) == 0)


@primitive
def atomic_inc_return(a):
    atomic_add(1, a)
    return atomic_read(a)


@primitive
def set_bit(nr, ref_):
    store(ref_, deref(ref_) | (1 << int(nr)))


@primitive
def clear_bit(nr, ref_):
    store(ref_, deref(ref_) & ~(1 << int(nr)))


@primitive
def test_bit(nr, ref_):
    return int(bool(deref(ref_) & (1 << int(nr))))


@primitive
def cmpxchg(ptr, old, new):
    """``cmpxchg(p, old, new)``: ``*p = new`` if ``*p == old``; the value before."""
    current = deref(ptr)
    if current is old or (current == old if not isinstance(current, (Obj, CArray)) else False):
        store(ptr, new)
    return current


@primitive
def xchg(ptr, new):
    """``xchg(p, new)``: ``*p = new``; the value before."""
    current = deref(ptr)
    store(ptr, new)
    return current


@primitive
def test_and_set_bit(nr, ref_):
    old = test_bit(nr, ref_)
    set_bit(nr, ref_)
    return old


@primitive
def test_and_clear_bit(nr, ref_):
    old = test_bit(nr, ref_)
    clear_bit(nr, ref_)
    return old


@primitive
def get_unaligned32(p):
    """A 32-bit little-endian load from a byte pointer (x86 loads unaligned)."""
    from analyzer.model.objects import CArray, IndexRef
    from analyzer.model.values import CharPtr, Sym

    if isinstance(p, CArray):
        p = IndexRef(p, 0)
    if isinstance(p, (IndexRef, CharPtr)):
        value = 0
        for k in range(4):
            b = p[k]
            if isinstance(b, Sym):
                return b.derived("an unaligned load")
            value |= (int(b) & 0xFF) << (8 * k)
        return value
    return Sym("an unaligned load", "not bytes the model holds")
