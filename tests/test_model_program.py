"""Programs of system calls (analyzer/model/program.py): the statement parser on
its own, and (marked ``kernel``) programs run on the real tree from the
kernel's own entries, checked from the run's final state."""

from __future__ import annotations

import pytest

from analyzer.errors import AnalyzerError
from analyzer.model.program import Arg, parse_program, parse_statement

TCP = ['fd = socket(AF_INET, SOCK_STREAM, 0)',
       'setsockopt(fd, SOL_SOCKET, SO_RCVBUF, 4096)',
       'bind(fd, "0.0.0.0", 8080)',
       'listen(fd, 128)',
       'fd2 = socket(AF_INET, SOCK_STREAM, 0)',
       'bind(fd2, "0.0.0.0", 8080)',
       'close(fd)']


def test_statement_binds_a_name_and_reads_numbers_strings_and_items():
    c = parse_statement('n = read(sv[1], 0x10);')
    assert (c.target, c.name, c.args) == ("n", "read", (Arg("item", "sv", 1), Arg("int", 16)))
    c = parse_statement('write(sv[0], "he\\"llo\\n", 7)')
    assert c.args[1] == Arg("str", 'he"llo\n')
    assert parse_statement("listen(fd, 128)").args == (Arg("name", "fd"), Arg("int", 128))


@pytest.mark.parametrize("text, where", [
    ("bind(fd, 0.0.0.0, 80)", "column 11"),
    ("listen(fd 128)", "column 11"),
    ("listen(fd, 128", "column 15"),
    ('write(fd, "a\\q", 1)', "column 13"),
    ("fd = ", "column 6"),
    ("listen(fd,)", "column 11"),
    ("listen(fd, 128) x", "column 17"),
    ("close(99999999999999999999999)", "out of range"),
])
def test_a_bad_statement_is_one_line_naming_it_and_the_column(text, where):
    with pytest.raises(AnalyzerError) as e:
        parse_statement(text)
    assert where in str(e.value) and "\n" not in str(e.value)
    assert repr(text)[1:12] in str(e.value)


def test_a_program_is_checked_against_the_table_before_it_runs():
    with pytest.raises(AnalyzerError, match="unknown system call 'frob'"):
        parse_program(["frob(1)"])
    with pytest.raises(AnalyzerError, match="bind takes"):
        parse_program(["bind(3, 8080)"])
    calls = parse_program("# a comment\nfd = socket(AF_INET, SOCK_DGRAM, 0)\n\nclose(fd)\n")
    assert [c.name for c in calls] == ["socket", "close"] and calls[1].line == 4
    with pytest.raises(AnalyzerError, match="needs statements"):
        parse_program("# nothing\n")


# --- on the real tree -------------------------------------------------------------------

@pytest.fixture(scope="module")
def tcp_life(store_cfg):
    from analyzer.model.program import run_program

    return run_program(TCP, store_cfg)


def _fields(snap: dict, label: str) -> dict:
    return dict(snap[label]["fields"])


def _sock(snap: dict, n: int) -> str:
    return f"tcp_sock#{n}.inet_conn.icsk_inet.sk"


@pytest.mark.kernel
def test_tcp_bind_listen_and_a_second_bind_run_from_the_source(tcp_life):
    p = tcp_life
    assert not p.error, p.error
    values = [s.value for s in p.statements]
    assert values[0] == "3" and values[2] == "0" and values[3] == "0"
    assert values[5].startswith("-98") or values[5] == "-98"  # -EADDRINUSE, from its checks
    funcs = p.run.functions()
    for name in ("SyS_bind", "inet_bind", "inet_csk_get_port", "inet_bind_bucket_create",
                 "SyS_listen", "inet_listen", "inet_csk_listen_start", "inet_hash",
                 "SyS_close", "sock_close", "sock_release", "inet_release", "tcp_close"):
        assert name in funcs, name
    # the state after listen (the last step of statement 4)
    snap = p.run.snapshot(p.statements[3].last_step)
    inet = _fields(snap, "tcp_sock#1.inet_conn.icsk_inet")
    common = _fields(snap, "tcp_sock#1.inet_conn.icsk_inet.sk.__sk_common")
    assert common["skc_num"] == "8080"  # inet_num
    assert inet["inet_sport"] == str(int.from_bytes((8080).to_bytes(2, "big"), "little"))
    sk = _fields(snap, "tcp_sock#1.inet_conn.icsk_inet.sk")
    assert sk["sk_max_ack_backlog"] == "128"
    assert common["skc_state"].startswith("TCP_LISTEN")
    assert sk["sk_rcvbuf"] == "8192"  # SO_RCVBUF doubles the value (sock_setsockopt)
    buckets = [lb for lb, o in snap.items() if o["type"] == "struct inet_bind_bucket"]
    assert len(buckets) == 1
    bucket = dict(snap[buckets[0]]["fields"])
    assert bucket["port"] == "8080"


@pytest.mark.kernel
def test_close_releases_the_sock_down_to_tcp_close(tcp_life):
    p = tcp_life
    close = p.statements[-1]
    steps = p.run.steps[close.first_step - 1:close.last_step]
    called = [s.function for s in steps if s.event == "call"]
    assert called.index("sock_close") < called.index("inet_release") < called.index("tcp_close")
    final = p.run.snapshot()
    sk = _fields(final, "tcp_sock#1.inet_conn.icsk_inet.sk.__sk_common")
    assert sk["skc_state"].startswith("TCP_CLOSE")
    assert _fields(final, "socket_alloc#14.socket").get("sk", "NULL") == "NULL"


@pytest.mark.kernel
def test_statements_go_through_user_memory(tcp_life):
    bind = tcp_life.statements[2]
    assert [label for label, _ in bind.memory] == ["user:sockaddr_in#1"]
    final = tcp_life.run.snapshot()
    sa = _fields(final, "user:sockaddr_in#1")
    assert sa["sin_family"].startswith("AF_INET") and sa["sin_port"] == str(0x901F)


@pytest.mark.kernel
def test_the_cli_runs_a_program_file(store_cfg, tmp_path, capsys):
    from analyzer.cli import main

    prog = tmp_path / "p.txt"
    prog.write_text("fd = socket(AF_INET, SOCK_DGRAM, 0)\nlisten(fd, 5)\n")
    assert main(["model", "run", "--file", str(prog)]) == 0
    out = capsys.readouterr().out
    assert "SyS_listen" in out and "names: fd = 3" in out
    assert "-EOPNOTSUPP" in out or "-95" in out


UNIX = ['sv = socketpair(AF_UNIX, SOCK_STREAM, 0)', 'write(sv[0], "hello", 5)',
        'n = read(sv[1], 16)']


@pytest.fixture(scope="module")
def unix_pair(store_cfg):
    from analyzer.model.program import run_program

    return run_program(UNIX, store_cfg)


@pytest.mark.kernel
def test_hello_travels_through_one_sk_buff_of_a_unix_pair(unix_pair):
    p = unix_pair
    assert not p.error, p.error
    assert p.names["sv"] == "[3, 4]" and p.names["n"] == "5"
    write, read = p.statements[1], p.statements[2]
    assert write.value == "5" and read.value == "5"
    assert dict(read.memory)["user:char#2"] == '"hello"'  # the bytes themselves
    funcs = p.run.functions()
    for name in ("SyS_socketpair", "unix_socketpair", "SyS_write", "sock_write_iter",
                 "unix_stream_sendmsg", "sock_alloc_send_pskb", "skb_copy_datagram_from_iter",
                 "skb_queue_tail", "SyS_read", "unix_stream_recvmsg", "consume_skb"):
        assert name in funcs, name
    after_write = p.run.snapshot(write.last_step)
    skbs = [lb for lb, o in after_write.items() if o["type"] == "struct sk_buff"]
    assert len(skbs) == 1
    skb = _fields(after_write, skbs[0])
    assert skb["len"] == "5" and skb["tail"] == "5"
    queues = {lb: _fields(after_write, lb) for lb in after_write
              if lb.startswith("unix_sock#") and lb.endswith(".sk.sk_receive_queue")}
    assert sorted(q["qlen"] for q in queues.values()) == ["0", "1"]
    receiver = next(lb for lb, q in queues.items() if q["qlen"] == "1")
    final = p.run.snapshot()
    assert _fields(final, receiver)["qlen"] == "0"
    # the sender's sk_wmem_alloc holds the buffer's truesize until read frees it
    before, after_read = p.run.snapshot(p.statements[0].last_step), final
    wmem = [lb for lb in after_write if lb.startswith("unix_sock#")
            and lb.endswith(".sk.sk_wmem_alloc")
            and _fields(after_write, lb)["counter"] != _fields(before, lb)["counter"]]
    assert len(wmem) == 1
    assert int(_fields(after_write, wmem[0])["counter"]) == 1 + int(skb["truesize"])
    assert _fields(after_read, wmem[0])["counter"] == "1"


@pytest.mark.kernel
def test_no_hand_written_values_in_a_program(store_cfg, tmp_path):
    """Change a statement of inet_listen in a copy of the sources; the program's
    state follows."""
    import shutil

    from analyzer.model.facts import open_facts
    from analyzer.model.kconfig import KernelConfig
    from analyzer.model.program import parse_program, run_program, run_program_with
    from analyzer.model.skb import SkbGenerator, merged_table
    from analyzer.pipeline import extract_tree

    prog = TCP[:4]
    facts = open_facts(store_cfg.store_path, store_cfg.kernel_dir)
    gen = SkbGenerator(facts, merged_table(True), KernelConfig.load(store_cfg))
    run_program_with(gen, parse_program(prog))  # boots here: every file read is known
    cfg = store_cfg.with_home(tmp_path)
    build_files = {str(f.relative_to(store_cfg.kernel_dir))
                   for f in store_cfg.kernel_dir.rglob("*")
                   if f.is_file() and (f.name.startswith("Kconfig") or f.name in (
                       "Makefile", "Kbuild"))}  # the configuration reads them
    for rel in facts.files_read() | set(gen.files) | build_files:
        (cfg.kernel_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(store_cfg.kernel_dir / rel, cfg.kernel_dir / rel)
    path = cfg.kernel_dir / "net/ipv4/af_inet.c"
    text = path.read_text()
    old = "sk->sk_max_ack_backlog = backlog;"
    assert old in text
    path.write_text(text.replace(old, "sk->sk_max_ack_backlog = backlog / 2;", 1))
    path = cfg.kernel_dir / "net/ipv4/inet_connection_sock.c"
    text = path.read_text()
    old = "\tsk->sk_ack_backlog = 0;\n\tinet_csk_delack_init(sk);"  # inet_csk_listen_start
    assert text.count(old) == 1
    path.write_text(text.replace(old, "\tsk->sk_ack_backlog = 3;\n\tinet_csk_delack_init(sk);"))
    extract_tree(cfg, jobs=2, progress=False)
    p = run_program(prog, cfg)
    assert not p.error, p.error
    sk = _fields(p.run.snapshot(), "tcp_sock#1.inet_conn.icsk_inet.sk")
    assert sk["sk_max_ack_backlog"] == "64" and sk["sk_ack_backlog"] == "3"


def test_a_name_no_statement_bound_is_refused_before_the_run():
    from analyzer.model.program import check_names

    calls = parse_program(["fd = socket(AF_INET, SOCK_STREAM, 0)", "close(fd)", "close(sv[0])"])
    constants = {"AF_INET": 2, "SOCK_STREAM": 1}.get
    with pytest.raises(AnalyzerError, match="statement 'close\\(sv\\[0\\]\\)': 'sv' is neither"):
        check_names(calls, constants)
    check_names(calls[:2], constants)


# --- the translator's constructs the programs needed, on tiny C snippets -----------------

def _run_c(tmp_path, text: str, x: int):
    import copy

    from analyzer.model import run_with
    from analyzer.model.facts import facts_from_files
    from analyzer.model.generate import Generator, table

    (tmp_path / "t.c").write_text(text)
    facts = facts_from_files(tmp_path, ["t.c"])
    data = copy.deepcopy(table())
    data["boot"] = {"entries": [], "follow": []}
    data["scenarios"] = {"t": {"entry": "entry", "params": ["x"]}}
    return run_with(facts, "t", [x], generator=Generator(facts, data))


LOOP = """
int entry(int x)
{
	int n = 0, seen = 0;
	do {
		if (x == n)
			goto skip;
		seen += 10;
		if (n == 3)
			break;
	skip:
		n++;
	} while (n < 6);
	return seen + n + (x ?: 100);
}
"""


@pytest.mark.parametrize("x, result", [(1, 30 + 3 + 1), (0, 30 + 3 + 100), (9, 40 + 3 + 9)])
def test_break_out_of_a_loop_body_with_labels_and_gnu_elvis(tmp_path, x, result):
    assert _run_c(tmp_path, LOOP, x).result == str(result)


SWITCH = """
#define FEATURE 1
int entry(int x)
{
	int r = 0;
	switch (x) {
	case 1:
		r = 1;
#ifdef FEATURE
		r += 10;
#endif
		r += 100;
		break;
#ifdef FEATURE
	case 2:
		r = 2;
		break;
#endif
#ifdef MISSING
	case 3:
		r = 3;
		break;
#endif
	default:
		r = -1;
	}
	return r;
}
"""


@pytest.mark.parametrize("x, result", [(1, 111), (2, 2), (3, -1)])
def test_switch_cases_inside_ifdef_and_statements_an_ifdef_cut_from_their_case(tmp_path, x,
                                                                              result):
    assert _run_c(tmp_path, SWITCH, x).result == str(result)


def test_an_if_on_a_tree_define_takes_its_value():
    from analyzer.model.cpp import Conditions

    c = Conditions({}, tree_value={"__UAPI_DEF_SOCKADDR_IN": 1, "OFF": 0}.get)
    assert c("__UAPI_DEF_SOCKADDR_IN") and not c("OFF") and not c("UNDEFINED")


@pytest.mark.kernel
def test_udp_and_a_unix_abstract_name_bind_listen_and_close(store_cfg):
    from analyzer.model.program import run_program

    p = run_program(['u = socket(AF_INET, SOCK_DGRAM, 0)', 'bind(u, "0.0.0.0", 5353)',
                     'listen(u, 5)', 'close(u)', 'x = socket(AF_UNIX, SOCK_STREAM, 0)',
                     'bind(x, "@demo")', 'listen(x, 8)', 'close(x)'], store_cfg)
    assert not p.error, p.error
    assert [s.value for s in p.statements] == ["3", "0", "-95", "0", "3", "0", "0", "0"]
    funcs = p.run.functions()
    for name in ("udp_v4_get_port", "sock_no_listen", "udp_lib_close", "unix_bind",
                 "unix_listen", "unix_release_sock"):
        assert name in funcs, name
    addr = _fields(p.run.snapshot(), "unix_address#1")
    # the length bind was given: offsetof(struct sockaddr_un, sun_path) + "\0demo"
    assert addr["len"] == "7"
    path = _fields(p.run.snapshot(), "unix_address#1.name[0].sun_path")
    assert bytes(int(path.get(f"[{i}]", "0")) for i in range(5)) == b"\0demo"
    assert not p.run.assumptions or all("unix_socket_table" in a.choice
                                        for a in p.run.assumptions)


@pytest.mark.kernel
def test_a_second_bind_of_an_abstract_name_is_eaddrinuse(store_cfg):
    from analyzer.model.program import run_program

    p = run_program(['x = socket(AF_UNIX, SOCK_STREAM, 0)', 'bind(x, "@sock")',
                     'y = socket(AF_UNIX, SOCK_STREAM, 0)', 'bind(y, "@sock")',
                     'bind(y, "@other")'], store_cfg)
    assert not p.error, p.error
    assert [s.value for s in p.statements][3:] == ["-98", "0"]  # from memcmp of the names
    assert "__unix_find_socket_byname" in p.run.functions()
    shown = dict(p.statements[1].memory)["user:sockaddr_un#1"]
    assert shown.startswith("{sun_family = AF_UNIX") and '"\\x00sock"' in shown


@pytest.mark.kernel
def test_options_read_back_and_a_closed_fd_is_ebadf(store_cfg):
    from analyzer.model.program import run_program

    p = run_program(["fd = socket(AF_INET, SOCK_STREAM, 0)",
                     "setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, 1)",
                     "d = getsockopt(fd, IPPROTO_TCP, TCP_NODELAY)",
                     "r = getsockopt(fd, SOL_SOCKET, SO_RCVBUF)",
                     "setsockopt(fd, SOL_SOCKET, SO_RCVBUF, 4096)",
                     "r2 = getsockopt(fd, SOL_SOCKET, SO_RCVBUF)",
                     "setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1)",
                     "shutdown(fd, SHUT_RDWR)", "close(fd)", "close(fd)",
                     'write(fd, "x", 1)'], store_cfg)
    assert not p.error, p.error
    assert [s.value for s in p.statements][7:] == ["-107", "0", "-9", "-9"]  # -ENOTCONN, -EBADF
    assert (p.names["d"], p.names["r"], p.names["r2"]) == ("1", "87380", "8192")
    funcs = p.run.functions()
    for name in ("tcp_setsockopt", "do_tcp_setsockopt", "tcp_getsockopt", "sock_getsockopt",
                 "inet_shutdown", "__close_fd"):
        assert name in funcs, name
    snap = p.run.snapshot(p.statements[6].last_step)
    assert _fields(snap, "tcp_sock#1")["nonagle"].startswith("TCP_NAGLE_OFF")
    common = _fields(snap, "tcp_sock#1.inet_conn.icsk_inet.sk.__sk_common")
    assert common["skc_reuse"].startswith("SK_CAN_REUSE")
    assert not p.run.assumptions


@pytest.mark.kernel
@pytest.mark.parametrize("kind", ["SOCK_DGRAM", "SOCK_STREAM"])
def test_sendmsg_and_recvmsg_move_the_bytes_through_a_unix_pair(store_cfg, kind):
    from analyzer.model.program import run_program

    p = run_program([f"sv = socketpair(AF_UNIX, {kind}, 0)", 'sendmsg(sv[0], "hello", 5)',
                     "n = recvmsg(sv[1], 16)"], store_cfg)
    assert not p.error, p.error
    send, recv = p.statements[1], p.statements[2]
    assert send.value == "5" and recv.value == "5" and p.names["n"] == "5"
    assert dict(recv.memory)["user:char#2"] == '"hello"'
    sendmsg = "unix_dgram_sendmsg" if kind == "SOCK_DGRAM" else "unix_stream_sendmsg"
    for name in ("SyS_sendmsg", "___sys_sendmsg", "copy_msghdr_from_user", sendmsg,
                 "sock_alloc_send_pskb", "SyS_recvmsg", "___sys_recvmsg"):
        assert name in p.run.functions(), name
    after = p.run.snapshot(send.last_step)
    skbs = [lb for lb, o in after.items() if o["type"] == "struct sk_buff"]
    assert len(skbs) == 1 and _fields(after, skbs[0])["len"] == "5"


@pytest.mark.kernel
def test_model_socket_is_the_one_statement_program(store_cfg):
    """``model socket AF_INET SOCK_STREAM 0`` and the program
    ``socket(AF_INET, SOCK_STREAM, 0)`` run the same calls and leave the same values."""
    from analyzer.model import run
    from analyzer.model.program import run_program

    one = run("socket", "AF_INET", "SOCK_STREAM", "0", cfg=store_cfg, write=False)
    prog = run_program(["socket(AF_INET, SOCK_STREAM, 0)"], store_cfg)
    calls = [[s.function for s in r.steps if s.event == "call"] for r in (one, prog.run)]
    assert calls[0] == calls[1] and prog.statements[0].value == one.result == "3"
    a, b = one.snapshot(own=True), prog.run.snapshot(own=True)
    blank = {"0", "NULL", "{...}", "[...]"}
    for label in set(a) | set(b):
        x, y = dict(a.get(label, {}).get("fields", [])), dict(b.get(label, {}).get("fields", []))
        for name in set(x) | set(y):  # a member only one run touched holds its zero
            assert x.get(name, "0") == y.get(name, "0") or {x.get(name, "0"),
                                                             y.get(name, "0")} <= blank, \
                (label, name)


@pytest.mark.kernel
def test_what_lies_outside_the_tree_is_said_beside_the_value(store_cfg):
    """connect over TCP needs a route, and routes need a network device
    (drivers/, outside the analysed tree): the value is the kernel's
    (-ENETUNREACH from fib_lookup), and the statement says what is missing."""
    from analyzer.model.program import run_program

    p = run_program(['fd = socket(AF_INET, SOCK_STREAM, 0)', 'connect(fd, "127.0.0.1", 8080)',
                     'x = socket(AF_UNIX, SOCK_STREAM, 0)', 'connect(x, "@nobody")',
                     'l = socket(AF_UNIX, SOCK_STREAM, 0)', 'bind(l, "@srv")', 'listen(l, 4)',
                     'c = socket(AF_UNIX, SOCK_STREAM, 0)', 'connect(c, "@srv")'], store_cfg)
    assert not p.error, p.error
    connect = p.statements[1]
    assert connect.value == "-101" and "fib_lookup" in p.run.functions()
    assert len(connect.limits) == 1 and "drivers/net/loopback.c" in connect.limits[0]
    assert p.statements[1].to_json()["limits"] == list(connect.limits)
    assert [s.value for s in p.statements[3:]] == ["-111", "5", "0", "0", "6", "0"]
    assert not any(s.limits for s in p.statements[2:])  # UNIX sockets need no device


def test_the_stack_shows_a_caller_local_its_callee_wrote_through_a_pointer(tmp_path):
    """The debugger's stack: an outer frame's view is reused while it waits for
    its callee, except for its address-taken locals, which the callee may write."""
    r = _run_c(tmp_path, """
int setp(int *p)
{
	*p = 7;
	return 0;
}
int entry(int x)
{
	int v = x;
	int w = x + 1;
	setp(&v);
	return v + w;
}
""", 1)
    assert r.result == "9"
    at_return = [e for e in r.lines if e.function == "setp" and e.line == 5]
    assert at_return and dict((lc.name, lc.value) for lc in at_return[0].stack[0].locals) \
        == {"x": "1", "v": "7", "w": "2"}


def test_an_unknown_index_into_a_full_table_takes_one_of_its_slots(tmp_path):
    """A hash of a random number into a table whose every slot was set up: one
    of its slots, as it was set up (an assumption, counted), not a blank one."""
    r = _run_c(tmp_path, """
int table[4];
unsigned int prandom_u32(void);
int entry(int x)
{
	int i;
	for (i = 0; i < 4; i++)
		table[i] = 10 + i;
	return table[prandom_u32() & 3] + x;
}
""", 1)
    assert r.result == "11"  # slot 0, as the loop set it
    assert len(r.assumptions) == 1 and "every one of its 4 slots" in r.assumptions[0].choice
