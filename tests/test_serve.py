"""Tests of analyzer.serve: the built site over HTTP on 127.0.0.1, and clear
errors when there is no site or the port is taken."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from analyzer.config import Config
from analyzer.errors import AnalyzerError
from analyzer.serve import make_server


@pytest.fixture
def built(tmp_path: Path) -> Config:
    """A home whose build/site holds a tiny site."""
    cfg = Config(tmp_path)
    (cfg.site_out_dir / "generated").mkdir(parents=True)
    (cfg.site_out_dir / "index.html").write_text("<h1>tour</h1>")
    (cfg.site_out_dir / "generated/index.html").write_text("<h1>page</h1>")
    return cfg


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""


def test_serves_the_built_site_on_loopback(built):
    with make_server(built, port=0, quiet=True) as server:
        host, port = server.server_address[:2]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            assert host == "127.0.0.1"
            assert _get(port, "/") == (200, "<h1>tour</h1>")
            assert _get(port, "/generated/") == (200, "<h1>page</h1>")
            assert _get(port, "/../../etc/passwd")[0] == 404
        finally:
            server.shutdown()
            thread.join(10)


def test_no_site_is_a_clear_error(tmp_path):
    with pytest.raises(AnalyzerError, match=r"no site at .*build/site: .*kernel-analyzer analyze"):
        make_server(Config(tmp_path), port=0)


def test_a_taken_port_is_a_clear_error(built):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(AnalyzerError, match=f"cannot listen on 127.0.0.1:{port}.*--port"):
            make_server(built, port=port)


def test_cli_serve_without_a_site_is_one_line(tmp_path):
    run = subprocess.run([sys.executable, "-m", "analyzer", "--home", str(tmp_path), "serve"],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "ANALYZER_HOME": ""})
    assert run.returncode == 2
    assert run.stderr.startswith("error: no site at") and "Traceback" not in run.stderr
    assert not (tmp_path / "build").exists()
