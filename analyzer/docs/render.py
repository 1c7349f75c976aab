"""Markdown building blocks that keep source-derived text inert.

Takes plain strings (names, types, values, C source lines, the tour's notes)
and produces Markdown fragments for MkDocs: escaped inline text, code spans,
tables, fenced code blocks with real line numbers, links between generated
pages.  Every string that comes from the kernel source or the analysis goes
through :func:`esc` or into a fenced block, so a comment holding ``<script>``
or ``*emphasis*`` stays text.
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Iterable, Sequence

__all__ = ["esc", "code", "table", "fence", "rel_link", "link", "heading_id",
           "admonition", "object_root"]

#: characters that Markdown, HTML or the tables extension would interpret
_SPECIAL = set("&<>\"'`*_{}[]()#+-.!|~\\$:=^")


def esc(text: object) -> str:
    """Text as inert Markdown: every special character becomes an HTML entity.

    >>> esc("<script>*x*</script>")
    '&#60;script&#62;&#42;x&#42;&#60;&#47;script&#62;'
    """
    out = []
    for ch in str(text):
        if ch in _SPECIAL or ch == "/":
            out.append(f"&#{ord(ch)};")
        elif ch in "\r\n\t":
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def code(text: object) -> str:
    """An inline code span that survives any content (``<code>`` + :func:`esc`)."""
    return f"<code>{esc(text)}</code>"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table; cells must already be escaped or built by this module."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("\n", " ") or " " for c in row) + " |")
    return "\n".join(lines) + "\n"


def fence(lines: Sequence[str], start: int, highlight: Iterable[int] = (),
          lang: str = "c", title: str = "") -> str:
    """A fenced code block numbered from ``start`` with absolute ``highlight`` lines.

    The fence is longer than any run of backticks in the text, so the source
    cannot close it.

    >>> print(fence(["int x;"], 42, [42]))
    ```c linenums="42" hl_lines="1"
    int x;
    ```
    <BLANKLINE>
    """
    body = "\n".join(line.replace("\t", "    ").rstrip() for line in lines)
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    ticks = "`" * max(3, longest + 1)
    rel = sorted({n - start + 1 for n in highlight if start <= n < start + len(lines)})
    opts = f' linenums="{start}"'
    if rel:
        opts += ' hl_lines="' + " ".join(map(str, rel)) + '"'
    if title:
        opts += ' title="' + re.sub(r'["\\<>&]', "", title) + '"'
    return f"{ticks}{lang}{opts}\n{body}\n{ticks}\n"


def rel_link(from_page: str, to_page: str, anchor: str = "") -> str:
    """The relative URL of ``to_page`` (a docs-relative .md path) from ``from_page``.

    >>> rel_link("generated/tour/a.md", "generated/ref/structs/sock.md")
    '../ref/structs/sock.md'
    """
    rel = posixpath.relpath(to_page, posixpath.dirname(from_page) or ".")
    return rel + (f"#{anchor}" if anchor else "")


def link(from_page: str, to_page: str, text: str, anchor: str = "") -> str:
    """A Markdown link with already-escaped ``text``."""
    return f"[{text}]({rel_link(from_page, to_page, anchor)})"


def heading_id(text: str) -> str:
    """A stable HTML id for a heading: lower case, ``[a-z0-9_-]`` only.

    >>> heading_id("net/socket.c:245")
    'net-socket-c-245'
    """
    return re.sub(r"[^a-z0-9_]+", "-", text.lower()).strip("-") or "x"


def admonition(kind: str, title: str, body: str) -> str:
    """A Material admonition block (``!!! kind "title"``) with indented body."""
    inner = "\n".join(("    " + line) if line else "" for line in body.splitlines())
    return f'!!! {kind} "{title}"\n\n{inner}\n'


@functools.cache  # the pages ask it of the same labels again and again (~800,000 times)
def object_root(label: str) -> str:
    """The top-level object of a model object's label:
    ``socket_alloc#1.socket.wq[0]`` -> ``socket_alloc#1``."""
    return re.split(r"[.\[]", label, maxsplit=1)[0]
