"""C strings: lib/string.c, lib/vsprintf.c and lib/kasprintf.c (outside the analysed
tree; x86 has assembly versions of some).  A C string is a Python ``str`` (a
literal) or a char array of the model (:class:`~analyzer.model.objects.CArray`,
or a pointer into one); formatting follows C's printf conversions.
"""

from __future__ import annotations

import re

from analyzer.model.objects import CArray, IndexRef
from analyzer.model.primitives.registry import primitive
from analyzer.model.values import Sym, display

__all__ = ["c_string", "c_format"]

_CONV = re.compile(r"%([-+ #0]*)(\*|\d+)?(?:\.(\*|\d+))?(hh|h|ll|l|z|t|j)?([diouxXcsp%])")


def c_string(value) -> str | Sym:
    """The characters of a C string value (up to its NUL), or an unknown."""
    if isinstance(value, str):
        return value.split("\0", 1)[0]
    if isinstance(value, CArray):
        value = IndexRef(value, 0)
    if isinstance(value, IndexRef):
        out, i = [], value.i
        while value.arr.count < 0 or i < value.arr.count:
            c = value.arr[i]
            if isinstance(c, Sym):
                return c.derived(f"the string at {display(value)}")
            if not c:
                break
            out.append(chr(int(c) & 0xFF))
            i += 1
        return "".join(out)
    if isinstance(value, Sym):
        return value
    return Sym(f"the string at {display(value)}", "not a string the model holds")


def c_format(fmt, args: tuple) -> str | Sym:
    """``printf``'s conversions of ``fmt`` with ``args``."""
    fmt = c_string(fmt)
    if isinstance(fmt, Sym):
        return fmt
    out, pos, rest = [], 0, list(args)
    for m in _CONV.finditer(fmt):
        out.append(fmt[pos:m.start()])
        pos = m.end()
        flags, width, prec, _, conv = m.groups()
        if conv == "%":
            out.append("%")
            continue
        value = rest.pop(0) if rest else Sym("a missing printf argument")
        if conv == "s":
            value = c_string(value)
        if isinstance(value, Sym) or conv == "p":
            return Sym(f"the text of {fmt!r}", "a formatted value the model does not know")
        spec = "%" + flags + (width or "") + (f".{prec}" if prec else "")
        out.append((spec + ("d" if conv in "iu" else conv)) % (value if conv != "c"
                                                               else chr(int(value))))
    out.append(fmt[pos:])
    return "".join(out)


@primitive
def kasprintf(flags, fmt, *args):
    """``kasprintf(gfp, fmt, ...)``: a new string."""
    return c_format(fmt, args)


@primitive
def strlen(s):
    text = c_string(s)
    return text if isinstance(text, Sym) else len(text)
