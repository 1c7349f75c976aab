"""Serve the built documentation site on this machine.

Takes the site that ``kernel-analyzer docs`` (or ``analyze``) built into
``build/site/`` and serves it as static files with Python's ``http.server``, on
127.0.0.1 by default: nothing is rebuilt, and a site rebuilt while the server
runs is served at the next reload.  ``kernel-analyzer serve`` calls :func:`serve`.
"""

from __future__ import annotations

import functools
import socket
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from analyzer.config import Config
from analyzer.errors import AnalyzerError

__all__ = ["make_server", "serve", "DEFAULT_PORT"]

DEFAULT_PORT = 8000


class _Handler(SimpleHTTPRequestHandler):
    """Static files; the request log goes to stderr unless ``quiet``."""

    quiet = False

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base's name
        if not self.quiet:
            super().log_message(format, *args)


class _Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _require_site(site: Path) -> None:
    if not (site / "index.html").is_file():
        raise AnalyzerError(f"no site at {site}: build it first with `kernel-analyzer analyze` "
                            "(or `kernel-analyzer docs` after an analysis)")


def make_server(cfg: Config, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                quiet: bool = False) -> ThreadingHTTPServer:
    """A server of ``cfg.site_out_dir`` bound to ``host:port`` (port 0: any free
    port, see ``server.server_address``), not yet serving."""
    site = cfg.site_out_dir
    _require_site(site)
    handler = functools.partial(type("Handler", (_Handler,), {"quiet": quiet}),
                                directory=str(site))
    try:
        return (_Server6 if ":" in host else ThreadingHTTPServer)((host, port), handler)
    except OSError as e:
        raise AnalyzerError(f"cannot listen on {host}:{port}: {e.strerror or e}; "
                            "choose another port with --port") from None


def serve(cfg: Config, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
          quiet: bool = False) -> None:
    """Serve the site until interrupted (Ctrl-C)."""
    with make_server(cfg, host, port, quiet) as server:
        bound_port = server.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        print(f"serving {cfg.site_out_dir} on http://{shown}:{bound_port}/ "
              "(Ctrl-C stops)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
