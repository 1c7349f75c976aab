"""Figures of the analysis for ``python -m analyzer stats``.

Takes the store (``build/analysis.sqlite``) and, when it exists, the graph
(``build/graph.sqlite``); produces a plain dict (:func:`collect`) and its text
(:func:`render`): files and bytes, the share of files and of bytes inside
tree-sitter ERROR nodes, record counts per kind, warnings grouped by kind with
example files, the resolution figures of :func:`analyzer.resolve.stats`, and
the analysed tree (:func:`analyzer.edits.tree_info`: its path, version and the
files that differ from the release).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re

from analyzer.config import Config
from analyzer.store import Store

__all__ = ["collect", "render", "warning_kind"]

_EXAMPLES = 3
_NUMBER = re.compile(r"(?<![\w-])\d+\b")


def warning_kind(file: str, warning: str) -> str:
    """The kind of a warning: its message without the leading ``file[:line]:``,
    with numbers as ``N``, up to the first ``(``, ``,`` or ``:``.

    >>> warning_kind("net/a.c", "net/a.c:12: not UTF-8 (byte 40), decoded with replacement")
    'not UTF-8'
    >>> warning_kind("fs/b.c", "fs/b.c: unbalanced preprocessor conditionals (3 #if, 2 #endif)")
    'unbalanced preprocessor conditionals'
    """
    text = warning
    if text.startswith(file):
        text = re.sub(r"^:(\d+:)?\s*", "", text[len(file):])
    text = re.split(r"[(,:]", text, maxsplit=1)[0]
    return _NUMBER.sub("N", text).strip() or "other"


def _files(st: Store) -> dict:
    n, size, err_files, err_bytes, err_nodes = st.conn.execute(
        "SELECT count(*), coalesce(sum(size),0), coalesce(sum(error_nodes>0),0), "
        "coalesce(sum(error_bytes),0), coalesce(sum(error_nodes),0) FROM files").fetchone()
    return {
        "files": n, "bytes": size, "error_files": err_files, "error_nodes": err_nodes,
        "error_bytes": err_bytes,
        "error_files_share": round(err_files / n, 4) if n else 0.0,
        "error_bytes_share": round(err_bytes / size, 6) if size else 0.0,
    }


def _warnings(st: Store) -> dict:
    kinds: dict[str, dict] = {}
    for path, text in st.conn.execute(
            "SELECT path, warnings FROM files WHERE warnings != '[]' ORDER BY path"):
        for w in json.loads(text):
            entry = kinds.setdefault(warning_kind(path, w), {"count": 0, "examples": []})
            entry["count"] += 1
            if len(entry["examples"]) < _EXAMPLES:
                entry["examples"].append(w)
    return dict(sorted(kinds.items(), key=lambda kv: -kv[1]["count"]))


def _resolution(cfg: Config) -> dict | None:
    """``analyzer.resolve.stats(cfg)`` when the module has it and the graph exists."""
    if importlib.util.find_spec("analyzer.resolve") is None or not cfg.graph_path.is_file():
        return None
    fn = getattr(importlib.import_module("analyzer.resolve"), "stats", None)
    return fn(cfg) if fn is not None else None


def collect(cfg: Config) -> dict:
    """The figures of the analysis at ``cfg`` as plain data (AnalyzerError if
    there is no store yet)."""
    with Store.open(cfg.store_path) as st:
        data = {"store": str(cfg.store_path), "generation": st.generation(), **_files(st),
                "records": st.counts(), "warnings": _warnings(st)}
    data["resolution"] = _resolution(cfg)
    from analyzer.edits import tree_info

    data["tree"] = tree_info(cfg).to_json()
    return data


def render(data: dict) -> str:
    """The text of :func:`collect`'s figures."""
    lines = [
        f"store       {data['store']} (generation {data['generation']})",
        f"files       {data['files']:,} ({data['bytes']:,} bytes)",
        f"parse       {data['error_files']:,} files with ERROR nodes "
        f"({data['error_files_share']:.1%} of files), {data['error_nodes']:,} nodes covering "
        f"{data['error_bytes']:,} bytes ({data['error_bytes_share']:.2%} of bytes)",
        "records",
    ]
    lines += [f"  {kind:<14}{n:>10,}" for kind, n in data["records"].items()]
    total = sum(w["count"] for w in data["warnings"].values())
    lines.append(f"warnings    {total:,}")
    for kind, w in data["warnings"].items():
        lines.append(f"  {w['count']:>6,}  {kind}")
        lines += [f"          e.g. {ex}" for ex in w["examples"]]
    lines += _render_resolution(data.get("resolution"))
    lines += _render_tree(data.get("tree"))
    return "\n".join(lines)


def _render_tree(tree: dict | None) -> list[str]:
    """The tree's lines: where, which version, the edited files (path, lines)."""
    if tree is None:
        return []
    origin = "fetched and verified" if tree["fetched"] else "given by --tree"
    lines = [f"tree        {tree['path']} (Linux {tree['version'] or 'of unknown version'}, "
             f"{origin})"]
    if tree["note"]:
        return lines + [f"  {tree['note']}"]
    lines.append(f"edited      {len(tree['edits'])} file(s) differ from the release")
    for e in tree["edits"]:
        n = e["lines_changed"]
        what = {"added": "added", "deleted": "deleted"}.get(e["status"], "")
        count = f"{n:,} line(s) differ" if n is not None else f"lines unknown: {e['why']}"
        lines.append(f"  {e['path']:<40}{count}{f' ({what})' if what else ''}")
    return lines


def _render_resolution(res: dict | None) -> list[str]:
    if res is None:
        return ["resolution  (no call graph yet: run `kernel-analyzer graph`)"]
    lines = ["resolution"]
    for key, value in res.items():
        if isinstance(value, dict):
            lines.append(f"  {key}")
            lines += [f"    {k:<30}{v}" for k, v in value.items()]
        elif isinstance(value, float) and value <= 1 and key.endswith("share"):
            lines.append(f"  {key:<32}{value:.1%}")
        else:
            lines.append(f"  {key:<32}{value}")
    return lines
