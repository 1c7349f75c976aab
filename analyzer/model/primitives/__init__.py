"""Primitives: what the model does not translate from the kernel, because it is
not kernel logic of the analysed code (allocation, locks, RCU, atomics and bit
operations written in assembly, error pointers) or lies outside the analysed
tree.  Each module registers its functions in :data:`PRIMITIVES`.
"""

from __future__ import annotations

from analyzer.model.primitives import (  # noqa: F401
    atomics,
    barriers,
    bitops,
    checksum,
    deferred,
    ids,
    kernel,
    lists,
    memory,
    process,
    rhashtable,
    strings,
    sysctl,
    uaccess,
    vfs,
)
from analyzer.model.primitives.registry import PRIMITIVES, primitive

__all__ = ["PRIMITIVES", "primitive"]
