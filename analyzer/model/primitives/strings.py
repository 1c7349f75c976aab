"""C strings: lib/string.c, lib/vsprintf.c and lib/kasprintf.c (outside the analysed
tree; x86 has assembly versions of some).  A C string is a Python ``str`` (a
literal) or a char array of the model (:class:`~analyzer.model.objects.CArray`,
or a pointer into one); formatting follows C's printf conversions.
"""

from __future__ import annotations

import re

from analyzer.model.context import current_machine
from analyzer.model.objects import CArray, IndexRef
from analyzer.model.primitives.registry import primitive
from analyzer.model.values import CharPtr, Sym, display

__all__ = ["c_string", "c_format"]

_CONV = re.compile(r"%([-+ #0]*)(\*|\d+)?(?:\.(\*|\d+))?(hh|h|ll|l|z|t|j)?([diouxXcsp%])")


def c_string(value) -> str | Sym:
    """The characters of a C string value (up to its NUL), or an unknown."""
    if isinstance(value, str):
        return value.split("\0", 1)[0]
    if isinstance(value, CharPtr):
        return value.string()
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


def _new(text: str | Sym):
    """A new C string of the kernel's heap (a string the model holds whole)."""
    return text if isinstance(text, Sym) else CharPtr(text)


@primitive
def kasprintf(flags, fmt, *args):
    """``kasprintf(gfp, fmt, ...)``: a new string."""
    return _new(c_format(fmt, args))


@primitive
def kstrdup(s, flags=0):
    return None if s is None else _new(c_string(s))


def _cmp(a, b, n=None):
    x, y = c_string(a), c_string(b)
    if isinstance(x, Sym) or isinstance(y, Sym):
        return (x if isinstance(x, Sym) else y).derived(f"strcmp({display(a)}, {display(b)})")
    if n is not None:
        x, y = x[:int(n)], y[:int(n)]
    return (x > y) - (x < y)


@primitive
def strcmp(a, b):
    return _cmp(a, b)


@primitive
def strncmp(a, b, n):
    return _cmp(a, b, n)


@primitive
def strchr(s, c):
    """A pointer to the first ``c`` in ``s``, or NULL."""
    text = c_string(s)
    if isinstance(text, Sym) or isinstance(c, Sym):
        return Sym(f"strchr({display(s)})", "a string the model does not hold")
    k = text.find(chr(int(c) & 0xFF)) if int(c) else len(text)
    return None if k < 0 else _offset(s, k)


@primitive
def strrchr(s, c):
    text = c_string(s)
    if isinstance(text, Sym) or isinstance(c, Sym):
        return Sym(f"strrchr({display(s)})", "a string the model does not hold")
    k = text.rfind(chr(int(c) & 0xFF)) if int(c) else len(text)
    return None if k < 0 else _offset(s, k)


def _offset(s, k: int):
    if isinstance(s, CharPtr):
        return CharPtr(s.text, s.i + k)
    if isinstance(s, CArray):
        return IndexRef(s, k)
    if isinstance(s, IndexRef):
        return IndexRef(s.arr, s.i + k)
    return CharPtr(str(s), k)


def _copy(dst, text: str, limit: int | None) -> None:
    """Write ``text`` and its NUL into the char array at ``dst``."""
    if isinstance(dst, CArray):
        dst = IndexRef(dst, 0)
    if not isinstance(dst, IndexRef):
        from analyzer.model.assume import drop_write

        drop_write(Sym(display(dst), "not a char array the model holds"), "", repr(text))
        return
    data = text[: limit - 1] if limit else text
    for k, ch in enumerate(data + "\0"):
        dst.arr[dst.i + k] = ord(ch)


@primitive
def strlcpy(dst, src, size):
    text = c_string(src)
    if not isinstance(text, Sym):
        _copy(dst, text, int(size))
        return len(text)
    return text


@primitive
def strcpy(dst, src):
    text = c_string(src)
    if not isinstance(text, Sym):
        _copy(dst, text, None)
    return dst


@primitive
def strncpy(dst, src, n):
    text = c_string(src)
    if not isinstance(text, Sym):
        _copy(dst, text[: int(n)], None)
    return dst


@primitive
def snprintf(buf, size, fmt, *args):
    text = c_format(fmt, args)
    if not isinstance(text, Sym):
        _copy(buf, text, int(size))
        return len(text)
    return text


@primitive
def sprintf(buf, fmt, *args):
    text = c_format(fmt, args)
    if not isinstance(text, Sym):
        _copy(buf, text, None)
        return len(text)
    return text


del current_machine


@primitive
def strlen(s):
    text = c_string(s)
    return text if isinstance(text, Sym) else len(text)
