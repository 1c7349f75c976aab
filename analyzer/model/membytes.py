"""The bytes of model objects: what a memory copy between two types sees.

Takes model memory (struct and union objects, arrays, pointers into them) and
the machine's layouts (``sizeof``/``offsetof`` computed from the analysed
definitions, x86-64 little-endian integers); gives :func:`read_bytes` (the
bytes at a pointer) and :func:`write_bytes` (bytes stored at a pointer: every
scalar member they cover takes its value from them, so a ``struct sockaddr_in``
copied into a ``struct sockaddr_storage`` fills its ``ss_family`` and
``__data``).  :func:`view` reads an object as another struct type
(``(struct sockaddr_in *)&address``) by its bytes.

Pointers and unknown values have no bytes here: a pointer member reads as
zeros and is never written from bytes (the model keeps pointers as objects,
not addresses); a copy that covers one is noted.
"""

from __future__ import annotations

from analyzer.model.context import ModelError
from analyzer.model.objects import BytePtr, CArray, Cell, FieldRef, IndexRef, Obj, place_of
from analyzer.model.values import CharPtr, Sym, note

__all__ = ["read_bytes", "write_bytes", "copy", "size_of", "view", "place"]


def _int(v) -> int | None:
    return int(v) if isinstance(v, int) and not isinstance(v, Sym) else None


def size_of(m, obj) -> int | None:
    """The size in bytes of an object or array, or None."""
    if isinstance(obj, Obj):
        size = _int(m.sizeof(f"{obj._layout.kind} {obj._layout.name}"))
        if size is None and obj._layout.kind == "union":  # an anonymous union: its largest
            sizes = [_int(m.sizeof(f.ctype if f.kind != "struct" else f"struct {f.target}"))
                     for f in obj._layout.fields]
            known = [x for x in sizes if x is not None]
            size = max(known) if known else None  # a member it cannot size is left out
        return size
    if isinstance(obj, CArray):
        elem = _int(m.sizeof(obj.elem.ctype))
        if elem is None:
            return None
        if obj.count < 0:  # a flexible array member (T name[0]): the elements it holds
            return elem * (max((k for k in obj._v if isinstance(k, int)), default=-1) + 1)
        return elem * obj.count
    return None


def place(m, p) -> tuple[object, int] | None:
    """(the object or array holding ``p``'s memory, the byte offset in it)."""
    if isinstance(p, IndexRef) and isinstance(p.i, int):
        elem = _int(m.sizeof(p.arr.elem.ctype))
        return (p.arr, p.i * elem) if elem is not None else None
    if isinstance(p, CArray):
        return p, 0
    if isinstance(p, (Obj, FieldRef, BytePtr)):
        found = place_of(m, p)
        if found is not None:
            return found
        return (p, 0) if isinstance(p, Obj) else None
    return None


def _bufptr(p) -> bool:
    """A pointer into a socket buffer's data area of real bytes (model/skb.py)."""
    from analyzer.model.skb import BufPtr

    return isinstance(p, BufPtr)


def read_bytes(m, p, n: int) -> bytes | None:
    """``n`` bytes at ``p`` (an object, array, pointer into one, a data area,
    or a string literal); None when the model cannot place ``p``."""
    got = _read(m, p, n)
    return got[0] if got is not None else None


def write_bytes(m, p, data: bytes) -> bool:
    """Store ``data`` at ``p``: the scalar members it covers take their value
    from it; False when the model cannot place ``p``."""
    return _write(m, p, data, {})


def copy(m, dst, src, n: int) -> bool:
    """``memcpy(dst, src, n)`` as the layouts place both sides: the scalars
    take the bytes, and a pointer member copied whole to a pointer member
    keeps the object it points to (a user ``struct msghdr``'s ``msg_iov``
    copied into the kernel's); False when either side cannot be placed."""
    got = _read(m, src, n)
    return got is not None and _write(m, dst, *got)


def _read(m, p, n: int) -> tuple[bytes, dict[int, object]] | None:
    """(the ``n`` bytes at ``p``, the pointers among them by their offset)."""
    if _bufptr(p):
        return bytes(p.buf.bytes[p.off:p.off + n]), {}
    if isinstance(p, CharPtr):
        data = p.text[p.i:].encode("latin-1") + b"\0"
        return (data + bytes(max(0, n - len(data))))[:n], {}
    if isinstance(p, Cell):
        size = _int(m.sizeof(p.ctype)) if p.ctype else None
        if size is None or n > size or _int(p.v) is None:
            return None
        return _scalar(m, p.ctype, p.v, size)[:n], {}
    ptrs: dict[int, object] = {}
    placed = _placed(m, p, n, ptrs)
    if placed is None:
        return None
    _, off, data = placed
    return bytes(data[off:off + n]), {k - off: v for k, v in ptrs.items() if off <= k < off + n}


def _write(m, p, data: bytes, ptrs: dict[int, object]) -> bool:
    if _bufptr(p):
        if p.off < 0 or p.off + len(data) > len(p.buf.bytes):
            return False
        p.buf.bytes[p.off:p.off + len(data)] = data
        return True
    if isinstance(p, Cell):  # a scalar local: the bytes over its own
        size = _int(m.sizeof(p.ctype)) if p.ctype else None
        if size is None or len(data) > size:
            return False
        old = _scalar(m, p.ctype, p.v, size) if _int(p.v) is not None else bytes(size)
        p.store(m.convert(p.ctype, int.from_bytes(data + old[len(data):], "little")))
        return True
    placed = _placed(m, p, len(data))
    if placed is None:
        return False
    root, off, whole = placed
    whole[off:off + len(data)] = data
    _decode(m, root, bytes(whole), 0, off, off + len(data),
            {k + off: v for k, v in ptrs.items()})
    return True


def _placed(m, p, n: int, ptrs: dict | None = None):
    """(the object ``p`` lies in, ``p``'s offset in it, the object's bytes padded
    with zeros to hold ``n`` bytes from there), or None when the model cannot
    place ``p`` or lay the object out; ``ptrs`` gets the object's pointers by offset."""
    where = place(m, p)
    if where is None:
        return None
    root, off = where
    data = _encode(m, root, ptrs)
    if data is None:
        return None
    return root, off, bytearray(data) + bytearray(max(0, off + n - len(data)))


def view(m, obj, target: str):
    """``(struct target *)obj`` for an object that is not, and does not begin
    with, a ``target``: a ``target`` object made from ``obj``'s bytes (the same
    one for each later cast of ``obj``).  Writes through it stay in it."""
    key = (id(obj), target)
    views = m.registry.get("views", ())
    for k, v in views:
        if k == key:
            return v
    root = obj
    for (src_id, _), v in views:  # a view of a view reads the first object's bytes
        if v is obj:
            root = next((o for _, _, _, o in m.objects if id(o) == src_id), obj)
    size = _int(m.sizeof(f"struct {target}"))
    made = m.new(target, f"{obj._label} as struct {target}")
    have = size_of(m, root)
    data = read_bytes(m, root, have) if have is not None else None
    if data is None or size is None:
        note(f"{obj._label} read as struct {target}: its bytes are unknown to the model")
    else:
        write_bytes(m, made, data[:size])
        note(f"(struct {target} *)&{obj._label}: its {min(size, have)} bytes read as "
             f"struct {target}")
    m.record("views", (key, made))
    return made


# --- the codec --------------------------------------------------------------------------

def _scalar(m, ctype: str, value, size: int) -> bytes:
    v = _int(value)
    if v is None:
        return bytes(size)
    return (v & ((1 << (8 * size)) - 1)).to_bytes(size, "little")


def _encode(m, obj, ptrs: dict | None = None) -> bytearray | None:
    size = size_of(m, obj)
    if size is None:
        return None
    out = bytearray(size)
    _fill(m, obj, out, 0, {} if ptrs is None else ptrs)
    return out


def _fill(m, obj, out: bytearray, base: int, ptrs: dict) -> None:
    if isinstance(obj, CArray):
        elem = _int(m.sizeof(obj.elem.ctype))
        if elem is None:
            return
        for k, v in list(obj._v.items()):
            if isinstance(k, int):
                _put(m, obj.elem, v, out, base + k * elem, elem, ptrs)
        return
    ctype = f"{obj._layout.kind} {obj._layout.name}"
    union = obj._layout.kind == "union"
    for spec in obj._layout.fields:
        if spec.name not in obj._v:
            continue
        off = 0 if union else _int(m.offsetof(ctype, spec.name))
        size = _int(m.sizeof(spec.ctype)) if spec.kind in ("scalar", "ptr") else 0
        if off is None:
            continue
        if not union:
            _put(m, spec, obj._v[spec.name], out, base + off, size, ptrs)
            continue
        # members of a union overlap: a member zeroed (memset) does not hide the
        # bytes another was given
        mine = bytearray(len(out))
        _put(m, spec, obj._v[spec.name], mine, base + off, size, ptrs)
        for i, b in enumerate(mine):
            if b:
                out[i] = b


def _put(m, spec, value, out: bytearray, at: int, size: int, ptrs: dict) -> None:
    if spec.kind in ("struct", "array") and isinstance(value, (Obj, CArray)):
        _fill(m, value, out, at, ptrs)
    elif spec.kind == "scalar" and size and at + size <= len(out):
        out[at:at + size] = _scalar(m, spec.ctype, value, size)
    elif spec.kind == "ptr" and value is not None:
        ptrs[at] = value


def _decode(m, obj, data: bytes, base: int, lo: int, hi: int, ptrs: dict) -> None:
    """Write the scalars of ``obj`` (at ``base``) lying in [lo, hi) from ``data``,
    and the pointers ``ptrs`` places at the offsets of its pointer members."""
    if isinstance(obj, CArray):
        elem = _int(m.sizeof(obj.elem.ctype))
        if elem is None:
            return
        last = -(-(hi - base) // elem)
        first, last = max(0, (lo - base) // elem), last if obj.count < 0 else min(obj.count, last)
        for k in range(first, last):
            _get(m, obj, k, obj.elem, data, base + k * elem, elem, lo, hi, ptrs)
        return
    ctype = f"{obj._layout.kind} {obj._layout.name}"
    for spec in obj._layout.fields:
        off = 0 if obj._layout.kind == "union" else _int(m.offsetof(ctype, spec.name))
        if off is None:
            continue
        size = _int(m.sizeof(spec.ctype)) if spec.kind in ("scalar", "ptr") else None
        _get(m, obj, spec.name, spec, data, base + off, size, lo, hi, ptrs)


def _get(m, holder, key, spec, data: bytes, at: int, size, lo: int, hi: int,
         ptrs: dict) -> None:
    if spec.kind in ("struct", "array"):
        inner = holder[key] if isinstance(holder, CArray) else getattr(holder, key)
        whole = size_of(m, inner)
        if whole is None or at + whole > lo and at < hi:
            _decode(m, inner, data, at, lo, hi, ptrs)
        return
    if spec.kind == "ptr" and size is not None and lo <= at and at + size <= hi \
            and (at in ptrs or not any(data[at:at + size])):
        _set(holder, key, ptrs.get(at))  # a pointer copied whole, or NULL bytes
        return
    if size is None or not (lo <= at and at + size <= hi) or at + size > len(data):
        if spec.kind == "ptr" and size is not None and at < hi and at + size > lo:
            note(f"a copy of bytes over the pointer {getattr(holder, '_label', '?')}."
                 f"{key}: not followed (the model keeps pointers as objects)")
        return
    if spec.kind != "scalar":
        return
    value = int.from_bytes(data[at:at + size], "little")
    old = holder._v.get(key, 0)
    if _int(old) is not None and m.convert(spec.ctype, value) == int(old) \
            and (key in holder._v or value == 0):
        return
    _set(holder, key, value)


def _set(holder, key, value) -> None:
    if isinstance(holder, CArray):
        holder[key] = value
    else:
        try:
            setattr(holder, key, value)
        except ModelError:
            return
