"""The analysed tree and the user's edits: which files differ from the release.

Takes the analysed tree (``cfg.kernel_dir``), the manifest of the release
(``analyzer/kernel/MANIFEST``, SHA-256 per file) and, for the fetched tree, the
stamp that fetch wrote (size and mtime of every file as verified).  Produces a
:class:`TreeInfo`: the tree's path, its version (read from its top ``Makefile``),
whether it was fetched or given by ``--tree``/``$KERNEL_TREE``, and its
:class:`EditedFile` records, computed here only: ``stats``, ``analyze`` and the
site read them from :func:`tree_info`.

- The fetched tree: a file whose size or mtime differs from the stamp is hashed;
  it is edited when its SHA-256 differs from the manifest's.  A file of the stamp
  that is gone is ``deleted``; a file the release lacks is ``added``.  Cost: one
  ``stat`` per file and a walk of the tree (well under a second).
- A tree given by ``--tree``: when its Makefile says 4.4.1, every file of the
  manifest that it holds is hashed and compared; another version is not compared
  (its files differ from 4.4.1's by design), and :attr:`TreeInfo.note` says so.

How many lines differ is counted against the release's text, read from the
tarball (the one the stamp names, else ``$KERNEL_TARBALL``; never downloaded for
this) and kept under ``kernel-src/originals/<sha256>``, checked against the
manifest; without a tarball at hand the count is unknown and the record says why.
:func:`restore` puts released files back (``fetch --restore``), and only that.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import tempfile
import urllib.parse
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from analyzer.config import DEFAULT_PARTS, KERNEL_VERSION, Config
from analyzer.errors import AnalyzerError

__all__ = ["EditedFile", "TreeInfo", "tree_info", "tree_version", "check_tree",
           "release_texts", "lines_changed", "restore"]

#: where the release's text of edited files is kept (by SHA-256), under kernel-src/
ORIGINALS = "originals"
_VERSION_LINE = re.compile(rb"^(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION)\s*=[ \t]*(\S*)",
                           re.M)
#: files of the fetched tree that are the fetcher's, not the release's
_OWN = (".fetch-stamp.json",)


@dataclass(frozen=True)
class EditedFile:
    """A file of the analysed tree that differs from the release.

    ``status``: ``changed`` (its text differs), ``added`` (the release has no
    such file) or ``deleted`` (the release's file is gone).  ``lines_changed``:
    the lines that differ (inserted, removed or replaced lines, counted on the
    larger side of each change); None when the release's text is not at hand,
    ``why`` then says why."""

    path: str
    lines_changed: int | None
    status: str = "changed"
    why: str = ""

    def describe(self, version: str = KERNEL_VERSION) -> str:
        """``net/socket.c (1 line differs from 4.4.1)``."""
        if self.status == "added":
            return f"{self.path} (added: not in {version})"
        if self.status == "deleted":
            return f"{self.path} (deleted)"
        if self.lines_changed is None:
            return f"{self.path} (differs from {version}; lines unknown: {self.why})"
        n = self.lines_changed
        return f"{self.path} ({n} line{'s' if n != 1 else ''} differ{'s' if n == 1 else ''} " \
               f"from {version})"


@dataclass(frozen=True)
class TreeInfo:
    """The analysed tree: where, which version, how it came, what differs."""

    path: Path
    version: str  # "4.4.1", from the Makefile; "" when it has none
    fetched: bool  # the fetched, verified tree (else given by --tree / $KERNEL_TREE)
    edits: tuple[EditedFile, ...] = ()
    note: str = ""  # why the edits were not compared, when they were not

    def edited(self, path: str) -> EditedFile | None:
        return next((e for e in self.edits if e.path == path), None)

    @property
    def origin(self) -> str:
        return "fetched and verified" if self.fetched else "given by --tree"

    def __str__(self) -> str:
        """One line for ``analyze``: the edits first."""
        head = f"Linux {self.version or 'of unknown version'} at {self.path} ({self.origin})"
        if self.note:
            return f"{head}; {self.note}"
        if not self.edits:
            return f"{head}; no file differs from {KERNEL_VERSION}"
        shown = ", ".join(e.describe() for e in self.edits[:3])
        more = f" and {len(self.edits) - 3} more" if len(self.edits) > 3 else ""
        return f"analysing your edits: {shown}{more}"

    def to_json(self) -> dict:
        return {"path": str(self.path), "version": self.version, "fetched": self.fetched,
                "note": self.note,
                "edits": [{"path": e.path, "lines_changed": e.lines_changed,
                           "status": e.status, "why": e.why} for e in self.edits]}


# ---------------------------------------------------------------- the tree


def tree_version(root: Path) -> str:
    """``VERSION.PATCHLEVEL.SUBLEVEL[EXTRAVERSION]`` of the top Makefile ("4.4.1"),
    "" without one."""
    try:
        with open(Path(root) / "Makefile", "rb") as f:
            head = f.read(4096)
    except OSError:
        return ""
    found = {k.decode(): v.decode("utf-8", "replace") for k, v in _VERSION_LINE.findall(head)}
    if not found.get("VERSION"):
        return ""
    numbers = [found[k] for k in ("VERSION", "PATCHLEVEL", "SUBLEVEL") if found.get(k)]
    return ".".join(numbers) + found.get("EXTRAVERSION", "")


def check_tree(root: Path) -> None:
    """AnalyzerError naming ``root`` unless it holds the folders the analysis reads."""
    root = Path(root)
    if not root.is_dir():
        raise AnalyzerError(f"kernel tree {root} (from --tree or KERNEL_TREE) is not a folder")
    if missing := [p for p in DEFAULT_PARTS if not (root / p).is_dir()]:
        raise AnalyzerError(f"kernel tree {root} (from --tree or KERNEL_TREE) has no "
                            f"{', '.join(p + '/' for p in missing)}: give the top folder of a "
                            "Linux source tree")


def tree_info(cfg: Config) -> TreeInfo:
    """The analysed tree and the files of it that differ from the release."""
    from analyzer.fetch import _read_stamp, read_manifest

    root = cfg.kernel_dir
    fetched = cfg.tree is None
    version = tree_version(root)
    if not root.is_dir():
        return TreeInfo(root, version, fetched, note="no tree yet: run `kernel-analyzer fetch`")
    man = read_manifest(cfg.manifest)
    if fetched:
        stamp = _read_stamp(root)
        if stamp is None:
            return TreeInfo(root, version, fetched, note="not fetched (no stamp): not compared")
        found = _fetched_differences(root, man.entries, stamp)
    elif version != KERNEL_VERSION:
        return TreeInfo(root, version, fetched, note=f"Linux {version or 'of unknown version'}"
                        f", not {KERNEL_VERSION}: its files are not compared with the release")
    else:
        found = _hashed_differences(root, man.entries)
    wanted = [rel for rel, status in found if status != "added"]
    texts, why = release_texts(cfg, wanted, stamp_source(cfg)) if wanted else ({}, "")
    edits = tuple(_edited(root, rel, status, texts.get(rel), why) for rel, status in found)
    return TreeInfo(root, version, fetched, edits)


def stamp_source(cfg: Config) -> str:
    from analyzer.fetch import _read_stamp

    stamp = _read_stamp(cfg.fetched_dir) or {}
    return str(stamp.get("source", ""))


def _edited(root: Path, rel: str, status: str, old: bytes | None, why: str) -> EditedFile:
    if status == "added":
        return EditedFile(rel, _line_count(_read(root / rel)), status)
    if old is None:
        return EditedFile(rel, None, status, why)
    new = b"" if status == "deleted" else _read(root / rel)
    return EditedFile(rel, lines_changed(old, new), status)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _line_count(data: bytes) -> int:
    return len(data.splitlines())


def lines_changed(old: bytes, new: bytes) -> int:
    """The lines that differ between two texts (each change counted on its larger side).

    >>> lines_changed(b"a\\nb\\nc\\n", b"a\\nB\\nc\\n"), lines_changed(b"a\\n", b"x\\na\\n")
    (1, 1)
    """
    a, b = old.splitlines(), new.splitlines()
    ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    return sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in ops if tag != "equal")


def _fetched_differences(root: Path, entries: dict[str, str],
                         stamp: dict) -> list[tuple[str, str]]:
    """(path, status) of the fetched tree's files that differ from the release."""
    listed: dict = stamp["files"]
    out = []
    top = str(root)
    for rel, (size, mtime) in listed.items():
        try:
            st = os.stat(os.path.join(top, rel))
        except FileNotFoundError:
            out.append((rel, "deleted"))
            continue
        if (st.st_size, st.st_mtime_ns) != (size, mtime) and \
                _sha256(root / rel) != entries.get(rel):
            out.append((rel, "changed"))
    out += [(rel, "added") for rel in _walk(root)
            if rel not in listed and not rel.startswith(_OWN)]
    return sorted(out)


def _hashed_differences(root: Path, entries: dict[str, str]) -> list[tuple[str, str]]:
    """(path, "changed") of the manifest's files that ``root`` holds with other content."""
    present = [rel for rel in entries if (root / rel).is_file()]
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as ex:
        digests = ex.map(lambda rel: _sha256(root / rel), present, chunksize=64)
        return sorted((rel, "changed") for rel, sha in zip(present, digests, strict=True)
                      if sha != entries[rel])


def _walk(root: Path) -> Iterable[str]:
    """The regular files under ``root``, relative (links are not followed)."""
    cut = len(str(root)) + 1
    stack = [str(root)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                stack.append(e.path)
            elif e.is_file(follow_symlinks=False):
                yield e.path[cut:].replace(os.sep, "/")


def _sha256(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as e:
        return f"unreadable:{e.errno}"


# ---------------------------------------------------------------- the release's text


def _local_tarball(cfg: Config, source: str) -> Path | None:
    """A tarball of the release already on this machine: ``source`` (a path, or a
    URL whose download is kept in kernel-src/downloads/), else $KERNEL_TARBALL."""
    for src in (source, cfg.tarball):
        if not src:
            continue
        url = urllib.parse.urlsplit(src)
        if url.scheme in ("http", "https"):
            path = cfg.kernel_root / "downloads" / (PurePosixPath(url.path).name or "")
        else:
            path = Path(src).expanduser()
        if path.is_file():
            return path
    return None


def release_texts(cfg: Config, rels: Iterable[str], source: str = "",
                  tarball: Path | None = None) -> tuple[dict[str, bytes], str]:
    """The release's bytes of ``rels`` (files of the manifest) and, for those not
    found, why.  Read from ``kernel-src/originals/<sha256>`` or from the tarball
    (``tarball``, else one at hand: see :func:`_local_tarball`), each checked
    against the manifest; those read from the tarball are kept there."""
    from analyzer.fetch import read_manifest

    entries = read_manifest(cfg.manifest).entries
    cache = cfg.kernel_root / ORIGINALS
    out: dict[str, bytes] = {}
    todo = {}
    for rel in rels:
        sha = entries.get(rel)
        if sha is None:
            continue
        data = _read(cache / sha)
        if data and hashlib.sha256(data).hexdigest() == sha:
            out[rel] = data
        else:
            todo[rel] = sha
    if not todo:
        return out, ""
    tarball = tarball or _local_tarball(cfg, source)
    if tarball is None:
        return out, "no tarball of the release at hand (set KERNEL_TARBALL)"
    for rel, data in _from_tarball(tarball, todo).items():
        out[rel] = data
        _keep(cache, todo[rel], data)
    missing = sorted(set(todo) - set(out))
    return out, (f"{tarball} lacks {', '.join(missing[:3])}" if missing else "")


def _from_tarball(tarball: Path, wanted: dict[str, str]) -> dict[str, bytes]:
    """The members ``wanted`` (path -> SHA-256) of the tarball whose content matches;
    a symlink member gives its target's bytes."""
    from analyzer.fetch import _link_target, _members, _tar_errors

    found: dict[str, bytes] = {}
    links: dict[str, str] = {}
    targets = set()
    with _tar_errors(tarball):
        for member, rel, tar in _members(tarball):
            if member.issym() and rel in wanted:
                links[rel] = _link_target(rel, member.linkname, tarball)
                targets.add(links[rel])
            elif member.isreg() and (rel in wanted or rel in targets):
                found[rel] = tar.extractfile(member).read(member.size)
            if all(r in found or r in links for r in wanted) and \
                    all(t in found for t in links.values()):
                break
    for rel, target in links.items():
        if target in found:
            found[rel] = found[target]
    return {rel: data for rel, data in found.items()
            if rel in wanted and hashlib.sha256(data).hexdigest() == wanted[rel]}


def _keep(cache: Path, sha: str, data: bytes) -> None:
    """Write ``cache/sha`` through a temporary file (a full disk loses only the cache)."""
    try:
        cache.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{sha[:12]}-{os.getpid()}-", dir=cache)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, cache / sha)
    except OSError:
        pass


# ---------------------------------------------------------------- restore


@dataclass(frozen=True)
class Restored:
    """What :func:`restore` put back."""

    tree: Path
    paths: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        if not self.paths:
            return f"{self.tree}: no file differs from {KERNEL_VERSION}; nothing restored"
        return f"{self.tree}: restored {', '.join(self.paths)} from {KERNEL_VERSION}"


def restore(cfg: Config, paths: Iterable[str] = (), source: str = "") -> Restored:
    """Put the release's text back in the fetched tree for ``paths`` (relative to
    the tree, or paths naming files inside it), or for every changed or deleted
    file when none is given.  Files the release lacks are left alone; nothing else
    is written but the restored files and the stamp's lines of them."""
    from analyzer.fetch import STAMP_NAME, _lock, _obtain, _read_stamp, read_manifest

    if cfg.tree is not None:
        raise AnalyzerError(f"--restore writes into the fetched tree {cfg.fetched_dir}; the "
                            f"tree {cfg.tree} (given by --tree or KERNEL_TREE) is never written")
    root = cfg.fetched_dir
    stamp = _read_stamp(root)
    if stamp is None:
        raise AnalyzerError(f"{root} was not fetched (no {STAMP_NAME}): run "
                            "`kernel-analyzer fetch` first")
    entries = read_manifest(cfg.manifest).entries
    wanted = [_tree_rel(root, p, entries, cfg.manifest) for p in paths]
    if not wanted:
        wanted = [rel for rel, status in _fetched_differences(root, entries, stamp)
                  if status != "added"]
    todo = [rel for rel in dict.fromkeys(wanted) if _sha256(root / rel) != entries[rel]]
    if not todo:
        return Restored(root)
    local = _local_tarball(cfg, source or stamp.get("source", ""))
    tarball = local or _obtain(source or cfg.tarball, cfg, True)[0]
    texts, why = release_texts(cfg, todo, tarball=tarball)
    if missing := [rel for rel in todo if rel not in texts]:
        raise AnalyzerError(f"cannot restore {missing[0]}: {why or 'not in the tarball'}; "
                            "nothing was restored")
    with _lock(cfg.kernel_root, True):
        for rel in todo:
            _write_new(root / rel, texts[rel])
        _restamp(root, stamp, todo)
    return Restored(root, tuple(todo))


def _tree_rel(root: Path, given: str, entries: dict[str, str], manifest: Path) -> str:
    """The path below ``root`` of a file of the release (``given`` relative to the
    tree, or a path of the file), or AnalyzerError naming it."""
    rel = given.strip().replace(os.sep, "/").removeprefix("./")
    if rel in entries:
        return rel
    try:
        rel = Path(given).expanduser().resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError, RuntimeError):
        rel = ""
    if rel not in entries:
        raise AnalyzerError(f"{given}: not a file of the {KERNEL_VERSION} release in {root} "
                            f"(see {manifest}); give a path of the tree such as net/socket.c")
    return rel


def _write_new(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` whole (a temporary file renamed over it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-restore-{os.getpid()}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _restamp(root: Path, stamp: dict, rels: Iterable[str]) -> None:
    """Record the restored files' size and mtime in the stamp (written whole)."""
    from analyzer.fetch import STAMP_NAME

    for rel in rels:
        st = os.stat(root / rel)
        stamp["files"][rel] = [st.st_size, st.st_mtime_ns]
    fd, tmp = tempfile.mkstemp(prefix=f"{STAMP_NAME}.{os.getpid()}-", dir=root)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(stamp, indent=0))
    os.replace(tmp, root / STAMP_NAME)
