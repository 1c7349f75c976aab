"""Copies between user space and the kernel (arch/x86/include/asm/uaccess.h,
arch/x86/lib/: assembly, outside the analysed tree).

User memory is made of model objects (a program's ``struct sockaddr_in``, an
``int``, a byte buffer; see analyzer/model/program.py); a copy moves their
bytes as the layouts place them (analyzer/model/membytes.py).  A NULL user
pointer faults: the copy reports every byte uncopied and the kernel's own
``-EFAULT`` path runs.
"""

from __future__ import annotations

from analyzer.model import membytes
from analyzer.model.context import current_machine
from analyzer.model.objects import IndexRef
from analyzer.model.primitives.registry import primitive
from analyzer.model.rt import deref, store
from analyzer.model.values import Sym, display


def _copy(to, frm, n, what: str):
    m = current_machine()
    if to is None or frm is None:
        return n  # a fault: nothing copied
    count = int(n) if isinstance(n, int) and not isinstance(n, Sym) else None
    if count is None or not membytes.copy(m, to, frm, count):
        unknown = Sym(f"{what}({display(to)}, {display(frm)}, {display(n)})",
                      "a copy between memory the model cannot place byte by byte", False)
        if isinstance(to, IndexRef) and isinstance(to.i, int):
            to.store(unknown.derived(f"the bytes {what} copied from {display(frm)}"))
        return unknown
    m.note(f"{what}: {count} bytes from {display(frm)} to {display(to)}")
    return 0


@primitive
def copy_from_user(to, frm, n):
    """``copy_from_user(to, from, n)``: the bytes not copied (0)."""
    return _copy(to, frm, n, "copy_from_user")


@primitive
def copy_to_user(to, frm, n):
    """``copy_to_user(to, from, n)``: the bytes not copied (0)."""
    return _copy(to, frm, n, "copy_to_user")


def _efault() -> int:
    return -int(current_machine().constant("EFAULT"))


@primitive
def get_user(x, ptr):
    """``get_user(x, ptr)``: ``x = *ptr``; 0, or -EFAULT for a NULL pointer."""
    if ptr is None:
        return _efault()
    store(x, deref(ptr))
    return 0


@primitive
def put_user(x, ptr):
    """``put_user(x, ptr)``: ``*ptr = x``; 0, or -EFAULT for a NULL pointer."""
    if ptr is None:
        return _efault()
    store(ptr, x)
    return 0


@primitive
def user_ds():
    """``get_fs()`` in a system call: USER_DS, the top of user space."""
    page = int(current_machine().constant("PAGE_SIZE") or 4096)
    from analyzer.model.values import Named

    return Named("USER_DS", (1 << 47) - page)


@primitive
def segment_eq(a, b):
    """``segment_eq(a, b)``: the two limits are the same."""
    if isinstance(a, Sym) or isinstance(b, Sym):
        return Sym(f"segment_eq({display(a)}, {display(b)})", "an unknown address limit")
    return int(int(a) == int(b) or (int(a) - int(b)) % (1 << 64) == 0)
