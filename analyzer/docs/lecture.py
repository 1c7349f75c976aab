"""The lecture's code against the 4.4.1 source, token by token.

Takes an excerpt as a slide prints it (``analyzer/site/tour.yaml`` ``lecture``: numbered
lines, ``...`` for the lines it leaves out) and the lines of the real file
with the symbol's span, and gives one :class:`LineCheck` per line of code of
the slide: the same tokens as a line of the source (comments and spacing
aside), different tokens (with the names that differ, each classified: a
member, a parameter's type, an ops table's entry, another name), or no such
line in the source (a declaration that does not exist).  Each slide line is
placed by content: the source line with the same tokens nearest to where the
slide's number says, else the most similar one around the symbol.
:func:`entry_point` compares the name the slide gives an excerpt with the
function it shows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache

from analyzer.docs.codeview import C_KEYWORDS

__all__ = ["NameDiff", "LineCheck", "ctokens", "strip_comments", "compare_excerpt",
           "entry_point", "Summary", "summarize"]

_TOKEN = re.compile(r"""
    [A-Za-z_]\w*                       # identifiers and keywords
  | 0[xX][0-9a-fA-F]+\w* | \d+\w*      # numbers
  | "(?:\\.|[^"\\])*" | '(?:\\.|[^'\\])*'
  | ->|\+\+|--|<<=|>>=|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^]=|\.\.\.
  | \S
""", re.X)
_IDENT = re.compile(r"[A-Za-z_]\w*$")
#: at least this similar (difflib ratio of the token lists) to count as the same line
SIMILAR = 0.6


@dataclass(frozen=True)
class NameDiff:
    """A name the lecture uses where the source has another (or none)."""

    #: "member" | "parameter type" | "parameter" | "ops table entry" | "declaration" |
    #: "entry point" | "name" | "line" | "keyword" (a keyword, not a name: ``const``)
    kind: str
    lecture: str
    source: str


@dataclass(frozen=True)
class LineCheck:
    """One line of code of a slide next to the source line it stands for."""

    lecture_line: int  # the number the slide prints
    lecture_text: str
    status: str  # "same" | "cut" (the slide cut the line off) | "differs" | "missing"
    real_line: int = 0
    source_text: str = ""
    names: tuple[NameDiff, ...] = ()


_LEXEMES = re.compile(r'''"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|/\*.*?(?:\*/|\Z)|//[^\n]*''',
                      re.S)


def strip_comments(text: str) -> str:
    """``text`` with C comments blanked (line breaks kept, strings left alone).

    >>> strip_comments('a /* x\\n y */ b // c\\n"/* s */"')
    'a     \\n      b     \\n"/* s */"'
    """
    def blank(m: re.Match) -> str:
        s = m.group(0)
        return s if s[0] in "\"'" else re.sub(r"[^\n]", " ", s)

    return _LEXEMES.sub(blank, text)


def ctokens(text: str) -> list[str]:
    """C tokens of one (comment-free) line.

    >>> ctokens("sk->sk_prot = &tcp_prot;  ")
    ['sk', '->', 'sk_prot', '=', '&', 'tcp_prot', ';']
    """
    return _TOKEN.findall(text)


@dataclass
class _Item:
    number: int
    text: str  # as printed (continuation lines joined by newlines)
    code: list[str] = field(default_factory=list)  # comment-free physical lines


def _items(excerpt: str) -> list[_Item]:
    """The slide's numbered lines, each with its unnumbered continuation lines."""
    body, numbers = [], []
    for raw in excerpt.splitlines():
        m = re.match(r"\s*(\d+)(?:[ \t](.*))?$", raw)
        numbers.append(int(m.group(1)) if m else None)
        body.append(m.group(2) or "" if m else raw)
    clean = strip_comments("\n".join(body)).split("\n")
    items: list[_Item] = []
    for num, shown, code in zip(numbers, body, clean, strict=True):
        if code.strip() in ("...", "…") or (num is None and not code.strip()):
            continue
        if num is None:
            if items and _depth(" ".join(items[-1].code)) > 0:
                items[-1].code.append(code)
                items[-1].text += "\n" + shown.strip()
            continue
        items.append(_Item(num, shown.rstrip(), [code]))
    return [it for it in items if ctokens(" ".join(it.code))]


def _depth(text: str) -> int:
    toks = ctokens(text)
    return toks.count("(") - toks.count(")")


class _Source:
    """The file's lines as token lists (comments removed), with an index."""

    def __init__(self, lines: Sequence[str]):
        self.lines = list(lines)
        clean = strip_comments("\n".join(self.lines)).split("\n")
        self.tokens = [ctokens(x) for x in clean]
        self.by_tokens: dict[tuple[str, ...], list[int]] = {}
        self.by_name: dict[str, list[int]] = {}
        for i, toks in enumerate(self.tokens, start=1):
            self.by_tokens.setdefault(tuple(toks), []).append(i)
            for t in toks:
                if _IDENT.match(t):
                    self.by_name.setdefault(t, []).append(i)

    def joined(self, i: int, k: int) -> list[str]:
        out: list[str] = []
        for j in range(i, min(i + k, len(self.tokens) + 1)):
            out += self.tokens[j - 1]
        return out


def compare_excerpt(excerpt: str, source_lines: Sequence[str], start: int, end: int,
                    cite_line: int = 0) -> list[LineCheck]:
    """Each line of code of ``excerpt`` (as a slide prints it) against the file
    ``source_lines`` (all of it; line 1 first) where the symbol spans ``start`` to
    ``end`` and the slide numbered its first line ``cite_line``."""
    src = _source(tuple(source_lines))
    offset = start - cite_line if cite_line else 0
    return [_check(it, src, it.number + offset, start, end) for it in _items(excerpt)]


@lru_cache(maxsize=16)
def _source(lines: tuple[str, ...]) -> _Source:
    return _Source(lines)


def _check(it: _Item, src: _Source, expect: int, start: int, end: int) -> LineCheck:
    toks = ctokens(" ".join(it.code))
    k = len(it.code)
    window = _window(src, expect, start, end)
    exact = src.by_tokens.get(tuple(toks), []) + [
        i for i in window for size in range(2, k + 2) if src.joined(i, size) == toks]
    if exact:
        best = min(exact, key=lambda i: (abs(i - expect), i))
        size = next(s for s in range(1, k + 2) if src.joined(best, s) == toks)
        return LineCheck(it.number, it.text, "same", best, _shown(src, best, size))
    line, size, ratio = _most_similar(toks, src, expect, window, k)
    if line and ratio >= SIMILAR:
        cand = src.joined(line, size)
        if _cut_off(toks, cand):
            return LineCheck(it.number, it.text, "cut", line, _shown(src, line, size))
        return LineCheck(it.number, it.text, "differs", line, _shown(src, line, size),
                         _name_diffs(toks, cand, start, line))
    near = _nearest_by_name(toks, src, expect)
    return LineCheck(it.number, it.text, "missing", near,
                     _shown(src, near, 1) if near else "", (_missing(toks),))


def _window(src: _Source, expect: int, start: int, end: int) -> list[int]:
    """Where a slide line may be: in the symbol's span or near the slide's number."""
    lines = set(range(max(1, start - 8), min(len(src.tokens), end + 8) + 1))
    lines |= set(range(max(1, expect - 15), min(len(src.tokens), expect + 15) + 1))
    return sorted(lines)


def _missing(toks: list[str]) -> NameDiff:
    """What a slide line the source does not have declares or names."""
    if toks[-1:] == [";"] and "(" in toks and toks.index("(") > 0 \
            and _IDENT.match(toks[toks.index("(") - 1]):
        return NameDiff("declaration", toks[toks.index("(") - 1], "")
    return NameDiff("line", " ".join(t for t in toks if _name(t)), "")


def _shown(src: _Source, line: int, k: int) -> str:
    return "\n".join(x.strip() for x in src.lines[line - 1:line - 1 + k]).strip()


def _most_similar(toks: list[str], src: _Source, expect: int, window: list[int],
                  k: int) -> tuple[int, int, float]:
    """The window's line (and how many lines it takes) most like ``toks``: by token
    ratio, ties and near ties decided by the text's likeness, then nearness."""
    scored = []
    for i in window:
        for size in range(1, k + 2):
            cand = src.joined(i, size)
            if not cand:
                break
            m = SequenceMatcher(None, toks, cand, autojunk=False)
            if m.real_quick_ratio() >= SIMILAR and m.quick_ratio() >= SIMILAR:
                scored.append((m.ratio(), i, size))
    if not scored:
        return 0, 1, 0.0
    top = max(r for r, _, _ in scored)
    text = " ".join(toks)
    close = [(SequenceMatcher(None, text, " ".join(src.joined(i, s)), autojunk=False).ratio(),
              -abs(i - expect), -s, i, r) for r, i, s in scored if r >= top - 0.1]
    _, _, s, i, r = max(close)
    return i, -s, r


def _nearest_by_name(toks: list[str], src: _Source, expect: int) -> int:
    """For a line the source does not have: the most similar line anywhere in the
    file that shares its rarest name (``tcp_write_timer``'s definition), or 0."""
    names = [t for t in toks if _name(t) and t in src.by_name]
    if not names:
        return 0
    rare = min(names, key=lambda t: len(src.by_name[t]))
    return max(src.by_name[rare][:200], key=lambda i: (
        SequenceMatcher(None, toks, src.tokens[i - 1], autojunk=False).ratio(),
        -abs(i - expect)))


def _cut_off(lecture: list[str], source: list[str]) -> bool:
    """The slide's line is the source's, cut at the slide's edge (``int proto``)."""
    if len(lecture) > len(source) or lecture[:-1] != source[:len(lecture) - 1]:
        return False
    return source[len(lecture) - 1].startswith(lecture[-1]) and lecture != source


def _name_diffs(lecture: list[str], source: list[str], start: int,
                real: int) -> tuple[NameDiff, ...]:
    """The names (and keywords) where the slide's tokens and the source's differ."""
    out = []
    m = SequenceMatcher(None, lecture, source, autojunk=False)
    for op, i1, i2, j1, j2 in m.get_opcodes():
        if op == "equal":
            continue
        ours = [t for t in lecture[i1:i2] if _IDENT.match(t)]
        theirs = [t for t in source[j1:j2] if _IDENT.match(t)]
        if not ours and not theirs:
            continue
        if not any(_name(t) for t in ours + theirs):
            kind = "keyword"
        else:
            kind = _kind(lecture, source, j1, real, start)
        out.append(NameDiff(kind, " ".join(ours), " ".join(theirs)))
    return tuple(out)


def _name(token: str) -> bool:
    """An identifier that is not a C keyword."""
    return bool(_IDENT.match(token)) and token not in C_KEYWORDS


def _kind(lecture: list[str], source: list[str], j: int, real: int, start: int) -> str:
    """What a differing name is, from where it stands in the source line."""
    before = source[j - 1] if j > 0 else ""
    if source[:1] == ["."] or lecture[:1] == ["."]:
        return "ops table entry"
    if before in ("->", "."):
        return "member"
    if real <= start + 2 and "(" in source[:j]:
        return "parameter type" if _in_type(source, j) else "parameter"
    return "name"


def _in_type(source: list[str], j: int) -> bool:
    """Whether position ``j`` of a parameter list is in a type (a name follows)."""
    rest = source[j:]
    for k, t in enumerate(rest):
        if t in (",", ")"):
            return k > 1 or (k == 1 and rest[0] == "*")
    return False


def entry_point(lecture_name: str, names: Sequence[str]) -> NameDiff | None:
    """The slide's name for an excerpt against the names of the function it shows
    (``sys_socketcall`` against ``SyS_socket``, ``sys_socket``)."""
    bare = lecture_name.strip().rstrip("()")
    if not bare or bare in names:
        return None
    return NameDiff("entry point", f"{bare}()", " / ".join(f"{n}()" for n in names))


@dataclass(frozen=True)
class Summary:
    lines: int
    same: int
    cut: int
    differs: int
    missing: int
    names: int  # distinct names the lecture uses that the source does not have there


def summarize(checks: Sequence[LineCheck], extra_names: int = 0) -> Summary:
    """Counts for the page's headline (names: the differing names, keywords aside)."""
    by = {s: sum(1 for c in checks if c.status == s)
          for s in ("same", "cut", "differs", "missing")}
    names = len({(d.kind, d.lecture, d.source) for c in checks for d in c.names
                 if d.kind != "keyword"}) + extra_names
    return Summary(len(checks), by["same"], by["cut"], by["differs"], by["missing"], names)
