"""Functions of the parts the model reads but the analysis does not: kernel/,
mm/ and lib/ (``config.MODEL_PARTS``).

Takes the kernel tree; gives :class:`OutsideIndex`, which says which files of
those parts may define a function (a quick scan of their text, made once per
process), so that the generator parses only those files to find the
definition.  The analysis (store, call graph, site) stays on net/, fs/ and
include/; the model follows a call into kernel/, mm/ or lib/ when the
analysed code makes one (an rb-tree insert, an id allocation, a sysctl helper).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from analyzer.config import MODEL_PARTS

__all__ = ["OutsideIndex"]

#: a line at column 0 that opens a function definition: type words, then NAME(
_HEAD = re.compile(rb"^(?![#\s/*}{])(?:[A-Za-z_][\w\s*]*?[\s*])?([A-Za-z_]\w*)\s*\([^;]*$",
                   re.M)


#: a variable defined at file scope: `struct user_namespace init_user_ns = {`
_VAR = re.compile(rb"^(?!extern\b|typedef\b|static\b|return\b|#)(?:const\s+)?"
                  rb"(?:struct\s+|union\s+|enum\s+|unsigned\s+|signed\s+|long\s+)*[A-Za-z_]\w*"
                  rb"[\s*]+([A-Za-z_]\w*)\s*(?:\[[^\]\n]*\])?\s*(?:__\w+(?:\([^)\n]*\))?\s*)*[=;]",
                  re.M)

#: a declaration or definition head: return type words, then NAME(
_PROTO = re.compile(rb"^[ \t]*(?:(?:extern|static|inline|__always_inline|__must_check)\s+)*"
                    rb"((?:(?:const|volatile|struct|union|enum|unsigned|signed|long|short)\s+)*"
                    rb"[A-Za-z_]\w*(?:\s+__\w+)*[\s*]+?)([A-Za-z_]\w*)\s*\(", re.M)
_NOT_TYPES = {b"return", b"else", b"if", b"while", b"for", b"switch", b"case", b"do", b"sizeof",
              b"goto", b"define", b"typedef"}


class OutsideIndex:
    """name -> files of MODEL_PARTS whose text has a definition head for it;
    name -> the return type its declarations give (include/ and MODEL_PARTS)."""

    def __init__(self, kernel_dir: Path, cache: Path | None = None):
        self.kernel_dir = Path(kernel_dir)
        self.cache = Path(cache) if cache is not None else None
        self._index: dict[str, list[str]] | None = None
        self._types: dict[str, str] | None = None

    def _files(self, parts, pattern: str) -> list[Path]:
        out = []
        for part in parts:
            root = self.kernel_dir / part
            if root.is_dir():
                out.extend(sorted(root.rglob(pattern)))
        return out

    def _cached(self, kind: str, files: list[Path], build):
        """``build()``, or its result stored in the cache file for these files
        (plain JSON, keyed by their paths, sizes and times)."""
        if self.cache is None:
            return build()
        h = hashlib.sha256(kind.encode())
        for p in files:
            st = p.stat()
            h.update(f"{p}:{st.st_size}:{st.st_mtime_ns}\n".encode())
        key, path = h.hexdigest(), self.cache / f"{kind}.json"
        try:
            data = json.loads(path.read_text())
            if data.get("key") == key:
                return data["value"]
        except (OSError, ValueError):
            pass
        value = build()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"key": key, "value": value}))
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only build folder: the index is rebuilt next time
        return value

    def state(self) -> dict:
        """The indexes built so far, as plain data (kept in the boot image)."""
        return {k: v for k, v in (("definitions", self._index), ("prototypes", self._types),
                                  ("variables", getattr(self, "_vars", None))) if v is not None}

    def restore(self, state: dict) -> None:
        """Take back :meth:`state` for the same tree."""
        if "definitions" in state and self._index is None:
            self._index = state["definitions"]
        if "prototypes" in state and self._types is None:
            self._types = state["prototypes"]
        if "variables" in state and getattr(self, "_vars", None) is None:
            self._vars = state["variables"]

    def return_type(self, name: str) -> str | None:
        """The return type a prototype of ``name`` declares (``struct sock *``)."""
        if self._types is None:
            files = self._files(("include",), "*.h") + self._files(MODEL_PARTS, "*.[ch]")
            self._types = self._cached("prototypes", files, lambda: self._scan_types(files))
        return self._types.get(name)

    def _scan_types(self, files: list[Path]) -> dict[str, str]:
        types: dict[str, str] = {}
        for path in files:
            try:
                data = path.read_bytes()
            except OSError:
                continue
            for m in _PROTO.finditer(data):
                words = [w for w in m.group(1).split() if not w.startswith(b"__must")
                         and w not in (b"__init", b"__cold", b"notrace")]
                if not words or words[0] in _NOT_TYPES or words[-1].strip(b"*") in _NOT_TYPES:
                    continue
                name = m.group(2).decode()
                if name not in types:
                    types[name] = " ".join(w.decode() for w in words)
        return types

    def variable_files(self, name: str) -> list[str]:
        """Files of MODEL_PARTS that define a global variable ``name``."""
        if getattr(self, "_vars", None) is None:
            files = self._files(MODEL_PARTS, "*.c")
            self._vars = self._cached("variables", files, lambda: self._scan_vars(files))
        return self._vars.get(name, [])

    def _scan_vars(self, files: list[Path]) -> dict[str, list[str]]:
        index: dict[str, list[str]] = {}
        for path in files:
            try:
                data = path.read_bytes()
            except OSError:
                continue
            rel = path.relative_to(self.kernel_dir).as_posix()
            for m in _VAR.finditer(data):
                index.setdefault(m.group(1).decode(), []).append(rel)
        return index

    def files(self, name: str) -> list[str]:
        if self._index is None:
            files = self._files(MODEL_PARTS, "*.[ch]")
            self._index = self._cached("definitions", files, lambda: self._scan(files))
        return self._index.get(name, [])

    def _scan(self, files: list[Path]) -> dict[str, list[str]]:
        index: dict[str, list[str]] = {}
        for path in files:
            rel = path.relative_to(self.kernel_dir).as_posix()
            try:
                data = path.read_bytes()
            except OSError:
                continue
            for m in _HEAD.finditer(data):
                name = m.group(1).decode()
                where = index.setdefault(name, [])
                if not where or where[-1] != rel:
                    where.append(rel)
        return index
