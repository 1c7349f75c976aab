"""tests/ci.py: a missing dependency skips a test locally and fails it under CI."""

from __future__ import annotations

import ci
import pytest


def test_unavailable_fails_under_ci(monkeypatch):
    monkeypatch.setattr(ci, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="required under CI: the kernel tree"):
        ci.unavailable("the kernel tree")


def test_unavailable_skips_elsewhere(monkeypatch):
    monkeypatch.setattr(ci, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception, match="the kernel tree"):
        ci.unavailable("the kernel tree")
