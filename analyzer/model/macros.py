"""Function-like macros as the C preprocessor expands them at a call site.

Takes a macro definition (parameters and replacement text, from the
extraction's ``Macro`` records) and the argument texts of one use; gives the
replacement text with the arguments substituted, ``#`` stringified and ``##``
pasted, ``__VA_ARGS__`` (and GNU ``args...``) filled in.  Nested macros in the
result are left for the translator, which expands them when it meets them (the
preprocessor's rescan), so a macro never expands inside itself.

The translator (:mod:`analyzer.model.translate`) parses the result and runs it
in the caller's scope, as the compiler would see it.

>>> substitute(("x", "y"), "((x) < (y) ? (x) : (y))", ["a + 1", "b"])
'((a + 1) < (b) ? (a + 1) : (b))'
>>> substitute(("name",), '#name "_cache"', ["tcp"])
'"tcp" "_cache"'
>>> substitute(("a", "b"), "a ## _ ## b", ["sk", "family"])
'sk_family'
>>> split_args('f(a, b), "x, y", (c, d)')
['f(a, b)', '"x, y"', '(c, d)']
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from analyzer.errors import AnalyzerError

__all__ = ["MacroDef", "substitute", "split_args", "tokens", "shape", "expand_text"]

_TOKEN = re.compile(r"""
    (?P<space>\s+|/\*.*?\*/|//[^\n]*)
  | (?P<string>"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')
  | (?P<word>[A-Za-z_]\w*)
  | (?P<number>\.?\d(?:[\w.]|[eEpP][+-])*)
  | (?P<paste>\#\#)
  | (?P<hash>\#)
  | (?P<ellipsis>\.\.\.)
  | (?P<punct>->|\+\+|--|<<=?|>>=?|[<>=!&|^+\-*/%]=|&&|\|\||.)
""", re.S | re.X)


@dataclass(frozen=True)
class MacroDef:
    """A function-like ``#define``: where it is, its parameters, its body."""

    name: str
    file: str
    line: int
    params: tuple[str, ...]
    body: str


@functools.lru_cache(maxsize=65536)
def tokens(text: str) -> tuple[tuple[str, str], ...]:
    """``(kind, text)`` pairs of a piece of C, spaces and comments included
    (remembered: the same bodies and arguments are read again and again)."""
    return tuple((m.lastgroup or "punct", m.group()) for m in _TOKEN.finditer(text))


def split_args(text: str) -> list[str]:
    """The arguments of a call's text between its parentheses, split at
    top-level commas (commas inside brackets, strings and characters stay)."""
    args, depth, cur = [], 0, []
    for kind, t in tokens(text):
        if kind == "punct" and t in "([{":
            depth += 1
        elif kind == "punct" and t in ")]}":
            depth -= 1
        elif kind == "punct" and t == "," and depth == 0:
            args.append("".join(cur).strip())
            cur = []
            continue
        cur.append(t)
    last = "".join(cur).strip()
    if last or args:
        args.append(last)
    return args


def _bind(params: tuple[str, ...], args: list[str], name: str) -> dict[str, str]:
    """Parameter name -> argument text (the variadic one gets the rest)."""
    names = list(params)
    variadic = None
    if names and names[-1].endswith("..."):
        variadic = names.pop()[:-3].strip() or "__VA_ARGS__"
    if len(args) == 1 and not args[0] and not names and variadic is None:
        args = []  # f()
    if len(args) < len(names) or (variadic is None and len(args) > len(names)):
        if not (len(names) == 1 and not args):
            raise AnalyzerError(f"macro {name} takes {len(names)} argument(s), "
                                f"{len(args)} given")
        args = [""]
    bound = dict(zip(names, args, strict=False))
    if variadic is not None:
        bound[variadic] = ", ".join(args[len(names):])
    return bound


def substitute(params: tuple[str, ...], body: str, args: list[str], name: str = "macro") -> str:
    """The body with ``args`` in place of ``params`` (C11 6.10.3.1-3)."""
    bound = _bind(params, args, name)
    toks = [t for t in tokens(body.replace("\\\n", " "))]
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(toks):
        kind, t = toks[i]
        if kind == "hash" and (nxt := _next_word(toks, i)) is not None and nxt[1] in bound:
            out.append(("string", _stringify(bound[nxt[1]])))
            i = nxt[0] + 1
            continue
        if kind == "word" and t in bound:
            out.append(("arg", bound[t]))
        else:
            out.append((kind, t))
        i += 1
    return _paste(out)


def _next_word(toks, i: int) -> tuple[int, str] | None:
    j = i + 1
    while j < len(toks) and toks[j][0] == "space":
        j += 1
    return (j, toks[j][1]) if j < len(toks) and toks[j][0] == "word" else None


def _stringify(arg: str) -> str:
    text = re.sub(r"\s+", " ", arg.strip())
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _paste(toks: list[tuple[str, str]]) -> str:
    """Join the tokens; ``a ## b`` glues its neighbours (spaces dropped), and
    ``, ## __VA_ARGS__`` drops the comma when the variable part is empty."""
    out = ""
    i = 0
    while i < len(toks):
        kind, t = toks[i]
        i += 1
        if kind != "paste":
            out += t
            continue
        out = out.rstrip()
        while i < len(toks) and toks[i][0] == "space":
            i += 1
        if i == len(toks):
            break
        right_kind, right = toks[i]
        i += 1
        if right_kind == "arg" and not right.strip() and out.endswith(","):
            out = out[:-1]
            continue
        out += right.strip()
    return out.strip()


def shape(text: str) -> str:
    """How an expansion is used: ``"empty"``, ``"do"`` (a ``do { } while (0)``
    statement), ``"block"`` (a ``({ ... })`` statement expression) or
    ``"expr"`` (anything else, tried as an expression first)."""
    t = text.strip()
    if not t:
        return "empty"
    if re.match(r"do\b", t) or t.startswith("{"):
        return "do"  # a statement: do { } while (0), or a bare block
    inner = t
    while inner.startswith("(") and inner.endswith(")") and _balanced(inner[1:-1]):
        if inner[1:].lstrip().startswith("{") and inner[:-1].rstrip().endswith("}"):
            return "block"
        inner = inner[1:-1].strip()
    return "expr"


def _balanced(text: str) -> bool:
    depth = 0
    for kind, t in tokens(text):
        if kind == "punct" and t in "([{":
            depth += 1
        elif kind == "punct" and t in ")]}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def expand_text(text: str, lookup, depth: int = 0, busy: frozenset = frozenset()) -> str:
    """``text`` with every use of a function-like macro that ``lookup(name)``
    gives (a :class:`MacroDef`, else None) replaced by its expansion, again
    until none is left (a macro never expands inside itself)."""
    if depth > 40:
        raise AnalyzerError(f"macros nest too deep in {text[:60]!r}")
    toks = tokens(text)
    out, i = [], 0
    while i < len(toks):
        kind, t = toks[i]
        mac = lookup(t) if kind == "word" and t not in busy else None
        j = i + 1
        while mac is not None and j < len(toks) and toks[j][0] == "space":
            j += 1
        if mac is None or j == len(toks) or toks[j][1] != "(":
            out.append(t)
            i += 1
            continue
        end = _closing(toks, j)
        inner = "".join(x for _, x in toks[j + 1:end])
        body = substitute(mac.params, mac.body, split_args(inner), mac.name)
        out.append(expand_text(body, lookup, depth + 1, busy | {t}))
        i = end + 1
    return "".join(out)


def _closing(toks: Sequence[tuple[str, str]], start: int) -> int:
    depth = 0
    for k in range(start, len(toks)):
        kind, t = toks[k]
        if kind == "punct" and t == "(":
            depth += 1
        elif kind == "punct" and t == ")":
            depth -= 1
            if depth == 0:
                return k
    raise AnalyzerError("a macro call without its closing parenthesis")
