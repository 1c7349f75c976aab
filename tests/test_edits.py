"""Tests of analyzer.edits on tiny generated tarballs: the files that differ from
the release, their line counts, `fetch --restore`, and a tree given by --tree."""

from __future__ import annotations

import pytest
from test_fetch import FILES, make_tarball, write_manifest

from analyzer.cli import main
from analyzer.config import Config
from analyzer.edits import EditedFile, check_tree, restore, tree_info, tree_version
from analyzer.errors import AnalyzerError
from analyzer.fetch import fetch

SOCKET = FILES["net/socket.c"]


@pytest.fixture
def cfg(tmp_path, monkeypatch) -> Config:
    """A home with the tiny release fetched; $KERNEL_TARBALL names its tarball."""
    tarball = make_tarball(tmp_path / "linux-4.4.1.tar.xz")
    monkeypatch.setenv("KERNEL_TARBALL", str(tarball))
    monkeypatch.delenv("KERNEL_TREE", raising=False)
    config = Config(tmp_path / "home", manifest=write_manifest(tmp_path / "MANIFEST"))
    fetch(str(tarball), config, progress=False)
    return config


def test_an_untouched_tree_has_no_edits(cfg):
    info = tree_info(cfg)
    assert info.fetched and info.edits == () and info.note == ""
    assert "no file differs from 4.4.1" in str(info)


def test_edits_are_listed_with_the_lines_that_differ(cfg):
    lines = SOCKET.splitlines(keepends=True)
    (cfg.kernel_dir / "net/socket.c").write_bytes(b"/* mine */\n" + b"".join(lines[:-1]) + b"}x\n")
    (cfg.kernel_dir / "net/new.c").write_bytes(b"a\nb\n")
    (cfg.kernel_dir / "fs/inode.c").unlink()
    info = tree_info(cfg)
    assert info.edits == (EditedFile("fs/inode.c", 1, "deleted"),
                          EditedFile("net/new.c", 2, "added"),
                          EditedFile("net/socket.c", 2))
    assert info.edited("net/socket.c").describe() == "net/socket.c (2 lines differ from 4.4.1)"
    assert str(info).startswith("analysing your edits: fs/inode.c (deleted), net/new.c")
    # the release's text is kept by SHA-256 under kernel-src/originals/
    assert len(list((cfg.kernel_root / "originals").iterdir())) == 2


def test_a_one_line_edit_is_one_line_and_without_a_tarball_is_unknown(cfg, monkeypatch):
    (cfg.kernel_dir / "net/socket.c").write_bytes(SOCKET.replace(b"{", b"{ /* 5 */"))
    assert tree_info(cfg).edits == (EditedFile("net/socket.c", 1),)
    (cfg.kernel_root / "originals").rename(cfg.kernel_root / "gone")
    monkeypatch.setenv("KERNEL_TARBALL", str(cfg.home / "nowhere.tar.xz"))
    monkeypatch.setattr("analyzer.edits.stamp_source", lambda c: "")  # the fetch's tarball
    (edit,) = tree_info(cfg).edits
    assert edit.lines_changed is None and "KERNEL_TARBALL" in edit.why


def test_restore_puts_the_release_back_and_only_that(cfg):
    socket_c = cfg.kernel_dir / "net/socket.c"
    socket_c.write_bytes(b"edited\n")
    (cfg.kernel_dir / "net/new.c").write_bytes(b"mine\n")
    (cfg.kernel_dir / "fs/inode.c").write_bytes(b"also edited\n")
    done = restore(cfg, [str(socket_c)])  # a path of the file works too
    assert done.paths == ("net/socket.c",) and "restored net/socket.c" in str(done)
    assert socket_c.read_bytes() == SOCKET
    assert (cfg.kernel_dir / "fs/inode.c").read_bytes() == b"also edited\n"
    assert [e.path for e in tree_info(cfg).edits] == ["fs/inode.c", "net/new.c"]
    restore(cfg)  # all: the added file stays
    assert (cfg.kernel_dir / "fs/inode.c").read_bytes() == FILES["fs/inode.c"]
    assert [e.path for e in tree_info(cfg).edits] == ["net/new.c"]
    assert not list(cfg.kernel_dir.rglob(".*restore*"))


@pytest.mark.parametrize("path", ["net/nope.c", "../MANIFEST", "/etc/passwd", "net/new.c"])
def test_restore_of_a_path_not_of_the_release_is_one_clear_line(cfg, path, capsys):
    (cfg.kernel_dir / "net/new.c").write_bytes(b"mine\n")
    with pytest.raises(AnalyzerError, match="not a file of the 4.4.1 release"):
        restore(cfg, [path])
    rc = main(["--home", str(cfg.home), "fetch", "--restore", path], prog="t")
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and path in err


def test_a_given_tree_is_read_never_written(cfg, tmp_path):
    given = cfg.with_tree(cfg.kernel_dir)
    assert given.kernel_dir == cfg.fetched_dir and given.tree is not None
    info = tree_info(given)
    assert not info.fetched and info.version == "4.4"
    assert "not compared" in info.note
    with pytest.raises(AnalyzerError, match="never written"):
        restore(given, ["net/socket.c"])


def test_tree_version_and_a_tree_without_the_folders(tmp_path):
    (tmp_path / "Makefile").write_text("VERSION = 4\nPATCHLEVEL = 4\nSUBLEVEL = 17\n"
                                       "EXTRAVERSION = -rc1\n")
    assert tree_version(tmp_path) == "4.4.17-rc1"
    (tmp_path / "net").mkdir()
    with pytest.raises(AnalyzerError, match="has no fs/, include/"):
        check_tree(tmp_path)
    with pytest.raises(AnalyzerError, match="not a folder"):
        check_tree(tmp_path / "nope")


@pytest.mark.parametrize("command", [["analyze", "--no-docs"], ["extract"], ["stats"],
                                     ["query", "where", "x"]])
def test_the_cli_says_a_bad_tree_in_one_line(tmp_path, capsys, monkeypatch, command):
    monkeypatch.delenv("KERNEL_TREE", raising=False)
    rc = main(["--home", str(tmp_path), "--tree", str(tmp_path / "nope"), *command], prog="t")
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "is not a folder" in err
    (tmp_path / "nope").mkdir()
    monkeypatch.setenv("KERNEL_TREE", str(tmp_path / "nope"))  # the same from the environment
    rc = main(["--home", str(tmp_path), *command], prog="t")
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "has no net/, fs/, include/" in err


def test_doctests_of_the_module():
    import doctest

    import analyzer.docs.edits
    import analyzer.edits

    for mod in (analyzer.edits, analyzer.docs.edits):
        assert doctest.testmod(mod).failed == 0
