"""Text and JSON output of a socket-buffer scenario (``python -m analyzer model skb``).

Takes a :class:`~analyzer.model.skb.SkbRun`; gives the trace of each
operation (calls with ``file:line``, stubs, the fields each call wrote) and
the layout of every buffer after it: the offsets head / data / tail / end
into the data area, len and data_len, headroom and tailroom, and a bar drawn
to scale (``.`` headroom, ``#`` data, `` `` tailroom, ``=`` skb_shared_info
and slack after ``end``); then the queues and the buffers on them.
"""

from __future__ import annotations

import json
import sys

from analyzer.config import Config
from analyzer.model.skb import BufferState, OpResult, SkbRun, run_skb

__all__ = ["render", "bar", "skb_cli", "BAR_WIDTH"]

BAR_WIDTH = 64


def bar(b: BufferState, width: int = BAR_WIDTH) -> str:
    """The data area drawn to scale, one character per ``size / width`` bytes.

    >>> from analyzer.model.skb import BufferState
    >>> bar(BufferState("s", "d", 64, 0, 16, 32, 48, 16, 0, 0, 1), 8)
    '|..##  ==|'
    """
    scale = width / b.size if b.size else 0

    def at(x: int) -> int:
        return max(0, min(width, round(x * scale)))

    cells = ["."] * at(b.data) + ["#"] * (at(b.tail) - at(b.data)) \
        + [" "] * (at(b.end) - at(b.tail))
    cells += ["="] * (width - len(cells))
    return "|" + "".join(cells[:width]) + "|"


def _layout(b: BufferState) -> list[str]:
    where = f" on {b.queue}" if b.queue else ""
    freed = " FREED" if b.freed else ""
    return [f"    {b.label}{where}{freed}: {b.area} ({b.size} bytes)  head={b.head} "
            f"data={b.data} tail={b.tail} end={b.end}  len={b.len} data_len={b.data_len}  "
            f"headroom={b.headroom} tailroom={b.tailroom}  truesize={b.truesize} "
            f"users={b.users}",
            f"    {bar(b)}"]


def _trace(run: SkbRun, op: OpResult) -> list[str]:
    steps = [s for s in run.run.steps if op.first_step <= s.n <= op.last_step]
    base = min((s.depth for s in steps), default=0)
    out = []
    for s in steps:
        pad = "  " * (s.depth - base + 3)
        where = f" {s.file}:{s.line}" if s.file else ""
        if s.event == "call":
            out.append(f"{pad}{s.n:>4} call {s.function}{where}")
        elif s.event == "stub":
            out.append(f"{pad}{s.n:>4} stub {s.function} = {s.value}  ({s.note})")
        else:
            if s.value not in ("", "NULL"):
                out.append(f"{pad}       <- {s.function} = {s.value}")
            for c in s.changes:
                out.append(f"{pad}       {c['object']}.{c['field']}: {c['old']} -> {c['new']}")
    return out


def render(run: SkbRun, trace: bool = True) -> str:
    """The scenario as text: per operation its trace, then the buffers and queues."""
    out = []
    if run.socket:
        s = run.socket
        out.append(f"socket: {s.get('socket') or '?'} -> {s['sock']} ({s['type']}); "
                   f"queues: {', '.join(s['queues'])}")
    for op in run.ops:
        value = f" = {op.value}" if op.value and op.value != "NULL" else ""
        out.append(f"[{op.n}] {op.text}{value}   (steps {op.first_step}-{op.last_step})")
        if trace:
            out += _trace(run, op)
        for b in op.buffers:
            out += _layout(b)
        for q, labels in op.queues:
            out.append(f"    queue {q}: " + (" -> ".join(labels) if labels else "(empty)"))
    if run.error:
        out.append(f"error: {run.error}")
    return "\n".join(out)


def skb_cli(cfg: Config, args) -> int:
    """``python -m analyzer model skb OP...``: print the trace and the layouts."""
    result = run_skb(list(args.args), cfg, write=False)  # build/model is the analysis stage's
    if getattr(args, "json", False):
        json.dump(result.to_json(), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(render(result))
    if result.error:
        print(f"error: {result.error}", file=sys.stderr)
        return 2
    return 0
