"""The built site in a real browser: headless Debian chromium driven by
playwright-core (tests/browser/check_site.mjs), served from 127.0.0.1 with every
other host blocked.  Saves screenshots under build/screenshots/."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from ci import unavailable

from analyzer.docs import build_site
from analyzer.docs.facts import StoreFacts
from analyzer.docs.pages import Site, _span
from analyzer.docs.tour import load_tour

pytestmark = [pytest.mark.browser, pytest.mark.kernel]

HERE = Path(__file__).resolve().parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _ready() -> bool:
    return (Path(CHROMIUM).is_file() and shutil.which("node") is not None
            and (HERE / "node_modules/playwright-core/package.json").is_file())


@pytest.fixture(scope="module")
def browser_ready():
    if not _ready():
        subprocess.run(["bash", str(HERE / "install.sh")], check=False, timeout=900)
    if not _ready():
        unavailable("chromium, node or playwright-core missing: run tests/browser/install.sh")


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def served(graph_cfg):
    """The site built from the real analysis, served on 127.0.0.1."""
    report = build_site(graph_cfg, strict=True, progress=False)
    handler = functools.partial(_Quiet, directory=str(report.site_dir))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", graph_cfg
    server.shutdown()
    server.server_close()


def _expected_first_lines(cfg, page_id: str) -> list[int]:
    """The first line of each excerpt of a tour page, from the analysis records."""
    from analyzer.store import Store

    tour = load_tour(cfg.site_dir / "tour.yaml")
    with Store.open(cfg.store_path) as store:
        site = Site(tour, StoreFacts(store, cfg.kernel_dir))
        spans = [_span(site, s) for s in tour.page(page_id).show]
    return [s[2] for s in spans if s]


TOUR_PAGES = ["socket-and-inet", "struct-socket", "sock-hierarchy", "call-chain",
              "sock_alloc_inode", "which-function-runs", "inet_create", "sock_alloc_file"]
SHOTS = {"sock_alloc_inode", "sock-hierarchy"}


def test_site_in_headless_chromium(browser_ready, served, tmp_path):
    base, cfg = served
    shots = cfg.build_dir / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    job = {"base": base, "search": "inet_create", "chromium": CHROMIUM,
           "user_data_dir": str(tmp_path / "profile"),
           "search_shot": str(shots / "search.png"),
           "pages": [{"path": f"generated/tour/{p}/",
                      **({"shot": str(shots / f"{p}.png")} if p in SHOTS else {})}
                     for p in TOUR_PAGES]}
    (tmp_path / "job.json").write_text(json.dumps(job))
    proc = subprocess.run(["node", str(HERE / "check_site.mjs"), str(tmp_path / "job.json")],
                          capture_output=True, text=True, timeout=240, cwd=HERE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert not report["errors"], report["errors"]
    assert not report["blocked"], report["blocked"]
    pages = {p["path"].split("/")[2]: p for p in report["pages"]}
    for pid, page in pages.items():
        assert page["status"] == 200 and page["title"], page
        assert not page["errors"], (pid, page["errors"])
        assert page["scripts"] == 0, pid  # nothing from the source became a script
        assert not page["brokenSvgLinks"], (pid, page["brokenSvgLinks"])
    for pid in ("sock_alloc_inode", "inet_create", "which-function-runs", "struct-socket"):
        expected = _expected_first_lines(cfg, pid)
        assert pages[pid]["firstLines"][:len(expected)] == expected, pid
        focus = any(s.focus for s in load_tour(cfg.site_dir / "tour.yaml").page(pid).show)
        assert (pages[pid]["highlighted"] > 0) == focus, pid  # the lecture's focus lines
    assert pages["sock_alloc_inode"]["firstLines"][0] == 245
    assert pages["inet_create"]["firstLines"][0] == 249
    assert pages["which-function-runs"]["firstLines"][1] == 2480
    for pid, kind in (("sock-hierarchy", "nested"), ("call-chain", "call-tree"),
                      ("sock_alloc_inode", "record"), ("sock_alloc_file", "objects")):
        drawn = [d for d in pages[pid]["diagrams"] if kind in d["cls"]]
        assert drawn and drawn[0]["nodes"] >= 3 and drawn[0]["width"] > 50, (pid, drawn)
    assert any("inet_create" in r for r in report["search"]), report["search"]
    for name in SHOTS:
        assert (shots / f"{name}.png").stat().st_size > 10_000


def test_code_browser_cards_offline(browser_ready, served, tmp_path):
    """Pointing at a name shows its card, over http and from file:// with no
    network; the card page shows any card; exact names rank their page first."""
    base, cfg = served
    shots = cfg.build_dir / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    site = cfg.build_dir / "site"
    job = {"base": base, "file_base": site.as_uri() + "/", "chromium": CHROMIUM,
           "user_data_dir": str(tmp_path / "profile"), "shot_dir": str(shots),
           "hovers": [
               {"path": "generated/tour/inet_create/index.html",
                "selector": 'a[data-s$=":sk->sk_prot->init"]'},
               {"path": "generated/tour/sock_alloc_inode/index.html",
                "selector": '[data-s="k:SS_UNCONNECTED"]'},
               {"path": "generated/tour/sk_alloc/index.html",
                "selector": '[data-s="m:sock_common.skc_family"]'}],
           "symbol": {"path": "generated/ref/symbol/", "id": "f:sock_alloc@net/socket.c"},
           "searches": ["struct sock", "sock_alloc", "socketcall"]}
    (tmp_path / "job.json").write_text(json.dumps(job))
    proc = subprocess.run(["node", str(HERE / "check_codebrowser.mjs"), str(tmp_path / "job.json")],
                          capture_output=True, text=True, timeout=240, cwd=HERE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    # Material's own search does not run from file:// (it needs a web worker)
    errors = [e for e in report["errors"] if "search_index" not in e
              and not (e.startswith("file:") and "ERR_FILE_NOT_FOUND" in e)]
    assert not errors, errors
    assert not report["blocked"], report["blocked"]
    icall, const, alias = (report["hovers"][i:i + 2] for i in (0, 2, 4))
    for h in icall:
        assert "INDIRECT CALL" in h["text"].upper() and "tcp_v4_init_sock" in h["text"], h
        assert "taken in socket(AF_INET, SOCK_STREAM, 0)" in h["text"], h
        assert h["hidden"], h  # Escape closes the card
    assert icall[0]["href"].endswith("tcp_v4_init_sock/")
    for h in const:
        assert "SS_UNCONNECTED = 1" in h["text"], h
    for h in alias:
        assert "sk_family: #define sk_family __sk_common.skc_family" in h["text"], h
    assert "sock_alloc" in report["symbol"] and "net/socket.c" in report["symbol"]
    first = {s["query"]: s["first"][0] for s in report["searches"]}
    assert first["struct sock"].endswith("/generated/ref/structs/sock/"), first
    assert first["sock_alloc"].rstrip("/").endswith("/sock_alloc"), first
    assert first["socketcall"].endswith("/generated/tour/call-chain/"), first
    assert (shots / "card.png").stat().st_size > 10_000
