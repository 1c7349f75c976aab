"""The preprocessor side of one C file: its ``#define``s and its initcalls.

Takes a file's path and its bytes as they are on disk (:mod:`analyzer.parse`
blanks attribute words and some directives before tree-sitter sees them; the
raw text keeps them), gives :class:`~analyzer.records.Macro` records (every
``#define``) and :class:`~analyzer.records.Initcall` records (file-scope
``core_initcall(sock_init)``, ``module_init(af_unix_init)``, ...), each with the
``#if`` conditions around it in the form of ``Field.guard``.

One regex pass finds the directive lines and the initcall lines; block
comments are skipped by following the ``/*`` ... ``*/`` pairs between them.  The
include guard of a header (its first directive ``#ifndef X`` followed by
``#define X``) is no condition of the header's defines and is left out of their
guards.  The initcall levels and their order come from ``kernel/initcalls.toml``
(include/linux/init.h and include/asm-generic/vmlinux.lds.h of the release).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources

from analyzer.records import Initcall, Macro, maker

__all__ = ["Level", "levels", "level_of", "level_rank", "scan"]


@dataclass(frozen=True)
class Level:
    """One initcall level: its name (``core_sync``), the section id of
    include/linux/init.h (``1s``), the macros that put a function in it, and
    its rank in the order the kernel runs the levels (early first)."""

    name: str
    id: str
    macros: tuple[str, ...]
    rank: int


@cache
def levels() -> tuple[Level, ...]:
    """The levels of ``kernel/initcalls.toml`` in the order the kernel runs them."""
    text = resources.files("analyzer.kernel").joinpath("initcalls.toml").read_text()
    table = tomllib.loads(text)
    return tuple(Level(e["name"], e["id"], tuple(e["macros"]), i)
                 for i, e in enumerate(table["level"]))


@cache
def _by_macro() -> dict[str, Level]:
    return {m: lv for lv in levels() for m in lv.macros}


def level_of(macro: str) -> str:
    """The level name a macro puts its function in (``module_init`` -> ``device``).

    >>> level_of("core_initcall"), level_of("module_init"), level_of("fs_initcall_sync")
    ('core', 'device', 'fs_sync')
    """
    return _by_macro()[macro].name


def level_rank(level: str) -> int:
    """The position of a level in the kernel's order: sort initcalls by it.

    >>> sorted(["device", "rootfs", "early", "core_sync", "pure"], key=level_rank)
    ['early', 'pure', 'core_sync', 'rootfs', 'device']
    """
    for lv in levels():
        if lv.name == level:
            return lv.rank
    raise KeyError(f"unknown initcall level {level!r}")


# --- the scan -------------------------------------------------------------------

#: a directive this module reads, after the newline before it (a literal first
#: byte lets ``re`` search at C speed): for a ``#define`` the name, the ``(`` of
#: a function-like one, or the body of an object-like one on one line without
#: ``/`` or ``\\``; else the directive's word
_DIRECTIVE = re.compile(rb"\n[ \t]*#[ \t]*(?:define[ \t]+(\w+)(?:(\()|[ \t]*([^\n/\\]*)(?=\n))?"
                        rb"|(if|ifdef|ifndef|elif|else|endif)\b)")
#: an initcall use at the start of a line: macro name, function name
_USE = re.compile(rb"(\w+)[ \t]*\([ \t]*(\w+)[ \t]*\)")


_DEFINED = re.compile(r"defined\s*\(\s*(\w+)\s*\)|defined\s+(\w+)")
_IDENT = re.compile(r"^[A-Za-z_]\w*$")
_NAME = re.compile(rb"[ \t]+(\w+)")
#: string and character literals (kept), comments (removed)
_NOISE = re.compile(r"\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'|/\*.*?\*/|//[^\n]*", re.S)


class _Comments:
    """Tells, for increasing positions, whether a position is inside a block
    comment.  Only the text between the position asked last and the one asked
    now is searched, once, at C speed."""

    __slots__ = ("src", "safe", "until")

    def __init__(self, src: bytes):
        self.src = src
        self.safe = 0  # every comment opened before it is closed before it
        self.until = 0  # the end of the comment found around the last position

    def inside(self, pos: int) -> bool:
        if pos < self.until:
            return True
        src = self.src
        start = src.rfind(b"/*", max(self.safe, self.until), pos)
        if start >= 0 and b"//" not in src[src.rfind(b"\n", 0, start) + 1:start]:
            close = src.find(b"*/", start + 2)
            end = close + 2 if close >= 0 else len(src)
            if end > pos:
                self.until = end
                return True
        self.safe = pos
        return False


def _line_start(src: bytes, pos: int) -> bool:
    """Does only blank space come before ``pos`` on its line?"""
    if pos == 0:
        return True
    c = src[pos - 1]
    if c == 10:  # "\n"
        return True
    if c != 32 and c != 9:
        return False
    start = src.rfind(b"\n", 0, pos) + 1
    return not src[start:pos].strip(b" \t")


def _logical_end(src: bytes, pos: int) -> int:
    """The end of the directive line at ``pos``: backslash continuations
    followed, and a block comment opened on it followed to its close."""
    while True:
        end = src.find(b"\n", pos)
        if end < 0:
            end = len(src)
        i = src.find(b"/*", pos, end)
        if i >= 0:
            i = src.rfind(b"/*", pos, end)
            if src.find(b"*/", i + 2, end) < 0:
                close = src.find(b"*/", i + 2)
                if close < 0:
                    return len(src)
                pos = close + 2
                continue
        if end < len(src) and src[end - 1] == 92:  # "\\"
            pos = end + 1
            continue
        if end > 1 and src[end - 1] == 13 and src[end - 2] == 92:  # "\\\r"
            pos = end + 1
            continue
        return end


def _clean(text: str) -> str:
    """Directive text with comments removed (newlines of the removed text
    kept) and continuations made newlines; trailing blanks of each line and
    leading blanks of the first stripped."""
    if "\\" in text:
        text = text.replace("\\\r\n", "\n").replace("\\\n", "\n")
    if "/" in text:
        text = _NOISE.sub(_uncomment, text)
    if "\n" in text:
        text = "\n".join([line.rstrip() for line in text.split("\n")])
    return text.lstrip(" \t").rstrip()


def _uncomment(m: re.Match) -> str:
    s = m.group(0)
    if s[0] in "\"'":
        return s
    return " " + "\n" * s.count("\n")


def _condition(kind: str, text: str) -> str:
    """The condition an ``#if``/``#ifdef``/``#ifndef``/``#elif`` line tests,
    written as ``Field.guard`` writes it."""
    cond = " ".join(_clean(text).split())
    if kind in ("ifdef", "ifndef"):
        name = cond.split(" ", 1)[0] if cond else "?"
        return f"!{name}" if kind == "ifndef" else name
    return _DEFINED.sub(lambda m: m.group(1) or m.group(2), cond) or "?"


def _negate(cond: str) -> str:
    if _IDENT.match(cond):
        return "!" + cond
    if cond.startswith("!") and _IDENT.match(cond[1:]):
        return cond[1:]
    return f"!({cond})"


class _Guards:
    """The stack of open conditionals.  Each entry: the negations of the
    branches already passed and the condition of the current branch; an
    include guard's entry counts for nothing.  ``text`` is the guard."""

    __slots__ = ("stack", "text")

    def __init__(self):
        self.stack: list[tuple[list[str], str, bool]] = []
        self.text = ""

    def _update(self) -> None:
        parts = [c for done, cur, skip in self.stack if not skip for c in (*done, cur) if c]
        self.text = " && ".join(parts)

    def push(self, cond: str) -> None:
        self.stack.append(([], cond, False))
        self._update()

    def elif_(self, cond: str) -> None:
        if self.stack:
            done, cur, skip = self.stack[-1]
            self.stack[-1] = ([*done, _negate(cur)] if cur else done, cond, skip)
            self._update()

    def else_(self) -> None:
        self.elif_("")

    def pop(self) -> None:
        if self.stack:
            self.stack.pop()
            self._update()

    def ignore_top(self) -> None:
        """The innermost conditional is an include guard."""
        self.stack[-1] = ([], "", True)
        self._update()


_MACRO = maker(Macro)


def _macro(relpath: str, src: bytes, m: re.Match, end: int, line: int,
           guard: str) -> Macro:
    """The Macro of a ``#define`` matched by ``m`` (name and ``(``), whose
    logical line ends at ``end``."""
    name = m.group(1).decode("utf-8", "replace")
    pos, params, lead = m.end(), None, ""
    if m.group(2) is not None:
        close = src.find(b")", pos, end)
        if close < 0:
            close = end
        inner = _clean(src[pos:close].decode("utf-8", "replace"))
        params = tuple(["".join(p.split()) for p in inner.split(",")]) if inner else ()
        lead = "\n" * src.count(b"\n", pos, close)  # body line i stays source line + i
        pos = min(close + 1, end)
    text = src[pos:end].decode("utf-8", "replace")
    if "\\" in text or "/" in text or "\n" in text:
        body = _clean(text)
        end_line = line + src.count(b"\n", m.start() + 1, end)
    else:
        body = text.strip(" \t\r\f\v")
        end_line = line + len(lead)
    if lead:
        body = lead + body
    return _MACRO(name, relpath, line, end_line, params, body, guard)


def _simple_define(relpath: str, src: bytes, m: re.Match, line: int,
                   guard: str) -> Macro | None:
    """The Macro of an object-like ``#define`` on one line with at most a
    comment at its end (most of them), else None."""
    if m.group(2) is not None:
        return None
    pos = m.end()
    end = src.find(b"\n", pos)
    seg = src[pos:end] if end >= 0 else src[pos:]
    if seg.endswith(b"\\") or seg.endswith(b"\r"):
        return None
    cut = seg.find(b"/")
    if cut >= 0:
        if b'"' in seg or b"'" in seg:
            return None
        after = seg[cut + 1:cut + 2]
        if after == b"*":
            close = seg.find(b"*/", cut + 2)
            if close < 0 or seg[close + 2:].strip():
                return None
        elif after != b"/":
            return None
        seg = seg[:cut]
    return _MACRO(m.group(1).decode("utf-8", "replace"), relpath, line, line, None,
                  seg.strip().decode("utf-8", "replace"), guard)


def _initcalls(src: bytes) -> list[re.Match]:
    """The initcall uses (``core_initcall(sock_init)``) that start a line and
    do not continue a ``#define``, in source order."""
    found = []
    for word in (b"initcall", b"module_init"):
        at = src.find(word)
        while at >= 0:
            start = at
            while start > 0 and src[start - 1] in _WORD:
                start -= 1
            m = _USE.match(src, start)
            if m is not None and m.group(1).decode() in _by_macro() \
                    and _line_start(src, start) and not _continued(src, start):
                found.append(m)
            at = src.find(word, at + len(word))
    found.sort(key=lambda m: m.start())
    return found


_WORD = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _continued(src: bytes, pos: int) -> bool:
    """Does the line of ``pos`` continue the one before (a backslash)?"""
    start = src.rfind(b"\n", 0, pos)
    return start > 0 and src[start - 1] == 92 or start > 1 and src[start - 2:start] == b"\\\r"


def scan(relpath: str, raw: bytes) -> tuple[list[Macro], list[Initcall]]:
    """The ``#define``s and file-scope initcalls of one file, in line order.

    >>> ms, ics = scan("t.c", b"#ifdef CONFIG_X\\n#define f(a, b) ((a) + \\\\\\n (b))\\n"
    ...                       b"#endif\\ncore_initcall(sock_init);\\n")
    >>> ms[0].params, ms[0].body, ms[0].guard, (ms[0].line, ms[0].end_line)
    (('a', 'b'), '((a) +\\n (b))', 'CONFIG_X', (2, 3))
    >>> ics[0].function, ics[0].level, ics[0].line
    ('sock_init', 'core', 5)
    """
    src = b"\n" + raw  # every directive follows a newline; line of p = newlines before p
    macros: list[Macro] = []
    calls: list[Initcall] = []
    pending = _initcalls(src)
    guards, comments = _Guards(), _Comments(src)
    line = last = 0
    first, include_guard = True, ""  # a first "#ifndef X" is an include guard if X is defined next
    for m in _DIRECTIVE.finditer(src):
        pos = m.start() + 1
        if pending and pending[0].start() < pos:
            line, last = _flush(relpath, src, pending, pos, line, last, guards, comments,
                                calls)
        if comments.inside(pos):
            continue
        line += src.count(b"\n", last, pos)
        last = pos
        name = m.group(1)
        if name is not None:
            body = m.group(3)
            if body is not None:
                found = _MACRO(name.decode("utf-8", "replace"), relpath, line, line, None,
                               body.strip().decode("utf-8", "replace"), guards.text)
            else:
                found = _simple_define(relpath, src, m, line, guards.text) or \
                    _macro(relpath, src, m, _logical_end(src, m.end()), line, guards.text)
            if include_guard and include_guard == found.name and not found.body:
                guards.ignore_top()
                found = replace(found, guard="")
            macros.append(found)
            first, include_guard = False, ""
            continue
        kind, end = m.group(4), _logical_end(src, m.end())
        if kind == b"if" or kind == b"ifdef" or kind == b"ifndef":
            cond = _condition(kind.decode(), src[m.end():end].decode("utf-8", "replace"))
            guards.push(cond)
            if first and kind == b"ifndef":
                include_guard, first = cond[1:], False
                continue
        elif kind == b"elif":
            guards.elif_(_condition("elif", src[m.end():end].decode("utf-8", "replace")))
        elif kind == b"else":
            guards.else_()
        else:
            guards.pop()
        first, include_guard = False, ""
    if pending:
        _flush(relpath, src, pending, len(src) + 1, line, last, guards, comments, calls)
    return macros, calls


def _flush(relpath: str, src: bytes, pending: list[re.Match], before: int, line: int,
           last: int, guards: _Guards, comments: _Comments,
           out: list[Initcall]) -> tuple[int, int]:
    """Record the pending initcall uses before position ``before`` (those not
    in a comment), under the guards open now; the line count moved on."""
    while pending and pending[0].start() < before:
        m = pending.pop(0)
        pos = m.start()
        if comments.inside(pos):
            continue
        line += src.count(b"\n", last, pos)
        last = pos
        macro = m.group(1).decode()
        out.append(Initcall(m.group(2).decode(), level_of(macro), relpath, line, macro,
                            guards.text))
    return line, last
