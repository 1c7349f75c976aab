"""A small parser for the C expressions that name call receivers.

Takes the text of an expression as extraction wrote it (``pf->create``,
``rcu_dereference(net_families[family])``, ``(struct inet_sock *)sk``,
``container_of(inode, struct socket_alloc, vfs_inode)->socket``) and gives a
tree of tuples that :mod:`analyzer.resolve` walks to infer a type:

- ``("id", name)``, ``("num", text)``, ``("str", text)``
- ``("member", base, field, arrow)`` for ``base->field`` / ``base.field``
- ``("index", base, index_text)``, ``("call", callee, args, arg_texts)``
- ``("cast", type_text, operand)``, ``("addr", x)``, ``("deref", x)``
- ``("other", text)`` for anything else (arithmetic, conditionals...)
"""

from __future__ import annotations

import re

__all__ = ["parse_expr", "split_args", "TYPE_WORDS"]

_TOKEN = re.compile(r"""\s*(?:(->|\+\+|--|[A-Za-z_]\w*|0[xX][0-9a-fA-F]+\w*|\d+\w*
                    |"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|.))""", re.X)

#: words that start a type name inside parentheses (a cast)
TYPE_WORDS = frozenset((
    "struct", "union", "enum", "const", "volatile", "void", "char", "short", "int", "long",
    "unsigned", "signed", "float", "double", "_Bool", "bool", "u8", "u16", "u32", "u64",
    "s8", "s16", "s32", "s64", "__u8", "__u16", "__u32", "__u64", "__s32", "__be16",
    "__be32", "__le32", "size_t", "ssize_t"))


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            break
        if m.group(1):
            out.append(m.group(1))
        pos = m.end()
    return out


def split_args(text: str) -> list[str]:
    """Split ``a, f(b, c), d`` at its top-level commas.

    >>> split_args("fs_type, f(a, b), &x")
    ['fs_type', 'f(a, b)', '&x']
    """
    out, depth, cur = [], 0, []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


class _Parser:
    def __init__(self, text: str, typenames: frozenset[str]) -> None:
        self.toks = _tokens(text)
        self.pos = 0
        self.typenames = typenames

    def peek(self, k: int = 0) -> str:
        i = self.pos + k
        return self.toks[i] if i < len(self.toks) else ""

    def take(self) -> str:
        tok = self.peek()
        self.pos += 1
        return tok

    def balanced(self, close: str) -> str:
        """Tokens up to the matching ``close`` (consumed), as text."""
        depth, out = 0, []
        while self.pos < len(self.toks):
            tok = self.take()
            if tok in "([" and tok:
                depth += 1
            elif tok in ")]" and tok:
                if depth == 0 and tok == close:
                    return " ".join(out)
                depth -= 1
            out.append(tok)
        raise ValueError("unbalanced")

    def unary(self):
        tok = self.peek()
        if tok in ("*", "&"):
            self.take()
            return ("deref" if tok == "*" else "addr", self.unary())
        if tok == "(" and (self.peek(1) in TYPE_WORDS or self.peek(1) in self.typenames):
            self.take()
            ctype = self.balanced(")")
            return ("cast", ctype, self.unary())
        return self.postfix(self.primary())

    def primary(self):
        tok = self.take()
        if tok == "(":
            inner = self.unary()
            rest = self.balanced(")")
            return inner if not rest else ("other", rest)
        if re.match(r"[A-Za-z_]", tok):
            return ("id", tok)
        if tok[:1].isdigit():
            return ("num", tok)
        if tok[:1] in "\"'":
            return ("str", tok)
        raise ValueError(f"unexpected {tok!r}")

    def postfix(self, node):
        while True:
            tok = self.peek()
            if tok in ("->", ".") and re.match(r"[A-Za-z_]", self.peek(1)):
                self.take()
                node = ("member", node, self.take(), tok == "->")
            elif tok == "[":
                self.take()
                node = ("index", node, self.balanced("]"))
            elif tok == "(":
                self.take()
                text = self.balanced(")")
                texts = tuple(split_args(text))
                node = ("call", node, tuple(parse_expr(t, self.typenames) for t in texts), texts)
            else:
                return node


def parse_expr(text: str, typenames: frozenset[str] = frozenset()):
    """Parse one C expression; ``("other", text)`` when it is not a simple
    access path.

    >>> parse_expr("sk->sk_prot->init")
    ('member', ('member', ('id', 'sk'), 'sk_prot', True), 'init', True)
    >>> parse_expr("(struct inet_sock *)sk")
    ('cast', 'struct inet_sock *', ('id', 'sk'))
    >>> parse_expr("net_families[family]")
    ('index', ('id', 'net_families'), 'family')
    """
    try:
        p = _Parser(text, typenames)
        node = p.unary()
        return node if p.pos >= len(p.toks) else ("other", text)
    except (ValueError, IndexError, RecursionError):
        return ("other", text)
