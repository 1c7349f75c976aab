"""The Internet checksum of x86-64 (arch/x86/lib/csum-partial_64.c, outside the
analysed tree): ``csum_partial(buff, len, sum)`` over the bytes of model memory
(analyzer/model/membytes.py)."""

from __future__ import annotations

from analyzer.model import membytes
from analyzer.model.context import current_machine
from analyzer.model.primitives.registry import primitive
from analyzer.model.values import Sym, display


def ones_complement_sum16(data: bytes) -> int:
    """``do_csum``: the 16-bit ones' complement sum of little-endian words (a
    trailing odd byte is the low byte of a last word).

    >>> hex(ones_complement_sum16(bytes([0x01, 0x02, 0xff, 0xff, 0x03])))
    '0x204'
    """
    total = sum(int.from_bytes(data[i:i + 2].ljust(2, b"\0"), "little")
                for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


@primitive
def csum_partial(buff, length, wsum):
    """``csum_partial(buff, len, sum)``: ``add32_with_carry(do_csum(buff, len), sum)``."""
    m = current_machine()
    n = int(length) if isinstance(length, int) and not isinstance(length, Sym) else None
    data = membytes.read_bytes(m, buff, n) if n is not None and n >= 0 else None
    if data is None or not isinstance(wsum, int) or isinstance(wsum, Sym):
        return Sym(f"csum_partial({display(buff)}, {display(length)}, {display(wsum)})",
                   "a checksum of memory the model cannot read byte by byte")
    total = ones_complement_sum16(data) + (int(wsum) & 0xFFFFFFFF)
    return (total & 0xFFFFFFFF) + (total >> 32)
