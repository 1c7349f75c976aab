"""The step-through debugger of socket(AF_INET, SOCK_STREAM, 0) in a real browser
(headless chromium through check_steps.mjs, every host but 127.0.0.1 blocked):
step to the call of tcp_v4_init_sock, check the frames, a local's value and the
arrow from socket.sk to the sock; step back with the keyboard; load #step=N
directly over http and from file://.  The first paint (as the page records it)
and two screenshots go to build/screenshots/; no time is asserted."""

from __future__ import annotations

import json
import re
import subprocess
from html import unescape

import pytest
from test_site import CHROMIUM, HERE, browser_ready, served  # noqa: F401 - fixtures

from analyzer.docs.steps import slug

pytestmark = [pytest.mark.browser, pytest.mark.kernel]

TCP = "socket(AF_INET, SOCK_STREAM, 0)"


def _data(site) -> dict:
    text = (site / "generated" / "steps" / "data" / f"{slug(TCP)}.js").read_text()
    assert text.startswith("LSASteps(") and text.endswith(");\n")
    return json.loads(text[len("LSASteps("):-3])


def _stack(data: dict, upto: int) -> list[tuple[str, dict]]:
    """The frames at event ``upto`` replayed from the deltas, as steps.js does."""
    frames: list = []
    for e in data["ev"][:upto + 1]:
        frames = (frames + [None] * e[4])[:e[4]]
        for d in e[5]:
            old = frames[d[0]]
            local = {} if d[-2] or old is None else dict(old[1])
            local.update({n: v for n, v in d[-1]})
            frames[d[0]] = (data["fn"][d[1]][0], local)
    return frames


def test_debugger_steps_frames_objects_keys_and_address(browser_ready, served,  # noqa: F811
                                                        tmp_path):
    base, cfg = served
    site = cfg.build_dir / "site"
    data = _data(site)
    names = [f[0] for f in data["fn"]]
    call = next(i for i, e in enumerate(data["ev"]) if e[0] == "c"
                and names[e[1]] == "tcp_v4_init_sock")
    frames = _stack(data, call)
    labels = [o[0] for o in data["ob"]]
    sk = next((labels[o], v) for o, f, v in data["wr"] if f == "sk"
              and labels[o].endswith(".socket") and v.startswith("&"))
    shots = cfg.build_dir / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    direct = call // 2
    job = {"base": base, "file_base": site.as_uri() + "/", "chromium": CHROMIUM,
           "user_data_dir": str(tmp_path / "profile"), "path": f"generated/steps/{slug(TCP)}/",
           "step": call + 1, "direct": direct,
           "shots": [str(shots / "steps-tcp_v4_init_sock.png"), str(shots / "steps-direct.png")]}
    (tmp_path / "job.json").write_text(json.dumps(job))
    proc = subprocess.run(["node", str(HERE / "check_steps.mjs"), str(tmp_path / "job.json")],
                          capture_output=True, text=True, timeout=240, cwd=HERE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    (shots / "steps-report.json").write_text(json.dumps(report, indent=1))
    print("first paint (ms after navigation):", [p["ms"] for p in report["paints"]])
    # Material's own search does not run from file:// (it needs a web worker)
    errors = [e for e in report["errors"] if "search_index" not in e
              and not (e.startswith("file:") and "ERR_FILE_NOT_FOUND" in e)]
    assert not errors, errors
    assert not report["blocked"], report["blocked"]
    at, total = report["at"], len(data["ev"])
    assert at["count"] == f"step {call + 1} / {total}" and at["hash"] == f"#step={call + 1}"
    assert "call tcp_v4_init_sock()" in at["what"], at["what"]
    assert [f["fn"] for f in at["frames"]] == [name for name, _ in frames]
    assert [f["fn"] for f in at["frames"]][:3] == ["SyS_socket", "sock_create", "__sock_create"]
    assert at["frames"][-1]["fn"] == "tcp_v4_init_sock"
    inet_create = next(f for f in at["frames"] if f["fn"] == "inet_create")
    expected = dict(frames)["inet_create"]
    assert inet_create["locals"]["sock"] == expected["sock"]
    assert inet_create["locals"]["sock"].startswith("&socket_alloc#")
    assert inet_create["locals"]["protocol"] == expected["protocol"] == "IPPROTO_TCP (6)"
    arrow = {"from": f"{sk[0]}.sk", "to": sk[1][1:]}
    assert arrow["to"].startswith("tcp_sock#")
    assert any(a["from"] == arrow["from"] and a["to"] == arrow["to"] for a in at["arrows"]), \
        (arrow, at["arrows"])
    assert "tcp_v4_init_sock" in at["current"], at["current"]  # the call: its first line
    assert at["ran"] == 0  # none of its lines has run yet
    ops = f"{sk[0]}.ops"
    assert at["fields"][ops] == "&inet_stream_ops" and at["fields"][f"{sk[0]}.sk"] == sk[1]
    back = report["back"]
    assert back["count"] == f"step {call} / {total}" and back["hash"] == f"#step={call}"
    for d in report["direct"]:
        assert d["count"] == f"step {direct} / {total}", d
        assert d["frames"] and d["objects"] and d["ran"] > 0, d
        assert d["fields"].get(ops, "NULL") == "NULL", d["fields"]  # set later, in inet_create
    for shot in job["shots"]:
        assert (shots / shot.rsplit("/", 1)[1]).stat().st_size > 10_000


def test_tour_state_links_to_the_same_step(served):  # noqa: F811
    """inet_create's "Up to now" is taken just after `sock->ops = answer->ops;` ran
    and links to that step of the debugger."""
    _, cfg = served
    site = cfg.build_dir / "site"
    html = (site / "generated" / "tour" / "inet_create" / "index.html").read_text()
    m = re.search(r'href="\.\./\.\./steps/([\w-]+)/#step=(\d+)"', html)
    assert m and m.group(1) == slug(TCP), html[:200]
    assert (site / "generated" / "steps" / m.group(1) / "index.html").is_file()
    data = _data(site)
    ev = data["ev"][int(m.group(2)) - 1]
    names = [f[0] for f in data["fn"]]
    assert names[ev[1]] == "inet_create" and ev[0] == "l"
    prev = [e for e in data["ev"][:int(m.group(2)) - 1] if names[e[1]] == "inet_create"
            and e[0] == "l"][-1]
    src = (cfg.kernel_dir / "net/ipv4/af_inet.c").read_text().splitlines()
    assert src[prev[2][0] - 1].strip() == "sock->ops = answer->ops;"
    state = unescape(html.split('id="up-to-now"')[1])
    assert "inet_stream_ops" in state.split("unchanged since")[0]  # written since the last page
