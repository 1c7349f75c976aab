"""Tests of the command line (analyzer.cli): every subcommand has a working --help, and
mistakes of the user end in a short message and a non-zero exit, never a traceback."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from analyzer import cli


def _subcommands() -> list[str]:
    parser = cli.build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(actions[0].choices)


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analyzer", *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "KERNEL_TARBALL": ""})


def test_the_stage_commands_are_there():
    assert {"fetch", "extract", "graph", "analyze", "query", "model", "docs"} <= set(
        _subcommands())


def test_top_level_help_lists_every_subcommand():
    run = _run("--help")
    assert run.returncode == 0, run.stderr
    assert all(name in run.stdout for name in _subcommands())
    assert run.stdout.startswith("usage: python -m analyzer")  # named as it was started


@pytest.mark.parametrize("name", _subcommands())
def test_each_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main([name, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: kernel-analyzer {name}")
    assert "--quiet" in out


def test_unknown_subcommand_is_a_clean_error():
    run = _run("frobnicate")
    assert run.returncode == 2
    assert "invalid choice: 'frobnicate'" in run.stderr
    assert "Traceback" not in run.stderr


def test_no_subcommand_is_a_clean_error():
    run = _run()
    assert run.returncode == 2
    assert "required: COMMAND" in run.stderr and "Traceback" not in run.stderr
