"""Compiler hints, RCU and locks (no state to show), error pointers, strings."""

from __future__ import annotations

from analyzer.model.context import current_machine
from analyzer.model.objects import container_of
from analyzer.model.primitives.registry import primitive
from analyzer.model.rt import store
from analyzer.model.values import Named, Sym, display


@primitive
def nothing(*args):
    """Locks, RCU read sections, memory barriers, debug checks: no state the model shows."""
    return None


@primitive
def identity(x, *rest):
    """``likely(x)``, ``rcu_dereference(p)``, ``READ_ONCE(x)``: the value itself."""
    return x


@primitive
def assign_ref(ref_, value, *rest):
    """``rcu_assign_pointer(p, v)``, ``RCU_INIT_POINTER(p, v)``, ``WRITE_ONCE(x, v)``."""
    store(ref_, value)
    return value


@primitive
def is_err(p):
    """``IS_ERR(p)``: ``p`` is an error code, ``-MAX_ERRNO <= p < 0`` with
    MAX_ERRNO read from the tree (include/linux/err.h); objects are pointers."""
    if isinstance(p, Sym):
        return p.derived(f"IS_ERR({p.name})")
    if not isinstance(p, int) or isinstance(p, bool):
        return 0
    limit = current_machine().constant("MAX_ERRNO")
    if limit is None:
        return Sym(f"IS_ERR({display(p)})")
    return int(-limit <= int(p) < 0)


@primitive
def ptr_err(p):
    return p


@primitive
def err_ptr(e):
    return e


@primitive
def is_err_or_null(p) -> int:
    return int(p is None or bool(is_err(p)))


@primitive
def array_size(arr) -> int:
    return len(arr)


@primitive
def container_of_(ptr, type_name, member):
    return container_of(ptr, type_name, member)






@primitive
def jiffies_to_usecs(j):
    """``jiffies_to_usecs(j)`` of kernel/time/time.c (not among the analysed
    files): ``(USEC_PER_SEC / HZ) * j`` when HZ divides USEC_PER_SEC, the
    kernel's own ``#if``; both constants come from the tree."""
    m = current_machine()
    hz, usec = m.constant("HZ"), m.constant("USEC_PER_SEC")
    if not hz or usec is None or usec % hz or type(j) not in (int, Named):
        return Sym(f"jiffies_to_usecs({display(j)})")
    return (usec // hz) * int(j)


@primitive
def builtin_constant_p(x) -> int:
    """``__builtin_constant_p(x)``: 1 for a value the model computed (the
    compiler folds both branches of the kernel's uses to the same value)."""
    return int(type(x) is int or isinstance(x, Named))


def _bswap(x, nbytes: int):
    if isinstance(x, Sym):
        return x.derived(f"bswap({x.name})")
    return int.from_bytes(int(x).to_bytes(nbytes, "little", signed=False)[:nbytes], "big")


@primitive
def bswap16(x):
    return _bswap(int(x) & 0xFFFF if not isinstance(x, Sym) else x, 2)


@primitive
def bswap32(x):
    return _bswap(int(x) & 0xFFFFFFFF if not isinstance(x, Sym) else x, 4)


@primitive
def bswap64(x):
    return _bswap(int(x) & (1 << 64) - 1 if not isinstance(x, Sym) else x, 8)
