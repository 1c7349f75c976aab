"""How a test gives up when something it needs is missing: it skips on a
developer's machine and fails under CI (``CI=true``), where the kernel tree,
the browser and Universal Ctags must all be there."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(why: str) -> NoReturn:
    """Skip with ``why``, or fail with it under CI."""
    if IN_CI:
        pytest.fail(f"required under CI: {why}")
    pytest.skip(why)
