"""The registry of primitives: Python functions standing for kernel services.

``kernel/primitives.toml`` says which C names a primitive stands for and why;
``@primitive`` registers a function under its own name.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["PRIMITIVES", "primitive"]

#: primitive implementations by the name primitives.toml gives them
PRIMITIVES: dict[str, Callable] = {}


def primitive(fn: Callable) -> Callable:
    """Register ``fn`` as the primitive of its name."""
    PRIMITIVES[fn.__name__.rstrip("_")] = fn
    return fn
