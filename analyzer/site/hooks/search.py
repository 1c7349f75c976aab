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

A build of only the changed pages (``analyzer.docs.reuse_unchanged``: MkDocs'
dirty build into a copy of the previous site) indexes only those; the previous
index, kept as ``search/previous_index.json``, gives the entries of the others,
and ``search/symbols.json`` (each page's symbols, written by every build) their
symbols: the index is the one a full build makes, in the pages' order.  A build
shared by two processes (``analyzer.docs.build_in_two``) joins their indexes
with :func:`named` and :func:`write`.
"""

from __future__ import annotations

import json
from pathlib import Path

from mkdocs.plugins import event_priority

BOOST = 1e5
PREVIOUS = "previous_index.json"  # analyzer.docs.PREVIOUS_INDEX
SYMBOLS = "symbols.json"
_pages: dict[str, list[str]] = {}
_built: set[str] = set()
_order: list[str] = []


def on_files(files, config):
    _order[:] = [location(f.url) for f in files.documentation_pages()]
    return files


def location(url: str) -> str:
    """A page's location in the index: its URL, the home page's "./" as ""."""
    return "" if url in (".", "./") else url


def in_order(entries: list[dict], order: list[str]) -> list[dict]:
    """``entries`` by the place of their page in ``order`` (locations), each
    page's entries kept in their order; a page not in ``order`` last."""
    at = {url: i for i, url in enumerate(order)}
    return [e for _, _, e in sorted((at.get(page_of(e), len(at)), i, e)
                                    for i, e in enumerate(entries))]


def on_page_context(context, page, config, nav):
    _built.add(page.url)
    names = page.meta.get("symbols")
    if isinstance(names, list) and names:
        _pages[page.url] = [str(n) for n in names]
    return context


@event_priority(-100)  # after the search plugin wrote the index
def on_post_build(config):
    folder = Path(config["site_dir"]) / "search"
    path, previous = folder / "search_index.json", folder / PREVIOUS
    try:
        if not path.is_file():
            return
        index = json.loads(path.read_text(encoding="utf-8"))
        symbols = dict(_pages)
        if previous.is_file():  # a build of the changed pages: the others' entries and names
            index["docs"] = _merged(index.get("docs", []),
                                    json.loads(previous.read_text(encoding="utf-8")))
            symbols = _carried(folder / SYMBOLS) | symbols
        write(folder, named(index, symbols), symbols)
    finally:
        previous.unlink(missing_ok=True)
        _pages.clear()
        _built.clear()


def named(index: dict, symbols: dict[str, list[str]]) -> dict:
    """``index`` with each page's ``names`` field made from ``symbols`` (page URL
    -> its symbols), and the field's boost."""
    every = sorted({n for names in symbols.values() for n in names})
    for entry in index.get("docs", []):
        entry.pop("names", None)
        names = symbols.get(entry.get("location", ""))
        if names:
            entry["names"] = " ".join(_extended(names, every))
    index.setdefault("config", {}).setdefault("fields", {})["names"] = {"boost": BOOST}
    return index


def write(folder: Path, index: dict, symbols: dict[str, list[str]]) -> None:
    """The index and the pages' symbols, as the site keeps them in ``search/``."""
    (folder / "search_index.json").write_text(json.dumps(index, separators=(",", ":")),
                                              encoding="utf-8")
    (folder / SYMBOLS).write_text(json.dumps(symbols, sort_keys=True), encoding="utf-8")


def page_of(entry: dict) -> str:
    """The page URL of an index entry (its location without the anchor)."""
    return str(entry.get("location", "")).split("#", 1)[0]


def _merged(fresh: list[dict], previous: dict) -> list[dict]:
    """The entries of the pages built now and the previous ones of the others
    (of pages that still exist), in the order of the pages."""
    pages = set(_order)
    kept = [e for e in previous.get("docs", [])
            if page_of(e) not in _built and page_of(e) in pages]
    return in_order(fresh + kept, _order)


def _carried(path: Path) -> dict[str, list[str]]:
    """The symbols of the pages not built now, from the previous build."""
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {url: names for url, names in found.items() if url not in _built}


def _extended(names: list[str], every: list[str]) -> list[str]:
    """``names`` (three times: an exact match outweighs a longer name) and every
    symbol name that extends one of them by ``_...``."""
    own = list(dict.fromkeys(names))
    longer = [m for n in own for m in every if m.startswith(n + "_") and m not in own]
    return own * 3 + list(dict.fromkeys(longer))
