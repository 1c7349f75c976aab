"""Ordered loads and stores (arch/x86/include/asm/barrier.h): x86 keeps stores
in order, so a release store is a store and an acquire load a load."""

from __future__ import annotations

from analyzer.model.primitives.registry import primitive
from analyzer.model.rt import deref, store


@primitive
def store_release(p, value):
    """``smp_store_release(p, v)``: ``*p = v``."""
    store(p, value)


@primitive
def load_acquire(p):
    """``smp_load_acquire(p)``: ``*p``."""
    return deref(p)
