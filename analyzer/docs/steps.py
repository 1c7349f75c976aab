"""The step-through debugger: one timeline per scenario, its data file and pages,
and the tour's "Up to now" tables taken at the lecture's own points.

Takes the model's :class:`~analyzer.model.trace.Run` (its trace ``steps``, the
C ``lines`` it executed with the stack and each frame's locals, the ``writes``
and the ``objects`` it made) and gives a :class:`Timeline`: one
:class:`Event` per traced event (a C line reached, a call, a return, a stub,
an assumption), each with the stack as it is then and the number of writes
made before it.  From a timeline it produces

- the debugger's data (:func:`debugger_data`): plain JSON, delta-encoded (each
  event carries only the frames that changed and the count of new writes),
  written as ``generated/steps/data/<slug>.js`` (a script that hands the JSON
  to ``javascripts/steps.js``, so the page works from ``file://``) and the
  functions' linked code as ``<slug>.code.js``, read after the first step is drawn;
- the debugger pages ``generated/steps/<slug>.md`` (:func:`add_steps_section`);
- the tour's state tables (:func:`up_to_now`) at a :class:`~analyzer.docs.tour.Point`
  resolved to an event (:func:`resolve_point`), with every write since the
  previous page's point and a link to the same step of the debugger.
"""

from __future__ import annotations

import bisect
import inspect
import itertools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from analyzer.docs.codeview import Excerpt
from analyzer.docs.render import admonition, code, esc, object_root, table
from analyzer.docs.tour import Point, find_line

__all__ = ["Frame", "Event", "Timeline", "timeline", "timeline_of", "slug", "resolve_point",
           "debugger_data", "data_script", "code_script", "add_steps_section", "up_to_now",
           "ROOT"]

ROOT = "generated/steps"
KINDS = {"line": "l", "call": "c", "return": "r", "stub": "s", "assume": "a"}


@dataclass(frozen=True)
class Frame:
    """A C function on the stack: where it is and its locals (name, value shown)."""

    function: str
    file: str
    line: int
    locals: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Event:
    """One step of the debugger.

    ``kind``: ``line`` (the run reached ``file:line`` of ``function``),
    ``call`` / ``return`` / ``stub`` / ``assume`` (the trace's events;
    ``function`` is the one called, returning or stubbed); ``stack`` is
    outermost first; ``writes`` counts the run's writes (``Run.writes``) made
    before the event; ``step`` is the trace's step number (the last one before
    a line); ``text`` says what happened (the dispatch of a call, the value
    returned, a stub's note)."""

    kind: str
    function: str
    file: str
    line: int
    stack: tuple[Frame, ...]
    writes: int
    step: int
    text: str = ""


@dataclass(frozen=True)
class Timeline:
    """A run as debugger events, with its writes ``(object, field, value)``
    (``Run.writes`` in order, the boot's first: ``base`` of them)."""

    label: str
    events: tuple[Event, ...]
    writes: tuple[tuple[str, str, str], ...]
    base: int
    objects: dict[str, tuple[str, int]]  # label -> (type, created at trace step)
    fields: dict[str, tuple[tuple[str, str], ...]]  # label -> (member, zero value) in order
    boot: dict[str, dict[str, str]]  # boot objects the run writes: label -> field -> value
    result: str = ""
    tags: tuple[int, ...] = ()  # the trace step of each write (0: boot or a static initializer)


def _get(obj, name: str, default=None):
    return obj.get(name, default) if isinstance(obj, dict) else getattr(obj, name, default)


def slug(label: str) -> str:
    """The URL name of a scenario.

    >>> slug("socket(AF_INET, SOCK_STREAM, 0)")
    'socket-af_inet-sock_stream-0'
    """
    return re.sub(r"[^a-z0-9_]+", "-", label.lower()).strip("-") or "run"


def _once(seen: dict, item, convert: Callable):
    """``convert(item)``, made once per object: the model shares its frame views
    between line events and its member lists between objects of a layout.
    ``seen`` maps an identity to (the object, kept so that the identity stays
    its own, the converted value)."""
    hit = seen.get(id(item))
    if hit is None or hit[0] is not item:
        hit = seen[id(item)] = (item, convert(item))
    return hit[1]


def _frames(stack, seen: dict | None = None) -> tuple[Frame, ...]:
    """The frames of a line event's stack (``seen``: see :func:`_once`)."""
    seen = {} if seen is None else seen
    return tuple(_once(seen, f, _frame) for f in stack)


def _frame(f) -> Frame:
    return Frame(str(_get(f, "function")), str(_get(f, "file") or ""), int(_get(f, "line") or 0),
                 tuple((str(_get(v, "name")), str(_get(v, "value")))
                       for v in _get(f, "locals") or ()))


def _via_text(via) -> str:
    if not isinstance(via, dict):
        return ""
    table_ = via.get("table", "")
    return f"through {via.get('expr', '')}" + (
        f": {table_}.{via.get('field', '')}" if table_ else "")


def _step_text(s) -> str:
    event, value = _get(s, "event"), str(_get(s, "value", "") or "")
    if event == "call":
        return _via_text(_get(s, "via"))
    if event == "return":
        return f"returns {value}" if value else "returns"
    note = str(_get(s, "note", "") or "")
    if event == "stub":
        return (f"not run: {note}" if note else "not run") + (f"; value {value}" if value
                                                              else "")
    return note


def timeline(run, label: str = "") -> Timeline:
    """The debugger's events of ``run`` (a model ``Run``: ``steps``, ``lines``,
    ``writes``, ``objects``): each trace step, then the lines reached after it."""
    steps = list(_get(run, "steps", []) or [])
    lines = list(_get(run, "lines", []) or [])
    writes = [tuple(w) for w in _get(run, "writes", []) or []]
    tags = [int(w[0]) for w in writes]
    by_step: dict[int, list] = {}
    for e in lines:
        by_step.setdefault(int(_get(e, "after")), []).append(e)
    numbered = {int(_get(s, "n")): s for s in steps}
    order = sorted({*numbered, *by_step})  # lines reached before the first step: k = 0
    bound = _line_counts(order, by_step, len(writes))
    events: list[Event] = []
    stack: tuple[Frame, ...] = ()
    seen: dict = {}
    done = 0  # writes made before the last event
    for k in order:
        s = numbered.get(k)
        if s is not None:
            done = _scan(tags, done, bound[k], k)
            ev = _trace_event(s, stack, by_step.get(k, []), done, seen)
            events.append(ev)
            stack = ev.stack if ev.kind != "return" else ev.stack[:-1]
        for e in by_step.get(k, []):
            w = int(_get(e, "writes", -1))
            done = w if w >= done else _scan(tags, done, len(tags), k)
            stack = _frames(_get(e, "stack"), seen)
            events.append(Event("line", str(_get(e, "function")), str(_get(e, "file")),
                                int(_get(e, "line")), stack, done, k))
    base = events[0].writes if events else len(writes)
    objects, fields = _objects(run)
    written = {w[1] for w in writes[base:] if int(w[0]) > 0}
    boot = {}
    if written:
        before = _boot_objects(run, written)
        for lab in sorted(written):
            if lab in before and objects.get(lab, ("", 0))[1] == 0:
                boot[lab] = {str(f): str(v) for f, v in before[lab].get("fields", [])}
    return Timeline(label, tuple(events), tuple((str(o), str(f), str(v)) for _, o, f, v in
                                                writes), base, objects, fields, boot,
                    str(_get(run, "result", "") or ""), tuple(tags))


def _boot_objects(run, labels: set[str]) -> dict[str, dict]:
    """The objects of ``labels`` as the run's snapshot has them at step 0 (its
    boot's and static ones), without the boot's many others when the run can
    leave them out (a model ``Run``); every object otherwise."""
    snapshot = getattr(run, "snapshot", None)
    if not callable(snapshot):
        return {}
    if "own" in inspect.signature(snapshot).parameters:
        return snapshot(0, own=True, also=labels)
    return snapshot(0)  # a snapshot of plain data


def _line_counts(order: list[int], by_step: dict, total: int) -> dict[int, int]:
    """For each trace step, the writes counted at the first line reached after it
    (the most writes it can have before it); ``total`` when no line says."""
    out, nxt = {}, total
    for k in reversed(order):
        counts = [int(_get(e, "writes", -1)) for e in by_step.get(k, [])]
        if counts and counts[0] >= 0:
            nxt = counts[0]
        out[k] = nxt
    return out


def _scan(tags: list[int], lo: int, hi: int, k: int) -> int:
    """The writes made before trace step ``k``: from ``lo`` on, up to the first
    one tagged ``k`` or later (a static initializer's, tagged 0, counts as made)."""
    j = lo
    while j < hi and tags[j] < k:
        j += 1
    return max(j, lo)


def _objects(run) -> tuple[dict, dict]:
    objects, fields = {}, {}
    seen: dict = {}
    for item in _get(run, "objects", []) or []:
        lab, kind, created, specs = (tuple(item) + ((),))[:4]
        objects[str(lab)] = (str(kind), int(created))
        fields[str(lab)] = _once(seen, specs, lambda sp: tuple((str(n), str(v)) for n, v in sp))
    return objects, fields


def _trace_event(s, stack: tuple[Frame, ...], after: list, writes: int,
                 seen: dict | None = None) -> Event:
    """A call, return, stub or assumption of the trace, with the stack it sees
    (``seen``: the frames already converted, see :func:`_once`)."""
    event, fn = str(_get(s, "event")), str(_get(s, "function"))
    depth, n = int(_get(s, "depth") or 0), int(_get(s, "n"))
    file, line = str(_get(s, "file") or ""), int(_get(s, "line") or 0)
    if event == "call":
        first = _frames(_get(after[0], "stack"), seen) if after else ()
        params = first[-1].locals if len(first) == depth + 1 and first[-1].function == fn \
            else ()
        frames = stack[:depth] + (Frame(fn, file, line, params),)
        return Event("call", fn, file, line, frames, writes, n, _step_text(s))
    if event == "return":
        frames = stack[:depth + 1]
        if frames and frames[-1].function == fn:
            line = frames[-1].line
        return Event("return", fn, file, line, frames, writes, n, _step_text(s))
    frames = stack[:depth] if event == "stub" else stack
    top = frames[-1] if frames else Frame(fn, file, line)
    site = str(_get(s, "site") or "")
    where = site.rsplit(":", 1) if event == "stub" and ":" in site else (top.file, top.line)
    return Event(event, fn if event == "stub" else top.function, where[0], int(where[1] or 0),
                 frames, writes, n, _step_text(s))


def timeline_of(view) -> Timeline | None:
    """The timeline of a docs :class:`~analyzer.docs.facts.RunView` whose model run
    is kept (``view.raw``), built once; None without a run or its lines."""
    if view is None or getattr(view, "raw", None) is None:
        return None
    found = getattr(view, "_timeline", None)
    if found is None:
        found = timeline(view.raw, view.label)
        view._timeline = found
    return found


# --- resolving the lecture's points -----------------------------------------------------


def _parents(tl: Timeline) -> list[str]:
    """The caller of each event's function (calls, returns, stubs), "" at the top."""
    out = []
    for ev in tl.events:
        names = [f.function for f in ev.stack]
        if ev.kind in ("call", "return"):
            out.append(names[-2] if len(names) > 1 else "")
        elif ev.kind == "stub":
            out.append(names[-1] if names else "")
        else:
            out.append("")
    return out


def resolve_point(tl: Timeline, point: Point, lines_of=None) -> int | None:
    """The index of the event at ``point``: the call itself (``call``), the event
    after the function's return (``return``), the event after the line with
    ``point.text`` ran in ``point.inside`` (``line``; ``lines_of(function)``
    gives ``(first line, source lines)`` of a function)."""
    parents = _parents(tl)
    evs = tl.events
    if point.kind in ("call", "return"):
        for i, ev in enumerate(evs):
            if ev.kind == point.kind and ev.function == point.function and (
                    not point.inside or parents[i] == point.inside):
                return i if point.kind == "call" else min(i + 1, len(evs) - 1)
        return None
    found = lines_of(point.inside) if lines_of else None
    if not found:
        return None
    first, src = found
    line = find_line(list(src), first, point.text)
    for i, ev in enumerate(evs):
        if ev.kind == "line" and ev.function == point.inside and ev.line == line:
            depth = len(ev.stack)
            for j in range(i + 1, len(evs)):
                nxt = evs[j]
                if len(nxt.stack) <= depth and (nxt.kind != "line" or nxt.line != line):
                    return j
            return len(evs) - 1
    return None


# --- the debugger's data ----------------------------------------------------------------


def _run_writes(tl: Timeline) -> list[tuple[str, str, str]]:
    """The writes the run's code made (not a static initializer's, tagged 0)."""
    return [w for w, t in zip(tl.writes[tl.base:], tl.tags[tl.base:] or (1,) * len(tl.writes),
                              strict=False) if t > 0]


def _shown_objects(tl: Timeline) -> list[str]:
    """The objects the debugger draws: those the run made and the boot's objects
    it wrote, each with its members (the boot's: only those written)."""
    run_writes = _run_writes(tl)
    roots = {lab for lab, (_, c) in tl.objects.items() if c > 0 and object_root(lab) == lab}
    roots |= {object_root(o) for o, _, _ in run_writes}
    out = [lab for lab, (_, c) in tl.objects.items() if object_root(lab) in roots and (
        c > 0 or lab in tl.boot or lab == object_root(lab))]
    written = {o for o, _, _ in run_writes}
    for lab in sorted(written - set(out)):
        out.append(lab)
    for lab in sorted(written):  # the path from a boot root to a written member
        parts = re.findall(r"\.[^.\[]+|\[[^\]]*\]", lab[len(object_root(lab)):])
        cur = object_root(lab)
        for p in parts:
            cur += p
            if cur not in out and cur in tl.objects:
                out.append(cur)
    return list(dict.fromkeys(out))


def _appear(tl: Timeline, labels: list[str]) -> dict[str, int]:
    """The first event at which each root is drawn: when it is written, when a
    frame's local points at it, or the first event after the trace step that made it."""
    first_write: dict[str, int] = {}
    for j, (o, _, _) in enumerate(tl.writes[tl.base:], start=tl.base):
        first_write.setdefault(object_root(o), j)
    counts = [ev.writes for ev in tl.events]
    reached = list(itertools.accumulate((ev.step for ev in tl.events), max))
    out = {}
    roots = [lab for lab in labels if object_root(lab) == lab]
    seen: dict[str, int] = {}
    frames: set[int] = set()  # frames are shared between events: each read once
    for i, ev in enumerate(tl.events):
        for f in ev.stack:
            if id(f) in frames:
                continue
            frames.add(id(f))
            for _, v in f.locals:
                if v.startswith("&"):
                    seen.setdefault(object_root(v[1:]), i)
    for r in roots:
        cands = [len(tl.events)]
        if r in first_write:
            cands.append(bisect.bisect_right(counts, first_write[r]))
        if r in seen:
            cands.append(seen[r])
        created = tl.objects.get(r, ("", 0))[1]
        if created > 0:  # the first event past step ``created``
            cands.append(bisect.bisect_right(reached, created))
        out[r] = min(cands)
    return out


def _frame_delta(prev: tuple[Frame, ...], cur: tuple[Frame, ...], fresh: int) -> list:
    """The frames of ``cur`` that differ from ``prev``: ``[index, function, file,
    line, new (1: start from no locals), [[name, value] changed]]``; frames from
    ``fresh`` on are new invocations."""
    out = []
    for i, f in enumerate(cur):
        p = prev[i] if i < len(prev) else None
        new = p is None or i >= fresh or p.function != f.function
        if not new and (p is f or p == f):
            continue
        old = {} if new else dict(p.locals)
        changed = [[n, v] for n, v in f.locals if old.get(n) != v]
        out.append([i, f.function, f.file, f.line, 1 if new else 0, changed])
    return out


def debugger_data(tl: Timeline, code: dict | None = None, links: dict | None = None) -> dict:
    """The debugger's plain data for ``tl``: functions (with their code, from
    ``code``: ``function -> (file, first line, html)``), types, objects, the
    run's writes, and the events delta-encoded (see analyzer/site/docs/javascripts/steps.js)."""
    code = code or {}
    home = definitions(tl)
    fns: dict[str, int] = {}

    def fn(name: str) -> int:
        return fns.setdefault(name, len(fns))

    def at(name: str, file: str, line: int) -> list:
        """A line of a function: [line] in its own file, [line, file] elsewhere (a macro's)."""
        return [line] if file == home.get(name, file) else [line, file]

    labels = _shown_objects(tl)
    index = {lab: i for i, lab in enumerate(labels)}
    types: dict[tuple, int] = {}
    objs = []
    appear = _appear(tl, labels)
    written = {(o, f) for o, f, _ in _run_writes(tl)}
    for lab in labels:
        kind, _ = tl.objects.get(lab, ("globals" if lab == "globals" else "", 0))
        specs = tl.fields.get(lab, ())
        t = types.setdefault((kind, specs), len(types)) if specs else -1
        init = {f: v for f, v in tl.boot.get(lab, {}).items() if (lab, f) in written}
        made = 1 if tl.objects.get(object_root(lab), ("", 0))[1] > 0 else 0
        objs.append([lab, kind, t, appear.get(object_root(lab), 0), init, made])
    kept = [0]  # kept[j]: how many of the run's first j writes the data lists (shown objects')
    for o, _, _ in tl.writes[tl.base:]:
        kept.append(kept[-1] + (o in index))
    events, prev, wprev = [], (), tl.base
    for ev in tl.events:
        fresh = len(ev.stack) - 1 if ev.kind == "call" else len(ev.stack)
        delta = [[i, fn(name), *at(name, file, line), new, changed]
                 for i, name, file, line, new, changed in _frame_delta(prev, ev.stack, fresh)]
        events.append([KINDS.get(ev.kind, ev.kind[:1]), fn(ev.function),
                       at(ev.function, ev.file, ev.line),
                       kept[ev.writes - tl.base] - kept[wprev - tl.base], len(ev.stack),
                       delta, ev.text, ev.step])
        prev, wprev = ev.stack, ev.writes
    writes = [[index[o], f, v] for o, f, v in tl.writes[tl.base:] if o in index]
    return {"v": 1, "label": tl.label, "result": tl.result,
            "fn": [[name, home.get(name, ""), *code.get(name, ("", 0, ""))[1:]]
                   for name in fns],
            "ty": [[kind, [list(s) for s in specs]] for (kind, specs) in types],
            "ob": objs, "wr": writes, "ev": events, "links": links or {}}


def definitions(tl: Timeline) -> dict[str, str]:
    """The file each function of the timeline is defined in (from its calls)."""
    out: dict[str, str] = {}
    for ev in tl.events:
        if ev.kind == "call" and ev.file:
            out.setdefault(ev.function, ev.file)
    for ev in tl.events:
        for f in ev.stack:
            out.setdefault(f.function, f.file)
    return out


def data_script(data: dict) -> str:
    """The data file: a script (loaded by ``src``, never inline) that hands the JSON
    to the debugger (``LSASteps``); the functions' code goes to :func:`code_script`."""
    light = dict(data, fn=[[*f[:3], ""] for f in data["fn"]])
    return "LSASteps(" + json.dumps(light, separators=(",", ":"), ensure_ascii=False) + ");\n"


def code_script(data: dict) -> str:
    """The code file, read after the first step is drawn: each function's HTML, in
    the order of ``data["fn"]`` (``LSAStepsCode``)."""
    return "LSAStepsCode(" + json.dumps([f[3] if len(f) > 3 else "" for f in data["fn"]],
                                        separators=(",", ":"), ensure_ascii=False) + ");\n"


# --- pages ------------------------------------------------------------------------------


def _code_of(site, tl: Timeline, here: str) -> dict:
    """Each function of the timeline as linked HTML: ``function -> (file, first, html)``."""
    out = {}
    facts = site.facts
    done = getattr(site, "steps_code", None)  # the same HTML for every debugger page
    if done is None:
        done = site.steps_code = {}
    for name, file in definitions(tl).items():
        key = (here.rsplit("/", 1)[0], name, file)
        if key in done:
            if done[key] is not None:
                out[name] = done[key]
            continue
        rec = facts.function(name, file) if file else None
        if rec is None or not rec.end_line or rec.file != file:
            done[key] = None
            continue
        lines = tuple(facts.lines(rec.file, rec.line, rec.end_line))
        html = site.code(here, Excerpt(rec.file, rec.line, lines, "function", rec.name), rec)
        out[name] = done[key] = (file, rec.line, _compact(html))
    return out


def _compact(html: str) -> str:
    """An excerpt's HTML without the per-line anchors (the debugger marks lines
    itself), nor the links to them (a ``goto``'s label): the same HTML whatever
    page rendered it first.

    >>> _compact('<span class="normal"><a href="#__codelineno-3-7">7</a></span>'
    ...          '<a id="__codelineno-3-7" name="__codelineno-3-7"></a><span class="cl">x</span>'
    ...          '<a class="nl xr" href="#__codelineno-3-7">out</a>')
    '<span class="normal">7</span><span class="cl">x</span><span class="nl">out</span>'
    """
    html = re.sub(r'<a href="#__codelineno-[\d-]+">(\d+)</a>', r"\1", html)
    html = re.sub(r'<a class="([^"]*) xr" href="#__codelineno-[\d-]+">([^<]*)</a>',
                  r'<span class="\1">\2</span>', html)
    return re.sub(r'<a id="__codelineno-[\d-]+" name="__codelineno-[\d-]+"></a>', "", html)


def _links(site, tl: Timeline, here: str) -> dict[str, str]:
    """Pages of the ops tables and globals a value points at (``&tcp_prot``)."""
    names = {object_root(v[1:]) for _, _, v in tl.writes[tl.base:] if v.startswith("&")}
    return {n: site.href(here, "tables", n) for n in sorted(names)
            if n in getattr(site, "tables", {})}


def _page(label: str, name: str, tl: Timeline) -> str:
    return ("---\nhide:\n  - navigation\n  - toc\nsearch:\n  exclude: true\n---\n\n"
            f"# Step through {code(label.split(':')[0])}\n\n"
            f"Every event of the model's run of {code(label)}, {len(tl.events)} steps: "
            + ("each C line reached, each call, return and function left out. "
               if any(e.kind == "line" for e in tl.events) else
               "each call, return and function left out (this run does not record its C "
               "lines, nor the frames' locals). ")
            + "Step with the buttons, "
            "the arrow keys or the slider; the address keeps the step "
            "(<code>#step=N</code>).\n\n"
            f'<div id="lsa-steps" data-src="../data/{name}.js" markdown="0">'
            "<p class=\"lsa-steps-wait\">The debugger needs JavaScript; it reads "
            f"<code>data/{name}.js</code>, written with the site.</p></div>\n")


def add_steps_section(site, facts) -> list[str]:
    """A debugger page and data file per scenario the model ran (``facts.scenarios``);
    the section goes into the navigation after the tour.  Gives notices."""
    found = debuggers(site, scenario_runs(facts)) + debuggers(site, beyond_runs(site))
    place_debuggers(site, found)
    return found.notices


@dataclass
class Debuggers:
    """Debugger pages made: their navigation entries, their lines of the
    section's overview, and notices (a run without a trace)."""

    nav: list = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    def __add__(self, other: Debuggers) -> Debuggers:
        return Debuggers(self.nav + other.nav, self.items + other.items,
                         self.notices + other.notices)


def scenario_runs(facts) -> list[tuple[str, Timeline | None]]:
    """(label, timeline) of each socket() scenario the model ran."""
    return [(label, timeline_of(view)) for label, view in
            (getattr(facts, "scenarios", {}) or {}).items()]


def beyond_runs(site) -> list[tuple[str, Timeline | None]]:
    """(label, timeline) of the socket-buffer scenarios and of the programs."""
    runs = []
    for key, skb in (getattr(site, "skb_runs", {}) or {}).items():  # socket-buffer programs
        if hasattr(skb, "run"):
            runs.append((f"skb {key}: " + "; ".join(o.text for o in skb.ops),
                         timeline(skb.run, f"skb-{key}")))
    for view in (getattr(site, "programs", {}) or {}).values():  # programs.yaml
        if getattr(view, "timeline", None) is not None:
            runs.append((f"{view.program.title}: " + "; ".join(view.program.statements),
                         view.timeline))
    return runs


def debuggers(site, runs: list[tuple[str, Timeline | None]]) -> Debuggers:
    """A debugger page and its data files in ``site.pages`` per run."""
    out = Debuggers()
    for label, tl in runs:
        if tl is None or not tl.events:
            out.notices.append(f"no debugger for {label}: the model's run has no trace")
            continue
        name = slug(tl.label)
        path = f"{ROOT}/{name}.md"
        data = debugger_data(tl, _code_of(site, tl, path), _links(site, tl, path))
        site.pages[f"{ROOT}/data/{name}.js"] = data_script(data)
        site.pages[f"{ROOT}/data/{name}.code.js"] = code_script(data)
        site.pages[path] = _page(label, name, tl)
        out.nav.append({label.split(":")[0]: path})
        out.items.append(f"- [{esc(label)}]({name}.md): {len(tl.events)} steps")
    return out


def place_debuggers(site, found: Debuggers) -> None:
    """The section's overview page, and the section in the navigation after the tour."""
    if not found.nav:
        return
    site.pages[f"{ROOT}/index.md"] = (
        "# Step through socket()\n\nA step-through debugger of each scenario the model runs: "
        "the C line, the call stack with each frame's locals, and the objects made so far "
        "with their pointers.\n\n" + "\n".join(found.items) + "\n")
    at = next((i + 1 for i, e in enumerate(site.nav) if "Tour" in e), len(site.nav))
    site.nav.insert(at, {"Step through": [{"Overview": f"{ROOT}/index.md"}, *found.nav]})
    if hasattr(site, "finish"):
        site.finish()


# --- "Up to now" on the tour's pages ----------------------------------------------------


def _state(tl: Timeline, upto: int) -> dict[tuple[str, str], str]:
    """(object, field) -> value after the first ``upto`` writes of the run."""
    out: dict[tuple[str, str], str] = {}
    for o, f, v in tl.writes[tl.base:upto]:
        out[(o, f)] = v
    return out


def _before(tl: Timeline, obj: str, field: str) -> str:
    if obj in tl.boot:
        return tl.boot[obj].get(field, "")
    return dict(tl.fields.get(obj, ())).get(field, "")


def up_to_now(tl: Timeline, at: int, since: int, where: str, debugger: str,
              here_type=None) -> str:
    """The state at event ``at``: the stack, every write since event ``since``
    (the previous page's point), the rest folded; a link to the debugger."""
    ev = tl.events[at]
    now, was = _state(tl, ev.writes), _state(tl, tl.events[since].writes if since >= 0
                                              else tl.base)
    changed = [(k, v) for k, v in now.items() if was.get(k) != v]
    same = [(k, v) for k, v in now.items() if was.get(k) == v]
    link = f'<a class="lsa-step-link" href="{debugger}#step={at + 1}">step {at + 1} of ' \
           f"{len(tl.events)} in the debugger</a>"
    out = [f"## Up to now\n\nThe state {where} — {link}.\n"]
    rows = [(code(f.function + "()"), code(f"{f.file}:{f.line}"), _locals(f)) for f in ev.stack]
    out.append("### The stack\n\n" + table(["frame", "at", "locals"], rows))

    def cell_type(obj: str) -> str:
        kind = tl.objects.get(obj, ("", 0))[0]
        return here_type(kind) if here_type and kind else esc(kind)

    what = "the previous page's point" if since >= 0 else "the start of the call"
    if changed:
        rows = [(code(o), cell_type(o), code(f), code(v),
                 code(was.get((o, f)) or _before(tl, o, f) or "—")) for (o, f), v in changed]
        out.append(f"### Written since {what} ({len(changed)})\n\n"
                   + table(["object", "type", "field", "value", "before"], rows))
    else:
        out.append(f"Nothing was written since {what}.\n")
    if same:
        rows = [(code(o), code(f), code(v)) for (o, f), v in same]
        body = table(["object", "field", "value"], rows)
        out.append(f'??? note "{len(same)} fields written before, unchanged since"\n\n'
                   + "\n".join("    " + x if x else "" for x in body.splitlines()) + "\n")
    return "\n".join(out)


def _locals(f: Frame) -> str:
    """A frame's locals that hold a value (those not yet set are counted)."""
    unset = [n for n, v in f.locals if v.startswith("?uninitialized")]
    shown = " ".join(code(f"{n} = {v}") for n, v in f.locals if n not in unset)
    more = f" ({len(unset)} not set yet: {esc(', '.join(unset))})" if unset else ""
    return (shown + more).strip() or "—"


def point_lines(facts):
    """``lines_of`` for :func:`resolve_point` over the docs facts."""
    def lines_of(name: str) -> tuple[int, Sequence[str]] | None:
        rec = facts.function(name)
        if rec is None or not rec.end_line:
            return None
        return rec.line, facts.lines(rec.file, rec.line, rec.end_line)
    return lines_of


def missing_point(point: Point) -> str:
    return admonition("note", "Up to now", f"The point {code(point.text_of())} is not in the "
                      "model's trace of this scenario.")
