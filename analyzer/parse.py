"""Parse C sources with tree-sitter, after neutralizing kernel macros.

Takes the bytes of a C file, gives a tree-sitter ``Tree`` over a rewritten
copy of the same length (every line number and byte offset stays true) and
the list of rewrites made.  The macros come from ``kernel/macros.toml``.
Queries live in ``queries/*.scm``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from operator import attrgetter

import tree_sitter_c
from tree_sitter import Language, Node, Parser, Query, QueryCursor, Tree

__all__ = ["Rewrite", "Parsed", "language", "parser", "query", "preprocess",
           "parse", "error_stats", "captures", "macro_table"]


@dataclass(frozen=True)
class Rewrite:
    """A macro use that was rewritten: its kind, name, byte span and line."""

    kind: str  # "blank" | "definer" | "iterator"
    name: str
    start: int
    end: int
    line: int
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Parsed:
    source: bytes  # the rewritten text that was parsed
    tree: Tree
    rewrites: tuple[Rewrite, ...]

    @property
    def root(self) -> Node:
        return self.tree.root_node


@cache
def language() -> Language:
    return Language(tree_sitter_c.language())


def parser() -> Parser:
    return Parser(language())


_START, _END = attrgetter("start_byte"), attrgetter("end_byte")


def _source_order(nodes: list[Node]) -> list[Node]:
    """``nodes`` in source order, an enclosing node before the nodes that
    start with it (``F(x)->f(y)``: the outer call first; tree-sitter's order
    of such ties varies).  Two stable sorts on C-level keys."""
    nodes.sort(key=_END, reverse=True)
    nodes.sort(key=_START)
    return nodes


@cache
def query(name: str) -> Query:
    """The query ``queries/<name>.scm``."""
    text = resources.files("analyzer.queries").joinpath(f"{name}.scm").read_text()
    return Query(language(), text)


def captures(name: str, node: Node) -> dict[str, list[Node]]:
    """Run query ``name`` over ``node``: capture name -> nodes in source order."""
    found = QueryCursor(query(name)).captures(node)
    return {k: _source_order(v) for k, v in found.items()}


@cache
def macro_table() -> dict:
    text = resources.files("analyzer.kernel").joinpath("macros.toml").read_text()
    return tomllib.loads(text)


_WORD = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _word_regexes(words, tail: bytes = b"") -> list[re.Pattern]:
    """Regexes that find ``words`` fast: one per two-letter literal prefix
    (``re`` searches a literal prefix at C speed; a leading ``\\b`` or an
    alternation of whole words would try every byte).  The caller checks
    the word boundary before each hit with :func:`_word_start`."""
    groups: dict[bytes, list[bytes]] = {}
    for w in sorted((w.encode() for w in words), key=len, reverse=True):
        groups.setdefault(w[:2], []).append(w[2:])
    return [re.compile(re.escape(head) + rb"(?:%s)\b" % b"|".join(map(re.escape, rests)) + tail)
            for head, rests in groups.items()]


def _word_start(src: bytes, i: int) -> bool:
    return i == 0 or src[i - 1] not in _WORD


@dataclass(frozen=True)
class _Patterns:
    blank: list[re.Pattern]
    blank_call: list[re.Pattern]
    definers: list[tuple[re.Pattern, dict]]
    iterator_anchors: list[re.Pattern]
    iterator_name: re.Pattern
    type_args: dict[bytes, int]
    type_arg_rx: list[re.Pattern]
    do_while: list[re.Pattern]
    declarers: list[re.Pattern]


_DIRECTIVE = re.compile(rb"#[ \t]*(if|ifdef|ifndef|elif|else|endif)\b")


@cache
def _patterns() -> _Patterns:
    table = macro_table()
    it = table["iterators"]
    type_args = table.get("type_args", {})
    return _Patterns(
        blank=_word_regexes(table["blank"]),
        blank_call=_word_regexes(table.get("blank_call", []), rb"\s*\("),
        definers=[(re.compile(rb"(%s)\s*\(" % d["pattern"].encode()), d)
                  for d in table.get("definers", [])],
        iterator_anchors=[re.compile(re.escape(a.encode()) + rb"\w*\s*\(")
                          for a in it["anchors"]],
        iterator_name=re.compile(it["pattern"].encode()),
        type_args={k.encode(): v for k, v in type_args.items()},
        type_arg_rx=[re.compile(re.escape(k.encode()) + rb"([ \t]+\w+)[ \t]*[,)]")
                     for k in table.get("type_arg_search", {}).get("keywords", [])],
        do_while=_word_regexes(table.get("do_while", {}).get("names", []), rb"\s*\("),
        declarers=_word_regexes(table.get("declarers", {}).get("names", []), rb"\s*\("))


def _line_start(src: bytes, pos: int) -> bool:
    """Is ``pos`` the first non-blank byte of its line?"""
    start = src.rfind(b"\n", 0, pos) + 1
    return not src[start:pos].strip()


def preprocess(src: bytes) -> tuple[bytes, tuple[Rewrite, ...]]:
    """Rewrite kernel macros in ``src`` to plain C of the same byte length."""
    pats = _patterns()
    out = bytearray(src)
    rewrites: list[Rewrite] = []

    def put(start: int, end: int, new: bytes) -> None:
        out[start:end] = new

    for rx in pats.blank:
        for m in rx.finditer(src):
            if _word_start(src, m.start()):
                put(m.start(), m.end(), b" " * (m.end() - m.start()))
    for rx in pats.blank_call:
        for m in rx.finditer(src):
            end = _close_paren(src, m.end() - 1)
            if end > 0 and _word_start(src, m.start()):
                put(m.start(), end, _blanked(src[m.start():end]))
    src = bytes(out)  # the macro rewrites below read the text without attributes
    for rx, spec in pats.definers:
        for m in rx.finditer(src):
            if _line_start(src, m.start()):
                _rewrite_definer(src, m, spec, put, rewrites)
    _rewrite_declarers(src, pats, put, rewrites)
    for m in _iterator_heads(src, pats):
        _rewrite_iterator(src, m, put, rewrites)
    _rewrite_type_args(src, pats, put, rewrites)
    _rewrite_do_while(src, pats, put, rewrites)
    _blank_inline_conditionals(src, put)
    rewrites.sort(key=lambda r: r.start)
    return bytes(out), tuple(rewrites)


def _blanked(seg: bytes) -> bytes:
    """Spaces in place of every byte but newlines."""
    return re.sub(rb"[^\n]", b" ", seg)


@dataclass(frozen=True)
class _Head:
    """A macro name found in the text: its span and the ``(`` after it."""

    name: bytes
    start: int
    end: int  # just past the opening parenthesis


def _iterator_heads(src: bytes, pats: _Patterns) -> list[_Head]:
    """Uses of iteration macros: found by their anchor (``for_each``,
    ``_walk``), widened back to the whole name, checked against the pattern."""
    heads: dict[int, _Head] = {}
    for rx in pats.iterator_anchors:
        for m in rx.finditer(src):
            start = m.start()
            while start > 0 and src[start - 1] in _WORD:
                start -= 1
            name = re.match(rb"\w+", src[start:m.end()]).group(0)
            if start not in heads and pats.iterator_name.fullmatch(name):
                heads[start] = _Head(name, start, m.end())
    return [heads[k] for k in sorted(heads)]


def _rewrite_type_args(src: bytes, pats: _Patterns, put, rewrites) -> None:
    """``container_of(p, struct socket_alloc, m)``: a type as a macro argument
    is not an expression; its inner blanks become ``_`` (``struct_socket_alloc``)
    so the call parses.  The Rewrite (kind "typearg") keeps the argument.

    Found from the type side (``struct x`` followed by ``,`` or ``)``: a
    literal-prefixed search), then the enclosing call's name is read back."""
    for rx in pats.type_arg_rx:
        for m in rx.finditer(src):
            if not _word_start(src, m.start()):
                continue
            found = _enclosing_call(src, m.start())
            if found is None or pats.type_args.get(found[0]) != found[1]:
                continue
            core = src[m.start():m.end(1)]
            joined = re.sub(rb"[ \t]+", lambda w: b"_" * len(w.group(0)), core)
            put(m.start(), m.start() + len(core), joined)
            rewrites.append(Rewrite("typearg", found[0].decode(), m.start(),
                                    m.start() + len(core), _line_of(src, m.start()),
                                    (core.decode(errors="replace"),)))


def _rewrite_declarers(src: bytes, pats: _Patterns, put, rewrites) -> None:
    """``DEFINE_PER_CPU(struct sd, name)`` declares ``struct sd name``: the
    macro name, its parentheses and the comma become blanks."""
    for rx in pats.declarers:
        for m in rx.finditer(src):
            if not _word_start(src, m.start()):
                continue
            open_at = m.end() - 1
            end = _close_paren(src, open_at)
            args = _split_args(src[open_at + 1:end - 1]) if end > 0 else []
            if len(args) != 2:
                continue
            name = re.match(rb"\w+", src[m.start():m.end()]).group(0)
            comma = open_at + 1 + len(args[0])
            put(m.start(), open_at + 1, b" " * (open_at + 1 - m.start()))
            put(comma, comma + 1, b" ")
            put(end - 1, end, b" ")
            rewrites.append(Rewrite("declarer", name.decode(), m.start(), end,
                                    _line_of(src, m.start()),
                                    tuple(a.strip().decode(errors="replace") for a in args)))


def _rewrite_do_while(src: bytes, pats: _Patterns, put, rewrites) -> None:
    """``} while_each_thread(g, t);`` closes a ``do`` loop: the name becomes
    ``while`` and the arguments its (comma) condition."""
    for rx in pats.do_while:
        for m in rx.finditer(src):
            if not _word_start(src, m.start()):
                continue
            name = re.match(rb"\w+", src[m.start():m.end()]).group(0)
            put(m.start(), m.start() + len(name), b"while".ljust(len(name)))
            rewrites.append(Rewrite("dowhile", name.decode(), m.start(),
                                    m.start() + len(name), _line_of(src, m.start())))


def _enclosing_call(src: bytes, pos: int) -> tuple[bytes, int] | None:
    """(name of the call whose argument list holds ``pos``, index of the
    argument), read backwards over at most 300 bytes."""
    depth = commas = 0
    i = pos - 1
    stop = max(0, pos - 300)
    while i >= stop:
        c = src[i]
        if c in (41, 93, 125):  # ) ] }
            depth += 1
        elif c in (40, 91, 123):  # ( [ {
            if depth == 0:
                break
            depth -= 1
        elif c == 44 and depth == 0:  # ,
            commas += 1
        elif c == 59:  # ;
            return None
        i -= 1
    else:
        return None
    if src[i] != 40:
        return None
    end = i
    while end > 0 and src[end - 1] in b" \t":
        end -= 1
    start = end
    while start > 0 and src[start - 1] in _WORD:
        start -= 1
    return (src[start:end], commas) if start < end else None


_CONTINUES = (b",", b"&&", b"||", b"(", b")", b"=", b"|", b"+", b"?")


def _continues_expression(src: bytes, line_start: int) -> bool:
    """Does the text before ``line_start`` end inside an expression or an
    initializer list (last significant byte ``,`` ``&&`` ``||`` ``(`` ...),
    after a label (``out:``, which needs a statement) or after ``else``?"""
    text = src[max(0, line_start - 400):line_start].rstrip()
    while text.endswith(b"*/") and b"/*" in text:
        text = text[:text.rfind(b"/*")].rstrip()
    if _directive_line(text):
        return False
    if text.endswith(b"else") and (len(text) == 4 or text[-5] not in _WORD):
        return True
    if text.endswith(b":"):  # a goto label, not a case label (those parse)
        last = text[text.rfind(b"\n") + 1:].strip()
        return not (last.startswith(b"case") or last.startswith(b"default"))
    return text.endswith(_CONTINUES)


def _directive_line(text: bytes) -> bool:
    """Is the last logical line of ``text`` a preprocessor line (a
    ``#define`` ending in ``)`` says nothing about the C around it)?"""
    start = text.rfind(b"\n") + 1
    while start > 1 and text[start - 2:start - 1] == b"\\":
        start = text.rfind(b"\n", 0, start - 1) + 1
    return text[start:].lstrip().startswith(b"#")


def _blank_inline_conditionals(src: bytes, put) -> None:
    """Blank the directives of a ``#if`` group that sits inside an expression
    or an initializer list (tree-sitter-c only knows them between statements,
    declarations and members): every branch's text stays and parses."""
    stack: list[tuple[list[tuple[int, int]], bool]] = []
    for m in _DIRECTIVE.finditer(src):
        start = m.start()
        if not _line_start(src, start):
            continue
        line_start = src.rfind(b"\n", 0, start) + 1
        end = _logical_line_end(src, start)
        inline = _continues_expression(src, line_start)
        kind = m.group(1)
        if kind.startswith(b"if"):
            stack.append(([(start, end)], inline))
        elif stack:
            spans, flag = stack[-1]
            spans.append((start, end))
            stack[-1] = (spans, flag or inline)
            if kind == b"endif":
                spans, flag = stack.pop()
                if flag:
                    for s, e in spans:
                        put(s, e, _blanked(src[s:e]))


def _logical_line_end(src: bytes, pos: int) -> int:
    """End of the line at ``pos``, following backslash continuations."""
    while True:
        end = src.find(b"\n", pos)
        if end < 0:
            return len(src)
        if src[end - 1:end] != b"\\":
            return end
        pos = end + 1


def _close_paren(src: bytes, open_at: int) -> int:
    """Index just past the parenthesis matching the one at ``open_at``, or -1."""
    depth = 0
    for i in range(open_at, min(len(src), open_at + 20000)):
        c = src[i]
        if c == 40:  # (
            depth += 1
        elif c == 41:  # )
            depth -= 1
            if depth == 0:
                return i + 1
    return -1


def _split_args(inner: bytes) -> list[bytes]:
    """Split a macro's argument text at top-level commas."""
    args, depth, start = [], 0, 0
    for i, c in enumerate(inner):
        if c in (40, 91, 123):
            depth += 1
        elif c in (41, 93, 125):
            depth -= 1
        elif c == 44 and depth == 0:
            args.append(inner[start:i])
            start = i + 1
    args.append(inner[start:])
    return args


def _fit(new: bytes, old: bytes) -> bytes | None:
    """``new`` padded with spaces to the length of ``old``, keeping as many
    newlines as ``old`` had (moved to the end), or None if it cannot fit."""
    newlines = old.count(b"\n") - new.count(b"\n")
    room = len(old) - len(new) - newlines
    if room < 0 or newlines < 0:
        return None
    return new + b" " * room + b"\n" * newlines


def _line_of(src: bytes, pos: int) -> int:
    return src.count(b"\n", 0, pos) + 1


def _in_define(src: bytes, pos: int) -> bool:
    """Is ``pos`` inside a ``#define`` (its line or a continued line)?"""
    start = src.rfind(b"\n", 0, pos) + 1
    while True:
        if src[start:pos].lstrip().startswith(b"#"):
            return True
        if start < 2 or src[start - 2:start - 1] != b"\\":
            return False
        start = src.rfind(b"\n", 0, start - 1) + 1


def _rewrite_definer(src: bytes, m: re.Match, spec: dict, put, rewrites) -> None:
    open_at = m.end() - 1
    end = _close_paren(src, open_at)
    if end < 0:
        return
    args = [a.strip() for a in _split_args(src[open_at + 1:end - 1])]
    if not args or not re.fullmatch(rb"\w+", args[0]):
        return
    name = args[0].decode()
    pairs = [b" ".join((args[i], args[i + 1])) for i in range(1, len(args) - 1, 2)]
    params = b", ".join(p.replace(b"\n", b" ") for p in pairs) or b"void"
    new = b"%s %s%s(%s)" % (spec["return"].encode(), spec["prefix"].encode(),
                            name.encode(), params)
    start = m.start(1)
    fitted = _fit(new, src[start:end])
    if fitted is None:
        return
    put(start, end, fitted)
    rewrites.append(Rewrite("definer", m.group(1).decode(), start, end,
                            _line_of(src, start),
                            tuple(a.decode(errors="replace") for a in args)))


def _declares(src: bytes, pos: int) -> bool:
    """Is the name at ``pos`` declared there (``void neigh_for_each(...)``:
    a type or ``*`` before it) rather than used as a statement?"""
    text = src[max(0, pos - 200):pos].rstrip()
    if not text or text[-1] not in _WORD and text[-1] != 42:  # 42 = "*"
        return False
    word = re.search(rb"\w+$", text)
    return word is None or word.group(0) not in (b"else", b"do")


def _rewrite_iterator(src: bytes, m: _Head, put, rewrites) -> None:
    open_at = m.end - 1
    end = _close_paren(src, open_at)
    if end < 0 or _in_define(src, m.start) or _declares(src, m.start):
        return
    rest = src[end:end + 200].lstrip()
    if not rest or rest[:1] in b";),=&|?:+-*/<>!.[]\\" or rest.startswith(b"#"):
        return  # a use as an expression, or a macro body
    args = _split_args(src[open_at + 1:end - 1])
    if len(args) == 1:
        init, cond, step = b"", args[0], b""
    elif len(args) == 2:
        init, cond, step = args[0], args[1], b""
    else:
        init, cond, step = b",".join(args[:-2]), args[-2], args[-1]
    new = b"for(" + init + b";" + cond + b";" + step + b")"
    old = src[m.start:end]
    if len(new) > len(old):
        return
    # keep the loop head's newlines where they were: pad between "for" and "("
    fitted = b"for" + b" " * (len(old) - len(new)) + new[3:]
    put(m.start, end, fitted)
    rewrites.append(Rewrite("iterator", m.name.decode(), m.start, end,
                            _line_of(src, m.start),
                            tuple(a.strip().decode(errors="replace") for a in args)))


def parse(src: bytes) -> Parsed:
    """Preprocess and parse one file's bytes."""
    text, rewrites = preprocess(src)
    return Parsed(text, parser().parse(text), rewrites)


def error_stats(root: Node) -> tuple[int, int]:
    """(number of ERROR/MISSING nodes, bytes they cover) under ``root``."""
    if not root.has_error:
        return 0, 0
    count = covered = 0
    stack = [root]
    while stack:
        node = stack.pop()
        if not node.has_error:
            continue
        if node.is_error or node.is_missing:
            count += 1
            covered += node.end_byte - node.start_byte
            continue
        stack.extend(node.children)
    return count, covered
