"""The command line: a thin layer, one subcommand per stage, each calling one
library function.  ``kernel-analyzer --help`` (or ``python -m analyzer --help``)
lists them.  Every command works on the project home: ``--home``, else
``$ANALYZER_HOME``, else the current folder, where ``kernel-src/`` and ``build/``
are made.

User mistakes (a bad path, an unknown name, a broken tarball) are reported as
one clear line on stderr with exit code 2, never as a traceback; so are bad
states (a damaged database, a read-only folder, a full disk), naming the file.
Arguments must be valid UTF-8; long values are shortened when echoed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from analyzer.config import EXTRA_PARTS, FETCH_PARTS, Config
from analyzer.errors import AnalyzerError

__all__ = ["main", "build_parser"]


def _cmd_fetch(args, cfg: Config) -> int:
    from analyzer.fetch import fetch

    if args.restore is not None:
        from analyzer.edits import restore

        print(restore(cfg, args.restore, source=args.source or ""))
        return 0
    parts = FETCH_PARTS + tuple(p for p in EXTRA_PARTS if args.all and p not in FETCH_PARTS)
    fetch(args.source or cfg.tarball, cfg, parts=parts, progress=not args.quiet,
          manifest=args.manifest)
    return 0


def _cmd_extract(args, cfg: Config) -> int:
    from analyzer.pipeline import extract_tree

    report = extract_tree(cfg, jobs=args.jobs, progress=not args.quiet)
    _emit(args, report, report.summary() if hasattr(report, "summary") else str(report))
    return 0


def _cmd_graph(args, cfg: Config) -> int:
    from analyzer.graph import build_graph_store

    report = build_graph_store(cfg, progress=not args.quiet)
    _emit(args, report, str(report))
    return 0


def _cmd_analyze(args, cfg: Config) -> int:
    from analyzer.pipeline import analyze

    print(f"home     {cfg.home} (kernel-src/, build/)", flush=True)
    analyze(cfg, jobs=args.jobs, progress=not args.quiet, docs=not args.no_docs,
            source=args.source)
    return 0


def _cmd_stats(args, cfg: Config) -> int:
    from analyzer.stats import collect, render

    data = collect(cfg)
    _emit(args, data, render(data))
    return 0


def _cmd_query(args, cfg: Config) -> int:
    from analyzer.query import run_query

    data, text = run_query(cfg, args.what, args.names, family=args.family, limit=args.limit)
    _emit(args, data, text)
    return 0


def _cmd_model(args, cfg: Config) -> int:
    from analyzer.model.cli import run_cli

    return run_cli(cfg, args)


def _cmd_docs(args, cfg: Config) -> int:
    from analyzer.docs import build_site

    build_site(cfg, strict=not args.no_strict, progress=not args.quiet)
    return 0


def _cmd_serve(args, cfg: Config) -> int:
    from analyzer.serve import serve

    serve(cfg, host=args.bind, port=args.port, quiet=args.quiet)
    return 0


def _emit(args, data, text: str) -> None:
    if getattr(args, "json", False):
        json.dump(data if not hasattr(data, "to_json") else data.to_json(),
                  sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(text)


#: the longest run of characters an error message echoes in full
_LONGEST = 120


def shorten(text: str, longest: int = _LONGEST) -> str:
    """``text`` on one line, each run of more than ``longest`` non-blank
    characters cut to its start and end.

    >>> shorten("no function named " + "x" * 1000, 20)
    'no function named xxxxxxxxxxxxxx...(986 more characters)'
    """
    def cut(m: re.Match) -> str:
        word = m.group(0)
        return f"{word[:longest * 3 // 4]}...({len(word) - longest * 3 // 4} more characters)"

    return re.sub(rf"\S{{{longest + 1},}}", cut, " ".join(str(text).split()))


def _not_utf8(argv: Sequence[str]) -> str | None:
    """The message for the first argument that is not valid UTF-8 (Python
    keeps its bytes as surrogates), or None."""
    for arg in argv:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError as e:
            raw = arg.encode("utf-8", "surrogateescape")
            return (f"argument '{shorten(ascii(raw)[2:-1])}' is not valid UTF-8 (byte "
                    f"0x{raw[e.start]:02x} at position {e.start}); names and paths must be "
                    "UTF-8 text")
    return None


def _program_calls() -> str:
    """The calls a program may make, as analyzer/kernel/syscalls.toml gives them."""
    try:
        from analyzer.model.program import syscalls_table
    except ImportError:
        return ""
    forms = []
    for name, spec in syscalls_table().get("syscalls", {}).items():
        params = ", ".join(p.split(":")[0] for p in spec.get("params", []))
        forms.append(f"{spec.get('call', name)}({params})")
    return "program calls (model run): " + ", ".join(forms)


def _count(text: str) -> int:
    """``--limit``: a whole number, 0 meaning no limit."""
    if not re.fullmatch(r"[0-9]{1,9}", text.strip()):
        raise argparse.ArgumentTypeError(
            f"{shorten(text, 20)!r} is not a count: give 0 (no limit) or a whole number "
            "up to 999999999")
    return int(text)


def _step(text: str) -> int:
    """``--step``: a step number."""
    if not re.fullmatch(r"-?[0-9]{1,9}", text.strip()):
        raise argparse.ArgumentTypeError(f"{shorten(text, 20)!r} is not a step number")
    return int(text)


def _jobs(text: str) -> int:
    """``--jobs``: 1 or more worker processes."""
    if not re.fullmatch(r"[0-9]{1,4}", text.strip()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{shorten(text, 20)!r} is not a number of worker "
                                         "processes (1 or more)")
    return int(text)


class _Parser(argparse.ArgumentParser):
    """argparse, with long values shortened in its error messages."""

    def error(self, message: str):
        super().error(shorten(message))


def build_parser(prog: str = "kernel-analyzer") -> argparse.ArgumentParser:
    p = _Parser(
        prog=prog,
        description="Static analysis of the Linux 4.4 socket path: extraction, call graph "
        "with resolved function-pointer dispatch, an executable model of socket(), and docs.",
        epilog=f"Start with `{prog} analyze` in an empty folder (`{prog} analyze "
        "linux-4.4.1.tar.xz` without network); then e.g. "
        f"`{prog} query callers sock_alloc_inode`, "
        f"`{prog} model socket AF_INET SOCK_STREAM 0` or `{prog} serve`.",
    )
    p.add_argument("--home", help="project folder where kernel-src/ and build/ are made "
                   "(default: $ANALYZER_HOME, else the current folder)")
    p.add_argument("--tree", metavar="PATH", help="analyse this kernel source tree (a checkout "
                   "holding net/, fs/, include/; read, never written) instead of the fetched "
                   "one (default: $KERNEL_TREE, else kernel-src/linux-4.4.1)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def cmd(name: str, fn: Callable, help: str, jobs=False, json_flag=False):
        sp = sub.add_parser(name, help=help, description=help)
        sp.set_defaults(fn=fn)
        sp.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
        if jobs:
            sp.add_argument("-j", "--jobs", type=_jobs, default=os.cpu_count() or 1,
                            help="worker processes (default: all cores)")
        if json_flag:
            sp.add_argument("--json", action="store_true", help="print the result as JSON")
        return sp

    sp = cmd("fetch", _cmd_fetch, "obtain and verify the Linux 4.4.1 sources into kernel-src/")
    sp.add_argument("source", nargs="?", help="a tarball path or http(s) URL "
                    "(default: $KERNEL_TARBALL, else kernel.org)")
    sp.add_argument("--all", action="store_true",
                    help="also extract " + ", ".join(EXTRA_PARTS))
    sp.add_argument("--manifest", type=Path, metavar="FILE",
                    help="verify against this list of SHA-256 sums instead of the one "
                    "shipped with the tool")
    sp.add_argument("--restore", nargs="*", metavar="PATH",
                    help="put the released text back into these files of the fetched tree "
                    "(e.g. net/socket.c; all files that differ from the release when none "
                    "is given), and do nothing else")
    cmd("extract", _cmd_extract, "parse net/, fs/, include/ into build/analysis.sqlite "
        "(re-parses only changed files)", jobs=True, json_flag=True)
    cmd("graph", _cmd_graph, "build the call graph and resolve indirect calls", json_flag=True)
    sp = cmd("analyze", _cmd_analyze, "the main job: fetch, extract, graph, model, docs",
             jobs=True)
    sp.add_argument("source", nargs="?", help="the Linux 4.4.1 tarball: a path or http(s) URL "
                    "(default: $KERNEL_TARBALL, else kernel.org)")
    sp.add_argument("--no-docs", action="store_true", help="stop before building the site")
    cmd("stats", _cmd_stats, "parse errors, extraction counts and resolution figures",
        json_flag=True)

    sp = cmd("query", _cmd_query, "ask the call graph", json_flag=True)
    sp.add_argument("what", choices=["callers", "callees", "path", "resolve", "struct",
                                     "table", "where"],
                    help="callers F | callees F | path F G | resolve F EXPR | struct S | "
                    "table T | where NAME")
    sp.add_argument("names", nargs="+", metavar="NAME")
    sp.add_argument("--family", help="narrow `resolve` and `path` by registration key, "
                    "e.g. AF_INET (a constant of the tree, a number, a file system name "
                    "such as sockfs, or FIELD=VALUE such as type=SOCK_STREAM)")
    sp.add_argument("--limit", type=_count, default=0,
                    help="at most this many answers of `callers`/`callees` (0: all)")

    sp = cmd("model", _cmd_model, "run the executable model, e.g. `model socket AF_INET "
             "SOCK_STREAM 0`", json_flag=True)
    sp.add_argument("scenario", help="socket | skb | boot (what the boot ran and skipped) | "
                    "config (the CONFIG_ options the model read, with their sources; "
                    "`model config socket AF_INET SOCK_STREAM 0` adds those of that run) | "
                    "run (a program of system calls, e.g. `model run 'fd = socket(AF_INET, "
                    "SOCK_STREAM, 0)' 'bind(fd, \"0.0.0.0\", 8080)' 'listen(fd, 128)'`; "
                    "calls: analyzer/kernel/syscalls.toml)")
    sp.add_argument("args", nargs="*", help="the scenario's arguments (for run: one statement "
                    "each, quoted)")
    sp.add_argument("--file", type=Path, metavar="PROG",
                    help="for run: the program's statements, one a line (# comments)")
    sp.add_argument("--config", metavar="FILE",
                    help="a kernel .config to model instead of the tree's defaults")
    sp.add_argument("--user", metavar="UID:GID",
                    help="call as this user (default: root, 0:0), e.g. --user 1000:1000")
    sp.add_argument("--sysctl", metavar="NAME=VALUE", action="append", default=[],
                    help="write a runtime sysctl before the call, as /proc/sys does "
                    "(repeatable), e.g. --sysctl net.ipv4.ping_group_range='0 2147483647'")
    sp.add_argument("--step", type=_step, help="show the state after step N")
    sp.add_argument("--python", metavar="FUNCTION",
                    help="print the generated Python of one kernel function beside its C")
    sp.epilog = _program_calls()

    sp = cmd("docs", _cmd_docs, "generate and build the documentation site into build/site/")
    sp.add_argument("--no-strict", action="store_true", help="do not fail on warnings")

    sp = cmd("serve", _cmd_serve, "serve the built site (build/site/) over HTTP")
    sp.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000; "
                    "0 picks a free one)")
    sp.add_argument("--bind", default="127.0.0.1", metavar="ADDRESS",
                    help="address to listen on (default: 127.0.0.1, this machine only)")
    return p


def main(argv: Sequence[str] | None = None, prog: str = "kernel-analyzer") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(prog)
    if problem := _not_utf8(argv):
        parser.error(problem)
    args, extra = parser.parse_known_args(argv)
    # `model skb --json OP OP`: operands after an option still belong to the scenario
    if getattr(args, "command", "") == "model" and not any(e.startswith("-") for e in extra):
        args.args = [*args.args, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    cfg = Config.default()
    if args.home:
        cfg = cfg.with_home(args.home)
    if args.tree:
        cfg = cfg.with_tree(args.tree)
    try:
        if cfg.tree is not None and args.command != "fetch":
            from analyzer.edits import check_tree

            check_tree(cfg.tree)  # a tree without net/ fs/ include/: one line, whatever the command
        return args.fn(args, cfg)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except (AnalyzerError, sqlite3.Error, OSError) as e:
        print(f"error: {shorten(_message(e, cfg))}", file=sys.stderr)
        return 2


def _message(e: BaseException, cfg: Config) -> str:
    """What went wrong, naming the file: a damaged database found anywhere in
    the chain of causes is named with how to make it again; a file system error
    names its path."""
    cause: BaseException | None = e
    while cause is not None:
        if isinstance(cause, sqlite3.DatabaseError) and not _is_write_error(cause):
            return _damaged(cfg, cause)
        cause = cause.__cause__ if cause.__cause__ is not None else \
            None if cause.__suppress_context__ else cause.__context__
    if isinstance(e, AnalyzerError):
        return str(e)
    if isinstance(e, OSError):
        path = e.filename2 or e.filename  # a copy's or a rename's destination first
        where = f"{path}: " if path else ""
        return f"{where}{e.strerror or e}: free some space or make the folder writable, " \
               "then run the command again"
    return f"{type(e).__name__}: {e}"


def _is_write_error(e: sqlite3.Error) -> bool:
    text = str(e).lower()
    return any(w in text for w in ("readonly", "read-only", "disk is full", "disk i/o",
                                   "unable to open"))


def _damaged(cfg: Config, e: sqlite3.Error) -> str:
    """The damaged databases among the store and the graph (checked now)."""
    from analyzer.dbfile import integrity_problem
    from analyzer.query import REBUILD_GRAPH
    from analyzer.store import REBUILD_STORE

    found = [f"{path} {problem}: {how}" for path, how in
             ((cfg.store_path, REBUILD_STORE), (cfg.graph_path, REBUILD_GRAPH))
             if path.exists() and (problem := integrity_problem(path))]
    return "; ".join(found) or f"a database could not be read ({e}): rebuild with " \
        "`make analyze`"
