"""The process that calls: its credentials, groups, capabilities, namespace and
open files, as data.

Takes the ``[process]`` table of ``kernel/primitives.toml`` (the default: root
in the initial namespaces) or a user's choice (``--user UID:GID``); gives a
:class:`Process` and :func:`build_task`, which makes ``current`` from the
kernel's own structures (``task_struct``, ``cred``, ``group_info``,
``signal_struct``, the fd table ``init_files`` of fs/file.c) so that the
kernel's checks (``ns_capable``, ``gid_lte``, ``in_egroup_p``, ``__alloc_fd``)
run against it.  Every value comes from the data or from constants of the tree
(``CAP_LAST_CAP``, ``INR_OPEN_CUR``, ``NGROUPS_SMALL``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from analyzer.errors import AnalyzerError
from analyzer.model.objects import Obj
from analyzer.model.values import Named, Sym

__all__ = ["Process", "build_task", "parse_user"]


@dataclass(frozen=True)
class Process:
    """Who calls: ids, supplementary groups, capabilities, namespace, open fds."""

    uid: int = 0
    gid: int = 0
    groups: tuple[int, ...] = ()
    #: "all" (CAP_FULL_SET, as root has) or "none" (CAP_EMPTY_SET)
    capabilities: str = "all"
    net_ns: str = "init_net"
    open_fds: tuple[int, ...] = (0, 1, 2)
    label: str = "current"
    sources: dict = field(default_factory=dict, compare=False)

    @classmethod
    def from_table(cls, table: dict) -> Process:
        """The ``[process]`` table of primitives.toml."""
        known = {f for f in cls.__dataclass_fields__ if f not in ("sources", "label")}
        unknown = set(table) - known - {"why"}
        if unknown:
            raise AnalyzerError(f"primitives.toml [process]: unknown keys {sorted(unknown)}")
        values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in table.items()
                  if k in known}
        proc = cls(**values)
        if proc.capabilities not in ("all", "none"):
            raise AnalyzerError("primitives.toml [process]: capabilities is 'all' or 'none'")
        return replace(proc, sources={"default": table.get("why", "")})

    def as_user(self, uid: int, gid: int) -> Process:
        """An unprivileged user: its ids, its group, no capabilities."""
        return replace(self, uid=uid, gid=gid, groups=(gid,), capabilities="none")

    def describe(self) -> list[tuple[str, str]]:
        caps = "CAP_FULL_SET (root)" if self.capabilities == "all" else "CAP_EMPTY_SET"
        return [("uid", str(self.uid)), ("gid", str(self.gid)),
                ("groups", " ".join(map(str, self.groups)) or "(none)"),
                ("capabilities", caps), ("network namespace", self.net_ns),
                ("open fds", " ".join(map(str, self.open_fds)))]


def parse_user(text: str, base: Process) -> Process:
    """``--user UID:GID``."""
    m = re.fullmatch(r"\s*(\d{1,10})\s*:\s*(\d{1,10})\s*", text or "")
    if not m:
        raise AnalyzerError(f"--user {text[:40]!r}: expected UID:GID, e.g. 1000:1000")
    uid, gid = int(m.group(1)), int(m.group(2))
    if uid > 0xFFFFFFFE or gid > 0xFFFFFFFE:
        raise AnalyzerError(f"--user {text[:40]!r}: ids go up to 4294967294")
    return base.as_user(uid, gid)


def _constant(m, name: str) -> int:
    value = m.constant(name)
    if value is None:
        raise AnalyzerError(f"the process needs {name}, which the analysed tree does not define")
    return int(value)


def build_task(m, proc: Process) -> Obj:
    """``current``: a task_struct with cred, groups, signal (rlimits), nsproxy
    and files made from ``proc``; built as static state (step 0)."""
    saved, m.static_init = m.static_init, True
    try:
        task = m.new("task_struct", proc.label)
        cred = _cred(m, proc)
        task.cred = cred
        task.real_cred = cred
        proxy = m.new("nsproxy", f"{proc.label}.nsproxy")
        proxy.net_ns = m.glob(proc.net_ns)[1]
        task.nsproxy = proxy
        task.signal = _signal(m, proc)
        task.files = _files(m, proc)
        task.group_leader = task  # one thread: it leads its group (kernel/fork.c copy_process)
    finally:
        m.static_init = saved
    return task


def _cred(m, proc: Process) -> Obj:
    cred = m.new("cred", f"{proc.label}.cred")
    for name in ("uid", "suid", "euid", "fsuid"):
        getattr(cred, name).val = proc.uid
    for name in ("gid", "sgid", "egid", "fsgid"):
        getattr(cred, name).val = proc.gid
    last = _constant(m, "CAP_LAST_CAP")  # include/uapi/linux/capability.h
    words = [0xFFFFFFFF, (1 << (last + 1 - 32)) - 1] if proc.capabilities == "all" else [0, 0]
    for name in ("cap_permitted", "cap_effective", "cap_bset"):
        caps = getattr(cred, name).cap
        for i, w in enumerate(words):
            caps[i] = w
    cred.user_ns = m.glob("init_user_ns")[1]
    cred.group_info = _groups(m, proc)
    cred.usage.counter = 1
    return cred


def _groups(m, proc: Process) -> Obj:
    """A group_info as groups_alloc()/set_groups() of kernel/groups.c leave it
    for a few groups: one block, the small block inside the struct."""
    small = _constant(m, "NGROUPS_SMALL")
    if len(proc.groups) > small:
        raise AnalyzerError(f"the model holds at most {small} supplementary groups "
                            "(NGROUPS_SMALL)")
    gi = m.new("group_info", f"{proc.label}.group_info")
    gi.usage.counter = 1
    gi.ngroups = len(proc.groups)
    gi.nblocks = 1
    for i, g in enumerate(sorted(proc.groups)):
        gi.small_block[i].val = g
    gi.blocks[0] = gi.small_block
    return gi


def _signal(m, proc: Process) -> Obj:
    """The rlimits a process starts with (INIT_RLIMITS of
    include/asm-generic/resource.h): only RLIMIT_NOFILE is read by socket()."""
    sig = m.new("signal_struct", f"{proc.label}.signal")
    nofile = sig.rlim[_constant(m, "RLIMIT_NOFILE")]
    nofile.rlim_cur = Named("INR_OPEN_CUR", _constant(m, "INR_OPEN_CUR"))
    nofile.rlim_max = Named("INR_OPEN_MAX", _constant(m, "INR_OPEN_MAX"))
    return sig


def _files(m, proc: Process) -> Obj:
    """fs/file.c's ``init_files`` (its own initializer) with ``proc``'s
    descriptors open: their bits set in ``open_fds``, ``next_fd`` after them."""
    key, files = m.glob("init_files", "fs/file.c")
    if not isinstance(files, Obj):
        raise AnalyzerError("the analysed tree has no init_files (fs/file.c)")
    fdt, bits = files.fdtab, _constant(m, "BITS_PER_LONG")
    for fd in proc.open_fds:
        fdt.fd[fd] = Sym(f"the file of fd {fd}", "opened before the program ran")
        word = fdt.open_fds[fd // bits]
        fdt.open_fds[fd // bits] = (word if isinstance(word, int) else 0) | 1 << (fd % bits)
    files.next_fd = max(proc.open_fds, default=-1) + 1
    return files
