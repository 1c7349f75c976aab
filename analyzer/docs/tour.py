"""The lecture's tour as data: loading ``analyzer/site/tour.yaml`` and placing its citations.

Takes the YAML file that holds the lecture's order, cited lines and notes
(never facts) and produces frozen :class:`Tour` records.  :func:`place` then
finds, for every line the lecture points at, the real line in the 4.4.1
source: the cited text is looked up inside the symbol's span located by the
analysis, so a slide's stale line number becomes the true one, and every
difference is kept for the "lecture vs source" page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from analyzer.errors import AnalyzerError

__all__ = ["Note", "Focus", "Show", "Page", "Tour", "Placed", "Point", "load_tour", "parse_tour",
           "parse_point", "find_line", "place", "SYMBOL_KINDS", "PAGE_KINDS"]

SYMBOL_KINDS = ("function", "struct", "table", "global")
PAGE_KINDS = ("intro", "struct", "hierarchy", "chain", "step")


@dataclass(frozen=True)
class Note:
    """One note of the lecture: the Korean original and its English rendering."""

    ko: str
    en: str


@dataclass(frozen=True)
class Focus:
    """A line the lecture points at: its printed number and text."""

    line: int
    text: str


@dataclass(frozen=True)
class Show:
    """An excerpt a page shows: a symbol, where the lecture cited it, its focus lines."""

    kind: str  # one of SYMBOL_KINDS
    name: str
    cite_file: str = ""
    cite_line: int = 0
    focus: tuple[Focus, ...] = ()
    lecture: tuple[str, ...] = ()  # the excerpt as each slide prints it, line numbers too
    lecture_name: str = ""  # the name the slide gives it, when not the symbol's


@dataclass(frozen=True)
class Point:
    """A moment of the run the lecture draws its state at: ``call`` (when
    ``function`` is called), ``return`` (just after it returns), ``line`` (just
    after the line holding ``text`` ran in ``inside``); ``inside`` also names the
    caller of a call or return."""

    kind: str
    function: str = ""
    inside: str = ""
    text: str = ""

    def text_of(self) -> str:
        """The point as the tour writes it."""
        inside = f" inside {self.inside}" if self.inside else ""
        if self.kind == "call":
            return f"at the call of {self.function}{inside}"
        if self.kind == "return":
            return f"after {self.function} returns{inside}"
        return f"after `{self.text}` in {self.inside}"


_POINTS = (
    ("call", re.compile(r"at the call of (\w+)(?: inside (\w+))?")),
    ("return", re.compile(r"after (\w+) returns(?: inside (\w+))?")),
    ("line", re.compile(r"after `([^`]+)` in (\w+)")),
)


def parse_point(text: str, where: str = "point") -> Point:
    """A :class:`Point` from the tour's words.

    >>> parse_point("after sock_alloc returns inside __sock_create")
    Point(kind='return', function='sock_alloc', inside='__sock_create', text='')
    >>> parse_point("after `sock->ops = answer->ops;` in inet_create").text
    'sock->ops = answer->ops;'
    """
    for kind, rx in _POINTS:
        m = rx.fullmatch(text.strip())
        if m:
            if kind == "line":
                return Point("line", m.group(2), m.group(2), m.group(1))
            return Point(kind, m.group(1), m.group(2) or "")
    raise AnalyzerError(f"{where}: point {text!r} is not one of \"at the call of F [inside G]\""
                        ", \"after F returns [inside G]\", \"after `C LINE` in G\"")


@dataclass(frozen=True)
class Page:
    id: str
    title: str
    kind: str
    show: tuple[Show, ...] = ()
    notes: tuple[Note, ...] = ()
    state: str = ""  # function whose return gives "Up to now"; "none" for no table
    point: Point | None = None  # the lecture's own point for "Up to now" (default: state's return)
    call: tuple[str, str] = ("", "")  # (function, expression) a dispatch page explains
    fields: tuple[tuple[str, Note], ...] = ()
    layers: tuple[tuple[str, tuple[Note, ...]], ...] = ()

    @property
    def state_function(self) -> str:
        """The function whose "Up to now" table the page draws, or ""."""
        if self.state == "none":
            return ""
        if self.state:
            return self.state
        return next((s.name for s in self.show if s.kind == "function"), "")


@dataclass(frozen=True)
class Tour:
    title: str
    course: str
    source: str
    scenario: tuple[object, ...]
    pages: tuple[Page, ...] = field(default=())

    def page(self, page_id: str) -> Page:
        for p in self.pages:
            if p.id == page_id:
                return p
        raise AnalyzerError(f"tour: no page {page_id!r}")


def read_yaml(path: Path, what: str):
    """The data of a YAML file of the site; one line naming the file when it
    cannot be read or is not YAML."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise AnalyzerError(f"{path}: cannot read {what}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise AnalyzerError(f"{path}: not valid YAML: {e}") from None


def load_tour(path: Path) -> Tour:
    """Read and check a tour file; errors name the file and the bad value."""
    return parse_tour(read_yaml(path, "the tour"), str(path))


def _need(cond: bool, where: str, what: str) -> None:
    if not cond:
        raise AnalyzerError(f"{where}: {what}")


def _notes(items: object, where: str) -> tuple[Note, ...]:
    _need(isinstance(items, list), where, "notes must be a list of {ko, en}")
    out = []
    for i, item in enumerate(items):
        _need(isinstance(item, dict) and isinstance(item.get("ko"), str)
              and isinstance(item.get("en"), str), f"{where}[{i}]",
              "a note needs both `ko` (the lecture's text) and `en` (its rendering)")
        out.append(Note(item["ko"], item["en"]))
    return tuple(out)


def _show(item: object, where: str) -> Show:
    _need(isinstance(item, dict), where, "an excerpt must be a mapping")
    kinds = [k for k in SYMBOL_KINDS if k in item]
    _need(len(kinds) == 1, where, f"an excerpt names exactly one of {', '.join(SYMBOL_KINDS)}")
    cite = item.get("cite") or {}
    _need(isinstance(cite, dict), where, "`cite` must be {file, line}")
    focus = []
    for i, f in enumerate(item.get("focus") or []):
        ok = isinstance(f, dict) and isinstance(f.get("line"), int) and isinstance(
            f.get("text"), str) and f["text"].strip()
        _need(bool(ok), f"{where}.focus[{i}]", "a focus line needs `line` (int) and `text`")
        focus.append(Focus(f["line"], f["text"]))
    line = cite.get("line", 0)
    _need(isinstance(line, int), where, f"cite line must be an integer, not {line!r}")
    lecture = item.get("lecture") or []
    if isinstance(lecture, str):
        lecture = [lecture]
    _need(isinstance(lecture, list) and all(isinstance(x, str) for x in lecture), where,
          "`lecture` must be a list of excerpts as the slides print them")
    name = item.get("lecture_name") or ""
    _need(isinstance(name, str), where, "`lecture_name` must be a name")
    return Show(kinds[0], str(item[kinds[0]]), str(cite.get("file", "")), line, tuple(focus),
                tuple(lecture), name)


def _page(item: object, where: str) -> Page:
    _need(isinstance(item, dict), where, "a page must be a mapping")
    pid, kind = item.get("id"), item.get("kind", "step")
    _need(isinstance(pid, str) and re.fullmatch(r"[A-Za-z0-9_\-]+", pid or "") is not None,
          where, f"page id {pid!r} must be [A-Za-z0-9_-]+")
    _need(kind in PAGE_KINDS, f"{where} ({pid})", f"kind {kind!r} is not one of {PAGE_KINDS}")
    here = f"{where} ({pid})"
    call = item.get("call") or {}
    fields = tuple((str(k), _notes([v], f"{here}.fields.{k}")[0])
                   for k, v in (item.get("fields") or {}).items())
    layers = tuple((str(k), _notes(v, f"{here}.layers.{k}"))
                   for k, v in (item.get("layers") or {}).items())
    return Page(
        id=pid, title=str(item.get("title", pid)), kind=kind,
        show=tuple(_show(s, f"{here}.show[{i}]") for i, s in enumerate(item.get("show") or [])),
        notes=_notes(item.get("notes") or [], f"{here}.notes"),
        state=str(item.get("state") or ""),
        point=parse_point(str(item["point"]), f"{here}.point") if item.get("point") else None,
        call=(str(call.get("function", "")), str(call.get("expr", ""))),
        fields=fields, layers=layers)


def parse_tour(data: object, where: str = "tour") -> Tour:
    """Build a :class:`Tour` from loaded YAML, checking every page."""
    _need(isinstance(data, dict) and isinstance(data.get("pages"), list), where,
          "the tour needs a `pages:` list")
    lecture = data.get("lecture") or {}
    pages = tuple(_page(p, f"{where}: pages[{i}]") for i, p in enumerate(data["pages"]))
    ids = [p.id for p in pages]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    _need(not dup, where, f"duplicate page ids: {', '.join(dup)}")
    return Tour(title=str(lecture.get("title", "")), course=str(lecture.get("course", "")),
                source=str(lecture.get("source", "")),
                scenario=tuple(data.get("scenario") or ()), pages=pages)


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text)


def find_line(lines: list[str], start: int, text: str, near: int = 0) -> int:
    """The line number (counting from ``start``) whose text holds ``text``, or 0.

    Whitespace is ignored.  A focus text may span several source lines (the
    slide joined a wrapped call); it then matches where it starts.  Among
    several matches the one nearest to ``near`` wins.

    >>> find_line(["int f(void)", "{", "    return  g(1,", "        2);", "}"], 10,
    ...           "return g(1, 2);")
    12
    """
    want = _norm(text)
    hits = []
    for i in range(len(lines)):
        first = len(_norm(lines[i]))
        joined = ""
        for j in range(i, min(i + 4, len(lines))):
            joined += _norm(lines[j])
            if len(joined) >= len(want):
                break
        pos = joined.find(want)
        if first and 0 <= pos < first:
            hits.append(start + i)
    if not hits:
        return 0
    return min(hits, key=lambda n: (abs(n - near) if near else 0, n))


@dataclass(frozen=True)
class Placed:
    """A citation next to where the source really has it (0 when not found)."""

    what: str  # "sock_init" or "sock_init: sock_mnt = kern_mount(...)"
    cite_file: str
    cite_line: int
    real_file: str
    real_line: int

    @property
    def differs(self) -> bool:
        return self.cite_line != self.real_line or (
            bool(self.cite_file) and not self.real_file.endswith(self.cite_file))


def place(show: Show, real_file: str, start: int, lines: list[str]) -> tuple[Placed, list[int]]:
    """Place a shown symbol and its focus lines in the real span ``lines`` at ``start``.

    Returns the symbol's :class:`Placed` and the real line of each focus
    (0 where the text is not in the span), in the order of ``show.focus``.
    """
    sym = Placed(show.name, show.cite_file, show.cite_line, real_file, start)
    real = []
    for f in show.focus:
        near = start + (f.line - show.cite_line) if show.cite_line else 0
        real.append(find_line(lines, start, f.text, near))
    return sym, real
