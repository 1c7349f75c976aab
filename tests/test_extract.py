"""Unit tests of analyzer.extract on tiny C snippets, one per record kind and
kernel idiom, through a small harness (``assert_calls``, ``facts``)."""

from __future__ import annotations

import dataclasses

import pytest

from analyzer import parse, records
from analyzer.extract import MAX_BYTES, extract_file


def facts(code: str, path: str = "net/t.c") -> records.FileFacts:
    return extract_file(path, code.encode())


def assert_calls(code: str, expected: list[tuple[str, str]]) -> None:
    """(caller name, callee or expression) of every call, in source order."""
    got = [(c.caller.split("@")[0], c.callee or c.expr) for c in facts(code).calls]
    assert got == expected


def call(code: str, expr: str) -> records.Call:
    found = [c for c in facts(code).calls if c.expr == expr]
    assert len(found) == 1, facts(code).calls
    return found[0]


def fn(code: str, name: str, path: str = "net/t.c") -> records.Function:
    found = [f for f in facts(code, path).functions if f.name == name]
    assert len(found) == 1
    return found[0]


# ------------------------------------------------------------------ functions

def test_function_record():
    f = fn("\n\nstatic inline struct sock *mk(int a, const char **b)\n{\n\tint x, *y;\n"
           "\t{ struct foo z[4]; }\n\treturn 0;\n}\n", "mk")
    assert (f.line, f.end_line, f.static, f.inline, f.header) == (3, 8, True, True, False)
    assert f.return_type == "struct sock *"
    assert [(p.name, p.type) for p in f.params] == [("a", "int"), ("b", "const char **")]
    assert [(v.name, v.type) for v in f.locals] == [
        ("x", "int"), ("y", "int *"), ("z", "struct foo [4]")]
    assert f.signature == "static inline struct sock *mk(int a, const char **b)"
    assert f.id == "mk@net/t.c"


def test_header_and_external_id():
    f = fn("int g(void) { return 1; }", "g", "include/linux/t.h")
    assert f.header and not f.static and f.id == "g" and f.params == ()


def test_same_static_name_in_two_files_stays_distinct():
    a = fn("static int h(void) { return 0; }", "h", "net/a.c")
    b = fn("static int h(void) { return 0; }", "h", "fs/b.c")
    assert a.id != b.id


def test_syscall_define_gives_sys_and_alias():
    code = "\n" * 4 + ("SYSCALL_DEFINE3(socket, int, family, int, type, int, protocol)\n"
                       "{\n\treturn sock_create(family, type, protocol, NULL);\n}\n")
    ff = facts(code)
    by_name = {f.name: f for f in ff.functions}
    main, alias = by_name["SyS_socket"], by_name["sys_socket"]
    assert (main.line, main.macro, main.alias_of) == (5, "SYSCALL_DEFINE3", "")
    assert [p.name for p in main.params] == ["family", "type", "protocol"]
    assert (alias.line, alias.alias_of, alias.macro) == (5, "SyS_socket", "SYSCALL_DEFINE3")
    assert [c.caller for c in ff.calls] == ["SyS_socket"]


def test_attribute_macros_do_not_hide_functions():
    code = "static int __init sock_init(void)\n{ return 0; }\nvoid __exit bye(void) {}\n"
    assert [f.name for f in facts(code).functions] == ["sock_init", "bye"]


# ------------------------------------------------------------------ calls

def test_direct_calls():
    assert_calls("void f(void){g(); h(1, 2);}", [("f", "g"), ("f", "h")])


def test_calls_in_macro_arguments_and_nested():
    assert_calls("void f(int x){ WARN_ON(foo(x)); p = rcu_dereference(get(x)); }",
                 [("f", "WARN_ON"), ("f", "foo"), ("f", "rcu_dereference"), ("f", "get")])
    code = "void f(int x){ WARN_ON(foo(x)); }"
    assert call(code, "foo").in_macro and not call(code, "WARN_ON").in_macro


@pytest.mark.parametrize("flip", [False, True])
def test_call_through_a_macro_result_is_not_inside_the_macro(flip, monkeypatch):
    # the outer call and NFS_PROTO(dir) start at the same byte: the outer one
    # encloses it, whatever order tree-sitter gives such ties in (it varies)
    if flip:
        real = parse.QueryCursor

        class Reversed:
            def __init__(self, query):
                self.cursor = real(query)

            def captures(self, node):
                return {k: v[::-1] for k, v in self.cursor.captures(node).items()}

        monkeypatch.setattr(parse, "QueryCursor", Reversed)
    code = "void f(int dir){ NFS_PROTO(dir)->unlink_setup(dir); }"
    outer = [c for c in facts(code).calls if c.kind == "field"]
    assert [(c.field, c.in_macro) for c in outer] == [("unlink_setup", False)]
    assert call(code, "NFS_PROTO").in_macro is False


def test_calls_in_iteration_macro_bodies():
    code = ("void f(struct list_head *h){ struct p *a;\n"
            " list_for_each_entry_rcu(a, h, list) {\n  visit(a);\n }\n}")
    assert_calls(code, [("f", "visit")])
    assert call(code, "visit").line == 3


def test_field_calls_have_receiver_and_field():
    c = call("int f(struct net_proto_family *pf){ return pf->create(net, sock, 1, 0); }",
             "pf->create")
    assert (c.kind, c.receiver, c.field, c.callee) == ("field", "pf", "create", "")
    assert c.args == ("net", "sock", "1", "0")
    c = call("void f(struct sock *sk){ sk->sk_prot->init(sk); }", "sk->sk_prot->init")
    assert (c.receiver, c.field) == ("sk->sk_prot", "init")
    c = call("void f(struct super_block *sb){ sb->s_op->alloc_inode(sb); }",
             "sb->s_op->alloc_inode")
    assert (c.kind, c.receiver, c.field) == ("field", "sb->s_op", "alloc_inode")


def test_var_deref_index_calls():
    code = "void f(int (*fp)(int)){ int (*g)(int) = fp; fp(1); g(2); (*fp)(3); table[i](4); }"
    kinds = {c.expr: c.kind for c in facts(code).calls}
    assert kinds == {"fp": "var", "g": "var", "(*fp)": "deref", "table[i]": "index"}


def test_args_are_flattened_text():
    c = call("void f(void){ g(a,\n    b + 1,   &c); }", "g")
    assert c.args == ("a", "b + 1", "&c")


# ------------------------------------------------------------------ structs

STRUCT = """struct s {
	int a;
#ifdef CONFIG_X
	int b:3;
#else
	long c;
#endif
#if defined(CONFIG_Y) && !defined(CONFIG_Z)
	char name[16];
#endif
	union { int d; char *e; } u;
	struct { int f; };
	int (*op)(struct sock *, int);
	const struct proto_ops	*ops;
};
typedef struct { int z; } T;
"""


def test_struct_fields_in_order_with_types_and_lines():
    s = next(x for x in facts(STRUCT).structs if x.name == "s")
    assert [(f.name, f.type) for f in s.fields] == [
        ("a", "int"), ("b", "int"), ("c", "long"), ("name", "char [16]"), ("u", "union"),
        ("u.d", "int"), ("u.e", "char *"), ("f", "int"), ("op", "int (*)(struct sock *, int)"),
        ("ops", "const struct proto_ops *")]
    assert (s.line, s.end_line, s.kind) == (1, 15, "struct")
    assert [f.line for f in s.fields][:4] == [2, 4, 6, 9]


def test_struct_guards_and_bitfields():
    s = next(x for x in facts(STRUCT).structs if x.name == "s")
    by = {f.name: f for f in s.fields}
    assert (by["b"].guard, by["b"].bits) == ("CONFIG_X", "3")
    assert by["c"].guard == "!CONFIG_X"
    assert by["name"].guard == "CONFIG_Y && !CONFIG_Z"
    assert by["a"].guard == ""


def test_typedef_of_anonymous_struct():
    ff = facts(STRUCT)
    assert [f.name for f in next(x for x in ff.structs if x.name == "T").fields] == ["z"]
    assert ("T", "struct T") in [(t.name, t.type) for t in ff.typedefs]


def test_first_member_embeds():
    ff = facts("struct sock { struct sock_common __sk_common; int x; };")
    assert ff.structs[0].first == records.Field("__sk_common", "struct sock_common", 1)


def test_field_alias_macro():
    ff = facts("#define sk_family __sk_common.skc_family\n#define sk_x p->q.r\n"
               "#define NOT_ALIAS 12\n#define f(x) x.y\n")
    assert [(a.name, a.target, a.line) for a in ff.aliases] == [
        ("sk_family", "__sk_common.skc_family", 1), ("sk_x", "p->q.r", 2)]


def test_typedefs():
    ff = facts("typedef int (*fn_t)(int);\ntypedef unsigned long ulong_t;\n"
               "typedef struct x x_t;\n")
    assert [(t.name, t.type, t.line) for t in ff.typedefs] == [
        ("fn_t", "int (*)(int)", 1), ("ulong_t", "unsigned long", 2), ("x_t", "struct x", 3)]


# ------------------------------------------------------------------ globals

def test_globals():
    ff = facts("static struct vfsmount *sock_mnt __read_mostly;\n"
               "struct net_proto_family __rcu *net_families[NPROTO] __read_mostly;\n"
               "extern int n;\nint proto(int);\n")
    assert [(g.name, g.type, g.line, g.static, g.extern, g.array) for g in ff.globals] == [
        ("sock_mnt", "struct vfsmount *", 1, True, False, ""),
        ("net_families", "struct net_proto_family *", 2, False, False, "[NPROTO]"),
        ("n", "int", 3, False, True, "")]


INIT = """static struct proto tcp_prot = {
	.name	= "TCP",
	.init	= tcp_v4_init_sock,
#ifdef CONFIG_COMPAT
	.compat_setsockopt = compat_tcp_setsockopt,
#endif
	.h.hashinfo = &tcp_hashinfo,
	.x = { .y = f },
};
static struct inet_protosw inetsw_array[] =
{
	{
		.type =       SOCK_STREAM,
		.prot =       &tcp_prot,
	},
	{ 1, 2 },
	[5] = { .type = SOCK_RAW },
};
"""


def test_designated_initializer_entries():
    init = next(i for i in facts(INIT).initializers if i.name == "tcp_prot")
    assert (init.line, init.type, init.static) == (1, "struct proto", True)
    got = [(e.path, e.value, e.line, e.ref, e.address) for e in init.entries]
    assert got == [
        ("name", '"TCP"', 2, "", False),
        ("init", "tcp_v4_init_sock", 3, "tcp_v4_init_sock", False),
        ("compat_setsockopt", "compat_tcp_setsockopt", 5, "compat_tcp_setsockopt", False),
        ("h.hashinfo", "&tcp_hashinfo", 7, "tcp_hashinfo", True),
        ("x.y", "f", 8, "f", False)]


def test_array_of_structs_initializer():
    init = next(i for i in facts(INIT).initializers if i.name == "inetsw_array")
    assert init.line == 10
    assert [(e.path, e.ref) for e in init.entries] == [
        ("[0].type", "SOCK_STREAM"), ("[0].prot", "tcp_prot"), ("[1].#0", ""),
        ("[1].#1", ""), ("[5].type", "SOCK_RAW")]


# ------------------------------------------------------------------ assignments, registrations

def test_assignments_of_functions_to_fields():
    code = ("void f(struct sock *sk, void (*cb)(void)){ int n = 1;\n"
            " sk->sk_destruct = inet_sock_destruct;\n s.ops = &my_ops;\n"
            " sk->x = cb; sk->y = n; sk->z = NULL; sk->w += step; }")
    got = [(a.function, a.line, a.target, a.receiver, a.field, a.value, a.param)
           for a in facts(code).assignments]
    assert got == [("f", 2, "sk->sk_destruct", "sk", "sk_destruct", "inet_sock_destruct", -1),
                   ("f", 3, "s.ops", "s", "ops", "my_ops", -1),
                   ("f", 4, "sk->x", "sk", "x", "cb", 1)]  # a function-pointer parameter


def test_designated_initializers_of_locals_bind_like_assignments():
    code = ("int f(void *dirent, int (*cb)(void)) {\n"
            " struct readdir_callback buf = {\n  .ctx.actor = fillonedir,\n"
            "  .dirent = dirent, .n = MAX_N,\n  .cb = cb };\n"
            " struct dir_context c = { .actor = &filldir, .pos = 0 }, *p = NULL;\n"
            " struct x arr[2] = { [0].fn = g }; struct y pos = { h };\n"
            " c.actor = filldir64;\n return 0; }")
    got = [(a.function, a.line, a.target, a.receiver, a.field, a.value)
           for a in facts(code).assignments]
    assert got == [("f", 3, "buf.ctx.actor", "buf.ctx", "actor", "fillonedir"),
                   ("f", 6, "c.actor", "c", "actor", "filldir"),
                   ("f", 8, "c.actor", "c", "actor", "filldir64")]


def test_registrations():
    code = ("static int __init inet_init(void)\n{\n\tstruct inet_protosw *q;\n"
            "\tint local;\n\tproto_register(&tcp_prot, 1);\n"
            "\tsock_register(&inet_family_ops);\n\tfoo(&local);\n"
            "\tfor (q = inetsw_array; q < &inetsw_array[2]; ++q)\n"
            "\t\tinet_register_protosw(q);\n\treturn 0;\n}\n")
    got = [(r.caller, r.registrar, r.table, r.line) for r in facts(code).registrations]
    assert got == [("inet_init@net/t.c", "proto_register", "tcp_prot", 5),
                   ("inet_init@net/t.c", "sock_register", "inet_family_ops", 6),
                   ("inet_init@net/t.c", "inet_register_protosw", "inetsw_array", 9)]


# ------------------------------------------------------------------ constants

def test_enum_and_define_constants():
    ff = facts("enum sock_type {\n\tSOCK_STREAM = 1,\n\tSOCK_DGRAM,\n\tSOCK_RAW = 0x3,\n"
               "\tSOCK_X = SOCK_RAW + 2,\n\tSOCK_Y,\n};\n#define AF_INET 2 /* IP */\n"
               "#define PF_INET AF_INET\n#define NAME \"x\"\n#define F(x) x\n")
    got = [(c.name, c.kind, c.expr, c.value, c.enum, c.line) for c in ff.constants]
    assert got == [
        ("SOCK_STREAM", "enum", "1", 1, "sock_type", 2),
        ("SOCK_DGRAM", "enum", "SOCK_STREAM + 1", 2, "sock_type", 3),
        ("SOCK_RAW", "enum", "0x3", 3, "sock_type", 4),
        ("SOCK_X", "enum", "SOCK_RAW + 2", None, "sock_type", 5),
        ("SOCK_Y", "enum", "SOCK_X + 1", None, "sock_type", 6),
        ("AF_INET", "define", "2", 2, "", 8),
        ("PF_INET", "define", "AF_INET", None, "", 9)]


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("src, warning", [
    (b"", "empty file"),
    (b"\x7fELF\x00\x01\x02", "binary file"),
    (b"int f(void) { return '\xff'; }", "not UTF-8"),
    (b"#if A\nint x;\n", "unbalanced preprocessor conditionals"),
    (b"int f(void) { return g(1 +); }\nint h(void) { return 0; }\n", None),
])
def test_bad_input_never_raises(src, warning):
    ff = extract_file("net/bad.c", src)
    assert ff.size == len(src) and len(ff.sha256) == 64
    if warning:
        assert any(warning in w and "net/bad.c" in w for w in ff.warnings), ff.warnings
    else:
        assert ff.error_nodes > 0 and [f.name for f in ff.functions] == ["f", "h"]


@pytest.mark.parametrize("src, opened", [
    (b"/* use #ifdef CONFIG_X here */\n#if A\nint x;\n#endif\n", None),
    (b"// #if B\nchar *s = \"#ifndef\";\n#ifdef A\nint x;\n#endif\n", None),
    (b"/* #ifdef C */\n#if A\nint x;\n", 1),
])
def test_conditionals_are_counted_outside_comments_and_strings(src, opened):
    warns = [w for w in extract_file("t.c", src).warnings if "unbalanced" in w]
    if opened is None:
        assert warns == []
    else:
        assert warns == [f"t.c: unbalanced preprocessor conditionals ({opened} #if, 0 #endif)"]


@pytest.mark.kernel
def test_debugfs_comments_do_not_unbalance_it(kernel_cfg):
    src = (kernel_cfg.kernel_dir / "fs/debugfs/file.c").read_bytes()
    assert src.count(b"#if") != src.count(b"#endif")  # #ifdef written in its comments
    assert not [w for w in extract_file("fs/debugfs/file.c", src).warnings if "unbalanced" in w]


def test_fast_made_records_are_plain_records():
    ff = facts("enum e { A };\n#define B 2\nstruct s { int a : 3; };\n"
               "struct o ops = { .f = g };\nint f(int x){ int y = x; return g(y); }")
    made = [ff.calls[0], ff.functions[0].params[0], ff.functions[0].locals[0],
            ff.structs[0].fields[0], ff.initializers[0].entries[0], *ff.constants]
    assert len(made) == 7
    for r in made:  # dataclasses.replace goes through the dataclass __init__
        again = dataclasses.replace(r)
        assert (again, hash(again), list(vars(again))) == (r, hash(r), list(vars(r)))


def test_huge_file_is_skipped_with_a_warning():
    ff = extract_file("gen.c", b"int x;\n" * (MAX_BYTES // 7 + 1))
    assert ff.functions == () and "over the" in ff.warnings[0]


def test_records_roundtrip_through_dicts():
    ff = facts(INIT + STRUCT + "SYSCALL_DEFINE1(x, int, a) { return g(a); }")
    for kind, cls in records.RECORD_KINDS.items():
        for rec in getattr(ff, kind):
            assert records.from_dict(cls, records.to_dict(rec)) == rec


def test_per_cpu_variable_is_a_global():
    ff = facts("static DEFINE_PER_CPU(int, sockets_in_use);\n")
    assert [(g.name, g.type, g.static) for g in ff.globals] == [("sockets_in_use", "int", True)]


def test_nested_and_elif_guards():
    ff = facts("struct s {\n#ifdef A\n int a;\n#ifdef B\n int b;\n#endif\n#elif defined(C)\n"
               " int c;\n#else\n int d;\n#endif\n int e;\n};\n")
    assert [(f.name, f.guard) for f in ff.structs[0].fields] == [
        ("a", "A"), ("b", "A && B"), ("c", "!A && C"), ("d", "!A && !C"), ("e", "")]


def test_assigner_macros_are_assignments():
    code = ("int netdev_rx_handler_register(struct net_device *dev,\n"
            " rx_handler_func_t *rx_handler, void *data) {\n"
            " rcu_assign_pointer(dev->rx_handler_data, data);\n"
            " rcu_assign_pointer(dev->rx_handler, rx_handler);\n"
            " RCU_INIT_POINTER(p->ops.hook, &my_hook);\n"
            " rcu_assign_pointer(global_hook, my_hook);\n"
            " rcu_assign_pointer(p->x, NULL); return 0; }")
    got = [(a.line, a.target, a.receiver, a.field, a.value, a.param)
           for a in facts(code).assignments]
    assert got == [(4, "dev->rx_handler", "dev", "rx_handler", "rx_handler", 1),
                   (5, "p->ops.hook", "p->ops", "hook", "my_hook", -1)]


def test_values_of_called_function_pointer_locals():
    code = ("int f(struct sk_buff *skb, struct nfs_server *server) {\n"
            " rx_handler_func_t *rx_handler;\n"
            " void *(*alloc)(int) = server->ops->alloc, (*unused)(void) = g;\n"
            " struct sock *sk = skb->sk; int n = 0;\n"
            " rx_handler = rcu_dereference(skb->dev->rx_handler);\n"
            " if (rx_handler) rx_handler(&skb);\n"
            " rx_handler = NULL; sk = NULL;\n"
            " return alloc(n) != 0; }")
    got = [(a.line, a.target, a.receiver, a.field, a.value) for a in facts(code).assignments]
    assert got == [(3, "alloc", "", "", "server->ops->alloc"),
                   (5, "rx_handler", "", "", "rcu_dereference(skb->dev->rx_handler)")]


def test_conditional_values_and_typedef_function_parameters():
    code = ("void fscache_operation_init(struct fscache_operation *op,\n"
            " fscache_operation_processor_t processor, fscache_operation_cancel_t cancel,\n"
            " u32 flags, size_t n) {\n"
            " op->processor = processor;\n"
            " op->cancel = cancel ?: fscache_operation_dummy_cancel;\n"
            " op->x = flags ? &a_fn : (b_fn);\n"
            " op->flags = flags; op->n = n; op->m = flags ? 1 : 2; }")
    got = [(a.line, a.target, a.value, a.param) for a in facts(code).assignments]
    assert got == [(4, "op->processor", "processor", 1), (5, "op->cancel", "cancel", 2),
                   (5, "op->cancel", "fscache_operation_dummy_cancel", -1),
                   (6, "op->x", "a_fn", -1), (6, "op->x", "b_fn", -1)]


def test_initializer_values_under_casts_name_their_function():
    code = ("static nfsd4_dec nfsd4_dec_ops[] = {\n"
            "\t[OP_ACCESS] = (nfsd4_dec)nfsd4_decode_access,\n"
            "\t[OP_CLOSE] = (const struct op *)&nfsd4_close_op,\n"
            "\t[2] = (void *)0,\n};")
    [ini] = facts(code).initializers
    assert [(e.path, e.ref) for e in ini.entries] == [
        ("[OP_ACCESS]", "nfsd4_decode_access"), ("[OP_CLOSE]", "nfsd4_close_op"),
        ("[2]", "")]
