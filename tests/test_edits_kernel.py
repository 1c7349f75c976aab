"""Edits on the real Linux 4.4.1 tree: a copy of the fetched tree in a temporary
home is edited and analysed by the main command; the edit is kept and every
answer (model, query, stats, site) follows it; `fetch --restore` brings the
release back.  And a copy given by --tree with a function renamed.  Each test
runs one full analysis in its own home (the project's build/ is untouched); the
store of the project is copied in, so only the edited files are parsed again."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from analyzer.config import Config

pytestmark = pytest.mark.kernel

OLD = b"\tei->socket.flags = 0;\n"
NEW = b"\tei->socket.flags = 5;\n"
DEFINITION = b"static struct inode *sock_alloc_inode(struct super_block *sb)\n"


def _cli(home: Path, *args: str, tree: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANALYZER_HOME": str(home)}
    env.pop("KERNEL_TREE", None)
    pre = ["--tree", str(tree)] if tree else []
    done = subprocess.run([sys.executable, "-m", "analyzer", *pre, *args], env=env,
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _line_of(data: bytes, text: bytes) -> int:
    return data[:data.index(text)].count(b"\n") + 1


@pytest.fixture(scope="module")
def release(store_cfg: Config) -> Config:
    """The project's fetched tree and store (extracted once, as the other kernel tests)."""
    return store_cfg


def _home_with_store(release: Config, home: Path) -> Path:
    (home / "build").mkdir(parents=True)
    shutil.copy2(release.store_path, home / "build" / release.store_path.name)
    return home


@pytest.fixture(scope="module")
def edited(release: Config, tmp_path_factory) -> tuple[Config, subprocess.CompletedProcess]:
    """A home holding a copy of the fetched tree (with its stamp) in which
    sock_alloc_inode sets flags to 5 and sits one line lower; analysed by
    `analyze` (fetch, extract, graph, model, docs)."""
    home = _home_with_store(release, tmp_path_factory.mktemp("edited") / "home")
    cfg = Config(home)
    shutil.copytree(release.kernel_dir, cfg.kernel_dir, symlinks=True)  # mtimes kept
    socket_c = cfg.kernel_dir / "net/socket.c"
    data = socket_c.read_bytes()
    assert data.count(OLD) == 1 and data.count(DEFINITION) == 1
    socket_c.write_bytes(data.replace(OLD, NEW).replace(DEFINITION, b"/* */\n" + DEFINITION))
    return cfg, _cli(home, "analyze")


def test_an_edit_is_kept_analysed_and_shown_everywhere_then_restored(edited, release):
    cfg, done = edited
    socket_c = cfg.kernel_dir / "net/socket.c"
    original = (release.kernel_dir / "net/socket.c").read_bytes()
    assert "analysing your edits: net/socket.c (2 lines differ from 4.4.1)" in done.stdout
    assert socket_c.read_bytes().count(NEW) == 1  # the file is kept as edited

    run = json.loads(_cli(cfg.home, "model", "socket", "AF_INET", "SOCK_STREAM", "0",
                          "--json").stdout)
    sockets = [o for o in run["final"].values() if o["type"] == "struct socket"]
    assert sockets and all(dict(o["fields"])["flags"].split()[0] == "5" for o in sockets)

    where = json.loads(_cli(cfg.home, "query", "where", "sock_alloc_inode", "--json").stdout)
    line = _line_of(socket_c.read_bytes(), DEFINITION)
    assert line == _line_of(original, DEFINITION) + 1
    assert any(w["file"] == "net/socket.c" and w["line"] == line for w in _locations(where))

    tree = json.loads(_cli(cfg.home, "stats", "--json").stdout)["tree"]
    assert tree["fetched"] and tree["version"] == "4.4.1"
    assert tree["edits"] == [{"path": "net/socket.c", "lines_changed": 2, "status": "changed",
                              "why": ""}]

    home_page = _text(cfg.site_out_dir / "index.html")
    assert "Linux 4.4.1 at" in home_page and "net/socket.c\nchanged\n2" in home_page
    page = _text(cfg.site_out_dir / "generated/tour/sock_alloc_inode/index.html")
    assert "This excerpt comes from your edited net/socket.c" in page
    assert "-    ei->socket.flags = 0;\n+    ei->socket.flags = 5;" in page

    out = _cli(cfg.home, "fetch", "--restore", "net/socket.c").stdout
    assert "restored net/socket.c" in out
    assert socket_c.read_bytes() == original
    tree = json.loads(_cli(cfg.home, "stats", "--json").stdout)["tree"]
    assert tree["edits"] == []


def _text(page: Path) -> str:
    """The text of an HTML page (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))


def _locations(where) -> list[dict]:
    """The locations of `query where --json`, whatever the nesting."""
    if isinstance(where, dict):
        found = [where] if {"file", "line"} <= where.keys() else []
        return found + [x for v in where.values() for x in _locations(v)]
    if isinstance(where, list):
        return [x for v in where for x in _locations(v)]
    return []


def test_a_tree_given_by_tree_is_analysed_in_place_and_never_written(release, tmp_path):
    """A copy with sock_alloc_inode renamed (definition and uses), read-only."""
    home = _home_with_store(release, tmp_path / "home")
    tree = tmp_path / "my-linux"
    shutil.copytree(release.kernel_dir, tree, symlinks=True,
                    ignore=shutil.ignore_patterns(".fetch-stamp.json"))
    socket_c = tree / "net/socket.c"
    socket_c.write_bytes(socket_c.read_bytes().replace(b"sock_alloc_inode", b"my_alloc_inode"))
    _read_only(tree, True)
    try:
        done = _cli(home, "analyze", "--no-docs", tree=tree)
        assert f"the tree {tree} is given by --tree" in done.stdout
        where = json.loads(_cli(home, "query", "where", "my_alloc_inode", "--json",
                                tree=tree).stdout)
        assert any(w["file"] == "net/socket.c" for w in _locations(where))
        stats = json.loads(_cli(home, "stats", "--json", tree=tree).stdout)["tree"]
        assert stats["path"] == str(tree) and stats["version"] == "4.4.1"
        assert not stats["fetched"]
        assert [e["path"] for e in stats["edits"]] == ["net/socket.c"]
        assert not (home / "kernel-src" / "linux-4.4.1").exists()
    finally:
        _read_only(tree, False)


def _read_only(root: Path, on: bool) -> None:
    """Take (or give back) the write permission of every folder and file of ``root``."""
    for folder, _dirs, files in os.walk(root):
        for path in [folder, *(os.path.join(folder, f) for f in files)]:
            mode = os.lstat(path).st_mode
            if not stat.S_ISLNK(mode):
                os.chmod(path, mode & ~0o222 if on else mode | stat.S_IWUSR)
