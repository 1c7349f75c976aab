"""``python -m analyzer stats``: figures from the store (and the graph)."""

from __future__ import annotations

import pytest
import standin_extract
from test_pipeline import FILES, make_tree

from analyzer import pipeline, stats
from analyzer.cli import main
from analyzer.errors import AnalyzerError


@pytest.fixture
def small_store(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "_extractor", lambda: standin_extract.extract_file)
    cfg = make_tree(tmp_path, {**FILES, "net/bad.c": "int f( { WARNME }\n",
                               "fs/worse.c": "int g( { WARNME }\n"})
    pipeline.extract_tree(cfg, jobs=1, progress=False)
    return cfg


def test_collect_counts_files_errors_records_warnings(small_store):
    data = stats.collect(small_store)
    assert data["files"] == 6
    assert data["error_files"] == 2 and data["error_files_share"] == round(2 / 6, 4)
    assert 0 < data["error_bytes_share"] < 1
    assert data["records"]["functions"] == 3  # the two broken files define nothing whole
    assert data["warnings"] == {"standin": {"count": 2, "examples": ["standin: note"] * 2}}
    assert data["resolution"] is None  # no graph built


def test_render_shows_every_figure(small_store):
    text = stats.render(stats.collect(small_store))
    for part in ("files       6", "2 files with ERROR nodes", "functions", "standin",
                 "no call graph yet"):
        assert part in text


def test_warning_kinds_group_by_message():
    assert stats.warning_kind("a.c", "a.c: 900 bytes, over the 8-byte limit") == "N bytes"
    assert stats.warning_kind("a.c", "a.c: empty file") == "empty file"


def test_without_a_store_the_cli_says_run_make_analyze(tmp_path, capsys):
    assert main(["--home", str(tmp_path), "stats"]) == 2
    assert "run `kernel-analyzer analyze`" in capsys.readouterr().err
    with pytest.raises(AnalyzerError):
        stats.collect(make_tree(tmp_path, {}))


@pytest.mark.kernel
def test_stats_of_the_real_tree(store_cfg):
    data = stats.collect(store_cfg)
    assert data["files"] > 7000 and data["bytes"] > 70_000_000
    assert 0 < data["error_files_share"] < 0.6
    assert data["records"]["functions"] > 60_000
