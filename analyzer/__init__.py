"""Static analysis of the Linux 4.4 socket path: extraction, call graph with
resolved function-pointer dispatch, an executable model, and docs."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["load", "__version__"]


def load(path=None):
    """The analysis made by ``make analyze``, as a :class:`KernelGraph`."""
    from analyzer.api import load as _load

    return _load(path)
