"""What a default-configured Linux 4.4.1 holds after socket(), checked on the
real tree: the values come from the model's run of the kernel's own boot
(initcalls, per-namespace init, tcp_init) and of socket(); the expectations
here are what the 4.4.1 sources give (cited beside each)."""

from __future__ import annotations

import re

import pytest

from analyzer.errors import AnalyzerError
from analyzer.model import open_generator, run, run_with
from analyzer.model.generate import table

pytestmark = pytest.mark.kernel

# include/net/sock.h: SK_WMEM_MAX = SK_RMEM_MAX = SKB_TRUESIZE(256) * 256 = 832 * 256;
# net/ipv4/tcp.c tcp_init(): sysctl_tcp_wmem[1] = 16*1024, sysctl_tcp_rmem[1] = 87380
DEFAULT_BUF = 212992
TCP_SND, TCP_RCV = 16384, 87380


@pytest.fixture(scope="module")
def gen(store_cfg):
    return open_generator(store_cfg)


def _run(gen, *args, **kw):
    return run_with(gen.facts, "socket", list(args), generator=gen, **kw)


def _own(r, ctype: str) -> dict:
    return next(dict(v["fields"]) for v in r.snapshot(own=True).values() if v["type"] == ctype)


@pytest.mark.parametrize("args", table()["scenarios"]["socket"]["examples"])
def test_every_example_decides_on_computed_values_only(gen, args):
    r = _run(gen, *args)
    assert r.assumptions == [], [a.note for a in r.assumptions]
    unknown = [(k, f, v) for k, o in r.snapshot(own=True).items() for f, v in o["fields"]
               if str(v).startswith("?")]
    assert unknown == []  # every field of what socket() made is a computed value
    # the boot's own (initcalls outside socket()'s path that need drivers/, sysfs ...)
    # are listed, each with the line it was taken at
    assert all(re.match(r"[\w./-]+:\d+: ", a) for a in r.boot_report.assumptions)


@pytest.mark.parametrize("args, snd, rcv", [
    (("AF_INET", "SOCK_STREAM", "0"), TCP_SND, TCP_RCV),
    (("AF_INET6", "SOCK_STREAM", "0"), TCP_SND, TCP_RCV),
    (("AF_INET", "SOCK_DGRAM", "0"), DEFAULT_BUF, DEFAULT_BUF),
    (("AF_UNIX", "SOCK_STREAM", "0"), DEFAULT_BUF, DEFAULT_BUF),
])
def test_buffer_sizes_are_the_booted_defaults(gen, args, snd, rcv):
    sk = _own(_run(gen, *args), "struct sock")
    assert (sk["sk_sndbuf"], sk["sk_rcvbuf"]) == (str(snd), str(rcv))


def test_tcp_has_its_default_congestion_control_and_no_ecn_tos(gen):
    """tcp_init registers reno, tcp_congestion_default (late_initcall) makes cubic
    (CONFIG_DEFAULT_TCP_CONG) the default; tcp_init_sock leaves tos 0."""
    r = _run(gen, "AF_INET", "SOCK_STREAM", "0")
    assert _own(r, "struct inet_connection_sock")["icsk_ca_ops"] == "&cubictcp"
    assert _own(r, "struct inet_sock")["tos"] == "0"


def test_ping_socket_follows_the_namespace_sysctl(gen, store_cfg):
    """inet_init_net sets ping_group_range to "1 0" (nobody): -EACCES; writing
    the sysctl through ipv4_ping_group_range's own parser lets root in."""
    eacces = gen.facts.constant("EACCES")
    denied = _run(gen, "AF_INET", "SOCK_DGRAM", "IPPROTO_ICMP")
    assert denied.result == str(-eacces)
    assert "sk_common_release" in denied.functions()
    allowed = run("socket", "AF_INET", "SOCK_DGRAM", "IPPROTO_ICMP", cfg=store_cfg,
                  write=False, sysctls=["net.ipv4.ping_group_range=0 2147483647"])
    assert allowed.result == "3" and not allowed.assumptions
    assert "ipv4_ping_group_range" in allowed.functions()
    assert "proc_dointvec_minmax" in allowed.functions()


def test_raw_socket_needs_cap_net_raw(store_cfg, gen):
    """inet_create: SOCK_RAW without CAP_NET_RAW is -EPERM (cap_capable of
    security/commoncap.c decides from the caller's credentials)."""
    r = run("socket", "AF_INET", "SOCK_RAW", "IPPROTO_ICMP", cfg=store_cfg, write=False,
            user="1000:1000")
    assert r.result == str(-gen.facts.constant("EPERM"))
    root = run("socket", "AF_INET", "SOCK_RAW", "IPPROTO_ICMP", cfg=store_cfg, write=False)
    assert root.result == "3"


@pytest.mark.parametrize("setting, message", [
    ("net.ipv4.nope=1", "no such sysctl registered by the boot"),
    ("no-equals-sign", "expected NAME=VALUE"),
])
def test_bad_sysctls_are_one_clear_error(store_cfg, setting, message):
    with pytest.raises(AnalyzerError, match=message):
        run("socket", "AF_INET", "SOCK_STREAM", "0", cfg=store_cfg, write=False,
            sysctls=[setting])


def test_boot_runs_initcalls_in_level_order_with_reasons_for_the_rest(gen):
    _, report = gen.booted()
    from analyzer.model.spec import load_table

    levels = ["start_kernel"] + [lv["name"] for lv in load_table("initcalls.toml")["level"]]
    order = [levels.index(e.call.level) for e in report.entries]
    assert order == sorted(order)
    assert all(e.reason for e in report.skipped)  # each skip says why
    pernet = {e.call.function for e in report.entries}
    assert {"sock_init", "inet_init", "af_unix_init", "tcp_congestion_default"} <= pernet


def test_config_lists_what_the_model_read(store_cfg, capsys):
    from analyzer.cli import main

    assert main(["model", "config", "--json"]) == 0
    import json

    data = json.loads(capsys.readouterr().out)
    names = {o["option"]: o for o in data["options"]}
    assert names["CONFIG_INET"]["value"] == "y" and names["CONFIG_INET"]["source"]


def test_arguments_take_the_type_of_the_entrys_parameters(gen):
    """SYSCALL_DEFINE3(socket, int, family, int, type, ...): 4294967297 is 1 as an int."""
    r = _run(gen, "AF_INET", "4294967297", "0")
    assert r.result == "3"
    assert _own(r, "struct socket")["type"] in ("1", "SOCK_STREAM (1)")


def test_values_show_the_names_the_source_wrote(gen):
    r = _run(gen, "AF_INET", "SOCK_STREAM", "0")
    inode = next(dict(v["fields"]) for k, v in r.snapshot(own=True).items()
                 if k.endswith(".vfs_inode"))
    assert inode["i_mode"] == "S_IFSOCK | S_IRWXUGO (49663)"  # net/socket.c:549
    file = _own(r, "struct file")
    assert file["f_mode"].startswith("FMODE_READ | FMODE_WRITE | ")
    # no field of the objects socket() made is an unknown
    unknown = [(k, f, v) for k, o in r.snapshot(own=True).items() for f, v in o["fields"]
               if str(v).startswith("?")]
    assert unknown == []
