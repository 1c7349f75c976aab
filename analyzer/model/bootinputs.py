"""What a boot read, so that an edit of code the boot never read keeps its image.

Takes a generator after its boot; gives :class:`BootInputs`, plain data kept in
the boot image (:mod:`analyzer.model.image`): every tree file the generator
read, with its hash and the hash of its *skeleton*; every look-up it made in
the store, with a digest of the records it got; the initcall records it planned
from.  :func:`stale` says, for the analysis as it is now, why a boot would
differ ("" when it would not).  An edit of ``inet_bind``, which no initcall
reaches, keeps the image; an edit of ``sock_alloc_inode`` boots again, since
the boot's kernel sockets (``inet_ctl_sock_create``) run it.

A file's skeleton is its text with the bodies of the functions whose
definition the generator never looked up reduced to their newlines (the
braces stay), so that a line added anywhere still moves every later line.  A
body is kept whole when it holds anything read apart from its function: a
preprocessor line, a struct, union or enum with a body, a typedef, or a
declaration made by a macro (``DEFINE_MUTEX(m);``).  Two texts with one
skeleton give the generator the same declarations, the same ``#if`` lines and
the same bodies, at the same lines, of every function it looked up.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from analyzer.model.facts import ANONYMOUS

__all__ = ["BootInputs", "record", "stale", "skeleton", "digest", "store_digest"]

#: what, inside a function body, a generator may read without its function
_KEEP = re.compile(rb"^[ \t]*#|\b(?:struct|union|enum)\b[^;{}()]*\{|\btypedef\b", re.M)


@dataclass(frozen=True)
class BootInputs:
    """What one boot read: ``files`` (path -> (SHA-256 of the bytes, SHA-256 of
    the skeleton, or "" when the file was not parsed)), ``bodies`` (path -> the
    names whose definitions were looked up there), ``facts`` ((kind, key,
    digest of the records found) per store look-up), ``initcalls`` (digest of
    the initcall records), ``store`` (digest of the store's file hashes)."""

    files: dict[str, tuple[str, str]]
    bodies: dict[str, tuple[str, ...]]
    facts: tuple[tuple[str, str, str], ...]
    initcalls: str
    store: str

    def to_data(self) -> dict:
        return {"files": {k: list(v) for k, v in self.files.items()},
                "bodies": {k: list(v) for k, v in self.bodies.items()},
                "facts": [list(f) for f in self.facts],
                "initcalls": self.initcalls, "store": self.store}

    @classmethod
    def from_data(cls, data: dict) -> BootInputs:
        """The record back from an image (ValueError, TypeError or KeyError: damaged)."""
        return cls({str(k): (str(a), str(b)) for k, (a, b) in data["files"].items()},
                   {str(k): tuple(map(str, v)) for k, v in data["bodies"].items()},
                   tuple((str(a), str(b), str(c)) for a, b, c in data["facts"]),
                   str(data["initcalls"]), str(data["store"]))


def digest(value) -> str:
    """A digest of records (frozen dataclasses: their repr is their content)."""
    return hashlib.sha1(repr(value).encode()).hexdigest()


def skeleton(pf, used) -> str:
    """SHA-256 of the skeleton of the parsed file ``pf`` (a
    :class:`~analyzer.model.generate.ParsedFile`): the bodies of its functions
    not named in ``used`` reduced to their newlines, unless they hold what :data:`_KEEP` or a
    declaration by a macro matches."""
    from analyzer.model.generate import _DECLARER

    src = pf.parsed.source
    spans = []
    for name, nodes in pf.functions.items():
        if name in used:
            continue
        for node in nodes:
            body = node.child_by_field_name("body")
            if body is None or body.end_byte - body.start_byte < 2:
                continue
            inner = src[body.start_byte + 1:body.end_byte - 1]
            if _KEEP.search(inner) or _DECLARER.search(inner.decode(errors="replace")):
                continue
            spans.append((body.start_byte + 1, body.end_byte - 1, body.start_point.row,
                          body.end_point.row))
    h, at = hashlib.sha256(), 0
    for start, end, first, last in sorted(spans):
        h.update(src[at:start])
        h.update(b"\n" * (last - first))
        h.update(f"\0{first} {last}\0".encode())
        at = end
    h.update(src[at:])
    return h.hexdigest()


def record(gen, store: str | None = None) -> BootInputs:
    """What ``gen`` has read so far (called right after its boot); ``store``:
    :func:`store_digest`, when read already."""
    files = {}
    for rel, sha in gen.sources_read.items():
        pf = gen.files.get(rel)
        files[rel] = (sha, skeleton(pf, gen.bodies_read.get(rel, ())) if pf is not None else "")
    for kind, name in gen.facts._cache:
        if kind == "anonymous":  # read by the facts from its file (facts._anonymous_struct)
            rel = name[len(ANONYMOUS):].rpartition(":")[0]
            files.setdefault(rel, (_sha(gen.facts.kernel_dir / rel), ""))
    facts = tuple(sorted((kind, key, digest(found))
                         for (kind, key), found in gen.facts._cache.items()))
    return BootInputs(files, {k: tuple(sorted(v)) for k, v in gen.bodies_read.items()},
                      facts, gen.initcalls_read,
                      store_digest(gen) if store is None else store)


def store_digest(gen) -> str:
    """A digest of the store's files ("" for records not from a store: then
    every look-up is made again)."""
    hashes = getattr(gen.facts.source, "file_hashes", None)
    return digest(hashes()) if hashes is not None else ""


def stale(gen, inputs: BootInputs) -> str:
    """Why a boot of ``gen`` now would differ from the one that read ``inputs``
    ("" when it would not): the first file or look-up that changed."""
    for rel, (sha, shape) in inputs.files.items():
        why = _file_changed(gen, rel, sha, shape, inputs.bodies.get(rel, ()))
        if why:
            return why
    if inputs.store and store_digest(gen) == inputs.store:
        return ""
    source = gen.facts.source
    for kind, key, found in inputs.facts:
        if kind == "anonymous":
            continue  # read from its file, checked above
        if digest(source.find(kind, key)) != found:
            return f"the {kind} records of {key} changed"
    if gen.initcalls_digest() != inputs.initcalls:
        return "the initcalls changed"
    return ""


def _sha(path) -> str:
    """SHA-256 of a file's bytes; "" when it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def _file_changed(gen, rel: str, sha: str, shape: str, used) -> str:
    now = _sha(gen.facts.kernel_dir / rel)
    if now == sha:
        return ""
    if not now:
        return f"{rel} can no longer be read"
    if not shape:
        return f"{rel} changed"
    if skeleton(gen.file(rel), set(used)) != shape:
        return f"{rel} changed where the boot read it"
    return ""
