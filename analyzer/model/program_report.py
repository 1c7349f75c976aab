"""Text and JSON output of a program of system calls (``python -m analyzer
model run STMT...`` / ``--file PROG``).

Takes a :class:`~analyzer.model.program.ProgramRun`; gives the call trace of
the whole program as ``model socket`` prints it (calls with ``file:line``,
dispatches, stubs, the fields each call wrote), then each statement with its
kernel entry, steps, value and the user memory it read back, and the names
the program bound.
"""

from __future__ import annotations

import json
import sys

from analyzer.config import Config
from analyzer.errors import AnalyzerError
from analyzer.model.program import ProgramRun, read_program, run_program

__all__ = ["render", "program_cli"]


def render(p: ProgramRun) -> str:
    from analyzer.model.cli import render_trace

    out = [render_trace(p.run), "", "statements:"]
    for s in p.statements:
        line = f"  {s.n:2}. {s.text:<48} {s.entry}  steps {s.first_step}-{s.last_step}"
        line += f"  = {s.value}" if s.value else ""
        out.append(line)
        out.extend(f"        user memory {label} = {shown}" for label, shown in s.memory)
        out.extend(f"        ! outside the analysed tree: {why}" for why in s.limits)
    if p.names:
        out.append("names: " + ", ".join(f"{k} = {v}" for k, v in p.names.items()))
    if p.error:
        out.append(f"stopped: {p.error}")
    return "\n".join(out)


def program_cli(cfg: Config, args) -> int:
    """``model run``: statements from the command line or ``--file``."""
    path = getattr(args, "file", None)
    if path is not None and args.args:
        raise AnalyzerError("model run: give statements or --file PROG, not both")
    source = read_program(path) if path is not None else list(args.args)
    p = run_program(source, cfg)
    if args.step is not None and not 0 <= args.step <= len(p.run.steps):
        raise AnalyzerError(f"--step {args.step}: the run has steps 0..{len(p.run.steps)}")
    if args.json:
        data = p.to_json() if args.step is None else \
            {"step": args.step, "snapshot": p.run.snapshot(args.step)}
        json.dump(data, sys.stdout, indent=1, default=str)
        sys.stdout.write("\n")
    elif args.step is not None:
        from analyzer.model.cli import render_snapshot

        print(render_snapshot(p.run, args.step))
    else:
        print(render(p))
    return 1 if p.error else 0
