"""Id allocators (lib/idr.c: ``ida``, ``idr``): the smallest free id, kept per
allocator object in the machine's ``ids`` registry (rolled back with it)."""

from __future__ import annotations

from analyzer.model.context import current_machine
from analyzer.model.primitives.registry import primitive
from analyzer.model.rt import store
from analyzer.model.values import Sym


def _used(owner) -> dict[int, object]:
    m = current_machine()
    return {i: p for o, i, p in m.records("ids") if o is owner}


def _take(owner, start: int, end: int, ptr=None):
    if isinstance(start, Sym) or isinstance(end, Sym):
        return Sym("an id", "an id range the model does not know")
    used, i = _used(owner), max(int(start), 0)
    while i in used:
        i += 1
    if end > 0 and i >= end:
        return -28  # -ENOSPC
    current_machine().record("ids", (owner, i, ptr))
    return i


@primitive
def ida_get_new_above(ida, start, id_ref):
    """``ida_get_new_above(ida, start, &id)``: 0, and the id in ``*id``."""
    value = _take(ida, start, 0)
    store(id_ref, value)
    return 0


@primitive
def ida_simple_get(ida, start, end, flags=0):
    return _take(ida, start, int(end) if not isinstance(end, Sym) else end)


@primitive
def idr_alloc(idr, ptr, start, end, flags=0):
    return _take(idr, start, int(end) if not isinstance(end, Sym) else end, ptr)


@primitive
def idr_find(idr, i):
    return _used(idr).get(int(i)) if not isinstance(i, Sym) else Sym("idr_find()", "unknown id")


@primitive
def id_remove(owner, i):
    m = current_machine()
    m.set_records("ids", [e for e in m.records("ids") if not (e[0] is owner and e[1] == i)])
