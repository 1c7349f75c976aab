"""Tests of the code browser: identifier roles and links (analyzer.docs.codeview,
analyzer.docs.xref), the lines that ran, the cards' data files, the link checks
(analyzer.docs.linkcheck), the search hook; and (marked ``kernel``) the built
site: the share of linked identifiers on the tour pages and no dead link."""

from __future__ import annotations

import importlib.util
import json
import re
from html import unescape
from pathlib import Path

import pytest

from analyzer.docs import generate_pages, run_mkdocs, write_pages
from analyzer.docs.codeview import Excerpt, statement_lines
from analyzer.docs.facts import MacroDef, MemoryFacts, RunView, Target, find_defines
from analyzer.docs.linkcheck import dead_links, identifier_share, site_share
from analyzer.docs.tour import parse_tour
from analyzer.docs.xref import BUCKETS, PageIndex, Xref, bucket
from analyzer.parse import parse
from analyzer.records import (
    Alias,
    Call,
    Constant,
    Field,
    Function,
    Global,
    InitEntry,
    Initializer,
    Struct,
    Typedef,
    Var,
)

SITE = Path(__file__).resolve().parents[1] / "analyzer" / "site"

SOCK_H = """\
struct sock_common {
\tunsigned short skc_family;
\tstruct proto *skc_prot;
};
struct sock {
\tstruct sock_common __sk_common;
\tint sk_flags;
};
#define sk_family __sk_common.skc_family
#define sk_prot __sk_common.skc_prot
struct proto {
\tint (*init)(struct sock *sk);
};
typedef unsigned int gfp_t;
#define GFP_KERNEL 0x10
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - 1))
struct pair {
\tstruct sock sk;
\tint other;
};
"""

X_C = """\
static int make(struct sock *sk, int family)
{
\tint init = 0;
\tgfp_t flags = GFP_KERNEL;
\tsk->sk_family = family;
\tif (family == 2)
\t\tinit = sk->sk_prot->init(sk);
\telse
\t\tgoto out;
\treturn init + container_of(sk, struct pair, sk)->other;
out:
\treturn -1;
}

static struct proto tcp_proto = {
\t.init = tcp_init,
};

int tcp_init(struct sock *sk)
{
\treturn 0;
}
"""


def _make() -> Function:
    return Function("make", "net/x.c", 1, 13, "int",
                    (Var("sk", "struct sock *", 1), Var("family", "int", 1)),
                    (Var("init", "int", 3), Var("flags", "gfp_t", 4)), static=True,
                    signature="static int make(struct sock *sk, int family)")


def _facts(executed=None) -> MemoryFacts:
    tcp_init = Function("tcp_init", "net/x.c", 19, 22, "int", (Var("sk", "struct sock *", 19),),
                        signature="int tcp_init(struct sock *sk)")
    records = [
        _make(), tcp_init,
        Call("make@net/x.c", "net/x.c", 7, "field", "", "sk->sk_prot->init", "sk->sk_prot",
             "init"),
        Struct("sock_common", "struct", "include/sock.h", 1, 4, (
            Field("skc_family", "unsigned short", 2), Field("skc_prot", "struct proto *", 3))),
        Struct("sock", "struct", "include/sock.h", 5, 8, (
            Field("__sk_common", "struct sock_common", 6), Field("sk_flags", "int", 7))),
        Struct("proto", "struct", "include/sock.h", 11, 13,
               (Field("init", "int (*)(struct sock *)", 12),)),
        Struct("pair", "struct", "include/sock.h", 17, 20, (
            Field("sk", "struct sock", 18), Field("other", "int", 19))),
        Alias("sk_family", "__sk_common.skc_family", "include/sock.h", 9),
        Alias("sk_prot", "__sk_common.skc_prot", "include/sock.h", 10),
        Typedef("gfp_t", "unsigned int", "include/sock.h", 14),
        Constant("GFP_KERNEL", "define", "0x10", "include/sock.h", 15, 16),
        Global("tcp_proto", "struct proto", "net/x.c", 15, static=True),
        Initializer("tcp_proto", "struct proto", "net/x.c", 15,
                    (InitEntry(".init", "tcp_init", 16, "tcp_init"),), static=True),
    ]
    steps = [
        {"n": 1, "event": "call", "function": "make", "file": "net/x.c", "line": 1},
        {"n": 2, "event": "call", "function": "tcp_init", "file": "net/x.c", "line": 19,
         "depth": 1, "site": "net/x.c:7",
         "via": {"expr": "sk->sk_prot->init", "table": "tcp_proto", "field": "init"}},
    ]
    run = RunView(steps, lambda n: {}, executed=executed, label="make(2)")
    return MemoryFacts(
        records=records, sources={"net/x.c": X_C, "include/sock.h": SOCK_H},
        resolutions={("make@net/x.c", "sk->sk_prot->init"): [
            Target("tcp_init", "net/x.c", 19, ())]},
        run=run, scenarios={"make(2)": run})


PAGES = PageIndex(functions={"tcp_init": "generated/ref/functions/tcp_init.md"},
                  structs={"sock_common": "generated/ref/structs/sock_common.md"},
                  tables={"tcp_proto": "generated/ref/tables/tcp_proto.md"})
HERE = "generated/tour/make.md"


def _render(facts, executed=None, cited=()):
    x = Xref(facts, PAGES)
    lines = tuple(X_C.splitlines()[:13])
    ex = Excerpt("net/x.c", 1, lines, "function", "make", cited=frozenset(cited),
                 executed=frozenset(executed) if executed is not None else None)
    return x, x.html(HERE, ex, _make())


_TOKEN = re.compile(r'<(a|span) class="([^"]*)"(?: href="([^"]*)")?(?: data-s="([^"]*)")?'
                    r'[^>]*>([^<]*)</\1>')


def _tokens(html: str) -> list[tuple[str, str, str]]:
    """(text, href, card id) of every token of the code cell that leads somewhere."""
    code = html.split('<td class="code">', 1)[1]
    return [(m.group(5), unescape(m.group(3) or ""), unescape(m.group(4) or ""))
            for m in _TOKEN.finditer(code) if m.group(3) or m.group(4)]


def _lines(html: str) -> dict[int, str]:
    """Line number -> classes of its code line."""
    return {int(n): c for n, c in re.findall(
        r'name="__codelineno-\d+-(\d+)"></a><span class="cl ?([^"]*)">', html)}


# --- roles and links ----------------------------------------------------------------------


def test_a_local_a_member_and_a_function_of_one_name_are_told_apart():
    x, html = _render(_facts())
    toks = _tokens(html)
    init = [(h, s) for t, h, s in toks if t == "init"]
    assert init[0] == ("", "v:make@net/x.c:init")  # int init = 0;  (the local)
    assert init[1] == ("", "v:make@net/x.c:init")  # init = ...
    assert init[2][1] == "i:make@net/x.c:7:sk->sk_prot->init"  # the member called
    assert init[2][0] == "../../ref/functions/tcp_init/"  # goes where the model went
    card = x.cards[init[2][1]]
    assert card["k"] == "indirect call" and card["x"][0]["n"] == "tcp_init"
    assert card["x"][0]["k"] == ["make(2)"]  # taken in that scenario


def test_members_through_field_alias_macros_and_receiver_types():
    _, html = _render(_facts())
    toks = dict((t, (h, s)) for t, h, s in _tokens(html))
    assert toks["sk_family"] == ("../../ref/structs/sock_common/#field-skc_family",
                                 "m:sock_common.skc_family")
    assert toks["sk_prot"][1] == "m:sock_common.skc_prot"
    assert toks["other"][1] == "m:pair.other"  # container_of(sk, struct pair, sk)->other
    assert toks["pair"][1] == "s:pair"


def test_params_types_constants_macros_labels():
    x, html = _render(_facts())
    toks = _tokens(html)
    by = {}
    for t, h, s in toks:
        by.setdefault(t, []).append((h, s))
    assert by["family"][0][1] == "v:make@net/x.c:family"
    assert by["gfp_t"][0][1] == "t:gfp_t"
    assert by["GFP_KERNEL"][0][1] == "k:GFP_KERNEL"
    assert x.cards["k:GFP_KERNEL"]["t"] == "GFP_KERNEL = 16"
    assert by["container_of"][0][1] == "M:container_of"
    assert x.cards["M:container_of"]["t"] == "#define container_of(ptr, type, member)"
    assert by["out"] == [("#__codelineno-1-11", "")] * 2  # goto out; out:
    assert by["make"][0][1] == "f:make@net/x.c"
    assert x.cards["v:make@net/x.c:family"]["d"] == ["parameter 2 of make()"]


def test_every_identifier_of_the_excerpt_is_covered():
    _, html = _render(_facts())
    share = identifier_share(html)
    assert share.tokens > 20 and share.ratio == 1.0, share.missing


def test_designators_of_a_table_are_members_of_its_struct():
    facts = _facts()
    x = Xref(facts, PAGES)
    lines = tuple(X_C.splitlines()[14:17])
    html = x.html(HERE, Excerpt("net/x.c", 15, lines, "table", "tcp_proto", "proto"))
    toks = _tokens(html)
    assert ("init", "", "m:proto.init") in toks
    assert ("tcp_init", "../../ref/functions/tcp_init/", "f:tcp_init") in toks
    assert ("tcp_proto", "../../ref/tables/tcp_proto/", "g:tcp_proto") in toks
    assert ("proto", "", "s:proto") in toks


def test_rewritten_definitions_link_to_the_function_they_define():
    src = "SYSCALL_DEFINE3(socket, int, family, int, type, int, protocol)\n{\n\treturn 0;\n}\n"
    fn = Function("SyS_socket", "net/socket.c", 1, 4, "long",
                  (Var("family", "int", 1), Var("type", "int", 1), Var("protocol", "int", 1)),
                  macro="SYSCALL_DEFINE3")
    facts = MemoryFacts(records=[fn], sources={"net/socket.c": src,
                                               "include/s.h": "#define SYSCALL_DEFINE3(n, ...) x"})
    x = Xref(facts, PageIndex(functions={"SyS_socket": "generated/ref/functions/SyS_socket.md"}))
    html = x.html(HERE, Excerpt("net/socket.c", 1, tuple(src.splitlines()), "function",
                                "SyS_socket"), fn)
    toks = _tokens(html)
    assert ("socket", "../../ref/functions/SyS_socket/", "f:SyS_socket") in toks
    assert ("SYSCALL_DEFINE3", "", "M:SYSCALL_DEFINE3") in toks
    assert ("family", "", "v:SyS_socket:family") in toks


def test_cards_are_data_files_that_call_the_global():
    x, _ = _render(_facts())
    files = x.data_files()
    assert len(files) == BUCKETS
    cards = {}
    for path, text in files.items():
        assert path.startswith("generated/symbols/b") and text.startswith("LSA.add(")
        part = json.loads(text[len("LSA.add("):-3])
        assert all(bucket(k) == int(path[-5:-3]) for k in part)
        cards.update(part)
    assert cards == x.written()
    assert 0 <= bucket("f:sock_alloc") < BUCKETS


def test_the_coverage_ring_gives_cards_to_callees_of_the_path():
    x, _ = _render(_facts())
    counts = x.cover(radius=1)
    assert counts["ring 0"] == 2  # make, tcp_init
    assert x.cards["f:make@net/x.c"]["r"] == ["make(2): runs, step 1"]


# --- lines that ran ---------------------------------------------------------------------------


def test_ran_and_not_ran_lines_and_the_branch_taken():
    ran = {3, 4, 5, 6, 7, 10}
    _, html = _render(_facts(), executed=ran, cited=[7])
    lines = _lines(html)
    assert "ran" in lines[5].split() and "not-ran" in lines[9].split()  # goto out not run
    assert lines[7].split() == ["ran", "taken", "hll"]  # the arm taken, cited by the lecture
    assert "untaken" in lines[9].split()  # the else arm's first statement
    assert lines[2] == "" and lines[11] == ""  # a brace and a label: nothing to run
    assert "not-ran" in lines[12].split()  # return -1;
    assert 'title="the condition held"' in html


def test_no_ran_classes_when_the_model_does_not_say():
    _, html = _render(_facts(), executed=None, cited=[7])
    assert " ran" not in html and "not-ran" not in html and "hll" in html


def test_a_goto_that_ran_marks_its_label():
    ran = {3, 4, 5, 6, 9, 12}
    _, html = _render(_facts(), executed=ran)
    lines = _lines(html)
    assert "jump" in lines[9].split() and "target" in lines[11].split()
    assert lines[7].split() == ["not-ran", "untaken"]
    assert lines[9].split() == ["ran", "taken", "jump"]  # the else arm ran: a goto


def test_statement_lines_cover_heads_not_bodies():
    src = "void f(void)\n{\n\tint a;\n\tint b = 1;\n\tif (b)\n\t\ta = 2;\n\tfor (;;) {\n\t}\n}\n"
    lines = statement_lines(parse(src.encode()).root, 1)
    assert sorted(lines) == [4, 5, 6, 7]


def test_the_tour_page_has_the_legend_and_the_run_lines():
    from test_docs import SOCKET_C, THING_H, TOUR, _records, _run

    base = _run()
    run = RunView(base.steps, base.snapshot, executed={("make", "net/socket.c"): {11, 12, 13}})
    facts = MemoryFacts(records=_records(), run=run,
                        sources={"net/socket.c": SOCKET_C, "include/thing.h": THING_H})
    page = generate_pages(parse_tour(TOUR), facts).pages["generated/tour/make.md"]
    assert 'class="code-legend"' in page and "did not run" in page
    assert re.search(r'name="__codelineno-\d+-12"></a><span class="cl ran hll">', page)
    assert re.search(r'name="__codelineno-\d+-15"></a><span class="cl not-ran">', page)


def test_run_view_reads_executed_lines_from_a_run_that_has_them():
    class Run:
        steps: list = []

        def snapshot(self, n):
            return {}

        def executed_lines(self, function, file):
            return [3, 4] if function == "f" else None

    view = RunView.of(Run())
    assert view.executed_lines("f", "a.c") == {3, 4}
    assert view.executed_lines("g", "a.c") is None
    assert RunView([], lambda n: {}).executed_lines("f", "a.c") is None


# --- facts for the cards ----------------------------------------------------------------------


def test_defines_found_by_a_plain_search():
    files = [("include/a.h", b"#define A 1\n#  define  F(x, y) \\\n\t((x) + (y))\n"),
             ("net/b.c", b"#define A 2\n")]
    found = find_defines(files, ["A", "F", "G"], near=["net/b.c"])
    assert found["A"] == MacroDef("A", "net/b.c", 1, None, "2", "search")
    assert found["F"].params == ("x", "y") and found["F"].body == "((x) + (y))"
    assert "G" not in found


def test_memory_facts_answer_the_card_questions():
    facts = _facts()
    assert facts.constant_value("GFP_KERNEL") == 16
    assert facts.typedef("gfp_t").type == "unsigned int"
    assert facts.alias("sk_prot").target == "__sk_common.skc_prot"
    assert facts.structs_with_member("sk_flags") == ["sock"]
    assert facts.macros(["container_of"])["container_of"].params == ("ptr", "type", "member")


# --- link checks on a built site --------------------------------------------------------------


def test_built_fake_site_has_no_dead_code_link(tmp_path):
    from test_docs import SOCKET_C, THING_H, TOUR, _records, _run

    facts = MemoryFacts(records=_records(), run=_run(),
                        sources={"net/socket.c": SOCKET_C, "include/thing.h": THING_H})
    site = generate_pages(parse_tour(TOUR), facts)
    root = tmp_path / "site"
    import shutil

    shutil.copytree(SITE, root, ignore=shutil.ignore_patterns("generated", "__pycache__"))
    write_pages(root / "docs", site)
    run_mkdocs(root, tmp_path / "out", strict=True)
    out = tmp_path / "out"
    pages = [str(p.relative_to(out)) for p in (out / "generated").glob("**/index.html")]
    assert dead_links(out, pages) == []
    share = site_share(out, ["generated/tour/make/index.html"])
    assert share.tokens > 20 and share.covered >= 19  # the fake records no locals
    assert (out / "javascripts/codebrowser.js").is_file()
    assert (out / "generated/symbols/b00.js").is_file()
    # a broken link is found
    page = out / "generated/tour/make/index.html"
    page.write_text(page.read_text().replace('class="n xr" href="', 'class="n xr" href="x', 1))
    assert any("no such page" in d for d in dead_links(out, pages))


# --- search ----------------------------------------------------------------------------------


def _search_hook():
    spec = importlib.util.spec_from_file_location("search_hook", SITE / "hooks/search.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_search_names_favour_the_exact_name():
    hook = _search_hook()
    every = ["sock", "sock_alloc", "sock_alloc_file", "socket", "socketcall"]
    assert hook._extended(["sock_alloc"], every) == ["sock_alloc"] * 3 + ["sock_alloc_file"]
    assert hook._extended(["sock"], every) == ["sock"] * 3 + ["sock_alloc", "sock_alloc_file"]
    assert "socket" not in hook._extended(["sock"], every)


# --- the real site ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(graph_cfg):
    from analyzer.docs import build_site

    report = build_site(graph_cfg, strict=True, progress=False)
    return report.site_dir


def _tour_pages(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in (out / "generated/tour").glob("*/index.html"))


@pytest.mark.kernel
def test_tour_identifiers_are_linked_or_carded(built):
    share = site_share(built, _tour_pages(built))
    assert share.tokens > 1000
    assert share.ratio >= 0.95, (str(share), share.missing.most_common(20))


@pytest.mark.kernel
def test_no_dead_link_in_code_or_cards(built):
    pages = sorted(str(p.relative_to(built)) for p in (built / "generated").glob("**/index.html"))
    assert dead_links(built, pages) == []


@pytest.mark.kernel
def test_real_cards_know_the_socket_path(built):
    from analyzer.docs.linkcheck import load_cards

    cards = load_cards(built)
    icall = next(c for k, c in cards.items() if k.startswith("i:inet_create")
                 and k.endswith(":sk->sk_prot->init"))
    taken = [r for r in icall["x"] if r.get("k")]
    assert taken[0]["n"] == "tcp_v4_init_sock" and len(icall["x"]) > 5
    assert any("tcp_prot" in e for e in taken[0]["e"])
    assert cards["m:sock_common.skc_family"]["al"][0].startswith("sk_family: #define")
    assert cards["k:SOCK_STREAM"]["t"] == "SOCK_STREAM = 1"
    funcs = [c for k, c in cards.items() if k.startswith("f:")]
    assert len(funcs) > 300  # two calls around every scenario's path


@pytest.mark.kernel
def test_lecture_page_compares_by_content(built):
    text = unescape((built / "generated/tour/lines/index.html").read_text())
    for needle in ("sys_socketcall", "inode_cachep", "tcp_recvmmsg", "parameter type",
                   "tcp_write_timer", "By line number"):
        assert needle in text, needle
    headline = re.search(r"<strong>(\d+) lines of code</strong>", text)
    assert headline and int(headline.group(1)) > 300


@pytest.mark.kernel
def test_two_calls_around_every_scenario_have_a_card(built, graph_cfg):
    from analyzer.docs import open_facts
    from analyzer.docs.linkcheck import load_cards
    from analyzer.docs.tour import load_tour

    cards = load_cards(built)
    facts = open_facts(graph_cfg, load_tour(graph_cfg.site_dir / "tour.yaml"))
    assert len(facts.scenarios) >= 7, facts.notices
    ring = {n for run in facts.scenarios.values() for n in run.functions()}
    seen: set[str] = set()
    for _ in range(3):  # the path, its callees, theirs
        nxt = set()
        for name in ring - seen:
            seen.add(name)
            fn = facts.function(name)
            ids = ({f"f:{fn.id}"} if fn else set()) | {f"M:{name}", f"x:{name}"}
            assert ids & set(cards), name
            if fn is not None:
                nxt |= {n.name for n in facts.callees(fn)}
        ring = nxt
    assert len(seen) > 500
    structs = {c["n"] for k, c in cards.items() if k.startswith("s:")}
    assert {"socket", "sock", "tcp_sock", "unix_sock", "netlink_sock", "packet_sock"} <= structs
