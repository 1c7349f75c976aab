"""Extract plain facts from one C file: functions, calls, structs, globals,
initializers, assignments, registrations, constants, macros, initcalls.

Takes a file's path relative to the kernel tree and its bytes, gives a
:class:`~analyzer.records.FileFacts`.  One pass of the ``facts`` query
(``queries/facts.scm``) finds every node of interest at C speed; Python then
reads only those nodes (and their few children), attributing nested ones to
their function by byte range.  Bad input never raises: it becomes a warning.

``SYSCALL_DEFINEn(socket, ...)`` (rewritten by :mod:`analyzer.parse` to
``long SyS_socket(...)``) gives a ``Function`` named ``SyS_socket`` with
``macro="SYSCALL_DEFINE3"``, plus one alias record per prefix listed under
``aliases`` in ``kernel/macros.toml`` (``sys_socket``): same location, same
signature, ``alias_of="SyS_socket"``.  Calls are attributed to the main
record only.  ``#define``s (:class:`~analyzer.records.Macro`) and initcalls
(:class:`~analyzer.records.Initcall`) come from :mod:`analyzer.directives`,
which reads the raw text.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, replace
from functools import lru_cache
from operator import attrgetter

from tree_sitter import Node

from analyzer import directives, parse
from analyzer.constants import literal_value
from analyzer.records import (
    Alias,
    Assignment,
    Call,
    Constant,
    Field,
    FileFacts,
    Function,
    Global,
    InitEntry,
    Initializer,
    Registration,
    Struct,
    Typedef,
    Var,
    function_id,
    normalize_type,
)
from analyzer.records import maker as _maker

__all__ = ["extract_file", "MAX_BYTES", "declarator_info", "DeclInfo"]

#: files larger than this are not parsed (a warning says so)
MAX_BYTES = 8 * 1024 * 1024

_ALIAS = re.compile(r"^\w+(?:\.\w+|->\w+)+$")
_CONST_EXPR = re.compile(r"^[\w\s()+\-*/%<>&|^~!?:]+$")
_COMMENT = re.compile(r"/\*.*?\*/|//.*$", re.S)
_ADDR = re.compile(r"^&\s*(\w+)$")
_IDENT = re.compile(r"^[A-Za-z_]\w*$")
_UPPER = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_IF = re.compile(rb"#[ \t]*if")
_ENDIF = re.compile(rb"#[ \t]*endif")
#: comments and string/char literals, where a ``#if`` is no directive
_NOISE = re.compile(rb"/\*.*?\*/|//[^\n]*|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'", re.S)
_DEFINED = re.compile(r"defined\s*\(\s*(\w+)\s*\)|defined\s+(\w+)")


def _text(src: bytes, node: Node) -> str:
    return src[node.start_byte:node.end_byte].decode("utf-8", "replace")


def _flat(src: bytes, node: Node) -> str:
    """Node text on one line, with single spaces."""
    return _squeeze(src[node.start_byte:node.end_byte].decode("utf-8", "replace"))


def _squeeze(text: str) -> str:
    """Single spaces, no newlines (node text has no outer blanks)."""
    if "\n" in text or "  " in text or "\t" in text:
        return " ".join(text.split())
    return text


#: fast constructors of the records made by the hundred thousand
_CALL, _VAR, _FIELD, _ENTRY, _CONSTANT = (
    _maker(c) for c in (Call, Var, Field, InitEntry, Constant))


@lru_cache(maxsize=65536)
def _norm(text: str) -> str:
    """:func:`records.normalize_type`, cached (types repeat a lot)."""
    return normalize_type(text)


# ---------------------------------------------------------------- declarators

@dataclass(frozen=True)
class DeclInfo:
    """What a declarator says: the declared name, its full type, the array
    dimension as written ("" if none, "[]" if open), and whether it declares a
    function (a prototype, not a variable)."""

    name: str
    type: str
    array: str = ""
    function: bool = False
    value: Node | None = None


def _base_type(src: bytes, node: Node) -> tuple[str, frozenset[str], Node | None]:
    """(base type text, storage words, the struct/union/enum with a body if
    the type defines one) of a declaration-like node."""
    tnode = node.child_by_field_name("type")
    if tnode is None:
        return "", frozenset(), None
    storage, start = [], None
    tstart = tnode.start_byte
    if tstart == node.start_byte:  # nothing before the type: the common case
        if tnode.type in _TAGGED and tnode.child_by_field_name("body") is not None:
            return _tagged(src, tnode, False), _NO_STORAGE, tnode
        return _type_text(src, tstart, tnode.end_byte), _NO_STORAGE, None
    for i in range(node.child_count):
        child = node.child(i)
        if child.start_byte >= tnode.start_byte:
            break
        t = child.type
        if t == "storage_class_specifier":
            storage.append(_text(src, child))
        elif t == "type_qualifier" and start is None:
            start = child.start_byte
    if tnode.type in _TAGGED and tnode.child_by_field_name("body") is not None:
        const = start is not None and b"const" in src[start:tstart]
        return _tagged(src, tnode, const), frozenset(storage), tnode
    begin = start if start is not None else tstart
    return _type_text(src, begin, tnode.end_byte), frozenset(storage), None


_TAGGED = frozenset({"struct_specifier", "union_specifier", "enum_specifier"})
_NO_STORAGE: frozenset[str] = frozenset()


def _tagged(src: bytes, tnode: Node, const: bool) -> str:
    """``struct name`` for a struct/union/enum defined in place (``struct``
    alone when anonymous)."""
    name = tnode.child_by_field_name("name")
    kind = tnode.type.split("_")[0]
    base = f"{kind} {_text(src, name)}" if name is not None else kind
    return "const " + base if const else base


def _type_text(src: bytes, start: int, end: int) -> str:
    return _squeeze(src[start:end].decode("utf-8", "replace"))


def declarator_info(src: bytes, base: str, node: Node) -> DeclInfo | None:
    """Read a declarator chain (pointers, arrays, function pointers,
    initializers) on top of ``base``; None if it names nothing."""
    outer = inner = ""
    dims: list[str] = []
    params = None
    value = None
    while node is not None:
        t = node.type
        if t in ("identifier", "field_identifier", "type_identifier"):
            break
        if t == "init_declarator":
            value = node.child_by_field_name("value")
        elif t == "pointer_declarator":
            star = "*"
            if node.child_count > 2:  # "*", qualifiers, the declarator
                star += "".join(" " + _text(src, q) for q in node.children
                                if q.type == "type_qualifier")
            if params is None:
                outer += star
            else:
                inner += star
        elif t == "array_declarator":
            size = node.child_by_field_name("size")
            dims.append(f"[{_flat(src, size)}]" if size is not None else "[]")
        elif t == "function_declarator":
            if params is not None:
                return None  # a function returning a function pointer: not modelled
            p = node.child_by_field_name("parameters")
            params = _flat(src, p) if p is not None else "()"
        elif t not in ("parenthesized_declarator", "attributed_declarator"):
            return None
        node = node.child_by_field_name("declarator") if t != "parenthesized_declarator" \
            and t != "attributed_declarator" else node.named_child(0)
    if node is None:
        return None
    name = _text(src, node)
    if params is None:
        array = "".join(reversed(dims))
        return DeclInfo(name, _norm(f"{base} {outer}"), array, False, value)
    if not inner:
        return DeclInfo(name, _norm(f"{base} {outer}"), "", True, value)
    ctype = _norm(f"{base} {outer}") + f" ({inner.strip()}){params}"
    return DeclInfo(name, ctype, "".join(reversed(dims)), False, value)


def _full_type(info: DeclInfo) -> str:
    """The type with its array dimensions: ``char [16]``."""
    return f"{info.type} {info.array}" if info.array else info.type


def _declarators(node: Node) -> list[Node]:
    return node.children_by_field_name("declarator")


def _vars(src: bytes, node: Node) -> list[DeclInfo]:
    """Every variable a declaration declares (prototypes left out)."""
    base, _, _ = _base_type(src, node)
    out = []
    for d in _declarators(node):
        info = declarator_info(src, base, d)
        if info is not None and not info.function:
            out.append(info)
    return out


# ---------------------------------------------------------------- functions

class _Scope:
    """A function being extracted: its record's fields (without locals), the node,
    the names bound in it, which of them are pointers, and the pointer
    locals last assigned from a file-scope name (local -> that name)."""

    __slots__ = ("node", "record", "id", "names", "locals", "pointers", "bound", "fnvals",
                 "called")

    def __init__(self, node: Node, record: dict):
        self.node, self.record = node, record
        self.id = function_id(record["name"], record["file"], record["static"])
        params = record["params"]
        self.names = {p.name for p in params}
        self.pointers = {p.name for p in params if "*" in p.type}
        self.locals: list[Var] = []
        self.bound: dict[str, str] = {}
        #: function-pointer locals -> (line, expression) of each value given them
        self.fnvals: dict[str, list[tuple[int, str]]] = {}
        self.called: set[str] = set()  # the params and locals called as functions


def _params(src: bytes, plist: Node | None) -> tuple[Var, ...]:
    if plist is None:
        return ()
    key = src[plist.start_byte:plist.end_byte]
    found = _PARAM_MEMO.get(key)
    if found is None:
        found = _memo(_PARAM_MEMO, key, _param_list(src, plist))
    line = plist.start_point.row + 1
    return tuple([_VAR(name, ctype, line + offset) for name, ctype, offset in found])


def _param_list(src: bytes, plist: Node) -> tuple[tuple[str, str, int], ...]:
    """(name, type, line offset) of each parameter of a parameter list."""
    out = []
    first = plist.start_point.row
    for p in plist.named_children:
        if p.type == "parameter_declaration":
            key = src[p.start_byte:p.end_byte]
            found = _ONE_PARAM_MEMO.get(key, ())
            if found == ():
                found = _memo(_ONE_PARAM_MEMO, key, _param(src, p))
            if found is not None:
                out.append((found[0], found[1], p.start_point.row - first))
    return tuple(out)


#: declaration text -> what it declares: the same text always reads the same
_PARAM_MEMO: dict[bytes, tuple[tuple[str, str, int], ...]] = {}
_ONE_PARAM_MEMO: dict[bytes, tuple[str, str] | None] = {}
_LOCAL_MEMO: dict[bytes, tuple[tuple[str, str, bool, str, str | None], ...]] = {}
_FIELD_MEMO: dict[bytes, tuple[tuple[str, str, str], ...]] = {}
_MEMO_CAP = 200_000


def _memo(table: dict, key: bytes, value):
    if len(table) >= _MEMO_CAP:
        table.clear()
    table[key] = value
    return value


def _param(src: bytes, p: Node) -> tuple[str, str] | None:
    """(name, type) of one parameter declaration; None for ``void``."""
    base, _, _ = _base_type(src, p)
    d = p.child_by_field_name("declarator")
    if d is None:
        return ("", _norm(base)) if base and base != "void" else None
    info = declarator_info(src, base, d)
    return (info.name, _full_type(info)) if info is not None else None


def _function(relpath: str, src: bytes, node: Node, macro: str) -> dict | None:
    """The fields of the Function record a definition gives (all but
    ``locals``, which the declarations add), or None."""
    base, storage, _ = _base_type(src, node)
    d = node.child_by_field_name("declarator")
    stars = ""
    while d is not None and d.type in ("pointer_declarator", "attributed_declarator"):
        if d.type == "pointer_declarator":
            stars += "*"
            d = d.child_by_field_name("declarator")
        else:
            d = d.named_child(0)
    if d is None or d.type != "function_declarator":
        return None
    name_node = d.child_by_field_name("declarator")
    if name_node is None or name_node.type != "identifier":
        return None
    body = node.child_by_field_name("body")
    head_end = body.start_byte if body is not None else node.end_byte
    name = _text(src, name_node)
    static = "static" in storage
    return dict(
        name=name, file=relpath, line=node.start_point.row + 1,
        end_line=node.end_point.row + 1, return_type=_norm(f"{base} {stars}"),
        params=_params(src, d.child_by_field_name("parameters")),
        static=static, inline=bool(storage & {"inline", "__inline", "__inline__"}),
        header=relpath.endswith(".h"),
        signature=_squeeze(src[node.start_byte:head_end].decode("utf-8", "replace").strip()),
        macro=macro)


def _functions(relpath: str, src: bytes, nodes: list[Node], rewrites) -> list[_Scope]:
    definers = [r for r in rewrites if r.kind == "definer"]
    starts = [r.start for r in definers]
    out = []
    for node in nodes:
        macro = ""
        if definers:
            i = bisect_left(starts, node.start_byte)
            if i < len(definers) and definers[i].start < _head_end(node):
                macro = definers[i].name
        fn = _function(relpath, src, node, macro)
        if fn is not None:
            out.append(_Scope(node, fn))
    return out


def _head_end(node: Node) -> int:
    body = node.child_by_field_name("body")
    return body.start_byte if body is not None else node.end_byte


def _aliases(fn: Function) -> list[Function]:
    """The alias records of a macro-defined function (``sys_socket``)."""
    out = []
    for spec in parse.macro_table().get("definers", []):
        if not fn.macro or not re.fullmatch(spec["pattern"], fn.macro):
            continue
        prefix = spec["prefix"]
        if fn.name.startswith(prefix):
            stem = fn.name[len(prefix):]
            out += [replace(fn, name=a + stem, alias_of=fn.name) for a in spec.get("aliases", [])]
    return out


# ---------------------------------------------------------------- attribution

class _Index:
    """Find the function that encloses a node.  ``find`` works for any node;
    ``walk`` is faster for nodes visited in source order."""

    def __init__(self, scopes: list[_Scope]):
        self.scopes = scopes
        self.starts = [s.node.start_byte for s in scopes]
        self.ends = [s.node.end_byte for s in scopes]

    def find(self, node: Node) -> _Scope | None:
        i = bisect_right(self.starts, node.start_byte) - 1
        if i >= 0 and node.end_byte <= self.ends[i]:
            return self.scopes[i]
        return None

    def walk(self, nodes: list[Node], outside: bool = False):
        """(node, enclosing scope) for nodes sorted by start byte; nodes
        outside every function are left out, or given with None."""
        scopes, starts, ends = self.scopes, self.starts, self.ends
        i, n = 0, len(scopes)
        for node in nodes:
            start = node.start_byte
            while i < n and ends[i] <= start:
                i += 1
            if i < n and starts[i] <= start:
                yield node, scopes[i]
            elif outside:
                yield node, None


# ---------------------------------------------------------------- calls

def _unparen(node: Node) -> Node:
    while node.type == "parenthesized_expression" and node.named_child_count == 1:
        node = node.named_child(0)
    return node


def _callee(src: bytes, fnode: Node, scope: _Scope) -> tuple[str, str, str, str]:
    """(kind, callee, receiver, field) of a call's function expression."""
    node = _unparen(fnode)
    t = node.type
    if t == "identifier":
        name = _text(src, node)
        if name in scope.names:
            return "var", "", "", ""
        return "direct", name, "", ""
    if t == "field_expression":
        arg = node.child_by_field_name("argument")
        fld = node.child_by_field_name("field")
        return "field", "", _flat(src, arg) if arg else "", _text(src, fld) if fld else ""
    if t == "subscript_expression":
        return "index", "", "", ""
    return "deref", "", "", ""


_NESTING = re.compile(rb"[(\[{\"'/]")


def _args(src: bytes, node: Node, inner: bytes) -> tuple[str, ...]:
    """The arguments of a call as flat text; ``inner`` is the text between
    the parentheses of the argument list ``node``."""
    if _NESTING.search(inner) is None:  # flat: split at the commas, no nodes
        text = inner.decode("utf-8", "replace")
        if not text or text.isspace():
            return ()
        if "\n" in text or "\t" in text or "  " in text:
            return tuple([" ".join(a.split()) for a in text.split(",")])
        return tuple([a.strip() for a in text.split(",")])
    return tuple([_squeeze(src[a.start_byte:a.end_byte].decode("utf-8", "replace"))
                  for a in node.named_children if a.type != "comment"])


def _calls(relpath: str, src: bytes, nodes: list[Node], index: _Index,
           macro_names: frozenset[str], assigners: frozenset[str]):
    """Call records, registrations, and the assignments made by assigner
    macros (``rcu_assign_pointer(p->f, fn)``) of the calls inside functions."""
    calls, regs, assigns = [], [], []
    stack: list[tuple[int, bool]] = []  # enclosing calls: (end byte, is a macro)
    depth = 0  # how many of them are macros
    for node, scope in index.walk(nodes):  # calls at file scope are left out
        start = node.start_byte
        while stack and stack[-1][0] <= start:
            depth -= stack.pop()[1]
        fnode = node.child(0)
        if fnode is None:
            continue
        if fnode.type == "identifier":
            callee = src[fnode.start_byte:fnode.end_byte].decode("utf-8", "replace")
            kind, receiver, fld = "direct", "", ""
            if callee in scope.names:
                scope.called.add(callee)
                kind, callee = "var", ""
        else:
            kind, callee, receiver, fld = _callee(src, fnode, scope)
        macro = kind == "direct" and (callee.isupper() or callee in macro_names)
        stack.append((node.end_byte, macro))
        in_macro = depth > 0
        depth += macro
        anode = node.child(1)
        if anode is None or anode.type != "argument_list":
            anode = node.child_by_field_name("arguments")
        if anode is None:
            args, amp = (), False
        else:
            inner = src[anode.start_byte + 1:anode.end_byte - 1]
            args = _args(src, anode, inner)
            amp = b"&" in inner
        line = node.start_point.row + 1
        expr = callee or _flat(src, fnode)
        calls.append(_CALL(scope.id, relpath, line, kind, callee, expr,
                          receiver, fld, args, in_macro))
        if amp or scope.bound:
            regs += _registrations(scope, expr, args, relpath, line)
        if callee in assigners and len(args) == 2:
            asg = _macro_assignment(scope, relpath, line, args)
            if asg is not None:
                assigns.append(asg)
    return calls, regs, assigns


_MEMBER = re.compile(r"^(.+?)\s*(?:->|\.)\s*(\w+)$")


def _macro_assignment(scope: _Scope, relpath: str, line: int,
                      args: tuple[str, ...]) -> Assignment | None:
    """``rcu_assign_pointer(x->f, fn)`` as ``x->f = fn`` (a member target, a
    function name or a function-pointer parameter as value), or None."""
    m = _MEMBER.match(args[0])
    value = args[1][1:].strip() if args[1].startswith("&") else args[1]
    param = _value_param(scope, value) if m is not None and _IDENT.match(value) else None
    if param is None:
        return None
    return Assignment(scope.id, relpath, line, args[0], m.group(1), m.group(2), value, param)


def _registrations(scope: _Scope, registrar: str, args: tuple[str, ...],
                   relpath: str, line: int) -> list[Registration]:
    out = []
    for a in args:
        m = _ADDR.match(a)
        table = m.group(1) if m and m.group(1) not in scope.names else scope.bound.get(a, "")
        if table:
            out.append(Registration(scope.id, registrar, table, relpath, line, args))
    return out


# ---------------------------------------------------------------- assignments

def _assignments(relpath: str, src: bytes, field_nodes: list[Node], var_nodes: list[Node],
                 index: _Index) -> list[Assignment]:
    for node in var_nodes:
        scope = index.find(node)
        if scope is None:
            continue
        rnode = node.child_by_field_name("right")
        if rnode.type != "identifier" and not scope.fnvals:  # most: nothing to note
            continue
        if _op(node) != "=":
            continue
        left = _text(src, node.child_by_field_name("left"))
        if left in scope.fnvals:
            scope.fnvals[left].append((node.start_point.row + 1, _flat(src, rnode)))
        if rnode.type != "identifier":
            continue
        right = _text(src, rnode)
        if left in scope.pointers and right not in scope.names and not _UPPER.match(right):
            scope.bound[left] = right
    out = []
    for node in field_nodes:
        scope = index.find(node)
        if scope is None or _op(node) != "=":
            continue
        target = None  # (text, receiver, field), read once
        for right in _alternatives(node.child_by_field_name("right")):
            if right.type == "field_expression":  # a copy: x->f takes what cfg->g holds
                value, param = _flat(src, right), -1
            else:
                if right.type == "pointer_expression":
                    if _text(src, right.child_by_field_name("operator")) != "&":
                        continue
                    right = right.child_by_field_name("argument")
                if right.type != "identifier":
                    continue
                value = _text(src, right)
                param = _value_param(scope, value)
                if param is None:
                    continue
            target = target or _member_parts(src, node.child_by_field_name("left"))
            out.append(Assignment(scope.id, relpath, node.start_point.row + 1, *target,
                                  value, param))
    return out


def _member_parts(src: bytes, left: Node) -> tuple[str, str, str]:
    """(text, receiver, field) of an assigned member expression."""
    arg, fld = left.child_by_field_name("argument"), left.child_by_field_name("field")
    return _flat(src, left), _flat(src, arg) if arg else "", _text(src, fld) if fld else ""


def _value_param(scope: _Scope, value: str) -> int | None:
    """How an identifier stored in a member binds: -1 for a function name, the
    parameter's position for a function-pointer parameter, None for anything
    else (a constant, another local or parameter)."""
    if _UPPER.match(value):
        return None
    if value not in scope.names:
        return -1
    param = _param_position(scope, value)
    return param if param >= 0 else None


def _alternatives(value: Node) -> list[Node]:
    """The values an assigned expression may have: both branches of ``c ? a : b``
    (``a ?: b`` gives ``a`` or ``b``), else the expression itself."""
    if value.type != "conditional_expression":
        return [value]
    first = value.child_by_field_name("consequence") or value.child_by_field_name("condition")
    second = value.child_by_field_name("alternative")
    return [_unparen(n) for n in (first, second) if n is not None]


def _param_position(scope: _Scope, name: str) -> int:
    """The position of parameter ``name`` if it may be a function pointer and
    no local shadows it (``op->show = show;`` in ``single_open``), else -1.
    A pointer to a typedef'd type may be one (``rx_handler_func_t *``):
    resolution keeps only the functions that callers really pass."""
    if any(v.name == name for v in scope.locals):
        return -1
    for i, p in enumerate(scope.record["params"]):
        if p.name == name:
            return i if _maybe_function(p.type) else -1
    return -1


#: ``T`` or ``T *`` with T a typedef name: the shape of a function-pointer type
_TYPEDEF_NAME = re.compile(r"^(?:const )?(\w+)(?: \*)?$")
_BASE_WORDS = frozenset({"void", "char", "short", "int", "long", "unsigned", "signed",
                         "float", "double", "_Bool", "struct", "union", "enum"})


@lru_cache(maxsize=4096)
def _maybe_function(ctype: str) -> bool:
    """May a variable of type ``ctype`` hold a function: a function-pointer
    type written out (``int (*)(int)``) or a typedef name, bare or as a
    pointer (``fscache_operation_cancel_t``, ``rx_handler_func_t *``), that
    the ``[data_types]`` table of macros.toml does not list as data."""
    if "(" in ctype:
        return True
    m = _TYPEDEF_NAME.match(ctype)
    return bool(m) and m.group(1) not in _BASE_WORDS and not _data_types().match(m.group(1))


@lru_cache(maxsize=1)
def _data_types() -> re.Pattern:
    found = parse.macro_table().get("data_types", {}).get("patterns", [])
    return re.compile("|".join(f"(?:{p})" for p in found) or "(?!)")


def _op(node: Node) -> str:
    op = node.child_by_field_name("operator")
    return op.type if op is not None else ""


# ---------------------------------------------------------------- declarations

def _declarations(relpath: str, src: bytes, nodes: list[Node], index: _Index):
    """Locals into their scopes, with the functions their designated
    initializers bind (as assignments); file-scope globals and their
    initializers."""
    globals_, inits, assigns = [], [], []
    for node, scope in index.walk(nodes, outside=True):
        if scope is not None:
            if _add_locals(src, node, scope):
                assigns += _local_bindings(relpath, src, node, scope)
            continue
        decls = [d for d in _declarators(node) if not _prototype(d)]
        if not decls:
            continue
        base, storage, _ = _base_type(src, node)
        for d in decls:
            info = declarator_info(src, base, d)
            if info is None or info.function:
                continue
            line = d.start_point.row + 1
            static = "static" in storage
            globals_.append(Global(info.name, info.type, relpath, line, static,
                                   "extern" in storage, info.array))
            if info.value is not None and info.value.type == "initializer_list" \
                    and not (info.array and _SCALAR.match(info.type)):
                entries: list[InitEntry] = []
                _init_entries(src, info.value, "", bool(info.array), entries)
                inits.append(Initializer(info.name, info.type, relpath, line,
                                         tuple(entries), static))
    return globals_, inits, assigns


def _local_bindings(relpath: str, src: bytes, node: Node, scope: _Scope) -> list[Assignment]:
    """``struct readdir_callback buf = { .ctx.actor = filldir };`` in a function
    binds ``filldir`` as ``buf.ctx.actor = filldir;`` would: one assignment per
    designated member whose value names a function (or its address).  Array
    elements and positional values are left out."""
    out = []
    base, _, _ = _base_type(src, node)
    for d in _declarators(node):
        info = declarator_info(src, base, d)
        if info is None or info.function or info.array or "*" in info.type \
                or info.value is None or info.value.type != "initializer_list":
            continue
        entries: list[InitEntry] = []
        _init_entries(src, info.value, "", False, entries)
        for e in entries:
            ref = e.ref
            if not ref or "[" in e.path or "#" in e.path or ref in scope.names \
                    or _UPPER.match(ref):
                continue
            target = f"{info.name}.{e.path}"
            receiver, _, fld = target.rpartition(".")
            out.append(Assignment(scope.id, relpath, e.line, target, receiver, fld, ref))
    return out


def _prototype(d: Node) -> bool:
    """Does this declarator declare a function (``f(int)``, ``*f(int)``)?"""
    t = d.type
    while t == "pointer_declarator":
        d = d.child_by_field_name("declarator")
        t = d.type if d is not None else ""
    if t != "function_declarator":
        return False
    name = d.child_by_field_name("declarator")
    return name is not None and name.type == "identifier"


def _add_locals(src: bytes, node: Node, scope: _Scope) -> bool:
    """Add the variables of a local declaration to ``scope``; True if it may
    hold a designated initializer (``{`` and ``.`` in its text)."""
    key = src[node.start_byte:node.end_byte]
    found = _LOCAL_MEMO.get(key)
    if found is None:
        found = _memo(_LOCAL_MEMO, key, _local_vars(src, node))
    line = node.start_point.row + 1
    for name, ctype, pointer, value, fninit in found:
        scope.locals.append(_VAR(name, ctype, line))
        scope.names.add(name)
        if pointer:
            scope.pointers.add(name)
        if value and value not in scope.names and "*" in ctype:
            scope.bound[name] = value
        if fninit is not None:
            scope.fnvals[name] = [(line, fninit)] if fninit else []
    return b"{" in key and b"." in key


def _local_vars(src: bytes, node: Node) -> tuple[tuple[str, str, bool, str, str | None], ...]:
    """(name, type, is a pointer or array, identifier it is initialized
    from, and for a possible function pointer the expression it is initialized
    with ("" if none), else None) of each variable a local declaration declares."""
    out = []
    for info in _vars(src, node):
        v = info.value
        value = _text(src, v) if v is not None and v.type == "identifier" else ""
        if _UPPER.match(value):
            value = ""
        ctype = _full_type(info)
        fninit = None
        if not info.array and _maybe_function(ctype):
            fninit = _flat(src, v) if v is not None and v.type != "initializer_list" else ""
        out.append((info.name, ctype, "*" in info.type or bool(info.array), value, fninit))
    return tuple(out)


def _local_values(relpath: str, scopes: list[_Scope]) -> list[Assignment]:
    """``fn = server->ops->alloc_seqid;`` (and initializers) of the
    function-pointer locals that their function calls: assignments with the
    local's name as target, no receiver or field, the expression as value."""
    out = []
    for scope in scopes:
        for name in sorted(scope.called.intersection(scope.fnvals)):
            for line, value in scope.fnvals[name]:
                if value and not _UPPER.match(value):
                    out.append(Assignment(scope.id, relpath, line, name, "", "", value))
    return out


def _join(prefix: str, part: str) -> str:
    if not prefix:
        return part
    return prefix + part if part.startswith("[") else f"{prefix}.{part}"


def _designator_path(src: bytes, pair: Node) -> str:
    path = ""
    for d in pair.children_by_field_name("designator"):
        if d.type == "subscript_designator":
            path += f"[{_flat(src, d)[1:-1].strip()}]"
        else:
            path = _join(path, _text(src, d).lstrip(".").strip())
    return path


def _init_entries(src: bytes, ilist: Node, prefix: str, array: bool,
                  out: list[InitEntry], pos: int = 0) -> int:
    """Flatten an initializer list into entries; returns the next position."""
    for child in ilist.named_children:
        t = child.type
        if t == "comment":
            continue
        if t.startswith("preproc_") or t == "ERROR":
            pos = _init_entries(src, child, prefix, array, out, pos)
            continue
        if t == "initializer_pair":
            path = _join(prefix, _designator_path(src, child))
            value = child.child_by_field_name("value")
        else:
            path = _join(prefix, f"[{pos}]" if array else f"#{pos}")
            value = child
        if value is None:
            continue
        if value.type == "initializer_list":
            _init_entries(src, value, path, False, out)
        else:
            out.append(_entry(src, path, value))
        pos += 1
    return pos


#: arrays of these are data tables, not ops tables: their entries are not kept
_SCALAR = re.compile(r"^(?:const )?(?:(?:unsigned|signed|short|long|char|int|_?_?[us]"
                     r"(?:8|16|32|64)|__(?:be|le)(?:16|32|64)|u_int\d+_t|u?int\d+_t|bool)\b ?)+$")


def _entry(src: bytes, path: str, value: Node) -> InitEntry:
    text = src[value.start_byte:value.end_byte].decode("utf-8", "replace")
    t = value.type
    line = value.start_point.row + 1
    if t == "identifier":
        return _ENTRY(path, text, line, text, False)
    if t in _LITERALS:
        return _ENTRY(path, _squeeze(text), line, "", False)
    text = _squeeze(text)
    node = _uncast(_unparen(value))  # [OP_ACCESS] = (nfsd4_dec)nfsd4_decode_access
    address = False
    if node.type == "pointer_expression" and _text(src, node).startswith("&"):
        node, address = _uncast(_unparen(node.child_by_field_name("argument"))), True
    ref = _text(src, node) if node.type == "identifier" else ""
    return _ENTRY(path, text, line, ref, address)


def _uncast(node: Node) -> Node:
    """The operand under casts: ``(nfsd4_dec)f`` -> ``f``."""
    while node.type == "cast_expression":
        inner = node.child_by_field_name("value")
        if inner is None:
            break
        node = _unparen(inner)
    return node


_LITERALS = frozenset({"number_literal", "string_literal", "char_literal", "true", "false",
                       "null", "concatenated_string"})


# ---------------------------------------------------------------- structs

def _guard_of(src: bytes, node: Node) -> str:
    """The condition a preprocessor ``#if``/``#ifdef``/``#elif`` node tests."""
    if node.type in ("preproc_ifdef", "preproc_elifdef"):
        name = node.child_by_field_name("name")
        neg = _text(src, node.child(0)).replace(" ", "").endswith("ndef")
        text = _text(src, name) if name is not None else "?"
        return f"!{text}" if neg else text
    cond = node.child_by_field_name("condition")
    text = _flat(src, cond) if cond is not None else "?"
    return _DEFINED.sub(lambda m: m.group(1) or m.group(2), text)


def _negate(cond: str) -> str:
    if _IDENT.match(cond):
        return "!" + cond
    if cond.startswith("!") and _IDENT.match(cond[1:]):
        return cond[1:]
    return f"!({cond})"


_CONDITIONALS = frozenset({"preproc_ifdef", "preproc_if", "preproc_elif", "preproc_elifdef"})


def _walk_fields(src: bytes, body: Node, prefix: str, guards: tuple[str, ...],
                 out: list[Field]) -> None:
    """The members of a struct or union body, flattened into ``out``."""
    _walk_members(src, body.named_children, prefix, guards, out)


def _walk_members(src: bytes, members: list[Node], prefix: str, guards: tuple[str, ...],
                  out: list[Field]) -> None:
    for child in members:
        if child.type == "field_declaration":
            _field_decl(src, child, prefix, guards, out)
        elif child.type in _CONDITIONALS:
            _walk_conditional(src, child, prefix, guards, out)


def _walk_conditional(src: bytes, node: Node, prefix: str, guards: tuple[str, ...],
                      out: list[Field]) -> None:
    """An ``#if``/``#ifdef``/``#elif`` group of members: its own members under
    its condition, its ``#else``/``#elif`` under the negation."""
    cond = _guard_of(src, node)
    alt = node.child_by_field_name("alternative")
    own = [c for c in node.named_children if alt is None or c != alt]
    _walk_members(src, own, prefix, guards + (cond,), out)
    if alt is None:
        return
    negated = guards + (_negate(cond),)
    if alt.type == "preproc_else":
        _walk_members(src, alt.named_children, prefix, negated, out)
    else:
        _walk_conditional(src, alt, prefix, negated, out)


def _field_decl(src: bytes, node: Node, prefix: str, guards: tuple[str, ...],
                out: list[Field]) -> None:
    key = src[node.start_byte:node.end_byte]
    simple = _FIELD_MEMO.get(key)
    if simple is None:
        simple = _memo(_FIELD_MEMO, key, _simple_fields(src, node))
    guard = " && ".join(guards)
    line = node.start_point.row + 1
    if simple:
        for name, ctype, bits in simple:
            out.append(_FIELD(_join(prefix, name), ctype, line, bits, guard))
        return
    base, _, body = _base_type(src, node)
    bits = _bits(src, node)
    decls = _declarators(node)
    if body is not None and body.type != "enum_specifier":
        fbody = body.child_by_field_name("body")
        if not decls:  # an anonymous member: its fields belong to the parent
            _walk_fields(src, fbody, prefix, guards, out)
            return
        for d in decls:
            info = declarator_info(src, base, d)
            if info is not None:
                name = _join(prefix, info.name)
                out.append(_FIELD(name, info.type, line, bits, guard))
                _walk_fields(src, fbody, name, guards, out)
        return
    for d in decls:
        info = declarator_info(src, base, d)
        if info is None:
            continue
        out.append(_FIELD(_join(prefix, info.name), _full_type(info), line, bits, guard))


def _bits(src: bytes, node: Node) -> str:
    for c in node.children:
        if c.type == "bitfield_clause":
            return _flat(src, c).lstrip(":").strip()
    return ""


def _simple_fields(src: bytes, node: Node) -> tuple[tuple[str, str, str], ...]:
    """(name, type, bits) of a member declaration that defines no nested
    struct or union; () for one that does (walked each time)."""
    base, _, body = _base_type(src, node)
    if body is not None and body.type != "enum_specifier":
        return ()
    bits = _bits(src, node)
    infos = [declarator_info(src, base, d) for d in _declarators(node)]
    return tuple((i.name, _full_type(i), bits) for i in infos if i is not None)


def _structs(relpath: str, src: bytes, nodes: list[Node]) -> list[Struct]:
    out = []
    for node in nodes:
        name = node.child_by_field_name("name")
        kind = node.type.split("_")[0]
        if name is not None:
            names = [_text(src, name)]
        elif node.parent is not None and node.parent.type == "type_definition":
            names = [_text(src, d) for d in _declarators(node.parent)
                     if d.type == "type_identifier"]
        else:
            continue
        fields_: list[Field] = []
        _walk_fields(src, node.child_by_field_name("body"), "", (), fields_)
        for n in names:
            out.append(Struct(n, kind, relpath, node.start_point.row + 1,
                              node.end_point.row + 1, tuple(fields_)))
    return out


def _typedefs(relpath: str, src: bytes, nodes: list[Node]) -> list[Typedef]:
    out = []
    for node in nodes:
        base, _, body = _base_type(src, node)
        for d in _declarators(node):
            info = declarator_info(src, base, d)
            if info is None:
                continue
            ctype = info.type
            if body is not None and body.child_by_field_name("name") is None:
                ctype = f"{base} {info.name}"
            out.append(Typedef(info.name, ctype, relpath, node.start_point.row + 1))
    return out


# ---------------------------------------------------------------- constants

def _enums(relpath: str, src: bytes, nodes: list[Node]) -> list[Constant]:
    out = []
    for node in nodes:
        name = node.child_by_field_name("name")
        enum = _text(src, name) if name is not None else ""
        if not enum and node.parent is not None and node.parent.type == "type_definition":
            ds = _declarators(node.parent)
            enum = _text(src, ds[0]) if ds else ""
        prev, value = "", -1
        for e in node.child_by_field_name("body").named_children:
            if e.type == "ERROR" and e.named_child_count == 1 \
                    and e.named_children[0].type == "identifier":
                e = e.named_children[0]  # `X,` after a #define in the list: an enumerator
                ename, vnode = _text(src, e), None
            elif e.type != "enumerator":
                continue
            else:
                ename = _text(src, e.child_by_field_name("name"))
                vnode = e.child_by_field_name("value")
            if vnode is not None:
                expr = _flat(src, vnode)
                value = literal_value(expr)
            else:
                expr = f"{prev} + 1" if prev else "0"
                value = None if value is None else value + 1
            out.append(_CONSTANT(ename, "enum", expr, relpath, e.start_point.row + 1, value, enum))
            prev = ename
    return out


def _defines(relpath: str, src: bytes, names: list[Node], values: list[Node]):
    """Constants and field aliases from ``#define NAME value`` (the query
    gives each define's name and value in two parallel lists)."""
    consts, aliases = [], []
    for name_node, value in zip(names, values, strict=True):
        raw = src[value.start_byte:value.end_byte].decode("utf-8", "replace")
        if "/" in raw:
            raw = _COMMENT.sub(" ", raw)
        expr = _squeeze(raw.replace("\\\n", " ") if "\\" in raw else raw).strip()
        if not expr:
            continue
        name = src[name_node.start_byte:name_node.end_byte].decode("utf-8", "replace")
        line = name_node.start_point.row + 1
        if _ALIAS.match(expr):
            aliases.append(Alias(name, expr, relpath, line))
        elif _CONST_EXPR.match(expr):
            consts.append(_CONSTANT(name, "define", expr, relpath, line, literal_value(expr),
                                    ""))
    return consts, aliases


# ---------------------------------------------------------------- the file

def _checks(relpath: str, src: bytes) -> tuple[list[str], bool]:
    """Warnings about the input, and whether to parse it at all."""
    warns: list[str] = []
    if not src:
        return [f"{relpath}: empty file"], False
    if b"\0" in src:
        return [f"{relpath}: binary file (NUL bytes), not parsed"], False
    if len(src) > MAX_BYTES:
        return [f"{relpath}: {len(src)} bytes, over the {MAX_BYTES}-byte limit, not parsed"], False
    try:
        if not src.isascii():
            src.decode("utf-8")
    except UnicodeDecodeError as e:
        line = src.count(b"\n", 0, e.start) + 1
        warns.append(f"{relpath}:{line}: not UTF-8 (byte {e.start}), decoded with replacement")
    opened, closed = src.count(b"#if"), src.count(b"#endif")
    if opened != closed:  # recount outside comments and strings, allowing blanks after "#"
        code = _NOISE.sub(b" ", src)
        opened, closed = len(_IF.findall(code)), len(_ENDIF.findall(code))
    if opened != closed:
        warns.append(f"{relpath}: unbalanced preprocessor conditionals "
                     f"({opened} #if, {closed} #endif)")
    return warns, True


def extract_file(relpath: str, src: bytes) -> FileFacts:
    """All the facts of one C file; never raises on bad input.

    >>> ff = extract_file("t.c", b"static int f(int a) { return g(a); }")
    >>> ff.functions[0].id, [(c.caller, c.callee) for c in ff.calls]
    ('f@t.c', [('f@t.c', 'g')])
    """
    base = FileFacts(file=relpath, sha256=hashlib.sha256(src).hexdigest(), size=len(src))
    try:
        warns, ok = _checks(relpath, src)
        if not ok:
            return replace(base, warnings=tuple(warns))
        return _extract(relpath, src, base, warns)
    except Exception as e:  # noqa: BLE001 - an extractor bug must not stop a run
        return replace(base, warnings=(f"{relpath}: extraction failed: {e!r}",))


def _extract(relpath: str, raw: bytes, base: FileFacts, warns: list[str]) -> FileFacts:
    parsed = parse.parse(raw)
    src, root = parsed.source, parsed.root
    caps = parse.captures("facts", root)
    get = lambda k: caps.get(k, [])  # noqa: E731
    scopes = _functions(relpath, src, get("function"), parsed.rewrites)
    index = _Index(scopes)
    globals_, inits, local_assigns = _declarations(relpath, src, get("declaration"), index)
    assigns = _assignments(relpath, src, get("field_assign"), get("var_assign"), index)
    calls, regs, macro_assigns = _calls(relpath, src, get("call"), index, _macro_names(),
                                        _assigners())
    more = local_assigns + macro_assigns + _local_values(relpath, scopes)
    assigns = sorted(assigns + more, key=_LINE) if more else assigns
    consts, aliases = _defines(relpath, src, get("define.name"), get("define.value"))
    functions = [Function(**s.record, locals=tuple(s.locals)) for s in scopes]
    functions += [a for f in list(functions) if f.macro for a in _aliases(f)]
    nerr, berr = parse.error_stats(root)
    macros, initcalls = _directives(relpath, raw, warns)
    return replace(
        base, error_nodes=nerr, error_bytes=berr, functions=tuple(functions),
        calls=tuple(calls), structs=tuple(_structs(relpath, src, get("struct"))),
        aliases=tuple(aliases), typedefs=tuple(_typedefs(relpath, src, get("typedef"))),
        globals=tuple(globals_), initializers=tuple(inits), assignments=tuple(assigns),
        registrations=tuple(regs),
        constants=tuple(_enums(relpath, src, get("enum")) + consts), macros=tuple(macros),
        initcalls=tuple(initcalls), warnings=tuple(warns))


def _directives(relpath: str, raw: bytes, warns: list[str]):
    """The file's Macro and Initcall records, read from its raw text (a
    failure there costs only these two kinds, with a warning)."""
    try:
        return directives.scan(relpath, raw)
    except Exception as e:  # noqa: BLE001 - an extractor bug must not stop a run
        warns.append(f"{relpath}: reading #define and initcall lines failed: {e!r}")
        return [], []


_LINE = attrgetter("line")


@lru_cache(maxsize=1)
def _macro_names() -> frozenset[str]:
    return frozenset(parse.macro_table().get("function_like", {}).get("names", []))


@lru_cache(maxsize=1)
def _assigners() -> frozenset[str]:
    return frozenset(parse.macro_table().get("assigners", {}).get("names", []))
