"""Programs of system calls on the site: the tour's pages beyond the lecture.

Takes ``analyzer/site/programs.yaml`` (each program's statements, notes, the
members it watches and the statements it explains: data, never facts) and the
model's runs of the programs (:class:`~analyzer.model.program.ProgramRun`: the
statements with their values and trace steps, the :class:`~analyzer.model.trace.Run`
with its snapshots and executed lines); gives a page per program under
``generated/tour/`` (the statements and their values, the state after each
statement from the run's snapshots, the functions that do the work with the
lines that ran, "Up to now" at the end of each explained statement, linked to the
debugger) and leaves the runs in ``site.programs`` for the debugger
(:mod:`analyzer.docs.steps`) and the socket-buffer pages (:mod:`analyzer.docs.skb`).
A statement that did not run is said, with the model's reason, never guessed.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from analyzer.docs.codeview import Excerpt
from analyzer.docs.render import admonition, code, esc, object_root, rel_link, table
from analyzer.docs.tour import read_yaml
from analyzer.errors import AnalyzerError

__all__ = ["Explain", "Program", "Programs", "ProgramView", "load_programs", "parse_programs",
           "run_programs", "program_page", "buffers_at", "queues_at", "stopped",
           "add_program_section", "debugger_slug", "debugger_url", "queue_names", "TOUR"]

TOUR = "generated/tour"
_KEYS = {"id", "title", "statements", "notes", "errors", "watch", "network", "buffer",
         "queues", "explain"}


@dataclass(frozen=True)
class Explain:
    """A statement the page explains: its number (from 1), the functions shown, notes."""

    statement: int
    functions: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Program:
    id: str
    title: str
    statements: tuple[str, ...]
    notes: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()  # errno names a negative value may be named by
    watch: tuple[str, ...] = ()  # [struct-or-object.]member tabulated after each statement
    network: tuple[str, ...] = ()  # members in network byte order
    buffer: str = ""  # struct drawn as a buffer (sk_buff)
    queues: tuple[str, ...] = ()  # queue members drawn with their buffers
    explain: tuple[Explain, ...] = ()


@dataclass(frozen=True)
class Programs:
    programs: tuple[Program, ...]

    def get(self, pid: str) -> Program | None:
        return next((p for p in self.programs if p.id == pid), None)


# --- loading ------------------------------------------------------------------------------

def _need(cond: bool, where: str, what: str) -> None:
    if not cond:
        raise AnalyzerError(f"{where}: {what}")


def _strings(raw, where: str, what: str) -> tuple[str, ...]:
    raw = raw or []
    _need(isinstance(raw, list) and all(isinstance(x, str) and x.strip() for x in raw),
          where, f"`{what}` must be a list of texts")
    return tuple(" ".join(x.split()) for x in raw)


def _explain(raw, where: str, count: int) -> Explain:
    _need(isinstance(raw, dict), where, "an explained statement is {statement: N, "
          "functions: [...], notes: [...]}")
    n = raw.get("statement")
    _need(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= count, where,
          f"statement {n!r} is not a number from 1 to {count}")
    return Explain(n, _strings(raw.get("functions"), where, "functions"),
                   _strings(raw.get("notes"), where, "notes"))


def _program(raw, where: str) -> Program:
    from analyzer.model.program import parse_statement

    _need(isinstance(raw, dict), where, "a program must be a mapping")
    pid = raw.get("id")
    _need(isinstance(pid, str) and re.fullmatch(r"[a-z0-9][a-z0-9-]*", pid) is not None,
          where, f"id {pid!r} must be [a-z0-9-]+")
    here = f"{where} ({pid})"
    unknown = sorted(set(raw) - _KEYS)
    _need(not unknown, here, f"unknown key(s) {', '.join(map(str, unknown))}; known: "
          + ", ".join(sorted(_KEYS)))
    stmts = _strings(raw.get("statements"), here, "statements")
    _need(bool(stmts), here, "a program needs `statements`")
    for i, s in enumerate(stmts, start=1):
        try:
            parse_statement(s)
        except AnalyzerError as e:
            raise AnalyzerError(f"{here}: statement {i}: {e}") from None
    explain = raw.get("explain") or []
    _need(isinstance(explain, list), here, "`explain` must be a list")
    buffer = raw.get("buffer") or ""
    _need(isinstance(buffer, str), here, "`buffer` must be a struct name")
    title = str(raw.get("title") or pid)
    _need(":" not in title, here, "`title` must not hold a colon (the debugger's label "
          "ends its name at one)")
    return Program(pid, title, stmts,
                   _strings(raw.get("notes"), here, "notes"),
                   _strings(raw.get("errors"), here, "errors"),
                   _strings(raw.get("watch"), here, "watch"),
                   _strings(raw.get("network"), here, "network"), buffer,
                   _strings(raw.get("queues"), here, "queues"),
                   tuple(_explain(e, f"{here}.explain[{i}]", len(stmts))
                         for i, e in enumerate(explain)))


def parse_programs(data, where: str = "programs.yaml") -> Programs:
    """Check and freeze the YAML data; an error names the file and the program."""
    _need(isinstance(data, dict) and isinstance(data.get("programs"), list), where,
          "expected a `programs:` list")
    progs = tuple(_program(p, f"{where}: program {i + 1}") for i, p in
                  enumerate(data["programs"]))
    ids = [p.id for p in progs]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    _need(not dup, where, f"duplicate program ids: {', '.join(dup)}")
    return Programs(progs)


def load_programs(path: Path) -> Programs:
    return parse_programs(read_yaml(path, "the programs"), str(path))


# --- running ------------------------------------------------------------------------------

@dataclass
class ProgramView:
    """A program with its run (or why there is none), the debugger's timeline and
    the run's snapshot after each statement, made once."""

    program: Program
    run: object | None = None  # ProgramRun
    error: str = ""
    timeline: object | None = None
    snaps: list = field(default_factory=list)

    @property
    def statements(self) -> list:
        return list(getattr(self.run, "statements", []) or [])

    def snapshot(self, k: int) -> dict:
        """The objects after statement ``k`` (from 0)."""
        while len(self.snaps) <= k:
            s = self.statements[len(self.snaps)]
            self.snaps.append(self.run.run.snapshot(s.last_step))
        return self.snaps[k]


def run_programs(programs: Programs, cfg, session=None) -> tuple[dict[str, ProgramView], float]:
    """Every program run on one generator (``session``'s, else a new one); the
    seconds it took."""
    start = time.perf_counter()
    out: dict[str, ProgramView] = {}
    try:
        from analyzer.model import program as model
    except ImportError as e:  # the pages say why there is no run
        return {p.id: ProgramView(p, error=f"the model did not run program {p.id}: {e}")
                for p in programs.programs}, time.perf_counter() - start
    gen = None
    for p in programs.programs:
        try:
            calls = model.parse_program(list(p.statements))  # checked before any boot
            gen = gen or (session.generator("program") if session is not None
                          else model.program_generator(cfg))
            out[p.id] = ProgramView(p, model.run_program_with(gen, calls))
        except Exception as e:  # noqa: BLE001 - the page says why there is no run
            why = str(e) if isinstance(e, AnalyzerError) else f"{type(e).__name__}: {e}"
            out[p.id] = ProgramView(p, error=f"the model did not run program {p.id}: {why}")
    return out, time.perf_counter() - start


def stopped(view: ProgramView, stmt) -> str:
    """Why a statement did not finish ("" when it did): the program's error at its
    last statement, or a trace ending in a step the model could not run."""
    run = view.run
    last = view.statements[-1] if view.statements else None
    if run is not None and run.error and stmt is last:
        return run.error
    step = next((s for s in reversed(run.run.steps) if s.n <= stmt.last_step), None) \
        if run is not None else None
    if step is not None and step.n >= stmt.first_step and step.event in ("stub", "cannot") \
            and step.depth == 0:
        return step.note or f"{step.function} did not run"
    return ""


# --- values -------------------------------------------------------------------------------

def _value(facts, prog: Program, value: str) -> str:
    """A statement's value; a negative one named by the program's errno names
    when the tree's constant of that name has that value."""
    try:
        n = int(value)
    except ValueError:
        return code(value)
    for name in prog.errors if n < 0 else ():
        if facts.constant_value(name) == -n:
            c = facts.constant(name)
            where = f" ({esc(name)} at {code(f'{c.file}:{c.line}')})" if c else ""
            return code(f"-{name} ({n})") + where
    return code(value)


def _shown(member: str, value: str, network: bool) -> str:
    if network and re.fullmatch(r"\d+", value) and int(value) < 65536:
        host = int.from_bytes(int(value).to_bytes(2, "little"), "big")
        return code(value) + f" = htons({host})"
    return code(value)


def _member(facts, name: str) -> tuple[str, str, str]:
    """(qualifier, member, alias) of a watched name: ``inet_num`` read through
    its ``#define`` as ``skc_num``; ``sk_buff.len`` qualified by a struct or an
    object's last label part."""
    qual, _, member = name.rpartition(".")
    alias = facts.alias(member)
    if alias is not None:
        return qual, re.split(r"[.>-]+", alias.target)[-1], member
    return qual, member, ""


def _made(view: ProgramView) -> dict[str, int]:
    """Objects the program made (not the boot's): root label -> creation step."""
    return {str(o[0]): int(o[2]) for o in view.run.run.objects
            if int(o[2]) > 0 and object_root(str(o[0])) == str(o[0])}


def _freed(view: ProgramView, upto: int) -> set[str]:
    """Labels the run freed up to step ``upto`` (a primitive's "X freed" note)."""
    out = set()
    for s in view.run.run.steps:
        if s.n > upto:
            break
        for m in re.finditer(r"([\w@:#+\[\]?]+) freed", s.note or ""):
            out.add(m.group(1))
    return out


def watch_rows(facts, view: ProgramView) -> list[tuple[str, str, str, list[str]]]:
    """(object, member, alias, value after each statement or "") for the watched members."""
    made = _made(view)
    wanted = [_member(facts, w) for w in view.program.watch]
    rows: dict[tuple[str, str], tuple[str, list[str]]] = {}
    for k in range(len(view.statements)):
        for label, obj in view.snapshot(k).items():
            if object_root(label) not in made:
                continue
            kind = str(obj.get("type", ""))
            last = re.split(r"[.\]]", label)[-1]
            for name, value in obj.get("fields", []):
                for qual, member, alias in wanted:
                    if member == name and (not qual or kind == f"struct {qual}"
                                           or last == qual):
                        row = rows.setdefault((label, name), (alias, [""] * len(
                            view.statements)))
                        row[1][k] = str(value)
    order = sorted(rows, key=lambda r: (made.get(object_root(r[0]), 0), r[0]))
    return [(lab, m, rows[(lab, m)][0], rows[(lab, m)][1]) for lab, m in order]


# --- buffers ------------------------------------------------------------------------------

def _area_size(view: ProgramView, area: str, upto: int) -> int | None:
    """The size of a data area as the run's ``ksize`` of it gave it."""
    for s in view.run.run.steps:
        if s.n > upto:
            break
        if s.event == "stub" and (s.note or "").endswith(f"the size of {area}"):
            try:
                return int(s.value)
            except ValueError:
                return None
    return None


def buffers_at(view: ProgramView, k: int) -> list:
    """The buffers (``program.buffer`` objects) after statement ``k``, as the
    socket-buffer drawings take them, from the run's snapshot."""
    from analyzer.model.skb import BufferState

    struct = view.program.buffer
    if not struct:
        return []
    stmt = view.statements[k]
    freed, made = _freed(view, stmt.last_step), _made(view)
    out = []
    for label, obj in view.snapshot(k).items():
        if obj.get("type") != f"struct {struct}" or object_root(label) not in made:
            continue
        f = {str(n): str(v) for n, v in obj.get("fields", [])}
        head, data = (re.fullmatch(r"(\S+)\+(\d+)", f.get(x, "")) for x in ("head", "data"))
        if not head or not data or head.group(1) != data.group(1):
            continue
        try:
            nums = [int(f[x]) for x in ("tail", "end", "len", "data_len", "truesize")]
        except (KeyError, ValueError):
            continue
        area = head.group(1)
        size = _area_size(view, area, stmt.last_step) or nums[1]
        base = int(head.group(2))
        out.append(BufferState(label, area, size, 0, int(data.group(2)) - base, nums[0],
                               nums[1], nums[2], nums[3], nums[4], 0,
                               label in freed or area in freed))
    return out


def queues_at(view: ProgramView, k: int) -> list[tuple[str, tuple[str, ...]]]:
    """The watched queues after statement ``k``: each with the buffers linked
    after its head (following ``next`` from the snapshot)."""
    snap = view.snapshot(k)
    made = _made(view)
    out = []
    for label, obj in snap.items():
        if object_root(label) not in made or not any(label.endswith("." + q)
                                               for q in view.program.queues):
            continue
        items, seen = [], {label}
        nxt = dict(obj.get("fields", [])).get("next", "")
        while nxt.startswith("&") and nxt[1:] not in seen and nxt[1:] in snap:
            seen.add(nxt[1:])
            items.append(nxt[1:])
            nxt = dict(snap[nxt[1:]].get("fields", [])).get("next", "")
        out.append((label, tuple(items)))
    return out


# --- the page -----------------------------------------------------------------------------

def queue_names(queues: list[tuple[str, tuple[str, ...]]]) -> list[tuple[str, tuple]]:
    """Queues named by their object and member (``unix_sock#2 sk_receive_queue``) for
    :func:`~analyzer.docs.skb.queue_svg`, which shows a label's last part."""
    return [(f"{object_root(q)} {q.rsplit('.', 1)[-1]}", items) for q, items in queues]


def debugger_slug(prog: Program) -> str:
    return f"program-{prog.id}"


def debugger_url(here: str, prog: Program) -> str:
    from analyzer.docs.steps import ROOT

    return "../" + re.sub(r"\.md$", "/", rel_link(here, f"{ROOT}/{debugger_slug(prog)}.md"))


def _event_at(tl, step: int, last: bool) -> int:
    """The debugger's event of a trace step: the first one at ``step`` or later, or
    (``last``) the last one at ``step`` or before."""
    evs = tl.events
    if last:
        return max((i for i, ev in enumerate(evs) if ev.step <= step), default=0)
    return next((i for i, ev in enumerate(evs) if ev.step >= step), len(evs) - 1)


def _notes(notes: tuple[str, ...]) -> str:
    return "".join(f"- {esc(n)}\n" for n in notes) + ("\n" if notes else "")


def program_page(site, view: ProgramView, here: str) -> str:
    """The Markdown of a program's page."""
    prog = view.program
    out = [f"# {esc(prog.title)}\n",
           admonition("info", "Beyond the lecture", "The lecture stops when "
                      f"{code('socket()')} returns. This page goes on in its manner: the "
                      "program below runs on the model of the kernel, from the Linux 4.4.1 "
                      "source, and every value on the page is the run's."),
           _notes(prog.notes)]
    if view.run is None:
        out.append(admonition("failure", "The model did not run this program",
                              esc(view.error or "no run")))
        out.append("```\n" + "\n".join(prog.statements) + "\n```\n")
        return "\n".join(o for o in out if o)
    out.append(_statements(site, view, here))
    out.append(_state(site, view))
    out.append(_drawings(view))
    for ex in prog.explain:
        out.append(_explained(site, view, ex, here))
    return "\n".join(o for o in out if o)


def _statements(site, view: ProgramView, here: str) -> str:
    prog, tl = view.program, view.timeline
    debugger = debugger_url(here, prog)
    rows = []
    for i, text in enumerate(prog.statements):
        s = view.statements[i] if i < len(view.statements) else None
        if s is None:
            rows.append((str(i + 1), code(text), "", "not run: the program stopped before",
                         ""))
            continue
        why = stopped(view, s)
        value = (f"**stopped**: {esc(why)}" if why else _value(site.facts, prog, s.value)
                 + (f", {code(s.bound)} bound" if s.bound and s.bound != s.value else "")
                 + "".join(f"; {code(lab)} = {code(v)}" for lab, v in s.memory
                           if not v.startswith("&")))
        at = f"{s.first_step}–{s.last_step}"
        if tl is not None and tl.events:
            n = _event_at(tl, s.first_step, False) + 1
            at = f'<a class="lsa-step-link" href="{debugger}#step={n}">{at}</a>'
        rows.append((str(s.n), code(s.text), code(s.entry), value, at))
    head = ("## The program\n\nEach statement enters the kernel at its system call and runs "
            "the kernel's C; its trace steps link to the same moment in "
            f'<a href="{debugger}">the debugger</a>.\n\n')
    out = head + table(["#", "statement", "entry", "value", "trace steps"], rows)
    for s in view.statements:  # what the model's kernel lacks on a statement's path
        for why in getattr(s, "limits", ()):
            out += "\n" + admonition("warning", f"Statement {s.n}: outside the analysed tree",
                                      f"{code(s.text)} gave {_value(site.facts, prog, s.value)}"
                                      f", computed by the kernel's code; {esc(why)}.")
    if view.run.error:
        out += "\n" + admonition("failure", "The program stopped", esc(view.run.error)
                                 + "\n\nNo value is shown for what did not run.")
    return out


def _state(site, view: ProgramView) -> str:
    rows = watch_rows(site.facts, view)
    if not rows:
        return ""
    prog = view.program
    made = _made(view)
    freed = [_freed(view, s.last_step) for s in view.statements]
    first = {k: next((s.n for s in view.statements if s.first_step <= v <= s.last_step), 0)
             for k, v in made.items()}
    tables: dict[str, list] = {}
    for label, member, alias, values in rows:
        cells, before = [], None
        for k, v in enumerate(values):
            if not v:
                cells.append("—")
                continue
            changed = before is not None and v != before
            cell = _shown(member, v, changed and (alias or member) in prog.network)
            cells.append((f"**{cell}**" if changed else cell)
                         + (" (freed)" if label in freed[k] or object_root(label) in freed[k]
                            else ""))
            before = v
        name = (f'<span title="{esc(label)}">{code(member)}</span>'
                + (f" ({code(alias)})" if alias else ""))
        tables.setdefault(object_root(label), []).append((name, *cells))
    head = ["member"] + [f"after {s.n}" + (" (stopped)" if stopped(view, s) else "")
                         for s in view.statements]
    out = ["## The state after each statement\n\nThe watched members of every object the "
           "program made, from the run's snapshot after each statement (a value in bold "
           "changed in that statement; — : the object did not exist yet).\n"]
    for root, body in tables.items():
        kind = next((str(o[1]) for o in view.run.run.objects if o[0] == root), "")
        by = f", made by statement {first[root]}" if first.get(root) else ""
        out.append(f"### {code(root)} ({esc(kind)}{by})\n\n"
                   f'<div class="program-state" markdown>\n\n{table(head, body)}\n</div>\n')
    return "\n".join(out)


def _drawings(view: ProgramView) -> str:
    from analyzer.docs.skb import buffer_svg, queue_svg

    if not view.program.buffer and not view.program.queues:
        return ""
    out = []
    for k, s in enumerate(view.statements):
        bufs = buffers_at(view, k)
        queues = queues_at(view, k)
        parts = [_box(buffer_svg(b, f"{b.label} after {s.text}")) for b in bufs
                 if not b.freed]
        freed = [b.label for b in bufs if b.freed]
        if queues:
            parts.append(_box(queue_svg(queue_names(queues), bufs, f"queues after {s.text}")))
        if not parts and not freed:
            continue
        text = f"### After {s.n}. {code(s.text)}\n\n" + "".join(parts)
        if freed:
            text += "\nFreed: " + ", ".join(code(x) for x in freed) + ".\n"
        out.append(text)
    if not out:
        return ""
    return ("## The buffers and the queues\n\nDrawn from the snapshot after each statement: "
            "offsets from the buffer's head into its data area, and the buffers linked on "
            "each receive queue.\n\n" + "\n".join(out))


def _box(svg: str) -> str:
    return f'<div class="diagram-box" markdown="0">\n{svg}\n</div>\n'


def _explained(site, view: ProgramView, ex: Explain, here: str) -> str:
    if ex.statement > len(view.statements):
        text = view.program.statements[ex.statement - 1]
        return (f"## {ex.statement}. {code(text)}\n\n"
                + admonition("failure", "Not run", "The program stopped before this "
                             "statement: " + esc(view.run.error or "no trace")))
    s = view.statements[ex.statement - 1]
    out = [f"## {s.n}. {code(s.text)}\n", _notes(ex.notes)]
    why = stopped(view, s)
    if why:
        out.append(admonition("failure", "This statement did not finish",
                              f"{code(s.text)}: {esc(why)}"))
    else:
        out.append(f"It returns {_value(site.facts, view.program, s.value)}.\n")
    for name in ex.functions:
        out.append(_function(site, view, s, name, here))
    out.append(_up_to_now(site, view, s, here))
    return "\n".join(o for o in out if o)


def _function(site, view: ProgramView, s, name: str, here: str) -> str:
    fn = site.facts.function(name)
    if fn is None or not fn.end_line:
        return admonition("failure", f"{esc(name)} is not in the analysis",
                          f"No function {code(name)} in the analysed tree.")
    ran = frozenset(e.line for e in view.run.run.lines
                    if s.first_step <= e.after <= s.last_step and e.function == name
                    and e.file == fn.file)
    called = any(st.event == "call" and st.function == name
                 for st in view.run.run.steps if s.first_step <= st.n <= s.last_step)
    lines = tuple(site.facts.lines(fn.file, fn.line, fn.end_line))
    title = site.ref(here, "functions", name) if hasattr(site, "ref") else code(name)
    note = "" if called else (" — not called by this statement" if not ran else "")
    return (f"### {title}\n\n"
            f'<p class="where">{code(f"{fn.file}:{fn.line}")} to line {fn.end_line}'
            f"{esc(note)}</p>\n\n"
            + site.code(here, Excerpt(fn.file, fn.line, lines, "function", name,
                                      executed=ran if called else None), fn))


def _up_to_now(site, view: ProgramView, s, here: str) -> str:
    from analyzer.docs import steps as st

    tl = view.timeline
    if tl is None or not tl.events:
        return ""
    at = _event_at(tl, s.last_step, True)
    since = _event_at(tl, s.first_step, False)
    where = (f"where {code(s.text)} stopped" if stopped(view, s)
             else f"after {code(s.text)} returns")
    text = st.up_to_now(tl, at, since, where, debugger_url(here, view.program),
                        lambda t: site.ref(here, "structs", t.removeprefix("struct ").strip(),
                                           code(t)) if hasattr(site, "ref") else code(t))
    text = text.replace("the previous page's point", "the statement began")
    text = text.split('\n??? note "', 1)[0]  # the earlier state: the table above, the debugger
    return re.sub(r"^(#+) ", lambda m: "#" + m.group(0), text, flags=re.M)


# --- the site -----------------------------------------------------------------------------

def add_program_section(site, facts, site_dir: Path, cfg, progress: bool = False,
                        session=None) -> list[str]:
    """Run every program of ``site_dir/programs.yaml`` once (on ``session``'s
    program generator when given), add its page to the tour (after the
    lecture's pages) and keep the runs in ``site.programs``."""
    nav, notices = program_pages(site, facts, site_dir, cfg, progress, session)
    if hasattr(site, "finish"):
        site.finish()
    place_programs(site.nav, nav)
    return notices


def place_programs(nav: list, entries: list) -> None:
    """Put the programs' pages into the tour's navigation, after its steps."""
    tour = next((e["Tour"] for e in nav if "Tour" in e), None)
    if tour is not None and entries:
        at = next((i + 1 for i, e in enumerate(tour) if "Steps" in e), len(tour))
        tour.insert(at, {"Beyond the lecture": entries})


def program_pages(site, facts, site_dir: Path, cfg, progress: bool = False,
                  session=None) -> tuple[list, list[str]]:
    """The programs' pages added to ``site.pages``, their runs kept in
    ``site.programs``: (navigation entries, notices)."""
    from analyzer.docs.steps import timeline

    programs = load_programs(Path(site_dir) / "programs.yaml")
    views, seconds = run_programs(programs, cfg, session)
    if progress:
        print(f"docs: {len(views)} programs of system calls run in {seconds:.1f} s",
              file=sys.stderr, flush=True)
    notices = [v.error for v in views.values() if v.error]
    nav = []
    for pid, view in views.items():
        if view.run is not None:
            view.timeline = timeline(view.run.run, debugger_slug(view.program))
            if view.run.error:
                notices.append(f"program {pid}: {view.run.error}")
        here = f"{TOUR}/{pid}.md"
        site.pages[here] = program_page(site, view, here)
        nav.append({view.program.title: here})
    site.programs = views
    return nav, notices
