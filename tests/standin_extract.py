"""A tiny stand-in for ``analyzer.extract.extract_file`` used by the store and
pipeline tests: it makes records of every kind from any C text (functions and
direct calls from tree-sitter, one record of each other kind per file), so
the tests of storage and caching do not depend on the real extractor."""

from __future__ import annotations

import hashlib

from analyzer import parse, records

__all__ = ["extract_file", "sample_facts"]


def _walk(node, kind):
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type == kind:
            yield n
        stack.extend(reversed(n.children))


def extract_file(relpath: str, src: bytes) -> records.FileFacts:
    """Functions and direct calls of ``src``, plus one record of every other kind."""
    parsed = parse.parse(src)
    nodes, covered = parse.error_stats(parsed.root)
    funcs, calls = [], []
    for fn in _walk(parsed.root, "function_definition"):
        decl = fn.child_by_field_name("declarator")
        ident = next(_walk(decl, "identifier"), None) if decl else None
        if ident is None:
            continue
        f = records.Function(ident.text.decode(errors="replace"), relpath,
                             fn.start_point.row + 1, fn.end_point.row + 1, "int",
                             (records.Var("x", "int", fn.start_point.row + 1),))
        funcs.append(f)
        for call in _walk(fn, "call_expression"):
            callee = call.child_by_field_name("function")
            name = callee.text.decode(errors="replace") if callee else ""
            calls.append(records.Call(f.id, relpath, call.start_point.row + 1, "direct",
                                      name, name, args=("a",)))
    base = sample_facts(relpath)
    return records.FileFacts(
        file=relpath, sha256=hashlib.sha256(src).hexdigest(), size=len(src),
        error_nodes=nodes, error_bytes=covered, functions=tuple(funcs), calls=tuple(calls),
        **{k: getattr(base, k) for k in ("structs", "aliases", "typedefs", "globals",
                                         "initializers", "assignments", "registrations",
                                         "constants", "macros", "initcalls")},
        warnings=("standin: note",) if b"WARNME" in src else ())


def sample_facts(relpath: str = "net/x.c") -> records.FileFacts:
    """One record of every kind, with nested records and tuples filled."""
    r = records
    fn = r.Function("f", relpath, 3, 9, "int", (r.Var("sk", "struct sock *", 3),),
                    (r.Var("err", "int", 4),), static=True, inline=True,
                    signature="static inline int f(struct sock *sk)", macro="")
    return r.FileFacts(
        file=relpath, sha256="0" * 64, size=100, error_nodes=1, error_bytes=7,
        functions=(fn,),
        calls=(r.Call(fn.id, relpath, 5, "field", "", "sk->sk_prot->init", "sk->sk_prot",
                      "init", ("sk", "ü"), True),),
        structs=(r.Struct("sock", "struct", relpath, 10, 20,
                          (r.Field("__sk_common", "struct sock_common", 11),
                           r.Field("sk_flags", "unsigned long", 12, bits="3",
                                   guard="CONFIG_A && !CONFIG_B"))),),
        aliases=(r.Alias("sk_family", "__sk_common.skc_family", relpath, 21),),
        typedefs=(r.Typedef("socket_state", "enum socket_state", relpath, 22),),
        globals=(r.Global("inetsw", "struct list_head", relpath, 23, static=True,
                          array="SOCK_MAX"),),
        initializers=(r.Initializer("tcp_prot", "struct proto", relpath, 24,
                                    (r.InitEntry(".init", "tcp_v4_init_sock", 25,
                                                 "tcp_v4_init_sock"),
                                     r.InitEntry("[0].prot", "&tcp_prot", 26, "tcp_prot",
                                                 True)), static=False),),
        assignments=(r.Assignment(fn.id, relpath, 6, "sk->sk_destruct", "sk",
                                  "sk_destruct", "inet_sock_destruct"),),
        registrations=(r.Registration(fn.id, "sock_register", "inet_family_ops", relpath, 7,
                                      ("&inet_family_ops",)),),
        constants=(r.Constant("SOCK_STREAM", "enum", "1", relpath, 30, 1, "sock_type"),
                   r.Constant("FOO", "define", "BAR + 1", relpath, 31, None),
                   r.Constant("HUGE", "define", "~0ULL", relpath, 32, 2**64 - 1),
                   r.Constant("NEG", "define", "-(1LL << 63)", relpath, 33, -2**63)),
        macros=(r.Macro("htons", relpath, 34, 34, ("x",), "___htons(x)"),
                r.Macro("NPROTO", relpath, 35, 35, None, "AF_MAX", "CONFIG_NET"),
                r.Macro("pr_debug", relpath, 36, 38, ("fmt", "..."), "\nno_printk(fmt)"),
                r.Macro("current_egid", relpath, 39, 39, (), "(current_cred_xxx(egid))")),
        initcalls=(r.Initcall("sock_init", "core", relpath, 40, "core_initcall"),
                   r.Initcall("af_x_init", "device", relpath, 41, "module_init", "CONFIG_X")),
        warnings=("encoding: non-UTF-8 bytes at line 2",),
    )
