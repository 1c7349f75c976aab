"""bench/bench_floor.py: the parts of the model it times by wrapping them are
still there with the arguments it passes (a rename would break the bench only
when someone runs it)."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench_floor.py"


def test_the_wrapped_functions_take_what_the_bench_passes():
    import analyzer.model.boot as boot
    from analyzer.model.generate import Generator

    assert list(inspect.signature(boot._run_one).parameters) == ["m", "call"]
    assert list(inspect.signature(Generator.function).parameters) == ["self", "name", "origin"]
    compile(_snippet(), "bench_floor._BOOT", "exec")  # the script the bench runs


def test_help_says_what_it_measures():
    done = subprocess.run([sys.executable, str(BENCH), "--help"], capture_output=True,
                          text=True, check=True)
    assert "--cold" in done.stdout and "cscope" in done.stdout


def _snippet() -> str:
    sys.path.insert(0, str(BENCH.parent))
    try:
        import bench_floor
    finally:
        sys.path.remove(str(BENCH.parent))
    return bench_floor._BOOT
