"""Compute the integer values of enum constants and simple ``#define``s.

Takes :class:`~analyzer.records.Constant` records (from any number of files),
gives ``{name: int}``.  A C integer expression is translated to Python syntax
(suffixes, octal, casts, ``&&``/``||``/``!``) and evaluated by walking its
``ast`` with a whitelist of integer operations -- never with ``eval``.

When a name has several definitions (``#ifdef`` variants, arch-specific
headers, ``#define IPPROTO_TCP IPPROTO_TCP`` next to the enum), they are tried
in a fixed order and the first one that evaluates wins: definitions outside
``arch/`` first, then by file path, then by line.  A definition that refers
back to its own name fails and the next one is tried.
"""

from __future__ import annotations

import ast
import contextlib
import operator
import re
from collections.abc import Callable, Iterable

from analyzer.records import Constant

__all__ = ["literal_value", "to_python", "evaluate_expr", "evaluate", "definition_order"]

_SUFFIX = re.compile(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]+\b")
_OCTAL = re.compile(r"\b0([0-7]+)\b")
_TYPE_WORD = re.compile(
    r"^(?:unsigned|signed|int|long|short|char|const|volatile|__force|bool|"
    r"_?_?[us]\d+|__be\d+|__le\d+|\w+_t)$")
_CAST = re.compile(r"\(\s*([A-Za-z_]\w*(?:\s+[A-Za-z_]\w*)*+)\s*\**\s*\)(?=\s*[\w(~!-])")
_CHAR_OK = re.compile(r"^[\w\s()+\-*/%<>&|^~!=]+$")
_MAX_SHIFT = 256

_BIN: dict[type, Callable[[int, int], int]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Mod: lambda a, b: a - b * _cdiv(a, b), ast.FloorDiv: lambda a, b: _cdiv(a, b),
    ast.LShift: lambda a, b: a << b if 0 <= b < _MAX_SHIFT else _fail(),
    ast.RShift: lambda a, b: a >> b if 0 <= b < _MAX_SHIFT else _fail(),
    ast.BitOr: operator.or_, ast.BitAnd: operator.and_, ast.BitXor: operator.xor,
}
_UNARY: dict[type, Callable[[int], int]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert,
    ast.Not: lambda a: int(not a),
}
_CMP: dict[type, Callable[[int, int], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
    ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
}


def _fail() -> int:
    raise ValueError("not an integer expression")


def _cdiv(a: int, b: int) -> int:
    """C division: truncates toward zero."""
    if b == 0:
        _fail()
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _strip_cast(m: re.Match) -> str:
    words = m.group(1).split()
    return " " if all(_TYPE_WORD.match(w) for w in words) else m.group(0)


#: ``~`` applied to an unsigned literal: ``~0UL``, ``~0U``
_UNSIGNED_NOT = re.compile(r"~\s*(0[xX][0-9a-fA-F]+|\d+)([uU][lL]{0,2}|[lL]{1,2}[uU])\b")


def _unsigned_not(m: re.Match) -> str:
    """``~0UL`` as the unsigned value it is on x86-64 (``long`` is 64 bits,
    ``int`` 32): 18446744073709551615, not Python's -1."""
    bits = 64 if "l" in m.group(2).lower() else 32
    return str(((1 << bits) - 1) ^ int(m.group(1), 0))


def to_python(expr: str) -> str | None:
    """A C integer expression in Python syntax, or None if it is not one.

    >>> to_python("(1UL << 4) | 010")
    '(1 << 4) | 0o10'
    >>> to_python("((long)(~0UL >> 1))")
    '( ( 18446744073709551615 >> 1))'
    """
    if not _CHAR_OK.match(expr) or "sizeof" in expr:
        return None
    text = _UNSIGNED_NOT.sub(lambda m: " " + _unsigned_not(m), expr)
    text = _CAST.sub(_strip_cast, text)
    text = _SUFFIX.sub(r"\1", text)
    text = _OCTAL.sub(r"0o\1", text)
    text = text.replace("&&", " and ").replace("||", " or ").replace("/", "//")
    text = re.sub(r"!(?!=)", " not ", text)
    return text.strip()


def _walk(node: ast.AST, lookup: Callable[[str], int]) -> int:
    if isinstance(node, ast.Expression):
        return _walk(node.body, lookup)
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.Name):
        return lookup(node.id)
    if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
        return _BIN[type(node.op)](_walk(node.left, lookup), _walk(node.right, lookup))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_walk(node.operand, lookup))
    if isinstance(node, ast.BoolOp):
        values = [_walk(v, lookup) for v in node.values]
        return int(all(values) if isinstance(node.op, ast.And) else any(values))
    if isinstance(node, ast.Compare) and all(type(o) in _CMP for o in node.ops):
        left, result = _walk(node.left, lookup), True
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _walk(right_node, lookup)
            result = result and _CMP[type(op)](left, right)
            left = right
        return int(result)
    return _fail()


def evaluate_expr(expr: str, lookup: Callable[[str], int] | None = None) -> int | None:
    """The value of one C integer expression; names go through ``lookup``
    (which raises to fail).  None when it cannot be computed.

    >>> evaluate_expr("(1 << 2) + -3 / 2")
    3
    """
    text = to_python(expr)
    if text is None:
        return None
    try:
        tree = ast.parse(text, mode="eval")
        return _walk(tree, lookup or (lambda name: _fail()))
    except (SyntaxError, ValueError, TypeError, KeyError, RecursionError, MemoryError):
        return None


_NUMBER = re.compile(r"(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)[uUlL]*")
_NAME = re.compile(r"[A-Za-z_]")


def literal_value(expr: str) -> int | None:
    """The value of an expression made of literals only (no names).

    >>> literal_value("0x10UL"), literal_value("(1 << 3)"), literal_value("FOO + 1")
    (16, 8, None)
    """
    if expr[:1].isalpha() or expr[:1] == "_":
        return None  # starts with a name
    m = _NUMBER.fullmatch(expr)
    if m:
        return int(m.group(1), 0) if not m.group(1).startswith("0") or len(m.group(1)) == 1 \
            or m.group(1)[1] in "xX" else int(m.group(1), 8)
    if _NAME.search(_SUFFIX.sub(r"\1", expr).replace("0x", "").replace("0X", "")):
        return None  # names in it: computed across files by evaluate()
    return evaluate_expr(expr)


def definition_order(c: Constant) -> tuple:
    """The rank of a definition among same-named ones (lowest is tried first)."""
    return (c.file.startswith("arch/"), c.file, c.line)


def evaluate(constants: Iterable[Constant]) -> dict[str, int]:
    """Values of every constant that can be computed, across files.

    >>> from analyzer.records import Constant as C
    >>> evaluate([C("A", "define", "B + 1", "x.h", 1), C("B", "enum", "0", "y.h", 2)])
    {'A': 1, 'B': 0}
    """
    defs: dict[str, list[Constant]] = {}
    for c in constants:
        defs.setdefault(c.name, []).append(c)
    for v in defs.values():
        if len(v) > 1:  # most names have one definition
            v.sort(key=definition_order)
    values: dict[str, int] = {}
    failed: set[str] = set()
    active: set[str] = set()

    def lookup(name: str) -> int:
        if name in values:
            return values[name]
        if name in failed or name in active or name not in defs:
            return _fail()
        active.add(name)
        try:
            for c in defs[name]:
                v = c.value if c.value is not None else evaluate_expr(c.expr, lookup)
                if v is not None:
                    values[name] = v
                    return v
        finally:
            active.discard(name)
        failed.add(name)
        return _fail()

    for name in sorted(defs):
        first = defs[name][0]
        if first.value is not None:  # a literal (most constants): no lookup to make
            values.setdefault(name, first.value)
            continue
        with contextlib.suppress(ValueError, RecursionError):
            lookup(name)
    return {k: values[k] for k in sorted(values)}
