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


@cache
def query(name: str) -> Query:
    """The query ``queries/<name>.scm``."""
    text = resources.files("analyzer.queries").joinpath(f"{name}.scm").read_text()
    return Query(language(), text)


def captures(name: str, node: Node) -> dict[str, list[Node]]:
    """Run query ``name`` over ``node``: capture name -> nodes in source order."""
    found = QueryCursor(query(name)).captures(node)
    return {k: sorted(v, key=lambda n: n.start_byte) for k, v in found.items()}


@cache
def macro_table() -> dict:
    text = resources.files("analyzer.kernel").joinpath("macros.toml").read_text()
    return tomllib.loads(text)


@cache
def _patterns() -> tuple[re.Pattern, re.Pattern | None, list, re.Pattern]:
    table = macro_table()
    blank = re.compile(rb"\b(?:%s)\b" % b"|".join(
        re.escape(w.encode()) for w in sorted(table["blank"], key=len, reverse=True)))
    blank_call = None
    if table.get("blank_call"):
        blank_call = re.compile(rb"\b(?:%s)\s*\(" % b"|".join(
            re.escape(w.encode()) for w in table["blank_call"]))
    definers = [(re.compile(rb"^[ \t]*(%s)\s*\(" % d["pattern"].encode(), re.M), d)
                for d in table.get("definers", [])]
    iterators = re.compile(table["iterators"]["pattern"].encode() + rb"\s*\(")
    return blank, blank_call, definers, iterators


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


def preprocess(src: bytes) -> tuple[bytes, tuple[Rewrite, ...]]:
    """Rewrite kernel macros in ``src`` to plain C of the same byte length."""
    blank, blank_call, definers, iterators = _patterns()
    out = bytearray(src)
    rewrites: list[Rewrite] = []

    def put(start: int, end: int, new: bytes) -> None:
        out[start:end] = new

    for m in blank.finditer(src):
        put(m.start(), m.end(), b" " * (m.end() - m.start()))
    if blank_call is not None:
        for m in blank_call.finditer(src):
            end = _close_paren(src, m.end() - 1)
            if end > 0:
                seg = src[m.start():end]
                put(m.start(), end, re.sub(rb"[^\n]", b" ", seg))
    for rx, spec in definers:
        for m in rx.finditer(src):
            _rewrite_definer(src, m, spec, put, rewrites)
    for m in iterators.finditer(src):
        _rewrite_iterator(src, m, put, rewrites)
    rewrites.sort(key=lambda r: r.start)
    return bytes(out), tuple(rewrites)


def _rewrite_definer(src, m, spec, put, rewrites) -> None:
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


def _rewrite_iterator(src, m, put, rewrites) -> None:
    open_at = m.end() - 1
    end = _close_paren(src, open_at)
    if end < 0 or _in_define(src, m.start()):
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
    old = src[m.start():end]
    if len(new) > len(old):
        return
    # keep the loop head's newlines where they were: pad between "for" and "("
    fitted = b"for" + b" " * (len(old) - len(new)) + new[3:]
    put(m.start(), end, fitted)
    rewrites.append(Rewrite("iterator", m.group(1).decode(), m.start(), end,
                            _line_of(src, m.start()),
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
