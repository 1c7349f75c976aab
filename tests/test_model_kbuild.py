"""analyzer.model.kbuild: tiny Makefile trees in a tmp dir (obj-y/obj-m,
composite objects, variables, conditionals, descents, link order, what cannot
be evaluated), the initcall order; on the real tree what a default build
compiles in and the first initcalls of the boot."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer.model.kbuild import built, initcall_order
from analyzer.model.kconfig import KernelConfig, Option
from analyzer.records import Initcall

TOP = """\
init-y		:= init/
drivers-y	:= drivers/
net-y		:= net/
libs-y		:= lib/
core-y		:= usr/
core-y		+= kernel/ mm/ fs/ ipc/
export KBUILD_VMLINUX_INIT := $(head-y) $(init-y)
export KBUILD_VMLINUX_MAIN := $(core-y) $(libs-y) $(drivers-y) $(net-y) $(virt-y)
"""


def conf(**values: str) -> KernelConfig:
    """A configuration with the given options (bool/tristate unless a number)."""
    opts = {}
    for name, v in values.items():
        kind = "int" if v.isdigit() else "string" if v.startswith('"') else "tristate"
        opts[name] = Option(name, kind, v, "test")
    return KernelConfig(opts)


def tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "linux"
    for rel, text in {"Makefile": TOP, **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


UNIX = """\
obj-$(CONFIG_UNIX)	+= unix.o

unix-y			:= af_unix.o garbage.o
unix-$(CONFIG_SYSCTL)	+= sysctl_net_unix.o

obj-$(CONFIG_UNIX_DIAG)	+= unix_diag.o
unix_diag-y		:= diag.o
"""

NET = """\
obj-$(CONFIG_NET)		:= socket.o core/

tmp-$(CONFIG_COMPAT) 		:= compat.o
obj-$(CONFIG_NET)		+= $(tmp-y)
obj-$(CONFIG_UNIX)		+= unix/
obj-$(CONFIG_IP_DCCP)		+= dccp/
ifeq ($(CONFIG_NET),y)
obj-$(CONFIG_SYSCTL)		+= sysctl_net.o
endif
"""


def test_objects_composites_and_link_order(tmp_path):
    root = tree(tmp_path, {"net/Makefile": NET, "net/unix/Makefile": UNIX,
                           "net/core/Makefile": "obj-y := sock.o \\\n\t request_sock.o\n",
                           "fs/Makefile": "obj-y := open.o\n"})
    b = built(root, conf(NET="y", UNIX="y", SYSCTL="y", UNIX_DIAG="m", COMPAT="y"))
    assert b.top == ("fs", "net")
    assert [o.file for o in b.built_in()] == [
        "fs/open.c", "net/socket.c", "net/core/sock.c", "net/core/request_sock.c",
        "net/compat.c", "net/unix/af_unix.c", "net/unix/garbage.c",
        "net/unix/sysctl_net_unix.c", "net/sysctl_net.c"]
    assert b.status("net/unix/diag.c") == "m" and b.order("net/unix/diag.c") is None
    assert b.why("net/socket.c") == "net/Makefile:1: obj-$(CONFIG_NET) := socket.o (CONFIG_NET=y)"
    assert b.why("net/unix/garbage.c").endswith("(part of unix.o)")
    assert b.warnings == []


def test_what_is_not_built_says_why(tmp_path):
    root = tree(tmp_path, {"net/Makefile": NET, "net/unix/Makefile": UNIX,
                           "net/core/Makefile": "obj-y := sock.o\n"})
    b = built(root, conf(NET="y", UNIX="m"))
    assert b.status("net/dccp/ipv4.c") is None
    assert b.why("net/dccp/ipv4.c") == "net/Makefile:6: CONFIG_IP_DCCP is n"
    assert b.why("net/compat.c") == "net/Makefile:3: CONFIG_COMPAT is n"
    assert b.why("net/sysctl_net.c") == "net/Makefile:8: CONFIG_SYSCTL is n"
    assert b.why("net/core/other.c") == "not in the obj- lists of net/core/Makefile"
    # a folder reached through obj-m: its objects are modules (the parent's m)
    assert b.status("net/unix/af_unix.c") == "m"


def test_a_false_conditional_keeps_its_objects_out(tmp_path):
    root = tree(tmp_path, {"net/Makefile": NET, "net/core/Makefile": "obj-y := sock.o\n"})
    b = built(root, conf(NET="m", SYSCTL="y"))
    assert b.status("net/sysctl_net.c") is None
    assert "inside a conditional that is false" in b.why("net/sysctl_net.c")


def test_variables_and_conditionals(tmp_path):
    mk = """\
A := one.o
B = $(A) two.o
A := three.o
C ?= four.o
C ?= not.o
obj-y := $(B) $(C)
ifdef CONFIG_X
obj-y += x.o
else ifeq ($(CONFIG_Y),m)
obj-y += y.o
else
obj-y += z.o
endif
ifndef UNSET
obj-y += $(patsubst %.c,%.o,five.c) $(subst m,y,$(CONFIG_Y:m=m))-only.o
endif
ifneq "$(CONFIG_N)" "3"
obj-y += wrong.o
endif
obj-$(subst m,y,$(CONFIG_Y)) += six.o
obj-y += $(addprefix sub/,seven.o) $(filter %.o,eight.o nine.c) $(if $(CONFIG_Y),ten.o,no.o)
obj-y += $(foreach w,a b,$(w)w.o)
obj-y += three.o
"""
    root = tree(tmp_path, {"fs/Makefile": mk})
    b = built(root, conf(Y="m", N="3"))
    names = [o.file[3:] for o in b.built_in()]
    assert names == ["three.c", "two.c", "four.c", "y.c", "five.c", "y-only.c", "six.c",
                     "sub/seven.c", "eight.c", "ten.c", "aw.c", "bw.c"]
    assert b.warnings == []


def test_an_object_in_both_lists_is_built_in(tmp_path):
    root = tree(tmp_path, {"fs/Makefile": "obj-m += a.o\nobj-y += a.o\n"})
    assert built(root, conf()).status("fs/a.c") == "y"


def test_what_cannot_be_evaluated_is_a_warning(tmp_path):
    mk = ("obj-y := a.o\nobj-y += $(shell echo b.o)\ninclude $(srctree)/x.mk\n"
          "obj-y += $(call cc-option,c.o)\n$(foo): bar\n\techo recipe\nobj-y += d.o\n")
    root = tree(tmp_path, {"fs/Makefile": mk})
    b = built(root, conf())
    assert [o.file for o in b.built_in()] == ["fs/a.c", "fs/d.c"]
    assert b.warnings[0].startswith("fs/Makefile:2: obj-y += $(shell echo b.o): $(shell ...) "
                                    "cannot be evaluated here; the line counts as empty")
    assert b.warnings[1].startswith("fs/Makefile:3: include $(srctree)/x.mk: not followed")
    assert b.warnings[2].startswith("fs/Makefile:4: ") and "cc-option" in b.warnings[2]
    assert len(b.warnings) == 3


def test_a_missing_top_level_order_falls_back(tmp_path):
    root = tmp_path / "linux"
    (root / "fs").mkdir(parents=True)
    (root / "Makefile").write_text("core-y := fs/\n")
    (root / "fs" / "Makefile").write_text("obj-y := a.o\n")
    b = built(root, conf())
    assert b.status("fs/a.c") == "y" and "KBUILD_VMLINUX_MAIN not found" in b.warnings[0]


# ------------------------------------------------------------------ initcalls

def ic(fn: str, level: str, file: str, line: int, guard: str = "") -> Initcall:
    return Initcall(fn, level, file, line, "x_initcall", guard)


def test_initcall_order_level_then_link_then_line(tmp_path):
    root = tree(tmp_path, {"net/Makefile": NET, "net/unix/Makefile": UNIX,
                           "net/core/Makefile": "obj-y := net_namespace.o sock.o\n",
                           "fs/Makefile": "obj-y := pipe.o\n"})
    b = built(root, conf(NET="y", UNIX="y", UNIX_DIAG="m"))
    calls = [ic("unix", "fs", "net/unix/af_unix.c", 9), ic("sock", "core", "net/socket.c", 5),
             ic("pipe", "fs", "fs/pipe.c", 3), ic("ns", "pure", "net/core/net_namespace.c", 2),
             ic("late2", "late", "net/socket.c", 20), ic("late1", "late", "net/socket.c", 10),
             ic("early", "early", "net/core/sock.c", 1), ic("sync", "core_sync", "fs/pipe.c", 1),
             ic("diag", "device", "net/unix/diag.c", 4), ic("dccp", "device", "net/dccp/ipv4.c", 1),
             ic("proc", "fs", "fs/pipe.c", 8, "CONFIG_PROC_FS"),
             ic("nomod", "fs", "fs/pipe.c", 9, "!IS_MODULE(CONFIG_UNIX_DIAG)"),
             ic("odd", "fs", "fs/pipe.c", 10, "SOMETHING_ELSE > 2")]
    order = initcall_order(calls, b, conf(NET="y", UNIX="y", UNIX_DIAG="m"))
    assert order.names() == ["early", "ns", "sock", "sync", "pipe", "unix", "late1", "late2"]
    why = {s.initcall.function: s.why for s in order.skipped}
    assert why["diag"] == "net/unix/diag.c: module (m): runs when loaded, not at boot"
    assert why["dccp"] == "net/dccp/ipv4.c: not built (net/Makefile:6: CONFIG_IP_DCCP is n)"
    assert why["proc"] == "fs/pipe.c:8: its guard `CONFIG_PROC_FS` is false under this " \
                          "configuration"
    assert why["nomod"].endswith("is false under this configuration")
    assert "cannot be decided" in why["odd"]
    assert order.calls[0].why.startswith("net/core/sock.c is built in (net/core/Makefile:1: ")


# ------------------------------------------------------------------ the real tree

@pytest.fixture(scope="module")
def default_build(kernel_cfg):
    kc = KernelConfig.load(kernel_cfg)
    return kc, built(kernel_cfg, kc)


@pytest.mark.kernel
def test_a_default_build_of_the_release(default_build):
    kc, b = default_build
    for f in ("net/socket.c", "net/ipv4/af_inet.c", "net/ipv4/tcp.c", "net/unix/af_unix.c",
              "net/packet/af_packet.c", "net/netlink/af_netlink.c", "fs/dcache.c",
              "net/core/net_namespace.c", "net/ipv6/af_inet6.c", "net/ipv4/tcp_cubic.c"):
        assert b.status(f) == "y", (f, b.why(f))
    assert kc.value("IP_DCCP") == "n"  # net/dccp/Kconfig: tristate, no default
    assert b.status("net/dccp/ipv4.c") is None
    assert b.why("net/dccp/ipv4.c") == "net/Makefile:44: CONFIG_IP_DCCP is n"
    assert b.status("net/ipv4/tcp_bic.c") == "m"  # default m with TCP_CONG_ADVANCED
    # the release Makefile's link order: core-y (kernel/ mm/ fs/), libs-y (lib/), net-y
    assert b.top == ("kernel", "mm", "fs", "lib", "net")
    assert b.order("fs/dcache.c") < b.order("net/socket.c")  # core-y before net-y
    # only compiler flags of lib/ are beyond the interpreter (no object list depends on them)
    assert all("CFLAGS" in w and w.startswith("lib/Makefile:") for w in b.warnings)


@pytest.mark.kernel
def test_the_first_initcalls_of_the_boot(default_build, store_cfg):
    from analyzer.store import Store

    kc, b = default_build
    with Store.open(store_cfg.store_path) as st:
        order = initcall_order(list(st.all("initcalls")), b, kc)
    names = order.names()
    assert names.index("net_ns_init") < names.index("sock_init") < names.index("inet_init")
    first = order.calls[0].initcall
    assert (first.function, first.level, first.file) == (
        "net_ns_init", "pure", "net/core/net_namespace.c")
    # net/Makefile links socket.o before netlink/: both core level
    assert names.index("sock_init") < names.index("netlink_proto_init")
    assert b.order("net/socket.c") < b.order("net/netlink/af_netlink.c")
    skipped = {s.initcall.function: s.why for s in order.skipped}
    assert skipped["dccp_init"].startswith("net/dccp/proto.c: not built")
    assert skipped["bictcp_register"] == ("net/ipv4/tcp_bic.c: module (m): runs when "
                                          "loaded, not at boot")
    assert {"af_unix_init", "packet_init", "inet6_init"} <= set(names)
