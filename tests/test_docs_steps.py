"""The step-through debugger's data and the tour's points, on a small fake run:
a two-function trace with lines, locals, writes and objects (the shape of
analyzer.model.trace.Run), no kernel tree."""

from __future__ import annotations

import json
from types import SimpleNamespace as NS

import pytest

from analyzer.docs.steps import (
    code_script,
    data_script,
    debugger_data,
    resolve_point,
    slug,
    timeline,
    up_to_now,
)
from analyzer.docs.tour import Point, parse_point, parse_tour
from analyzer.errors import AnalyzerError


def _frame(fn, file, line, **locals_):
    return NS(function=fn, file=file, line=line,
              locals=tuple(NS(name=k, value=v) for k, v in locals_.items()))


class FakeRun:
    """f() calls g(); g allocates `thing#1` and writes two members; f writes `cfg` (a
    boot object); a static initializer (tagged 0) writes during the run."""

    def __init__(self):
        f0 = _frame("f", "a.c", 2, x="1")
        self.steps = [
            NS(n=1, event="call", function="f", file="a.c", line=1, depth=0, via=None,
               value="", note="", site=""),
            NS(n=2, event="call", function="g", file="a.c", line=10, depth=1,
               via={"expr": "ops->g", "table": "ops", "field": "g"}, value="", note="",
               site="a.c:3"),
            NS(n=3, event="stub", function="h", file="", line=0, depth=2, via=None,
               value="0", note="not defined", site="a.c:12"),
            NS(n=4, event="return", function="g", file="a.c", line=10, depth=1, via=None,
               value="&thing#1", note="", site=""),
            NS(n=5, event="return", function="f", file="a.c", line=1, depth=0, via=None,
               value="0", note="", site=""),
        ]
        g11 = _frame("g", "a.c", 11, p="&cfg")
        g12 = _frame("g", "a.c", 12, p="&cfg", t="&thing#1")
        g13 = _frame("g", "a.c", 13, p="&cfg", t="&thing#1")
        self.lines = [
            NS(after=1, function="f", file="a.c", line=2, stack=(f0,), writes=2),
            NS(after=1, function="f", file="a.c", line=3, stack=(_frame("f", "a.c", 3, x="1"),),
               writes=2),
            NS(after=2, function="g", file="a.c", line=11, stack=(_frame("f", "a.c", 3, x="1"),
                                                                 g11), writes=2),
            NS(after=2, function="g", file="a.c", line=12, stack=(_frame("f", "a.c", 3, x="1"),
                                                                 g12), writes=2),
            NS(after=3, function="g", file="a.c", line=13, stack=(_frame("f", "a.c", 3, x="1"),
                                                                 g13), writes=5),
            NS(after=4, function="f", file="a.c", line=4,
               stack=(_frame("f", "a.c", 4, x="1", r="&thing#1"),), writes=6),
        ]
        self.writes = [(0, "cfg", "mode", "0"), (0, "cfg", "n", "7"),          # boot
                       (2, "thing#1", "a", "1"), (0, "g.once", "v", "1"),      # static init
                       (2, "thing#1.in", "b", "&cfg"),
                       (3, "thing#1", "a", "2"),
                       (4, "cfg", "mode", "S_IFSOCK (49152)")]
        self.objects = [("cfg", "struct cfg", 0, (("mode", "0"), ("n", "0"))),
                        ("thing#1", "struct thing", 2, (("a", "0"), ("in", "{...}"))),
                        ("thing#1.in", "struct inner", 2, (("b", "NULL"),))]
        self.result = "0"

    def snapshot(self, n=None):
        return {"cfg": {"type": "struct cfg", "fields": [["mode", "0"], ["n", "7"]]}}


@pytest.fixture
def tl():
    return timeline(FakeRun(), "f(1)")


def test_one_event_per_trace_step_and_line(tl):
    kinds = [(e.kind, e.function, e.line) for e in tl.events]
    assert kinds == [("call", "f", 1), ("line", "f", 2), ("line", "f", 3), ("call", "g", 10),
                     ("line", "g", 11), ("line", "g", 12), ("stub", "h", 12),
                     ("line", "g", 13), ("return", "g", 13), ("line", "f", 4),
                     ("return", "f", 4)]
    call_g = tl.events[3]
    assert [f.function for f in call_g.stack] == ["f", "g"]
    assert call_g.stack[-1].locals == (("p", "&cfg"),)  # its parameters, from its first line
    assert call_g.text == "through ops->g: ops.g"
    assert tl.events[6].text == "not run: not defined; value 0"
    assert [f.function for f in tl.events[6].stack] == ["f", "g"]  # a stub: its caller's
    assert tl.events[8].text == "returns &thing#1"


def test_writes_counted_before_each_event(tl):
    assert tl.base == 2  # the boot's two writes come first
    # g's line 12 made three writes (one by a static initializer): the stub after it
    # sees them; the return of g sees t->a = 2 of line 13
    assert [e.writes for e in tl.events] == [2, 2, 2, 2, 2, 2, 5, 5, 6, 6, 7]


def test_data_is_delta_encoded(tl):
    data = debugger_data(tl)
    ev = data["ev"]
    assert len(ev) == len(tl.events)
    assert sum(e[3] for e in ev) == len(data["wr"])  # every write listed, once
    # the writes before each event, replayed, are the timeline's (those of shown objects)
    labels = [o[0] for o in data["ob"]]
    done = 0
    for e, event in zip(ev, tl.events, strict=True):
        done += e[3]
        listed = [(labels[o], f, v) for o, f, v in data["wr"][:done]]
        assert listed == [w for w in tl.writes[tl.base:event.writes] if w[0] in labels]
    fns = [f[0] for f in data["fn"]]
    # a line of the same frame sends only what changed: the line, no locals
    f3 = ev[2][5]
    assert f3 == [[0, fns.index("f"), 3, 0, []]]
    # g's second line: the new local only
    g12 = ev[5][5]
    assert g12 == [[1, fns.index("g"), 12, 0, [["t", "&thing#1"]]]]
    # the call starts a frame afresh with the parameters
    assert ev[3][5] == [[1, fns.index("g"), 10, 1, [["p", "&cfg"]]]]
    assert ev[3][0] == "c" and ev[8][0] == "r" and ev[6][0] == "s"


def test_objects_and_writes(tl):
    data = debugger_data(tl)
    labels = [o[0] for o in data["ob"]]
    assert {"thing#1", "thing#1.in", "cfg"} <= set(labels)
    cfg = data["ob"][labels.index("cfg")]
    assert cfg[4] == {"mode": "0"}  # the boot's value of what the run writes
    thing = data["ob"][labels.index("thing#1")]
    assert thing[1] == "struct thing" and data["ty"][thing[2]] == [
        "struct thing", [["a", "0"], ["in", "{...}"]]]
    assert thing[3] == 5  # drawn from g's line 12, where a local first points at it
    writes = [(labels[o], f, v) for o, f, v in data["wr"]]
    assert ("thing#1.in", "b", "&cfg") in writes and ("cfg", "mode", "S_IFSOCK (49152)") in writes
    assert "g.once" not in labels  # a static initializer's object is not the run's


def test_data_script_round_trip(tl):
    data = debugger_data(tl, code={"g": ("a.c", 10, "<div>g</div>")}, links={"cfg": "x/"})
    text = data_script(data)
    assert text.startswith("LSASteps(") and text.endswith(");\n")
    back = json.loads(text[len("LSASteps("):-3])
    assert back == dict(data, fn=[[*f[:3], ""] for f in data["fn"]])  # the code comes apart
    assert ["g", "a.c", 10, ""] in back["fn"]
    code = code_script(data)
    assert code.startswith("LSAStepsCode(") and code.endswith(");\n")
    html = json.loads(code[len("LSAStepsCode("):-3])
    assert html[[f[0] for f in data["fn"]].index("g")] == "<div>g</div>"


def test_points(tl):
    lines = {"g": (10, ["int g(struct cfg *p) {", "  struct thing *t;", "  t = alloc();",
                        "  t->a = 2;", "}"])}
    assert resolve_point(tl, Point("call", "g", "f")) == 3
    assert resolve_point(tl, Point("call", "g", "nobody")) is None
    assert resolve_point(tl, Point("return", "g", "f")) == 9  # the event after the return
    at = resolve_point(tl, Point("line", "g", "g", "t = alloc();"), lines.get)
    assert at == 6  # after line 12 ran: the next event of that frame or above (the stub)


def test_up_to_now_shows_each_write_since_the_previous_point(tl):
    text = up_to_now(tl, 9, 3, "after g returns", "../../steps/f-1/")
    assert 'href="../../steps/f-1/#step=10"' in text
    assert "Written since the previous page" in text
    assert "thing&#35;1" in text and "S&#95;IFSOCK" not in text.split("??? note")[0]
    first = up_to_now(tl, 10, 9, "at the end", "x/")
    assert "S&#95;IFSOCK &#40;49152&#41;" in first  # cfg.mode, written in f after g returned
    assert '??? note "3 fields written before, unchanged since"' in first


def test_slug_and_point_syntax():
    assert slug("socket(AF_UNIX, SOCK_STREAM, 0)") == "socket-af_unix-sock_stream-0"
    assert parse_point("at the call of tcp_v4_init_sock") == Point("call", "tcp_v4_init_sock")
    with pytest.raises(AnalyzerError, match="tour.yaml: p.point: point 'when it ends'"):
        parse_point("when it ends", "tour.yaml: p.point")
    tour = parse_tour({"pages": [{"id": "a", "point": "after f returns inside g"}]})
    assert tour.pages[0].point == Point("return", "f", "g")
    with pytest.raises(AnalyzerError, match=r"pages\[0\] \(a\)\.point"):
        parse_tour({"pages": [{"id": "a", "point": "after f"}]})
