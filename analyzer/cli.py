"""The command line: a thin layer, one subcommand per stage, each calling one
library function.  ``kernel-analyzer --help`` (or ``python -m analyzer --help``)
lists them.  Every command works on the project home: ``--home``, else
``$ANALYZER_HOME``, else the current folder, where ``kernel-src/`` and ``build/``
are made.

User mistakes (a bad path, an unknown name, a broken tarball) are reported as
one clear line on stderr with exit code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from analyzer.config import DEFAULT_PARTS, EXTRA_PARTS, Config
from analyzer.errors import AnalyzerError

__all__ = ["main", "build_parser"]


def _cmd_fetch(args, cfg: Config) -> int:
    from analyzer.fetch import fetch

    parts = DEFAULT_PARTS + (EXTRA_PARTS if args.all else ())
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


def build_parser(prog: str = "kernel-analyzer") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
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
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def cmd(name: str, fn: Callable, help: str, jobs=False, json_flag=False):
        sp = sub.add_parser(name, help=help, description=help)
        sp.set_defaults(fn=fn)
        sp.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
        if jobs:
            sp.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
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
    sp.add_argument("--family", help="narrow `resolve` by registration key, e.g. AF_INET")
    sp.add_argument("--limit", type=int, default=0, help="at most this many answers")

    sp = cmd("model", _cmd_model, "run the executable model, e.g. `model socket AF_INET "
             "SOCK_STREAM 0`", json_flag=True)
    sp.add_argument("scenario", help="socket | skb")
    sp.add_argument("args", nargs="*", help="the scenario's arguments")
    sp.add_argument("--step", type=int, help="show the state after step N")
    sp.add_argument("--python", metavar="FUNCTION",
                    help="print the generated Python of one kernel function beside its C")

    sp = cmd("docs", _cmd_docs, "generate and build the documentation site into build/site/")
    sp.add_argument("--no-strict", action="store_true", help="do not fail on warnings")

    sp = cmd("serve", _cmd_serve, "serve the built site (build/site/) over HTTP")
    sp.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000; "
                    "0 picks a free one)")
    sp.add_argument("--bind", default="127.0.0.1", metavar="ADDRESS",
                    help="address to listen on (default: 127.0.0.1, this machine only)")
    return p


def main(argv: Sequence[str] | None = None, prog: str = "kernel-analyzer") -> int:
    parser = build_parser(prog)
    args, extra = parser.parse_known_args(argv)
    # `model skb --json OP OP`: operands after an option still belong to the scenario
    if getattr(args, "command", "") == "model" and not any(e.startswith("-") for e in extra):
        args.args = [*args.args, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    cfg = Config.default()
    if args.home:
        cfg = cfg.with_home(args.home)
    try:
        return args.fn(args, cfg)
    except AnalyzerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
