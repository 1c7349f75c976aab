"""Runtime sysctls: ``--sysctl net.ipv4.ping_group_range="0 2147483647"``.

Takes a setting (``NAME=VALUE`` as sysctl(8) writes it) and a booted machine
whose boot registered its ``ctl_table`` arrays (the machine's ``sysctl``
registry: path, table, namespace; see primitives/sysctl.py); writes the value
as a write to ``/proc/sys/NAME`` does (fs/proc/proc_sysctl.c
``proc_sys_call_handler``): the entry's own ``proc_handler`` runs with the
text as the user's buffer, so the kernel's parsing and checks decide
(``proc_dointvec_minmax``, ``ipv4_ping_group_range``...).  The write is part
of the run's trace, before the scenario's entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from analyzer.errors import AnalyzerError
from analyzer.model.objects import CArray, Cell, IndexRef, Obj
from analyzer.model.values import CharPtr, FuncRef, display

__all__ = ["Setting", "parse_setting", "find_entry", "write"]


@dataclass(frozen=True)
class Setting:
    """One runtime sysctl: ``net.ipv4.ping_group_range`` = ``"0 2147483647"``."""

    name: str
    value: str

    @property
    def path(self) -> str:
        return self.name.replace(".", "/")

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


def parse_setting(text: str) -> Setting:
    """``NAME=VALUE``; AnalyzerError naming the problem."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not re.fullmatch(r"[A-Za-z0-9_-]+(?:[./][A-Za-z0-9_-]+)*", name):
        raise AnalyzerError(f"--sysctl {text[:60]!r}: expected NAME=VALUE, e.g. "
                            "net.ipv4.ping_group_range=\"0 2147483647\"")
    if len(value) > 4095:
        raise AnalyzerError(f"--sysctl {name}: the value is longer than a page (4095 bytes)")
    return Setting(name.replace("/", "."), value.strip())


def _string(v) -> str:
    if isinstance(v, CharPtr):
        return v.string()
    return "" if v is None else str(v)


def _elements(p):
    """The elements of an array from the one ``p`` points at."""
    if isinstance(p, CArray):
        arr, i = p, 0
    elif isinstance(p, IndexRef):
        arr, i = p.arr, p.i
    elif isinstance(p, Obj) and isinstance(p._parent, tuple) and isinstance(p._parent[0],
                                                                           CArray):
        arr, i = p._parent
    else:
        return
    while arr.count < 0 or i < arr.count:
        yield arr[i]
        i += 1


def _entries(table, prefix: str):
    """(entry, its path) of a ``ctl_table`` array, through ``child`` tables."""
    for entry in _elements(table):
        name = getattr(entry, "procname", None) if isinstance(entry, Obj) else None
        if not name:
            return
        path = f"{prefix}/{_string(name)}" if prefix else _string(name)
        child = getattr(entry, "child", None)
        if child:
            yield from _entries(child, path)
        else:
            yield entry, path


def find_entry(m, setting: Setting, net) -> Obj:
    """The ``ctl_table`` entry the boot registered for ``setting`` (in ``net``'s
    tables or a global one); AnalyzerError listing close names when none."""
    seen = []
    for path, table, owner in m.records("sysctl"):
        if owner is not None and owner is not net:
            continue
        for entry, full in _entries(table, _string(path)):
            if full == setting.path:
                return entry
            seen.append(full)
    parent = setting.path.rsplit("/", 1)[0]
    near = sorted(p.replace("/", ".") for p in seen if p.startswith(parent + "/"))
    hint = f"; in {parent.replace('/', '.')}: {', '.join(near[:12])}" if near else ""
    raise AnalyzerError(f"--sysctl {setting.name}: no such sysctl registered by the boot{hint}")


def write(m, setting: Setting, net) -> int:
    """Run the entry's handler as a write of ``setting.value``; its return value."""
    entry = find_entry(m, setting, net)
    handler = getattr(entry, "proc_handler", None)
    if not isinstance(handler, FuncRef):
        raise AnalyzerError(f"--sysctl {setting.name}: its handler is {display(handler)}, "
                            "a function the model cannot run")
    text = setting.value + "\n"  # as `echo VALUE > /proc/sys/...` writes it
    length, pos = Cell(len(text), "count"), Cell(0, "pos")
    m.note(f"sysctl write {setting.name} = {setting.value!r}: the entry's handler "
           f"{handler.name} runs as for a write to /proc/sys/{setting.path}")
    result = handler(entry, 1, CharPtr(text), length, pos)
    if isinstance(result, int) and result < 0:
        raise AnalyzerError(f"--sysctl {setting}: the kernel refused it: {handler.name} "
                            f"returned {display(result)}")
    return result
