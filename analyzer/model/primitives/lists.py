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


def _lru_head(lru):
    """The list of ``lru`` (its NUMA node's list in mm/list_lru.c: the node is
    found from the item's address, which the model does not have; one list)."""
    m = current_machine()
    for owner, head in m.records("lru lists"):
        if owner is lru:
            return head
    head = m.new("list_head")
    init_list_head(head)
    m.record("lru lists", (lru, head))
    return head


@primitive
def list_lru_add(lru, item) -> int:
    """``list_lru_add(lru, item)``: on the list unless it already is (mm/list_lru.c)."""
    if item.next is not item:
        return 0
    list_add_tail(item, _lru_head(lru))
    return 1


@primitive
def list_lru_del(lru, item) -> int:
    """``list_lru_del(lru, item)``: off the list, left empty, if it was on it."""
    if item.next is item:
        return 0
    item.next.prev = item.prev
    item.prev.next = item.next
    init_list_head(item)
    return 1


@primitive
def bit_waitqueue(word, bit):
    """``bit_waitqueue(word, bit)`` (kernel/sched/wait.c): the zone wait table's
    queue for that word and bit, chosen by hashing its address; the model has
    no addresses, so each (word, bit) has a queue of its own, empty until a task
    waits on it (the model runs one task)."""
    m = current_machine()
    for w, b, q in m.records("bit waitqueues"):
        if b == bit and _same_place(w, word):
            return q
    q = m.new("__wait_queue_head")
    init_waitqueue_head(q)
    m.record("bit waitqueues", (word, bit, q))
    return q


def _same_place(a, b) -> bool:
    if isinstance(a, FieldRef) and isinstance(b, FieldRef):
        return a.obj is b.obj and a.name == b.name
    return a is b
