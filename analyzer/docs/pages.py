"""Page generators: the lecture's tour and the reference pages, as Markdown.

Takes a :class:`~analyzer.docs.tour.Tour` and a :class:`~analyzer.docs.facts.Facts`
view and produces ``{docs-relative path: Markdown}`` plus the navigation.
Every fact on a page (excerpts, real line numbers, resolved calls, object
tables, diagrams) comes from the facts; the tour contributes order, focus
texts and notes only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from analyzer.docs import diagrams as dg
from analyzer.docs.codeview import Excerpt
from analyzer.docs.edits import excerpt_note
from analyzer.docs.facts import Facts, Step, initializer_end
from analyzer.docs.lecture import LineCheck, NameDiff, compare_excerpt, entry_point, summarize
from analyzer.docs.render import admonition, code, esc, link, object_root, rel_link, table
from analyzer.docs.tour import Page, Placed, Point, Show, Tour, place
from analyzer.docs.xref import SYMBOL_PAGE, PageIndex, Xref, field_anchor
from analyzer.records import Function, Initializer, Struct, base_struct, pointer_depth

__all__ = ["Site", "generate", "ROOT"]

ROOT = "generated"
TOUR = f"{ROOT}/tour"
REF = f"{ROOT}/ref"


@dataclass
class Site:
    """The pages being generated and the symbols that have a page."""

    tour: Tour
    facts: Facts
    pages: dict[str, str] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)  # name -> page
    structs: dict[str, str] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)
    placed: list[tuple[str, Placed]] = field(default_factory=list)  # (page id, placed)
    #: the lecture's excerpts compared with the source: (page id, show, slide, file, checks)
    checked: list[tuple[str, Show, int, str, list[LineCheck]]] = field(default_factory=list)
    entry_points: list[tuple[str, Show, NameDiff, str]] = field(default_factory=list)
    nav: list = field(default_factory=list)
    xref: Xref | None = None  # links and cards of the code excerpts
    points: list[int] = field(default_factory=list)  # the tour's points so far (debugger steps)

    def code(self, here: str, excerpt: Excerpt, function: Function | None = None) -> str:
        """An excerpt as linked HTML (identifiers are links or carry a card)."""
        if self.xref is None:
            self.xref = Xref(self.facts, PageIndex())
        return self.xref.html(here, excerpt, function)

    def finish(self) -> None:
        """Write the cards of every symbol so far as the site's data files."""
        if self.xref is not None:
            self.pages.update(self.xref.data_files())

    def ref(self, here: str, kind: str, name: str, text: str = "") -> str:
        """A link to the page of a function/struct/table, or plain code if it has none."""
        target = getattr(self, kind).get(name)
        shown = text or code(name)
        return link(here, target, shown) if target else shown

    def href(self, here: str, kind: str, name: str) -> str:
        """The URL of a symbol's page as a browser resolves it from ``here``'s HTML."""
        target = getattr(self, kind).get(name)
        if not target:
            return ""
        url = rel_link(here, target)
        return "../" + re.sub(r"\.md$", "/", url)


def generate(tour: Tour, facts: Facts) -> Site:
    """Every page of the site: the tour, the lecture-vs-source page, the reference."""
    site = start(tour, facts)
    lecture_pages(site)
    return site


def start(tour: Tour, facts: Facts) -> Site:
    """The site before its pages: which symbols get a page, and the
    cross-reference that links them (what every page's code needs)."""
    site = Site(tour, facts)
    _collect(site)
    site.xref = Xref(facts, PageIndex(site.functions, site.structs, site.tables,
                                      _tour_steps(tour)))
    return site


def lecture_pages(site: Site) -> None:
    """The lecture's pages: the tour, the lecture-vs-source page, the reference,
    the symbol card page; the navigation of the three."""
    tour = site.tour
    tour_nav = [_tour_page(site, p) for p in tour.pages]
    site.pages[f"{TOUR}/lines.md"] = _lines_page(site)
    steps = [e for p, e in zip(tour.pages, tour_nav, strict=True) if p.kind == "step"]
    intro = [e for p, e in zip(tour.pages, tour_nav, strict=True) if p.kind != "step"]
    ref_nav = _reference(site)
    site.xref.cover()
    site.pages[SYMBOL_PAGE] = _symbol_page()
    ref_nav.append({"Symbol card": SYMBOL_PAGE})
    site.finish()
    site.nav = [{"Home": "index.md"},
                {"Tour": intro + [{"Steps": steps},
                                  {"Lecture vs 4.4.1": f"{TOUR}/lines.md"}]},
                {"Reference": ref_nav}]


# --- which symbols get a page -------------------------------------------------------------


def _tour_steps(tour: Tour) -> dict[str, str]:
    """Each function the tour shows -> the first tour page that shows it."""
    out: dict[str, str] = {}
    for p in tour.pages:
        for s in p.show:
            if s.kind == "function":
                out.setdefault(s.name, f"{TOUR}/{p.id}.md")
    return out


def _collect(site: Site) -> None:
    facts, names = site.facts, set()
    for p in site.tour.pages:
        names |= {s.name for s in p.show if s.kind == "function"}
    if facts.run:
        names |= {s.function for s in facts.run.steps if s.event == "call"}
    for n in sorted(names):
        if facts.function(n):
            site.functions[n] = f"{REF}/functions/{n}.md"
    for t in sorted(_tables_on_path(site)):
        site.tables[t] = f"{REF}/tables/{t}.md"
    for s in sorted(_structs_on_path(site)):
        site.structs[s] = f"{REF}/structs/{s}.md"


def _tables_on_path(site: Site) -> set[str]:
    names = {s.name for p in site.tour.pages for s in p.show if s.kind == "table"}
    run = site.facts.run
    if run and run.steps:
        names |= {s.via.get("table", "") for s in run.steps if isinstance(s.via, dict)}
        for obj in _final_objects(site).values():
            names |= {_root(v) for _, v in obj.get("fields", []) if str(v).startswith("&")}
    return {n for n in names if n and site.facts.initializer(n)}


def _final_objects(site: Site) -> dict[str, dict]:
    """The objects the scenario made or wrote, after its last step."""
    run = site.facts.run
    return _scenario_objects(site, run.last(), _changes(run.steps, 0, run.last()))


def _structs_on_path(site: Site) -> set[str]:
    facts = site.facts
    names = {s.name for p in site.tour.pages for s in p.show if s.kind == "struct"}
    names |= {base_struct(facts.initializer(t).type) for t in site.tables}
    if facts.run and facts.run.steps:
        for obj in _final_objects(site).values():
            names.add(base_struct(str(obj.get("type", ""))))
    out: set[str] = set()
    for n in names:
        out |= {s.name for s in _embedding(facts, n)}
    return out


def _embedding(facts: Facts, name: str) -> list[Struct]:
    """``name`` and the structs it embeds as first member, outermost first."""
    chain, seen = [], set()
    st = facts.struct(name) if name else None
    while st is not None and st.name not in seen:
        chain.append(st)
        seen.add(st.name)
        first = st.first
        if first is None or pointer_depth(first.type) or not base_struct(first.type):
            break
        st = facts.struct(base_struct(first.type))
    return chain


# --- tour pages ---------------------------------------------------------------------------


def _tour_page(site: Site, page: Page) -> dict[str, str]:
    path = f"{TOUR}/{page.id}.md"
    parts = [f"# {esc(page.title)}\n", _notes(page.notes)]
    if page.kind == "intro":
        parts.append(_intro(site, path))
    if page.call[1]:
        parts.append(_dispatch(site, path, *page.call))
    if page.kind == "hierarchy":
        parts.append(_hierarchy(site, path, page))
    excerpts = [_excerpt(site, path, page, show)
                for show in (page.show if page.kind != "hierarchy" else ())]
    if excerpts:
        parts.append(_legend(site, any(' class="cl ran' in e or ' class="cl not-ran' in e
                                       for e in excerpts)))
    parts += excerpts
    if page.kind == "chain":
        parts.append(_chain(site, path, next((s.name for s in page.show), "")))
    if page.state_function:
        parts.append(_state_at_point(site, path, page))
    if page is site.tour.pages[-1]:
        parts.append(_object_graph_section(site, path))
    parts.append(_named(site, path, page))
    names = [s.name for s in page.show] + ([n for s in page.show if s.lecture_name
                                            for n in _lecture_names(s.lecture_name)])
    site.pages[path] = _front(names) + "\n".join(p for p in parts if p)
    return {page.title: path}


def _notes(notes) -> str:
    if not notes:
        return ""
    rows = [(esc(n.ko), esc(n.en)) for n in notes]
    return '<div class="lecture-notes" markdown>\n\n' + table(
        ["강의 (the lecture, Korean)", "English"], rows) + "\n</div>\n"


def _intro(site: Site, here: str) -> str:
    t = site.tour
    lines = [f"From the lecture *{esc(t.title)}* ({esc(t.course)}). The tour follows "
             f"{code('socket(' + ', '.join(map(str, t.scenario[1:])) + ')')} through the "
             "Linux 4.4.1 source, one page per step of the lecture.\n"]
    for p in t.pages:
        lines.append(f"- {link(here, f'{TOUR}/{p.id}.md', esc(p.title))}")
    lines.append(f"- {link(here, f'{TOUR}/lines.md', 'Where the lecture’s line numbers differ')}")
    return "\n".join(lines) + "\n"


def _span(site: Site, show: Show):
    """The record, file, first and last line of an excerpt, or None."""
    f = site.facts
    if show.kind == "function":
        r = f.function(show.name, show.cite_file)
        return (r, r.file, r.line, r.end_line) if r else None
    if show.kind == "struct":
        r = f.struct(show.name)
        return (r, r.file, r.line, r.end_line) if r else None
    if show.kind == "table":
        r = f.initializer(show.name)
        if not r:
            return None
        last = max([e.line for e in r.entries] + [r.line])
        return r, r.file, r.line, initializer_end(r, f.lines(r.file, last, last + 40))
    r = f.global_(show.name)
    return (r, r.file, r.line, r.line) if r else None


def _excerpt(site: Site, here: str, page: Page, show: Show) -> str:
    span = _span(site, show)
    if span is None:
        return admonition("failure", f"{esc(show.name)} is not in the analysis",
                          f"The lecture cites {code(show.name)}; the analysed tree has no "
                          f"{show.kind} of that name.")
    rec, file, start, end = span
    lines = site.facts.lines(file, start, end)
    sym, focus = place(show, file, start, lines)
    if show.cite_line:
        site.placed.append((page.id, sym))
    site.placed += [(page.id, Placed(f"{show.name}: {f.text}", show.cite_file, f.line,
                                     file, real)) for f, real in zip(show.focus, focus,
                                                                     strict=True)]
    kind = {"function": "functions", "struct": "structs", "table": "tables"}.get(show.kind, "")
    title = site.ref(here, kind, show.name) if kind else code(show.name)
    out = [f"## {title}\n", _where(show, file, start, end)]
    out.append(site.code(here, _excerpt_of(site, show, rec, file, start, lines, focus),
                         rec if isinstance(rec, Function) else None))
    if site.facts.tree is not None and site.facts.tree.edited(file):
        out.append(excerpt_note(site.facts.tree, site.facts.released, file, start, end,
                                site.facts.lines(file, 1, 10**7)))
    out.append(_against_lecture(site, page, show, rec, file, start, end))
    missing = [f for f, n in zip(show.focus, focus, strict=True) if not n]
    if missing:
        out.append(admonition("warning", "Not found in the 4.4.1 source", "\n".join(
            f"- line {f.line}: {code(f.text)}" for f in missing)))
    if page.kind == "struct" and isinstance(rec, Struct):
        out.append(_field_notes(site, here, rec, page))
    if isinstance(rec, Struct) and len(rec.fields) <= 6 and any(
            base_struct(f.type) and not pointer_depth(f.type) for f in rec.fields):
        out.append(_composite(site, here, rec))
    if isinstance(rec, Function) and page.kind != "chain":
        out.append(_calls_section(site, here, rec))
    return "\n".join(o for o in out if o)


def _excerpt_of(site: Site, show: Show, rec, file: str, start: int, lines: list[str],
                focus: list[int]) -> Excerpt:
    """What the code view needs of an excerpt: its kind, the lines cited, what ran."""
    run = site.facts.run
    executed = None
    if isinstance(rec, Function) and run is not None:
        found = run.executed_lines(rec.name, rec.file)
        executed = frozenset(found) if found is not None else None
    struct = base_struct(rec.type) if isinstance(rec, Initializer) else ""
    return Excerpt(file, start, tuple(lines), show.kind, show.name, struct,
                   frozenset(n for n in focus if n), executed)


def _against_lecture(site: Site, page: Page, show: Show, rec, file: str, start: int,
                     end: int) -> str:
    """Compare the slides' text of the excerpt with the source; a note of what differs."""
    if not show.lecture and not show.lecture_name:
        return ""
    whole = site.facts.lines(file, 1, 10**7)
    notes = []
    for i, text in enumerate(show.lecture):
        checks = compare_excerpt(text, whole, start, end, show.cite_line)
        site.checked.append((page.id, show, i, file, checks))
        notes += [_difference_item(c, file) for c in checks if c.status in ("differs",
                                                                           "missing")]
    out = ""
    if show.lecture_name and isinstance(rec, Function):
        diff = entry_point(show.lecture_name, _names_of(site, rec))
        if diff is not None:
            site.entry_points.append((page.id, show, diff, f"{rec.file}:{rec.line}"))
            out += _lecture_name_section(site, page, show, rec)
    if notes:
        out += admonition("warning", "The lecture's text differs from 4.4.1 here",
                          "\n".join(dict.fromkeys(notes)))
    return out


def _difference_item(c: LineCheck, file: str) -> str:
    names = "; ".join(_name_change(d) for d in c.names)
    where = code(f"{file}:{c.real_line}") if c.real_line else ""
    if c.status == "missing":
        near = (f"; the nearest line is {where}: {code(c.source_text)}"
                if c.real_line else "")
        return (f"- line {c.lecture_line} {code(c.lecture_text)} is not in the source"
                f"{near}")
    return (f"- line {c.lecture_line} {code(c.lecture_text)}: 4.4.1 has {code(c.source_text)} "
            f"at {where} ({names})")


def _name_change(d: NameDiff) -> str:
    ours = code(d.lecture) if d.lecture else "nothing"
    theirs = code(d.source) if d.source else "nothing"
    return f"{esc(d.kind)}: {ours} where the source has {theirs}"


def _names_of(site: Site, fn: Function) -> list[str]:
    """The names a function goes by: its own and its aliases (``sys_socket``)."""
    return [fn.name, *site.facts.aliases_of(fn)]


def _lecture_name_section(site: Site, page: Page, show: Show, rec: Function) -> str:
    """Why the lecture's name for the entry point is not the function it shows."""
    here = f"{TOUR}/{page.id}.md"
    name = show.lecture_name.strip().rstrip("()")
    other = site.facts.function(name)
    names = " / ".join(code(n + "()") for n in _names_of(site, rec))
    head = (f"## The lecture's {code(name + '()')}: the {esc(name.removeprefix('sys_'))} "
            "system call\n\n")
    shown = (f"The lecture calls this function {code(name + '()')}. The code it shows is "
             f"{code(rec.macro + '(...)') if rec.macro else code(rec.name)} at "
             f"{code(f'{rec.file}:{rec.line}')}, which defines {names}.")
    if other is None:
        return head + shown + f" The 4.4.1 source has no function {code(name)}.\n"
    real = site.facts.function(other.alias_of) if other.alias_of else other
    real = real or other
    calls = [c for c in site.facts.calls(real) if c.callee in (rec.name, *_names_of(site, rec))
             or c.expr in _names_of(site, rec)]
    text = (f" In 4.4.1, {code(name + '()')} is another system call: "
            f"{code((real.macro or '') + '(' + name.removeprefix('sys_') + ', ...)')} at "
            f"{code(f'{real.file}:{real.line}')}")
    if not calls:
        return head + shown + text + ".\n"
    c = calls[0]
    text += (f", which calls {code(c.expr or c.callee)} at line {c.line} (below): both "
             f"system calls reach {names}.\n\n")
    lines = tuple(site.facts.lines(real.file, c.line - 1, c.line + 1))
    return head + shown + text + site.code(here, Excerpt(real.file, c.line - 1, lines, "function",
                                                        real.name), real)


def _legend(site: Site, ran: bool) -> str:
    """What the marks on the code mean."""
    items = ['<span class="lg-hll">highlighted</span>: a line the lecture cites']
    if ran:
        label = esc(getattr(site.facts.run, "label", "") or "the scenario")
        items = [f'<span class="lg-ran">green bar</span>: ran in {code(label)}',
                 '<span class="lg-not-ran">dimmed</span>: did not run',
                 '<span class="lg-taken">▶</span> the arm of an <code>if</code> / '
                 '<code>switch</code> taken, <span class="lg-untaken">▷</span> an arm not taken, '
                 '<span class="lg-jump">↪</span> a <code>goto</code> that jumped'] + items
    items.append("a name is a link to its page or shows its card when you point at it")
    return '<p class="code-legend">' + " · ".join(items) + "</p>\n"


def _where(show: Show, file: str, start: int, end: int) -> str:
    text = f"{code(f'{file}:{start}')}"
    if end > start:
        text += f" to line {end}"
    if show.cite_line and (show.cite_line != start or not file.endswith(show.cite_file)):
        text += (f" — the lecture cites {code(f'{show.cite_file}:{show.cite_line}')}; "
                 f"4.4.1 has it at {code(f'{file}:{start}')}")
    return f'<p class="where">{text}</p>\n'


def _field_notes(site: Site, here: str, st: Struct, page: Page) -> str:
    notes = dict(page.fields)
    rows = []
    for f in st.fields:
        n = notes.get(f.name)
        rows.append((code(f.name), _type(site, here, f.type), str(f.line),
                     esc(n.ko) if n else "", esc(n.en) if n else ""))
    return "### Fields\n\n" + table(["field", "type", "line", "강의", "English"], rows)


def _type(site: Site, here: str, ctype: str) -> str:
    name = base_struct(ctype)
    return site.ref(here, "structs", name, code(ctype)) if name else code(ctype)


def _composite(site: Site, here: str, st: Struct) -> str:
    """A struct made of embedded members, drawn as a box of parts."""
    parts = []
    for f in st.fields:
        inner = site.facts.struct(base_struct(f.type)) if not pointer_depth(f.type) else None
        names = tuple(g.name for g in inner.fields[:12]) if inner else ()
        if inner and len(inner.fields) > 12:
            names += (f"... {len(inner.fields) - 12} more",)
        parts.append(dg.Part(f.name, f.type, names if len(st.fields) < 4 else (),
                             site.href(here, "structs", base_struct(f.type))))
    svg = dg.record(st.name, parts, f"struct {st.name}", site.href(here, "structs", st.name))
    return f'<div class="diagram-box" markdown="0">\n{svg}\n</div>\n'


# --- calls, dispatch and the model's trace ------------------------------------------------


def _parents(steps: list[Step]) -> list[tuple[Step, str]]:
    """Each call or stub event with the function that made it."""
    stack: list[str] = []
    out = []
    for s in steps:
        if s.event not in ("call", "stub"):
            continue
        del stack[s.depth:]
        out.append((s, stack[-1] if stack else ""))
        if s.event == "call":
            stack.append(s.function)
    return out


def _model_calls(site: Site, caller: str) -> dict[str, Step]:
    """What the model did for each callee of ``caller``: callee -> first step."""
    run = site.facts.run
    out: dict[str, Step] = {}
    for s, parent in _parents(run.steps) if run else []:
        if parent == caller:
            out.setdefault(s.function, s)
    return out


def _calls_section(site: Site, here: str, fn: Function) -> str:
    calls = site.facts.calls(fn)
    if not calls:
        return ""
    ran = _model_calls(site, fn.name)
    rows, indirect = [], []
    for c in calls:
        if c.kind != "direct":
            indirect.append(c)
            continue
        done = _ran(ran.get(c.callee)) or (
            "a runtime primitive" if c.callee in site.facts.primitives and site.facts.run
            else "")
        rows.append((str(c.line), code(c.expr or c.callee), _callee(site, here, c.callee),
                     done))
    out = [f"### Where each call of {code(fn.name)} goes\n",
           table(["line", "call", "goes to", "in the model"], rows) if rows else ""]
    for c in indirect:
        out.append(_indirect(site, here, fn, c, ran))
    return "\n".join(o for o in out if o)


def _callee(site: Site, here: str, name: str) -> str:
    if name in site.functions:
        return site.ref(here, "functions", name)
    rec = site.facts.function(name)
    if rec:
        return f"{code(name)} {code(f'{rec.file}:{rec.line}')}"
    return f"{code(name)} (a macro, or not in the analysed files)"


def _ran(step: Step | None) -> str:
    if step is None:
        return ""
    if step.event == "stub":
        return "not modelled" + (f": {esc(step.note)}" if step.note else "")
    return f"runs (step {step.n})"


def _indirect(site: Site, here: str, fn: Function, c, ran: dict[str, Step]) -> str:
    targets = site.facts.resolve(fn, c)
    taken = {name: s for name, s in ran.items() if isinstance(s.via, dict)
             and s.via.get("expr") == c.expr}
    head = (f"#### {code(c.expr)} — line {c.line}, an indirect call through "
            f"{code(c.receiver or c.expr)}{(' field ' + code(c.field)) if c.field else ''}\n")
    out = [head]
    for name, s in taken.items():
        chain = [e for t in targets if t.name == name for e in t.evidence
                 if e.kind in ("passed", "bound", "registered")]
        how = "".join(f"; {_evidence(site, here, e)}" for e in chain) if chain else \
            _registered(site, here, s.via)
        out.append(f"The model took {site.ref(here, 'functions', name)} (step {s.n}): "
                   f"{_via(site, here, s.via)}{how}.\n")
    if not targets:
        out.append("The call graph gives no resolved target for this site.\n" if not taken
                   else "")
        return "\n".join(out)
    rows = sorted(((t, t.name in taken) for t in targets), key=lambda x: (not x[1], x[0].name))
    body = table(["target", "bound by (evidence)", "defined at"], [
        (("**taken** " if hit else "") + _callee_link(site, here, t.name),
         "<br>".join(_evidence(site, here, e) for e in t.evidence),
         code(f"{t.file}:{t.line}") if t.file else "") for t, hit in rows])
    summary = f"{len(targets)} resolved target{'s' if len(targets) != 1 else ''}"
    if len(targets) > 8:
        out.append(f'??? abstract "{summary}"\n\n' + _indent(body))
    else:
        out.append(f"{summary}:\n\n{body}")
    return "\n".join(out)


def _callee_link(site: Site, here: str, name: str) -> str:
    return site.ref(here, "functions", name)


def _evidence(site: Site, here: str, e) -> str:
    where = f" {code(f'{e.file}:{e.line}')}" if e.file else ""
    shown = site.ref(here, "tables", e.table, code(e.text)) if e.table else code(e.text)
    kind = f"{esc(e.kind)}: " if e.kind in ("initializer", "assignment") else ""
    return f"{kind}{shown}{where}"


def _via(site: Site, here: str, via: dict) -> str:
    tbl = str(via.get("table", ""))
    text = site.ref(here, "tables", tbl) if tbl else code(via.get("expr", ""))
    if via.get("field"):
        text += f" field {code(via['field'])}"
    if via.get("file"):
        where = f"{via['file']}:{via.get('line', '')}"
        text += f" at {code(where)}"
    return text


def _registered(site: Site, here: str, via: dict) -> str:
    regs = site.facts.registrations(str(via.get("table", "")))
    return "".join(
        f"; registered by {code(r.registrar + '()')} in "
        f"{site.ref(here, 'functions', r.caller.split('@')[0])} {code(f'{r.file}:{r.line}')}"
        for r in regs)


def _indent(text: str) -> str:
    return "\n".join(("    " + line) if line else "" for line in text.splitlines()) + "\n"


def _dispatch(site: Site, here: str, fname: str, expr: str) -> str:
    fn = site.facts.function(fname)
    if fn is None:
        return admonition("failure", "Unknown function", f"{code(fname)} is not in the analysis.")
    call = next((c for c in site.facts.calls(fn) if c.expr == expr), None)
    if call is None:
        return admonition("failure", "Unknown call",
                          f"{code(fname)} has no call {code(expr)} in the analysis.")
    return (f"## {code(expr)} in {site.ref(here, 'functions', fname)}\n\n"
            + _indirect(site, here, fn, call, _model_calls(site, fname)))


# --- the model's objects ------------------------------------------------------------------


def _no_run(site: Site) -> str:
    run = site.facts.run
    why = run.error if run is not None and run.error else "the executable model is not available"
    return admonition("note", "Up to now", f"No object table: {esc(why)}.")


def _window(site: Site, fname: str) -> tuple[Step, Step] | None:
    """The call step of ``fname``'s first run in the trace and its return step."""
    steps = site.facts.run.steps
    for i, s in enumerate(steps):
        if s.event == "call" and s.function == fname:
            for r in steps[i + 1:]:
                if r.event == "return" and r.function == fname and r.depth == s.depth:
                    return s, r
            return s, steps[-1]
    return None


def _changes(steps: list[Step], lo: int, hi: int) -> dict[tuple[str, str], dict]:
    out: dict[tuple[str, str], dict] = {}
    for s in steps:
        if lo <= s.n <= hi:
            for c in s.changes:
                key = (str(c.get("object", "")), str(c.get("field", "")))
                out[key] = {"old": out.get(key, c).get("old"), "new": c.get("new")}
    return out


def _up_to_now(site: Site, here: str, fname: str) -> str:
    run = site.facts.run
    if run is None or not run.steps:
        return _no_run(site)
    win = _window(site, fname)
    if win is None:
        return admonition("note", "Up to now", f"{code(fname)} does not appear in the "
                          "model's trace of this scenario.")
    call, ret = win
    here_changes = _changes(run.steps, call.n, ret.n)
    ever = _changes(run.steps, 0, ret.n)
    out = [f"## Up to now\n\nThe objects after {code(fname)} returns (step {ret.n} of "
           f"{run.last()} in the model's trace); ✎ marks what this step changed.\n"]
    objs = _scenario_objects(site, ret.n, ever)
    before = run.scenario_snapshot(call.n - 1, set(objs)) if call.n > 0 else {}
    first = {}
    for label in objs:
        first.setdefault(_root(label), len(first))
    main, nested = [], []
    featured = _featured_structs(site)
    for label in sorted(objs, key=lambda lab: (first[_root(lab)], lab)):
        fields = objs[label].get("fields", [])
        if all(str(v) in ("{...}", "[...]") for _, v in fields):
            continue  # a container: its members are shown as objects of their own
        text = _object_table(site, here, label, objs[label], here_changes, ever,
                             label in before)
        depth = len(re.findall(r"[.\[]", label))
        typ = base_struct(str(objs[label].get("type", "")))
        (main if depth <= 1 or typ in featured else nested).append(text)
    out += main
    if nested:
        out.append(f'??? note "{len(nested)} nested members written so far"\n\n'
                   + _indent("\n".join(t.replace("#### ", "##### ", 1) for t in nested)))
    return "\n".join(out)


def _state_at_point(site: Site, here: str, page: Page) -> str:
    """"Up to now" at the lecture's point of the page (default: after its state
    function returns), from the debugger's timeline of the tour's run; the
    whole-function tables when the run has no timeline."""
    from analyzer.docs import steps as st

    tl = st.timeline_of(site.facts.run)
    if tl is None or not tl.events:
        return _up_to_now(site, here, page.state_function)
    point = page.point or Point("return", page.state_function)
    at = st.resolve_point(tl, point, st.point_lines(site.facts))
    if at is None:
        return st.missing_point(point)
    since = max((p for p in site.points if p <= at), default=-1)
    site.points.append(at)
    where = re.sub(r"`([^`]+)`|(\w+)", lambda m: code(m.group(1)) if m.group(1) else (
        code(m.group(2)) if "_" in m.group(2) or m.group(2) in site.functions else m.group(2)),
        point.text_of())
    debugger = "../" + re.sub(r"\.md$", "/", rel_link(here, f"{st.ROOT}/{st.slug(tl.label)}.md"))
    return st.up_to_now(tl, at, since, where, debugger, lambda t: _type(site, here, t))


def _featured_structs(site: Site) -> set[str]:
    """The structs the tour shows, with every struct they embed."""
    names = {s.name for p in site.tour.pages for s in p.show if s.kind == "struct"}
    return {e.name for n in names for e in _embedding(site.facts, n)}


def _scenario_objects(site: Site, n: int, ever: dict) -> dict[str, dict]:
    """The objects after step ``n`` that the scenario made or wrote (not boot's own)."""
    return site.facts.run.scenario_snapshot(n, {label for label, _ in ever})


def _object_table(site: Site, here: str, label: str, obj: dict, changed: dict, ever: dict,
                  existed: bool) -> str:
    fields = [(str(f), str(v)) for f, v in obj.get("fields", [])]
    shown = fields if len(fields) <= 16 else [
        (f, v) for f, v in fields if (label, f) in ever or (label, f) in changed]
    rows = []
    for f, v in shown:
        mark = changed.get((label, f))
        note = f"✎ was {code(mark['old'])}" if mark and mark.get("old") not in (None, v) else (
            "✎" if mark else "")
        rows.append((code(f), code(v), note))
    badge = "" if existed else " — *new in this step*"
    head = f"#### {code(label)} {_type(site, here, str(obj.get('type', '')))}{badge}\n"
    hidden = len(fields) - len(shown)
    if not rows:
        return head + f"\n{len(fields)} fields, none written so far.\n"
    tail = f"\n{hidden} more fields, not written so far.\n" if hidden else ""
    return head + "\n" + table(["field", "value", ""], rows) + tail


def _root(label: str) -> str:
    """The top-level object of a label: ``socket_alloc#1.socket`` -> ``socket_alloc#1``."""
    return object_root(label.lstrip("&*( ")).strip()


def _object_graph(site: Site, here: str, n: int) -> str:
    """Top-level objects of the scenario and the pointers between them."""
    run = site.facts.run
    snap = _scenario_objects(site, n, _changes(run.steps, 0, n))
    roots = list(dict.fromkeys(_root(lab) for lab in snap))
    full = run.scenario_snapshot(n, set(roots))
    edges, rows = [], {r: [] for r in roots}
    for lab, obj in snap.items():
        sub = lab[len(_root(lab)):].lstrip(".")
        for f, v in obj.get("fields", []):
            dst = _root(str(v)) if str(v).startswith("&") else ""
            if dst in rows and dst != _root(lab):
                name = f"{sub}.{f}" if sub else str(f)
                edges.append((_root(lab), name, dst))
                rows[_root(lab)].append((name, str(v)))
    used = {e[0] for e in edges} | {e[2] for e in edges}
    nodes = []
    for r in (r for r in roots if r in used):
        typ = str(full.get(r, snap.get(r, {})).get("type", ""))
        nodes.append(dg.ObjNode(r, f"{typ} {r}".strip(), tuple(rows[r]),
                                site.href(here, "structs", base_struct(typ))))
    if not nodes:
        return ""
    svg = dg.object_graph(nodes, edges, f"objects after step {n}")
    return f'<div class="diagram-box" markdown="0">\n{svg}\n</div>\n'


def _object_graph_section(site: Site, here: str) -> str:
    run = site.facts.run
    if run is None or not run.steps:
        return ""
    svg = _object_graph(site, here, run.last())
    return (f"## The objects after the last step\n\nEvery object of the model's final state "
            f"that points to another, and the pointers between them.\n\n{svg}") if svg else ""


# --- the hierarchy and the chain ----------------------------------------------------------


def _hierarchy(site: Site, here: str, page: Page) -> str:
    top = next((s.name for s in page.show if s.kind == "struct"), "")
    chain = _embedding(site.facts, top)
    if not chain:
        return admonition("failure", "Unknown struct", f"{code(top)} is not in the analysis.")
    layers = [(f"struct {s.name}", f"adds {len(s.fields) - 1} fields"
               if s is not chain[-1] else f"{len(s.fields)} fields",
               site.href(here, "structs", s.name)) for s in chain]
    svg = dg.nested(layers, f"struct {top} and the structs it embeds")
    out = [" ⊂ ".join(site.ref(here, "structs", s.name) for s in reversed(chain)) + "\n",
           f'<div class="diagram-box" markdown="0">\n{svg}\n</div>\n']
    notes = dict(page.layers)
    for s in reversed(chain):
        out.append(_layer(site, here, s, s is chain[-1], notes.get(s.name, ())))
    return "\n".join(out)


def _layer(site: Site, here: str, st: Struct, innermost: bool, notes) -> str:
    added = st.fields if innermost else st.fields[1:]
    head = f"### {site.ref(here, 'structs', st.name, code('struct ' + st.name))}\n\n"
    if not innermost:
        head += (f"Embeds {_type(site, here, st.fields[0].type)} as its first member "
                 f"{code(st.fields[0].name)} ({code(f'{st.file}:{st.fields[0].line}')}), "
                 f"then adds {len(added)} fields.\n\n")
    rows = [(esc(n.ko), esc(n.en)) for n in notes]
    body = table(["강의", "English"], rows) if rows else ""
    flds = table(["field", "type", "line"], [(code(f.name), _type(site, here, f.type),
                                             str(f.line)) for f in added])
    what = "fields it has" if innermost else "fields it adds"
    return head + body + f'\n??? info "The {len(added)} {what}"\n\n' + _indent(flds)


def _static_tree(site: Site, here: str, root: str) -> list[dg.TreeNode]:
    """The calls between the tour's functions, from the call graph (no model)."""
    wanted = {s.name for p in site.tour.pages for s in p.show if s.kind == "function"}
    nodes: list[dg.TreeNode] = []
    seen: set[str] = set()

    def visit(name: str, depth: int) -> None:
        seen.add(name)
        nodes.append(dg.TreeNode(depth, name + "()", "", site.href(here, "functions", name)))
        fn = site.facts.function(name)
        for n in site.facts.callees(fn) if fn and depth < 12 else ():
            if n.name in wanted and n.name not in seen:
                visit(n.name, depth + 1)

    visit(root, 0)
    return nodes


def _chain(site: Site, here: str, root: str) -> str:
    run = site.facts.run
    if run is None or not run.steps:
        nodes = _static_tree(site, here, root)
        svg = dg.call_tree(nodes, "the socket() call chain, from the call graph")
        return (admonition("note", "The model did not run", esc(run.error if run else
                           "the executable model is not available") + "; the chain below "
                           "comes from the call graph alone.") +
                f'\n<div class="diagram-box" markdown="0">\n{svg}\n</div>\n')
    nodes = [dg.TreeNode(s.depth, s.function + "()", "stub" if s.event == "stub" else "",
                         site.href(here, "functions", s.function))
             for s in run.steps if s.event == "call"]
    svg = dg.call_tree(nodes, "the socket() call chain, from the model's trace")
    rows = []
    for s in run.steps:
        via = _via(site, here, s.via) if isinstance(s.via, dict) else ""
        rows.append((str(s.n), esc(s.event), "&nbsp;" * 2 * s.depth
                     + site.ref(here, "functions", s.function),
                     code(s.site) if s.site else "", code(s.value) if s.value else "",
                     via, esc(s.note)))
    trace = table(["step", "event", "function", "called at", "value", "chosen through",
                   "note"], rows)
    return ("## The call chain\n\nEvery function the model ran for "
            f"{code('socket(' + ', '.join(map(str, site.tour.scenario[1:])) + ')')}, "
            "nested by caller.\n\n"
            f'<div class="diagram-box" markdown="0">\n{svg}\n</div>\n\n'
            f'??? info "The whole trace: {len(run.steps)} events"\n\n' + _indent(trace))


def _named(site: Site, here: str, page: Page) -> str:
    """Links to the pages of every symbol the page names."""
    names: dict[str, set[str]] = {"functions": set(), "structs": set(), "tables": set()}
    for s in page.show:
        kind = {"function": "functions", "struct": "structs", "table": "tables"}.get(s.kind)
        if kind:
            names[kind].add(s.name)
        span = _span(site, s)
        if span and isinstance(span[0], Function):
            names["functions"] |= {c.callee for c in site.facts.calls(span[0]) if c.callee}
    items = []
    for kind, found in names.items():
        items += [site.ref(here, kind, n) for n in sorted(found) if n in getattr(site, kind)]
    return ("## Named on this page\n\n" + " · ".join(items) + "\n") if items else ""


def _lines_page(site: Site) -> str:
    here = f"{TOUR}/lines.md"
    return "\n".join([
        "# Lecture vs 4.4.1\n",
        _content_section(site, here),
        _numbers_section(site, here),
    ])


def _content_section(site: Site, here: str) -> str:
    """The slides' code compared with the source token by token."""
    checks = [c for *_, cs in site.checked for c in cs]
    s = summarize(checks, len(site.entry_points))
    excerpts = len(site.checked)
    head = (f"The lecture prints **{s.lines} lines of code** in {excerpts} excerpts. Compared "
            "with the Linux 4.4.1 source token by token (comments and spacing aside), "
            f"**{s.same + s.cut} match** ({s.cut} of them cut off at the slide's edge), "
            f"**{s.differs} differ** and **{s.missing} are not in the source**; the lecture "
            f"uses **{s.names} names** that 4.4.1 does not have at that place"
            + (", counting its name for the entry point" if site.entry_points else "")
            + ".\n")
    rows = []
    for page_id, _, diff, where in site.entry_points:
        rows.append((link(here, f"{TOUR}/{page_id}.md", esc(page_id)), esc(diff.kind),
                     code(diff.lecture), code(diff.source), code(where)))
    for page_id, show, i, file, cs in site.checked:
        slide = f" (slide {i + 1})" if len(show.lecture) > 1 else ""
        for c in cs:
            if c.status not in ("differs", "missing"):
                continue
            kinds = sorted({d.kind for d in c.names})
            rows.append((link(here, f"{TOUR}/{page_id}.md", esc(page_id)) + esc(slide),
                         esc(", ".join(kinds) or c.status),
                         f"{c.lecture_line}: " + code(c.lecture_text.strip()),
                         (code(c.source_text) if c.status == "differs" else
                          "not in the source" + (f"; nearest {code(c.source_text)}"
                                                 if c.source_text else "")),
                         code(f"{file}:{c.real_line}") if c.real_line else ""))
    table_ = table(["page", "what", "the lecture (its line)", "4.4.1", "where"], rows) \
        if rows else "Every line of the lecture's code is in the source.\n"
    names = [(code(d.lecture) if d.lecture else "—", code(d.source) if d.source else "—",
              esc(d.kind)) for *_, cs in site.checked for c in cs for d in c.names
             if d.kind != "keyword"]
    names = [(code(d.lecture), code(d.source), esc(d.kind)) for _, _, d, _ in
             site.entry_points] + list(dict.fromkeys(names))
    name_table = ("### The names that differ\n\n" + table(["the lecture", "4.4.1", "as"],
                                                         names)) if names else ""
    return ("## By content\n\n" + head + "\n" + table_ + "\n" + name_table)


def _numbers_section(site: Site, here: str) -> str:
    rows, same = [], 0
    for page_id, p in site.placed:
        if not p.differs:
            same += 1
            continue
        real = code(f"{p.real_file}:{p.real_line}") if p.real_line else "**not found**"
        rows.append((link(here, f"{TOUR}/{page_id}.md", esc(page_id)), code(p.what),
                     code(f"{p.cite_file}:{p.cite_line}"), real,
                     f"{p.real_line - p.cite_line:+d}" if p.real_line else ""))
    return ("## By line number\n\nThe lecture prints line numbers beside its "
            "excerpts. Each cited symbol and line is looked up in the Linux 4.4.1 source "
            "by its text; these are the ones where the source differs from the slide "
            f"({len(rows)} of {len(site.placed)}; the other {same} agree).\n\n"
            + table(["page", "cited", "the lecture", "4.4.1", "offset"], rows))


# --- reference pages ----------------------------------------------------------------------


def _front(names: list[str]) -> str:
    """Front matter naming the symbols a page is about: the search hook
    (analyzer/site/hooks/search.py) makes a search for one of them rank the page first."""
    shown = [n for n in dict.fromkeys(names) if re.fullmatch(r"\w+", n)]
    return ("---\nsymbols: [" + ", ".join(shown) + "]\n---\n\n") if shown else ""


def _lecture_names(name: str) -> list[str]:
    """``sys_socketcall`` and the word a reader may type for it, ``socketcall``."""
    bare = name.strip().rstrip("()")
    return [bare, bare.removeprefix("sys_")]


def _symbol_page() -> str:
    """The page that shows the card of any symbol named in its URL (``#<id>``)."""
    return ("---\nsearch:\n  exclude: true\n---\n\n# Symbol\n\n"
            '<div id="lsa-symbol" markdown="0"><p>The card of the symbol named after '
            "<code>#</code> in this page's address shows here: where it is defined, what "
            "it is, and links onward. Point at a name in any code excerpt of the site to see "
            "its card there.</p></div>\n")


def _reference(site: Site) -> list:
    for name, path in site.functions.items():
        site.pages[path] = _front([name]) + _function_page(site, path, name)
    for name, path in site.structs.items():
        site.pages[path] = _front([name]) + _struct_page(site, path, name)
    for name, path in site.tables.items():
        site.pages[path] = _front([name]) + _table_page(site, path, name)
    index = f"{REF}/index.md"
    site.pages[index] = _ref_index(site, index)
    return [{"Overview": index},
            {"Structs": [{n: p} for n, p in site.structs.items()]},
            {"Ops tables": [{n: p} for n, p in site.tables.items()]},
            {"Functions": [{n: p} for n, p in site.functions.items()]}]


def _ref_index(site: Site, here: str) -> str:
    out = ["# Reference\n\nEvery struct, ops table and function on the path of "
           f"{code('socket(' + ', '.join(map(str, site.tour.scenario[1:])) + ')')}.\n"]
    for title, kind in (("Structs", "structs"), ("Ops tables", "tables"),
                        ("Functions", "functions")):
        names = getattr(site, kind)
        out.append(f"## {title}\n\n" + " · ".join(site.ref(here, kind, n) for n in names) + "\n")
    return "\n".join(out)


def _tour_links(site: Site, here: str, name: str) -> str:
    pages = [p for p in site.tour.pages if any(s.name == name for s in p.show)]
    if not pages:
        return ""
    return "On the tour: " + ", ".join(link(here, f"{TOUR}/{p.id}.md", esc(p.title))
                                       for p in pages) + "\n"


def _function_page(site: Site, here: str, name: str) -> str:
    fn = site.facts.function(name)
    out = [f"# {esc(name)}()\n", f"{code(fn.signature or fn.name)}\n",
           f"Defined at {code(f'{fn.file}:{fn.line}')}"
           f"{' (static)' if fn.static else ''}{' (inline)' if fn.inline else ''}.\n",
           _tour_links(site, here, name)]
    out.append("## Callers\n\n" + _neighbours(site, here, site.facts.callers(fn)))
    out.append("## Callees\n\n" + _neighbours(site, here, site.facts.callees(fn)))
    lines = tuple(site.facts.lines(fn.file, fn.line, fn.end_line))
    out.append("## Code\n\n" + site.code(here, Excerpt(fn.file, fn.line, lines, "function",
                                                      name), fn))
    return "\n".join(o for o in out if o)


def _neighbours(site: Site, here: str, found) -> str:
    if not found:
        return "None in the call graph.\n"
    rows = sorted({(n.kind, n.name, n.file, n.line, n.expr) for n in found},
                  key=lambda x: (x[0], x[1], x[3]))
    shown = [(esc(k), site.ref(here, "functions", nm), code(e) if e else "",
              code(f"{f}:{ln}") if f else "") for k, nm, f, ln, e in rows[:200]]
    more = f"\n{len(rows) - 200} more.\n" if len(rows) > 200 else ""
    return table(["edge", "function", "through", "call site"], shown) + more


def _struct_page(site: Site, here: str, name: str) -> str:
    st = site.facts.struct(name)
    chain = _embedding(site.facts, name)
    outer = [s for s in site.structs if s != name and any(
        e.name == name for e in _embedding(site.facts, s)[1:2])]
    out = [f"# struct {esc(name)}\n", f"Defined at {code(f'{st.file}:{st.line}')} to line "
           f"{st.end_line}, {len(st.fields)} fields.\n", _tour_links(site, here, name)]
    if len(chain) > 1:
        out.append("Embeds, first member first: " + " ⊃ ".join(
            site.ref(here, "structs", s.name) for s in chain) + "\n")
    if outer:
        out.append("Embedded as the first member of: " + ", ".join(
            site.ref(here, "structs", s) for s in outer) + "\n")
    out.append(_made(site, here, name))
    out.append("## Fields\n\n" + table(["field", "type", "line", "bits", "only with"], [
        (f'<span id="{field_anchor(f.name)}"></span>' + code(f.name), _type(site, here, f.type),
         str(f.line), esc(f.bits), esc(f.guard)) for f in st.fields]))
    return "\n".join(o for o in out if o)


def _made(site: Site, here: str, name: str) -> str:
    """Where the model allocated objects of this type and the path's functions that cast to it."""
    out = []
    run = site.facts.run
    if run and run.steps:
        for label, obj in run.scenario_snapshot(run.last(), set()).items():
            if base_struct(str(obj.get("type", ""))) == name:
                first = next((s for s in run.steps for c in s.changes
                              if c.get("object") == label), None)
                when = (f", first written at step {first.n} in "
                        f"{site.ref(here, 'functions', first.function)}") if first else ""
                out.append(f"- the model's object {code(label)}{when}")
    for fname in site.functions:
        fn = site.facts.function(fname)
        ps = fn.params if fn else ()
        if fn and fn.inline and len(ps) == 1 and base_struct(fn.return_type) == name and (
                base_struct(ps[0].type) not in ("", name)):
            out.append(f"- cast from {_type(site, here, ps[0].type)} by "
                       f"{site.ref(here, 'functions', fname)}")
    return ("## Allocated and cast\n\n" + "\n".join(out) + "\n") if out else ""


def _table_page(site: Site, here: str, name: str) -> str:
    init = site.facts.initializer(name)
    last = max([e.line for e in init.entries] + [init.line])
    end = initializer_end(init, site.facts.lines(init.file, last, last + 40))
    regs = site.facts.registrations(name)
    out = [f"# {esc(name)}\n", f"{_type(site, here, init.type)} at "
           f"{code(f'{init.file}:{init.line}')}, {len(init.entries)} initialised fields.\n",
           _tour_links(site, here, name)]
    if regs:
        out.append("Registered by: " + ", ".join(
            f"{code(r.registrar + '()')} in {site.ref(here, 'functions', r.caller.split('@')[0])}"
            f" {code(f'{r.file}:{r.line}')}" for r in regs) + "\n")
    rows = [(code(e.path), _value(site, here, e), str(e.line)) for e in init.entries]
    out.append("## Fields\n\n" + table(["field", "value", "line"], rows))
    lines = tuple(site.facts.lines(init.file, init.line, end))
    out.append("## Code\n\n" + site.code(here, Excerpt(init.file, init.line, lines, "table",
                                                      name, base_struct(init.type))))
    return "\n".join(o for o in out if o)


def _value(site: Site, here: str, e) -> str:
    if e.ref in site.functions:
        return site.ref(here, "functions", e.ref, code(e.value))
    if e.ref in site.tables:
        return site.ref(here, "tables", e.ref, code(e.value))
    return code(e.value)
