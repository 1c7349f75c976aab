"""The model's data tables (``analyzer/kernel/primitives.toml``, ``skb.toml``):
read once, checked, and reported as one clear line when broken.

Takes a table's name; gives its content as plain data (TOML tables), after
checking what every consumer relies on: each ``[primitives]`` entry names an
``impl``; the ``[machine]`` values are numbers; the ``[process]`` keys are known.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources

from analyzer.errors import AnalyzerError

__all__ = ["load_table"]


@cache
def load_table(name: str) -> dict:
    """The table ``analyzer/kernel/<name>``, checked."""
    where = f"analyzer/kernel/{name}"
    try:
        text = resources.files("analyzer.kernel").joinpath(name).read_text()
        data = tomllib.loads(text)
    except OSError as e:
        raise AnalyzerError(f"{where}: cannot read it ({e.strerror})") from None
    except tomllib.TOMLDecodeError as e:
        raise AnalyzerError(f"{where}: {e}") from None
    _check(where, data)
    return data


def _check(where: str, data: dict) -> None:
    for cname, entry in data.get("primitives", {}).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("impl"), str):
            raise AnalyzerError(f"{where}: [primitives] {cname}: needs impl = \"...\"")
    for cname, entry in data.get("standins", {}).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("impl"), str) \
                or not isinstance(entry.get("source"), str):
            raise AnalyzerError(f"{where}: [standins] {cname}: needs impl and source "
                                "(\"file.c:line\")")
    machine = data.get("machine", {})
    for key in ("cpus", "memory_mb"):
        if key in machine and (not isinstance(machine[key], int) or machine[key] < 1):
            raise AnalyzerError(f"{where}: [machine] {key} must be a positive integer")
