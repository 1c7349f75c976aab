"""The socket-buffer pages in a real browser, with the same harness as
test_site.py (headless chromium through check_site.mjs, every host but
127.0.0.1 blocked): the pages load without errors or scripts, the code blocks
start at the lines the analysis gives, the buffer and queue diagrams are drawn."""

from __future__ import annotations

import functools
import json
import subprocess
import threading
from http.server import ThreadingHTTPServer

import pytest
from test_site import CHROMIUM, HERE, _Quiet, browser_ready  # noqa: F401 - fixture

from analyzer.docs import build_site
from analyzer.docs.skb import load_skb_tour

pytestmark = [pytest.mark.browser, pytest.mark.kernel]


def _first_lines(cfg, names) -> list[int]:
    from analyzer.docs.facts import StoreFacts
    from analyzer.store import Store

    with Store.open(cfg.store_path) as store:
        facts = StoreFacts(store, cfg.kernel_dir)
        return [facts.function(n).line for n in names]


@pytest.fixture(scope="module")
def served_skb(store_cfg):
    """The site built strictly from the store (the skb pages need no call graph)."""
    report = build_site(store_cfg, strict=True, progress=False)
    handler = functools.partial(_Quiet, directory=str(report.site_dir))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", store_cfg
    server.shutdown()
    server.server_close()


def test_skb_pages_in_headless_chromium(browser_ready, served_skb, tmp_path):  # noqa: F811
    base, cfg = served_skb
    tour = load_skb_tour(cfg.site_dir / "skb.yaml")
    shots = cfg.build_dir / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    job = {"base": base, "search": "skb_put", "chromium": CHROMIUM,
           "user_data_dir": str(tmp_path / "profile"),
           "search_shot": str(shots / "search-skb.png"),
           "pages": [{"path": f"generated/skb/{p.id}/", "shot": str(shots / f"skb-{p.id}.png")}
                     for p in tour.pages]}
    (tmp_path / "job.json").write_text(json.dumps(job))
    proc = subprocess.run(["node", str(HERE / "check_site.mjs"), str(tmp_path / "job.json")],
                          capture_output=True, text=True, timeout=240, cwd=HERE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert not report["errors"] and not report["blocked"], report
    pages = {p["path"].split("/")[2]: p for p in report["pages"]}
    for p in tour.pages:
        page = pages[p.id]
        assert page["status"] == 200 and page["title"] == p.title, page
        assert not page["errors"] and page["scripts"] == 0, (p.id, page["errors"])
        if p.kind == "functions":
            assert page["firstLines"][:len(p.functions)] == _first_lines(cfg, p.functions)
    for pid, kind, least in (("data-area", "skb-buffer", 6), ("alloc-free", "skb-buffer", 1),
                             ("socket-and-buffers", "skb-queues", 4)):
        drawn = [d for d in pages[pid]["diagrams"] if kind in d["cls"]]
        assert len(drawn) >= least and all(d["nodes"] >= 1 and d["width"] > 300
                                           for d in drawn), (pid, drawn)
    # one box per queue head and per queued buffer, at the scenario's fullest moment
    from analyzer.model.skb import run_skb

    run = run_skb(list(tour.scenarios["socket"]), cfg, write=False)
    fullest = max(len(op.queues) + sum(len(q) for _, q in op.queues) for op in run.ops[1:])
    assert max(d["nodes"] for d in pages["socket-and-buffers"]["diagrams"]) == fullest
    assert any("skb_put" in r for r in report["search"]), report["search"]
