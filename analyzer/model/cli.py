"""The ``model`` command: run a scenario and print its trace, a snapshot, or
the generated Python of one function beside its C.

Takes the parsed command-line arguments (``scenario``, ``args``, ``step``,
``python``, ``json``) and a Config; prints text or JSON; returns the exit code.
"""

from __future__ import annotations

import json
import sys

from analyzer.config import Config
from analyzer.errors import AnalyzerError
from analyzer.model.trace import Run, Step

__all__ = ["run_cli", "render_trace", "render_snapshot", "render_python"]


def run_cli(cfg: Config, args) -> int:
    """Entry point of ``python -m analyzer model``."""
    from analyzer.model import run

    if args.scenario == "run" and getattr(args, "python", None) is None:
        from analyzer.model.program_report import program_cli  # model/program.py

        return program_cli(cfg, args)
    if args.scenario == "skb" and getattr(args, "python", None) is None:
        from analyzer.model.skb_report import skb_cli  # socket buffers: model/skb.py

        return skb_cli(cfg, args)
    if getattr(args, "python", None) is not None:
        return _python(cfg, args.python)
    if args.scenario == "boot":
        return _boot(cfg, args)
    if args.scenario == "config":
        return _config(cfg, args)
    r = run(args.scenario, *args.args, cfg=cfg, config_file=getattr(args, "config", None),
            user=getattr(args, "user", None), sysctls=getattr(args, "sysctl", ()),
            write=False)  # a question: build/model stays what the analysis wrote
    if args.step is not None and not 0 <= args.step <= len(r.steps):
        raise AnalyzerError(f"--step {args.step}: the run has steps 0..{len(r.steps)}")
    if args.json:
        data = r.to_json()
        if args.step is not None:
            data = {"step": args.step, "snapshot": r.snapshot(args.step)}
        json.dump(data, sys.stdout, indent=1, default=str)
        sys.stdout.write("\n")
    elif args.step is not None:
        print(render_snapshot(r, args.step))
    else:
        print(render_trace(r))
    return 0


def _call_text(s: Step) -> str:
    text = f"{s.function}  {s.file}:{s.line}"
    if s.site:
        text += f"  (called at {s.site})"
    if s.via:
        v = s.via
        where = f" set at {v['file']}:{v['line']}" if v.get("file") else ""
        text += f"\n{'':{2 * s.depth}}  via {v['expr']} = {v['table']}.{v['field']}{where}"
    return text


def _boot_steps(r: Run) -> int:
    return r.boot_report.steps if r.boot_report is not None else len(r.boot)


def render_trace(r: Run) -> str:
    """The indented call trace, with the objects each function changed."""
    out = [f"{r.scenario}({', '.join(map(str, r.args))}) = {r.result}    "
           f"[{_boot_steps(r)} boot steps, {len(r.steps)} steps, {r.seconds:.2f} s]"]
    for s in r.steps:
        pad = "  " * s.depth
        if s.event == "call":
            out.append(f"{s.n:4} {pad}{_call_text(s)}")
        elif s.event == "stub":
            note = f"  [{s.note}]" if s.note else ""
            how = "stand-in" if s.note.startswith("stand-in") else "not modelled"
            out.append(f"{s.n:4} {pad}~ {s.function} -> {s.value} ({how}){note}")
        elif s.event == "assume":
            out.append(f"{s.n:4} {pad}? ASSUMED {s.note}")
        else:
            value = f" {s.value}" if s.value else " (void)"
            out.append(f"{s.n:4} {pad}<- {s.function} returns{value}")
            out.extend(f"     {pad}   {line}" for line in _changes(s))
        out.extend(f"     {pad}   ! {note}" for note in s.notes)
    count = len(r.assumptions)
    out.append(f"{count} assumption{'s' if count != 1 else ''}" + (
        " (decisions taken on values the model does not know; steps marked ?)" if count
        else ": every decision was taken on values the model computed"))
    return "\n".join(out)


def _changes(s: Step) -> list[str]:
    final: dict[str, dict[str, str]] = {}
    for c in s.changes:
        final.setdefault(c["object"], {})[c["field"]] = c["new"]
    return [f"{obj}: " + ", ".join(f"{k} = {v}" for k, v in fields.items())
            for obj, fields in final.items()]


def render_snapshot(r: Run, n: int) -> str:
    """The objects the run made, as they are at step ``n``; zeroed members of big
    structs are counted, not listed; objects made at boot are named only."""
    head = f"state after step {n}"
    if 0 < n <= len(r.steps):
        s = r.steps[n - 1]
        head += f" ({s.event} {s.function})"
    out = [head]
    made = {label for label, _, created, _ in r.objects if created > 0}
    snap = r.snapshot(n)
    static = [label for label in snap if label not in made]
    for label, obj in snap.items():
        if label not in made:
            continue
        small = len(obj["fields"]) <= 12  # small structs in full, as the lecture's tables
        shown = [(k, v) for k, v in obj["fields"]
                 if small or v not in ("0", "NULL", "{...}", "[...]")]
        hidden = len(obj["fields"]) - len(shown)
        out.append(f"{label}  ({obj['type']})" + (f"  +{hidden} zero" if hidden else ""))
        out.extend(f"    {k:<24} {v}" for k, v in shown)
    out.append(f"(+{len(static)} objects made at boot or by static initializers: "
               + ", ".join(static[:12]) + (", ..." if len(static) > 12 else "") + "; see --json)")
    return "\n".join(out)


def render_python(c_text: str, c_line: int, py_source: str, lines: dict[int, int]) -> str:
    """The generated Python in order, each line beside the C line it comes from
    (a C line is shown the first time the Python reaches it)."""
    c_lines = c_text.splitlines()
    shown: set[int] = set()
    out = []
    for i, text in enumerate(py_source.splitlines(), start=1):
        code = text.split("  # ")[0]
        line = lines.get(i, 0)
        left = ""
        if line and line not in shown and 0 <= line - c_line < len(c_lines):
            shown.add(line)
            left = f"{line:5} {c_lines[line - c_line].expandtabs(4)}"
        out.append(f"{left:<66.66} | {code}")
    return "\n".join(out)


def render_boot(report) -> str:
    """What the boot ran, what it skipped and why, and what it left out."""
    ran = [e for e in report.entries if e.status != "skipped"]
    how = "; read from its image, nothing it read changed since" if report.image == "read" \
        else ""
    out = [f"boot: {len(ran)} of {len(report.entries)} calls ran "
           f"({report.steps} steps, {report.seconds:.2f} s{how}); "
           f"{len(report.skipped)} skipped, {len(report.left_out)} initcalls not built in, "
           f"{len(report.assumptions)} assumptions"]
    for e in report.entries:
        c = e.call
        mark = {"ran": " ", "failed": "!", "skipped": "-"}[e.status]
        line = f" {mark} {c.level:<12} {c.function:<32} {c.file}:{c.line}"
        if e.status == "failed":
            line += f"  returned {e.value}"
        out.append(line)
        if e.reason:
            out.append(f"      skipped: {e.reason}")
        out.extend(f"      ? {a}" for a in e.assumptions)
        out.extend(f"      x {f} (called by {c}) could not run: {w}" for c, f, w in e.undone)
    for fn, file, why in report.left_out:
        out.append(f"   not built in: {fn} ({file}): {why}")
    return "\n".join(out)


def _boot(cfg: Config, args) -> int:
    from analyzer.model import open_generator

    gen = open_generator(cfg, getattr(args, "config", None))
    _, report = gen.booted()
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(render_boot(report))
    return 0


def _config(cfg: Config, args) -> int:
    """``model config [SCENARIO ARGS...]``: the configuration options the boot (and
    the run, if one is named) read, each with its value and where it comes from."""
    from analyzer.model import open_generator, run_with

    gen = open_generator(cfg, getattr(args, "config", None))
    gen.booted()
    if args.args:
        run_with(gen.facts, args.args[0], args.args[1:], generator=gen)
    kc = gen.kconfig
    rows = [{"option": name, "value": kc.value(name) if kc else "n",
             "source": kc.source(name) if kc else "no configuration"}
            for name in sorted(gen.config.read)]
    if args.json:
        json.dump({"configuration": kc.origin if kc else "", "options": rows}, sys.stdout,
                  indent=1)
        sys.stdout.write("\n")
        return 0
    print(f"{len(rows)} options read by the model ({kc.origin if kc else 'no'} configuration)")
    width = max((len(r["option"]) for r in rows), default=0)
    for r in rows:
        print(f"  {r['option']:<{width}}  {r['value']:<6}  {r['source']}")
    return 0


def _python(cfg: Config, name: str) -> int:
    from analyzer.model import open_generator

    gen = open_generator(cfg)
    tr, c_text = gen.python_of(name)
    print(f"# {name}: {tr.file}:{tr.line}")
    print(render_python(c_text, tr.line, tr.source, tr.lines))
    return 0
