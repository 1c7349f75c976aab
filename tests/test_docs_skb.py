"""The socket-buffer pages (analyzer/docs/skb.py): the YAML, the field groups,
the SVG diagrams to scale, the pages on small records and a fake run; and, on
the real tree (``kernel``), the section generated from the store and the model."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from analyzer.docs.facts import MemoryFacts
from analyzer.docs.skb import (
    Group,
    buffer_svg,
    group_fields,
    load_skb_tour,
    parse_skb_tour,
    queue_svg,
    skb_pages,
    source_blocks,
)
from analyzer.errors import AnalyzerError
from analyzer.model.skb import BufferState, OpResult
from analyzer.records import Field, Function, Struct

HEAD_SRC = """\
struct sk_buff_head {
\t/* These two members must be first. */
\tstruct sk_buff\t*next;
\tstruct sk_buff\t*prev;

\t__u32\t\tqlen;
\tspinlock_t\tlock;
};
static inline void skb_reserve(struct sk_buff *skb, int len)
{
\tskb->data += len;
\tskb->tail += len;
}
"""
HEAD = Struct("sk_buff_head", "struct", "x.h", 1, 7, (
    Field("next", "struct sk_buff *", 3), Field("prev", "struct sk_buff *", 4),
    Field("qlen", "__u32", 6), Field("lock", "spinlock_t", 7)))
RESERVE = Function("skb_reserve", "x.h", 8, 12, "void", inline=True, header=True)


def _buf(label="sk_buff#1", data=66, tail=166, end=1728, size=2048, queue="", freed=False):
    return BufferState(label, "data#1", size, 0, data, tail, end, tail - data, 0, 2304, 1,
                       freed, queue)


def test_yaml_errors_name_the_page():
    with pytest.raises(AnalyzerError, match="expected `scenarios:` and `pages:`"):
        parse_skb_tour({"x": 1})
    with pytest.raises(AnalyzerError, match=r"page 1 \(p\): needs id, title and kind"):
        parse_skb_tour({"pages": [{"id": "p", "kind": "nope"}]})
    with pytest.raises(AnalyzerError, match="unknown scenario 'gone'"):
        parse_skb_tour({"pages": [{"id": "p", "kind": "functions", "scenario": "gone"}]})


def test_the_site_yaml_loads(tmp_path):
    from analyzer.config import Config

    tour = load_skb_tour(Config.default().site_dir / "skb.yaml")
    kinds = [p.kind for p in tour.pages]
    assert kinds.count("struct") == 2 and "relation" in kinds
    assert tour.scenarios["socket"][0].startswith("socket(")


def test_groups_come_from_names_and_types():
    groups = (Group("연결", "List linkage", type=r"^struct sk_buff \*$"),
              Group("길이", "Lengths", name="len$"))
    got = group_fields(HEAD, groups)
    assert [(g.en if g else None, [f.name for f in fs]) for g, fs in got] == [
        ("List linkage", ["next", "prev"]), ("Lengths", ["qlen"]), (None, ["lock"])]
    assert Group("a", "b", type="^struct {self} \\*$").matches(HEAD.fields[0], "sk_buff")
    assert not Group("a", "b").matches(HEAD.fields[0], "sk_buff")


def test_source_blocks_split_at_blank_lines_and_keep_comments():
    src = HEAD_SRC.splitlines()[:7]
    blocks = source_blocks(list(HEAD.fields), src, 1)
    assert [(c, [f.name for f in fs]) for c, fs in blocks] == [
        ("These two members must be first.", ["next", "prev"]), ("", ["qlen", "lock"])]


def test_buffer_svg_is_to_scale_and_escaped():
    svg = buffer_svg(_buf(), "<b>&")
    widths = {m.group(1): float(m.group(2)) for m in re.finditer(
        r'class="node seg-(\w+)"><rect x="[\d.]+" y="[\d.]+" width="([\d.]+)"', svg)}
    scale = 720 / 2048
    assert widths == pytest.approx({"headroom": 66 * scale, "data": 100 * scale,
                                    "tailroom": 1562 * scale, "shinfo": 320 * scale}, abs=0.06)
    assert "<title>&lt;b&gt;&amp;</title>" in svg
    assert all(f">{n} {o}<" in svg for n, o in (("head", 0), ("data", 66), ("tail", 166),
                                              ("end", 1728)))
    assert "headroom 66 · len 100 · tailroom 1562" in svg


def test_empty_segments_are_not_drawn():
    svg = buffer_svg(_buf(data=0, tail=0), "fresh")
    assert "seg-headroom" not in svg and "seg-data" not in svg and "seg-tailroom" in svg


def test_queue_svg_draws_each_buffer_in_order():
    svg = queue_svg([("tcp_sock#1.sk_receive_queue", ("sk_buff#1", "sk_buff#2")),
                     ("tcp_sock#1.sk_write_queue", ())],
                    [_buf(), _buf("sk_buff#2", 0, 40)], "q")
    assert svg.count('class="node queued-skb"') == 2 and svg.count("queue-head") == 2
    assert svg.index("sk_buff#1 len 100") < svg.index("sk_buff#2 len 40")
    assert "sk_receive_queue (qlen 2)" in svg and "sk_write_queue (qlen 0)" in svg


def _fake_run():
    steps = [SimpleNamespace(n=1, event="call", function="alloc_skb", depth=0),
             SimpleNamespace(n=2, event="call", function="skb_reserve", depth=0),
             SimpleNamespace(n=3, event="return", function="skb_reserve", depth=0)]
    ops = [OpResult(1, "alloc_skb(1500)", "alloc_skb", 1, 1, "&sk_buff#1",
                    (_buf(data=0, tail=0),)),
           OpResult(2, "skb_reserve(66)", "skb_reserve", 2, 3, "NULL",
                    (_buf(data=66, tail=66),))]
    return SimpleNamespace(ops=ops, run=SimpleNamespace(steps=steps), error="", socket={})


def test_pages_show_code_lines_and_diagrams():
    tour = parse_skb_tour({
        "scenarios": {"b": ["alloc_skb(1500)", "skb_reserve(66)"]},
        "pages": [{"id": "head", "title": "struct sk_buff_head", "kind": "struct",
                   "struct": "sk_buff_head", "groups": [{"ko": "연결", "en": "Linkage",
                                                         "type": "^struct sk_buff \\*$"}]},
                  {"id": "data", "title": "Data", "kind": "functions", "scenario": "b",
                   "functions": ["skb_reserve", "skb_gone"],
                   "notes": [{"ko": "<script>", "en": "x"}]}]})
    facts = MemoryFacts(records=[HEAD, RESERVE], sources={"x.h": HEAD_SRC})
    pages, nav = skb_pages(tour, facts, {"b": _fake_run()})
    assert nav == [{"struct sk_buff_head": "generated/skb/head.md"},
                   {"Data": "generated/skb/data.md"}]
    head = pages["generated/skb/head.md"]
    assert "## Linkage (연결)" in head and 'linenums="1"' in head
    data = pages["generated/skb/data.md"]
    assert 'linenums="8"' in data and "skb->tail += len;" in data
    assert data.count('class="diagram skb-buffer"') == 1  # after skb_reserve(66) only
    assert "step 2 of the model" in data and "<script>" not in data
    assert "skb&#95;gone is not in the analysis" in data


def test_a_scenario_that_failed_is_shown():
    tour = parse_skb_tour({"scenarios": {"s": ["socket(AF_INET, SOCK_STREAM, 0)"]},
                           "pages": [{"id": "r", "kind": "relation", "scenario": "s"}]})
    pages, _ = skb_pages(tour, MemoryFacts(), {"s": "scenario s: <boom>"})
    assert "The model did not run" in pages["generated/skb/r.md"]
    assert "&#60;boom&#62;" in pages["generated/skb/r.md"]


@pytest.mark.kernel
def test_real_section(store_cfg):
    from analyzer.docs.facts import StoreFacts
    from analyzer.docs.skb import add_skb_section
    from analyzer.store import Store

    site = SimpleNamespace(pages={}, nav=[{"Home": "index.md"}, {"Tour": []},
                                          {"Reference": []}])
    with Store.open(store_cfg.store_path) as store:
        notices = add_skb_section(site, StoreFacts(store, store_cfg.kernel_dir),
                                  store_cfg.site_dir, store_cfg)
    assert notices == []
    assert list(site.nav[2]) == ["Socket buffers"]
    skb = site.pages["generated/skb/struct-sk_buff.md"]
    for group in ("List linkage", "Socket and device", "Header offsets", "Lengths",
                  "Data pointers"):
        assert f"## {group}" in skb
    data = site.pages["generated/skb/data-area.md"]
    assert data.count('class="diagram skb-buffer"') >= 6
    assert re.search(r'linenums="\d+"', data) and "skb_over_panic" in data
    rel = site.pages["generated/skb/socket-and-buffers.md"]
    assert "sk&#95;receive&#95;queue (qlen 2)" not in rel  # labels inside SVG are XML-escaped
    assert "sk_receive_queue (qlen 2)" in rel and 'class="diagram skb-queues"' in rel
