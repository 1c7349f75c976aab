"""The boot image: a booted machine stored as data, so that the boot runs once
per analysis and every later run starts from it.

Takes a booted :class:`~analyzer.model.machine.Machine` with its
:class:`~analyzer.model.boot.BootReport` and writes them to
``build/model/boot/image.msgpack``; :func:`load` gives them back on a fresh
machine of the same generator.  The file is MessagePack holding a table of
nodes (lists, tuples, dicts, sets, and the model's own objects by class name
and attributes); loading makes objects only of the model's classes (a fixed
allow-list, and the struct classes the generator makes from the store) and
sets their attributes: no code is read from the file, nothing is called that
the file names.

An image is used only when its key matches: the model's code, its data
tables, the configuration, the files of the parts the model reads from the
tree (``kernel/``, ``mm/``, ``lib/``) and the Makefiles that say what is built;
and when :func:`analyzer.model.bootinputs.stale` finds nothing the boot read
changed (the files it read, where it read them; its look-ups in the store).
Anything else boots again and writes a new image.  The file is two
MessagePack objects: a small header (format, key, the boot's inputs), then the
machine, so that checking an image does not read the machine.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import os
import pkgutil
from pathlib import Path

from analyzer.errors import AnalyzerError

__all__ = ["ImageError", "image_key", "path_for", "save", "load"]

FORMAT = 2
_NO_VALUE = object()


class ImageError(AnalyzerError):
    """The machine holds something the image cannot store (a Python function)."""


# --- the classes an image may name -------------------------------------------------------
def _allowed() -> dict[str, type]:
    """``module.qualname`` -> class, for every class defined in the model's modules."""
    import analyzer.model as package
    import analyzer.model.primitives as prims

    out: dict[str, type] = {}
    names = [f"analyzer.model.{m.name}" for m in pkgutil.iter_modules(package.__path__)]
    names += [f"analyzer.model.primitives.{m.name}" for m in pkgutil.iter_modules(prims.__path__)]
    for name in names:
        if name.endswith((".cli", ".image")):
            continue
        module = importlib.import_module(name)
        for value in vars(module).values():
            if isinstance(value, type) and value.__module__ == name:
                out[f"{name}.{value.__qualname__}"] = value
    return out


_CLASSES: dict[str, type] | None = None


def _classes() -> dict[str, type]:
    global _CLASSES
    if _CLASSES is None:
        _CLASSES = _allowed()
    return _CLASSES


def _slots(cls: type) -> list[str]:
    names = []
    for klass in cls.__mro__:
        for s in getattr(klass, "__slots__", ()):
            if s not in ("__weakref__", "__dict__") and s not in names:
                names.append(s)
    return names


# --- the key -----------------------------------------------------------------------------
def image_key(gen) -> str:
    """What the boot depends on, as one hash (see the module docstring)."""
    from analyzer.config import MODEL_PARTS

    h = hashlib.sha256(f"boot image {FORMAT}\n".encode())
    if getattr(gen.facts.source, "file_hashes", None) is None:
        raise ImageError("the facts do not come from a store: no image")
    root = gen.facts.kernel_dir
    for part in MODEL_PARTS:
        for p in sorted((root / part).rglob("*.[ch]")) if (root / part).is_dir() else ():
            st = p.stat()
            h.update(f"{p.relative_to(root)} {st.st_size} {st.st_mtime_ns}\n".encode())
    for p in _makefiles(root):  # what is built, in which order (analyzer.model.kbuild)
        st = p.stat()
        h.update(f"{p.relative_to(root)} {st.st_size} {st.st_mtime_ns}\n".encode())
    code = Path(__file__).resolve().parent
    for p in sorted(code.rglob("*.py")):
        h.update(p.read_bytes())
    h.update(json.dumps(gen.data, sort_keys=True, default=str).encode())
    defines = gen.kconfig.defines() if gen.kconfig is not None else {}
    h.update(json.dumps(sorted(dict(defines).items()), default=str).encode())
    return h.hexdigest()


def _makefiles(root: Path) -> list[Path]:
    found = [root / "Makefile"] if (root / "Makefile").is_file() else []
    for name in ("Makefile", "Kbuild"):
        found += [p for p in root.glob(f"*/**/{name}") if p.is_file()]
    return sorted(found)


def path_for(folder: Path, key: str) -> Path:
    """The image file of ``key`` in ``folder``."""
    return Path(folder) / f"boot-{key[:24]}.msgpack"


def _prune(folder: Path, keep: int = 3) -> None:
    """Remove all but the ``keep`` newest images (other configurations)."""
    images = sorted(folder.glob("boot-*.msgpack"), key=lambda p: p.stat().st_mtime,
                    reverse=True)
    for old in images[keep:]:
        old.unlink(missing_ok=True)


# --- writing -----------------------------------------------------------------------------
class _Encoder:
    """Objects to a node table, without recursion (kernel lists are long)."""

    def __init__(self, gen, m):
        self.gen, self.m = gen, m
        self.ids: dict[int, int] = {}
        self.nodes: list = []
        self.keep: list = []  # the encoded objects stay alive (their ids stay theirs)
        self.pending: list[int] = []
        self.classes = {cls: name for name, cls in _classes().items()}
        self.structs = {cls: name for name, cls in gen.layouts.items() if cls is not None}
        self.layouts: dict = {}  # struct classes used: key -> Layout

    def value(self, v):
        if v is None or type(v) in (bool, float, str, bytes):
            return v
        if type(v) is int:
            return v if -(2**63) <= v < 2**64 else [1, str(v)]
        key = id(v)
        n = self.ids.get(key)
        if n is None:
            n = self.ids[key] = len(self.nodes)
            self.nodes.append(None)
            self.keep.append(v)
            self.pending.append(n)
        return [0, n]

    def drain(self) -> None:
        while self.pending:
            n = self.pending.pop()
            self.nodes[n] = self.node(self.keep[n])

    def node(self, v) -> list:
        from analyzer.model.machine import Machine
        from analyzer.model.objects import Obj

        if v is self.m:
            return ["M"]
        if isinstance(v, Machine):
            raise ImageError("the state refers to another machine")
        kind = type(v)
        if kind is list:
            return ["l", [self.value(x) for x in v]]
        if kind is tuple:
            return ["t", [self.value(x) for x in v]]
        if kind is dict:
            return ["d", [[self.value(k), self.value(x)] for k, x in v.items()]]
        if kind in (set, frozenset):
            return ["s" if kind is set else "f", [self.value(x) for x in v]]
        if isinstance(v, Obj) and kind not in self.classes:
            return self.struct(v)
        return self.instance(v)

    def struct(self, v) -> list:
        """A struct object in one node: class, label, parent, index, members."""
        get = object.__getattribute__
        index = get(v, "_index")
        members = []
        for k, x in get(v, "_v").items():
            members += [self.value(k), self.value(x)]
        parent = get(v, "_parent")
        if type(parent) is tuple and len(parent) == 2:  # (container, member or index)
            up = [self.value(parent[0]), self.value(parent[1])]
        else:
            up = [None, self.value(parent)] if parent is not None else None
        return ["O", self.class_key(v), get(v, "_label"), up,
                None if index is type(v).LAYOUT.index else self.value(index), members]

    def class_key(self, v) -> list:
        from analyzer.model.objects import Obj, Opaque, opaque_class

        cls = type(v)
        if cls in self.classes:
            return ["py", self.classes[cls]]
        if isinstance(v, Obj):
            if cls in self.structs:
                self.layouts.setdefault(self.structs[cls], cls.LAYOUT)
                return ["struct", self.structs[cls]]
            name = cls.LAYOUT.name
            if issubclass(cls, Opaque) and opaque_class(name) is cls:
                return ["opaque", name]
        label = getattr(v, "_label", "") if isinstance(v, Obj) else ""
        raise ImageError(f"a {cls.__module__}.{cls.__qualname__} {label} cannot be stored")

    def instance(self, v) -> list:
        from analyzer.model.objects import Obj

        key = self.class_key(v)
        attrs = []
        try:
            own = object.__getattribute__(v, "__dict__")
        except AttributeError:
            own = {}
        for name in [*own, *_slots(type(v))]:
            if isinstance(getattr(type(v), name, None), functools.cached_property):
                continue  # computed again when asked
            try:
                x = object.__getattribute__(v, name)
            except AttributeError:  # an unset slot
                continue
            if isinstance(v, Obj) and (name == "_layout" and x is type(v).LAYOUT or
                                       name == "_index" and x is type(v).LAYOUT.index):
                continue  # the class's own: set again on load
            attrs.append([name, self.value(x)])
        if isinstance(v, int):
            return ["i", key, self.value(int(v)), attrs]
        if isinstance(v, str):
            return ["S", key, str(v), attrs]
        return ["o", key, attrs]


#: the machine's state an image keeps (the rest is made by ``gen.machine()``)
_MACHINE = ("steps", "writes", "objects", "assumptions", "assumed_at", "counters", "globals",
            "global_keys", "statics", "global_specs", "registry", "contained", "process",
            "task", "boot_count", "phase")


def _encode(gen, m, report) -> dict:
    enc = _Encoder(gen, m)
    state = {name: enc.value(getattr(m, name)) for name in _MACHINE
             if name not in ("writes", "objects")}
    # the two long logs as rows (their items are scalars and one object)
    state["writes"] = [[enc.value(x) for x in w] for w in m.writes]
    state["objects"] = [[label, kind, created, enc.value(obj)]
                        for label, kind, created, obj in m.objects]
    report_ref = enc.value(report)
    enc.drain()
    # tables keyed by an object's id: keyed by the object itself in the file
    where = [[enc.value(enc.keep[enc.ids[oid]]), enc.value(key), list(w)]
             for (oid, key), w in m.where.items() if oid in enc.ids]
    symbolic = [[enc.value(enc.keep[enc.ids[oid]]), enc.value(keys)]
                for oid, keys in m.symbolic_keys.items() if oid in enc.ids]
    enc.drain()
    layouts = {key: _layout_data(lay) for key, lay in enc.layouts.items()}
    return {"nodes": enc.nodes, "machine": state, "report": report_ref,
            "where": where, "symbolic": symbolic, "layouts": layouts,
            "derived": gen.derived(), "sources": _sources(gen)}


def _sources(gen) -> list[list[str]]:
    """The Python the boot translated (:meth:`Generator.sources`), as text for
    the model's modules (never run from here)."""
    functions, inits, structs = gen.sources()
    return ([["f", name, file, text] for (name, file), text in functions.items()]
            + [["i", key, file, text] for key, (file, text) in inits.items()]
            + [["s", name, "", text] for name, text in structs.items()])


def _spec_data(sp) -> list:
    return [sp.name, sp.ctype, sp.kind, sp.target, sp.count,
            _spec_data(sp.elem) if sp.elem is not None else None]


def _layout_data(lay) -> list:
    return [lay.name, lay.kind, lay.file, lay.line, [_spec_data(sp) for sp in lay.fields]]


def _spec(data):
    from analyzer.model.objects import FieldSpec

    name, ctype, kind, target, count, elem = data
    return FieldSpec(str(name), str(ctype), str(kind), str(target), int(count),
                     _spec(elem) if elem is not None else None)


def _layout(data):
    from analyzer.model.objects import Layout

    name, kind, file, line, fields = data
    return Layout(str(name), str(kind), str(file), int(line), tuple(map(_spec, fields)))


def save(path: Path, key: str, gen, m, report, store: str | None = None) -> None:
    """Write the image of ``m`` (booted) and ``report`` to ``path``, atomically;
    ImageError when the machine holds something an image cannot store.
    ``store``: the digest of the store's files, when read already."""
    import msgpack

    from analyzer.model import bootinputs

    inputs = bootinputs.record(gen, store)
    header = {"format": FORMAT, "key": key, "inputs": inputs.to_data()}
    data = _encode(gen, m, report)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(msgpack.packb(header, use_bin_type=True)
                        + msgpack.packb(data, use_bin_type=True))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _prune(path.parent)


def save_in_child(path: Path, key: str, gen, m, report) -> int | None:
    """Write the image as :func:`save` does, in a forked process that holds the
    machine as it is now, so that this one goes on at once (the runs roll their
    changes back, the image is of the booted state); the child's pid, or None
    when it was written here (no ``fork``).  The store is read here: the child
    touches no database."""
    from analyzer.model import bootinputs

    store = bootinputs.store_digest(gen)
    if not hasattr(os, "fork"):
        save(path, key, gen, m, report, store)
        return None
    pid = os.fork()
    if pid == 0:  # the child: write, then leave without running any cleanup
        import gc

        gc.disable()
        code = 1
        try:
            save(path, key, gen, m, report, store)
            code = 0
        except BaseException:  # noqa: BLE001 - the parent is told by the exit status
            pass
        finally:
            os._exit(code)
    return pid


# --- reading -----------------------------------------------------------------------------
class _Decoder:
    def __init__(self, gen, m, nodes: list):
        self.gen, self.m, self.nodes = gen, m, nodes
        self.made: list = [_NO_VALUE] * len(nodes)
        self.classes = _classes()

    def cls(self, key) -> type:
        from analyzer.model.objects import opaque_class

        kind, name = key
        if kind == "py" and name in self.classes:
            return self.classes[name]
        if kind == "struct":
            found = self.gen.layout(name)
            if found is not None:
                return found
        if kind == "opaque":
            return opaque_class(name)
        raise ValueError(f"unknown class {kind} {name}")

    def value(self, v):
        if isinstance(v, list):
            if v[0] == 0:
                return self.get(v[1])
            if v[0] == 1:
                return int(v[1])
            raise ValueError(f"unknown value tag {v[0]!r}")
        return v

    def get(self, n: int):
        made = self.made[n]
        if made is _NO_VALUE:  # a tuple or frozenset: made from its items
            node = self.nodes[n]
            items = [self.value(x) for x in node[1]]
            made = self.made[n] = tuple(items) if node[0] == "t" else frozenset(items)
        return made

    def run(self) -> None:
        for n, node in enumerate(self.nodes):  # 1. the mutable shells
            kind = node[0]
            if kind == "M":
                self.made[n] = self.m
            elif kind in ("l", "d", "s"):
                self.made[n] = {"l": list, "d": dict, "s": set}[kind]()
            elif kind in ("o", "O"):
                cls = self.cls(node[1])
                self.made[n] = cls.__new__(cls)
            elif kind == "i":
                self.made[n] = int.__new__(self.cls(node[1]), self.value(node[2]))
            elif kind == "S":
                self.made[n] = str.__new__(self.cls(node[1]), node[2])
        for n, node in enumerate(self.nodes):  # 2. the attributes of objects
            if node[0] in ("o", "i", "S"):
                self.attributes(self.made[n], node[-1])
            elif node[0] == "O":
                self.struct(self.made[n], node)
        for n, node in enumerate(self.nodes):  # 3. the containers' items
            kind, target = node[0], self.made[n]
            if kind == "l":
                target.extend(self.value(x) for x in node[1])
            elif kind == "d":
                for k, x in node[1]:
                    target[self.value(k)] = self.value(x)
            elif kind == "s":
                target.update(self.value(x) for x in node[1])

    def struct(self, obj, node) -> None:
        _, _, label, up, index, members = node
        put, value = object.__setattr__, self.value
        put(obj, "_layout", type(obj).LAYOUT)
        put(obj, "_index", type(obj).LAYOUT.index if index is None else value(index))
        put(obj, "_label", label)
        if up is None:
            put(obj, "_parent", None)
        else:
            put(obj, "_parent", value(up[1]) if up[0] is None else (value(up[0]), value(up[1])))
        put(obj, "_m", self.m)
        put(obj, "_v", {value(members[i]): value(members[i + 1])
                        for i in range(0, len(members), 2)})

    def attributes(self, obj, attrs) -> None:
        from analyzer.model.objects import Obj

        if isinstance(obj, Obj):
            object.__setattr__(obj, "_layout", type(obj).LAYOUT)
            object.__setattr__(obj, "_index", type(obj).LAYOUT.index)
        for name, v in attrs:
            object.__setattr__(obj, name, self.value(v))


def load(path: Path, key: str, gen):
    """(machine, BootReport) from the image at ``path``, or None when there is
    none, its key differs, or it cannot be read (then the caller boots).  The
    cyclic garbage collector is paused while the image's hundreds of thousands
    of objects are made (they live as long as the machine), then those objects
    are left out of later collections (``gc.freeze``)."""
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        return _load(path, key, gen)
    finally:
        if enabled:
            gc.enable()
        gc.freeze()


def _objects(f):
    """The image's objects, one after the other, read from the open file ``f``
    as far as they are asked for."""
    import msgpack

    return msgpack.Unpacker(f, raw=False, strict_map_key=False, use_list=True,
                            max_buffer_size=0)


def stale(path: Path, key: str, gen) -> str:
    """Why the image at ``path`` cannot stand for a boot of ``gen`` now ("" when
    it can): none there, another key or format, or what the boot read changed
    (:func:`analyzer.model.bootinputs.stale`).  Reads only the header."""
    import msgpack

    try:
        with open(path, "rb") as f:
            return _stale(next(_objects(f), None), key, gen)
    except OSError:
        return "no boot image yet"
    except (ValueError, msgpack.UnpackException):
        return "the image is damaged"


def _stale(header, key: str, gen) -> str:
    """:func:`stale` of an image whose header is ``header``."""
    from analyzer.model import bootinputs

    if not isinstance(header, dict) or header.get("format") != FORMAT \
            or header.get("key") != key:
        return "the image was made by another version, configuration or tree"
    try:
        inputs = bootinputs.BootInputs.from_data(header["inputs"])
    except (ValueError, TypeError, KeyError):
        return "the image is damaged"
    return bootinputs.stale(gen, inputs)


def _load(path: Path, key: str, gen):
    import msgpack

    try:
        with open(path, "rb") as f:  # the header, then the machine: one reading
            objects = _objects(f)
            why = _stale(next(objects, None), key, gen)
            data = None if why else next(objects, None)
    except OSError:
        why, data = "no boot image yet", None
    except (ValueError, msgpack.UnpackException):
        why, data = "the image is damaged", None
    if why:
        gen.image_note = why
        return None
    if not isinstance(data, dict):
        return None
    m = gen.machine()
    dec = _Decoder(gen, m, data["nodes"])
    try:
        for key, lay in data["layouts"].items():  # the struct classes, as the boot had them
            if gen.layouts.get(key) is None:
                gen.layouts[key] = gen.class_of(_layout(lay))
        dec.run()
        gen.restore_derived(data["derived"])
        for name, v in data["machine"].items():
            if name == "writes":
                m.writes = [tuple(map(dec.value, w)) for w in v]
            elif name == "objects":
                m.objects = [(label, kind, created, dec.value(obj))
                             for label, kind, created, obj in v]
            elif name in _MACHINE:
                setattr(m, name, dec.value(v))
        m.where = {(id(dec.value(o)), dec.value(k)): tuple(w) for o, k, w in data["where"]}
        m.symbolic_keys = {id(dec.value(o)): dec.value(keys) for o, keys in data["symbolic"]}
        report = dec.value(data["report"])
        gen.boot_sources = [tuple(map(str, t)) for t in data["sources"]]
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None  # damaged or from another version: boot again
    m.keep_alive = dec.made  # the ids keyed above belong to these objects
    return m, report
