"""Tests of analyzer.docs: the tour file, page generation on small fakes, escaping,
a strict MkDocs build of a fake site, and (marked ``kernel``) the real site."""

from __future__ import annotations

import contextlib
import posixpath
import re
import shutil
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from analyzer.docs import BuildReport, build_site, generate_pages, run_mkdocs, write_pages
from analyzer.docs import diagrams as dg
from analyzer.docs.facts import Evidence, MemoryFacts, RunView, StoreFacts, Target
from analyzer.docs.render import code, esc, fence
from analyzer.docs.tour import find_line, load_tour, parse_tour
from analyzer.errors import AnalyzerError
from analyzer.records import (
    Call,
    Field,
    Function,
    InitEntry,
    Initializer,
    Registration,
    Struct,
    Var,
)

SITE = Path(__file__).resolve().parents[1] / "analyzer" / "site"

SOCKET_C = """\
/* filler */
static const struct ops fam_ops = {
\t.create = fam_create,
};

/* filler */
int make(int family, struct thing **res)
{
\tstruct thing *t; /* <script>alert("pwned")</script> *b* [x](http://e.com) */

\tt = alloc_thing();
\tt->state = ST_NEW;
\terr = pf->create(t, family);
\t*res = t;
\treturn 0;
}

static int fam_create(struct thing *t, int family)
{
\tt->ops = &fam_ops;
\treturn 0;
}
"""

THING_H = """\
struct base {
\tint refcnt;
};
struct thing {
\tstruct base b;
\tint state;
\tconst struct ops *ops;
};
struct ops {
\tint (*create)(struct thing *t, int family);
};
"""


def _records():
    make = Function("make", "net/socket.c", 7, 16, "int",
                    (Var("family", "int", 7), Var("res", "struct thing **", 7)),
                    signature="int make(int family, struct thing **res)")
    create = Function("fam_create", "net/socket.c", 18, 22, "int",
                      (Var("t", "struct thing *", 18),), static=True,
                      signature="static int fam_create(struct thing *t, int family)")
    return [
        make, create,
        Call("make", "net/socket.c", 11, "direct", "alloc_thing", "alloc_thing"),
        Call("make", "net/socket.c", 13, "field", "", "pf->create", "pf", "create"),
        Struct("base", "struct", "include/thing.h", 1, 3, (Field("refcnt", "int", 2),)),
        Struct("thing", "struct", "include/thing.h", 4, 8, (
            Field("b", "struct base", 5), Field("state", "int", 6),
            Field("ops", "const struct ops *", 7))),
        Struct("ops", "struct", "include/thing.h", 9, 11,
               (Field("create", "int (*)(struct thing *, int)", 10),)),
        Initializer("fam_ops", "const struct ops", "net/socket.c", 2,
                    (InitEntry(".create", "fam_create", 3, "fam_create"),), static=True),
        Registration("init", "register_ops", "fam_ops", "net/socket.c", 30),
    ]


def _run() -> RunView:
    steps = [
        {"n": 1, "event": "call", "function": "make", "file": "net/socket.c", "line": 7,
         "depth": 0, "changes": []},
        {"n": 2, "event": "stub", "function": "alloc_thing", "depth": 1,
         "note": "returns a new struct thing", "changes": [
             {"object": "thing#1", "field": "state", "old": None, "new": "0"}]},
        {"n": 3, "event": "call", "function": "fam_create", "file": "net/socket.c",
         "line": 18, "depth": 1, "changes": [],
         "via": {"expr": "pf->create", "table": "fam_ops", "field": "create",
                 "file": "net/socket.c", "line": 3}},
        {"n": 4, "event": "return", "function": "fam_create", "depth": 1, "changes": [
            {"object": "thing#1", "field": "ops", "old": "NULL", "new": "&fam_ops"}]},
        {"n": 5, "event": "return", "function": "make", "depth": 0, "changes": [
            {"object": "thing#1", "field": "state", "old": "0", "new": "ST_NEW (1)"}]},
    ]
    state = {"thing#1": {"type": "struct thing", "fields": [
        ["state", "ST_NEW (1)"], ["ops", "&fam_ops"], ["owner", "holder#1"]]},
        "holder#1": {"type": "struct base", "fields": [["back", "&thing#1.b"]]}}
    return RunView(steps, lambda n: state if n >= 3 else {})


TOUR = {
    "lecture": {"title": "Practice", "course": "c"},
    "scenario": ["make", "AF_X", 0],
    "pages": [
        {"id": "socket-and-inet", "title": "Intro", "kind": "intro",
         "notes": [{"ko": "소켓 <b>굵게</b>", "en": "A *socket*"}]},
        {"id": "chain", "title": "Chain", "kind": "chain",
         "show": [{"function": "make", "cite": {"file": "net/socket.c", "line": 5}}],
         "state": "none"},
        {"id": "make", "title": "make()", "kind": "step",
         "show": [{"function": "make", "cite": {"file": "net/socket.c", "line": 7},
                   "focus": [{"line": 12, "text": "t->state = ST_NEW;"},
                             {"line": 20, "text": "nowhere(to_be_found);"}]},
                  {"table": "fam_ops", "cite": {"file": "net/socket.c", "line": 2}},
                  {"struct": "thing", "cite": {"file": "include/thing.h", "line": 4}}],
         "notes": [{"ko": "만들기", "en": "make it"}]},
        {"id": "which", "title": "Which runs?", "kind": "step",
         "call": {"function": "make", "expr": "pf->create"}, "state": "none", "show": []},
        {"id": "hier", "title": "Hierarchy", "kind": "hierarchy", "state": "none",
         "show": [{"struct": "thing"}],
         "layers": {"base": [{"ko": "기본", "en": "basic"}]}},
    ],
}


@pytest.fixture
def fake():
    return MemoryFacts(
        records=_records(),
        sources={"net/socket.c": SOCKET_C, "include/thing.h": THING_H},
        resolutions={("make", "pf->create"): [Target(
            "fam_create", "net/socket.c", 18,
            (Evidence("fam_ops.create", "net/socket.c", 3, "initializer", "fam_ops"),))]},
        run=_run())


@pytest.fixture
def site(fake):
    return generate_pages(parse_tour(TOUR), fake)


# --- the tour file --------------------------------------------------------------------------


def test_real_tour_loads_in_lecture_order():
    tour = load_tour(SITE / "tour.yaml")
    ids = [p.id for p in tour.pages]
    assert ids[:4] == ["socket-and-inet", "struct-socket", "sock-hierarchy", "call-chain"]
    assert ids.index("sock_create") < ids.index("sock_alloc_inode") < ids.index("inet_create")
    assert ids[-1] == "sock_alloc_file"
    assert all(n.ko and n.en for p in tour.pages for n in p.notes)
    assert tour.page("sock_alloc").state_function == "sock_alloc"
    assert tour.page("tcp_prot").state_function == ""


@pytest.mark.parametrize("bad, message", [
    ({"pages": "x"}, "needs a `pages:` list"),
    ({"pages": [{"id": "a b"}]}, "must be [A-Za-z0-9_-]+"),
    ({"pages": [{"id": "a", "kind": "poem"}]}, "kind 'poem'"),
    ({"pages": [{"id": "a", "notes": [{"ko": "x"}]}]}, "needs both `ko`"),
    ({"pages": [{"id": "a"}, {"id": "a"}]}, "duplicate page ids: a"),
    ({"pages": [{"id": "a", "show": [{"function": "f", "focus": [{"line": "x"}]}]}]},
     "focus[0]"),
])
def test_bad_tour_is_a_clear_error(bad, message):
    with pytest.raises(AnalyzerError, match=re.escape(message)):
        parse_tour(bad, "tour.yaml")


def test_unreadable_tour_names_the_file(tmp_path):
    (tmp_path / "t.yaml").write_text("pages: [\n")
    with pytest.raises(AnalyzerError, match="t.yaml: not valid YAML"):
        load_tour(tmp_path / "t.yaml")
    with pytest.raises(AnalyzerError, match="missing.yaml: cannot read"):
        load_tour(tmp_path / "missing.yaml")


def test_find_line_by_text_nearest_to_the_cited_number():
    lines = ["x = 1;", "y = 2;", "x = 1;", "call(a,", "     b);"]
    assert find_line(lines, 100, "x=1;") == 100
    assert find_line(lines, 100, "x = 1;", near=102) == 102
    assert find_line(lines, 100, "call(a, b);") == 103
    assert find_line(lines, 100, "missing();") == 0


# --- rendering ------------------------------------------------------------------------------


def test_diagram_layouts_draw_every_node():
    nested = dg.nested([("struct a", "adds 2 fields", "a/"), ("struct b", "1 field", "")], "t")
    assert nested.count('<g class="node') == 2 and 'href="a/"' in nested
    rec = dg.record("pair", [dg.Part("x", "struct a", ("f", "g")), dg.Part("y", "int")], "t")
    assert rec.count('<g class="node') == 3 and ">f</text>" in rec
    graph = dg.object_graph([dg.ObjNode("a", "struct a a#1", (("p", "&b#1"),)),
                             dg.ObjNode("b", "struct b b#1", (("q", "&a#1"),))],
                            [("a", "p", "b"), ("b", "q", "a"), ("a", "p", "zz")], "t")
    assert graph.count('<g class="node') == 2 and graph.count("<path d=") == 3  # + marker
    assert 'viewBox="0 0' in graph and "&amp;b#1" in graph


def test_escaping_keeps_source_text_inert():
    assert "<" not in esc("<script>") and "*" not in esc("*a*") and "|" not in esc("a|b")
    assert code("a`b") == "<code>a&#96;b</code>"
    block = fence(["/* ``` */", "int x;"], 10, [11])
    assert block.startswith('````c linenums="10" hl_lines="2"')


def test_step_page_has_real_lines_highlight_and_differences(site):
    page = site.pages["generated/tour/make.md"]
    assert re.search(r'<span class="normal"><a href="#__codelineno-\d+-7">7</a>', page)
    assert re.search(r'name="__codelineno-\d+-12"></a><span class="cl hll">', page)  # cited
    assert "the lecture cites" not in page.split("## ")[1]  # make: cited 7, real 7
    lines = site.pages["generated/tour/lines.md"]
    assert "nowhere" in lines and "**not found**" in lines
    assert re.search(r"make&#58; t&#45;&#62;state.*net&#47;socket&#46;c&#58;12", lines) is None
    chain_cite = [p for _, p in site.placed if p.what == "make" and p.cite_line == 5]
    assert chain_cite and chain_cite[0].real_line == 7 and chain_cite[0].differs


def test_calls_resolved_with_model_choice_and_evidence(site):
    page = site.pages["generated/tour/make.md"]
    assert "**taken**" in page and "fam_create" in page
    assert "The model took" in page and "fam_ops" in page
    which = site.pages["generated/tour/which.md"]
    assert "1 resolved target" in which
    assert "not modelled" in page and "returns a new struct thing" in page


def test_evidence_links_the_table(site):
    page = site.pages["generated/tour/which.md"]
    link = "[<code>fam&#95;ops&#46;create</code>](../ref/tables/fam_ops.md)"
    assert f"initializer: {link} <code>net&#47;socket&#46;c&#58;3</code>" in page


class _Graph:
    """Answers shaped like analyzer.api's (Resolution.targets, Call records)."""

    def resolve(self, fid, expr):
        binding = {"table": "fam_ops@net/socket.c", "field": "create", "kind": "initializer",
                   "file": "net/socket.c", "line": 3}
        chain = ({"registrar": "register_ops", "table": "fam_ops@net/socket.c",
                  "file": "net/socket.c", "line": 30},)
        return SimpleNamespace(targets=(SimpleNamespace(
            function="fam_create@net/socket.c", name="fam_create", file="net/socket.c",
            line=18, binding=binding, chain=chain),))

    def callers(self, fid):
        return [SimpleNamespace(caller="make", callee=fid, kind="dispatches",
                                file="net/socket.c", line=13, expr="pf->create")]

    def callees(self, fid):
        return [SimpleNamespace(caller=fid, callee="alloc_thing", kind="calls",
                                file="net/socket.c", line=11, expr="")]


def test_registration_chain_from_the_graph_table_node():
    graph = _Graph()
    graph.graph = SimpleNamespace(nodes={"fam_ops@net/socket.c": {"chains": [[
        {"step": "passed", "registrar": "mount_it", "caller": "m@x.c", "file": "x.c", "line": 5},
        {"step": "registered", "registrar": "register_ops", "caller": "init@x.c",
         "file": "x.c", "line": 9, "key_field": "family", "key_expr": "AF_X"}]]}})
    graph.resolve = lambda fid, expr: SimpleNamespace(targets=(SimpleNamespace(
        name="fam_create", file="net/socket.c", line=18,
        binding={"table": "fam_ops@net/socket.c", "field": "create", "kind": "initializer",
                 "file": "net/socket.c", "line": 3}, chain=()),))
    facts = StoreFacts(store=None, kernel_dir=Path("."), graph=graph)
    [t] = facts.resolve(_records()[0], _records()[3])
    assert [(e.kind, e.text) for e in t.evidence] == [
        ("initializer", "fam_ops.create"), ("passed", "passed to mount_it() in m"),
        ("registered", "registered by register_ops() in init under family = AF_X")]


def test_graph_answers_are_normalised():
    facts = StoreFacts(store=None, kernel_dir=Path("."), graph=_Graph())
    fn, call = _records()[0], _records()[3]
    [t] = facts.resolve(fn, call)
    assert (t.name, t.line) == ("fam_create", 18)
    assert [e.text for e in t.evidence] == ["fam_ops.create", "register_ops(fam_ops)"]
    assert t.evidence[0].table == "fam_ops" and t.evidence[1].line == 30
    assert [n.name for n in facts.callers(fn)] == ["make"]
    assert [(n.name, n.kind) for n in facts.callees(fn)] == [("alloc_thing", "calls")]


def test_up_to_now_marks_changes(site):
    page = site.pages["generated/tour/make.md"]
    state = page.split("## Up to now")[1]
    assert "| <code>ST&#95;NEW &#40;1&#41;</code> | ✎ |" in state  # new since the call
    assert "| <code>&#38;fam&#95;ops</code> | ✎ was <code>NULL</code> |" in state
    assert "*new in this step*" in state


def test_reference_pages_and_links_exist(site):
    assert {"make", "fam_create"} <= set(site.functions)
    assert {"thing", "base", "ops"} <= set(site.structs)
    assert set(site.tables) == {"fam_ops"}
    table = site.pages["generated/ref/tables/fam_ops.md"]
    assert "register&#95;ops&#40;&#41;" in table and "(../functions/fam_create.md)" in table
    thing = site.pages["generated/ref/structs/thing.md"]
    assert "(base.md)" in thing and "thing#1" not in thing
    for path, text in site.pages.items():
        for target in re.findall(r"\]\(([^)#]+\.md)", text):
            norm = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
            assert norm in site.pages or norm == "index.md", (path, target)


def test_diagrams_are_svg_with_escaped_labels(site):
    chain = site.pages["generated/tour/chain.md"]
    assert chain.count('<g class="node') == 2  # two calls: make, fam_create
    hier = site.pages["generated/tour/hier.md"]
    assert "<svg" in hier and "struct thing" in hier and "기본" in hier
    svg = dg.call_tree([dg.TreeNode(0, "<script>x</script>")], "t")
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    graph = site.pages["generated/tour/hier.md"] + site.pages["generated/tour/which.md"]
    assert "<script" not in graph


# --- a strict MkDocs build of the fake site ---------------------------------------------------


def _site_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "site"
    shutil.copytree(SITE, dst, ignore=shutil.ignore_patterns("generated", "__pycache__"))
    return dst


def _scripts(html: str) -> list[str]:
    """The text of every script element of a page, as a browser's parser sees it."""

    class P(HTMLParser):
        def __init__(self):
            super().__init__()
            self.inside, self.found = False, []

        def handle_starttag(self, tag, attrs):
            if tag == "script":
                self.inside = True
                self.found.append(str(attrs))

        def handle_endtag(self, tag):
            self.inside = self.inside and tag != "script"

        def handle_data(self, data):
            if self.inside:
                self.found[-1] += data

    p = P()
    p.feed(html)
    return p.found


def test_fake_site_builds_strict_and_no_script_from_source(tmp_path, site):
    root = _site_copy(tmp_path)
    write_pages(root / "docs", site)
    nav = yaml.safe_load((root / "docs/generated/nav.yml").read_text())
    assert nav[0] == {"Home": "index.md"}
    run_mkdocs(root, tmp_path / "out", strict=True)
    html = (tmp_path / "out/generated/tour/make/index.html").read_text()
    assert '<script>alert("pwned")</script>' not in html
    assert "&lt;script&gt;" in html  # the comment is shown, as text
    scripts = _scripts(html)
    assert scripts and not any("alert" in s or "pwned" in s for s in scripts)
    plain = (tmp_path / "out/generated/tour/chain/index.html").read_text()
    assert len(scripts) == len(_scripts(plain))  # the theme's own, no more
    assert re.search(r'<span class="normal">7</span>|__codelineno-\d+-7"', html)


def test_broken_link_fails_the_strict_build(tmp_path, site):
    root = _site_copy(tmp_path)
    site.pages["generated/tour/make.md"] += "\n[gone](nowhere.md)\n"
    write_pages(root / "docs", site)
    with pytest.raises(AnalyzerError, match="did not build"):
        run_mkdocs(root, tmp_path / "out", strict=True)


# --- the real site ----------------------------------------------------------------------------


@pytest.mark.kernel
def test_real_site_builds(graph_cfg, tmp_path):
    report = build_site(graph_cfg, strict=True, progress=False)
    assert isinstance(report, BuildReport), report
    assert not [n for n in report.notices if "did not" in n or "not available" in n], report
    out = graph_cfg.build_dir / "site"
    step = (out / "generated/tour/sock_alloc_inode/index.html").read_text()
    assert "sock_alloc_inode" in step and "245" in step
    lines = (out / "generated/tour/lines/index.html").read_text()
    assert "2480" in lines and "985" in lines  # sock_init, inet_family_ops really are there
    assert not (graph_cfg.site_dir / "docs/generated").exists()  # the package is never written
    assert (graph_cfg.site_src_dir / "docs/generated/nav.yml").is_file()
    tour_md = graph_cfg.site_src_dir / "docs/generated/tour"
    for page in tour_md.glob("*.md"):  # every cited symbol and focus line was found
        text = page.read_text()
        assert "Not found in the 4.4.1 source" not in text and "!!! failure" not in text, page
    chain = (out / "generated/tour/call-chain/index.html").read_text()
    assert chain.count('class="node') >= 17  # the lecture's 17 functions at least
    bind = unescape((out / "generated/tour/bind-listen/index.html").read_text())  # beyond
    assert "TCP_LISTEN (10)" in bind and "-EADDRINUSE (-98)" in bind and "8080" in bind
    pair = unescape((out / "generated/tour/unix-pair/index.html").read_text())
    assert '"hello"' in pair and "sk_receive_queue (qlen 1)" in pair
    for pid in ("bind-listen", "unix-pair"):
        assert (out / f"generated/steps/program-{pid}/index.html").is_file(), pid
    which = (out / "generated/tour/which-function-runs/index.html").read_text()
    assert "sock_alloc_inode" in which and "sockfs_ops" in which
    for table in ("tcp_prot", "inet_stream_ops", "inet_family_ops", "sockfs_ops",
                  "sock_fs_type", "socket_file_ops", "ipv4_specific"):
        assert (out / f"generated/ref/tables/{table}/index.html").is_file(), table


@pytest.mark.kernel
def test_real_pages_are_the_same_made_by_two_processes_or_one(graph_cfg):
    from analyzer import workers
    from analyzer.docs import open_facts, open_session, site_pages
    from analyzer.docs.tour import load_tour

    tour = load_tour(graph_cfg.site_dir / "tour.yaml")
    session = open_session(graph_cfg)
    made = []
    for one_process in (False, True):
        facts = open_facts(graph_cfg, tour, session)
        with workers.inline() if one_process else contextlib.nullcontext():
            site = site_pages(graph_cfg, tour, facts, session=session)
        made.append((site.pages, site.nav, facts.notices))
    assert made[0] == made[1]
    pages, nav, _ = made[0]
    assert [next(iter(e)) for e in nav] == ["Home", "Tour", "Step through", "Socket buffers",
                                            "Reference"]
    assert "generated/tour/bind-listen.md" in pages and "generated/steps/index.md" in pages


def test_joining_the_two_parts_keeps_every_notice_in_order():
    from analyzer.docs import _Beyond, _join
    from analyzer.docs.steps import Debuggers

    site = SimpleNamespace(pages={}, nav=[], xref=SimpleNamespace(take=lambda part: None),
                           finish=lambda: None)
    lecture = {"pages": {"generated/tour/a.md": "A"}, "xref": {},
               "nav": [{"Home": "index.md"}, {"Tour": [{"Steps": []}]}, {"Reference": []}],
               "debuggers": [[], [], ["no debugger for socket(x)"]]}
    beyond = _Beyond([{"P": "generated/tour/p.md"}], [],
                     Debuggers([], [], ["no debugger for program p"]), ["program p: boom"])
    assert _join(site, lecture, beyond) == ["program p: boom", "no debugger for socket(x)",
                                            "no debugger for program p"]
    assert site.pages == {"generated/tour/a.md": "A"}
    assert [next(iter(e)) for e in site.nav] == ["Home", "Tour", "Socket buffers", "Reference"]
    assert site.nav[1]["Tour"][1] == {"Beyond the lecture": [{"P": "generated/tour/p.md"}]}
