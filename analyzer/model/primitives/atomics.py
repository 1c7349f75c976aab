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


def _lockref_count(lr):
    return FieldRef(lr, "count")


@primitive
def lockref_get(lr):
    """``lockref_get(lr)`` (lib/lockref.c): one more reference, under its lock."""
    c = _lockref_count(lr)
    c.store(c.load() + 1)


@primitive
def lockref_get_not_zero(lr):
    c = _lockref_count(lr)
    if c.load() <= 0:
        return 0
    c.store(c.load() + 1)
    return 1


@primitive
def lockref_get_not_dead(lr):
    c = _lockref_count(lr)
    if c.load() < 0:
        return 0
    c.store(c.load() + 1)
    return 1


@primitive
def lockref_put_or_lock(lr):
    """1 and one reference less, or 0 (the last one: the caller takes the lock)."""
    c = _lockref_count(lr)
    if c.load() <= 1:
        return 0
    c.store(c.load() - 1)
    return 1


@primitive
def lockref_put_return(lr):
    c = _lockref_count(lr)
    if c.load() <= 0:
        return -1
    c.store(c.load() - 1)
    return c.load()


@primitive
def lockref_mark_dead(lr):
    _lockref_count(lr).store(-128)


@primitive
def atomic_add_return(i, a):
    atomic_add(i, a)
    return atomic_read(a)


@primitive
def atomic_sub_return(i, a):
    atomic_add(-i, a)
    return atomic_read(a)


@primitive
def atomic_dec_return(a):
    return atomic_sub_return(1, a)


@primitive
def atomic_sub(i, a):
    atomic_add(-i, a)


@primitive
def atomic_inc_not_zero(a) -> int:
    if atomic_read(a) == 0:
        return 0
    atomic_add(1, a)
    return 1


@primitive
def atomic_sub_and_test(i, a) -> int:
    return int(atomic_sub_return(i, a) == 0)


@primitive
def atomic_inc_and_test(a) -> int:
    return int(atomic_add_return(1, a) == 0)


@primitive
def atomic_cmpxchg(a, old, new):
    current = atomic_read(a)
    if current == old:
        atomic_set(a, new)
    return current


@primitive
def atomic_xchg(a, new):
    current = atomic_read(a)
    atomic_set(a, new)
    return current
