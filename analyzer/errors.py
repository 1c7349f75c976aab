"""The one exception type that the CLI turns into a clear message (exit 2)."""

from __future__ import annotations

__all__ = ["AnalyzerError", "NotFound"]


class AnalyzerError(Exception):
    """A problem of input or state that the user can fix; the message says how."""


class NotFound(AnalyzerError):
    """An unknown name; the message lists the closest names."""
