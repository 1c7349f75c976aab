"""Unit tests of analyzer.parse: every rewrite keeps byte length and lines,
and the kernel idioms of the macro table parse without ERROR nodes."""

from __future__ import annotations

import pytest

from analyzer import parse


def clean(code: str) -> parse.Parsed:
    parsed = parse.parse(code.encode())
    assert parse.error_stats(parsed.root) == (0, 0), parsed.root
    return parsed


@pytest.mark.parametrize("code", [
    "static int __init sock_init(void) { return 0; }",
    "static struct vfsmount *sock_mnt __read_mostly;",
    "struct net_proto_family __rcu *net_families[NPROTO] __read_mostly;",
    "int f(char __user *p) __acquires(x) { return 0; }",
    "SYSCALL_DEFINE3(socket, int, family, int, type, int, protocol)\n{ return 0; }",
    "void f(struct list_head *h) { struct p *a; list_for_each_entry_rcu(a, h, m) { g(a); } }",
    "void f(void) { struct x *a = container_of(p, struct x, m); }",
    "void f(void) { y = max_t(unsigned long, a, b); }",
    "static int x = 1 &&\n#if A\n 2;\n#else\n 3;\n#endif\n",
    "static struct p o = { .a = 1,\n#ifdef X\n .b = f,\n#endif\n};",
    "void f(void) {\n goto out;\nout:\n#ifdef X\n g();\n#endif\n return;\n}",
])
def test_kernel_idioms_parse_clean(code):
    clean(code)


@pytest.mark.parametrize("code", [
    "SYSCALL_DEFINE2(listen, int, fd,\n\t\tint, backlog)\n{\n\treturn 0;\n}\n",
    "void f(void) {\n\tlist_for_each_entry(a,\n\t\th, m) {\n\t\tg(a);\n\t}\n}\n",
    "void f(void) {\n\tp = container_of(q,\n\t\tstruct sock, x);\n}\n",
    "#if A\nint x;\n", "\xff\xfe garbage (",
])
def test_rewrites_keep_length_and_lines(code):
    """Same length; same newlines outside rewritten spans (inside a span they
    may move to its end, so the lines after it stay true)."""
    src = code.encode("latin-1")
    text, rewrites = parse.preprocess(src)
    assert len(text) == len(src) and text.count(b"\n") == src.count(b"\n")

    def outside(data: bytes) -> list[int]:
        return [i for i, c in enumerate(data) if c == 10
                and not any(r.start <= i < r.end for r in rewrites)]

    assert outside(text) == outside(src)


def test_syscall_rewrite_record():
    parsed = clean("\nSYSCALL_DEFINE3(socket, int, family, int, type, int, protocol)\n{ }\n")
    (rw,) = parsed.rewrites
    assert (rw.kind, rw.name, rw.line) == ("definer", "SYSCALL_DEFINE3", 2)
    assert rw.args[0] == "socket"
    assert b"long SyS_socket(int family, int type, int protocol)" in parsed.source


def test_iterator_rewrite_keeps_macro_name_and_args():
    parsed = clean("void f(void) { hlist_for_each_entry(a, h, n) { g(a); } }")
    (rw,) = parsed.rewrites
    assert (rw.kind, rw.name, rw.args) == ("iterator", "hlist_for_each_entry", ("a", "h", "n"))


def test_iterator_inside_a_define_is_left_alone():
    src = b"#define each(a, h) list_for_each_entry(a, h, list)\n"
    assert parse.preprocess(src)[0] == src


def test_type_argument_rewrite_is_recorded():
    parsed = clean("void f(void) { a = container_of(p, struct socket_alloc, m); }")
    (rw,) = parsed.rewrites
    assert (rw.kind, rw.name, rw.args) == ("typearg", "container_of", ("struct socket_alloc",))
    assert b"struct_socket_alloc" in parsed.source


def test_type_rewrite_only_in_listed_macros():
    src = b"void f(void) { a = sizeof(struct x); b = g(p, struct y); }"
    text, rewrites = parse.preprocess(src)
    assert b"struct x" in text and b"struct y" in text and rewrites == ()


def test_blank_words_need_word_boundaries():
    text, _ = parse.preprocess(b"int my__init; int __init_x; static int __init f(void);")
    assert b"my__init" in text and b"__init_x" in text and b"__init f" not in text


def test_statement_level_conditionals_are_kept():
    text, _ = parse.preprocess(b"void f(void) {\n\tg();\n#ifdef X\n\th();\n#endif\n}\n")
    assert b"#ifdef X" in text and b"#endif" in text


def test_error_stats_counts_broken_code():
    parsed = parse.parse(b"int f( { ]")
    nodes, covered = parse.error_stats(parsed.root)
    assert nodes >= 1 and covered >= 1


def test_captures_in_source_order():
    parsed = parse.parse(b"void a(void){} void b(void){} void c(void){}")
    names = [n.child_by_field_name("declarator").child_by_field_name("declarator").text
             for n in parse.captures("facts", parsed.root)["function"]]
    assert names == [b"a", b"b", b"c"]


def test_do_while_macro_closes_the_loop():
    parsed = clean("void f(void) { do { g(t); } while_each_thread(task, t); }")
    assert [r.kind for r in parsed.rewrites] == ["dowhile"]


def test_function_named_like_an_iterator_is_not_a_loop():
    parsed = clean("void neigh_for_each(struct neigh_table *tbl, int x)\n{\n\tg();\n}\n"
                   "static int\nrds_for_each_conn_info(int a)\n{ return 0; }\n")
    assert parsed.rewrites == ()


def test_definer_args_lose_attribute_words():
    parsed = clean("SYSCALL_DEFINE4(socketpair, int, family, int, type, int, protocol,\n"
                   "\t\tint __user *, usockvec)\n{\n\treturn 0;\n}\n")
    assert b"__user" not in parsed.source and b"SyS_socketpair(" in parsed.source


def test_per_cpu_declarer_becomes_a_declaration():
    parsed = clean("static DEFINE_PER_CPU(int, sockets_in_use);\n"
                   "DECLARE_PER_CPU(struct softnet_data, softnet_data);\n")
    assert [(r.kind, r.name, r.args) for r in parsed.rewrites] == [
        ("declarer", "DEFINE_PER_CPU", ("int", "sockets_in_use")),
        ("declarer", "DECLARE_PER_CPU", ("struct softnet_data", "softnet_data"))]


def test_conditionals_after_case_labels_are_kept():
    text, _ = parse.preprocess(b"void f(int x){ switch (x) {\n case 1:\n#ifdef A\n g();\n"
                               b"#endif\n break; } }")
    assert b"#ifdef A" in text


def test_conditionals_around_defines_are_kept():
    src = (b"#ifndef _X_H\n#define _X_H\n#if defined(DEBUG)\n#define dbg(x) f(x)\n#else\n"
           b"#define dbg(x) g(x,\\\n\t\t0)\n#endif\n#endif\n")
    assert parse.preprocess(src)[0] == src
