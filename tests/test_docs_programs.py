"""The tour's pages beyond the lecture (analyzer/docs/programs.py): the YAML of the
programs, the pages drawn from a hand-made program run (values, the state after
each statement, buffers and queues, a statement that stopped, a program that could
not run); and, on the real tree (``kernel``), the two programs run by the model
with their pages, debugger pages and the socket-buffer section beside them."""

from __future__ import annotations

import re
from types import SimpleNamespace as NS

import pytest

from analyzer.docs.facts import MemoryFacts
from analyzer.docs.pages import Site
from analyzer.docs.programs import (
    ProgramView,
    buffers_at,
    load_programs,
    parse_programs,
    program_page,
    queues_at,
    run_programs,
    stopped,
    watch_rows,
)
from analyzer.docs.tour import parse_tour
from analyzer.errors import AnalyzerError
from analyzer.model.program import Statement
from analyzer.records import Alias, Constant, Function

SRC = "int inet_bind(int x)\n{\n\tif (x)\n\t\treturn -98;\n\treturn 0;\n}\n"
BIND = Function("inet_bind", "af.c", 1, 6, "int")


def _data(**over) -> dict:
    prog = {"id": "p", "title": "A <program>",
            "statements": ["fd = socket(AF_INET, SOCK_STREAM, 0)", 'bind(fd, "0.0.0.0", 80)'],
            "notes": ["first *note*"], "errors": ["EADDRINUSE"],
            "watch": ["inet_num", "inet_sport", "sk_buff.len", "sk_receive_queue.qlen"],
            "network": ["inet_sport"], "buffer": "sk_buff", "queues": ["sk_receive_queue"],
            "explain": [{"statement": 2, "functions": ["inet_bind", "gone"],
                         "notes": ["why"]}]}
    prog.update(over)
    return {"programs": [prog]}


def test_the_site_programs_load(tmp_path):
    from analyzer.config import Config

    progs = load_programs(Config(tmp_path).site_dir / "programs.yaml")
    ids = [p.id for p in progs.programs]
    assert ids == ["bind-listen", "unix-pair"]
    assert progs.get("unix-pair").buffer == "sk_buff"
    assert all(1 <= e.statement <= len(p.statements) for p in progs.programs for e in p.explain)


@pytest.mark.parametrize("over, message", [
    ({"statements": []}, "needs `statements`"),
    ({"statements": ["bind(fd,"]}, "program 1 (p): statement 1"),
    ({"explain": [{"statement": 3}]}, "program 1 (p).explain[0]: statement 3 is not"),
    ({"title": "bind: listen"}, "program 1 (p): `title` must not hold a colon"),
    ({"colour": "red"}, "unknown key(s) colour"),
    ({"id": "Bad Id"}, "id 'Bad Id' must be"),
    ({"notes": "text"}, "`notes` must be a list"),
])
def test_yaml_errors_name_the_file_and_program(over, message):
    with pytest.raises(AnalyzerError) as e:
        parse_programs(_data(**over), "site/programs.yaml")
    assert str(e.value).startswith("site/programs.yaml") and message in str(e.value)
    assert "\n" not in str(e.value)


def test_duplicate_ids_and_unreadable_file(tmp_path):
    data = _data()
    data["programs"] *= 2
    with pytest.raises(AnalyzerError, match="duplicate program ids: p"):
        parse_programs(data)
    bad = tmp_path / "programs.yaml"
    bad.write_text("programs: [", encoding="utf-8")
    with pytest.raises(AnalyzerError, match=re.escape(str(bad))):
        load_programs(bad)


def _step(n, event, function, depth=0, value="", note=""):
    return NS(n=n, event=event, function=function, file="af.c" if event != "stub" else "",
              line=1, depth=depth, via=None, value=value, note=note, site="", changes=())


class FakeRun:
    """socket() makes sock#1; bind() sets its inet_num and inet_sport and queues
    sk_buff#1 (head/data/tail/end) on its receive queue; the buffer is freed at step 6."""

    def __init__(self, stop: bool = False):
        self.steps = [_step(1, "call", "SyS_socket"), _step(2, "return", "SyS_socket", 0, "3"),
                      _step(3, "call", "SyS_bind"), _step(4, "call", "inet_bind", 1),
                      _step(5, "stub", "ksize", 2, "512", "runtime primitive: the size of "
                                                         "data#1"),
                      _step(6, "return", "inet_bind", 1, "-98"),
                      _step(7, "return", "SyS_bind", 0, "-98")]
        if stop:
            self.steps[5:] = [_step(6, "stub", "SyS_bind", 0, "", "stopped: no <route>")]
        self.lines = [NS(after=4, function="inet_bind", file="af.c", line=3, stack=(),
                         writes=0),
                      NS(after=4, function="inet_bind", file="af.c", line=4, stack=(),
                         writes=0)]
        self.objects = [("sock#1", "struct sock", 1, ()), ("sk_buff#1", "struct sk_buff", 4, ()),
                        ("boot#1", "struct sock", 0, ())]
        self.writes = []

    def snapshot(self, n):
        sock = {"type": "struct sock", "fields": [["skc_num", "0" if n < 3 else "80"],
                                                  ["inet_sport", "0" if n < 3 else "20480"]]}
        out = {"sock#1": sock, "boot#1": {"type": "struct sock",
                                          "fields": [["skc_num", "9"]]},
               "sock#1.sk_receive_queue": {"type": "struct sk_buff_head", "fields": [
                   ["next", "&sock#1.sk_receive_queue"], ["qlen", "0"]]}}
        if n >= 3:
            out["sk_buff#1"] = {"type": "struct sk_buff", "fields": [
                ["next", "&sock#1.sk_receive_queue"], ["len", "5"], ["data_len", "0"],
                ["tail", "5"], ["end", "192"], ["head", "data#1+0"], ["data", "data#1+0"],
                ["truesize", "768"]]}
            out["sock#1.sk_receive_queue"]["fields"] = [["next", "&sk_buff#1"], ["qlen", "1"]]
        return out


def _view(stop=False, **over) -> ProgramView:
    prog = parse_programs(_data(**over)).programs[0]
    run = FakeRun(stop)
    stmts = [Statement(1, prog.statements[0], "SyS_socket", 1, 2, "3", "3")]
    error = ""
    if stop:
        error = f"statement 2 {prog.statements[1]!r}: no <route>"
        stmts.append(Statement(2, prog.statements[1], "SyS_bind", 3, 6, ""))
    else:
        stmts.append(Statement(2, prog.statements[1], "SyS_bind", 3, 7, "-98", "-98"))
    return ProgramView(prog, NS(statements=stmts, run=run, error=error))


def _site() -> Site:
    facts = MemoryFacts(records=[BIND, Alias("inet_num", "sk.__sk_common.skc_num", "s.h", 9),
                                 Constant("EADDRINUSE", "define", "98", "errno.h", 80, 98)],
                        sources={"af.c": SRC})
    return Site(parse_tour({"pages": []}), facts)


def test_page_values_state_code_and_errno_name():
    view = _view()
    page = program_page(_site(), view, "generated/tour/p.md")
    assert page.startswith("# A &#60;program&#62;") and "Beyond the lecture" in page
    assert "first &#42;note&#42;" in page
    assert "<code>&#45;EADDRINUSE &#40;&#45;98&#41;</code>" in page  # named from the tree
    assert "errno&#46;h&#58;80" in page
    assert "!!! failure \"gone is not in the analysis\"" in page
    assert "!!! failure \"This statement" not in page
    assert 'href="../../steps/program-p/#step=' not in page  # no timeline, no step links
    rows = {(lab, m): v for lab, m, _, v in watch_rows(view_facts(), view)}
    assert rows[("sock#1", "skc_num")] == ["0", "80"]
    assert ("boot#1", "skc_num") not in rows  # only what the program made
    assert rows[("sk_buff#1", "len")] == ["", "5"]
    assert "**<code>20480</code> = htons(80)**" in page  # network byte order, when it changes
    assert "<code>skc&#95;num</code></span> (<code>inet&#95;num</code>)" in page


def view_facts():
    return _site().facts


def test_buffers_and_queues_from_the_snapshot():
    view = _view()
    (b,) = buffers_at(view, 1)
    assert (b.label, b.area, b.size, b.data, b.tail, b.end, b.len, b.truesize) == (
        "sk_buff#1", "data#1", 512, 0, 5, 192, 5, 768)  # size: the run's ksize of data#1
    assert buffers_at(view, 0) == []
    assert queues_at(view, 1) == [("sock#1.sk_receive_queue", ("sk_buff#1",))]
    assert queues_at(view, 0) == [("sock#1.sk_receive_queue", ())]
    page = program_page(_site(), view, "generated/tour/p.md")
    assert 'class="diagram skb-buffer"' in page and 'class="diagram skb-queues"' in page


def test_a_statement_that_stopped_is_said_never_guessed():
    view = _view(stop=True)
    assert stopped(view, view.statements[1]) == view.run.error
    assert stopped(view, view.statements[0]) == ""
    page = program_page(_site(), view, "generated/tour/p.md")
    assert "!!! failure \"This statement did not finish\"" in page
    assert "!!! failure \"The program stopped\"" in page
    assert "no &#60;route&#62;" in page and "<route>" not in page
    assert "It returns" not in page.split("## 2.")[1]  # no value for what did not run
    assert "**stopped**" in page and "| after 2 (stopped) |" in page


def test_a_statement_whose_trace_ends_in_a_stub_is_stopped():
    view = _view()
    view.run.run.steps[-1] = _step(7, "stub", "SyS_bind", 0, "", "cannot reach the device")
    assert stopped(view, view.statements[1]) == "cannot reach the device"


def test_a_program_the_model_cannot_run_says_why():
    data = _data(statements=["fd = socket(AF_INET, SOCK_STREAM, 0)",
                             'accept(fd, 0, 0)'], explain=[])
    views, seconds = run_programs(parse_programs(data), cfg=None)  # refused before a boot
    view = views["p"]
    assert view.run is None and "unknown system call 'accept'" in view.error
    page = program_page(_site(), view, "generated/tour/p.md")
    assert "!!! failure \"The model did not run this program\"" in page
    assert "accept(fd" in page and seconds >= 0


@pytest.mark.kernel
def test_real_program_pages(graph_cfg):
    from analyzer.docs.facts import StoreFacts
    from analyzer.docs.programs import add_program_section
    from analyzer.docs.skb import add_skb_section
    from analyzer.docs.steps import add_steps_section
    from analyzer.docs.tour import load_tour
    from analyzer.store import Store

    with Store.open(graph_cfg.store_path) as store:
        facts = StoreFacts(store, graph_cfg.kernel_dir)
        site = Site(load_tour(graph_cfg.site_dir / "tour.yaml"), facts)
        site.nav = [{"Home": "index.md"}, {"Tour": [{"Steps": []}]}, {"Reference": []}]
        assert add_program_section(site, facts, graph_cfg.site_dir, graph_cfg) == []
        add_skb_section(site, facts, graph_cfg.site_dir, graph_cfg)
        add_steps_section(site, facts)
    assert site.nav[1]["Tour"][1] == {"Beyond the lecture": [
        {"What bind() and listen() do": "generated/tour/bind-listen.md"},
        {"Data through a UNIX socket pair": "generated/tour/unix-pair.md"}]}
    bind = site.pages["generated/tour/bind-listen.md"]
    for shown in ("8080", "TCP&#95;LISTEN &#40;10&#41;", "<code>128</code>",
                  "&#45;EADDRINUSE &#40;&#45;98&#41;", "htons(8080)", "inet&#95;bind&#95;bucket",
                  "inet&#95;csk&#95;listen&#95;start", 'href="../../steps/program-bind-listen/'
                  "#step="):
        assert shown in bind, shown
    assert "!!! failure" not in bind
    pair = site.pages["generated/tour/unix-pair.md"]
    for shown in ("&#34;hello&#34;", "unix&#95;stream&#95;sendmsg",
                  "sock&#95;alloc&#95;send&#95;pskb", "skb&#95;queue&#95;tail",
                  "unix&#95;stream&#95;read&#95;generic",
                  'class="diagram skb-buffer"', "unix_sock#2 sk_receive_queue (qlen 1)"):
        assert shown in pair, shown
    assert "!!! failure" not in pair
    qlen = re.search(r'<span title="unix&#95;sock&#35;2&#46;sk&#46;sk&#95;receive&#95;queue">'
                     r"<code>qlen</code></span> \| (.*) \|$", pair, re.M)
    assert qlen and re.findall(r"<code>(\d+)</code>", qlen.group(1)) == ["0", "1", "0"]
    wmem = re.search(r'<span title="unix&#95;sock&#35;1&#46;sk&#46;sk&#95;wmem&#95;alloc">'
                     r"<code>counter</code></span> \| (.*) \|$", pair, re.M)
    before, during, after = (int(x) for x in re.findall(r"<code>(\d+)</code>", wmem.group(1)))
    assert during > before and after == before  # the buffer's truesize charged, then given back
    views = site.programs
    read = views["unix-pair"].statements[2]
    assert read.value == "5" and dict(read.memory)["user:char#2"] == '"hello"'
    for pid in ("bind-listen", "unix-pair"):
        assert f"generated/steps/program-{pid}.md" in site.pages
        assert f"generated/steps/data/program-{pid}.js" in site.pages
    skb = site.pages["generated/skb/socket-and-buffers.md"]
    assert "## The same through a real socket pair" in skb
    assert 'href="../../steps/program-unix-pair/"' in skb and "skb-buffer" in skb


def test_what_the_model_kernel_lacks_is_said_beside_the_value():
    from dataclasses import replace

    view = _view()
    view.run.statements[1] = replace(view.run.statements[1],
                                     limits=("no network device: <drivers/>",))
    page = program_page(_site(), view, "generated/tour/p.md")
    assert "!!! warning \"Statement 2: outside the analysed tree\"" in page
    assert "no network device&#58; &#60;drivers&#47;&#62;" in page  # escaped
