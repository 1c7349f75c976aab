"""Type-based resolution of indirect calls, with registration-aware narrowing.

Takes the extracted records (an :class:`Index` over them, built from
:class:`records.FileFacts` or from the store) and gives, for every indirect
call site, the functions it can reach, each with its evidence:

1. *Type inference* of the receiver expression (``pf`` in ``pf->create``)
   through parameters, locals, globals, struct field types, array elements,
   casts, ``container_of`` and pass-through macros (``kernel/casts.toml``),
   field-alias macros (``sk_prot`` is ``__sk_common.skc_prot``) and typedefs.
2. *Bindings*: every function bound to a ``(struct, field)`` pair anywhere, by
   a designated initializer (arrays of structs and nested ones included) or an
   assignment ``x->f = fn`` whose receiver type is inferred the same way.
   Fields are never joined by bare name across struct types.
3. *Narrowing* by registration key (``kernel/registrars.toml``):
   ``sock_register`` keys tables by ``.family``, so ``pf->create`` with
   ``family="AF_INET"`` keeps only tables registered with that family.

A site whose receiver type cannot be inferred is ``unresolved`` with a cause
(``void-pointer``, ``unknown-local``, ``macro-receiver``, ``no-binding``...).
"""

from __future__ import annotations

import re
import sqlite3
import statistics
import tomllib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from types import SimpleNamespace

from analyzer import records
from analyzer.cexpr import parse_expr
from analyzer.errors import AnalyzerError
from analyzer.query import chain_matches
from analyzer.query import key_value as query_key_value
from analyzer.records import Function, base_struct, normalize_type
from analyzer.store import columns, decode, encode

__all__ = ["Index", "TypeRef", "Unresolved", "Binding", "Site", "Resolver",
           "casts_table", "registrars_table", "stats", "site_stats", "strip_indexes",
           "type_text"]


@cache
def casts_table() -> dict:
    """``kernel/casts.toml``: pass-through and type-argument macros."""
    return tomllib.loads(resources.files("analyzer.kernel").joinpath("casts.toml").read_text())


@cache
def registrars_table() -> dict:
    """``kernel/registrars.toml``: registrar function -> table_arg, key, fills."""
    text = resources.files("analyzer.kernel").joinpath("registrars.toml").read_text()
    return tomllib.loads(text)


class Unresolved(Exception):
    """A receiver whose type cannot be inferred; ``args[0]`` is the cause."""

    @property
    def cause(self) -> str:
        return self.args[0]


@dataclass(frozen=True)
class TypeRef:
    """An inferred C type.  ``array`` counts array dimensions not in
    ``ctype``; ``prefix`` is a member path inside ``struct`` for a nested
    aggregate that extraction flattened (``u.pipe``)."""

    ctype: str
    array: int = 0
    struct: str = ""
    prefix: str = ""


@dataclass(frozen=True)
class Binding:
    """A function bound to ``struct``.``field``: by a table's initializer
    (``table`` set) or by an assignment in ``function``."""

    struct: str
    field: str
    target: str  # Function.id
    kind: str  # "initializer" | "assignment" | "argument" | "conditional" | "value"
    file: str
    line: int
    table: str = ""  # table node id (name or name@file)
    table_line: int = 0
    function: str = ""  # for assignments: the assigning function's id (for
    # arguments: the function that passes the target)
    expr: str = ""  # the assignment target as written
    via: str = ""  # for arguments stored in a member: "F at file:line", the store
    local: str = ""  # for a call through a local: "fn = ops->f at file:line"

    def evidence(self) -> dict:
        """Plain data for graph edges and JSON output: where the target is
        bound (the struct, field and target are on the edge itself)."""
        return {k: v for k, v in self.__dict__.items()
                if v not in ("", 0) and k not in ("struct", "field", "target")}


@dataclass(frozen=True)
class Site:
    """An indirect call site and what it resolves to."""

    caller: str
    file: str
    line: int
    expr: str
    kind: str
    rtype: str = ""  # the inferred receiver type
    struct: str = ""
    field: str = ""
    confidence: str = "unresolved"  # "typed" | "unresolved"
    cause: str = ""
    targets: tuple[Binding, ...] = ()


_TRAILING_INDEX = re.compile(r"(?:\[[^\]]*\])+$")
_CONDITIONAL = re.compile(r"\(*\s*[^?]+\?\s*(\w+)\s*:\s*(\w+)\s*\)*")
_INDEX_PREFIX = re.compile(r"^(?:\s*\[[^\]]*\]\s*\.?)+")


def strip_indexes(path: str) -> str:
    """An initializer path without its leading array indexes and dot.

    >>> strip_indexes("[0].prot"), strip_indexes(".create")
    ('prot', 'create')
    """
    return _INDEX_PREFIX.sub("", path).lstrip(".")


@dataclass
class Index:
    """The records, indexed for resolution (built once, then read only)."""

    functions: dict[str, Function] = field(default_factory=dict)
    #: other names of a function (``sys_socket`` for ``SyS_socket``) -> its id
    other_names: dict[str, str] = field(default_factory=dict)
    by_name: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    structs: dict[str, list[records.Struct]] = field(default_factory=lambda: defaultdict(list))
    aliases: dict[str, records.Alias] = field(default_factory=dict)
    typedefs: dict[str, records.Typedef] = field(default_factory=dict)
    globals: dict[str, list[records.Global]] = field(default_factory=lambda: defaultdict(list))
    initializers: list[records.Initializer] = field(default_factory=list)
    assignments: list[records.Assignment] = field(default_factory=list)
    registrations: list[records.Registration] = field(default_factory=list)
    #: the constants' records (none when they are read elsewhere: :meth:`constants_from`)
    constants: dict[str, records.Constant] = field(default_factory=dict)
    constant_records: list[records.Constant] = field(default_factory=list)
    #: the indirect calls (``kind`` other than ``direct``), in the order found
    calls: list[records.Call] = field(default_factory=list)
    #: the direct calls as store rows (:func:`analyzer.store.encode`: caller, file,
    #: line, kind, callee, ... with ``args`` as JSON text), in the order found:
    #: 380,000 of them in the tree, most only an edge; :meth:`call` makes the
    #: record of one when its arguments matter
    direct: list[tuple] = field(default_factory=list)

    @classmethod
    def from_facts(cls, facts: Iterable[records.FileFacts]) -> Index:
        """An index over the facts of some files (tests, snippets)."""
        idx = cls()
        for ff in facts:
            for kind in INDEXED_KINDS:
                idx.add(kind, getattr(ff, kind))
        return idx

    @classmethod
    def from_store(cls, store, kinds: Iterable[str] = ()) -> Index:
        """An index over a whole :class:`analyzer.store.Store` (its records of
        ``kinds``, else of all the kinds it indexes), file by file in the
        order of the files' paths (so that what is built from it, down to the
        numbering of call sites, does not depend on the order in which the
        files were extracted, and a file extracted again keeps its place)."""
        idx = cls()
        for kind in kinds or INDEXED_KINDS:
            if kind == "calls":
                idx.calls.extend(store.all(kind, "kind != 'direct'", by_file=True))
                idx.direct.extend(store.rows(kind, "kind = 'direct'", by_file=True,
                                             columns=DIRECT_COLUMNS))
            else:
                idx.add(kind, store.all(kind, by_file=True))
        return idx

    def add(self, kind: str, items: Iterable) -> None:
        """Add records of one kind (a key of :data:`records.RECORD_KINDS`)."""
        self.__dict__.pop("_direct", None)  # made again from the new records
        self.__dict__.pop("_struct_of", None)
        if kind == "calls":
            for call in items:
                if call.kind == "direct":
                    row = encode(call)
                    self.direct.append(tuple(row[i] for i in _DIRECT_AT))
                else:
                    self.calls.append(call)
            return
        adder = getattr(self, f"_add_{kind}", None)
        if adder is None:
            getattr(self, kind).extend(items)
            return
        for rec in items:
            adder(rec)

    def _add_functions(self, fn: Function) -> None:
        alias_of = getattr(fn, "alias_of", "")
        if alias_of:
            self.other_names[fn.name] = records.function_id(alias_of, fn.file, fn.static)
            return
        old = self.functions.get(fn.id)
        if old is None or (old.end_line - old.line) < (fn.end_line - fn.line):
            if old is None:
                self.by_name[fn.name].append(fn.id)
            self.functions[fn.id] = fn

    def _add_structs(self, st: records.Struct) -> None:
        self.structs[st.name].append(st)

    def _add_aliases(self, al: records.Alias) -> None:
        self.aliases.setdefault(al.name, al)

    def _add_typedefs(self, td: records.Typedef) -> None:
        self.typedefs.setdefault(td.name, td)

    def _add_globals(self, g: records.Global) -> None:
        self.globals[g.name].append(g)

    def _add_constants(self, c: records.Constant) -> None:
        self.constant_records.append(c)
        old = self.constants.get(c.name)
        if old is None or (old.value is None and c.value is not None):
            self.constants[c.name] = c

    # --- lookups ------------------------------------------------------------

    def function(self, name: str, file: str) -> str | None:
        """The id a name refers to from ``file``: a static of that file, else
        the external function, else a static inline of a header."""
        fid = f"{name}@{file}"
        if fid in self.functions:
            return fid
        if name in self.functions:
            return name
        cands = self.by_name.get(name)
        ids = sorted(i for i in cands if self.functions[i].header) if cands else ()
        return ids[0] if ids else self.other_names.get(name)

    def direct_calls(self) -> list[tuple[tuple, str | None]]:
        """Every direct call that names its callee (its row of :attr:`direct`),
        with the id the name refers to from the call's file (:meth:`function`;
        None for a name defined nowhere in the tree), in the order of
        :attr:`direct`; made once."""
        found = self.__dict__.get("_direct")
        if found is None:
            ids: dict[str, dict[str, str | None]] = {}  # file -> name -> id
            function, at_callee, at_file = self.function, row_fields.callee, row_fields.file
            found = []
            missing = object()
            for row in self.direct:
                callee = row[at_callee]
                if callee:
                    file = row[at_file]
                    known = ids.get(file)
                    if known is None:
                        known = ids[file] = {}
                    fid = known.get(callee, missing)
                    if fid is missing:
                        fid = known[callee] = function(callee, file)
                    found.append((row, fid))
            self._direct = found
        return found

    @staticmethod
    def call(row: tuple) -> records.Call:
        """The record of a direct call's row (of :attr:`direct`)."""
        caller, file, line, callee, args, in_macro = row
        return decode("calls", (caller, file, line, "direct", callee, callee, "", "", args,
                                in_macro))

    def struct(self, name: str, file: str = "") -> records.Struct | None:
        """The definition of ``struct name`` seen from ``file``: the same
        file's, else a header's, else any; definitions with fields first."""
        cands = self.structs.get(name)
        if not cands:
            return None
        return min(cands, key=lambda s: (not s.fields, s.file != file,
                                         not s.file.startswith("include/"), s.file, s.line))

    def global_(self, name: str, file: str) -> records.Global | None:
        cands = self.globals.get(name)
        if not cands:
            return None
        return min(cands, key=lambda g: (g.static and g.file != file, g.file != file,
                                         g.extern, not g.array))

    def struct_of(self, ctype: str, depth: int = 0) -> str:
        """The struct or union a type names, through typedefs (remembered per
        type until records are added)."""
        known = self.__dict__.setdefault("_struct_of", {})
        if depth == 0 and ctype in known:
            return known[ctype]
        name = self._struct_of_uncached(ctype, depth)
        if depth == 0:
            known[ctype] = name
        return name

    def _struct_of_uncached(self, ctype: str, depth: int) -> str:
        name = base_struct(ctype)
        if name or depth > 5:
            return name
        words = [w for w in re.findall(r"[A-Za-z_]\w*", records.strip_qualifiers(ctype))
                 if w not in ("unsigned", "signed")]
        td = self.typedefs.get(words[-1]) if words else None
        return self.struct_of(td.type, depth + 1) if td else ""

    def const_value(self, name: str) -> int | None:
        """The integer value of an enum constant or ``#define``, through
        other constants (``PF_INET`` -> ``AF_INET`` -> 2)."""
        return self.const_values().get(name)

    def const_values(self) -> dict[str, int]:
        """Every computable constant (``analyzer.constants.evaluate``)."""
        values = getattr(self, "_values", None)
        if values is None and "_constants_from" in self.__dict__:
            values, self._unvalued = self.__dict__.pop("_constants_from")()
            self._values = values
        if values is None:
            try:
                from analyzer.constants import evaluate
            except ImportError:  # the extraction stage's evaluator is not there
                values = {n: v for n in self.constants
                          if (v := _eval_int(n, self)) is not None}
            else:
                values = evaluate(self.constant_records)
            self._values = values
        return values

    def constants_from(self, compute: Callable[[], tuple[dict[str, int], frozenset[str]]]
                       ) -> None:
        """The constants are read and evaluated elsewhere, meanwhile (not
        added here): ``compute()`` gives the values that
        ``analyzer.constants.evaluate`` gives for their records and the names
        of those without a value; asked when first needed."""
        self._constants_from = compute

    def is_constant(self, name: str) -> bool:
        """Is ``name`` an enum constant or a ``#define`` of the records?"""
        return name in self.constants or name in self.const_values() \
            or name in self.__dict__.get("_unvalued", ())

    @property
    def typenames(self) -> frozenset[str]:
        tn = getattr(self, "_typenames", None)
        if tn is None:
            tn = frozenset(self.typedefs)
            object.__setattr__(self, "_typenames", tn)
        return tn


#: the record kinds an Index holds (macros and initcalls are not read for resolution)
INDEXED_KINDS = tuple(k for k in records.RECORD_KINDS if k in Index.__dataclass_fields__)
#: the columns of a direct call's row in :attr:`Index.direct`: a direct call's other
#: columns are its kind, its callee again (``expr``), and empty ``receiver`` and ``field``
DIRECT_COLUMNS = ("caller", "file", "line", "callee", "args", "in_macro")
_DIRECT_AT = tuple(columns("calls").index(c) for c in DIRECT_COLUMNS)
#: the position of each column in a row of :attr:`Index.direct` (``row[row_fields.callee]``)
row_fields = SimpleNamespace(**{c: i for i, c in enumerate(DIRECT_COLUMNS)})


#: an argument that is the address of a name (``&inet_family_ops``)
_ADDRESS = re.compile(r"\s*&\s*(\w+)\s*")
#: such an argument inside the JSON text of a row's arguments (whitespace escaped or not)
_ADDRESS_ARG = re.compile(r'"(?:\s|\\[tnrfb])*&(?:\s|\\[tnrfb])*\w+(?:\s|\\[tnrfb])*"')


def _eval_int(text: str, idx: Index, depth: int = 0) -> int | None:
    text = text.strip()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    m = re.fullmatch(r"(-?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)[uUlL]*", text)
    if m:
        digits = m.group(2)
        base = 16 if digits[:2] in ("0x", "0X") else 8 if digits[:1] == "0" else 10
        return int(digits, base) * (-1 if m.group(1) else 1)
    values = getattr(idx, "_values", None)
    if values is not None and text in values:
        return values[text]
    c = idx.constants.get(text)
    if c is None or depth > 10:
        return None
    return c.value if c.value is not None else _eval_int(c.expr, idx, depth + 1)


class Resolver:
    """Infers receiver types and resolves indirect call sites over an
    :class:`Index`.  Build it once; :meth:`bindings` is computed lazily."""

    def __init__(self, index: Index) -> None:
        self.idx = index
        self._fieldmaps: dict[tuple[str, str], tuple[dict, frozenset]] = {}
        self._bindings: dict[tuple[str, str], list[Binding]] | None = None
        self._fnarrays: dict[str, list[Binding]] = {}
        self._chains: dict[str, list[tuple[dict, ...]]] = {}
        self._parsed: dict[str, tuple] = {}
        table = casts_table()
        self.passthrough = frozenset(table.get("passthrough", ()))
        self.type_arg = dict(table.get("type_arg", {}))

    def _parse(self, expr: str):
        """``parse_expr(expr)`` with the index's type names, once per text."""
        node = self._parsed.get(expr)
        if node is None:
            node = self._parsed[expr] = parse_expr(expr, self.idx.typenames)
        return node

    # --- struct fields ------------------------------------------------------

    def _fieldmap(self, sname: str, file: str) -> tuple[dict, frozenset]:
        key = (sname, file)
        if key not in self._fieldmaps:
            st = self.idx.struct(sname, file)
            if st is None:
                raise Unresolved("unknown-struct")
            fmap = {f.name: f for f in st.fields}
            for variant in self.idx.structs[sname]:  # #ifdef variants in the same file
                if variant.file == st.file and variant is not st:
                    for f in variant.fields:
                        fmap.setdefault(f.name, f)
            prefixes = frozenset(p for f in st.fields for p in _prefixes(f.name))
            self._fieldmaps[key] = (fmap, prefixes)
        return self._fieldmaps[key]

    def locate(self, sname: str, path: str, file: str = "", depth: int = 0) -> tuple[str, str]:
        """The struct and member that ``sname``.``path`` really names, through
        embedded members and field-alias macros.

        Raises :class:`Unresolved` (``no-field``, ``unknown-struct``)."""
        fmap, prefixes = self._fieldmap(sname, file)
        if path in fmap or path in prefixes:
            return sname, path
        parts = path.split(".")
        for i in range(len(parts) - 1, 0, -1):
            inner = fmap.get(".".join(parts[:i]))
            sub = self.idx.struct_of(inner.type) if inner else ""
            if sub and "*" not in inner.type and depth < 8:
                return self.locate(sub, ".".join(parts[i:]), file, depth + 1)
        alias = self.idx.aliases.get(parts[0])
        if alias and depth < 8 and alias.target != parts[0]:
            target = ".".join([alias.target.replace("->", "."), *parts[1:]])
            return self.locate(sname, target, file, depth + 1)
        raise Unresolved("no-field")

    def member_type(self, sname: str, path: str, file: str) -> TypeRef:
        owner, member = self.locate(sname, path, file)
        fmap, prefixes = self._fieldmap(owner, file)
        if member in fmap and member not in prefixes:
            return TypeRef(fmap[member].type)
        return TypeRef(f"struct {owner}", struct=owner, prefix=member)

    # --- type inference -----------------------------------------------------

    def infer(self, expr: str, fn: Function | None) -> TypeRef:
        """The type of C expression ``expr`` inside function ``fn``.

        Raises :class:`Unresolved` with the cause when it cannot be told."""
        return self._infer(self._parse(expr), fn)

    def _infer(self, node, fn: Function | None) -> TypeRef:
        kind = node[0]
        if kind == "id":
            return self._infer_id(node[1], fn)
        if kind == "member":
            return self._infer_member(self._infer(node[1], fn), node[2], fn)
        if kind in ("index", "deref"):
            return _element(self._infer(node[1], fn))
        if kind == "addr":
            t = self._infer(node[1], fn)
            return TypeRef(normalize_type(t.ctype + " *"), t.array, t.struct, t.prefix)
        if kind == "cast":
            return TypeRef(normalize_type(node[1]))
        if kind == "call":
            return self._infer_call(node, fn)
        raise Unresolved("complex-expression")

    def _infer_id(self, name: str, fn: Function | None) -> TypeRef:
        if fn is not None:
            for var in (*fn.locals, *fn.params):
                if var.name == name:
                    return _var_type(var.type)
        g = self.idx.global_(name, fn.file if fn else "")
        if g is not None:
            return TypeRef(g.type, 1 if g.array else 0)
        if name.isupper():
            raise Unresolved("macro-receiver")
        raise Unresolved("unknown-local")

    def _infer_member(self, base: TypeRef, name: str, fn: Function | None) -> TypeRef:
        sname = base.struct or self.idx.struct_of(base.ctype)
        if not sname:
            cause = "void-pointer" if re.search(r"\bvoid\b", base.ctype) else "not-struct"
            raise Unresolved(cause)
        path = f"{base.prefix}.{name}" if base.prefix else name
        return self.member_type(sname, path, fn.file if fn else "")

    def _infer_call(self, node, fn: Function | None) -> TypeRef:
        callee, args, texts = node[1], node[2], node[3]
        if callee[0] != "id":
            raise Unresolved("complex-expression")
        name = callee[1]
        if name in self.passthrough and args:
            return self._infer(args[0], fn)
        if name in self.type_arg:
            k = self.type_arg[name]
            if k < 0:
                return self._infer(args[0], fn)
            if k < len(texts):
                return TypeRef(normalize_type(type_text(texts[k]) + " *"))
        fid = self.idx.function(name, fn.file if fn else "")
        if fid is not None:
            return TypeRef(self.idx.functions[fid].return_type)
        raise Unresolved("macro-receiver")

    # --- bindings -----------------------------------------------------------

    def bindings(self) -> dict[tuple[str, str], list[Binding]]:
        """``(struct, member) -> bindings`` over the whole index."""
        if self._bindings is None:
            found: dict[tuple[str, str], list[Binding]] = defaultdict(list)
            for ini in self.idx.initializers:
                for b in self._initializer_bindings(ini):
                    found[(b.struct, b.field)].append(b)
            copies = []
            for asg in self.idx.assignments:
                if asg.param < 0 and not asg.value.isidentifier():
                    copies.append(asg)  # x->f = cfg->g
                    continue
                for b in self._assignment_bindings(asg):
                    found[(b.struct, b.field)].append(b)
            self._copy_bindings(found, copies)
            self._bindings = dict(found)
        return self._bindings

    def _copy_bindings(self, found: dict, copies: list[records.Assignment]) -> None:
        """``nlk->netlink_bind = cfg->bind``: the member takes every function
        bound to the member it is copied from (also through chains of copies);
        ``via`` says where the copy is.  Only function-pointer members count."""
        edges = []
        for asg in copies:
            dst = self._assigned_member(asg)
            if not dst[0] or not self._holds_function(*dst, asg.file):
                continue  # most copies: of data, not of function pointers
            src = self._member_of(asg.value, asg.function, asg.file)
            if src[0] and dst != src:
                edges.append((src, dst, asg))
        for _ in range(len(edges)):  # a fixpoint: each round may extend a chain by one
            changed = False
            for src, dst, asg in edges:
                have = {b.target for b in found.get(dst, ())}
                for b in list(found.get(src, ())):
                    if b.target in have:
                        continue
                    copy = f"{asg.value} copied to {asg.target} by {asg.function} " \
                           f"at {asg.file}:{asg.line}"
                    found[dst].append(replace(b, struct=dst[0], field=dst[1],
                                              via=f"{b.via}; {copy}" if b.via else copy))
                    have.add(b.target)
                    changed = True
            if not changed:
                break

    def _member_of(self, expr: str, function: str, file: str) -> tuple[str, str]:
        """(struct, member) that a member expression (``cfg->bind``) names, or ("", "")."""
        node = self._parse(expr)
        if node[0] != "member":
            return "", ""
        try:
            base = self._infer(node[1], self.idx.functions.get(function))
            sname = base.struct or self.idx.struct_of(base.ctype)
            path = f"{base.prefix}.{node[2]}" if base.prefix else node[2]
            return self.locate(sname, path, file) if sname else ("", "")
        except Unresolved:
            return "", ""

    def _holds_function(self, sname: str, member: str, file: str) -> bool:
        """Is member ``sname.member`` a function pointer?"""
        try:
            ctype = self.member_type(sname, member, file).ctype
        except Unresolved:
            return False
        return "(" in ctype or self._function_typedef(ctype)

    def _initializer_bindings(self, ini: records.Initializer) -> list[Binding]:
        table = records.function_id(ini.name, ini.file, ini.static)
        sname = self.idx.struct_of(ini.type)
        out = []
        for entry in ini.entries:
            if not entry.ref:
                continue
            target = self.idx.function(entry.ref, ini.file)
            path = self._positional(sname, _TRAILING_INDEX.sub("", strip_indexes(entry.path)),
                                    ini.file)  # .adt = { [IPSET_ADD] = f }: member adt
            if target is None:
                target = self._external(entry.ref, sname, path, ini.file)
                if target is None:
                    continue
            if not sname or not path:
                self._fnarrays.setdefault(table, []).append(Binding(
                    "", entry.path, target, "initializer", ini.file, entry.line, table, ini.line))
                continue
            try:
                owner, member = self.locate(sname, path, ini.file)
            except Unresolved:
                continue
            out.append(Binding(owner, member, target, "initializer", ini.file, entry.line,
                               table, ini.line))
        return out

    def _external(self, name: str, sname: str, path: str, file: str) -> str | None:
        """``name`` as the id of a function defined outside the analysed tree
        (``.read_iter = generic_file_read_iter`` of mm/filemap.c), when it fills a
        function-pointer member and names no global, constant or macro of the tree."""
        if not sname or not path or name in self.idx.globals or self.idx.is_constant(name) \
                or not name.isidentifier():
            return None
        try:
            ctype = self.member_type(sname, path, file).ctype
        except Unresolved:
            return None
        return name if "(" in ctype or self._function_typedef(ctype) else None

    def _function_typedef(self, ctype: str) -> bool:
        """Is ``ctype`` a typedef'd function (pointer) type (``rx_handler_func_t *``)?"""
        name = re.sub(r"^(?:const\s+)?(\w+)(?:\s*\*)?$", r"\1", ctype.strip())
        td = self.idx.typedefs.get(name)
        return td is not None and "(" in td.type

    def _positional(self, sname: str, path: str, file: str) -> str:
        """``#N`` (the Nth value of a positional initializer) as a field name."""
        m = re.fullmatch(r"#(\d+)", path)
        if not m or not sname:
            return path
        try:
            fmap, _ = self._fieldmap(sname, file)
        except Unresolved:
            return ""
        top = [name for name in fmap if "." not in name]
        n = int(m.group(1))
        return top[n] if n < len(top) else ""

    def _assignment_bindings(self, asg: records.Assignment) -> list[Binding]:
        """``x->f = fn;``: fn bound to x's struct member f.  ``op->show = show;``
        with ``show`` a parameter of the assigning function: every function its
        direct callers pass in that position (kind ``argument``, at the call)."""
        owner, member = self._assigned_member(asg)
        if not owner:
            return []
        if asg.param < 0:
            target = self.idx.function(asg.value, asg.file) \
                or self._external(asg.value, owner, member, asg.file)
            if target is None:
                return []
            targets = [(target, "assignment", asg.file, asg.line, asg.function, "")]
        else:
            targets = [(fid, "argument", call.file, call.line, call.caller,
                        f"{asg.function} at {asg.file}:{asg.line}")
                       for fid, call in self._passed_functions(asg.function, asg.param)]
        return [Binding(owner, member, fid, kind, file, line, function=fn, expr=asg.target,
                        via=via) for fid, kind, file, line, fn, via in targets]

    def _assigned_member(self, asg: records.Assignment) -> tuple[str, str]:
        """(struct, member) that an assignment's target names, or ("", "")."""
        return self._member_of(asg.target, asg.function, asg.file)

    def _passed_functions(self, fid: str, pos: int, depth: int = 0,
                          seen: frozenset[str] = frozenset()) -> list[tuple[str, records.Call]]:
        """(function, call) for each function passed as argument ``pos`` of
        ``fid`` by a direct call (``f`` or ``&f``), following callers that pass
        their own parameter on (``single_open_size(file, show, ...)`` calls
        ``single_open(file, show, ...)``) up to 3 levels; the call is the one
        where the function is named."""
        out: list[tuple[str, records.Call]] = []
        for call in self._direct_callers(fid):
            arg = call.args[pos].strip().lstrip("&").strip() if pos < len(call.args) else ""
            if not arg.isidentifier():
                continue
            caller = self.idx.functions.get(call.caller)
            if caller is not None:
                k = next((i for i, v in enumerate(caller.params) if v.name == arg), -1)
                if k >= 0 or any(v.name == arg for v in caller.locals):
                    if k >= 0 and depth < 3 and caller.id not in seen:
                        out += self._passed_functions(caller.id, k, depth + 1, seen | {fid})
                    continue
            target = self.idx.function(arg, call.file)
            if target is not None:
                out.append((target, call))
        return out

    def fnarray(self, table: str) -> list[Binding]:
        """Functions listed in a global array of function pointers."""
        self.bindings()
        return self._fnarrays.get(table, [])

    # --- call sites ---------------------------------------------------------

    def resolve_call(self, call: records.Call) -> Site:
        """Resolve one indirect call site."""
        fn = self.idx.functions.get(call.caller)
        base = Site(call.caller, call.file, call.line, call.expr, call.kind)
        try:
            return self._resolve_node(base, self._parse(call.expr), fn)
        except Unresolved as e:
            return replace(base, cause=e.cause)

    def _resolve_node(self, site: Site, node, fn: Function | None, depth: int = 0) -> Site:
        if node[0] == "deref":
            node = node[1]
        while node[0] in ("cast", "call") and depth < 8:  # (T)x, rcu_dereference(x)
            if node[0] == "cast":
                node = node[2]
            elif node[1][0] == "id" and node[1][1] in self.passthrough and node[2]:
                node = node[2][0]
            else:
                break
            depth += 1
        if node[0] == "other":
            return self._resolve_conditional(site, site.expr)
        if node[0] == "member":
            return self._resolve_member(site, node, fn)
        if node[0] == "index" and node[1][0] == "member":  # set->variant->adt[adt](...)
            return self._resolve_member(site, node[1], fn)
        if node[0] == "index" and node[1][0] == "id":
            g = self.idx.global_(node[1][1], site.file)
            table = records.function_id(g.name, g.file, g.static) if g else ""
            targets = tuple(self.fnarray(table))
            cause = "" if targets else "no-binding"
            return replace(site, rtype=g.type if g else "", confidence=_conf(targets),
                            cause=cause, targets=targets)
        if node[0] == "id":
            name = node[1]
            param = fn is not None and any(p.name == name for p in fn.params)
            if fn is not None and not param and any(v.name == name for v in fn.locals):
                return self._resolve_local(site, name, fn, depth)
            fid = self.idx.function(name, site.file) if depth and not param else None
            if fid is not None:  # a local's value that names a function
                return replace(site, confidence="typed", targets=(
                    Binding("", "", fid, "value", site.file, site.line),))
            return self._resolve_param(site, name, fn)
        raise Unresolved("complex-expression")

    def _resolve_local(self, site: Site, name: str, fn: Function, depth: int) -> Site:
        """A function-pointer local: what the values it is given resolve to
        (``rx_handler = rcu_dereference(skb->dev->rx_handler); rx_handler(&skb)``),
        each binding noting the local's assignment as ``via``."""
        values = self._local_values().get((fn.id, name), ())
        found: list[Site] = []
        cause = "function-pointer-var"
        for asg in values if depth < 4 else ():
            try:
                sub = self._resolve_node(site, self._parse(asg.value), fn,
                                         depth + 1)
            except Unresolved as e:
                cause = e.cause
                continue
            local = f"{name} = {asg.value} at {asg.file}:{asg.line}"
            found.append(replace(sub, targets=tuple(
                replace(b, local=b.local or local) for b in sub.targets)))
        hits = [f for f in found if f.targets]
        if not hits:
            if found:
                return found[0]
            raise Unresolved(cause)
        targets = tuple(b for f in hits for b in f.targets)
        return replace(hits[0], confidence=_conf(targets), cause="", targets=targets)

    def _local_values(self) -> dict[tuple[str, str], list[records.Assignment]]:
        """(function id, local) -> the assignments that give the local a value."""
        found = getattr(self, "_locals", None)
        if found is None:
            found = defaultdict(list)
            for asg in self.idx.assignments:
                if not asg.receiver and not asg.field and asg.param < 0:
                    found[(asg.function, asg.target)].append(asg)
            self._locals = found
        return found

    def _resolve_param(self, site: Site, name: str, fn: Function | None) -> Site:
        """A parameter holding a function pointer: the functions that direct
        callers pass in that position (``actor`` in ``iterate(..., actor)``)."""
        pos = next((i for i, p in enumerate(fn.params) if p.name == name), None) if fn else None
        if pos is None:
            raise Unresolved("function-pointer-var")
        targets = {}
        for fid, call in self._passed_functions(fn.id, pos):
            if fid not in targets:
                targets[fid] = Binding("", name, fid, "argument", call.file, call.line,
                                       function=call.caller)
        if not targets:
            raise Unresolved("function-pointer-param")
        return replace(site, rtype=fn.params[pos].type, field=name, confidence="typed",
                        targets=tuple(targets.values()))

    def _direct_callers(self, fid: str) -> list[records.Call]:
        """The direct calls of ``fid``, in order (records made on first use)."""
        rows = getattr(self, "_callers", None)
        if rows is None:
            rows = defaultdict(list)
            for row, callee in self.idx.direct_calls():
                if callee is not None:
                    rows[callee].append(row)
            self._callers, self._caller_records = rows, {}
        found = self._caller_records.get(fid)
        if found is None:
            found = self._caller_records[fid] = [self.idx.call(r) for r in rows.get(fid, ())]
        return found

    def _resolve_conditional(self, site: Site, text: str) -> Site:
        """``(nosec ? sock_recvmsg_nosec : sock_recvmsg)(...)``: both functions."""
        m = _CONDITIONAL.fullmatch(text)
        ids = [self.idx.function(name, site.file) for name in m.groups()] if m else [None]
        if None in ids:
            raise Unresolved("complex-expression")
        targets = tuple(Binding("", "", fid, "conditional", site.file, site.line)
                        for fid in dict.fromkeys(ids))
        return replace(site, confidence="typed", targets=targets)

    def _resolve_member(self, site: Site, node, fn: Function | None) -> Site:
        base = self._infer(node[1], fn)
        sname = base.struct or self.idx.struct_of(base.ctype)
        if not sname:
            raise Unresolved("void-pointer" if re.search(r"\bvoid\b", base.ctype)
                             else "not-struct")
        path = f"{base.prefix}.{node[2]}" if base.prefix else node[2]
        owner, member = self.locate(sname, path, site.file)
        targets = tuple(self.bindings().get((owner, member), ()))
        return replace(site, rtype=base.ctype, struct=owner, field=member,
                        confidence=_conf(targets), cause="" if targets else "no-binding",
                        targets=targets)

    # --- registrations and narrowing ----------------------------------------

    def registration_chains(self, table: str, depth: int = 0,
                            prefix: str = "") -> list[tuple[dict, ...]]:
        """How ``table`` reaches a registrar: tuples of steps ending with a
        ``registered`` step (``sockfs_ops`` passed by ``mount_pseudo`` in
        ``sockfs_mount``, bound to ``sock_fs_type.mount``, registered by
        ``register_filesystem``; ``tcp_prot`` listed in ``inetsw_array[0]``,
        registered by ``inet_register_protosw`` with ``[0].type``)."""
        if depth == 0 and table in self._chains:
            return self._chains[table]
        out: list[tuple[dict, ...]] = []
        known = registrars_table()
        for reg in self._registrations().get(table, []):
            step = {"step": "registered" if reg.registrar in known else "passed",
                    "registrar": reg.registrar, "caller": reg.caller,
                    "file": reg.file, "line": reg.line}
            if reg.registrar in known:
                out.append((self._with_key(step, table, known[reg.registrar], prefix),))
            elif depth < 3:
                out.extend((step, *rest) for rest in self._bound_chains(reg.caller, depth))
        for other, entry in self._referrers().get(table, ()) if depth < 3 else ():
            m = re.match(r"\s*((?:\[[^\]]*\])+)", entry.path)
            step = {"step": "listed", "table": other, "entry": entry.path,
                    "file": self._tables()[other].file, "line": entry.line}
            rests = self.registration_chains(other, depth + 1, m.group(1) + "." if m else "")
            out.extend((step, *rest) for rest in rests)
        if depth == 0:
            self._chains[table] = out
        return out

    def _referrers(self) -> dict[str, list[tuple[str, records.InitEntry]]]:
        """table -> the tables whose entries point at it (``.prot = &tcp_prot``)."""
        refs = getattr(self, "_refs", None)
        if refs is None:
            refs = defaultdict(list)
            for tid, ini in self._tables().items():
                for entry in ini.entries:
                    target = self._table_id(entry.ref, ini.file) if entry.ref else ""
                    if target and target != tid:
                        refs[target].append((tid, entry))
            self._refs = refs
        return refs

    def _bound_chains(self, function: str, depth: int) -> list[tuple[dict, ...]]:
        out = []
        for b in self._by_target().get(function, ()):
            if b.table:
                step = {"step": "bound", "table": b.table, "field": b.field,
                        "file": b.file, "line": b.line}
                out.extend((step, *rest) for rest in self.registration_chains(b.table, depth + 1))
        return out

    def _with_key(self, step: dict, table: str, spec: dict, prefix: str = "") -> dict:
        key = spec.get("key", "")
        ini = self._tables().get(table)
        if not key or ini is None:
            return step
        self.idx.const_values()
        for entry in ini.entries:
            path = entry.path.strip().lstrip(".")
            if (path == prefix + key) if prefix else (strip_indexes(path) == key):
                value = _eval_int(entry.value, self.idx)
                shown = value if value is not None else entry.value.strip().strip('"')
                return {**step, "key_field": key, "key_expr": entry.value,
                        "key_value": shown, "key_file": ini.file, "key_line": entry.line}
        return step

    def key_value(self, key: str | int):
        """The value of a narrowing key: a constant's value, an int, the
        string itself (a file system name), or ``(field, value)`` for
        ``FIELD=VALUE``; see :func:`analyzer.query.key_value`."""
        return query_key_value(key, self.idx.const_value)

    def narrow(self, targets: Iterable[Binding], key: str | int) -> list[tuple[Binding, tuple]]:
        """The targets whose table is registered under ``key``, each with the
        registration chain that proves it."""
        want = self.key_value(key)
        out = []
        for b in targets:
            chain = chain_matches(self.registration_chains(b.table), want) if b.table else None
            if chain:
                out.append((b, chain))
        return out

    def _registrations(self) -> dict[str, list[records.Registration]]:
        regs = getattr(self, "_regs", None)
        if regs is None:
            regs = defaultdict(list)
            seen = set()
            for reg in [*self.idx.registrations, *self._call_registrations()]:
                tid = self._table_id(reg.table, reg.file)
                if tid and (tid, reg.registrar, reg.file, reg.line) not in seen:
                    seen.add((tid, reg.registrar, reg.file, reg.line))
                    regs[tid].append(reg)
            self._regs = regs
        return regs

    def _call_registrations(self) -> Iterable[records.Registration]:
        """Direct calls passing ``&table``: registrations by another name."""
        for row in self.idx.direct:
            if "&" not in row[row_fields.args] or not _ADDRESS_ARG.search(row[row_fields.args]):
                continue
            call = self.idx.call(row)
            for arg in call.args:
                m = _ADDRESS.fullmatch(arg) if "&" in arg else None
                if m and self._table_id(m.group(1), call.file):
                    yield records.Registration(call.caller, call.callee, m.group(1),
                                               call.file, call.line, call.args)

    def _tables(self) -> dict[str, records.Initializer]:
        tabs = getattr(self, "_tabs", None)
        if tabs is None:
            tabs = {records.function_id(i.name, i.file, i.static): i
                    for i in self.idx.initializers}
            self._tabs = tabs
        return tabs

    def _table_id(self, name: str, file: str) -> str:
        tabs = self._tables()
        for tid in (f"{name}@{file}", name):
            if tid in tabs:
                return tid
        return ""

    def _by_target(self) -> dict[str, list[Binding]]:
        bt = getattr(self, "_bt", None)
        if bt is None:
            bt = defaultdict(list)
            for blist in self.bindings().values():
                for b in blist:
                    bt[b.target].append(b)
            self._bt = bt
        return bt

    def sites(self) -> list[Site]:
        """Every indirect call site of the index, resolved."""
        return [self.resolve_call(c) for c in self.idx.calls]


def type_text(arg: str) -> str:
    """A type written as a macro argument; the parse stage writes
    ``struct socket_alloc`` there as ``struct_socket_alloc`` (same length).

    >>> type_text("struct_socket_alloc")
    'struct socket_alloc'
    """
    return re.sub(r"^\s*(struct|union)[_\s]+", r"\1 ", arg).strip()


def _prefixes(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _var_type(ctype: str) -> TypeRef:
    m = re.search(r"((?:\[[^\]]*\])+)\s*$", ctype)
    if m:
        return TypeRef(ctype[:m.start()].strip(), m.group(1).count("["))
    return TypeRef(ctype)


def _element(t: TypeRef) -> TypeRef:
    if t.array:
        return TypeRef(t.ctype, t.array - 1, t.struct, t.prefix)
    if "*" in t.ctype:
        i = t.ctype.rindex("*")
        return TypeRef(normalize_type(t.ctype[:i] + t.ctype[i + 1:]))
    raise Unresolved("not-pointer")


def _conf(targets) -> str:
    return "typed" if targets else "unresolved"


def site_stats(sites: Iterable[tuple[str, str, int]]) -> dict:
    """Figures over ``(confidence, cause, n_targets)`` triples."""
    rows = list(sites)
    counts = [n for conf, _, n in rows if conf == "typed" and n > 0]
    causes: dict[str, int] = defaultdict(int)
    for conf, cause, n in rows:
        if not (conf == "typed" and n > 0):
            causes[cause or "unknown"] += 1
    total = len(rows)
    return {
        "indirect_sites": total,
        "resolved_sites": len(counts),
        "resolved_share": round(len(counts) / total, 4) if total else 0.0,
        "mean_targets": round(statistics.fmean(counts), 2) if counts else 0.0,
        "median_targets": statistics.median(counts) if counts else 0,
        "unresolved_by_cause": dict(sorted(causes.items(), key=lambda kv: -kv[1])),
    }


def stats(cfg) -> dict:
    """Resolution figures from ``build/graph.sqlite`` (for
    ``python -m analyzer stats``): indirect call sites, the share resolved to
    a non-empty typed set, mean and median targets per resolved site, and the
    unresolved sites grouped by cause."""
    from analyzer.query import REBUILD_GRAPH, GraphDB

    db = GraphDB.open(cfg.graph_path)
    try:
        rows = db.conn.execute("SELECT confidence, cause, ntargets FROM sites").fetchall()
    except sqlite3.DatabaseError as e:
        raise AnalyzerError(f"{cfg.graph_path} is damaged ({e}): {REBUILD_GRAPH}") from None
    finally:
        db.conn.close()
    return site_stats(rows)
