"""MkDocs hook: a search for a symbol's exact name ranks its own page first.

Material's search matches every word as a prefix (``sock_alloc`` finds
``sock_alloc_file`` too) and scores the rarer word higher, so a symbol whose
name starts a longer one loses to it.  The generated pages name their symbols
in front matter (``symbols: [sock_alloc]``); after the search plugin has
written ``search/search_index.json`` this hook gives each such page an indexed
field ``names`` (boosted above titles) holding its own names three times and
once each symbol name that extends one of them (``sock_alloc_file`` extends
``sock_alloc``): a query for ``sock_alloc`` then matches the ``sock_alloc``
page on its own name and on every longer name the query expands to, the
``sock_alloc_file`` page only on one.
"""

from __future__ import annotations

import json
from pathlib import Path

from mkdocs.plugins import event_priority

BOOST = 1e5
_pages: dict[str, list[str]] = {}


def on_page_context(context, page, config, nav):
    names = page.meta.get("symbols")
    if isinstance(names, list) and names:
        _pages[page.url] = [str(n) for n in names]
    return context


@event_priority(-100)  # after the search plugin wrote the index
def on_post_build(config):
    path = Path(config["site_dir"]) / "search" / "search_index.json"
    if not path.is_file() or not _pages:
        return
    index = json.loads(path.read_text(encoding="utf-8"))
    every = sorted({n for names in _pages.values() for n in names})
    for entry in index.get("docs", []):
        names = _pages.get(entry.get("location", ""))
        if names:
            entry["names"] = " ".join(_extended(names, every))
    index.setdefault("config", {}).setdefault("fields", {})["names"] = {"boost": BOOST}
    path.write_text(json.dumps(index, separators=(",", ":")), encoding="utf-8")
    _pages.clear()


def _extended(names: list[str], every: list[str]) -> list[str]:
    """``names`` (three times: an exact match outweighs a longer name) and every
    symbol name that extends one of them by ``_...``."""
    own = list(dict.fromkeys(names))
    longer = [m for n in own for m in every if m.startswith(n + "_") and m not in own]
    return own * 3 + list(dict.fromkeys(longer))
