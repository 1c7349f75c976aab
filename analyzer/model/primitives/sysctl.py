"""The /proc/sys tree (fs/proc/proc_sysctl.c): not modelled as a tree.  A
registration records its table in the machine's ``sysctl`` registry (the path
and the ``ctl_table`` array), so that ``--sysctl NAME=VALUE`` finds the entry
the kernel would write through, and its handler."""

from __future__ import annotations

from analyzer.model.context import current_machine
from analyzer.model.primitives.registry import primitive
from analyzer.model.values import CharPtr, display


def _text(path) -> str:
    return path.string() if isinstance(path, CharPtr) else str(path)


def _register(path: str, table, net=None):
    m = current_machine()
    m.record("sysctl", (path, table, net))
    header = m.new("ctl_table_header")
    m.note(f"sysctl table {display(table)} registered under /proc/sys/{path}")
    return header


@primitive
def register_net_sysctl(net, path, table):
    """``register_net_sysctl(net, "net/ipv4", table)`` (net/sysctl_net.c)."""
    return _register(_text(path), table, net)


@primitive
def register_sysctl(path, table):
    return _register(_text(path), table)


@primitive
def register_sysctl_table(table):
    return _register("", table)


@primitive
def register_sysctl_paths(path, table):
    return _register("?", table)


@primitive
def unregister_sysctl_table(header):
    return None
