"""The plain data model of the analysis: frozen records, each with a location.

Extraction produces them per file (:class:`FileFacts`), the store keeps them,
the graph and model stages read them.  Types are kept as normalized C type
strings (``"const struct proto_ops *"``); :func:`base_struct` reads them back.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

__all__ = [
    "Var", "Function", "Call", "Field", "Struct", "Alias", "Typedef", "Global",
    "InitEntry", "Initializer", "Assignment", "Registration", "Constant",
    "Macro", "Initcall", "FileFacts", "RECORD_KINDS", "to_dict", "from_dict", "base_struct",
    "pointer_depth", "normalize_type", "strip_qualifiers", "function_id", "maker",
]


@dataclass(frozen=True)
class Var:
    """A parameter, a local variable: name, C type, line."""

    name: str
    type: str
    line: int


@dataclass(frozen=True)
class Function:
    """A function definition.  ``id`` is unique in the tree (statics are
    qualified by their file)."""

    name: str
    file: str
    line: int
    end_line: int
    return_type: str
    params: tuple[Var, ...] = ()
    locals: tuple[Var, ...] = ()
    static: bool = False
    inline: bool = False
    header: bool = False
    signature: str = ""
    macro: str = ""  # e.g. "SYSCALL_DEFINE3" when a macro defines it
    alias_of: str = ""  # "SyS_socket" on the sys_socket alias of a SYSCALL_DEFINEn

    @property
    def id(self) -> str:
        return function_id(self.name, self.file, self.static)


def function_id(name: str, file: str, static: bool) -> str:
    """``name`` for an external function, ``name@file`` for a static one."""
    return f"{name}@{file}" if static else name


@dataclass(frozen=True)
class Call:
    """A call site.  ``kind`` is ``direct`` (``f(x)``), ``field``
    (``a->b->c(x)``: receiver ``a->b``, field ``c``), ``var`` (a parameter or
    local holding a function pointer), ``deref`` (``(*fp)(x)``) or ``index``
    (``table[i](x)``)."""

    caller: str  # Function.id
    file: str
    line: int
    kind: str
    callee: str  # the called name for direct calls, "" otherwise
    expr: str  # the callee expression as written: "pf->create"
    receiver: str = ""  # "sb->s_op"
    field: str = ""  # "alloc_inode"
    args: tuple[str, ...] = ()
    in_macro: bool = False  # found inside the arguments of a macro call


@dataclass(frozen=True)
class Field:
    """A struct or union member; nested and anonymous members are flattened
    with their dotted path (``u.pipe``, ``h.hashinfo``)."""

    name: str
    type: str
    line: int
    bits: str = ""
    guard: str = ""  # "CONFIG_COMPAT", "CONFIG_A && !CONFIG_B"


@dataclass(frozen=True)
class Struct:
    name: str
    kind: str  # "struct" | "union"
    file: str
    line: int
    end_line: int
    fields: tuple[Field, ...] = ()

    @property
    def first(self) -> Field | None:
        """The first member, through which a struct embeds another."""
        return self.fields[0] if self.fields else None


@dataclass(frozen=True)
class Alias:
    """A field-alias macro: ``#define sk_family __sk_common.skc_family``."""

    name: str
    target: str
    file: str
    line: int


@dataclass(frozen=True)
class Typedef:
    name: str
    type: str
    file: str
    line: int


@dataclass(frozen=True)
class Global:
    """A file-scope variable definition or declaration."""

    name: str
    type: str
    file: str
    line: int
    static: bool = False
    extern: bool = False
    array: str = ""  # the array dimension as written ("NPROTO"), "[]" if open


@dataclass(frozen=True)
class InitEntry:
    """One field of a designated initializer: ``.init = tcp_v4_init_sock``.
    ``path`` is dotted and indexed for arrays and nesting (``[0].prot``,
    ``h.hashinfo``); ``ref`` is the identifier the value names, if any."""

    path: str
    value: str
    line: int
    ref: str = ""
    address: bool = False  # the value is &ref


@dataclass(frozen=True)
class Initializer:
    """The initializer of a global: ``struct proto tcp_prot = {...}``."""

    name: str
    type: str
    file: str
    line: int
    entries: tuple[InitEntry, ...] = ()
    static: bool = False


@dataclass(frozen=True)
class Assignment:
    """A function bound to a field in code: ``x->f = fn;`` (or
    ``rcu_assign_pointer(x->f, fn)``), or by a designated initializer of a
    local (``struct readdir_callback buf = { .ctx.actor = filldir };`` reads as
    ``buf.ctx.actor = filldir;``).  With no receiver and no field, the value
    given to a function-pointer local that the function calls
    (``rx_handler = rcu_dereference(skb->dev->rx_handler);``): ``target`` is the
    local, ``value`` the expression.  A member copied from a member
    (``nlk->netlink_bind = cfg->bind``) has that member expression as ``value``."""

    function: str  # Function.id of the enclosing function
    file: str
    line: int
    target: str  # "sk->sk_destruct"
    receiver: str  # "sk"
    field: str  # "sk_destruct"
    value: str  # "inet_sock_destruct"
    #: >= 0 when ``value`` is that parameter of ``function`` (a function
    #: pointer): ``op->show = show;`` in ``single_open`` stores what its
    #: callers pass; ``value`` is then the parameter's name
    param: int = -1


@dataclass(frozen=True)
class Registration:
    """A call that hands a global table to a registrar:
    ``sock_register(&inet_family_ops)``."""

    caller: str
    registrar: str
    table: str
    file: str
    line: int
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Constant:
    """An enum constant or a simple ``#define``; ``value`` when computable."""

    name: str
    kind: str  # "enum" | "define"
    expr: str
    file: str
    line: int
    value: int | None = None
    enum: str = ""


@dataclass(frozen=True)
class Macro:
    """A ``#define`` as written.  ``params`` is None for an object-like macro,
    the parameter names for a function-like one (``()`` for ``f()``; a
    variadic one ends with ``"..."`` or GNU ``"args..."``).  ``body`` is the
    replacement text with comments removed and each backslash-newline turned
    into a newline, so that body line ``i`` is source line ``line + i``.
    ``guard``: the ``#if`` conditions around the define, as ``Field.guard``."""

    name: str
    file: str
    line: int
    end_line: int
    params: tuple[str, ...] | None
    body: str
    guard: str = ""


@dataclass(frozen=True)
class Initcall:
    """A file-scope initcall: ``core_initcall(sock_init)`` gives function
    ``sock_init``, level ``core``, macro ``core_initcall``.  ``module_init``
    and ``__initcall`` are the ``device`` level (a built-in object's
    ``module_init``); levels are ordered by :func:`analyzer.directives.level_rank`."""

    function: str
    level: str
    file: str
    line: int
    macro: str
    guard: str = ""


@dataclass(frozen=True)
class FileFacts:
    """Everything extracted from one file, with its parse statistics."""

    file: str
    sha256: str = ""
    size: int = 0
    error_bytes: int = 0
    error_nodes: int = 0
    functions: tuple[Function, ...] = ()
    calls: tuple[Call, ...] = ()
    structs: tuple[Struct, ...] = ()
    aliases: tuple[Alias, ...] = ()
    typedefs: tuple[Typedef, ...] = ()
    globals: tuple[Global, ...] = ()
    initializers: tuple[Initializer, ...] = ()
    assignments: tuple[Assignment, ...] = ()
    registrations: tuple[Registration, ...] = ()
    constants: tuple[Constant, ...] = ()
    macros: tuple[Macro, ...] = ()
    initcalls: tuple[Initcall, ...] = ()
    warnings: tuple[str, ...] = ()


#: record kind name -> class, as kept in the store
RECORD_KINDS: dict[str, type] = {
    "functions": Function, "calls": Call, "structs": Struct, "aliases": Alias,
    "typedefs": Typedef, "globals": Global, "initializers": Initializer,
    "assignments": Assignment, "registrations": Registration,
    "constants": Constant, "macros": Macro, "initcalls": Initcall,
}

_NESTED = {(Function, "params"): Var, (Function, "locals"): Var,
           (Struct, "fields"): Field, (Initializer, "entries"): InitEntry}


def maker(cls: type) -> Callable[..., object]:
    """A positional constructor of ``cls`` records, every field given in
    declaration order, that fills the instance dict directly instead of
    calling the frozen dataclass ``__init__`` (one ``object.__setattr__``
    per field): the records are the same, about 3x faster to make.
    Generated from the field names, as :func:`store._builder` is."""
    names = [f.name for f in fields(cls)]
    stores = "".join(f"    d[{n!r}] = {n}\n" for n in names)
    src = (f"def make({', '.join(names)}):\n    o = new(cls)\n    d = o.__dict__\n"
           f"{stores}    return o\n")
    env = {"new": object.__new__, "cls": cls}
    exec(src, env)  # noqa: S102 - code made from the field names of a record class
    return env["make"]


def to_dict(record) -> dict:
    """A record as plain JSON-able data."""
    return asdict(record)


def from_dict(cls: type, data: dict):
    """The inverse of :func:`to_dict` for one record class."""
    kwargs = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        inner = _NESTED.get((cls, f.name))
        if inner is not None:
            value = tuple(inner(**item) for item in value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)


_QUALIFIERS = re.compile(r"\b(const|volatile|restrict|__rcu|__user|__iomem|__percpu|__force)\b")
_STRUCT = re.compile(r"\b(?:struct|union)\s+(\w+)")


def base_struct(ctype: str) -> str:
    """The struct or union a type names, or "".

    >>> base_struct("const struct super_operations *")
    'super_operations'
    """
    m = _STRUCT.search(ctype)
    return m.group(1) if m else ""


def pointer_depth(ctype: str) -> int:
    """How many ``*`` a type has.

    >>> pointer_depth("struct socket **")
    2
    """
    return ctype.count("*")


def normalize_type(text: str) -> str:
    """One spacing for C type text: ``struct  socket*`` -> ``struct socket *``."""
    text = re.sub(r"\s+", " ", text.replace("*", " * ")).strip()
    return re.sub(r"\* (?=\*)", "*", text)


def strip_qualifiers(ctype: str) -> str:
    return normalize_type(_QUALIFIERS.sub(" ", ctype))

