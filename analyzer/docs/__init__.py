"""The documentation site: generated Markdown pages, then ``mkdocs build``.

Takes the analysis (the store, the call graph, the model's run) and the MkDocs
project shipped in the package (``analyzer/site/``: mkdocs.yml, the tour
``tour.yaml``), copies the project to ``build/site-src/``, writes pages into its
``docs/generated/`` (with the navigation in ``generated/nav.yml``, read by
``hooks/nav.py``) and builds the MkDocs site into ``build/site/``.
``kernel-analyzer docs`` calls :func:`build_site`.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from analyzer.config import Config
from analyzer.docs.facts import Facts, RunView, StoreFacts
from analyzer.docs.pages import ROOT, Site, generate, lecture_pages, start
from analyzer.docs.tour import Tour, load_tour
from analyzer.docs.xref import DATA_DIR
from analyzer.errors import AnalyzerError
from analyzer.tempfiles import remove_stale, swap_dir
from analyzer.workers import Worker, forks

__all__ = ["build_site", "BuildReport", "open_facts", "open_session", "write_pages", "run_mkdocs",
           "generate_pages", "check_inputs"]


@dataclass(frozen=True)
class BuildReport:
    """What a build made: page count, where, how long each part took."""

    pages: int
    site_dir: Path
    generate_s: float
    mkdocs_s: float
    notices: tuple[str, ...] = field(default=())
    cards: int = 0  # symbols with a card in the code browser's data files
    rebuilt: int | None = None  # pages MkDocs built when only those changed; None: all

    def __str__(self) -> str:
        built = "" if self.rebuilt is None else f" of the {self.rebuilt} changed pages"
        text = (f"docs: {self.pages} generated pages, {self.cards} symbol cards, site in "
                f"{self.site_dir} (generate {self.generate_s:.1f} s, mkdocs{built} "
                f"{self.mkdocs_s:.1f} s)")
        return "\n".join([text, *(f"  note: {n}" for n in self.notices)])


def _say(progress: bool, text: str) -> None:
    if progress:
        print(text, file=sys.stderr, flush=True)


def _load_graph(cfg: Config, notices: list[str]):
    try:
        from analyzer.api import load
    except ImportError:
        notices.append("the call graph (analyzer.api) is not available: calls are unresolved")
        return None
    params = inspect.signature(load).parameters
    return load(cfg.graph_path) if params else load()  # a broken graph stops the build


def _label(scenario: str, args) -> str:
    return f"{scenario}({', '.join(map(str, args))})"


def _run_model(session, tour: Tour, notices: list[str]) -> tuple[RunView | None, dict]:
    """The tour's run and every scenario the model generates (``make analyze``'s
    examples), by label, from ``session`` (the model stage's runs when it made
    them); the tour's run carries the error when it failed."""
    if session is None:
        notices.append("the executable model (analyzer.model) is not available")
        return None, {}
    name, *args = tour.scenario
    wanted = [(name, tuple(args))] + [(n, tuple(a)) for n, a in _examples()
                                      if (n, tuple(map(str, a))) != (name, tuple(map(str, args)))]
    views: dict[str, RunView] = {}
    tour_view = None
    for i, (n, a) in enumerate(wanted):
        try:
            views[_label(n, a)] = RunView.of(session.run(n, a), _label(n, a))
        except Exception as e:  # noqa: BLE001 - the pages say why there is no object table
            why = str(e) if isinstance(e, AnalyzerError) else f"{type(e).__name__}: {e}"
            notices.append(f"the model did not run {_label(n, a)}: {why}")
            if i == 0:
                tour_view = RunView([], lambda n: {}, error=f"the model did not run: {why}")
    tour_view = tour_view or views.get(_label(name, args))
    return tour_view, views


def _examples() -> list[tuple[str, list]]:
    """The scenarios ``make analyze`` generates (kernel/primitives.toml ``examples``)."""
    try:
        from analyzer.model.generate import table
    except ImportError:
        return []
    return [(n, list(a)) for n, spec in table().get("scenarios", {}).items()
            for a in spec.get("examples", [])]


def open_session(cfg: Config):
    """A model :class:`~analyzer.model.session.Session` over ``cfg``, or None
    when the model is not there."""
    try:
        from analyzer.model.session import Session
    except ImportError:
        return None
    return Session(cfg)


def check_inputs(cfg: Config) -> None:
    """AnalyzerError naming the store, the graph database or the kernel tree
    when one is missing or damaged (SQLite's quick check): a site is never
    built from a broken analysis, and the previous site stays."""
    from analyzer.dbfile import checked_before, integrity_problem, mark_checked
    from analyzer.query import REBUILD_GRAPH
    from analyzer.store import REBUILD_STORE

    for path, how in ((cfg.store_path, REBUILD_STORE), (cfg.graph_path, REBUILD_GRAPH)):
        if checked_before(path):  # found sound and not changed since: not read again
            continue
        if problem := integrity_problem(path):
            raise AnalyzerError(f"{path} {problem}: {how}; the site was not rebuilt")
        mark_checked(path)
    if not cfg.kernel_dir.is_dir():
        raise AnalyzerError(f"{cfg.kernel_dir} is missing: the pages quote the sources; run "
                            "`kernel-analyzer fetch` (or `kernel-analyzer analyze`); the site was "
                            "not rebuilt")


def open_facts(cfg: Config, tour: Tour, session=None, tree=None) -> Facts:
    """The real analysis as :class:`Facts`; the store and the graph must load,
    the model may fail (the pages say why).  ``session``: the model's runs and
    generators (default: a new one); ``tree``: the
    :class:`~analyzer.edits.TreeInfo` of this build, when made already."""
    from analyzer.store import Store

    store = Store.open(cfg.store_path)
    notices: list[str] = []
    graph = _load_graph(cfg, notices)
    run, scenarios = _run_model(session or open_session(cfg), tour, notices)
    facts = StoreFacts(store, cfg.kernel_dir, graph, run, notices, _primitives())
    facts.scenarios = scenarios
    facts.tree, facts.released = _tree(cfg, tree)
    return facts


def _tree(cfg: Config, tree=None):
    """The analysed tree with its edits, and the release's text of the edited files."""
    from analyzer.edits import release_texts, stamp_source, tree_info

    tree = tree if tree is not None else tree_info(cfg)
    changed = [e.path for e in tree.edits if e.status == "changed"]
    return tree, release_texts(cfg, changed, stamp_source(cfg))[0] if changed else {}


def _primitives() -> frozenset[str]:
    """The names the model's runtime implements (its data table), if the model is there."""
    try:
        from analyzer.model.generate import table
    except ImportError:
        return frozenset()
    return frozenset(table().get("primitives", {}))


def generate_pages(tour: Tour, facts: Facts) -> Site:
    """All pages for ``tour`` from ``facts`` (in memory)."""
    return generate(tour, facts)


def write_pages(docs_dir: Path, site: Site) -> Path:
    """Replace ``docs_dir/generated`` by the site's pages and its nav.yml.

    The pages are written into a folder of this call's own
    (``.generated-tmp-<pid>-*``), then swapped in whole: concurrent calls
    each leave a complete set, a failed one (a full disk) leaves the old
    pages and no temporary folder; those of killed runs are removed."""
    out = Path(docs_dir) / ROOT
    remove_stale(out.parent, (f".{out.name}-tmp-", f".{out.name}-old-"))
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-tmp-{os.getpid()}-", dir=out.parent))
    try:
        for rel, text in site.pages.items():
            path = tmp / (Path(docs_dir) / rel).relative_to(out)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        (tmp / "nav.yml").write_text(yaml.safe_dump(site.nav, allow_unicode=True,
                                                    sort_keys=False), encoding="utf-8")
        swap_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def run_mkdocs(site_dir: Path, out_dir: Path, strict: bool, dirty: bool = False) -> None:
    """``mkdocs build`` of ``site_dir/mkdocs.yml`` into ``out_dir``; warnings fail if
    strict.  ``dirty``: only the pages newer than their output in ``out_dir`` (see
    :func:`reuse_unchanged`), without MkDocs' warning about such builds."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import MkDocsException

    logging.getLogger("mkdocs").setLevel(logging.WARNING)
    quiet = logging.getLogger("mkdocs.commands.build")
    quiet.addFilter(_no_dirty_warning)
    try:
        config = load_config(str(Path(site_dir) / "mkdocs.yml"), site_dir=str(out_dir),
                             strict=strict)
        build(config, dirty=dirty)
    except MkDocsException as e:
        raise AnalyzerError(f"{site_dir}/mkdocs.yml: the site did not build: {e}") from None
    finally:
        quiet.removeFilter(_no_dirty_warning)


def build_in_two(site_dir: Path, out_dir: Path, strict: bool, dirty: bool = False) -> None:
    """:func:`run_mkdocs`, the pages to build shared by two processes: a forked
    one builds half of them (by size) into a folder of its own while this one
    builds the others into ``out_dir``, each a MkDocs dirty build that skips the
    other's pages (their output given the source's mtime); then the other's pages
    and search entries join ``out_dir``, the names of the search index made again
    from every page's symbols (hooks/search.py).  The site is the one a single
    build makes (tested).  One process when there are fewer than two pages to
    build, or no ``fork`` (:func:`analyzer.workers.inline`)."""
    from mkdocs.config import load_config
    from mkdocs.exceptions import MkDocsException
    from mkdocs.structure.files import get_files

    try:
        config = load_config(str(Path(site_dir) / "mkdocs.yml"), site_dir=str(out_dir))
        pages = list(get_files(config).documentation_pages())
    except MkDocsException as e:
        raise AnalyzerError(f"{site_dir}/mkdocs.yml: the site did not build: {e}") from None
    todo = [f for f in pages if not dirty or f.is_modified()]
    if len(todo) < 2 or not forks():
        run_mkdocs(site_dir, out_dir, strict, dirty)
        return
    by_size = sorted(todo, key=lambda f: os.path.getsize(f.abs_src_path), reverse=True)
    theirs = {f.src_uri for f in by_size[1::2]}
    other = Path(out_dir).with_name(f"{Path(out_dir).name}-half")
    shutil.rmtree(other, ignore_errors=True)
    try:
        for f in pages:  # each skips the other's pages
            _skipped(Path(out_dir) if f.src_uri in theirs else other, f)
        helper = Worker(lambda: run_mkdocs(site_dir, other, strict, dirty=True))
        try:
            run_mkdocs(site_dir, out_dir, strict, dirty=True)
            helper.result()
        finally:
            helper.stop()
        for f in pages:
            if f.src_uri in theirs and (other / f.dest_uri).is_file():
                os.replace(other / f.dest_uri, Path(out_dir) / f.dest_uri)
        _join_search(Path(out_dir) / "search", other / "search", [f.url for f in pages],
                     {f.url for f in pages if f.src_uri in theirs})
    finally:
        shutil.rmtree(other, ignore_errors=True)


def _skipped(out: Path, f) -> None:
    """Make a dirty build into ``out`` skip the page of file ``f``: its output,
    if any, gets the source's mtime (MkDocs builds a page whose source is newer)."""
    dest = out / f.dest_uri
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        dest.write_bytes(b"")
    mtime = os.stat(f.abs_src_path).st_mtime_ns
    os.utime(dest, ns=(mtime, mtime))


def _join_search(mine: Path, theirs: Path, urls: list[str], their_urls: set[str]) -> None:
    """The search index and symbols of ``mine`` with those of the pages
    ``their_urls`` taken from ``theirs``, the entries in the order of ``urls``
    (the pages' URLs), as hooks/search.py orders them."""
    if not all((d / "search_index.json").is_file() for d in (mine, theirs)):
        return  # a project without the search plugin
    hook = _search_hook()
    their_pages = {hook.location(u) for u in their_urls}
    index = _json(mine / "search_index.json")
    other = _json(theirs / "search_index.json")
    entries = [e for e in index.get("docs", []) if hook.page_of(e) not in their_pages]
    entries += [e for e in other.get("docs", []) if hook.page_of(e) in their_pages]
    index["docs"] = hook.in_order(entries, [hook.location(u) for u in urls])
    symbols = {url: names for url, names in _json(mine / hook.SYMBOLS).items()
               if url not in their_pages}
    symbols |= {url: names for url, names in _json(theirs / hook.SYMBOLS).items()
                if url in their_pages}
    hook.write(mine, hook.named(index, symbols), symbols)


def _search_hook():
    """The package's hooks/search.py, as a module (its functions join two indexes)."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "site" / "hooks" / "search.py"
    spec = importlib.util.spec_from_file_location("analyzer_site_search_hook", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _json(path: Path) -> dict:
    """A JSON object the builds just wrote; {} when there is none (no hook)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def _no_dirty_warning(record: logging.LogRecord) -> bool:
    """MkDocs warns that a dirty build may leave the navigation stale: ours is one
    only when the navigation and the project did not change (reuse_unchanged)."""
    return "'dirty' build" not in record.getMessage()


#: the previous build's search index, kept for the search hook of a dirty build
PREVIOUS_INDEX = "previous_index.json"


def reuse_unchanged(stage: Path, old_src: Path, old_site: Path, fresh: Path) -> int | None:
    """Prepare a build of only the pages whose text changed: when the previous
    build's project (``old_src``) has the same files as ``stage`` and they differ
    only in pages and data under docs/ (the navigation, mkdocs.yml, the hooks and
    the MkDocs versions the same), give each unchanged file of ``stage`` the
    previous one's mtime, copy the previous site into ``fresh`` (mtimes kept) and
    keep its search index for the search hook (hooks/search.py), which carries
    the entries of the pages not rebuilt; the number of pages to build.  None,
    and nothing done, otherwise."""
    import filecmp

    if not all(p.is_file() for p in (old_site / "index.html", old_src / "mkdocs.yml")) or \
            not all(_json_file(old_site / "search" / name)
                    for name in ("symbols.json", "search_index.json")):
        return None
    new, old = _files(stage), _files(old_src)
    if new.keys() != old.keys():
        return None
    same = {rel for rel in new if filecmp.cmp(new[rel], old[rel], shallow=False)}
    if any(rel not in same and (not rel.startswith("docs/") or rel.endswith("/nav.yml"))
           for rel in new):
        return None
    for rel in same:
        st = old[rel].stat()
        os.utime(new[rel], ns=(st.st_atime_ns, st.st_mtime_ns))
    shutil.copytree(old_site, fresh)
    index = fresh / "search" / "search_index.json"
    if index.is_file():
        index.rename(index.with_name(PREVIOUS_INDEX))
    return sum(1 for rel in new if rel not in same and rel.endswith(".md"))


def _json_file(path: Path) -> bool:
    """Is ``path`` a file of JSON (the previous build's search data, read again)?"""
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def _files(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}


def _versions() -> str:
    """The MkDocs and Material versions a site is built with (a change: a full build)."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in ("mkdocs", "mkdocs-material"):
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            out.append(f"{name} -")
    return "\n".join(out) + "\n"


def _build_private(cfg: Config, site: Site, strict: bool,
                   incremental: bool = True) -> int | None:
    """mkdocs on a private copy of the MkDocs project (``cfg.site_dir``, never
    written) with the generated pages, into a fresh folder; then the copy and the
    site are swapped in whole as ``build/site-src`` and ``build/site``, so that
    two builds at once (a test and ``make analyze``) never mix pages.  When
    ``incremental`` and only pages changed since the previous build, only those
    are built (:func:`reuse_unchanged`): how many; None after a full build."""
    cfg.build_dir.mkdir(parents=True, exist_ok=True)
    remove_stale(cfg.build_dir, (".site-stage-", ".site-out-", ".site-old-", ".site-src-old-"))
    stage = cfg.build_dir / f".site-stage-{os.getpid()}"
    fresh = cfg.build_dir / f".site-out-{os.getpid()}"
    for d in (stage, fresh):
        shutil.rmtree(d, ignore_errors=True)
    try:
        shutil.copytree(cfg.site_dir, stage, ignore=shutil.ignore_patterns(
            ROOT, f".{ROOT}-*", "__pycache__", "site"))
        write_pages(stage / "docs", site)
        _add_tree_section(stage / "docs" / "index.md", getattr(site, "facts", None))
        (stage / "versions.txt").write_text(_versions(), encoding="utf-8")
        rebuilt = reuse_unchanged(stage, cfg.site_src_dir, cfg.site_out_dir, fresh) \
            if incremental else None
        build_in_two(stage, fresh, strict, dirty=rebuilt is not None)
        swap_dir(fresh, cfg.site_out_dir)
        swap_dir(stage, cfg.site_src_dir)
        return rebuilt
    finally:
        for d in (stage, fresh):
            shutil.rmtree(d, ignore_errors=True)


def _add_tree_section(home: Path, facts: Facts | None) -> None:
    """Append the analysed tree (version, edited files) to the home page of the
    private copy of the project (nothing when the facts have no tree)."""
    from analyzer.docs.edits import home_section

    if home.is_file() and (section := home_section(getattr(facts, "tree", None))):
        home.write_text(home.read_text(encoding="utf-8").rstrip("\n") + "\n" + section,
                        encoding="utf-8")


def site_pages(cfg: Config, tour: Tour, facts: Facts, progress: bool = False, session=None,
               programs_ready: Callable[[], None] | None = None) -> Site:
    """Every page of the site, in memory: the lecture's pages are made by a
    forked process (:class:`~analyzer.workers.Worker`) while this one makes the
    pages beyond the lecture; then they are joined (the same pages as made one
    after the other, in :func:`analyzer.workers.inline`).  The notices go to
    ``facts.notices``.  ``programs_ready``: see :func:`build_site`."""
    site = start(tour, facts)
    lecture = Worker(lambda: _lecture_part(site))
    try:
        if programs_ready is not None:
            programs_ready()
        beyond = _beyond_part(site, facts, cfg, progress, session)
        part = lecture.result()
    finally:
        lecture.stop()
    facts.notices.extend(_join(site, part, beyond))
    return site


def _lecture_part(site: Site) -> dict:
    """The lecture's pages (:func:`~analyzer.docs.pages.lecture_pages`) and the
    debuggers of its socket() scenarios, as plain data for :func:`_join`: the
    pages, the navigation, the cards, the debuggers' entries."""
    from analyzer.docs.steps import debuggers, scenario_runs

    lecture_pages(site)
    found = debuggers(site, scenario_runs(site.facts))
    return {"pages": {p: text for p, text in site.pages.items()
                      if not p.startswith(f"{DATA_DIR}/")},
            "nav": site.nav, "xref": site.xref.part(),
            "debuggers": [found.nav, found.items, found.notices]}


def _beyond_part(site: Site, facts: Facts, cfg: Config, progress: bool, session):
    """The pages beyond the lecture, added to ``site``: the programs
    (site/programs.yaml), the socket buffers (site/skb.yaml) and the debuggers
    of their runs; what the navigation gets (:class:`_Beyond`)."""
    from analyzer.docs.programs import program_pages
    from analyzer.docs.skb import skb_section
    from analyzer.docs.steps import beyond_runs, debuggers

    programs, notices = program_pages(site, facts, cfg.site_dir, cfg, progress, session)
    skb, more = skb_section(site, facts, cfg.site_dir, cfg, session)
    return _Beyond(programs, skb, debuggers(site, beyond_runs(site)), notices + more)


@dataclass(frozen=True)
class _Beyond:
    """The navigation entries of the pages beyond the lecture, and the notices of
    the programs and buffer scenarios (the debuggers carry their own)."""

    programs: list
    skb: list
    debuggers: object  # analyzer.docs.steps.Debuggers
    notices: list[str]


def _join(site: Site, lecture: dict, beyond: _Beyond) -> list[str]:
    """The site whole: the lecture's part (made by another process, or here)
    joined to the pages beyond it; the navigation in the order Home, Tour (its
    steps, then the programs), Step through, Socket buffers, Reference; every
    card written once.  Gives the notices: the programs', the buffer
    scenarios', then the debuggers' (a run without a trace)."""
    from analyzer.docs.programs import place_programs
    from analyzer.docs.skb import place_skb
    from analyzer.docs.steps import Debuggers, place_debuggers

    site.pages.update(lecture["pages"])
    site.nav = lecture["nav"]
    site.xref.take(lecture["xref"])
    place_programs(site.nav, beyond.programs)
    place_skb(site.nav, beyond.skb)
    found = Debuggers(*lecture["debuggers"]) + beyond.debuggers
    place_debuggers(site, found)
    site.finish()
    return beyond.notices + found.notices


def build_site(cfg: Config, strict: bool = True, progress: bool = True,
               session=None, incremental: bool = True,
               programs_ready: Callable[[], None] | None = None, tree=None) -> BuildReport:
    """Generate the pages from the analysis and build the site into ``build/site``.
    ``session``: the model's :class:`~analyzer.model.session.Session` of this
    build (``analyze`` passes the model stage's: its runs are not made again).
    ``incremental``: MkDocs builds only the pages whose text changed when nothing
    else did (see :func:`reuse_unchanged`); False: every page.
    ``programs_ready``: called before the pages that run programs on the
    programs' generator (``analyze`` waits there for its boot image, made
    meanwhile by another process).  ``tree``: the analysed tree's
    :class:`~analyzer.edits.TreeInfo`, when ``analyze`` made it already."""
    t0 = time.perf_counter()
    check_inputs(cfg)
    tour = load_tour(cfg.site_dir / "tour.yaml")
    _say(progress, "docs: reading the analysis, the call graph and the model ...")
    session = session or open_session(cfg)
    facts = open_facts(cfg, tour, session, tree)
    site = site_pages(cfg, tour, facts, progress, session, programs_ready)
    t1 = time.perf_counter()
    pages = sum(1 for p in site.pages if p.endswith(".md"))
    _say(progress, f"docs: {pages} pages generated; mkdocs build ...")
    out = cfg.site_out_dir
    rebuilt = _build_private(cfg, site, strict, incremental)
    report = BuildReport(pages, out, t1 - t0, time.perf_counter() - t1,
                         tuple(facts.notices), len(site.xref.cards) if site.xref else 0,
                         rebuilt)
    _say(progress, str(report))
    return report
