"""Tests of the Makefile's recipes, by dry run (``make -n``): what the README promises
about `make clean`, `make test` and the venv set-up."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _dry(*args: str) -> str:
    run = subprocess.run(["make", "-n", "-C", str(ROOT), *args], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_clean_removes_the_fetched_tree_but_not_the_manifest():
    out = _dry("clean")
    assert "kernel-src/linux-4.4.1" in out and "build" in out
    assert "MANIFEST" not in out


def test_test_installs_browser_deps_then_runs_pytest():
    out = _dry("-W", "pyproject.toml", "test")  # as if pyproject.toml had changed
    assert "pip install" in out and "-e '.[dev]'" in out
    assert out.index("tests/browser/install.sh") < out.index(".venv/bin/pytest")


def test_analyze_runs_the_pipeline_with_the_venv_python():
    assert ".venv/bin/python -m analyzer analyze" in _dry("analyze")


def test_serve_serves_the_built_site_with_the_venv_python():
    out = _dry("serve")
    assert out.index("-m analyzer analyze") < out.index(".venv/bin/python -m analyzer serve")
