"""Tests of the graph database's update (analyzer.graph.update_graph_db): after
files of the store change, the database updated in place holds, table by table,
what a database written anew from the same store holds; tests marked
``kernel`` edit net/socket.c of the real tree."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from graph_snippets import SOCKET_SNIPPETS, tiny_home

import analyzer.graph as graph
from analyzer.config import Config
from analyzer.extract import extract_file
from analyzer.store import Writer

#: meta rows that say when and from what a database was made, not what it holds
_MADE = ("store_generation", "store_files", "texts_read", "code")


def tables(path: Path) -> dict:
    """Every table of a graph database as a multiset of rows (the report in
    meta without its times and path), the order of the nodes and of the edges."""
    conn = sqlite3.connect(path)
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    out = {}
    for name in sorted(names):
        rows = Counter()
        for row in conn.execute(f"SELECT * FROM {name}"):
            if name == "meta" and row[0] in _MADE:
                continue
            if name == "meta" and row[0] == "report":
                report = json.loads(row[1])
                report.pop("seconds"), report.pop("path")
                row = (row[0], json.dumps(report, sort_keys=True))
            rows[row] += 1
        out[name] = rows
    # the order kg.graph meets nodes and neighbours in, and answers follow on ties
    # (calls on the same line, callers met by `path`)
    for name in ("nodes", "edges"):
        out[f"{name} order"] = conn.execute(f"SELECT * FROM {name} ORDER BY rowid").fetchall()
    out["indexes"] = sorted(conn.execute("SELECT name, sql FROM sqlite_master "
                                         "WHERE type='index'"))
    conn.close()
    return out


def rebuilt(cfg: Config, root: Path) -> Config:
    """A copy of ``cfg``'s home under ``root`` (tree and store) with its graph
    database written anew."""
    copy = Config(root).with_home(root)
    shutil.copytree(cfg.kernel_dir, copy.kernel_dir, symlinks=True)
    copy.store_path.parent.mkdir(parents=True)
    shutil.copyfile(cfg.store_path, copy.store_path)
    graph.build_graph_store(copy, update=False)
    return copy


def updated(monkeypatch, tmp_path: Path) -> Path:
    """A marker file that the update path writes (the stage runs in a forked
    process: a flag in this one would not see it)."""
    marker = tmp_path / "updated"
    real = graph.update_graph_db

    def update(*args, **kwargs):
        marker.write_text("updated")
        changed = real(*args, **kwargs)
        marker.write_text(json.dumps(changed))  # table -> rows written again or deleted
        return changed

    monkeypatch.setattr(graph, "update_graph_db", update)
    return marker


def edit(cfg: Config, files: dict[str, str | None]) -> None:
    """Write (or, for None, delete) files of the tree and extract them into the store."""
    with Writer(cfg.store_path) as w:
        for rel, text in files.items():
            path = cfg.kernel_dir / rel
            if text is None:
                path.unlink()
                w.remove([rel])
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            w.add_facts(extract_file(rel, text.encode()))


SOCKET_C = SOCKET_SNIPPETS["net/socket.c"]
AF_INET_C = SOCKET_SNIPPETS["net/ipv4/af_inet.c"]
NET_H = SOCKET_SNIPPETS["include/linux/net.h"]

EDITS = {
    # a line added at the top: every line below shifts (calls, sites, evidence)
    "lines shift": {"net/socket.c": "/* a line added */\n" + SOCKET_C},
    # a function renamed: its callers elsewhere now call a name defined nowhere
    "function renamed": {"net/ipv4/af_inet.c": AF_INET_C.replace("inet_create", "inet_make")},
    # a file removed, another added
    "file removed and added": {"net/ipv4/af_inet.c": None,
                               "net/new.c": "int added(void) { return sock_create(1); }\n"},
    # a constant's value changed: the constants are evaluated again
    "constant changed": {"include/linux/net.h": NET_H.replace("#define AF_UNIX 1",
                                                              "#define AF_UNIX 3")},
}


@pytest.mark.parametrize("change", EDITS)
def test_an_updated_database_equals_one_written_anew(tmp_path, monkeypatch, change):
    cfg, _ = tiny_home(tmp_path / "home")
    before = tables(cfg.graph_path)
    edit(cfg, EDITS[change])
    marker = updated(monkeypatch, tmp_path)
    graph.build_graph_store(cfg)
    assert marker.exists()  # the database was updated, not written anew
    after = tables(cfg.graph_path)
    assert after == tables(rebuilt(cfg, tmp_path / "anew").graph_path)
    assert after != before
    assert not list(cfg.build_dir.glob(".graph.sqlite.*"))  # no temporary file left


def test_no_change_rewrites_no_row(tmp_path, monkeypatch):
    cfg, _ = tiny_home(tmp_path / "home")
    before = tables(cfg.graph_path)
    marker = updated(monkeypatch, tmp_path)
    graph.build_graph_store(cfg)
    assert marker.exists() and tables(cfg.graph_path) == before


def test_a_value_changed_inside_a_body_rewrites_no_edge_and_keeps_the_constants(
        tmp_path, monkeypatch):
    """``return 0`` -> ``return 5`` in sock_alloc_inode: no call, record or line
    moves, so no node or edge differs; ``edges`` is not written again and the constants'
    values are the stored ones (their records did not change)."""
    cfg, _ = tiny_home(tmp_path / "home")
    before = tables(cfg.graph_path)
    body = "\treturn 0;\n}\nstatic const struct super_operations"
    assert body in SOCKET_C
    edit(cfg, {"net/socket.c": SOCKET_C.replace(body, body.replace("0", "5"))})
    marker = updated(monkeypatch, tmp_path)
    graph.build_graph_store(cfg)
    changed = json.loads(marker.read_text())
    assert "constants" not in changed and not changed.get("edges")
    assert not any(changed.values())
    assert tables(cfg.graph_path) == before


def test_stored_constants_only_for_the_same_records(tmp_path):
    from analyzer.constants import evaluate
    from analyzer.resolve import Index
    from analyzer.store import Store

    cfg, _ = tiny_home(tmp_path / "home")
    with Store.open(cfg.store_path) as store:
        index = Index.from_store(store)
    digest = graph.constants_digest(index.constant_records)
    assert graph._stored_constants(cfg.graph_path, digest) == evaluate(index.constant_records)
    assert graph._stored_constants(cfg.graph_path, "0" * 64) is None
    fewer = graph.constants_digest(index.constant_records[1:])
    assert fewer != digest and graph._stored_constants(cfg.graph_path, fewer) is None


def test_many_changed_files_or_other_code_write_the_database_anew(tmp_path, monkeypatch):
    cfg, _ = tiny_home(tmp_path / "home")
    monkeypatch.setattr(graph, "UPDATE_FILES", 0)  # one changed file is too many
    edit(cfg, EDITS["lines shift"])
    marker = updated(monkeypatch, tmp_path)
    graph.build_graph_store(cfg)
    assert not marker.exists()
    monkeypatch.setattr(graph, "UPDATE_FILES", 16)
    monkeypatch.setattr(graph, "_code", lambda: "other code")
    graph.build_graph_store(cfg)
    assert not marker.exists()
    assert tables(cfg.graph_path) == tables(rebuilt(cfg, tmp_path / "anew").graph_path)


def test_a_failed_update_keeps_the_previous_database(tmp_path, monkeypatch):
    cfg, _ = tiny_home(tmp_path / "home")
    edit(cfg, EDITS["lines shift"])
    before = cfg.graph_path.read_bytes()

    def full(*args):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(graph, "_write_rows", full)
    with pytest.raises(graph.AnalyzerError, match="cannot write .*graph.sqlite.*disk is full"):
        graph.build_graph_store(cfg)
    assert cfg.graph_path.read_bytes() == before
    assert not list(cfg.build_dir.glob(".graph.sqlite.*"))


@pytest.mark.kernel
def test_a_line_added_to_socket_c_updates_the_real_graph_as_a_rebuild_would(
        graph_cfg, tmp_path, monkeypatch):
    from analyzer.pipeline import extract_tree

    home = tmp_path / "home"
    cfg = Config(home).with_home(home)
    shutil.copytree(graph_cfg.kernel_dir, cfg.kernel_dir, copy_function=_link)
    cfg.build_dir.mkdir(parents=True)
    for path in (graph_cfg.store_path, graph_cfg.graph_path):
        shutil.copyfile(path, cfg.build_dir / path.name)
    graph.build_graph_store(cfg)  # made from this store by this code
    socket_c = cfg.kernel_dir / "net" / "socket.c"
    text = socket_c.read_text()
    socket_c.unlink()  # a file of its own, not the shared tree's
    old = "\tei->socket.flags = 0;\n"
    socket_c.write_text(text.replace(old, "\t/* a line added */\n" + old, 1))
    extract_tree(cfg, jobs=1, progress=False)
    marker = updated(monkeypatch, tmp_path)
    graph.build_graph_store(cfg)
    assert marker.exists()
    after = tables(cfg.graph_path)
    moved = {row for row in after["nodes"] if row[0] == "sock_destroy_inode@net/socket.c"}
    assert {row[4] for row in moved} == {_line(text, "sock_destroy_inode") + 1}
    anew = tmp_path / "anew"
    copy = Config(anew).with_home(anew)
    copy.build_dir.mkdir(parents=True)
    copy.kernel_dir.parent.mkdir(parents=True)
    copy.kernel_dir.symlink_to(cfg.kernel_dir)
    shutil.copyfile(cfg.store_path, copy.store_path)
    graph.build_graph_store(copy, update=False)
    assert after == tables(copy.graph_path)


def _link(src, dst):
    """Copy a file of the tree as a hard link (the test's tree costs no space)."""
    import os

    os.link(src, dst)


def _line(text: str, function: str) -> int:
    """The line of the definition of ``function`` in a C text."""
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("static ") and f" {function}(" in line:
            return n
    raise AssertionError(function)
