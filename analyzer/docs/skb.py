"""The socket-buffer pages: struct sk_buff / sk_buff_head, the buffer functions,
the socket and its queues.

Takes ``site/skb.yaml`` (order, prose and scenarios: data, never facts), the
docs :class:`~analyzer.docs.facts.Facts` (struct and function records, source
spans to show) and the model's buffer runs (:func:`analyzer.model.skb.run_skb`);
adds pages under ``generated/skb/`` to a :class:`~analyzer.docs.pages.Site` and
a "Socket buffers" section to its navigation after the tour.  Buffer layouts
are drawn at build time as inline SVG to scale (head / data / tail / end,
headroom and tailroom marked); every label is XML-escaped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from analyzer.docs.codeview import Excerpt
from analyzer.docs.facts import Facts
from analyzer.docs.render import admonition, code, esc, fence, link, table
from analyzer.docs.tour import Note, read_yaml
from analyzer.errors import AnalyzerError
from analyzer.records import Field, Function, Struct

__all__ = ["Note", "Group", "SkbPage", "SkbTour", "load_skb_tour", "parse_skb_tour",
           "group_fields", "source_blocks", "buffer_svg", "queue_svg", "skb_pages",
           "add_skb_section", "ROOT"]

ROOT = "generated/skb"
KINDS = ("intro", "struct", "functions", "relation")


@dataclass(frozen=True)
class Group:
    """A family of fields: a title and regexes on the field name and/or type."""

    ko: str
    en: str
    name: str = ""
    type: str = ""

    def matches(self, f: Field, struct: str) -> bool:
        typ = self.type.replace("{self}", re.escape(struct))
        ok_name = not self.name or re.search(self.name, f.name) is not None
        ok_type = not typ or re.search(typ, re.sub(r"\s+", " ", f.type).strip()) is not None
        return bool(self.name or self.type) and ok_name and ok_type


@dataclass(frozen=True)
class SkbPage:
    id: str
    title: str
    kind: str
    struct: str = ""
    functions: tuple[str, ...] = ()
    scenario: str = ""
    notes: tuple[Note, ...] = ()
    groups: tuple[Group, ...] = ()
    program: str = ""  # a program of site/programs.yaml drawn beside the scenario


@dataclass(frozen=True)
class SkbTour:
    scenarios: dict[str, tuple[str, ...]]
    pages: tuple[SkbPage, ...]


def _notes(raw, where: str) -> tuple[Note, ...]:
    try:
        return tuple(Note(str(n["ko"]), str(n["en"])) for n in raw or ())
    except (KeyError, TypeError):
        raise AnalyzerError(f"{where}: notes need ko and en") from None


def parse_skb_tour(data: dict, where: str = "skb.yaml") -> SkbTour:
    """Check and freeze the YAML data; errors name the page."""
    if not isinstance(data, dict) or not isinstance(data.get("pages"), list):
        raise AnalyzerError(f"{where}: expected `scenarios:` and `pages:`")
    scen = {str(k): tuple(str(o) for o in v) for k, v in (data.get("scenarios") or {}).items()}
    pages = []
    for i, p in enumerate(data["pages"]):
        name = p.get("id", "?") if isinstance(p, dict) else repr(p)
        at = f"{where}: page {i + 1} ({name})"
        if not isinstance(p, dict) or p.get("kind") not in KINDS or not p.get("id"):
            raise AnalyzerError(f"{at}: needs id, title and kind ({', '.join(KINDS)})")
        if p.get("scenario") and p["scenario"] not in scen:
            raise AnalyzerError(f"{at}: unknown scenario {p['scenario']!r}")
        groups = tuple(Group(str(g["ko"]), str(g["en"]), str(g.get("name", "")),
                             str(g.get("type", ""))) for g in p.get("groups") or ())
        pages.append(SkbPage(str(p["id"]), str(p.get("title", p["id"])), p["kind"],
                             str(p.get("struct", "")), tuple(p.get("functions") or ()),
                             str(p.get("scenario", "")), _notes(p.get("notes"), at), groups,
                             str(p.get("program") or "")))
    return SkbTour(scen, tuple(pages))


def load_skb_tour(path: Path) -> SkbTour:
    return parse_skb_tour(read_yaml(path, "the socket-buffer tour"), str(path))


# --- grouping -------------------------------------------------------------------------

def group_fields(st: Struct, groups: tuple[Group, ...]) -> list[tuple[Group | None, list[Field]]]:
    """The fields in groups (first matching group wins), then the rest as ``None``;
    fields keep their source order inside each group."""
    out: list[tuple[Group | None, list[Field]]] = [(g, []) for g in groups]
    rest: list[Field] = []
    for f in st.fields:
        if f.type in ("struct", "union"):
            continue
        for g, members in out:
            if g.matches(f, st.name):
                members.append(f)
                break
        else:
            rest.append(f)
    return [(g, fs) for g, fs in out if fs] + ([(None, rest)] if rest else [])


# --- diagrams -------------------------------------------------------------------------

_FILL = {"headroom": "#c7d2fe", "data": "#4f46e5", "tailroom": "#e5e7eb", "shinfo": "#fcd34d"}


def _x(text: object) -> str:
    return escape(str(text), quote=True)


def buffer_svg(b, title: str, width: int = 720) -> str:
    """One buffer's data area to scale: headroom, data, tailroom, and what follows
    ``end`` (skb_shared_info and slab slack); head/data/tail/end marked above."""
    x0, y0, h = 10.0, 56.0, 34.0
    scale = width / b.size if b.size else 0.0
    parts = [("headroom", b.head, b.data), ("data", b.data, b.tail),
             ("tailroom", b.tail, b.end), ("shinfo", b.end, b.size)]
    body = []
    for cls, lo, hi in parts:
        if hi <= lo:
            continue
        label = {"shinfo": "skb_shared_info + slack", "data": "data (len)"}.get(cls, cls)
        body.append(f'<g class="node seg-{cls}"><rect x="{x0 + lo * scale:.1f}" y="{y0}" '
                    f'width="{(hi - lo) * scale:.1f}" height="{h}" fill="{_FILL[cls]}" '
                    f'stroke="#374151" stroke-width="0.5"/><title>{_x(label)}: '
                    f'{hi - lo} bytes [{lo}, {hi})</title></g>')
    ends: list[float] = []  # where each label row is free again
    for name, off in (("head", b.head), ("data", b.data), ("tail", b.tail), ("end", b.end)):
        x = x0 + off * scale
        text = f"{name} {off}"
        row = next((r for r, free in enumerate(ends) if x >= free), len(ends))
        if row == len(ends):
            ends.append(0.0)
        ends[row] = x + len(text) * 7 + 6
        ty = 12 + 11 * row
        body.append(f'<g class="marker m-{name}"><line x1="{x:.1f}" y1="{ty + 3}" x2="{x:.1f}" '
                    f'y2="{y0 + h + 4}" stroke="#111827" stroke-dasharray="2,2"/>'
                    f'<text x="{x + 2:.1f}" y="{ty}" font-size="11">{_x(text)}</text></g>')
    below = (f"headroom {b.headroom} · len {b.len} · tailroom {b.tailroom} · "
             f"{b.size - b.end} after end · {b.area} {b.size} bytes")
    body.append(f'<text x="{x0}" y="{y0 + h + 20}" font-size="11">{_x(below)}</text>')
    total = width + 2 * x0 + 70
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="diagram skb-buffer" role="img" '
            f'width="{total:.0f}" height="{y0 + h + 30:.0f}" viewBox="0 0 {total:.0f} '
            f'{y0 + h + 30:.0f}" style="max-width:100%;height:auto" '
            f'font-family="monospace" font-size="12">'
            f'<title>{_x(title)}</title>' + "".join(body) + "</svg>")


def queue_svg(queues, buffers, title: str) -> str:
    """Each queue as a row: its head, then the buffers linked after it, in order."""
    by_label = {b.label: b for b in buffers}
    bw, gap, rh = 150, 34, 46
    rows = []
    for r, (q, labels) in enumerate(queues):
        y = 8 + r * rh
        head = f"{q.split('.')[-1]} (qlen {len(labels)})"
        hw = max(bw, len(head) * 7 + 16)
        rows.append(_qbox(4, y, hw, head, "queue-head"))
        x = 4 + hw
        for lab in labels:
            b = by_label.get(lab)
            text = f"{lab} len {b.len}" if b else lab
            rows.append(f'<line x1="{x}" y1="{y + 14}" x2="{x + gap - 2}" y2="{y + 14}" '
                        f'stroke="#111827" marker-end="url(#skb-arrow)"/>')
            rows.append(_qbox(x + gap, y, bw, text, "queued-skb"))
            x += gap + bw
    width = max([600] + [4 + 200 + len(ls) * (gap + bw) + 20 for _, ls in queues])
    height = 16 + len(queues) * rh
    defs = ('<defs><marker id="skb-arrow" viewBox="0 0 10 10" refX="9" refY="5" '
            'markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z"/>'
            '</marker></defs>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="diagram skb-queues" role="img" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'style="max-width:100%;height:auto" font-family="monospace" font-size="12">'
            f'<title>{_x(title)}</title>{defs}'
            + "".join(rows) + "</svg>")


def _qbox(x: float, y: float, w: float, text: str, cls: str) -> str:
    fill = "#e0e7ff" if cls == "queue-head" else "#fef3c7"
    return (f'<g class="node {cls}"><rect x="{x}" y="{y}" width="{w}" height="28" rx="4" '
            f'fill="{fill}" stroke="#374151"/><text x="{x + 8}" y="{y + 18}">{_x(text)}'
            f'</text></g>')


def _box(svg: str) -> str:
    return f'<div class="diagram-box" markdown="0">\n{svg}\n</div>\n'


# --- pages ----------------------------------------------------------------------------

@dataclass
class _Ctx:
    tour: SkbTour
    facts: Facts
    runs: dict[str, object]  # scenario -> SkbRun, or an error string
    pages: dict[str, str] = field(default_factory=dict)
    #: (page, excerpt, function) -> linked HTML (the site's code view); None: plain fences
    code: Callable | None = None
    here: str = ""
    programs: dict = field(default_factory=dict)  # id -> docs.programs.ProgramView


def _code(ctx: _Ctx, file: str, start: int, end: int, kind: str, name: str,
          fn: Function | None = None) -> str:
    lines = ctx.facts.lines(file, start, end)
    if ctx.code is None:
        return fence(lines, start)
    return ctx.code(ctx.here, Excerpt(file, start, tuple(lines), kind, name), fn)


def _path(pid: str) -> str:
    return f"{ROOT}/{pid}.md"


def _notes_table(notes: tuple[Note, ...]) -> str:
    if not notes:
        return ""
    return '<div class="lecture-notes" markdown>\n\n' + table(
        ["강의 (the lecture, Korean)", "English"],
        [(esc(n.ko), esc(n.en)) for n in notes]) + "\n</div>\n"


def skb_pages(tour: SkbTour, facts: Facts, runs: dict[str, object],
              code: Callable | None = None, programs: dict | None = None) -> tuple[dict, list]:
    """The pages (docs-relative path -> Markdown) and their navigation entries;
    ``code`` renders the code excerpts (:meth:`analyzer.docs.pages.Site.code`);
    ``programs`` are the runs of site/programs.yaml a page may draw beside its own."""
    ctx = _Ctx(tour, facts, runs, code=code, programs=programs or {})
    makers: dict[str, Callable[[_Ctx, SkbPage], str]] = {
        "intro": _intro, "struct": _struct, "functions": _functions, "relation": _relation}
    nav = []
    for p in tour.pages:
        here = ctx.here = _path(p.id)
        body = makers[p.kind](ctx, p) + (_real_pair(ctx, p) if p.program else "")
        ctx.pages[here] = "\n".join(x for x in (f"# {esc(p.title)}\n", _notes_table(p.notes),
                                                 body) if x)
        nav.append({p.title: here})
    return ctx.pages, nav


def _run_of(ctx: _Ctx, p: SkbPage):
    run = ctx.runs.get(p.scenario)
    if run is None or isinstance(run, str):
        return None, admonition("failure", "The model did not run",
                                esc(run or f"no run of scenario {p.scenario}"))
    return run, ""


def _ops_list(ops) -> str:
    return " → ".join(code(o) for o in ops)


def _intro(ctx: _Ctx, p: SkbPage) -> str:
    here = _path(p.id)
    lines = ["The second part of the lecture, computed from the Linux 4.4.1 source and the "
             "executable model: every buffer below is the model's run of the kernel's own "
             "functions (translated from C) on a real byte buffer.\n"]
    lines += [f"- {link(here, _path(q.id), esc(q.title))}" for q in ctx.tour.pages if q is not p]
    lines.append("\nScenarios the model runs:\n")
    for name, ops in ctx.tour.scenarios.items():
        lines.append(f"- **{esc(name)}**: {_ops_list(ops)}")
    return "\n".join(lines) + "\n" + _offsets_note(ctx) + _layout_table(ctx, p) \
        + _not_translated()


def _layout_table(ctx: _Ctx, p: SkbPage) -> str:
    """The scenario's buffers after each operation, as numbers."""
    run = ctx.runs.get(p.scenario) if p.scenario else None
    if run is None or isinstance(run, str):
        return ""
    rows = []
    for op in run.ops:
        for b in op.buffers:
            rows.append((str(op.n), code(op.text), code(b.label), *(str(v) for v in (
                b.head, b.data, b.tail, b.end, b.len, b.data_len, b.headroom, b.tailroom)),
                "freed" if b.freed else esc(b.queue)))
    head = ["#", "operation", "buffer", "head", "data", "tail", "end", "len", "data_len",
            "headroom", "tailroom", ""]
    return (f"\n## The {esc(p.scenario)} scenario, operation by operation\n\n"
            "Offsets from head into the data area, after each operation, as the model "
            "computed them.\n\n" + table(head, rows))


def _not_translated() -> str:
    """What the buffer model takes from its data table instead of the C source."""
    from analyzer.model.skb import skb_table

    t = skb_table()
    rows = [(code(n), "primitive", esc(e.get("why", "")))
            for n, e in t["primitives"].items() if e.get("impl") != "macro"]
    rows += [(code(n), "stub", esc(e.get("why", ""))) for n, e in t["offpath"].items()]
    macros = [code(n) for n, e in t["primitives"].items() if e.get("impl") == "macro"]
    return ("\n## What the model does not translate\n\nEverything else runs from the C "
            "source. Function-like macros are translated from their "
            "<code>#define</code>: " + ", ".join(macros) + ". The x86-64 values from outside "
            "the analysed subset (cache line, page size, base-type sizes) and the kmalloc "
            "classes are data (<code>analyzer&#47;kernel&#47;skb&#46;toml</code>); "
            "<code>sizeof</code> is computed from the struct definitions.\n\n"
            + table(["name", "as", "why"], rows))


def _offsets_note(ctx: _Ctx) -> str:
    st = ctx.facts.struct("sk_buff")
    tail = next((f for f in st.fields if f.name == "tail"), None) if st else None
    if tail is None:
        return ""
    return (f"\nIn this model (64-bit, {code('NET_SKBUFF_DATA_USES_OFFSET')} defined) "
            f"{code('tail')} and {code('end')} are of type {code(tail.type)} "
            f"({code(f'{st.file}:{tail.line}')}): offsets from {code('head')}, while "
            f"{code('head')} and {code('data')} are pointers into the data area; the "
            "diagrams show all four as offsets from head.\n")


def _struct(ctx: _Ctx, p: SkbPage) -> str:
    st = ctx.facts.struct(p.struct)
    if st is None:
        return admonition("failure", "Not in the analysis", f"{code(p.struct)} is not an "
                          "analysed struct.")
    out = [f"Defined at {code(f'{st.file}:{st.line}')} to line {st.end_line}, "
           f"{len(st.fields)} fields{_size_note(ctx, st.name)}.\n"]
    src = ctx.facts.lines(st.file, st.line, st.end_line)
    for g, fields in group_fields(st, p.groups):
        if g is not None:
            out.append(_field_table(f"{esc(g.en)} ({esc(g.ko)})", fields))
            continue
        blocks = source_blocks(fields, src, st.line)
        out.append(f"## Other fields\n\n{len(fields)} fields in {len(blocks)} blocks, "
                   "as the definition separates them by blank lines (with the block's "
                   "own comment).\n")
        for caption, members in blocks:
            first, last = members[0].line, members[-1].line
            title = (f"Line {first}" if first == last else f"Lines {first}–{last}") + (
                f": {esc(caption)}" if caption else "")
            out.append(_field_table(title, members, level="###"))
    out.append(_in_order(st, p.groups))
    out.append("## The definition\n\n" + _code(ctx, st.file, st.line, st.end_line, "struct",
                                               st.name))
    return "\n".join(out)


def _size_note(ctx: _Ctx, name: str) -> str:
    """``sizeof`` as the model computed it from the definition (x86-64, its config)."""
    for run in ctx.runs.values():
        size = getattr(run, "sizes", {}).get(f"struct {name}")
        if size:
            return (f"; {code(f'sizeof(struct {name})')} = {size} bytes as the model lays it "
                    "out (x86-64, the model's configuration)")
    return ""


def _in_order(st: Struct, groups: tuple[Group, ...]) -> str:
    """Every field in source order with the group it fell in."""
    where = {id(f): (g.en if g else "other") for g, fs in group_fields(st, groups) for f in fs}
    rows = [(str(i), code(f.name), code(f.type), str(f.line), esc(f.guard),
             esc(where.get(id(f), "")))
            for i, f in enumerate((f for f in st.fields if id(f) in where), start=1)]
    body = table(["#", "field", "type", "line", "only with", "group"], rows)
    return (f'??? info "All {len(rows)} fields in source order"\n\n'
            + "\n".join(("    " + x) if x else "" for x in body.splitlines()) + "\n")


def _field_table(title: str, fields: list[Field], level: str = "##") -> str:
    rows = [(code(f.name), code(f.type), str(f.line), esc(f.bits), esc(f.guard))
            for f in fields]
    return (f"{level} {title}\n\n{len(fields)} field{'s' if len(fields) != 1 else ''}"
            f", lines {fields[0].line}–{fields[-1].line}.\n\n"
            + table(["field", "type", "line", "bits", "only with"], rows))


def source_blocks(fields: list[Field], src: list[str], first: int) -> list[tuple[str, list]]:
    """Fields split where the source has a blank line between two of them; each
    block keeps the first comment line found before it (``src`` starts at ``first``)."""
    blocks: list[tuple[str, list]] = []
    prev = first
    for f in fields:
        gap = src[max(prev - first + 1, 0):max(f.line - first, 0)]
        if not blocks or any(not x.strip() for x in gap):
            blocks.append((_comment(gap), []))
        blocks[-1][1].append(f)
        prev = f.line
    return blocks


def _comment(lines: list[str]) -> str:
    for x in lines:
        t = x.strip()
        if t.startswith(("/*", "*")) and not t.startswith("*/"):
            text = t.strip("/* ").strip()
            if text and not text.endswith(":") and text not in ("private", "public"):
                return text
    return ""


def _functions(ctx: _Ctx, p: SkbPage) -> str:
    run, err = _run_of(ctx, p)
    out = [f"The model runs {_ops_list(ctx.tour.scenarios[p.scenario])}.\n", err]
    for name in p.functions:
        out.append(_function(ctx, name, run, p.kind))
    return "\n".join(o for o in out if o)


def _function(ctx: _Ctx, name: str, run, kind: str) -> str:
    fn = ctx.facts.function(name)
    if fn is None:
        return admonition("failure", f"{esc(name)} is not in the analysis",
                          f"No function {code(name)} in the analysed tree.")
    out = [f"## {code(name + '()')}\n",
           f'<p class="where">{code(f"{fn.file}:{fn.line}")} to line {fn.end_line}</p>\n',
           _code(ctx, fn.file, fn.line, fn.end_line, "function", name, fn)]
    for op in _ops_calling(run, name) if run else []:
        out.append(_after(run, op, name))
    return "\n".join(out)


def _ops_calling(run, name: str) -> list:
    steps = {s.n: s for s in run.run.steps}
    found = []
    for op in run.ops:
        if any(steps[n].event == "call" and steps[n].function == name
               for n in range(op.first_step, op.last_step + 1) if n in steps):
            found.append(op)
    return found


def _after(run, op, name: str) -> str:
    step = next(s for s in run.run.steps if op.first_step <= s.n <= op.last_step
                and s.event == "call" and s.function == name)
    value = f", returns {code(op.value)}" if op.value and op.value != "NULL" \
        and op.function == name else ""
    caller = _caller(run, step)
    called = f", called from {code(caller)}" if caller and op.function != name else ""
    head = (f"**After {code(op.text)}** (operation {op.n}; {code(name)} is step "
            f"{step.n} of the model's trace{called}{value}):\n")
    if op.queues and (not op.buffers or any(labels for _, labels in op.queues)
                      or "queue" in op.text):
        body = _box(queue_svg(op.queues, op.buffers, f"queues after {op.text}"))
    else:
        body = "".join(_box(buffer_svg(b, f"{b.label} after {op.text}"))
                       for b in op.buffers if not b.freed)
        freed = [b.label for b in op.buffers if b.freed]
        if freed:
            body += "Freed: " + ", ".join(code(x) for x in freed) + ".\n"
    return head + "\n" + body


def _caller(run, step) -> str:
    """The function that made the call of ``step`` (the last call one level up)."""
    found = ""
    for s in run.run.steps:
        if s.n >= step.n:
            break
        if s.event == "call" and s.depth == step.depth - 1:
            found = s.function
    return found


def _relation(ctx: _Ctx, p: SkbPage) -> str:
    run, err = _run_of(ctx, p)
    if run is None:
        return err
    s = run.socket
    if not s:
        return admonition("failure", "No socket", "The scenario made no socket.")
    by = s.get("initialised_by", {})
    out = [f"{code(run.ops[0].text)} made {code(s.get('socket') or '?')} whose "
           f"{code('sk')} is {code(s['sock'])} ({code(s['type'])}). Its buffer queues "
           "(every <code>struct sk&#95;buff&#95;head</code> member the socket path "
           "initialised), and the function that initialised each:\n",
           table(["queue", "initialised by"], [(code(q), code(by.get(q, "?")))
                                                for q in s["queues"]])]
    before: tuple = ()
    for op in run.ops[1:]:
        if op.queues == before and op is not run.ops[-1]:
            continue
        before = op.queues
        rows = [(code(q), " → ".join(code(x) for x in labels) or "(empty)")
                for q, labels in op.queues]
        out.append(f"### {op.n}. {code(op.text)}\n\n"
                   + _box(queue_svg(op.queues, op.buffers, f"queues after {op.text}"))
                   + "\n" + table(["queue", "buffers, head to tail"], rows))
    if run.error:
        out.append(admonition("failure", "The model stopped", esc(run.error)))
    return "\n".join(out)


def _real_pair(ctx: _Ctx, p: SkbPage) -> str:
    """The same buffers made by the kernel itself: a program's run (a socket pair's
    write and read), drawn from its snapshots, with a link to its debugger."""
    from analyzer.docs.programs import (
        TOUR,
        buffers_at,
        debugger_url,
        queue_names,
        queues_at,
        stopped,
    )

    view = ctx.programs.get(p.program)
    head = "\n## The same through a real socket pair\n\n"
    if view is None or view.run is None:
        why = view.error if view is not None else f"the program {p.program} was not run"
        return head + admonition("failure", "The model did not run the program", esc(why))
    prog = view.program
    page = link(ctx.here, f"{TOUR}/{prog.id}.md", esc(prog.title))
    out = [head + "The scenario above calls the buffer functions one by one. In the program "
           "below the kernel makes and consumes the buffer itself, from its own code: "
           + " → ".join(code(s) for s in prog.statements) + f" ({page}; every step in "
           f'<a href="{debugger_url(ctx.here, prog)}">the debugger</a>).\n']
    for k, s in enumerate(view.statements):
        why = stopped(view, s)
        if why:
            out.append(admonition("failure", f"{esc(s.text)} did not finish", esc(why)))
            break
        bufs, queues = buffers_at(view, k), queues_at(view, k)
        live = [b for b in bufs if not b.freed]
        if not live and not any(q for _, q in queues) and k and not any(
                b.freed for b in bufs):
            continue
        text = f"### After {code(s.text)} (returns {code(s.value)})\n\n"
        text += "".join(_box(buffer_svg(b, f"{b.label} after {s.text}")) for b in live)
        if queues:
            text += _box(queue_svg(queue_names(queues), bufs, f"queues after {s.text}"))
        freed = [b.label for b in bufs if b.freed]
        if freed:
            text += "\nFreed: " + ", ".join(code(x) for x in freed) + ".\n"
        if s.memory:
            text += "\nUser memory after it: " + "; ".join(
                f"{code(lab)} = {code(v)}" for lab, v in s.memory if not v.startswith("&")) \
                + "\n"
        out.append(text)
    if view.run.error:
        out.append(admonition("failure", "The program stopped", esc(view.run.error)))
    return "\n".join(out)


# --- the site -------------------------------------------------------------------------

def add_skb_section(site, facts: Facts, site_dir: Path, cfg, session=None) -> list[str]:
    """Add the socket-buffer pages to ``site`` (pages and nav after the tour);
    gives notices (a scenario that did not run).  ``session``: its program
    generator runs the scenarios that open a socket (booted once for all)."""
    nav, notices = skb_section(site, facts, site_dir, cfg, session)
    if hasattr(site, "finish"):  # the cards of the names in these pages too
        site.finish()
    place_skb(site.nav, nav)
    return notices


def place_skb(nav: list, entries: list) -> None:
    """Put the socket-buffer pages into the navigation, after the tour."""
    at = next((i + 1 for i, e in enumerate(nav) if "Tour" in e), len(nav))
    nav.insert(at, {"Socket buffers": entries})


def skb_section(site, facts: Facts, site_dir: Path, cfg, session=None) -> tuple[list, list[str]]:
    """The socket-buffer pages added to ``site.pages``, the scenarios' runs kept
    in ``site.skb_runs``: (navigation entries, notices)."""
    tour = load_skb_tour(Path(site_dir) / "skb.yaml")
    runs, notices = _runs(tour, cfg, session)
    site.skb_runs = runs  # the step-through debugger draws them too (analyzer/docs/steps.py)
    pages, nav = skb_pages(tour, facts, runs, code=getattr(site, "code", None),
                           programs=getattr(site, "programs", None))
    site.pages.update(pages)
    return nav, notices


def _runs(tour: SkbTour, cfg, session=None) -> tuple[dict, list[str]]:
    from analyzer.model.skb import run_skb

    runs: dict[str, object] = {}
    notices = []
    for name, ops in tour.scenarios.items():
        try:
            runs[name] = run_skb(list(ops), cfg, write=False, session=session)
        except AnalyzerError as e:
            runs[name] = f"scenario {name}: {e}"
            notices.append(runs[name])
    return runs, notices
