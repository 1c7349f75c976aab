"""The model on small C fixtures: translation of control flow, objects and
views, indirect calls, safety of the generated Python, untranslatable code."""

from __future__ import annotations

import ast
import copy
from pathlib import Path

import pytest

from analyzer.model import rt, run_with
from analyzer.model.context import ModelError
from analyzer.model.facts import facts_from_files
from analyzer.model.generate import Generator, table
from analyzer.model.primitives.kernel import is_err
from analyzer.model.translate import pyname

FIXTURES = Path(__file__).parent / "fixtures" / "model"


def _data() -> dict:
    data = copy.deepcopy(table())
    data["boot"] = {"entries": [], "follow": []}
    data["scenarios"] = {"t": {"entry": "entry", "params": ["x"]}}
    return data


def run_fixture(tmp_path: Path, text: str, x: int = 1, out: Path | None = None):
    (tmp_path / "t.c").write_text(text)
    facts = facts_from_files(tmp_path, ["t.c"])
    gen = Generator(facts, _data())
    return run_with(facts, "t", [x], model_dir=out, generator=gen), gen


@pytest.mark.parametrize("x, extra", [(1, "111"), (2, "101"), (3, "-1")])
def test_control_flow_and_views(tmp_path, x, extra):
    r, _ = run_fixture(tmp_path, (FIXTURES / "flow.c").read_text(), x)
    # goto backward ran the label 3 times; the list walk saw one entry
    assert r.result == "4"
    assert r.functions() == ["entry", "reg", "get", "INIT_LIST_HEAD", "list_add", "__list_add",
                             "make"]
    final = r.snapshot()
    outer = dict(final["outer#1"]["fields"])
    assert outer["extra"] == extra  # switch with fallthrough and default
    # (struct base *)o is the embedded first member: the write lands in outer#1.b
    assert dict(final["outer#1.b"]["fields"])["family"] == str(x)
    assert dict(final["table"]["fields"])["[1]"] == "&my_ops"


def test_indirect_call_records_its_table(tmp_path):
    r, _ = run_fixture(tmp_path, (FIXTURES / "flow.c").read_text())
    make = next(s for s in r.steps if s.function == "make" and s.event == "call")
    assert make.via["expr"] == "p->create"
    assert make.via["table"] == "my_ops" and make.via["field"] == "create"
    assert make.via["file"] == "t.c" and make.via["line"] == 30


def test_snapshots_follow_the_steps(tmp_path):
    r, _ = run_fixture(tmp_path, (FIXTURES / "flow.c").read_text())
    first = next(s.n for s in r.steps if s.function == "make" and s.event == "call")
    before = dict(r.snapshot(first)["outer#1"]["fields"])
    after = dict(r.snapshot()["outer#1"]["fields"])
    assert before["extra"] == "0" and after["extra"] == "111"


def test_generated_modules_have_locations(tmp_path):
    out = tmp_path / "model"
    run_fixture(tmp_path, (FIXTURES / "flow.c").read_text(), out=out)
    text = (out / "t_c.py").read_text()
    assert "def make(o, x):" in text
    assert "raise rt.Goto('again')" in text
    code_lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert all("# t.c:" in ln for ln in code_lines)
    assert "class struct_outer(rt.Obj):" in (out / "structs.py").read_text()


def test_kernel_text_never_runs_as_python(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "model"
    r, gen = run_fixture(tmp_path, (FIXTURES / "evil.c").read_text(), 41, out=out)
    assert not (tmp_path / "PWNED").exists()
    assert r.result == "42"
    msg = dict(r.snapshot()["e"]["fields"])["msg"]
    assert msg.startswith("\"'''; __import__")
    generated = "\n".join(p.read_text() for p in out.glob("*.py"))
    tree = ast.parse(generated)
    imports = [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, (ast.Import,
                                                                          ast.ImportFrom))]
    assert imports == ["from analyzer.model import rt"]
    for node in ast.walk(tree):  # the kernel's text is only ever inside literals
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node.value = ""
    code = ast.unparse(tree)
    assert "system" not in code and "__import__" not in code and "PWNED" not in code
    assert "e.import_ = " in generated  # the keyword member is renamed
    assert "_k_F = " in generated and "def print(" not in generated


def test_untranslatable_statement_names_function_file_line(tmp_path):
    # translated as a statement that refuses to run: the error names where
    with pytest.raises(ModelError, match=r"gnu_asm_expression in weird at t\.c:3"):
        run_fixture(tmp_path, (FIXTURES / "bad.c").read_text())


def test_pyname_validates_and_renames():
    assert pyname("sock") == "sock"
    assert pyname("lambda") == "_k_lambda" and pyname("rt") == "_k_rt"
    with pytest.raises(Exception, match="not a C identifier"):
        pyname("a; import os")


def test_unknown_values_stay_named():
    s = rt.Sym("current")
    assert repr(s.nsproxy.net_ns) == "?current->nsproxy->net_ns"
    assert rt.display(s + 1) == "?(current + 1)"
    assert rt.display(rt.Named("SS_UNCONNECTED", 1)) == "SS_UNCONNECTED (1)"


def test_cli_renderers(tmp_path):
    from analyzer.model.cli import render_python, render_snapshot, render_trace

    r, gen = run_fixture(tmp_path, (FIXTURES / "flow.c").read_text())
    text = render_trace(r)
    assert "make  t.c:34" in text and "via p->create = my_ops.create set at t.c:30" in text
    assert "outer#1: extra = 111" in text
    snap = render_snapshot(r, len(r.steps))
    assert "outer#1  (struct outer)" in snap and "extra" in snap
    tr, c_text = gen.python_of("make")
    side = render_python(c_text, tr.line, tr.source, tr.lines)
    assert "o->extra = S_UNCONNECTED;" in side and "o.extra = rt.K('S_UNCONNECTED', 1)" in side


def test_a_decision_on_an_unknown_call_is_a_counted_assumption(tmp_path):
    text = (FIXTURES / "flow.c").read_text().replace(
        "\treg(&my_ops, 1);", "\tif (security_socket_create(1, 1, 1, 0))\n\t\treturn -1;\n"
        "\treg(&my_ops, 1);")
    r, _ = run_fixture(tmp_path, text)
    stub = next(s for s in r.steps if s.event == "stub")
    assert stub.function == "security_socket_create" and stub.value.startswith("?")
    assumed = next(s for s in r.steps if s.event == "assume")
    assert len(r.assumptions) == 1 and "security_socket_create" in assumed.note
    assert r.result in ("4", "-1")


@pytest.mark.parametrize("x, switched", [(7, 1008), (9, 1108), (8, 7)])
def test_c_constructs(tmp_path, x, switched):
    r, _ = run_fixture(tmp_path, (FIXTURES / "constructs.c").read_text(), x)
    # loops give 8; the switch (default first, fallthrough); + 3 from the comma and the
    # static counter; out -3 (C division); h.p.a 3; k 0 (the old j) + j 1; x > 5
    assert r.result == str((switched + 3) * 10000 + 0 * 1000 + 3 * 100 + 1 * 10 + 1)
    twice = next(s for s in r.steps if s.function == "twice" and s.event == "call")
    assert twice.via["expr"] == "h.fn" and twice.via["table"].startswith("h@")


def test_memcpy_kmem_cache_macro_and_define_macros(tmp_path):
    """KMEM_CACHE makes a cache of its struct; memcpy fills array slots from a
    string; a [primitives] ``impl = "macro"`` name runs its #define's C; a
    compound literal may give its members by position."""
    (tmp_path / "m.h").write_text("#define TWICE(x) ((x) * 2)\n")
    text = """
struct kmem_cache;
typedef struct { int val; } id_t;
struct item { char name[8]; int n; id_t id; };
static struct kmem_cache *item_cache;
int entry(int x)
{
	struct item *it;
	item_cache = KMEM_CACHE(item, 0);
	it = kmem_cache_alloc(item_cache, 0);
	memcpy(it->name, "ab", 2);
	it->n = TWICE(x);
	it->id = (id_t){ x + 1 };
	return it->n;
}
"""
    (tmp_path / "t.c").write_text(text)
    facts = facts_from_files(tmp_path, ["t.c", "m.h"])
    data = _data()
    data["primitives"]["TWICE"] = {"impl": "macro", "file": "m.h"}
    r = run_with(facts, "t", [3], generator=Generator(facts, data))
    assert r.result == "6"
    assert [s.function for s in r.steps if s.event == "call"] == ["entry", "TWICE"]
    name = dict(r.snapshot()["item#1.name"]["fields"])
    assert (name["[0]"], name["[1]"]) == (str(ord("a")), str(ord("b")))
    assert dict(r.snapshot()["item#1.id"]["fields"])["val"] == "4"  # a positional member


def test_is_err_takes_max_errno_from_the_tree():
    m = rt.Machine(lambda name: None, None, None, None)
    m.constant = {"MAX_ERRNO": 4095}.get
    assert [rt.run_in(m, is_err, v) for v in (-12, -4095, -4096, 0)] == [1, 1, 0, 0]
    m.constant = {"MAX_ERRNO": 10}.get  # another tree, another answer
    assert rt.run_in(m, is_err, -12) == 0
    m.constant = lambda name: None
    assert isinstance(rt.run_in(m, is_err, -12), rt.Sym)  # unknown, and said so


def test_lines_that_ran_and_the_stack_at_each(tmp_path):
    r, _ = run_fixture(tmp_path, (FIXTURES / "flow.c").read_text(), 2)
    ran = r.executed_lines("make", "t.c")
    # the switch (line 44) went to case 2 (line 48): case 1's statement and the
    # default's did not run
    assert {36, 44, 48, 53} <= ran and 46 not in ran and 51 not in ran
    event = next(e for e in r.lines if e.function == "make")
    assert [f.function for f in event.stack] == ["entry", "get", "make"]
    assert dict((v.name, v.value) for v in event.stack[-1].locals)["x"] == "2"
    assert r.to_json()["lines"][0][1:3] == ["entry", "t.c"]
    counts = [e.writes for e in r.lines]  # the writes made before each line
    assert counts == sorted(counts) and counts[0] >= 0 and counts[-1] <= len(r.writes)


def test_gnu_elvis_typedef_casts_and_array_sizes(tmp_path):
    """``a ?: b``; ``(gid_t) -1`` (the grammar reads it as ``gid_t - 1``);
    ``sizeof`` of a local array and of a global one; user copies."""
    r, _ = run_fixture(tmp_path, """
typedef unsigned int gid_t;
static char sep[] = { ' ', '\\t', '\\n' };
int entry(int x)
{
	gid_t range[2];
	int err = 0;
	char buf[4];
	if (copy_from_user(buf, "ab", 3))
		return -1;
	range[0] = (gid_t) -1;
	return (err ?: x) * 1000000 + (range[0] == 4294967295U) * 100000
		+ sizeof(range) * 1000 + sizeof(sep) * 10 + (buf[1] == 'b');
}
""", 7)
    assert r.result == str(7 * 1000000 + 100000 + 8 * 1000 + 3 * 10 + 1)
    assert not r.assumptions


def test_python_of_names_one_definition(tmp_path):
    """``--python NAME`` refuses an ambiguous name and lists ``NAME@FILE`` forms;
    ``NAME@FILE`` picks one; an empty name is its own clear error."""
    from analyzer.errors import AnalyzerError

    (tmp_path / "a.c").write_text("static int init(int x) { return x + 1; }\n")
    (tmp_path / "b.c").write_text("static int init(int x) { return x + 2; }\n")
    gen = Generator(facts_from_files(tmp_path, ["a.c", "b.c"]), _data())
    with pytest.raises(AnalyzerError, match="init@a.c, init@b.c"):
        gen.python_of("init")
    tr, c_text = gen.python_of("init@b.c")
    assert tr.file == "b.c" and "x + 2" in c_text
    with pytest.raises(AnalyzerError, match="needs a function name"):
        gen.python_of("")
    with pytest.raises(AnalyzerError, match="not defined in c.c; it is in a.c, b.c"):
        gen.python_of("init@c.c")


def test_modules_are_written_only_when_changed(tmp_path):
    out = tmp_path / "model"
    run_fixture(tmp_path, (FIXTURES / "flow.c").read_text(), out=out)
    first = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    run_fixture(tmp_path, (FIXTURES / "flow.c").read_text(), out=out)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == first
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_or_of_named_constants_keeps_the_names():
    """``inode->i_mode = S_IFSOCK | S_IRWXUGO;`` shows as the source writes it."""
    from analyzer.model.values import K

    mode = K("S_IFSOCK", 0o140000) | K("S_IRWXUGO", 0o777)
    assert repr(mode) == "S_IFSOCK | S_IRWXUGO (49663)" and mode == 49663
    assert repr(mode | 8) == repr(mode)  # a bit already set: still the same value
    assert repr(K("A", 1) | K("A", 1)) == "A (1)"
    assert type(K("A", 1) | 6) is int  # a plain number joins: no name is claimed


def test_a_macro_given_a_type_that_declares_a_local(tmp_path):
    """``DECLARE_SOCKADDR(struct sockaddr_un *, sunaddr, msg->msg_name)`` misparses
    (a type as an argument); its expansion is the declaration it stands for."""
    (tmp_path / "m.h").write_text("#define DECLARE_PTR(type, dst, src) \\\n"
                                  "\ttype dst = ({ (void)sizeof(*dst); (type) src; })\n")
    (tmp_path / "t.c").write_text("""
struct item { int n; };
struct holder { void *name; };
int entry(int x)
{
	struct item it = { .n = 0 };
	struct holder h = { .name = &it };
	DECLARE_PTR(struct item *, p, h.name);
	p->n = x + 1;
	return it.n;
}
""")
    facts = facts_from_files(tmp_path, ["t.c", "m.h"])
    r = run_with(facts, "t", [4], generator=Generator(facts, _data()))
    assert r.result == "5"


def test_a_local_of_a_union_without_a_tag_has_a_layout(tmp_path):
    """``union { int val; struct pair p; } v;`` (sock_getsockopt's): the union is
    named by its place, laid out from its members, and its bytes copy out."""
    (tmp_path / "t.c").write_text("""
struct pair { int a; int b; };
int entry(int x)
{
	union {
		int val;
		struct pair p;
	} v;
	int out[2];
	memset(&v, 0, sizeof(v));
	v.p.b = x;
	v.val = x + 1;
	memcpy(out, &v, sizeof(v));
	return out[0] * 100 + out[1] * 10 + (sizeof(v) == 8);
}
""")
    facts = facts_from_files(tmp_path, ["t.c"])
    r = run_with(facts, "t", [4], generator=Generator(facts, _data()))
    assert r.result == str(5 * 100 + 4 * 10 + 1)
    assert any(o["type"] == "union anonymous@t.c:5" for o in r.snapshot().values())


MACRO_GLOBAL = """\
struct list_head { struct list_head *next, *prev; };
#define LIST_HEAD_INIT(name) { &(name), &(name) }
#define LIST_HEAD(name) struct list_head name = LIST_HEAD_INIT(name)
/* d\u00e9j\u00e0 vu: characters of more than one byte before the declarations */
static LIST_HEAD(a);
#if 0
static LIST_HEAD(b);
#endif
int entry(int x) { return a.next == &a; }
"""


def test_a_global_declared_through_a_macro_is_made_from_its_expansion(tmp_path):
    r, gen = run_fixture(tmp_path, MACRO_GLOBAL)
    assert r.result == "1"
    g, _ = gen.macro_global("t.c", "a")
    assert (g.name, g.line, g.static) == ("a", 5, True)  # the line counted in characters
    assert gen.macro_global("t.c", "b") is None  # its line is dropped by #if 0
    assert gen.is_macro_global("t.c", "a") and not gen.is_macro_global("t.c", "entry")


def test_a_file_whose_ifdef_asks_for_its_own_define_is_decided_once(tmp_path, monkeypatch):
    from analyzer.model.cpp import Conditions

    text = """#ifdef LATER
int entry(int x) { return 1; }
#else
int entry(int x) { return 2; }
#endif
#define LATER 1
#ifdef EARLY
#define OTHER 1
#endif
#define EARLY 1
"""
    decided = []
    real = Conditions.inactive_lines
    monkeypatch.setattr(Conditions, "inactive_lines",
                        lambda self, src, reading=None: decided.append(src) or
                        real(self, src, reading))
    r, _ = run_fixture(tmp_path, text)
    assert r.result == "1"  # a #define the build keeps, anywhere in the tree, defines LATER
    assert len(decided) == 1  # asked again while deciding: answered from how far it read
