"""The tool as people install it: ``python -m build`` makes an sdist and a wheel
(built from the sdist) that hold every file of the package, and the wheel,
installed with pipx into a fresh environment outside the checkout, runs the
whole analysis in an empty folder (marked ``kernel``: it needs the tarball).

Cost: building ~6 s, installing ~15 s (dependencies from pip's cache), and one
full ``analyze`` of the offline subset (~80 s on 2 cores) plus a few queries.
"""

from __future__ import annotations

import email.parser
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from ci import unavailable

ROOT = Path(__file__).resolve().parents[1]
DIST = "linux_socket_analyzer"


def _package_files() -> set[str]:
    """The files of ``analyzer/`` that a wheel must hold: the tracked ones in a git
    checkout, else every file but caches."""
    if (ROOT / ".git").exists() and shutil.which("git"):
        run = subprocess.run(["git", "-C", str(ROOT), "ls-files", "analyzer"],
                             capture_output=True, text=True, check=True)
        return set(run.stdout.split())
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / "analyzer").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """The sdist and the wheel of this checkout, built as a packager would."""
    try:
        import build  # noqa: F401
    except ImportError:
        unavailable("the `build` package (pip install -e '.[dev]')")
    out = tmp_path_factory.mktemp("dist")
    run = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return out


def _wheel(dist: Path) -> Path:
    (wheel,) = dist.glob(f"{DIST}-*-py3-none-any.whl")
    return wheel


def test_wheel_holds_every_file_of_the_package_and_nothing_else(dist):
    names = set(zipfile.ZipFile(_wheel(dist)).namelist())
    in_package = {n for n in names if n.startswith("analyzer/")}
    assert in_package == _package_files()
    for data in ("analyzer/kernel/MANIFEST", "analyzer/site/mkdocs.yml",
                 "analyzer/site/tour.yaml", "analyzer/site/hooks/nav.py",
                 "analyzer/queries/facts.scm", "analyzer/kernel/macros.toml"):
        assert data in names, data
    assert not any("/generated/" in n or "__pycache__" in n for n in names)


def test_wheel_declares_script_python_and_licence(dist):
    wheel = zipfile.ZipFile(_wheel(dist))
    info = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    meta = email.parser.Parser().parsestr(wheel.read(info).decode())
    assert meta["Requires-Python"] == ">=3.11"
    assert meta["License-Expression"] == "MIT"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in wheel.namelist())
    scripts = wheel.read(info.replace("METADATA", "entry_points.txt")).decode()
    assert "kernel-analyzer = analyzer.cli:main" in scripts


def test_sdist_holds_the_package_data(dist):
    import tarfile

    (sdist,) = dist.glob(f"{DIST}-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert _package_files() <= names
    assert {"LICENSE", "README.md", "pyproject.toml"} <= names


# --- installed with pipx, run in an empty folder ------------------------------------------


def _snapshot(venv: Path) -> dict[str, tuple]:
    """Every file of the environment: size and mtime, and the SHA-256 of the package's own."""
    found = {}
    for p in sorted(venv.rglob("*")):
        if p.is_file() or p.is_symlink():
            st = p.lstat()
            rel = p.relative_to(venv).as_posix()
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if "/analyzer/" in rel else ""
            found[rel] = (st.st_size, st.st_mtime_ns, digest)
    return found


def _pipx_install(wheel: Path, tools: Path) -> tuple[Path, Path]:
    """Install ``wheel`` with pipx under ``tools``: (the command, its environment)."""
    try:
        import pipx  # noqa: F401
    except ImportError:
        unavailable("pipx (pip install -e '.[dev]')")
    env = {**os.environ, "PIPX_HOME": str(tools / "pipx"), "PIPX_BIN_DIR": str(tools / "bin"),
           "PIPX_MAN_DIR": str(tools / "man"), "USE_EMOJI": "0"}
    run = subprocess.run([sys.executable, "-m", "pipx", "install", str(wheel)],
                         capture_output=True, text=True, env=env, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return tools / "bin" / "kernel-analyzer", tools / "pipx" / "venvs" / "linux-socket-analyzer"


def _run(command: Path, folder: Path, *args: str, timeout: int = 60) -> str:
    env = {k: v for k, v in os.environ.items() if k != "ANALYZER_HOME"}
    run = subprocess.run([str(command), *args], cwd=folder, capture_output=True, text=True,
                         env=env, timeout=timeout)
    assert run.returncode == 0, f"{args}: {run.stdout[-2000:]}{run.stderr[-3000:]}"
    assert "Traceback" not in run.stderr
    return run.stdout


@pytest.mark.kernel
def test_installed_wheel_analyzes_an_empty_folder(dist, tmp_path):
    tarball = os.environ.get("KERNEL_TARBALL")
    if not tarball:
        unavailable("KERNEL_TARBALL (e.g. ../shared/kernel/linux-4.4.1-subset.tar.xz)")
    command, venv = _pipx_install(_wheel(dist), tmp_path / "tools")
    assert not venv.resolve().is_relative_to(ROOT)
    before = _snapshot(venv)
    folder = tmp_path / "work"
    folder.mkdir()

    out = _run(command, folder, "analyze", "-q", timeout=900)
    assert f"home     {folder.resolve()}" in out
    assert "docs" in out and "skipped" not in out
    assert "functions" in _run(command, folder, "stats")
    callers = _run(command, folder, "query", "callers", "sock_alloc_inode")
    assert "alloc_inode" in callers and "sockfs_ops" in callers
    model = _run(command, folder, "model", "socket", "AF_INET", "SOCK_STREAM", "0")
    assert "inet_create" in model and "SyS_socket returns 3" in model

    assert (folder / "build/site/index.html").is_file()
    assert sorted(p.name for p in folder.iterdir()) == ["build", "kernel-src"]
    after = _snapshot(venv)
    assert after == before, sorted(set(after.items()) ^ set(before.items()))[:10]
