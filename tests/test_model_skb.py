"""The socket-buffer model (analyzer/model/skb.py, sizes.py, skb_report.py).

Unit tests on the scenario syntax, the byte-buffer pointers, sizeof on tiny C
snippets; integration tests (marked ``kernel``) run the kernel's own
skbuff.c/skbuff.h on the real tree, including one on a copy of the tree whose
skb_reserve was edited (the model's output must follow the source).
"""

from __future__ import annotations

import json
import re
import shutil

import pytest

from analyzer.errors import AnalyzerError
from analyzer.model.facts import facts_from_files
from analyzer.model.skb import (
    Buffer,
    BufPtr,
    SkbGenerator,
    merged_table,
    parse_op,
    parse_ops,
    run_skb,
    run_skb_with,
)
from analyzer.model.skb_report import bar, render

LECTURE = ["alloc_skb(1500)", "skb_reserve(66)", "skb_put(100)", "skb_push(20)",
           "skb_pull(20)"]


# --- the scenario syntax --------------------------------------------------------------

def test_parse_op_numbers_constants_and_labels():
    assert parse_op("skb_put(100)").args == (100,)
    assert parse_op(" skb_reserve( 0x42 ) ").args == (66,)
    assert parse_op("skb_queue_tail(sk_receive_queue, skb2)").args == ("sk_receive_queue",
                                                                       "skb2")
    assert parse_op("kfree_skb(sk_buff#3)").args == ("sk_buff#3",)
    assert parse_op("skb_headroom()").args == ()
    assert parse_op("socket(AF_INET, SOCK_STREAM, 0)").args == ("AF_INET", "SOCK_STREAM", 0)


@pytest.mark.parametrize("bad", ["skb_put", "skb_put(1+1)", "skb_put(__import__('os'))",
                                 "skb_put(\"x\")", "1(2)", "skb_put(100) ; rm"])
def test_parse_op_rejects_anything_else(bad):
    with pytest.raises(AnalyzerError, match="operation"):
        parse_op(bad)


def test_parse_ops_checks_names_and_order():
    with pytest.raises(AnalyzerError, match="unknown operation 'skb_frobnicate'"):
        parse_ops(["alloc_skb(10)", "skb_frobnicate(1)"])
    with pytest.raises(AnalyzerError, match="only come first"):
        parse_ops(["alloc_skb(10)", "socket(AF_INET, SOCK_STREAM, 0)"])
    with pytest.raises(AnalyzerError, match="needs operations"):
        parse_ops([])
    assert [o.name for o in parse_ops(LECTURE)] == ["alloc_skb", "skb_reserve", "skb_put",
                                                    "skb_push", "skb_pull"]


# --- pointers into a byte buffer ------------------------------------------------------

def test_bufptr_arithmetic_and_order():
    buf = Buffer("data#1", 64)
    head = BufPtr(buf, 0)
    data = head + 16
    assert data - head == 16 and (data - 6).off == 10 and (4 + head).off == 4
    assert head < data and data >= head and data == BufPtr(buf, 16)
    with pytest.raises(AnalyzerError, match="two buffers"):
        _ = data < BufPtr(Buffer("data#2", 8), 0)
    assert repr(data) == "data#1+16"


def test_bar_is_drawn_to_scale():
    from analyzer.model.skb import BufferState

    b = BufferState("s", "d", 128, 0, 32, 64, 96, 32, 0, 0, 1)
    assert bar(b, 16) == "|....####    ====|"


# --- sizeof on snippets ---------------------------------------------------------------

SNIPPET = """\
typedef unsigned int u32;
struct inner { char c; long l; };
struct a {
\tchar c;
\tint i;
\tunsigned f:3, g:6;
\tunion {
\t\tlong l;
\t\tchar b[12];
\t};
#ifdef CONFIG_NOT_SET
\tlong absent;
#endif
\tstruct inner in;
\tu32 tail[N];
\tstruct a *next;
};
#define N 3
"""


def test_sizeof_follows_the_abi(tmp_path):
    (tmp_path / "t.h").write_text(SNIPPET)
    facts = facts_from_files(tmp_path, ["t.h"])
    sizes = SkbGenerator(facts, merged_table(False)).sizes
    assert sizes.sizeof("struct inner") == 16
    # c@0 i@4 f,g in one int unit @8 | union(16, align 8) @16 | inner @32 | u32[3] @48 | ptr @64
    assert sizes.sizeof("struct a") == 72
    assert sizes.sizeof("u32 [4]") == 16


def test_members_hold_what_their_integer_type_can(tmp_path):
    (tmp_path / "t.h").write_text("typedef unsigned short __u16;\ntypedef __u16 u16;\n"
                                  "typedef signed char s8;\nenum e { A };\n")
    sizes = SkbGenerator(facts_from_files(tmp_path, ["t.h"]), merged_table(False)).sizes
    assert sizes.integer("u16") == (16, False) and sizes.integer("const s8") == (8, True)
    assert sizes.convert("u16", ~0) == 65535 and sizes.convert("__u16", 65536 + 7) == 7
    assert sizes.convert("s8", 255) == -1 and sizes.convert("enum e", 2**32 - 1) == -1
    assert sizes.convert("unsigned int", -1) == 2**32 - 1 and sizes.convert("bool", 4) == 1
    assert sizes.convert("struct x *", -1) == -1 and sizes.convert("no_such_t", -1) == -1


def test_conditions_see_the_abi_and_the_directives(tmp_path):
    (tmp_path / "t.h").write_text("#if BITS_PER_LONG > 32\n#define OFF 1\n#else\n"
                                  "#define OFF 2\n#endif\n#define N OFF\n")
    gen = SkbGenerator(facts_from_files(tmp_path, ["t.h"]), merged_table(False))
    assert gen.config("BITS_PER_LONG > 32") and gen.config("defined(CONFIG_SLUB)")
    assert gen.config("defined(BITS_PER_LONG)")  # asm-generic/bitsperlong.h, via [arch]
    assert gen.facts.constant("N") == 1  # the #else definition is dropped


# --- the real tree --------------------------------------------------------------------

@pytest.fixture(scope="module")
def lecture(store_cfg):
    return run_skb(LECTURE, store_cfg, write=False)


def _source_line(cfg, file: str, start: int, text: str) -> int:
    lines = (cfg.kernel_dir / file).read_text().splitlines()
    return next(i for i in range(start, len(lines) + 1) if text in lines[i - 1])


@pytest.mark.kernel
def test_lecture_scenario_offsets(lecture):
    states = [op.buffers[0] for op in lecture.ops]
    alloc, reserve, put, push, pull = states
    assert not lecture.error
    assert alloc.head == alloc.data == alloc.tail == 0 and alloc.len == 0
    # the data area is a kmalloc class; skb_shared_info sits after end
    assert alloc.size in (1024, 2048, 4096) and 1500 <= alloc.end < alloc.size
    assert (reserve.data, reserve.tail, reserve.len) == (66, 66, 0)
    assert (put.data, put.tail, put.len) == (66, 166, 100)
    assert (push.data, push.len, push.headroom) == (46, 120, 46)
    assert (pull.data, pull.len, pull.tailroom) == (66, 100, pull.end - 166)
    assert all(s.tail - s.data == s.len for s in states)
    assert lecture.ops[2].value == "data#1+66"  # skb_put returns the old tail


@pytest.mark.kernel
def test_sizes_come_from_the_definitions(lecture, store_cfg):
    from analyzer.model.facts import open_facts

    gen = SkbGenerator(open_facts(store_cfg.store_path, store_cfg.kernel_dir),
                       merged_table(False))
    page = merged_table(False)["arch"]["constants"]["PAGE_SIZE"]  # shared with the socket model
    # `#if (65536/PAGE_SIZE + 1) < 16` drops the 16UL definition on x86-64
    assert gen.facts.constant("MAX_SKB_FRAGS") == 65536 // page + 1
    shinfo = gen.sizes.sizeof("struct skb_shared_info")
    skb = gen.sizes.sizeof("struct sk_buff")
    assert shinfo % 8 == 0 and 200 < shinfo < 400
    assert 192 < skb <= 256  # 200 with the model's config (no XFRM, conntrack, XPS)
    alloc = lecture.ops[0].buffers[0]
    assert alloc.size - alloc.end == -(-shinfo // 64) * 64  # SKB_WITH_OVERHEAD
    assert alloc.truesize == alloc.end + -(-skb // 64) * 64 + -(-shinfo // 64) * 64


@pytest.mark.kernel
def test_unset_header_offsets_hold_the_all_ones_of_their_type(lecture, store_cfg):
    """``skb->mac_header = (typeof(skb->mac_header))~0U;`` in __alloc_skb: the
    member keeps what its declared type can hold (65535 for a __u16)."""
    from analyzer.model.facts import open_facts

    gen = SkbGenerator(open_facts(store_cfg.store_path, store_cfg.kernel_dir),
                       merged_table(False))
    skb = next(s for s in gen.facts.find("structs", "sk_buff") if s.file.endswith("skbuff.h"))
    for member in ("mac_header", "transport_header"):
        ctype = next(f.type for f in skb.fields if f.name == member)
        bits, signed = gen.sizes.integer(ctype)
        assert not signed
        shown = [w[3] for w in lecture.run.writes if w[1] == "sk_buff#1" and w[2] == member]
        assert shown and shown[0] == str(2**bits - 1), (member, shown)


@pytest.mark.kernel
def test_trace_cites_kernel_lines(lecture, store_cfg):
    calls = [s for s in lecture.run.steps if s.event == "call"]
    names = [s.function for s in calls]
    for fn in ("alloc_skb", "__alloc_skb", "skb_reserve", "skb_put", "skb_push", "skb_pull",
               "__skb_pull", "SKB_DATA_ALIGN", "skb_tail_pointer"):
        assert fn in names, fn
    put = next(s for s in calls if s.function == "skb_put")
    assert put.file == "net/core/skbuff.c"
    assert put.line == _source_line(store_cfg, put.file, 1, "unsigned char *skb_put(")


@pytest.mark.kernel
def test_over_and_under_panic_name_function_and_line(store_cfg):
    r = run_skb(["alloc_skb(1500)", "skb_reserve(66)", "skb_put(1700)"], store_cfg,
                write=False)
    start = _source_line(store_cfg, "net/core/skbuff.c", 1, "unsigned char *skb_put(")
    line = _source_line(store_cfg, "net/core/skbuff.c", start, "skb_over_panic(")
    assert re.search(rf"skb_over_panic: skb_put\(\) at net/core/skbuff.c:{line}\b", r.error)
    assert len(r.ops) == 3 and r.ops[-1].buffers[0].tail == 1766
    r = run_skb(["alloc_skb(100)", "skb_push(8)"], store_cfg, write=False)
    assert "skb_under_panic: skb_push()" in r.error


@pytest.mark.kernel
def test_queues_and_freeing(store_cfg):
    r = run_skb(["alloc_skb(100)", "skb_queue_head_init(q)", "skb_queue_tail(q)",
                 "alloc_skb(200)", "skb_queue_head(q)", "skb_queue_len(q)", "skb_peek(q)",
                 "skb_dequeue(q)", "kfree_skb()", "skb_queue_purge(q)"], store_cfg,
                write=False)
    q = {op.text: dict(op.queues)["q"] for op in r.ops if op.queues}
    assert q["skb_queue_tail(q)"] == ("sk_buff#1",)
    assert q["skb_queue_head(q)"] == ("sk_buff#2", "sk_buff#1")
    assert r.ops[5].value == "2" and r.ops[6].value == "&sk_buff#2"
    assert q["skb_dequeue(q)"] == ("sk_buff#1",)
    assert [b.freed for b in r.ops[8].buffers] == [False, True]
    assert q["skb_queue_purge(q)"] == () and all(b.freed for b in r.ops[-1].buffers)
    with pytest.raises(AnalyzerError, match="use after free"):
        run_skb(["alloc_skb(10)", "kfree_skb()", "skb_put(1)"], store_cfg, write=False)
    with pytest.raises(AnalyzerError, match="size is unsigned int in alloc_skb"):
        run_skb(["alloc_skb(-5)"], store_cfg, write=False)
    huge = run_skb(["alloc_skb(1000000000)"], store_cfg, write=False)
    assert huge.ops[0].value == "NULL" and not huge.ops[0].buffers  # kmalloc fails
    with pytest.raises(AnalyzerError, match="no current buffer"):
        run_skb(["alloc_skb(1000000000)", "skb_put(1)"], store_cfg, write=False)


@pytest.mark.kernel
def test_socket_queues_take_buffers(store_cfg):
    r = run_skb(["socket(AF_INET, SOCK_STREAM, 0)", "alloc_skb(1500)",
                 "skb_queue_tail(sk_receive_queue)", "alloc_skb(100)",
                 "skb_queue_tail(sk_write_queue)"], store_cfg, write=False)
    sock = r.socket["sock"]
    assert r.socket["type"] == "struct tcp_sock" and "socket" in r.socket["socket"]
    queues = dict(r.ops[-1].queues)
    assert queues[f"{sock}.sk_receive_queue"] == ("sk_buff#1",)
    assert queues[f"{sock}.sk_write_queue"] == ("sk_buff#2",)
    assert "sock_init_data" in r.run.functions()
    by = r.socket["initialised_by"]
    assert by[f"{sock}.sk_receive_queue"] == by[f"{sock}.sk_write_queue"] == "sock_init_data"


@pytest.mark.kernel
def test_cli_text_and_json(store_cfg, capsys, monkeypatch):
    from analyzer.cli import main

    monkeypatch.setenv("ANALYZER_HOME", str(store_cfg.home))
    assert main(["model", "skb", *LECTURE]) == 0
    out = capsys.readouterr().out
    assert "[3] skb_put(100) = data#1+66" in out and "head=0 data=66 tail=166" in out
    assert main(["model", "skb", *LECTURE, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ops"][3]["buffers"][0]["headroom"] == 46
    assert main(["model", "skb", "alloc_skb(1500)", "skb_put(x+1)"]) == 2
    assert "argument 'x+1'" in capsys.readouterr().err


SKB_FILES = ["include/linux/skbuff.h", "net/core/skbuff.c", "include/linux/types.h",
             "include/linux/ktime.h", "include/uapi/asm-generic/int-ll64.h",
             "include/asm-generic/int-ll64.h", "include/uapi/linux/types.h",
             "include/linux/rbtree.h", "include/linux/gfp.h", "include/linux/kernel.h",
             "include/uapi/linux/kernel.h", "include/linux/cache.h", "include/net/sock.h",
             "include/linux/spinlock_types.h", "include/linux/numa.h"]


@pytest.mark.kernel
def test_an_edited_source_changes_the_model(kernel_cfg, tmp_path):
    for rel in SKB_FILES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(kernel_cfg.kernel_dir / rel, tmp_path / rel)
    path = tmp_path / "include/linux/skbuff.h"
    text = path.read_text()
    edited = re.sub(r"(void skb_reserve\(struct sk_buff \*skb, int len\)\n\{\n"
                    r"\tskb->data \+= len;\n\tskb->tail \+= )len;", r"\g<1>2 * len;", text)
    assert edited != text
    path.write_text(edited)
    r = run_skb_with(facts_from_files(tmp_path, SKB_FILES),
                     parse_ops(["alloc_skb(1500)", "skb_reserve(66)"]))
    b = r.ops[1].buffers[0]
    assert (b.data, b.tail, b.len) == (66, 132, 0)
    assert "tail=132" in render(r)
