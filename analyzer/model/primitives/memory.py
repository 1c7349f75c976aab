"""Allocation and memory copies: the slab, kmalloc, memcpy.

Objects come zeroed and typed: an allocation of ``sizeof(T)`` (or from a cache
made with it) makes a T.
"""

from __future__ import annotations

import re

from analyzer.model.context import current_machine
from analyzer.model.objects import Block, CArray, FieldSpec, IndexRef, Obj, place_of
from analyzer.model.primitives.registry import primitive
from analyzer.model.values import Named, SizeOf, Sym, TypeSize, display


def _alloc(size, what: str):
    m = current_machine()
    if isinstance(size, (SizeOf, TypeSize)):
        name = _struct_name(size.ctype)
        if re.match(r"(?:struct|union)\s", size.ctype.strip()) and "*" not in size.ctype:
            return m.new(name)
        return m.materialize(size.ctype, int(size) if isinstance(size, SizeOf) else -1,
                             m.label(name))
    if isinstance(size, Obj):  # a kmem_cache
        return _cache_alloc(size)
    if type(size) is int or isinstance(size, Named):
        return Block(m, int(size), m.label(what))  # typed by its first typed use
    return Sym(f"{what}({display(size)})", "an allocation of a size the model does not know")


def _struct_name(ctype: str) -> str:
    m = re.search(r"\b(?:struct|union)\s+(\w+)", ctype)
    return m.group(1) if m else ctype.strip()


@primitive
def kmalloc(size, flags=0, *rest):
    return _alloc(size, "kmalloc")


@primitive
def kcalloc(n, size, flags=0):
    """``kcalloc(n, sizeof(T))``: an array of ``n`` zeroed objects of T."""
    m = current_machine()
    if isinstance(size, (SizeOf, TypeSize)) and not isinstance(n, Sym):
        name = _struct_name(size.ctype)
        arr = CArray(m, m.label(name + "[]"), FieldSpec("", size.ctype, "struct", name),
                     int(n))
        m.created(arr)
        return arr
    return _alloc(size, "kcalloc")


@primitive
def kmem_cache_create(name, size, align=0, flags=0, ctor=None, *rest):
    """A cache object of type kmem_cache that remembers the object size and the
    constructor (mm/slab_common.c)."""
    m = current_machine()
    cache = m.new("kmem_cache")
    cache.name = name
    cache.object_size = size
    if ctor is not None:
        cache.ctor = ctor
    return cache


@primitive
def memcpy(dst, src, n):
    """``memcpy(dst, src, n)`` into array slots (``memcpy(dentry->d_iname,
    name->name, len)``): the bytes of a string, or the elements of an array,
    one slot at a time; a whole object into an object of its type; any other
    copy is not followed (an assumption: ``dst`` stays as it was)."""
    from analyzer.model.values import CharPtr

    m = current_machine()
    if isinstance(dst, CArray):
        dst = IndexRef(dst, 0)
    if isinstance(src, CArray):
        src = IndexRef(src, 0)
    if isinstance(dst, IndexRef) and type(n) in (int, Named, SizeOf):
        if isinstance(src, CharPtr):
            for k in range(int(n)):
                dst.arr[dst.i + k] = src[k]
            return dst
        if isinstance(src, IndexRef):
            for k in range(int(n)):
                dst.arr[dst.i + k] = src.arr[src.i + k]
            return dst
    if isinstance(dst, Obj) and isinstance(src, Obj) and dst._layout.name == src._layout.name:
        _fill(m, dst, src)
        return dst
    if type(n) in (int, Named, SizeOf) and _bytewise(m, dst, src, int(n)):
        return dst
    from analyzer.model.assume import drop_write

    drop_write(dst if isinstance(dst, Sym) else Sym(display(dst), "a copy the model cannot "
                                                    "follow"), "", f"memcpy of {display(n)}")
    return dst


def _bytewise(m, dst, src, n: int) -> bool:
    """Copy ``n`` bytes as the layouts place them (a union into an int array, a
    struct sockaddr_un into a char array); False when either side cannot be placed."""
    from analyzer.model import membytes

    if not membytes.copy(m, dst, src, n):
        return False
    m.note(f"memcpy: {n} bytes from {display(src)} to {display(dst)}")
    return True


@primitive
def memcmp(cs, ct, count):
    """``memcmp(cs, ct, count)``: lib/string.c's loop (the first differing byte,
    ``*su1 - *su2``, or 0) over the bytes the layouts place at ``cs`` and ``ct``
    (objects, arrays, strings); an unknown when either cannot be placed."""
    from analyzer.model import membytes

    m = current_machine()
    n = int(count) if type(count) in (int, Named, SizeOf) else None
    a = membytes.read_bytes(m, cs, n) if n is not None else None
    b = membytes.read_bytes(m, ct, n) if n is not None else None
    if a is None or b is None:
        return Sym(f"memcmp({display(cs)}, {display(ct)}, {display(count)})",
                   "a comparison of memory the model cannot place byte by byte")
    return next((x - y for x, y in zip(a, b, strict=True) if x != y), 0)


@primitive
def kmem_cache_of_struct(struct_name, flags=0, *rest):
    """``KMEM_CACHE(dentry, flags)``: ``kmem_cache_create("dentry",
    sizeof(struct dentry), ...)``, the macro's expansion (include/linux/slab.h)."""
    return kmem_cache_create(str(struct_name),
                             current_machine().sizeof(f"struct {struct_name}"))


def _cache_alloc(cache):
    if isinstance(cache, Sym) or cache is None:
        return Sym("kmem_cache_alloc(unknown cache)")
    return _alloc(cache.object_size, "kmem_cache_alloc")


@primitive
def kmem_cache_alloc(cache, flags=0, *rest):
    """A new object of the cache: zeroed memory that the cache's constructor,
    if it has one, sets up (SLUB calls ``s->ctor(object)`` when it makes a new
    slab's objects, mm/slub.c setup_object)."""
    m = current_machine()
    obj = _cache_alloc(cache)
    if isinstance(obj, Obj):
        ctor = getattr(cache, "ctor", None)
        if ctor:
            ctor(obj)
        else:
            m.note(f"{obj._label} from cache {display(cache.name)}: a new slab object "
                   "(zeroed memory; the cache has no constructor)")
    return obj


@primitive
def kmem_cache_zalloc(cache, flags=0, *rest):
    return _cache_alloc(cache)


def copy_of(m, value, label: str = ""):
    """A copy of an object or array (a C assignment of the whole): nested
    aggregates copied, pointers kept as pointers."""
    if isinstance(value, Obj):
        new = m.new(value._layout.name, label)
        for k, v in list(value._v.items()):
            if isinstance(v, (Obj, CArray)) and _embedded(value, k, v):
                _fill(m, getattr(new, k), v)
            else:
                setattr(new, k, v)
        return new
    if isinstance(value, CArray):
        arr = CArray(m, label or m.label("array"), value.elem, value.count)
        m.created(arr)
        _fill(m, arr, value)
        return arr
    return value


def _embedded(holder, key, v) -> bool:
    parent = getattr(v, "_parent", None)
    return isinstance(parent, tuple) and parent[0] is holder and parent[1] == key


def _fill(m, dst, src) -> None:
    for k, v in list(src._v.items()):
        if isinstance(v, (Obj, CArray)) and _embedded(src, k, v):
            _fill(m, dst[k] if isinstance(dst, CArray) else getattr(dst, k), v)
        elif isinstance(dst, CArray):
            dst[k] = v
        else:
            setattr(dst, k, v)


@primitive
def kmemdup(src, size, flags=0):
    """``kmemdup(p, len, gfp)`` (mm/util.c): a new copy of the object or array."""
    m = current_machine()
    if isinstance(src, IndexRef) and src.i == 0:
        src = src.arr
    if isinstance(src, (Obj, CArray)):
        return copy_of(m, src)
    return Sym(f"kmemdup({display(src)})", "a copy of memory the model does not hold")


@primitive
def memset(p, value, n):
    """``memset(p, 0, n)``: every member of the object whose bytes lie in
    ``[p, p + n)`` back to 0/NULL (offsets from the layouts); other fills, or
    places the model cannot locate, are not followed (an assumption)."""
    m = current_machine()
    if isinstance(p, CArray):
        p = IndexRef(p, 0)
    if isinstance(p, IndexRef) and isinstance(value, int) and int(value) == 0 \
            and not isinstance(n, Sym) and isinstance(p.i, int):
        size = m.sizeof(p.arr.elem.ctype)
        if isinstance(size, int) and int(size) > 0:
            for k in range(p.i, p.i + int(n) // int(size)):
                if p.arr.count < 0 or k < p.arr.count:
                    _zero_slot(m, p.arr, k)
            return p
    place = place_of(m, p)
    if place is not None and isinstance(value, int) and int(value) == 0 \
            and not isinstance(n, Sym):
        root, start = place
        _zero_range(m, root, 0, start, start + int(n))
        return p
    if isinstance(p, IndexRef) and type(n) in (int, Named) and not isinstance(value, Sym):
        for k in range(int(n)):
            p.arr[p.i + k] = int(value)
        return p
    from analyzer.model.assume import drop_write

    drop_write(p if isinstance(p, Sym) else Sym(display(p), "a place the model cannot locate"),
               "", f"memset {display(value)} x {display(n)}")
    return p


def _zero_slot(m, arr, k) -> None:
    value = arr._v.get(k)
    if isinstance(value, (Obj, CArray)):
        _zero(m, value)
    elif value not in (None, 0):
        arr[k] = None if arr.elem.kind == "ptr" else 0


def _offset(m, obj, name: str):
    off = m.offsetof(f"struct {obj._layout.name}", name)
    return int(off) if isinstance(off, int) else None


def _zero_range(m, obj, base: int, start: int, end: int) -> None:
    """Members of ``obj`` (at ``base`` in its root) whose offset is in [start, end)."""
    for spec in obj._layout.fields:
        off = _offset(m, obj, spec.name)
        if off is None:
            continue
        at = base + off
        if spec.kind == "struct":
            _zero_range(m, getattr(obj, spec.name), at, start, end)
        elif start <= at < end and spec.kind in ("scalar", "ptr"):
            if obj._v.get(spec.name) not in (None, 0):
                setattr(obj, spec.name, None if spec.kind == "ptr" else 0)
        elif start <= at < end and spec.kind == "array":
            _zero(m, getattr(obj, spec.name))


def _zero(m, obj) -> None:
    for k, v in list(obj._v.items()):
        if isinstance(v, (Obj, CArray)) and _embedded(obj, k, v):
            _zero(m, v)
        elif isinstance(obj, CArray):
            obj[k] = None if obj.elem.kind == "ptr" else 0
        else:
            spec = obj._index.get(k)
            setattr(obj, k, None if spec is not None and spec.kind == "ptr" else 0)


def _pages() -> int:
    return int(current_machine().machine_global("pages"))


@primitive
def get_free_pages(gfp, order=0):
    """``__get_free_pages(gfp, order)``: zeroed pages, typed by their use."""
    m = current_machine()
    page = int(m.constant("PAGE_SIZE") or 4096)
    return Block(m, page << int(order), m.label("pages"))


@primitive
def get_zeroed_page(gfp=0):
    return get_free_pages(gfp, 0)


@primitive
def global_page_state(item):
    """``global_page_state(item)``: free pages are the machine's memory
    (``[machine].memory_mb``); every other counter of pages in use is 0 at boot."""
    m = current_machine()
    if isinstance(item, Sym):
        return Sym("a page counter", "an unknown counter")
    free = m.constant("NR_FREE_PAGES")
    return _pages() if free is not None and int(item) == int(free) else 0


@primitive
def free_pages(*args):
    """``nr_free_pages()``, ``nr_free_buffer_pages()``: the machine's free pages."""
    return _pages()


@primitive
def si_meminfo(info):
    """``si_meminfo(&si)`` (mm/page_alloc.c) for the model's machine."""
    m = current_machine()
    info.totalram = _pages()
    info.freeram = _pages()
    info.sharedram = info.bufferram = info.totalhigh = info.freehigh = 0
    info.mem_unit = int(m.constant("PAGE_SIZE") or 4096)


@primitive
def new_mempool(*args):
    """``mempool_create(...)``: a pool object (mm/mempool.c); its elements
    are allocated when taken."""
    return current_machine().new("mempool_s")
