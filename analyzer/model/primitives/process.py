"""The calling process: ``current`` (see analyzer/model/process.py)."""

from __future__ import annotations

from analyzer.model.context import current_machine
from analyzer.model.primitives.registry import primitive


@primitive
def current():
    """``current``: the task of the process the machine runs for (made from
    its :class:`~analyzer.model.process.Process` on first use)."""
    m = current_machine()
    if m.task is None:
        from analyzer.model.process import Process, build_task

        m.task = build_task(m, m.process or Process())
    return m.task


@primitive
def cap_capable(cred, targ_ns, cap, audit=0):
    """``cap_capable(cred, ns, cap, audit)`` of security/commoncap.c (Linux
    4.4.1, lines 48-80), statement for statement: does ``cred`` hold ``cap`` in
    the user namespace ``ns`` (walking up to the namespace of ``cred``)?"""
    from analyzer.model.rt import tick

    m = current_machine()
    eperm = -int(m.constant("EPERM"))
    init_ns = m.glob("init_user_ns")[1]
    ns = targ_ns
    while True:
        tick()
        if ns is cred.user_ns:  # the credentials' own namespace: the capability sets
            word = cred.cap_effective.cap[int(cap) >> 5]  # CAP_TO_INDEX
            return 0 if int(word) & (1 << (int(cap) & 31)) else eperm  # CAP_TO_MASK
        if ns is init_ns:  # the top, and cred is in none of its parents
            return eperm
        if ns.parent is cred.user_ns and int(ns.owner.val) == int(cred.euid.val):
            return 0  # the owner of a child namespace holds every capability in it
        ns = ns.parent
