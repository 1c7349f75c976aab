"""The preprocessor's view of ``#if``, ``#ifdef`` and ``IS_ENABLED``.

Takes the macros a build defines (the configuration's ``CONFIG_*``, the
compiler's predefines, the architecture's values, ``__KERNEL__``) and a way to
ask whether the analysed tree ``#define``s a name (``__LITTLE_ENDIAN_BITFIELD``,
``NET_SKBUFF_DATA_USES_OFFSET``); gives :class:`Conditions`, which decides a
condition, a node's branch, or the lines of a file an ``#if`` drops, and
remembers which configuration options it read (:attr:`Conditions.read`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from tree_sitter import Node

from analyzer.constants import evaluate_expr

__all__ = ["Conditions", "Reading"]

_TESTS = re.compile(r"\b(defined|IS_ENABLED|IS_BUILTIN|IS_MODULE|IS_REACHABLE|config_enabled)"
                    r"\s*\(\s*(\w+)\s*\)|\bdefined\s+(\w+)")
#: an include guard's name: `#ifndef _NET_SOCK_H` at the top of a header
_GUARD = re.compile(r"_H_?_?$|_INCLUDED$")


#: a conditional directive, with its continuation lines
_DIRECTIVE = re.compile(r"^[ \t]*#[ \t]*(ifdef|ifndef|if|elif|else|endif)\b((?:[^\n]*\\\n)*[^\n]*)",
                        re.M)


@dataclass
class Reading:
    """How far :meth:`Conditions.inactive_lines` has read a file: the line of the
    directive being decided and the lines dropped above it.  A condition that
    asks about the file itself (``#ifdef X`` where the file ``#define``s X) is
    answered from here, as the preprocessor reads: top down."""

    line: int = 0
    dropped: set[int] = field(default_factory=set)

    def keeps(self, line: int) -> bool:
        """Is ``line`` kept, as far as read?  A line at or below the directive
        being decided is not read yet: a ``#define`` there defines nothing yet."""
        return line < self.line and line not in self.dropped


class Conditions:
    """Decides preprocessor conditions for one build."""

    def __init__(self, defines: dict[str, int | str],
                 tree_defines: Callable[[str], bool] = lambda name: False,
                 tree_value: Callable[[str], int | None] = lambda name: None):
        self.defines = {"__KERNEL__": 1, **defines}
        self.tree_defines = tree_defines
        #: the integer an object-like #define of the tree (in a kept branch) gives
        self.tree_value = tree_value
        self.read: set[str] = set()  # the CONFIG_ names conditions looked at
        self._busy: set[str] = set()
        self._active: dict[tuple, bool] = {}

    def defined(self, name: str) -> bool:
        """``defined(NAME)``: the build defines it, or the tree does (include
        guards excepted: each header is read as if for the first time)."""
        if name.startswith("CONFIG_"):
            self.read.add(name)
        if name in self.defines:
            return True
        if name.startswith("CONFIG_") or _GUARD.search(name) or name in self._busy:
            return False
        self._busy.add(name)
        try:
            return bool(self.tree_defines(name))
        finally:
            self._busy.discard(name)

    def _test(self, m: re.Match) -> str:
        word, name = m.group(1), m.group(2) or m.group(3)
        if word in (None, "defined", "config_enabled", "IS_BUILTIN", "IS_REACHABLE"):
            return "1" if self.defined(name) else "0"
        module = self.defined(f"{name}_MODULE")
        if word == "IS_MODULE":
            return "1" if module else "0"
        return "1" if self.defined(name) or module else "0"  # IS_ENABLED

    def value(self, name: str) -> int:
        if name.startswith("CONFIG_"):
            self.read.add(name)
        v = self.defines.get(name)
        if isinstance(v, int):
            return v
        if v is None and not name.startswith("CONFIG_") and name not in self._busy:
            self._busy.add(name)  # `#if __UAPI_DEF_SOCKADDR_IN`: libc-compat.h's 1
            try:
                found = self.tree_value(name)
            finally:
                self._busy.discard(name)
            return int(found) if found is not None else 0
        return 1 if v is not None else 0

    def __call__(self, cond: str) -> bool:
        text = re.sub(r"/\*.*?\*/|//.*", " ", cond)
        text = _TESTS.sub(self._test, text)
        value = evaluate_expr(text, self.value)
        return bool(value)

    # --- files and nodes ----------------------------------------------------------------
    def inactive_lines(self, src: bytes, reading: Reading | None = None) -> frozenset[int]:
        """Lines (1-based) that #if/#ifdef branches drop (read from the text:
        tree-sitter keeps no directives inside initializer lists).  ``reading``:
        kept up to date as the directives are decided (see :class:`Reading`)."""
        text = src.decode(errors="replace")
        reading = reading if reading is not None else Reading()
        dropped = reading.dropped
        stack: list = []
        active, line, pos, after = True, 1, 0, 1  # after: the first line past a directive
        for m in _DIRECTIVE.finditer(text):
            line += text.count("\n", pos, m.start())
            pos = m.start()
            if not active:
                dropped.update(range(after, line))
            reading.line = line
            rest = m.group(2).replace("\\\n", " ")
            active = self._directive(m.group(1), rest, stack, active)
            after = line + m.group(0).count("\n") + 1
        if not active:
            dropped.update(range(after, text.count("\n", pos) + line + 1))
        return frozenset(dropped)

    def _directive(self, word: str, rest: str, stack: list, active: bool) -> bool:
        rest = re.sub(r"/\*.*?\*/|//.*", " ", rest).strip()
        if word in ("ifdef", "ifndef", "if"):
            if word == "if" or not rest:
                cond = self(rest) if rest else False
            else:
                cond = self.defined(rest.split()[0]) == (word == "ifdef")
            stack.append((active, cond))
            return active and cond
        if not stack:
            return active
        outer, taken = stack[-1]
        if word == "elif":
            cond = not taken and self(rest)
            stack[-1] = (outer, taken or cond)
            return outer and cond
        if word == "else":
            stack[-1] = (outer, True)
            return outer and not taken
        stack.pop()
        return outer

    def active(self, node: Node) -> bool:
        """Is ``node`` in a branch of #if/#ifdef that the build keeps? (once
        per node: the configuration does not change)"""
        key = (node.id, node.start_byte, node.end_byte, node.type)
        found = self._active.get(key)
        if found is None:
            found = self._active[key] = self._active_uncached(node)
        return found

    def _active_uncached(self, node: Node) -> bool:
        child, parent = node, node.parent
        while parent is not None:
            if parent.type in ("preproc_ifdef", "preproc_if", "preproc_elif"):
                in_alt = child == parent.child_by_field_name("alternative")
                if self._cond(parent) == in_alt:
                    return False
            child, parent = parent, parent.parent
        return True

    def _cond(self, n: Node) -> bool:
        if n.type == "preproc_ifdef":
            name = n.child_by_field_name("name").text.decode()
            return self.defined(name) != (n.children[0].text.decode().strip() == "#ifndef")
        return self(n.child_by_field_name("condition").text.decode())
