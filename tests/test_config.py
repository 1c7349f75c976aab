"""Tests of analyzer.config: where the project home is (``--home`` >
``$ANALYZER_HOME`` > the current folder) and that what the tool reads ships in
the package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from analyzer.config import Config


def test_home_is_the_current_folder_without_analyzer_home(tmp_path, monkeypatch):
    monkeypatch.delenv("ANALYZER_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    cfg = Config.default()
    assert cfg.home == tmp_path.resolve()
    assert cfg.kernel_dir == tmp_path.resolve() / "kernel-src/linux-4.4.1"
    assert cfg.store_path == tmp_path.resolve() / "build/analysis.sqlite"
    assert cfg.site_src_dir == tmp_path.resolve() / "build/site-src"
    assert cfg.site_out_dir == tmp_path.resolve() / "build/site"


def test_analyzer_home_wins_over_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("ANALYZER_HOME", str(tmp_path / "elsewhere"))
    monkeypatch.chdir(tmp_path)
    assert Config.default().home == (tmp_path / "elsewhere").resolve()


def test_the_package_data_is_read_from_the_package():
    cfg = Config(Path("/nonexistent"))
    package = Path(__import__("analyzer").__file__).resolve().parent
    assert cfg.manifest == package / "kernel" / "MANIFEST" and cfg.manifest.is_file()
    assert cfg.site_dir == package / "site"
    assert (cfg.site_dir / "mkdocs.yml").is_file() and (cfg.site_dir / "tour.yaml").is_file()


def _where(tmp_path: Path, *args: str, env_home: str | None) -> str:
    """The ``home`` line of ``analyze`` with a tarball that does not exist."""
    env = {k: v for k, v in os.environ.items() if k != "ANALYZER_HOME"}
    if env_home:
        env["ANALYZER_HOME"] = env_home
    run = subprocess.run([sys.executable, "-m", "analyzer", *args, "analyze", "-q",
                          str(tmp_path / "none.tar.xz")], cwd=tmp_path / "cwd",
                         capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert "none.tar.xz" in run.stderr  # the tarball argument reached fetch
    return run.stdout.splitlines()[0].split()[1]


def test_home_precedence_on_the_command_line(tmp_path):
    (tmp_path / "cwd").mkdir()
    env_home, flag_home = str(tmp_path / "env"), str(tmp_path / "flag")
    assert _where(tmp_path, env_home=None) == str(tmp_path / "cwd")
    assert _where(tmp_path, env_home=env_home) == env_home
    assert _where(tmp_path, "--home", flag_home, env_home=env_home) == flag_home
