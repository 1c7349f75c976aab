"""A site build of only the changed pages equals a full build."""

from __future__ import annotations

import filecmp
import json
import shutil
from pathlib import Path

from analyzer.docs import reuse_unchanged, run_mkdocs

HOOKS = Path(__file__).resolve().parents[1] / "analyzer" / "site" / "hooks"

MKDOCS = """site_name: t
docs_dir: docs
theme: {name: material, font: false}
plugins: [search]
hooks: [hooks/search.py]
nav:
  - Home: index.md
  - A: a.md
  - B: b.md
"""


def _project(root: Path, b_text: str) -> Path:
    (root / "docs").mkdir(parents=True)
    (root / "hooks").mkdir()
    shutil.copy(HOOKS / "search.py", root / "hooks" / "search.py")
    (root / "mkdocs.yml").write_text(MKDOCS)
    (root / "docs" / "index.md").write_text("# Home\n\nSee [A](a.md) and [B](b.md#later).\n")
    (root / "docs" / "a.md").write_text("---\nsymbols: [sock_alloc]\n---\n# A\n\nsock_alloc.\n")
    (root / "docs" / "b.md").write_text(b_text)
    return root


def _b(word: str) -> str:
    return (f"---\nsymbols: [sock_alloc_file]\n---\n# B\n\n{word}.\n\n## Later\n\n"
            "Back to [A](a.md).\n")


def _index(site: Path) -> dict:
    return json.loads((site / "search" / "search_index.json").read_text())


def test_only_the_changed_page_is_built_and_the_site_is_the_full_builds(tmp_path):
    old_src = _project(tmp_path / "old-src", _b("first"))
    old_site = tmp_path / "old-site"
    run_mkdocs(old_src, old_site, strict=True)
    stage = _project(tmp_path / "stage", _b("second"))
    fresh = tmp_path / "fresh"
    assert reuse_unchanged(stage, old_src, old_site, fresh) == 1  # b.md alone
    a_before = (fresh / "a" / "index.html").stat().st_mtime_ns
    run_mkdocs(stage, fresh, strict=True, dirty=True)  # no warning about a dirty build
    assert (fresh / "a" / "index.html").stat().st_mtime_ns == a_before  # not built again
    assert "second" in (fresh / "b" / "index.html").read_text()
    full = tmp_path / "full"
    run_mkdocs(stage, full, strict=True)
    assert _index(fresh) == _index(full)  # the other pages' entries and names carried
    names = {e["location"]: e.get("names") for e in _index(fresh)["docs"]}
    assert names["a/"].startswith("sock_alloc sock_alloc sock_alloc sock_alloc_file")
    for page in ("index.html", "a/index.html", "b/index.html"):
        assert filecmp.cmp(fresh / page, full / page, shallow=False), page
    assert not (fresh / "search" / "previous_index.json").exists()


def test_a_changed_navigation_or_project_file_means_a_full_build(tmp_path):
    old_src = _project(tmp_path / "old-src", _b("first"))
    old_site = tmp_path / "old-site"
    run_mkdocs(old_src, old_site, strict=True)
    stage = _project(tmp_path / "stage", _b("first"))
    (stage / "mkdocs.yml").write_text(MKDOCS.replace("site_name: t", "site_name: u"))
    assert reuse_unchanged(stage, old_src, old_site, tmp_path / "f1") is None
    assert not (tmp_path / "f1").exists()
    stage2 = _project(tmp_path / "stage2", _b("first"))
    (stage2 / "docs" / "c.md").write_text("# C\n")  # a page more
    assert reuse_unchanged(stage2, old_src, old_site, tmp_path / "f2") is None
    assert reuse_unchanged(stage2, old_src, tmp_path / "no-site", tmp_path / "f3") is None


def test_a_damaged_previous_search_index_means_a_full_build(tmp_path):
    old_src = _project(tmp_path / "old-src", _b("first"))
    old_site = tmp_path / "old-site"
    run_mkdocs(old_src, old_site, strict=True)
    (old_site / "search" / "search_index.json").write_text("{not json")
    stage = _project(tmp_path / "stage", _b("second"))
    assert reuse_unchanged(stage, old_src, old_site, tmp_path / "fresh") is None


def _same_site(a: Path, b: Path) -> None:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files:
        if rel.name != "sitemap.xml.gz":  # compressed with the time of the build
            assert filecmp.cmp(a / rel, b / rel, shallow=False), rel


def test_a_build_shared_by_two_processes_is_the_single_builds(tmp_path):
    from analyzer import workers
    from analyzer.docs import build_in_two

    stage = _project(tmp_path / "stage", _b("second"))
    single, two = tmp_path / "single", tmp_path / "two"
    run_mkdocs(stage, single, strict=True)
    with workers.inline():  # no fork: the single build it is
        build_in_two(stage, tmp_path / "inline", strict=True)
    build_in_two(stage, two, strict=True)
    _same_site(single, two)
    _same_site(single, tmp_path / "inline")
    assert not (tmp_path / "two-half").exists()


def test_changed_pages_shared_by_two_processes_give_the_full_build(tmp_path):
    from analyzer.docs import build_in_two

    old_src = _project(tmp_path / "old-src", _b("first"))
    (old_src / "docs" / "index.md").write_text("# Home\n\nSee [A](a.md), [B](b.md#later).\n")
    old_site = tmp_path / "old-site"
    run_mkdocs(old_src, old_site, strict=True)
    stage = _project(tmp_path / "stage", _b("second"))
    fresh = tmp_path / "fresh"
    assert reuse_unchanged(stage, old_src, old_site, fresh) == 2  # index.md and b.md
    build_in_two(stage, fresh, strict=True, dirty=True)
    full = tmp_path / "full"
    run_mkdocs(stage, full, strict=True)
    _same_site(full, fresh)
    assert "second" in (fresh / "b" / "index.html").read_text()
