"""Bit searches and bit counts over ``unsigned long`` bitmaps: lib/find_bit.c,
lib/hweight.c and the x86 assembly of arch/x86/include/asm/bitops.h, outside
the analysed parts.  A bitmap is an array of words of BITS_PER_LONG bits (a
:class:`~analyzer.model.objects.CArray`, a pointer into one, or a pointer to a
single word)."""

from __future__ import annotations

from analyzer.model.context import current_machine
from analyzer.model.objects import CArray, IndexRef, Ref
from analyzer.model.primitives.registry import primitive
from analyzer.model.values import Sym, display


def _bits() -> int:
    return int(current_machine().constant("BITS_PER_LONG") or 64)


def _word(addr, i: int):
    """Word ``i`` of the bitmap at ``addr``."""
    if isinstance(addr, CArray):
        return addr[i]
    if isinstance(addr, IndexRef):
        return addr.arr[addr.i + i]
    if isinstance(addr, Ref) and i == 0:
        return addr.load()
    return Sym(f"word {i} of the bitmap {display(addr)}", "a bitmap the model does not hold")


def _find(addr, size, offset, want: int):
    """The first bit >= offset whose value is ``want``, else ``size``."""
    if isinstance(size, Sym) or isinstance(offset, Sym):
        return Sym("a bit search with unknown bounds", "an unknown bitmap size or offset")
    bits, size, offset = _bits(), int(size), int(offset)
    while offset < size:
        word = _word(addr, offset // bits)
        if isinstance(word, Sym):
            return word.derived(f"a bit search in {word.name}")
        if (int(word) >> (offset % bits) & 1) == want:
            return offset
        offset += 1
    return size


@primitive
def find_next_zero_bit(addr, size, offset=0):
    return _find(addr, size, offset, 0)


@primitive
def find_first_zero_bit(addr, size):
    return _find(addr, size, 0, 0)


@primitive
def find_next_bit(addr, size, offset=0):
    return _find(addr, size, offset, 1)


@primitive
def find_first_bit(addr, size):
    return _find(addr, size, 0, 1)


def _count(x, f):
    return x.derived(f"bits of {x.name}") if isinstance(x, Sym) else f(int(x))


@primitive
def hweight(x):
    """``hweight32/64(x)``: the number of bits set."""
    return _count(x, lambda v: bin(v & (1 << 64) - 1).count("1"))


@primitive
def fls(x):
    """``fls(x)``: the position of the last bit set, counting from 1 (0 for 0)."""
    return _count(x, lambda v: (v & (1 << 64) - 1).bit_length())


@primitive
def ffs_(x):
    """``__ffs(x)``: the position of the first bit set, from 0."""
    return _count(x, lambda v: (v & -v).bit_length() - 1)


@primitive
def ffz(x):
    """``ffz(x)``: the position of the first zero bit, from 0."""
    return _count(x, lambda v: (~v & (v + 1)).bit_length() - 1)
