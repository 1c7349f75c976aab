"""The facts the lecture shows, extracted from the real Linux 4.4.1 tree with
:func:`analyzer.extract.extract_file` (only the files needed)."""

from __future__ import annotations

from functools import cache

import pytest
from ci import unavailable

from analyzer import records
from analyzer.constants import evaluate
from analyzer.extract import extract_file

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def facts(kernel_cfg):
    @cache
    def get(relpath: str) -> records.FileFacts:
        return extract_file(relpath, (kernel_cfg.kernel_dir / relpath).read_bytes())

    return get


def function(ff: records.FileFacts, name: str) -> records.Function:
    (found,) = [f for f in ff.functions if f.name == name]
    return found


def initializer(ff: records.FileFacts, name: str) -> records.Initializer:
    (found,) = [i for i in ff.initializers if i.name == name]
    return found


@pytest.mark.parametrize("file, name, line", [
    ("net/socket.c", "SyS_socket", 1213),
    ("net/socket.c", "sys_socket", 1213),
    ("net/socket.c", "sock_alloc", 536),
    ("net/socket.c", "sock_alloc_inode", 245),
    ("net/socket.c", "__sock_create", 1088),
    ("net/ipv4/af_inet.c", "inet_create", 249),
    ("net/core/sock.c", "sk_alloc", 1414),
    ("net/core/sock.c", "sock_init_data", 2364),
])
def test_functions_at_their_lines(facts, file, name, line):
    assert function(facts(file), name).line == line


def test_socket_syscall(facts):
    f = function(facts("net/socket.c"), "SyS_socket")
    assert f.macro == "SYSCALL_DEFINE3"
    assert [(p.name, p.type) for p in f.params] == [
        ("family", "int"), ("type", "int"), ("protocol", "int")]
    assert function(facts("net/socket.c"), "sys_socket").alias_of == "SyS_socket"


def test_ops_tables(facts):
    fam = initializer(facts("net/ipv4/af_inet.c"), "inet_family_ops")
    assert fam.line == 985
    assert ("create", "inet_create") in [(e.path, e.ref) for e in fam.entries]
    tcp = initializer(facts("net/ipv4/tcp_ipv4.c"), "tcp_prot")
    assert tcp.line == 2298
    assert [(e.line, e.ref) for e in tcp.entries if e.path == "init"] == [
        (2306, "tcp_v4_init_sock")]
    sockfs = initializer(facts("net/socket.c"), "sockfs_ops")
    assert sockfs.line == 304
    assert ("alloc_inode", "sock_alloc_inode") in [(e.path, e.ref) for e in sockfs.entries]


def test_inetsw_array(facts):
    arr = initializer(facts("net/ipv4/af_inet.c"), "inetsw_array")
    assert arr.line == 994
    first = {e.path: e for e in arr.entries if e.path.startswith("[0].")}
    assert first["[0].type"].ref == "SOCK_STREAM"
    assert (first["[0].prot"].ref, first["[0].prot"].address) == ("tcp_prot", True)
    assert first["[0].ops"].ref == "inet_stream_ops"


def test_struct_socket(facts):
    (sock,) = [s for s in facts("include/linux/net.h").structs if s.name == "socket"]
    assert sock.line == 110
    assert [(f.name, f.type) for f in sock.fields] == [
        ("state", "socket_state"), ("type", "short"), ("flags", "unsigned long"),
        ("wq", "struct socket_wq *"), ("file", "struct file *"), ("sk", "struct sock *"),
        ("ops", "const struct proto_ops *")]


def test_struct_sock_embeds_sock_common_and_aliases(facts):
    ff = facts("include/net/sock.h")
    (sk,) = [s for s in ff.structs if s.name == "sock"]
    assert (sk.first.name, sk.first.type) == ("__sk_common", "struct sock_common")
    assert ("sk_family", "__sk_common.skc_family") in [(a.name, a.target) for a in ff.aliases]


def test_indirect_calls(facts):
    calls = [c for c in facts("net/socket.c").calls
             if c.caller == "__sock_create" and c.kind == "field"]
    assert [(c.line, c.receiver, c.field) for c in calls] == [(1163, "pf", "create")]
    (alloc,) = [c for c in facts("fs/inode.c").calls if c.field == "alloc_inode"]
    assert (alloc.line, alloc.receiver, alloc.caller) == (198, "sb->s_op", "alloc_inode@fs/inode.c")


def test_registrations(facts):
    regs = {(r.registrar, r.table) for r in facts("net/ipv4/af_inet.c").registrations}
    assert {("sock_register", "inet_family_ops"), ("proto_register", "tcp_prot"),
            ("inet_register_protosw", "inetsw_array")} <= regs
    regs = {(r.registrar, r.table) for r in facts("net/socket.c").registrations}
    assert {("register_filesystem", "sock_fs_type"), ("kern_mount", "sock_fs_type")} <= regs


def test_constants(facts):
    files = ["include/linux/net.h", "include/uapi/linux/net.h", "include/linux/socket.h",
             "include/uapi/linux/in.h"]
    values = evaluate(c for f in files for c in facts(f).constants)
    assert (values["SOCK_STREAM"], values["PF_INET"], values["AF_INET"]) == (1, 2, 2)
    assert (values["SS_UNCONNECTED"], values["IPPROTO_TCP"]) == (1, 6)


def test_global_net_families(facts):
    (g,) = [g for g in facts("net/socket.c").globals if g.name == "net_families"]
    assert (g.line, g.type, g.array, g.static) == (
        163, "const struct net_proto_family *", "[NPROTO]", True)


CTAGS_DIRS = ("net/socket.c", "net/ipv4", "net/core", "net/unix", "fs/inode.c", "fs/namei.c")


def _ctags_functions(root, files: list[str]) -> set[tuple[str, str]]:
    import json
    import shutil
    import subprocess

    exe = shutil.which("ctags")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True) if exe else None
    if out is None or "Universal Ctags" not in out.stdout:
        unavailable("Universal Ctags (apt-get install universal-ctags)")
    tags = subprocess.run(
        [exe, "--languages=C", "--langmap=C:.c.h", "--c-kinds=f", "--output-format=json",
         "-f", "-", "-L", "-"], cwd=root, input="\n".join(files), capture_output=True,
        text=True, check=True).stdout
    return {(t["name"], t["path"]) for t in map(json.loads, tags.splitlines())
            if t.get("_type") == "tag"}


def test_function_coverage_against_ctags(kernel_cfg, facts):
    """At least 99.5% of the functions Universal Ctags finds (a macro-defined
    function counts under its macro's name, as ctags names it)."""
    root = kernel_cfg.kernel_dir
    files = sorted(str(p.relative_to(root)) for d in CTAGS_DIRS
                   for p in ((root / d).rglob("*.[ch]") if (root / d).is_dir() else [root / d]))
    theirs = _ctags_functions(root, files)
    ours = {(n, f.file) for rel in files for f in facts(rel).functions
            for n in (f.name, f.macro) if n}
    missing = theirs - ours
    assert len(theirs) > 3000, len(theirs)
    assert 1 - len(missing) / len(theirs) >= 0.995, sorted(missing)[:20]
