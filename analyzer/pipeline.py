"""Run the stages: extraction of the whole tree into the store, and ``analyze``.

:func:`extract_tree` takes the fetched kernel tree (``cfg.kernel_dir``) and
produces the store (``cfg.store_path``) and an :class:`ExtractReport`.  It
finds the C files (``*.c``, ``*.h``) of ``net/``, ``fs/`` and ``include/``,
hashes them, and re-extracts only the files that are new or whose SHA-256
changed (facts of removed files are dropped), in parallel worker processes,
writing everything in one transaction.  A file whose stat signature (size,
mtime, ctime, inode) is the one the store recorded when it last hashed that
file is not read again; any other is hashed (a signature is recorded only for
a file last modified more than 2 s before it was looked at).  Workers get file
paths and write their rows into scratch SQLite files (:class:`store.Scratch`)
that the main process merges with ``INSERT ... SELECT``: only per-file
statistics go through pipes.
Facts made by another version of the extractor's code (see
:func:`fingerprint`) are never reused.

:func:`analyze` is the main job of ``make analyze``: fetch, extract, then the
graph, model and docs stages that exist, one line per stage with its time.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import importlib
import importlib.util
import json
import os
import re
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from multiprocessing import get_context
from pathlib import Path

from analyzer.config import DEFAULT_PARTS, FETCH_PARTS, Config
from analyzer.errors import AnalyzerError
from analyzer.store import FileRow, Scratch, Store, Writer, fact_rows, rows_digest

__all__ = ["ExtractReport", "extract_tree", "analyze", "discover", "fingerprint",
           "fingerprint_files", "SOURCE_SUFFIXES"]

#: the files that are extracted
SOURCE_SUFFIXES = (".c", ".h")
#: files per task sent to a worker process
_CHUNK = 8


@dataclass(frozen=True)
class ExtractReport:
    """What :func:`extract_tree` did and what the store now holds."""

    files: int  # files in the tree (and in the store)
    parsed: int  # files extracted by this run
    cached: int  # files whose facts were kept from the previous run
    removed: int  # files dropped because they left the tree
    records: dict[str, int] = field(default_factory=dict)  # kind -> count in the store
    error_files: int = 0  # files with tree-sitter ERROR/MISSING nodes
    error_bytes: int = 0
    total_bytes: int = 0
    warnings: int = 0
    warning_files: tuple[str, ...] = ()  # the files that have warnings
    seconds: float = 0.0
    jobs: int = 1
    store: str = ""
    generation: int = 0

    @property
    def error_bytes_share(self) -> float:
        return self.error_bytes / self.total_bytes if self.total_bytes else 0.0

    def summary(self) -> str:
        """A few lines for the terminal."""
        recs = ", ".join(f"{n:,} {k}" for k, n in self.records.items())
        share = self.error_files / self.files if self.files else 0.0
        return "\n".join([
            f"extracted {self.parsed:,} of {self.files:,} files ({self.cached:,} cached, "
            f"{self.removed:,} removed) in {self.seconds:.2f} s with {self.jobs} jobs",
            f"records: {recs}",
            f"parse errors: {self.error_files:,} files ({share:.1%}), "
            f"{self.error_bytes_share:.2%} of {self.total_bytes:,} bytes in ERROR nodes",
            f"warnings: {self.warnings:,} in {len(self.warning_files):,} files"
            + (f" (e.g. {', '.join(self.warning_files[:3])})" if self.warning_files else ""),
            f"store: {self.store} (generation {self.generation})",
        ])

    def to_json(self) -> dict:
        data = asdict(self)
        data["warning_files"] = list(self.warning_files)
        data["error_bytes_share"] = self.error_bytes_share
        return data


# --- the files -------------------------------------------------------------

def _require_tree(cfg: Config) -> None:
    if not any((cfg.kernel_dir / part).is_dir() for part in DEFAULT_PARTS):
        raise AnalyzerError(
            f"no kernel sources at {cfg.kernel_dir} (expected {', '.join(DEFAULT_PARTS)}/); "
            "run `kernel-analyzer fetch` (set KERNEL_TARBALL to a local "
            "linux-4.4.1 tarball to work offline)")


def discover(cfg: Config, parts: tuple[str, ...] = DEFAULT_PARTS) -> list[str]:
    """The C files of ``parts`` under ``cfg.kernel_dir``, relative, sorted."""
    _require_tree(cfg)
    found: list[str] = []
    root = str(cfg.kernel_dir)
    cut = len(root) + 1
    for part in parts:
        stack = [os.path.join(root, part)]
        while stack:
            try:
                entries = list(os.scandir(stack.pop()))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for e in entries:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                elif e.name.endswith(SOURCE_SUFFIXES) and e.is_file(follow_symlinks=False):
                    found.append(e.path[cut:])
    return sorted(p.replace(os.sep, "/") for p in found)


def _hash_file(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _hashes(cfg: Config, files: list[str]) -> dict[str, str]:
    """relpath -> sha256 (threads: hashlib releases the GIL on big buffers)."""
    from concurrent.futures import ThreadPoolExecutor

    root = cfg.kernel_dir
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as ex:
        digests = ex.map(lambda rel: _safe_hash(root / rel), files, chunksize=64)
        return dict(zip(files, digests, strict=True))


def _safe_hash(path: Path) -> str:
    try:
        return _hash_file(str(path))
    except OSError as e:  # unreadable: a hash that never matches, the worker warns
        return f"unreadable:{e.errno}"


# --- the extractor's identity ------------------------------------------------

_IMPORT = re.compile(rb"^\s*(?:from\s+analyzer(?:\.(\w+))?\s+import\s+([\w, ()]+)"
                     rb"|import\s+analyzer\.(\w+))", re.M)


def _local_imports(module: str) -> set[str]:
    """The ``analyzer`` modules that the source of ``analyzer.<module>`` imports."""
    path = Path(__file__).with_name(f"{module}.py")
    if not path.is_file():
        return set()
    found = set()
    for m in _IMPORT.finditer(path.read_bytes()):
        if m.group(1) or m.group(3):
            found.add((m.group(1) or m.group(3)).decode())
        else:
            found.update(w.strip().decode() for w in re.split(rb"[,()\s]+", m.group(2)) if w)
    return {m for m in found if Path(__file__).with_name(f"{m}.py").is_file()}


def fingerprint_files() -> list[Path]:
    """The code and data that make facts: ``extract.py`` with the ``analyzer``
    modules it imports (transitively), ``store.py``, and the files of
    ``queries/`` and ``kernel/`` that their sources name (``"facts"``,
    ``"macros.toml"``); the model's or the graph's tables do not count."""
    todo, seen = ["extract", "store"], set()
    while todo:
        mod = todo.pop()
        if mod not in seen:
            seen.add(mod)
            todo.extend(_local_imports(mod))
    paths = [p for m in sorted(seen) if (p := Path(__file__).with_name(f"{m}.py")).is_file()]
    sources = b"".join(p.read_bytes() for p in paths)
    for pkg in ("analyzer.queries", "analyzer.kernel"):
        for p in sorted(Path(str(resources.files(pkg))).iterdir()):
            if p.suffix in (".scm", ".toml") and any(
                    f'"{n}"'.encode() in sources for n in (p.name, p.stem)):
                paths.append(p)
    return paths


@cache
def fingerprint() -> str:
    """A hash of :func:`fingerprint_files`: a store made under another
    fingerprint is rebuilt from nothing."""
    h = hashlib.sha256()
    for p in fingerprint_files():
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


# --- the workers -------------------------------------------------------------

_Result = tuple[tuple, dict | str]  # (FileRow fields, kind -> rows or scratch path)


def _extractor() -> Callable:
    from analyzer.extract import extract_file

    return extract_file


def _extract_one(root: str, rel: str) -> _Result:
    """Read, hash and extract one file; never raises."""
    try:
        with open(os.path.join(root, rel), "rb") as f:
            data = f.read()
    except OSError as e:
        return (rel, f"unreadable:{e.errno}", 0, 0, 0, (f"{rel}: unreadable ({e.strerror})",)), {}
    sha = hashlib.sha256(data).hexdigest()  # the cache key: our own, whatever facts say
    try:
        facts = _extractor()(rel, data)
        rows = fact_rows(facts)
    except Exception as e:  # noqa: BLE001 - extract_file never raises, by contract
        return (rel, sha, len(data), 0, 0, (f"{rel}: extraction failed: {e!r}",)), {}
    warnings = facts.warnings + _truncation(rel, data, facts.error_nodes)
    return (rel, sha, len(data), facts.error_nodes, facts.error_bytes, warnings,
            rows_digest(rows)), rows


_NOISE = re.compile(rb"/\*.*?\*/|//[^\n]*|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'", re.S)


def _truncation(rel: str, data: bytes, error_nodes: int) -> tuple[str, ...]:
    """A warning if a file that has parse errors ends inside a block or a
    comment: the sign of a truncated file.  Braces are counted outside
    comments and strings, in the first branch of each ``#if`` group only (so
    ``#ifdef A / if (x) { / #else / if (y) { / #endif`` counts one).  Files
    without parse errors cost nothing."""
    if not error_nodes or not data or b"\0" in data:
        return ()
    code = _first_branches(_NOISE.sub(b" ", data))
    opened, closed = code.count(b"{"), code.count(b"}")
    if opened > closed or b"/*" in code:
        return (f"{rel}: ends inside a block or comment ({opened} '{{', {closed} '}}' "
                "outside #else branches); truncated?",)
    return ()


_DIRECTIVE = re.compile(rb"^[ \t]*#[ \t]*(if|ifdef|ifndef|elif|else|endif)\b")


def _first_branches(code: bytes) -> bytes:
    """``code`` without directives (``#define`` bodies included) and without
    the ``#elif``/``#else`` branches of its ``#if`` groups."""
    kept, stack = [], []  # stack: is this level's current branch dropped?
    dropping = False  # any(stack), recomputed only when a directive changes it
    for line in code.replace(b"\\\n", b" ").split(b"\n"):
        if b"#" not in line:  # most lines: no directive, no regex
            if not dropping:
                kept.append(line)
            continue
        m = _DIRECTIVE.match(line)
        word = m.group(1) if m else b""
        if word.startswith(b"if"):
            stack.append(False)
        elif word in (b"elif", b"else") and stack:
            stack[-1] = True
        elif word == b"endif" and stack:
            stack.pop()
        elif not dropping and not line.lstrip().startswith(b"#"):
            kept.append(line)
        dropping = any(stack)
    return b"\n".join(kept)


_ROOT = ""
_SCRATCH: Scratch | None = None


def _init_worker(root: str, scratch_prefix: str) -> None:
    global _ROOT, _SCRATCH
    _die_with_parent()
    _fewer_collections()
    _ROOT = root
    _SCRATCH = Scratch(f"{scratch_prefix}{os.getpid()}")


def _fewer_collections() -> None:
    """Run the cyclic garbage collector less often in a worker.  Extraction
    makes millions of short-lived objects (nodes, records, rows) and almost
    no cycles: at the default gen-0 threshold (700) the collector runs ~1,300
    times per 3,600 files to find ~300 cycles.  At 10,000 a worker's CPU is
    ~2% lower (11.55 s -> 11.30 s on half of the real tree), memory unchanged."""
    gc.set_threshold(10_000, 50, 100)


def _die_with_parent() -> None:
    """On Linux, have the kernel kill this worker when the run's process dies
    (a ``kill -9`` of the run would otherwise leave the pool's workers); a
    worker whose parent died before it asked (while it was starting) leaves."""
    if sys.platform.startswith("linux"):
        import ctypes
        import multiprocessing
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        parent = multiprocessing.parent_process()
        if parent is not None and os.getppid() != parent.pid:
            os._exit(1)


def _work(rels: list[str]) -> tuple[str, list[tuple]]:
    """Extract a chunk of files into this worker's scratch store; give back
    its path and the files' statistics (the rows stay out of the pipe)."""
    stats = []
    for rel in rels:
        stat, rows = _extract_one(_ROOT, rel)
        _SCRATCH.add(rows)
        stats.append(stat)
    _SCRATCH.commit()
    return str(_SCRATCH.path), stats


def _run(root: str, todo: list[str], jobs: int, scratch_prefix: str) -> Iterator[_Result]:
    """Extract ``todo`` over ``jobs`` processes (in this one when 1).  Yields
    ``(stat, rows)`` per file, rows being the path of a worker's
    :class:`Scratch` store when extracted in another process."""
    if jobs <= 1 or len(todo) < 2:
        for rel in todo:
            yield _extract_one(root, rel)
        return
    chunks = [todo[i:i + _CHUNK] for i in range(0, len(todo), _CHUNK)]
    ctx = get_context("fork") if sys.platform.startswith("linux") else get_context()
    with ctx.Pool(jobs, initializer=_init_worker, initargs=(root, scratch_prefix)) as pool:
        for path, stats in pool.imap_unordered(_work, chunks):
            for stat in stats:
                yield stat, path


# --- the stage ----------------------------------------------------------------

def _order(cfg: Config, todo: list[str]) -> list[str]:
    """Biggest files first, so that no worker is left with a big one at the end."""
    root = cfg.kernel_dir

    def size(rel: str) -> int:
        try:
            return (root / rel).stat().st_size
        except OSError:
            return 0

    return sorted(todo, key=size, reverse=True)


def extract_tree(cfg: Config, jobs: int = 0, progress: bool = True) -> ExtractReport:
    """Extract the tree into the store, re-parsing only what changed.

    Parameters
    ----------
    cfg : Config
        Where the tree (``cfg.kernel_dir``) and the store (``cfg.store_path``) are.
    jobs : int
        Worker processes; 0 means one per core.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    ExtractReport
    """
    start = time.perf_counter()
    jobs = jobs if jobs > 0 else os.cpu_count() or 1
    files = discover(cfg)
    try:
        parsed, removed = _extract_into_store(cfg, files, jobs, progress)
    except (sqlite3.OperationalError, OSError) as e:  # a full disk, a read-only folder
        why = f"{e.filename + ': ' if getattr(e, 'filename', None) else ''}" \
              f"{getattr(e, 'strerror', None) or e}"
        raise AnalyzerError(f"cannot write {cfg.store_path} ({why}); the previous store is "
                            "kept, nothing half-written is left") from None
    return _report(cfg, len(files), parsed, removed, jobs, time.perf_counter() - start)


def _extract_into_store(cfg: Config, files: list[str], jobs: int,
                        progress: bool) -> tuple[int, int]:
    """One transaction: the facts of new and changed files in, those of removed
    out; (files extracted, files removed)."""
    with Writer(cfg.store_path, fingerprint()) as w:
        old = w.old_hashes()
        stats = _stats(str(cfg.kernel_dir), files)
        if old:  # the workers hash what they extract: a fresh store needs no hashes here
            current = _unchanged(old, w.signatures(), stats)
            hashed = [p for p in files if p not in current]
            current.update(_hashes(cfg, hashed))
            todo = [p for p in files if old.get(p) != current[p]]
        else:
            current, hashed, todo = dict.fromkeys(files, ""), [], list(files)
        gone = [p for p in old if p not in current]
        w.remove(gone + [p for p in todo if p in old])
        made = _write(w, _run(str(cfg.kernel_dir), _order(cfg, todo), jobs,
                              f"{cfg.store_path}.tmp-"), len(todo), progress)
        w.sign(_signatures(stats, {**{p: current[p] for p in hashed}, **made}), gone)
    return len(todo), len(gone)


#: a file modified less than this before it was looked at is not trusted by its stat
#: signature (a write in the same timestamp tick would not change its mtime)
_RACY_NS = 2_000_000_000

_Stat = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode


def _stats(root: str, files: list[str]) -> dict[str, _Stat | None]:
    """relpath -> stat signature (None for a file that cannot be stat'ed)."""
    out: dict[str, _Stat | None] = {}
    for rel in files:
        try:
            st = os.stat(os.path.join(root, rel))
        except OSError:
            out[rel] = None
            continue
        out[rel] = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    return out


def _unchanged(old: dict[str, str], signatures: dict[str, tuple],
               stats: dict[str, _Stat | None]) -> dict[str, str]:
    """relpath -> stored SHA-256 of the files whose stat signature is the one
    recorded when that content was hashed: they are not read again."""
    out = {}
    for rel, st in stats.items():
        sig = signatures.get(rel)
        if st is not None and sig is not None and sig[:4] == st and sig[4] == old.get(rel):
            out[rel] = sig[4]
    return out


def _signatures(stats: dict[str, _Stat | None], shas: dict[str, str]) -> Iterator[tuple]:
    """The rows of :meth:`Writer.sign` for files just hashed: each with the stat
    taken before it was read, unless it was modified too recently to be sure
    that a later write changes its stat (then it is simply hashed next time)."""
    recent = time.time_ns() - _RACY_NS
    for rel, sha in shas.items():
        st = stats.get(rel)
        if st is not None and sha and not sha.startswith("unreadable") \
                and max(st[1], st[2]) < recent:
            yield (rel, *st, sha)


def _write(w: Writer, results: Iterator[_Result], total: int,
           progress: bool) -> dict[str, str]:
    """Store the results: rows made here directly, workers' scratch stores
    merged at the end (and deleted, whatever happens); relpath -> SHA-256 of
    the files stored."""
    scratches: set[str] = set()
    shas = {}
    try:
        for stat, rows in _progress(results, total, progress):
            shas[stat[0]] = stat[1]
            if isinstance(rows, dict):
                w.add(FileRow(*stat), rows)
            else:
                w.add_file(FileRow(*stat))
                scratches.add(rows)
        for path in sorted(scratches):
            w.merge(path)
    finally:
        for path in scratches:
            Path(path).unlink(missing_ok=True)
    return shas


def _progress(results: Iterator, total: int, show: bool) -> Iterator:
    if not show or not total:
        return results
    from tqdm import tqdm

    return tqdm(results, total=total, unit="file", desc="extract", smoothing=0.1,
                dynamic_ncols=True, leave=False, disable=None)  # no bar when not a terminal


def _report(cfg: Config, total: int, parsed: int, removed: int, jobs: int,
            seconds: float) -> ExtractReport:
    with Store.open(cfg.store_path) as st:
        row = st.conn.execute(
            "SELECT count(*), coalesce(sum(size),0), coalesce(sum(error_nodes>0),0), "
            "coalesce(sum(error_bytes),0) FROM files").fetchone()
        warned = st.conn.execute("SELECT path, warnings FROM files WHERE warnings != '[]' "
                                 "ORDER BY path").fetchall()
        return ExtractReport(
            files=row[0], parsed=parsed, cached=total - parsed, removed=removed,
            records=st.counts(), error_files=row[2], error_bytes=row[3],
            total_bytes=row[1], warnings=sum(len(json.loads(w)) for _, w in warned),
            warning_files=tuple(p for p, _ in warned), seconds=round(seconds, 3),
            jobs=jobs, store=str(cfg.store_path), generation=st.generation())


# --- make analyze --------------------------------------------------------------

def _has_module(name: str) -> bool:
    """Is ``name`` a module with code (not an empty namespace folder)?"""
    spec = importlib.util.find_spec(name)
    return spec is not None and spec.origin not in (None, "namespace")


def _stage(name: str, module: str, attr: str, call: Callable):
    """Run ``call(function)`` for ``module.attr`` if it exists, printing its
    time; its result (None when skipped)."""
    if not _has_module(module):
        print(f"{name:<8} skipped: {module} is not written yet", flush=True)
        return None
    fn = getattr(importlib.import_module(module), attr, None)
    if fn is None:
        print(f"{name:<8} skipped: {module} has no {attr}() yet", flush=True)
        return None
    start = time.perf_counter()
    result = call(fn)
    note = _one_line(result)
    print(f"{name:<8} {time.perf_counter() - start:7.2f} s" + (f"  {note}" if note else ""),
          flush=True)
    return result


def _one_line(result) -> str:
    if result is None:
        return ""
    if isinstance(result, ExtractReport):
        return (f"{result.parsed:,} parsed, {result.cached:,} cached, "
                f"{sum(result.records.values()):,} records, {result.warnings:,} warnings")
    text = str(result).strip().splitlines()
    return text[0][:200] if text else ""


def analyze(cfg: Config, jobs: int = 0, progress: bool = True, docs: bool = True,
            source: str | None = None) -> None:
    """Fetch from ``source`` or ``cfg.tarball`` (a no-op on a verified tree;
    skipped for a tree given by ``cfg.tree``, which is only checked), say which
    files of the tree differ from the release (they are analysed as they are),
    extract, build the graph, generate the model and, when ``docs``, build the
    site: one line per stage."""
    if cfg.tree is not None:
        from analyzer.edits import check_tree

        check_tree(cfg.tree)
        print(f"{'fetch':<8} skipped: the tree {cfg.tree} is given by --tree or KERNEL_TREE",
              flush=True)
    else:
        _stage("fetch", "analyzer.fetch", "fetch",
               lambda f: f(source or cfg.tarball, cfg, parts=FETCH_PARTS, progress=progress))
    tree = _stage("tree", "analyzer.edits", "tree_info", lambda f: f(cfg))
    _stage("extract", "analyzer.pipeline", "extract_tree",
           lambda f: f(cfg, jobs=jobs, progress=progress))
    graph_key = _graph_inputs(cfg)
    model_key = _model_inputs(cfg, tree)
    site = cfg.site_out_dir / "index.html"
    session = _session(cfg)  # the model stage's runs and booted generators, for the site
    try:
        with _Beside(jobs) as beside:  # the graph (and the programs' boot) beside the model
            graph = image = None
            if _current(cfg, "graph", cfg.graph_path, graph_key):  # no worker to say so
                _graph_stage(cfg, graph_key, progress)
            else:
                graph = beside.run(_graph_stage, cfg, graph_key, progress, beside.jobs >= 2)
            if docs and not _current(cfg, "docs", site, model_key):
                image = beside.run(_program_image, cfg)
            _unless_unchanged(cfg, "model", cfg.model_dir, model_key, lambda: _stage(
                "model", "analyzer.model", "generate_all", lambda f: f(cfg, session=session)))
            if docs:  # once the graph is there; the programs' pages wait for their image
                _done(graph)
                _unless_unchanged(cfg, "docs", site, model_key, lambda: _stage(
                    "docs", "analyzer.docs", "build_site",
                    lambda f: f(cfg, strict=True, progress=progress, session=session,
                                programs_ready=lambda: _done(image), tree=tree)))
    finally:  # the model's boot image, written in the background meanwhile
        if session is not None:
            session.finish()


def _graph_stage(cfg: Config, key: str, progress: bool, beside: bool = False) -> None:
    """The graph stage; ``beside`` the model stage, its own workers run inline:
    the model takes the other core, and forked workers' copied pages would
    raise the memory of the two at once (1.66 -> 1.11 GB for the graph)."""
    from analyzer import workers

    with workers.inline() if beside else contextlib.nullcontext():
        _unless_unchanged(cfg, "graph", cfg.graph_path, key, lambda: _stage(
            "graph", "analyzer.graph", "build_graph_store",
            lambda f: f(cfg, progress=progress)), key_after=lambda: _graph_inputs(cfg))


def _program_image(cfg: Config) -> None:
    """The boot image of the programs' generator, made now when it is stale, so
    that the site reads it instead of booting from the C (nothing without the model)."""
    if _has_module("analyzer.model.session"):
        from analyzer.model.session import Session

        start = time.perf_counter()
        if Session(cfg).prepare_image("program"):
            print(f"{'programs':<8} {time.perf_counter() - start:7.2f} s  the programs' "
                  "generator booted from the C, its boot image written for the site",
                  flush=True)


class _Beside:
    """Stages that do not depend on the model's (the graph: the model reads the
    store, not the graph; the programs' boot) run in worker processes beside
    it, one fresh process per stage, all at once (the three share two cores:
    the site, which needs the three, starts sooner than when the programs' boot
    waits for the graph), when there are two cores and ``jobs`` is not 1; else
    right away, in this process.  :meth:`run` gives the stage's future, for a
    later stage to wait for (:func:`_done`); leaving the block waits for them
    all; a stage's error is raised here."""

    def __init__(self, jobs: int):
        self.jobs = jobs if jobs > 0 else os.cpu_count() or 1
        self.pool = None
        self.futures: list = []

    def __enter__(self) -> _Beside:
        return self

    def run(self, fn: Callable, *args):
        """Start ``fn(*args)`` beside; its future (None: it ran here, done)."""
        if self.jobs < 2:
            fn(*args)
            return None
        if self.pool is None:  # made on the first stage to run (spawning costs ~0.3 s)
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(2, mp_context=get_context("spawn"),
                                            initializer=_die_with_parent,
                                            max_tasks_per_child=1)
        future = self.pool.submit(fn, *args)
        self.futures.append(future)
        return future

    def __exit__(self, kind, error, tb) -> None:
        if self.pool is None:
            return
        if kind is not None:  # this process failed: the others' work is not wanted
            for f in self.futures:
                f.cancel()
        self.pool.shutdown(wait=True)
        if kind is None:
            for f in self.futures:
                f.result()  # raises a stage's error here


def _done(future) -> None:
    """Wait for a stage started beside (:meth:`_Beside.run`); its error raised here."""
    if future is not None:
        future.result()


def _session(cfg: Config):
    """One model session for the model stage and the site (None without the model)."""
    if not _has_module("analyzer.model.session"):
        return None
    from analyzer.model.session import Session

    return Session(cfg)


# --- what a stage was made from: a stage whose inputs did not change is skipped --------

_PACKAGE = Path(__file__).resolve().parent


def _unless_unchanged(cfg: Config, name: str, output: Path, key: str,
                      build: Callable[[], None],
                      key_after: Callable[[], str] | None = None) -> None:
    """Run ``build`` unless ``output`` was made by an earlier ``analyze`` from
    inputs whose hash is ``key`` (``build/.<name>.inputs`` records the key with
    the output's size and mtime, so an output replaced since is made again).
    ``key_after``: the key to record, computed once ``build`` is done (the
    graph's inputs include the lines it read, known once it has run)."""
    record = cfg.build_dir / f".{name}.inputs"
    if _current(cfg, name, output, key):
        print(f"{name:<8} skipped: its inputs did not change since {output} was made",
              flush=True)
        return
    record.unlink(missing_ok=True)
    build()
    if key and key_after is not None:
        key = key_after()
    if key and output.exists():
        tmp = record.with_name(f"{record.name}.{os.getpid()}.tmp")
        with contextlib.suppress(OSError):  # without the record, the next run builds again
            tmp.write_text(json.dumps([key, *_stat(output)]))
            os.replace(tmp, record)
        tmp.unlink(missing_ok=True)


def _current(cfg: Config, name: str, output: Path, key: str) -> bool:
    """Was ``output`` made by an earlier ``analyze`` from inputs whose hash is ``key``?"""
    return bool(key) and _recorded(cfg.build_dir / f".{name}.inputs") == [key, *_stat(output)]


def _recorded(path: Path) -> list | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _stat(path: Path) -> list[int]:
    try:
        st = path.stat()
    except OSError:
        return [-1, -1]
    return [st.st_size, st.st_mtime_ns]


def _hash_code(h, paths) -> None:
    for path in paths:
        h.update(str(path.relative_to(_PACKAGE)).encode() + b"\0" + path.read_bytes() + b"\0")


def _store_state(cfg: Config) -> tuple[str, list, list] | None:
    """(extractor's fingerprint, (path, SHA-256) and (path, digest of its
    records) of every analysed file), or None without a store."""
    try:
        with Store.open(cfg.store_path) as st:
            return st.meta().get("fingerprint", ""), st.file_hashes(), st.records_hashes()
    except AnalyzerError:
        return None


def _graph_inputs(cfg: Config) -> str:
    """The graph's inputs: the records of every file (not its text: an edit that
    changes no record leaves the graph as it was), the lines of files the graph
    itself read (:func:`analyzer.graphdata.texts_digest`: those of short functions,
    for casts), the extractor's fingerprint, the analyzer's modules and its
    kernel tables; "" without a store."""
    from analyzer.graphdata import texts_digest

    state = _store_state(cfg)
    if state is None:
        return ""
    fp, files, records_ = state
    h = hashlib.sha256(fp.encode())
    for path, sha in records_:
        h.update(f"{path}\0{sha}\0".encode())
    h.update(texts_digest(cfg.graph_path, cfg.kernel_dir, dict(files)).encode())
    _hash_code(h, sorted(p for p in [*_PACKAGE.glob("*.py"), *_PACKAGE.glob("kernel/*"),
                                     *_PACKAGE.glob("queries/*")] if p.is_file()))
    return h.hexdigest()


def _model_inputs(cfg: Config, tree=None) -> str:
    """The inputs of the model and of the site: the store's files (path,
    SHA-256) and the extractor's fingerprint, every file of the package (the
    model, the graph's and the pages' code, the MkDocs project, the tables), the
    tree (path, version, edits) and the size and mtime of the files of its parts
    that the model reads besides the analysed ones (kernel/, mm/, lib/...);
    "" without a store.  ``tree``: the :class:`~analyzer.edits.TreeInfo` of this
    run, when made."""
    from analyzer.config import MODEL_PARTS
    from analyzer.edits import tree_info

    state = _store_state(cfg)
    if state is None:
        return ""
    fp, files, _ = state
    h = hashlib.sha256(f"model\0{fp}\0".encode())
    for path, sha in files:
        h.update(f"{path}\0{sha}\0".encode())
    _hash_code(h, sorted(p for p in _PACKAGE.rglob("*")
                         if p.is_file() and "__pycache__" not in p.parts))
    tree = tree if tree is not None else tree_info(cfg)
    h.update(json.dumps(tree.to_json(), sort_keys=True).encode())
    root = str(cfg.kernel_dir)
    for part in MODEL_PARTS:
        for folder, dirs, names in sorted(os.walk(os.path.join(root, part))):
            dirs.sort()
            for name in sorted(names):
                st = os.stat(os.path.join(folder, name))
                h.update(f"{folder[len(root):]}/{name}\0{st.st_size}\0{st.st_mtime_ns}\0"
                         .encode())
    return h.hexdigest()
