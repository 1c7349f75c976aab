"""Resizable hash tables (lib/rhashtable.c, include/linux/rhashtable.h): a table
is the list of objects inserted, in the machine's ``rhashtable`` registry; a
lookup compares keys with the table's own ``obj_cmpfn`` (kernel code, run by
the model) or, without one, the key member's value.  Buckets, resizing and RCU
are not modelled."""

from __future__ import annotations

from analyzer.model.context import current_machine
from analyzer.model.objects import Obj
from analyzer.model.primitives.registry import primitive
from analyzer.model.values import FuncRef, Sym


def _entries(ht) -> list:
    return [o for t, o in current_machine().records("rhashtable") if t is ht]


def _object(head):
    """The object an ``rhash_head`` member belongs to."""
    parent = getattr(head, "_parent", None)
    return parent[0] if isinstance(parent, tuple) and isinstance(parent[0], Obj) else head


def _matches(ht, key, obj, params) -> object:
    cmp = getattr(params, "obj_cmpfn", None) if isinstance(params, Obj) else None
    if isinstance(cmp, FuncRef):
        m = current_machine()
        arg = m.new("rhashtable_compare_arg")
        arg.ht, arg.key = ht, key
        m.forget(arg)
        result = cmp(arg, obj)
        return result if isinstance(result, Sym) else int(result) == 0
    return Sym("an rhashtable key compare", "a table without obj_cmpfn")


@primitive
def rhashtable_lookup_fast(ht, key, params):
    for obj in _entries(ht):
        hit = _matches(ht, key, obj, params)
        if hit:
            return obj
    return None


@primitive
def rhashtable_insert_fast(ht, head, params):
    current_machine().record("rhashtable", (ht, _object(head)))
    return 0


@primitive
def rhashtable_lookup_insert_key(ht, key, head, params):
    if rhashtable_lookup_fast(ht, key, params) is not None:
        return -17  # -EEXIST
    return rhashtable_insert_fast(ht, head, params)


@primitive
def rhashtable_remove_fast(ht, head, params):
    m = current_machine()
    obj = _object(head)
    entries = m.records("rhashtable")
    if not any(t is ht and o is obj for t, o in entries):
        return -2  # -ENOENT
    m.set_records("rhashtable", [(t, o) for t, o in entries if not (t is ht and o is obj)])
    return 0
