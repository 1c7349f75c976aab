"""Fetch: obtain the Linux 4.4.1 sources into ``kernel-src/``, verified and atomically.

Takes a source tarball -- a local path or an http(s) URL, either the full release
``linux-4.4.1.tar.xz`` or the offline subset -- and the committed manifest
``analyzer/kernel/MANIFEST`` (``sha256sum`` format: ``<sha256>  <path>``, paths relative to
``linux-4.4.1/``).  Produces ``kernel-src/linux-4.4.1/`` holding exactly the manifest's
files of the requested parts (top-level folders such as ``net``) plus the top-level files
(``COPYING``...), each checked against its SHA-256, and a stamp ``.fetch-stamp.json``.

How it stays safe and atomic:

- every member of the tarball is checked before anything is written: no absolute
  path, no ``..``, nothing outside ``linux-4.4.1/``, only files, folders and symlinks
  whose target stays inside the tree, no path taken by an earlier member or below a
  symlink member, no more bytes than the release's largest file (the manifest's
  ``# largest file: N bytes``); each file is written as a new file (never through a link)
  and hashed as it lands; the release's symlink becomes a copy of its target; the whole
  tree is then walked (no link, only the manifest's files, each re-hashed);
- extraction goes into a temporary folder beside the target (``kernel-src/.fetch-tmp-*``),
  each file is hashed as it lands, and only a fully verified tree is renamed into place;
  on any error the temporary folder is removed and the old tree (if any) is untouched;
  a killed fetch leaves only a ``.fetch-tmp-*`` folder, which the next fetch removes;
- downloads stream into ``kernel-src/downloads/<name>.part`` and resume with an HTTP
  ``Range`` request after a broken connection.

How much a second fetch re-verifies: the stamp (written inside the tree, so it is renamed
into place with it) records the manifest's SHA-256, the parts, and the size and mtime of
every file.  A fetch whose manifest and parts match the stamp is a no-op (well under a
second); otherwise, or when there is no stamp (a tree copied by hand), the tree is
extracted and verified afresh and replaces the old one.  :func:`verify_tree` re-hashes
every file on demand.

Edits are the user's: a file of the tree that differs from the release is never
overwritten or deleted.  The no-op above does not look at the files' content (the
analysis reads the tree as it is; :mod:`analyzer.edits` tells which files differ), and
a fresh extraction over an existing tree carries into the new tree every file of the old
one that differs from the release or that the release lacks (a file of the release that
the user deleted stays deleted) before it is swapped in.  Only ``fetch --restore``
(:func:`analyzer.edits.restore`) puts released files back.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import json
import lzma
import os
import re
import shutil
import socket
import stat
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from analyzer.config import DEFAULT_PARTS, Config
from analyzer.errors import AnalyzerError

__all__ = [
    "FetchReport", "Manifest", "fetch", "download", "verify_tree", "read_manifest",
    "manifest_text", "STAMP_NAME",
]

STAMP_NAME = ".fetch-stamp.json"
#: the member size limit when the manifest does not give the largest file
DEFAULT_SIZE_LIMIT = 16 << 20
_LARGEST = re.compile(r"#\s*largest file:\s*(\d+)\s*bytes")
_TMP_PREFIX = ".fetch-tmp-"
_CHUNK = 1 << 16
#: how members are written: the "data" filter where tarfile has it (Python 3.11.4+)
_EXTRACT: dict = ({"filter": "data"} if hasattr(tarfile, "data_filter")
                  else {"set_attrs": False})
_FILTER_ERROR = getattr(tarfile, "FilterError", ())  # () catches nothing
_OFFLINE_HINT = (
    "Use a local copy of the sources instead: give its path, "
    "`kernel-analyzer analyze PATH` (or `fetch PATH`), or set KERNEL_TARBALL to it, e.g. "
    "`KERNEL_TARBALL=../shared/kernel/linux-4.4.1-subset.tar.xz make analyze` in a checkout."
)


@dataclass(frozen=True)
class FetchReport:
    """What a fetch did: ``action`` is ``"extracted"`` or ``"up-to-date"``."""

    action: str
    source: str
    tree: Path
    parts: tuple[str, ...]
    files: int
    seconds: float
    downloaded: bool = False
    skipped: int = 0
    #: files of the old tree that differ from the release, carried into the new one
    kept: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.summary()

    def summary(self) -> str:
        """One line for the terminal."""
        what = "already verified" if self.action == "up-to-date" else "extracted and verified"
        kept = f"; kept your {len(self.kept)} edited file(s)" if self.kept else ""
        return (f"{self.tree}: {self.files} files of {' '.join(self.parts)} {what} "
                f"({self.seconds:.2f} s){kept}")


@dataclass(frozen=True)
class Manifest:
    """The committed list of files: relative path -> SHA-256, and the SHA-256 of the
    sorted entries (comments do not count), which the stamp records."""

    path: Path
    entries: Mapping[str, str]
    digest: str
    #: the size of the largest file of the release (``# largest file: N bytes``);
    #: a bigger member is refused before it is written in full
    largest: int = 0

    @property
    def size_limit(self) -> int:
        """The most bytes a member may hold: :attr:`largest`, or
        :data:`DEFAULT_SIZE_LIMIT` for a manifest without that line."""
        return self.largest or DEFAULT_SIZE_LIMIT

    def select(self, parts: Iterable[str]) -> dict[str, str]:
        """The entries of the top-level files and of the folders ``parts``.

        >>> m = Manifest(Path("M"), {"COPYING": "1", "net/socket.c": "2", "mm/slab.c": "3"}, "")
        >>> sorted(m.select(["net"]))
        ['COPYING', 'net/socket.c']
        """
        prefixes = tuple(p.strip("/") + "/" for p in parts)
        return {rel: sha for rel, sha in self.entries.items()
                if "/" not in rel or rel.startswith(prefixes)}

    def has_part(self, part: str) -> bool:
        """Whether the manifest lists a file under the folder ``part``."""
        prefix = part.strip("/") + "/"
        return any(rel.startswith(prefix) for rel in self.entries)

    def check_parts(self, parts: Iterable[str]) -> None:
        """Raise AnalyzerError for a part of which the manifest has no file."""
        for part in parts:
            if not self.has_part(part):
                raise AnalyzerError(f"{self.path}: no file under {part!r}; "
                                    "is it a folder of the Linux 4.4.1 release?")


# ---------------------------------------------------------------- manifest


def read_manifest(path: Path) -> Manifest:
    """Read a ``sha256sum``-style manifest; ``#`` lines are comments."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise AnalyzerError(f"cannot read the manifest {path}: {e.strerror}") from None
    entries: dict[str, str] = {}
    largest = 0
    for n, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        if m := _LARGEST.match(line):
            largest = int(m.group(1))
        if not line.strip() or line.startswith("#"):
            continue
        sha, sep, rel = line.partition("  ")
        if not sep or len(sha) != 64 or not rel:
            raise AnalyzerError(f"{path}:{n}: not `<sha256>  <path>`: {line!r}")
        entries[rel] = sha
    listing = "".join(f"{sha}  {rel}\n" for rel, sha in sorted(entries.items()))
    return Manifest(Path(path), entries, hashlib.sha256(listing.encode()).hexdigest(), largest)


def manifest_text(tarball: Path, header: str = "") -> str:
    """The manifest of every file in ``tarball`` (symlinks: the SHA-256 of their target).

    The format is ``sha256sum``'s, so ``sha256sum -c MANIFEST`` also works in the tree.
    """
    hashes: dict[str, str] = {}
    links: dict[str, str] = {}
    largest = 0
    with _tar_errors(tarball):
        for member, rel, tar in _members(Path(tarball)):
            if member.isreg():
                hashes[rel] = _sha256_stream(tar.extractfile(member))
                largest = max(largest, member.size)
            elif member.issym():
                links[rel] = _link_target(rel, member.linkname)
    for rel, target in links.items():
        if target not in hashes:
            raise AnalyzerError(f"{tarball}: symlink {rel} points to {target}, not a file")
        hashes[rel] = hashes[target]
    lines = [f"{sha}  {rel}" for rel, sha in sorted(hashes.items())]
    head = [*header.splitlines(), f"largest file: {largest} bytes (fetch refuses a bigger member)"]
    return "".join(f"# {h}\n" for h in head) + "\n".join(lines) + "\n"


# ---------------------------------------------------------------- fetch


def fetch(source: str, cfg: Config, parts: Iterable[str] = DEFAULT_PARTS,
          progress: bool = True, manifest: Path | None = None) -> FetchReport:
    """Obtain, check and install the sources of ``parts`` into ``cfg.fetched_dir``.

    Parameters
    ----------
    source : a tarball path or an http(s) URL (the release or the offline subset)
    cfg : the project configuration (``cfg.fetched_dir`` is the target)
    parts : top-level folders to extract; the top-level files always come along
    progress : show progress bars and a summary line on stderr
    manifest : the manifest to verify against (default ``cfg.manifest``)

    Returns
    -------
    FetchReport

    Raises
    ------
    AnalyzerError
        for a missing or broken tarball, an unsafe member, a file whose SHA-256
        differs from the manifest, or an unreachable network.
    """
    start = time.monotonic()
    man = read_manifest(manifest or cfg.manifest)
    parts = tuple(dict.fromkeys(p.strip("/") for p in parts))
    man.check_parts(parts)
    try:
        report = _fetch_locked(source, cfg, man, parts, progress, start)
    except OSError as e:  # a full disk, a read-only folder...
        raise AnalyzerError(f"fetch into {cfg.kernel_root} failed: {e}") from None
    _say(progress, report.summary())
    return report


def _fetch_locked(source: str, cfg: Config, man: Manifest, parts: tuple[str, ...],
                  progress: bool, start: float) -> FetchReport:
    """Under the lock: a no-op when the stamp says the tree is verified, else fetch."""
    cfg.kernel_root.mkdir(parents=True, exist_ok=True)
    with _lock(cfg.kernel_root, progress):
        _remove_leftovers(cfg.kernel_root)
        stamp = _read_stamp(cfg.fetched_dir)
        reason = _stale_reason(stamp, man, parts, cfg.fetched_dir)
        if reason is None:
            report = FetchReport("up-to-date", stamp["source"], cfg.fetched_dir,
                                 tuple(stamp["parts"]), len(stamp["files"]),
                                 time.monotonic() - start)
        else:
            _say(progress, f"{cfg.fetched_dir}: {reason}; fetching from {source}")
            report = _fetch_fresh(source, cfg, man, parts, progress, start)
    return report


def _fetch_fresh(source: str, cfg: Config, man: Manifest, parts: tuple[str, ...],
                 progress: bool, start: float) -> FetchReport:
    """Get the tarball, extract it beside the target, verify, rename into place."""
    if stamp := _read_stamp(cfg.fetched_dir):  # keep the parts fetched before
        parts = tuple(dict.fromkeys(parts + tuple(p for p in stamp["parts"]
                                                  if man.has_part(p))))
    tarball, downloaded = _obtain(source, cfg, progress)
    wanted = man.select(parts)
    tmp = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=cfg.kernel_root))
    try:
        tree, skipped = _extract_verified(tarball, wanted, tmp, cfg.fetched_dir.name,
                                          man.path, progress, man.size_limit)
        _write_stamp(tree, man, parts, source, wanted)
        kept = _keep_edits(cfg.fetched_dir, tree, stamp)
        _swap_in(tree, cfg.fetched_dir)
    except AnalyzerError as e:
        if downloaded:
            tarball.unlink(missing_ok=True)
            raise AnalyzerError(f"{e} (the download {tarball} was deleted)") from None
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return FetchReport("extracted", source, cfg.fetched_dir, parts, len(wanted),
                       time.monotonic() - start, downloaded, skipped, tuple(kept))


def verify_tree(cfg: Config, manifest: Path | None = None) -> int:
    """Re-hash every file that the stamp of ``cfg.fetched_dir`` lists; return their count.

    Raises AnalyzerError naming the first file that is missing or differs.
    """
    man = read_manifest(manifest or cfg.manifest)
    stamp = _read_stamp(cfg.fetched_dir)
    if not stamp:
        raise AnalyzerError(f"{cfg.fetched_dir} was not fetched (no {STAMP_NAME}): "
                            "run `kernel-analyzer fetch`")
    wanted = man.select(stamp["parts"])
    for rel, sha in wanted.items():
        _check_file(cfg.fetched_dir, rel, sha, man.path)
    return len(wanted)


# ---------------------------------------------------------------- stamp


def _read_stamp(tree: Path) -> dict | None:
    try:
        stamp = json.loads((tree / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return None
    keys = {"manifest", "parts", "files", "source"}
    return stamp if isinstance(stamp, dict) and keys <= stamp.keys() else None


def _stale_reason(stamp: dict | None, man: Manifest, parts: tuple[str, ...],
                  tree: Path) -> str | None:
    """Why the tree must be fetched again, or None when it is verified and unchanged."""
    if not tree.exists():
        return "not fetched yet"
    if stamp is None:
        return f"no {STAMP_NAME} (copied by hand?), so it is replaced by a verified copy"
    if stamp["manifest"] != man.digest:
        return f"{man.path} changed since the last fetch"
    if not set(parts) <= set(stamp["parts"]):
        return f"parts {' '.join(sorted(set(parts) - set(stamp['parts'])))} are missing"
    return None  # files changed since: the user's edits, kept (see analyzer.edits)


def _keep_edits(old: Path, new: Path, stamp: dict | None) -> list[str]:
    """Before ``new`` replaces ``old``: copy into ``new`` every file of ``old``
    that differs from the release (or that the release lacks), and delete from
    ``new`` the files of the old stamp that the user deleted; their paths.

    A file whose size and mtime are the stamp's is the release's (not read);
    others are compared byte for byte with the new tree's.  Links are not
    followed below ``old`` (an ``old`` that is itself a link is read, never
    written)."""
    if not old.is_dir():
        return []
    listed = stamp["files"] if stamp else {}
    kept = []
    root = str(old)
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            st = os.lstat(path)
            if rel == STAMP_NAME or not stat.S_ISREG(st.st_mode):
                continue
            if listed.get(rel) == [st.st_size, st.st_mtime_ns] or _same_file(path, new / rel):
                continue
            (new / rel).parent.mkdir(parents=True, exist_ok=True)
            (new / rel).unlink(missing_ok=True)
            shutil.copy2(path, new / rel, follow_symlinks=False)
            kept.append(rel)
    for rel in listed:
        if not os.path.lexists(old / rel) and (new / rel).is_file():
            (new / rel).unlink()
            kept.append(rel)
    return sorted(kept)


def _same_file(path: str, other: Path) -> bool:
    """Do two files hold the same bytes (False when ``other`` is missing)?"""
    try:
        if os.path.getsize(path) != other.stat().st_size:
            return False
        with open(path, "rb") as a, open(other, "rb") as b:
            while chunk := a.read(_CHUNK * 16):
                if chunk != b.read(len(chunk)):
                    return False
        return True
    except OSError:
        return False


def _write_stamp(tree: Path, man: Manifest, parts: tuple[str, ...], source: str,
                 wanted: Mapping[str, str]) -> None:
    files = {}
    for rel in sorted(wanted):
        st = os.stat(tree / rel)
        files[rel] = [st.st_size, st.st_mtime_ns]
    stamp = {"manifest": man.digest, "parts": list(parts), "source": source,
             "fetched": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "files": files}
    (tree / STAMP_NAME).write_text(json.dumps(stamp, indent=0))


# ---------------------------------------------------------------- extraction


def _members(tarball: Path, top: str | None = None
             ) -> Iterator[tuple[tarfile.TarInfo, str, tarfile.TarFile]]:
    """Each member of a tarball, checked for safety, with its path below the top folder."""
    with tarfile.open(tarball, "r|*") as tar:
        for member in tar:
            rel = _safe_rel(member, tarball, top)
            if rel:
                yield member, rel, tar


@contextlib.contextmanager
def _tar_errors(tarball: Path) -> Iterator[None]:
    """Turn the errors of a broken archive (truncated, not a tarball) into AnalyzerError."""
    try:
        yield
    except _FILTER_ERROR as e:
        raise AnalyzerError(f"{tarball}: unsafe member refused: {e}") from None
    except (tarfile.TarError, EOFError, lzma.LZMAError, zlib.error) as e:
        raise AnalyzerError(f"{tarball}: cannot read the tarball ({e or type(e).__name__}); "
                            "it is truncated, corrupt or not a .tar.xz/.tar.gz archive") from None
    except OSError as e:
        raise AnalyzerError(f"{tarball}: extraction failed: {e}") from None


def _safe_rel(member: tarfile.TarInfo, tarball: Path, top: str | None) -> str:
    """The member's path below the top folder ("" for the top itself), or raise."""
    name = member.name.removeprefix("./")
    path = PurePosixPath(name)
    bad = None
    if not path.parts and member.isdir():
        return ""  # the archive's root folder "./"
    if path.is_absolute() or name.startswith("/"):
        bad = "an absolute path"
    elif ".." in path.parts:
        bad = "a `..` component"
    elif top is not None and path.parts[:1] != (top,):
        bad = f"a path outside the top folder {top}/"
    elif not (member.isreg() or member.isdir() or member.issym()):
        bad = "not a regular file, folder or symlink (device, fifo or hard link)"
    elif member.issym():
        _link_target("/".join(path.parts[1:]), member.linkname, tarball)
    if bad:
        raise AnalyzerError(f"{tarball}: member {member.name!r} refused: {bad}")
    return "/".join(path.parts[1:])


def _link_target(rel: str, linkname: str, tarball: Path | None = None) -> str:
    """The path below the top folder that a symlink at ``rel`` points to, or raise."""
    parts: list[str] = []
    for seg in (*PurePosixPath(rel).parent.parts, *PurePosixPath(linkname).parts):
        if seg == "..":
            if not parts:
                break
            parts.pop()
        elif seg not in (".", ""):
            parts.append(seg)
    else:
        if not linkname.startswith("/"):
            return "/".join(parts)
    raise AnalyzerError(f"{tarball}: symlink {rel} -> {linkname} refused: "
                        "it points outside the tree")


def _extract_verified(tarball: Path, wanted: Mapping[str, str], tmp: Path, top: str,
                      manifest: Path, progress: bool, limit: int = DEFAULT_SIZE_LIMIT
                      ) -> tuple[Path, int]:
    """Extract the ``wanted`` files into ``tmp/top``, checking each as it is
    written, then the whole tree; return (tree, skipped).

    Every file is written by :func:`_write_member` (a new file, never through a
    link, at most ``limit`` bytes); a member that names a path an earlier member
    took is refused; a symlink of the release becomes a copy of its target, so
    the tree holds no link at all; :func:`_check_tree` then checks that the
    tree holds exactly the wanted files, each with its SHA-256."""
    tree, seen, skipped, links, all_links = tmp / top, set(), 0, {}, set()
    tree.mkdir()
    with tqdm(total=len(wanted), unit="file", desc="extract", disable=_no_bar(progress),
              file=sys.stderr) as bar, _tar_errors(tarball):
        for member, rel, tar in _members(tarball, top):
            if member.isdir():
                continue
            if rel in seen:
                raise AnalyzerError(f"{tarball}: member {member.name!r} refused: it would "
                                    "overwrite an earlier member of the same path")
            _check_not_through_link(member, rel, seen, all_links, tarball)
            seen.add(rel)
            if member.issym():
                all_links.add(rel)
            if rel not in wanted:
                skipped += 1
            elif member.issym():
                links[rel] = _link_target(rel, member.linkname, tarball)
            else:
                _check_sha(rel, _write_member(tar, member, tree / rel, limit, tarball),
                           wanted[rel], manifest)
                bar.update()
        for rel, target in links.items():
            _copy_link(tree, rel, target, wanted, tarball)
            bar.update()
    if missing := sorted(set(wanted) - seen):
        raise AnalyzerError(f"{tarball} lacks {len(missing)} file(s) listed in {manifest}, "
                            f"e.g. {', '.join(missing[:3])}; is it Linux 4.4.1?")
    _check_tree(tree, wanted, manifest)
    return tree, skipped


def _check_not_through_link(member: tarfile.TarInfo, rel: str, seen: set[str],
                            links: set[str], tarball: Path) -> None:
    """Refuse a member below a path that an earlier symlink member took (it
    would be written through the link), and a symlink over the folder of an
    earlier member."""
    parts = rel.split("/")
    for i in range(1, len(parts)):
        if "/".join(parts[:i]) in links:
            raise AnalyzerError(f"{tarball}: member {member.name!r} refused: it would be "
                                f"written through the link {'/'.join(parts[:i])}")
    if member.issym() and any(p.startswith(rel + "/") for p in seen):
        raise AnalyzerError(f"{tarball}: member {member.name!r} refused: a link over the "
                            "folder of an earlier member")


def _write_member(tar: tarfile.TarFile, member: tarfile.TarInfo, path: Path, limit: int,
                  tarball: Path) -> str:
    """Write a regular member to ``path`` (a new file: never an existing one,
    never through a link) and return its SHA-256; refuse it, before or while
    writing, when it holds more than ``limit`` bytes."""
    if member.size > limit:
        raise AnalyzerError(f"{tarball}: member {member.name!r} refused: {member.size} bytes, "
                            f"more than the largest file of the release ({limit} bytes)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    h, written = hashlib.sha256(), 0
    with os.fdopen(fd, "wb") as out:
        src = tar.extractfile(member)
        while chunk := src.read(_CHUNK * 16):
            written += len(chunk)
            if written > limit:
                raise AnalyzerError(f"{tarball}: member {member.name!r} refused: more than "
                                    f"the largest file of the release ({limit} bytes)")
            h.update(chunk)
            out.write(chunk)
    os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)
    return h.hexdigest()


def _copy_link(tree: Path, rel: str, target: str, wanted: Mapping[str, str],
               tarball: Path) -> None:
    """Install the symlink ``rel`` -> ``target`` of the release as a copy of its
    target, a regular file of the release already written and checked."""
    if target not in wanted or not (tree / target).is_file() or (tree / target).is_symlink():
        raise AnalyzerError(f"{tarball}: symlink {rel} -> {target} refused: its target is "
                            "not a file of the release")
    (tree / rel).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(tree / rel, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as out, open(tree / target, "rb") as src:
        shutil.copyfileobj(src, out)


def _check_tree(tree: Path, wanted: Mapping[str, str], manifest: Path) -> None:
    """After extraction: the tree holds no link and nothing but folders and the
    wanted files, and every file has its SHA-256 (read again from disk)."""
    found = set()
    root = str(tree)
    for folder, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                raise AnalyzerError(f"{rel}: a link in the extracted tree; refused. "
                                    "Nothing was installed.")
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode) or rel not in wanted:
                raise AnalyzerError(f"{rel}: not a file of {manifest}; refused. "
                                    "Nothing was installed.")
            found.add(rel)
            _check_file(tree, rel, wanted[rel], manifest)
    if missing := sorted(set(wanted) - found):
        raise AnalyzerError(f"{missing[0]}: missing after extraction; refused. "
                            "Nothing was installed.")


def _check_file(tree: Path, rel: str, sha: str, manifest: Path) -> None:
    """Raise AnalyzerError unless ``tree/rel`` (a file inside ``tree``) has SHA-256 ``sha``."""
    path = tree / rel
    try:
        real = path.resolve(strict=True)
        real.relative_to(tree.resolve())
        with open(real, "rb") as f:
            got = _sha256_stream(f)
    except (OSError, ValueError, RuntimeError):
        raise AnalyzerError(f"{rel}: missing, unreadable or outside the tree") from None
    _check_sha(rel, got, sha, manifest)


def _check_sha(rel: str, got: str, sha: str, manifest: Path) -> None:
    if got != sha:
        raise AnalyzerError(f"{rel}: SHA-256 {got[:16]}... differs from {manifest} "
                            f"({sha[:16]}...); the source is corrupt or not Linux 4.4.1. "
                            "Nothing was installed.")


def _sha256_stream(f) -> str:
    h = hashlib.sha256()
    while chunk := f.read(1 << 20):
        h.update(chunk)
    return h.hexdigest()


def _swap_in(new: Path, target: Path) -> None:
    """Rename ``new`` to ``target``, moving an old tree aside first and deleting it."""
    old = None
    if target.exists() or target.is_symlink():
        old = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=target.parent)) / "old"
        os.rename(target, old)
    os.rename(new, target)
    if old is not None:
        shutil.rmtree(old.parent, ignore_errors=True)


def _remove_leftovers(root: Path) -> None:
    """Delete the temporary folders of fetches that were killed (we hold the lock)."""
    for tmp in root.glob(_TMP_PREFIX + "*"):
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _lock(root: Path, progress: bool) -> Iterator[None]:
    """One fetch at a time per ``kernel-src/`` (an flock, released even when killed)."""
    with open(root / ".fetch.lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _say(progress, f"waiting for another fetch into {root} to finish")
            fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _say(progress: bool, text: str) -> None:
    if progress:
        print(text, file=sys.stderr)


# ---------------------------------------------------------------- download


def _obtain(source: str, cfg: Config, progress: bool) -> tuple[Path, bool]:
    """A local tarball for ``source``: the path itself, or a (cached) download."""
    if urllib.parse.urlsplit(source).scheme in ("http", "https"):
        name = PurePosixPath(urllib.parse.urlsplit(source).path).name or "linux.tar.xz"
        dest = cfg.kernel_root / "downloads" / name
        if dest.is_file():
            return dest, True
        return download(source, dest, progress=progress), True
    path = Path(source).expanduser()
    if path.is_dir():
        raise AnalyzerError(f"{source} is a folder, not a tarball (from KERNEL_TARBALL or the "
                            "command line; give the path of linux-4.4.1.tar.xz or "
                            "linux-4.4.1-subset.tar.xz, or an http(s) URL)")
    if not path.is_file():
        where = "" if path.is_absolute() else f", i.e. {path.absolute()}"
        raise AnalyzerError(f"kernel tarball not found: {source}{where} (from KERNEL_TARBALL "
                            "or the command line; give the path of linux-4.4.1.tar.xz or "
                            "linux-4.4.1-subset.tar.xz, or an http(s) URL)")
    return path, False


class _Transient(Exception):
    """A broken download that a retry (with Range) may fix."""


def download(url: str, dest: Path, *, progress: bool = True, retries: int = 4,
             timeout: float = 30.0, backoff: float = 1.0) -> Path:
    """Stream ``url`` into ``dest`` through ``dest.part``, resuming after breaks.

    Parameters
    ----------
    url : http(s) URL
    dest : the final file; ``<dest>.part`` holds the bytes received so far
    retries : how many times a broken or timed-out transfer is resumed
    timeout : seconds without data before a connection counts as broken
    backoff : seconds before the first retry (doubled for each further one)
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    note = _forget_foreign_part(part, url)
    try:
        _download_with_retries(url, part, progress, retries, timeout, backoff)
    finally:
        if not part.exists():
            note.unlink(missing_ok=True)  # nothing to resume
    note.unlink(missing_ok=True)
    os.replace(part, dest)
    return dest


def _download_with_retries(url: str, part: Path, progress: bool, retries: int,
                           timeout: float, backoff: float) -> None:
    for attempt in range(retries + 1):
        try:
            _download_once(url, part, progress, timeout)
            return
        except _Transient as e:
            if attempt == retries:
                raise AnalyzerError(f"download of {url} failed after {retries + 1} "
                                    f"attempts: {e}. {_OFFLINE_HINT}") from None
            _say(progress, f"download interrupted ({e}); resuming in {backoff:g} s")
            time.sleep(backoff)
            backoff *= 2


def _forget_foreign_part(part: Path, url: str) -> Path:
    """Drop a ``.part`` file left by a download of another URL; note ours (returned)."""
    note = part.with_name(part.name + ".url")
    if part.exists() and (not note.exists() or note.read_text() != url):
        part.unlink()
    note.write_text(url)
    return note


def _download_once(url: str, part: Path, progress: bool, timeout: float) -> None:
    """One HTTP request, appending to ``part`` from its current size; raise _Transient."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "linux-socket-analyzer", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                    timeout=timeout) as resp:
            have = _resume_offset(resp, have)
            if have < 0:
                part.unlink()
                raise _Transient("the server resumed at another byte; starting again")
            length = resp.headers.get("Content-Length")
            total = have + int(length) if length else None
            _stream(resp, part, have, total, progress)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:
            part.unlink()
            raise _Transient("the partial file did not match; starting again") from None
        if e.code >= 500:
            raise _Transient(f"HTTP {e.code} {e.reason}") from None
        raise AnalyzerError(f"download of {url} failed: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        _raise_network(url, e.reason)
    except (TimeoutError, ConnectionError, http.client.HTTPException) as e:
        raise _Transient(str(e) or type(e).__name__) from None


def _resume_offset(resp, have: int) -> int:
    """Where the body of ``resp`` starts: ``have`` for a matching 206, -1 for a
    mismatching one, else 0."""
    if not have or resp.status != 206:
        return 0  # no resume asked, or the server ignored Range: start again
    start = resp.headers.get("Content-Range", "").removeprefix("bytes ").split("-")[0]
    return have if start == str(have) else -1


def _no_bar(progress: bool) -> bool | None:
    """tqdm's ``disable``: True when asked for none, None (no bar unless
    stderr is a terminal) otherwise, so that logs get no bar lines."""
    return None if progress else True


def _stream(resp, part: Path, have: int, total: int | None, progress: bool) -> None:
    """Copy the response body to ``part`` (appending after ``have`` bytes)."""
    with open(part, "r+b" if have else "wb") as out, tqdm(
            total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
            desc=part.name.removesuffix(".part"), disable=_no_bar(progress),
            file=sys.stderr) as bar:
        out.seek(have)
        out.truncate()
        while chunk := resp.read(_CHUNK):
            out.write(chunk)
            bar.update(len(chunk))
        got = out.tell()
    if total is not None and got < total:
        raise _Transient(f"connection closed after {got} of {total} bytes")


def _raise_network(url: str, reason: object) -> None:
    """Turn a URLError's reason into _Transient (worth a retry) or a clear AnalyzerError."""
    host = urllib.parse.urlsplit(url).hostname
    if isinstance(reason, socket.gaierror):
        raise AnalyzerError(f"cannot download {url}: the name {host} does not resolve "
                            f"({reason.strerror}); this machine seems to have no internet "
                            f"access. {_OFFLINE_HINT}") from None
    if isinstance(reason, OSError) and reason.errno in (101, 113):  # ENETUNREACH, EHOSTUNREACH
        raise AnalyzerError(f"cannot download {url}: network unreachable "
                            f"({reason.strerror}). {_OFFLINE_HINT}") from None
    if isinstance(reason, OSError):
        raise _Transient(f"cannot connect to {host}: {reason}") from None
    raise AnalyzerError(f"cannot download {url}: {reason}. {_OFFLINE_HINT}") from None
