"""Kernel list heads and wait queues (include/linux/list.h, wait.h)."""

from __future__ import annotations

from analyzer.model.context import current_machine
from analyzer.model.objects import FieldRef
from analyzer.model.primitives.registry import primitive


@primitive
def init_list_head(head):
    head.next = head
    head.prev = head


@primitive
def list_add(new, head):
    _list_insert(new, head, head.next)


@primitive
def list_add_tail(new, head):
    _list_insert(new, head.prev, head)


def _list_insert(new, prev, nxt):
    nxt.prev = new
    new.next = nxt
    new.prev = prev
    prev.next = new


@primitive
def list_empty(head) -> int:
    return int(head.next is head)


@primitive
def hlist_add_head(n, h):
    first = h.first
    n.next = first
    if first is not None:
        first.pprev = FieldRef(n, "next")
    h.first = n
    n.pprev = FieldRef(h, "first")


@primitive
def init_hlist_head(h):
    h.first = None


@primitive
def init_hlist_node(n):
    n.next = None
    n.pprev = None


@primitive
def init_waitqueue_head(q):
    """``init_waitqueue_head(q)``: its lock (not modelled) and an empty task list."""
    init_list_head(q.task_list)


@primitive
def list_head_init(head):
    """``LIST_HEAD_INIT(name)``: a list_head pointing at ``name`` both ways."""
    obj = current_machine().new("list_head")
    obj.next = head
    obj.prev = head
    return obj
