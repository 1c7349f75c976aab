"""Checks of the built site's code browser: how many names are linked, and no dead link.

Takes the HTML that ``mkdocs build`` wrote (``build/site``) and the cards'
data files (``generated/symbols/bNN.js``) and gives:

- :func:`identifier_share`: of the identifier tokens of the code excerpts
  (Pygments name tokens in a ``td.code`` cell, C keywords left out), how many
  are a link or carry a card (``data-s`` naming a card that exists);
- :func:`dead_links`: every link of a code excerpt or of a card whose page,
  anchor or card does not exist.

CI runs both on the tour pages (``tests/test_docs_xref.py``).
"""

from __future__ import annotations

import json
import posixpath
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from analyzer.docs.codeview import is_identifier_token
from analyzer.docs.xref import DATA_DIR, SYMBOL_PAGE

__all__ = ["Share", "identifier_share", "site_share", "dead_links", "load_cards"]


@dataclass
class Share:
    """Identifier tokens of code excerpts: how many, how many linked or carded."""

    tokens: int = 0
    linked: int = 0
    carded: int = 0
    missing: Counter = field(default_factory=Counter)  # names with neither

    @property
    def covered(self) -> int:
        return self.linked + self.carded

    @property
    def ratio(self) -> float:
        return self.covered / self.tokens if self.tokens else 1.0

    def add(self, other: Share) -> None:
        self.tokens += other.tokens
        self.linked += other.linked
        self.carded += other.carded
        self.missing.update(other.missing)

    def __str__(self) -> str:
        return (f"{self.covered} of {self.tokens} identifiers ({100 * self.ratio:.1f}%): "
                f"{self.linked} links, {self.carded} cards")


class _CodeParser(HTMLParser):
    """Walks ``td.code`` cells: their name tokens and the links in them."""

    def __init__(self, cards: dict[str, dict] | None):
        super().__init__(convert_charrefs=True)
        self.cards = cards
        self.stack: list[tuple[str, dict]] = []
        self.depth_code = -1
        self.share = Share()
        self.links: list[str] = []
        self.symbols: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("br", "img", "hr", "input", "meta", "link"):
            return
        self.stack.append((tag, a))
        if tag == "td" and "code" in (a.get("class") or "").split():
            self.depth_code = len(self.stack)
        if self.depth_code >= 0 and len(self.stack) > self.depth_code:
            if tag == "a" and a.get("href"):
                self.links.append(a["href"])
            if a.get("data-s"):
                self.symbols.append(a["data-s"])

    def handle_endtag(self, tag):
        while self.stack:
            t, _ = self.stack.pop()
            if len(self.stack) < self.depth_code:
                self.depth_code = -1
            if t == tag:
                break

    def handle_data(self, data):
        if self.depth_code < 0 or len(self.stack) <= self.depth_code:
            return
        tag, attrs = self.stack[-1]
        classes = (attrs.get("class") or "").split()
        css = next((c for c in classes if c not in ("xr", "xs")), "")
        if not is_identifier_token(css, data):
            return
        self.share.tokens += 1
        inner = self.stack[self.depth_code:]
        if any(t == "a" and a.get("href") for t, a in inner):
            self.share.linked += 1
        elif any(self._card(a.get("data-s")) for _, a in inner):
            self.share.carded += 1
        else:
            self.share.missing[data] += 1

    def _card(self, sid: str | None) -> bool:
        return bool(sid) and (self.cards is None or sid in self.cards)


def identifier_share(html: str, cards: dict[str, dict] | None = None) -> Share:
    """The identifier tokens of the code cells of one page; a card counts only
    when ``cards`` (if given) has it."""
    p = _CodeParser(cards)
    p.feed(html)
    return p.share


def load_cards(site_dir: Path) -> dict[str, dict]:
    """Every card of the built site, by id (from the ``LSA.add({...});`` data files)."""
    out: dict[str, dict] = {}
    for path in sorted((Path(site_dir) / DATA_DIR).glob("b*.js")):
        text = path.read_text(encoding="utf-8").strip()
        m = re.fullmatch(r"LSA\.add\((.*)\);", text, re.S)
        if m:
            out.update(json.loads(m.group(1)))
    return out


def site_share(site_dir: Path, pages: Iterable[str]) -> Share:
    """:func:`identifier_share` summed over ``pages`` (paths of ``index.html`` files
    relative to ``site_dir``)."""
    cards = load_cards(site_dir)
    total = Share()
    for rel in pages:
        total.add(identifier_share((Path(site_dir) / rel).read_text(encoding="utf-8"), cards))
    return total


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("id", "name") and v:
                self.ids.add(v)


def dead_links(site_dir: Path, pages: Iterable[str]) -> list[str]:
    """Links of the code excerpts of ``pages`` and of every card whose target page,
    anchor or card is missing, as ``"page: href (why)"``."""
    site_dir = Path(site_dir)
    cards = load_cards(site_dir)
    ids: dict[Path, set[str]] = {}
    out = []
    for rel in pages:
        p = _CodeParser(cards)
        p.feed((site_dir / rel).read_text(encoding="utf-8"))
        base = "/" + posixpath.dirname(rel) + "/"
        out += [f"{rel}: {h} ({why})" for h in p.links
                if (why := _dead(site_dir, base, h, cards, ids))]
        out += [f"{rel}: data-s={s} (no such card)" for s in p.symbols if s not in cards]
    for sid, card in cards.items():
        for h in _card_hrefs(card):
            why = _dead(site_dir, "/", h, cards, ids) if not h.startswith("#sym:") else (
                "" if h[5:] in cards else "no such card")
            if why:
                out.append(f"card {sid}: {h} ({why})")
    return out


def _card_hrefs(card: dict) -> list[str]:
    items = list(card.get("a", [])) + list(card.get("c", [])) + list(card.get("x", []))
    out = []
    for it in items:
        if it.get("h"):
            out.append(it["h"])
        if it.get("s"):
            out.append("#sym:" + it["s"])
    return out


def _dead(site_dir: Path, base: str, href: str, cards: dict, ids: dict) -> str:
    parts = urlsplit(urljoin(base, href))
    if parts.scheme or parts.netloc:
        return "leaves the site"
    path = unquote(parts.path)
    target = site_dir / path.lstrip("/")
    if path.endswith("/"):
        target = target / "index.html"
    if not target.is_file():
        return "no such page"
    frag = unquote(parts.fragment)
    if not frag:
        return ""
    if target == site_dir / SYMBOL_PAGE.replace(".md", "/index.html"):
        return "" if frag in cards else "no such card"
    if target not in ids:
        p = _Ids()
        p.feed(target.read_text(encoding="utf-8"))
        ids[target] = p.ids
    return "" if frag in ids[target] else "no such anchor"
