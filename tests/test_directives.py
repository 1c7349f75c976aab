"""analyzer.directives: #define and initcall records from tiny C snippets, the
level table, and on the real tree the initcalls and macros of the socket path."""

from __future__ import annotations

import re

import pytest

from analyzer import directives
from analyzer.extract import extract_file
from analyzer.records import Initcall, Macro


def macros(code: str, path: str = "net/t.c") -> list[Macro]:
    return directives.scan(path, code.encode())[0]


def macro(code: str, name: str) -> Macro:
    found = [m for m in macros(code) if m.name == name]
    assert len(found) == 1, found
    return found[0]


def initcalls(code: str) -> list[Initcall]:
    return directives.scan("net/t.c", code.encode())[1]


# ------------------------------------------------------------------ macros

def test_object_and_function_like():
    code = "#define A 1\n#define B (A + 2) /* two */\n#define f(x) ((x) + 1)\n#define g() 3\n"
    got = [(m.name, m.line, m.params, m.body) for m in macros(code)]
    assert got == [("A", 1, None, "1"), ("B", 2, None, "(A + 2)"),
                   ("f", 3, ("x",), "((x) + 1)"), ("g", 4, (), "3")]


def test_a_blank_before_the_parenthesis_makes_it_object_like():
    assert macro("#define F (x) x\n", "F").params is None


def test_variadic_params_keep_their_dots():
    assert macro("#define pr(fmt, ...) printk(fmt, ##__VA_ARGS__)\n", "pr").params == \
        ("fmt", "...")
    assert macro("#define dbg(fmt, args...) printk(fmt, ## args)\n", "dbg").params == \
        ("fmt", "args...")


def test_continued_body_keeps_its_lines():
    code = "\n#define SKB_TRUESIZE(X) ((X) +\t\t\\\n\t SKB_DATA_ALIGN(1) +\t\\\n\t 2)\nint x;\n"
    m = macro(code, "SKB_TRUESIZE")
    assert (m.line, m.end_line, m.params) == (2, 4, ("X",))
    assert m.body == "((X) +\n\t SKB_DATA_ALIGN(1) +\n\t 2)"


def test_body_lines_match_source_lines_when_params_span_lines():
    code = "#define F(a, \\\n\t  b) \\\n\t(a + b)\n"
    m = macro(code, "F")
    assert m.params == ("a", "b") and (m.line, m.end_line) == (1, 3)
    assert m.body.split("\n")[2] == "\t(a + b)"


def test_comments_are_removed_and_strings_kept():
    code = ('#define A "http://x" /* a\n   comment over lines */ + 1\n'
            "#define B 2 // two\n#define C /* c */ 3\n")
    a = macro(code, "A")
    assert a.body == '"http://x"\n + 1' and (a.line, a.end_line) == (1, 2)
    assert macro(code, "B").body == "2"
    assert macro(code, "C").body == "3"


def test_blanks_around_the_hash_and_an_empty_body():
    m = macro("  #  define   __net_init\n", "__net_init")
    assert (m.params, m.body) == (None, "")


def test_directives_in_comments_are_not_read():
    code = "/*\n#define A 1\n#ifdef X\n*/\n#define B 2\n/* #define C 3 */\n"
    assert [(m.name, m.guard) for m in macros(code)] == [("B", "")]


def test_a_define_on_the_first_and_last_line_without_newline():
    assert [(m.name, m.line, m.body) for m in macros("#define A 1\n#define B 2")] == [
        ("A", 1, "1"), ("B", 2, "2")]


# ------------------------------------------------------------------ guards

def test_guards_as_field_guard_writes_them():
    code = ("#ifdef A\n#define a 1\n#ifdef B\n#define b 1\n#endif\n#elif defined(C)\n"
            "#define c 1\n#else\n#define d 1\n#endif\n#define e 1\n"
            "#if IS_ENABLED(CONFIG_IPV6) && defined CONFIG_X\n#define f 1\n#endif\n"
            "#ifndef G\n#define g 1\n#endif\n")
    assert [(m.name, m.guard) for m in macros(code)] == [
        ("a", "A"), ("b", "A && B"), ("c", "!A && C"), ("d", "!A && !C"), ("e", ""),
        ("f", "IS_ENABLED(CONFIG_IPV6) && CONFIG_X"), ("g", "!G")]


def test_guards_agree_with_struct_field_guards():
    body = "#ifdef A\n{0}\n#ifdef B\n{1}\n#endif\n#elif defined(C)\n{2}\n#else\n{3}\n#endif\n"
    fields = extract_file("t.c", ("struct s {\n" + body.format(
        "int a;", "int b;", "int c;", "int d;") + "};\n").encode()).structs[0].fields
    defines = macros(body.format("#define a", "#define b", "#define c", "#define d"))
    assert [f.guard for f in fields] == [m.guard for m in defines]


def test_an_include_guard_is_no_condition():
    code = ("/* header */\n#ifndef _LINUX_T_H\n#define _LINUX_T_H\n#define A 1\n"
            "#ifdef CONFIG_X\n#define B 2\n#endif\n#endif /* _LINUX_T_H */\n")
    assert [(m.name, m.guard) for m in macros(code, "include/linux/t.h")] == [
        ("_LINUX_T_H", ""), ("A", ""), ("B", "CONFIG_X")]


def test_a_first_ifndef_with_other_content_stays_a_condition():
    code = "#ifndef HZ\n#define HZ 100\n#endif\n"
    assert [(m.name, m.guard) for m in macros(code)] == [("HZ", "!HZ")]


def test_unbalanced_directives_do_not_raise():
    assert [m.name for m in macros("#endif\n#else\n#define A 1\n#if X\n")] == ["A"]


# ------------------------------------------------------------------ initcalls

def test_initcall_levels():
    code = ("static int __init a(void) { return 0; }\n"
            "core_initcall(a);\nfs_initcall(b);\nmodule_init(c);\n__initcall(d);\n"
            "core_initcall_sync(e);\nrootfs_initcall(f);\nlate_initcall_sync(g);\n"
            "early_initcall(h);\n  pure_initcall( i );\n")
    got = [(i.function, i.level, i.line, i.macro) for i in initcalls(code)]
    assert got == [("a", "core", 2, "core_initcall"), ("b", "fs", 3, "fs_initcall"),
                   ("c", "device", 4, "module_init"), ("d", "device", 5, "__initcall"),
                   ("e", "core_sync", 6, "core_initcall_sync"),
                   ("f", "rootfs", 7, "rootfs_initcall"),
                   ("g", "late_sync", 8, "late_initcall_sync"),
                   ("h", "early", 9, "early_initcall"), ("i", "pure", 10, "pure_initcall")]


def test_initcall_guards_and_what_is_not_an_initcall():
    code = ("#ifdef CONFIG_PROC_FS\nlate_initcall(p);\n#else\nlate_initcall(q);\n#endif\n"
            "#define module_foo_driver(d) \\\n\tmodule_init(d##_init)\n"
            "#define wrap(fn) \\\n\tcore_initcall(fn)\n"
            "/*\nmodule_init(commented);\n*/\n"
            "int f(void) { x = module_init_done(y); }\n"
            "module_exit(gone);\nsecurity_initcall(other);\nmodule_init(last);\n")
    got = [(i.function, i.line, i.guard) for i in initcalls(code)]
    assert got == [("p", 2, "CONFIG_PROC_FS"), ("q", 4, "!CONFIG_PROC_FS"), ("last", 16, "")]


def test_extract_file_gives_both_kinds():
    ff = extract_file("net/t.c", b"#define F(x) x\nint f(void) { return 0; }\nmodule_init(f);\n")
    assert [m.name for m in ff.macros] == ["F"]
    assert [(i.function, i.level) for i in ff.initcalls] == [("f", "device")]


# ------------------------------------------------------------------ levels

def test_levels_in_kernel_order():
    names = [lv.name for lv in directives.levels()]
    assert names == ["early", "pure", "core", "core_sync", "postcore", "postcore_sync",
                     "arch", "arch_sync", "subsys", "subsys_sync", "fs", "fs_sync",
                     "rootfs", "device", "device_sync", "late", "late_sync"]
    assert [directives.level_rank(n) for n in names] == list(range(len(names)))
    with pytest.raises(KeyError):
        directives.level_rank("nope")


# ------------------------------------------------------------------ the real tree

@pytest.mark.kernel
def test_initcalls_of_the_socket_path(store_cfg):
    from analyzer.store import Store

    with Store.open(store_cfg.store_path) as st:
        def one(fn: str) -> tuple:
            found = st.find("initcalls", fn)
            assert len(found) == 1, found
            return found[0].level, found[0].file, found[0].macro

        assert one("sock_init") == ("core", "net/socket.c", "core_initcall")
        assert one("inet_init") == ("fs", "net/ipv4/af_inet.c", "fs_initcall")
        # 4.4.1 runs af_unix_init at fs level (net/unix/af_unix.c:2925, a comment
        # above it says why: earlier than device_initcall)
        assert one("af_unix_init") == ("fs", "net/unix/af_unix.c", "fs_initcall")
        assert one("packet_init") == ("device", "net/packet/af_packet.c", "module_init")
        assert one("net_ns_init") == ("pure", "net/core/net_namespace.c", "pure_initcall")


@pytest.mark.kernel
def test_function_like_macros_of_the_socket_path(store_cfg):
    from analyzer.store import Store

    with Store.open(store_cfg.store_path) as st:
        htons = [m for m in st.find("macros", "htons") if m.file.startswith("include/linux")]
        assert [(m.file, m.params, m.body) for m in htons] == [
            ("include/linux/byteorder/generic.h", ("x",), "___htons(x)")]
        (true,) = st.find("macros", "SKB_TRUESIZE")
        assert (true.file, true.params) == ("include/linux/skbuff.h", ("X",))
        assert " ".join(true.body.split()) == ("((X) + SKB_DATA_ALIGN(sizeof(struct sk_buff)) "
                                               "+ SKB_DATA_ALIGN(sizeof(struct skb_shared_info)))")
        assert true.end_line - true.line == true.body.count("\n") == 2
        (egid,) = st.find("macros", "current_egid")
        assert (egid.file, egid.params, egid.body) == (
            "include/linux/cred.h", (), "(current_cred_xxx(egid))")


@pytest.mark.kernel
def test_level_table_agrees_with_the_tree(kernel_cfg):
    """Each macro of kernel/initcalls.toml expands to __define_initcall(fn, id)
    with the table's id in include/linux/init.h, and the level order is the
    one of INIT_CALLS in include/asm-generic/vmlinux.lds.h."""
    root = kernel_cfg.kernel_dir
    defs = {m.name: m for m in directives.scan(
        "include/linux/init.h", (root / "include/linux/init.h").read_bytes())[0]
        if not m.guard.startswith("MODULE")}
    for lv in directives.levels():
        for name in lv.macros:
            if name == "module_init":
                continue
            body = defs[name].body
            while not body.startswith("__define_initcall"):  # __initcall -> device_initcall
                body = defs[body.split("(")[0]].body
            assert body == f"__define_initcall(fn, {lv.id})", name
    lds = (root / "include/asm-generic/vmlinux.lds.h").read_text()
    block = lds[lds.index("#define INIT_CALLS\t"):]
    block = block[:block.index("__initcall_end")]
    order = ["early"] + re.findall(r"INIT_CALLS_LEVEL\((\w+)\)", block)
    ids = [lv.id for lv in directives.levels()]
    assert [i for i in ids if not i.endswith("s") or i == "rootfs"] == order
    assert all(ids.index(i + "s") == ids.index(i) + 1 for i in order if i + "s" in ids)
