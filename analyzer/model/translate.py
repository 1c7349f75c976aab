"""Translate one C function (a tree-sitter ``function_definition``) into Python.

Takes the node, the file it is in, the iteration-macro rewrites of that file
and a :class:`Names` (what the analysis knows about identifiers: functions,
globals, constants, field aliases, struct fields, primitives, configuration);
gives a :class:`Translation`: the Python source of one function whose every
line ends with ``# file:line`` and a map from Python lines to C lines.

Safety: C text reaches the output only as identifiers that match
:data:`IDENT` (renamed when they collide with Python keywords, builtins or the
names the generated code uses) or as ``repr()`` literals; comments are never
copied.  Any construct that is not handled raises :class:`Untranslatable`
naming the function, file and line.

Shape of the output: locals are Python locals (a local whose address is taken
is a ``rt.cell``); ``F.name(...)`` calls a C function, ``G.name`` is a global,
``rt.K('NAME', value)`` a constant; a function with labels runs its blocks
from a dispatch loop (``raise rt.Goto('out')`` jumps, forward or backward).
"""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from tree_sitter import Node

from analyzer.errors import AnalyzerError
from analyzer.parse import Rewrite, parse

__all__ = ["IDENT", "Untranslatable", "safe_path", "Names", "Translation", "translate_function",
           "pyname", "field_name", "function_name_of", "decode_c_string", "c_int"]

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_RESERVED = {"rt", "F", "G", "_label", "_g", "_sw", "_i"}
_BUILTINS = set(dir(builtins))


class Untranslatable(AnalyzerError):
    """A C construct the translator does not handle (names function, file, line)."""


def safe_path(path: str) -> str:
    """A file path as it may appear in a generated comment (one line, plain characters)."""
    return re.sub(r"[^\w./+-]", "?", path)


def pyname(name: str) -> str:
    """A C identifier as a Python local name: validated, renamed on collisions."""
    if not IDENT.match(name):
        raise AnalyzerError(f"not a C identifier: {name!r}")
    if keyword.iskeyword(name) or name in _BUILTINS or name in _RESERVED \
            or name.startswith("_k_"):
        return f"_k_{name}"
    return name


def field_name(name: str) -> str:
    """A C member name as a Python attribute (keywords get a trailing ``_``)."""
    if not IDENT.match(name):
        raise AnalyzerError(f"not a C member name: {name!r}")
    return f"{name}_" if keyword.iskeyword(name) else name


@dataclass(frozen=True)
class Names:
    """What the translator asks the analysis about identifiers (all callables)."""

    is_function: Callable[[str], bool]
    is_global: Callable[[str], bool]
    constant: Callable[[str], int | None]
    alias: Callable[[str], str | None]
    field_type: Callable[[str, str], str | None]  # (struct, field) -> C type
    primitive: Callable[[str], dict | None]  # table entry or None
    symbol: Callable[[str], bool]  # runtime symbols such as ``current``
    enabled: Callable[[str], bool]  # a preprocessor condition's truth
    iterator: Callable[[str], dict | None]  # iteration-macro table entry
    global_type: Callable[[str], str | None] = lambda name: None
    macro: Callable[[str], str | None] = lambda name: None  # an object-like #define's body
    #: the function-like ``#define`` a call names, when no function of the tree
    #: (nor a primitive) stands for it under the configuration
    function_macro: Callable[[str], object | None] = lambda name: None
    is_type: Callable[[str], bool] = lambda name: False  # a typedef name
    #: the struct/union a type names through typedefs ("wait_queue_t" -> "__wait_queue")
    aggregate: Callable[[str], str | None] = lambda ctype: None
    #: a string the build defines (CONFIG_DEFAULT_TCP_CONG is "cubic"), or None
    config_string: Callable[[str], str | None] = lambda name: None


@dataclass(frozen=True)
class Translation:
    name: str
    file: str
    line: int
    source: str
    lines: dict[int, int] = field(default_factory=dict)  # python line -> C line


def function_name_of(node: Node) -> str:
    """The name a ``function_definition`` defines."""
    d = node.child_by_field_name("declarator")
    while d is not None and d.type != "function_declarator":
        d = d.child_by_field_name("declarator")
    ident = d.child_by_field_name("declarator") if d is not None else None
    while ident is not None and ident.type != "identifier":
        ident = ident.child_by_field_name("declarator")
    return ident.text.decode() if ident is not None else ""


_ESC = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'",
        "a": "\a", "b": "\b", "f": "\f", "v": "\v", "?": "?"}


def decode_c_string(body: str) -> str:
    """The characters of a C string literal's body (escapes decoded)."""
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            m = re.match(r"x([0-9a-fA-F]{1,2})|([0-7]{1,3})", body[i + 1:])
            if m:
                out.append(chr(int(m.group(1), 16) if m.group(1) else int(m.group(2), 8)))
                i += 1 + m.end()
                continue
            out.append(_ESC.get(body[i + 1], body[i + 1]))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def c_int(text: str) -> int:
    """The value of a C integer literal (suffixes dropped, octal understood)."""
    t = text.rstrip("uUlL").strip()
    if t.startswith("-"):
        return -c_int(t[1:])
    if re.fullmatch(r"0[xX][0-9a-fA-F]+", t):
        return int(t, 16)
    if re.fullmatch(r"0[bB][01]+", t):
        return int(t[2:], 2)
    if re.fullmatch(r"0[0-7]+", t):
        return int(t, 8)
    if re.fullmatch(r"\d+", t):
        return int(t)
    raise ValueError(text)


_BINOPS = {"+": "+", "-": "-", "*": "*", "&": "&", "|": "|", "^": "^", "<<": "<<",
           ">>": ">>", "==": "==", "!=": "!=", "<": "<", ">": ">", "<=": "<=", ">=": ">="}
_ASSIGN_OPS = {"+=": "+", "-=": "-", "*=": "*", "/=": "/", "%=": "%", "&=": "&",
               "|=": "|", "^=": "^", "<<=": "<<", ">>=": ">>"}


@dataclass
class _Local:
    name: str  # C name
    py: str
    ctype: str
    cell: bool = False
    static: bool = False


def _text(node: Node) -> str:
    return node.text.decode(errors="replace")


def _declarator_info(decl: Node) -> tuple[str, str, list[Node]]:
    """(name, pointer/array suffix, array size nodes) of a declarator."""
    suffix, dims = "", []
    while decl is not None and decl.type != "identifier":
        if decl.type == "pointer_declarator":
            suffix += "*"
        elif decl.type == "array_declarator":
            size = decl.child_by_field_name("size")
            dims.append(size)
            suffix += "[]"
        elif decl.type == "function_declarator":
            suffix += "()"
        elif decl.type in ("init_declarator", "parenthesized_declarator",
                           "attributed_declarator"):
            pass
        else:
            return "", suffix, dims
        inner = decl.child_by_field_name("declarator")
        if inner is None:
            inner = next((c for c in decl.named_children
                          if c.type.endswith("declarator") or c.type == "identifier"), None)
        decl = inner
    return (_text(decl) if decl is not None else ""), suffix, dims


def _is_prototype(decl: Node) -> bool:
    """``int f(void);`` inside a body (not ``int (*f)(void)``, a pointer)."""
    while decl is not None and decl.type in ("init_declarator", "attributed_declarator"):
        decl = decl.child_by_field_name("declarator")
    return decl is not None and decl.type == "function_declarator" \
        and decl.child_by_field_name("declarator").type == "identifier"


def _type_text(node: Node) -> str:
    """The base type of a declaration (``struct socket``, ``int``)."""
    parts = []
    for c in node.children:
        if c.type in ("type_qualifier", "storage_class_specifier"):
            continue
        if c == node.child_by_field_name("type"):
            parts.append(_text(c))
    return re.sub(r"\s+", " ", " ".join(parts)).strip()


def _is_static(node: Node) -> bool:
    return any(c.type == "storage_class_specifier" and _text(c) == "static"
               for c in node.children)


class _Translator:
    """Translates the body of one function; see :func:`translate_function`."""

    def __init__(self, node: Node, file: str, rewrites: tuple[Rewrite, ...], names: Names,
                 raw: bytes | None = None, inactive: frozenset[int] = frozenset(),
                 parent: _Translator | None = None, at_line: int = 0):
        self.node, self.file, self.names, self.raw = node, file, names, raw
        self.inactive = inactive  # lines an #if of the configuration drops
        self.fname = function_name_of(node)
        self.iters = {r.start: r for r in rewrites if r.kind == "iterator"}
        self.locals: dict[str, _Local] = {}
        self.out: list[tuple[int, str, int]] = []
        self.loop_depth = 0
        #: the label variable of the dispatch loop a break/continue must leave first
        self.escape_to: str | None = None
        self.counter = 0
        self.labels: list[str] = []
        self.expanding: set[str] = set() if parent is None else parent.expanding
        #: a macro expansion is translated by a child whose names fall back to
        #: the caller's locals; every line it emits is the call's line
        self.parent, self.at_line = parent, at_line
        self.prelude: list[tuple[int, str, int]] = []  # nested defs of expansions
        self.nonlocals: set[str] = set()
        self._foreign: list = []  # parses of expansions whose nodes are in use

    # --- errors and output ---------------------------------------------------
    def fail(self, node: Node, what: str) -> Untranslatable:
        return Untranslatable(f"cannot translate {what} in {self.fname} at "
                              f"{self.file}:{node.start_point.row + 1}: "
                              f"{_text(node)[:60]!r}")

    def emit(self, indent: int, text: str, node: Node | None) -> None:
        line = self.at_line or (node.start_point.row + 1 if node is not None else 0)
        self.out.append((indent, text, line))

    def fresh(self, stem: str) -> str:
        root = self
        while root.parent is not None:
            root = root.parent
        root.counter += 1
        return f"_{stem}{root.counter}"

    def local(self, name: str, write: bool = False) -> _Local | None:
        """The local ``name`` of this function, or (in a macro expansion) of the
        caller; a write to a caller's plain local makes it ``nonlocal``."""
        loc = self.locals.get(name)
        if loc is not None or self.parent is None:
            return loc
        loc = self.parent.local(name, write)
        if loc is not None and write and not loc.cell:
            self.nonlocals.add(loc.py)
        return loc

    # --- scan: locals, address-taken names, labels ------------------------------
    def scan(self) -> None:
        params = self._params()
        for name, ctype in params:
            if name != "...":
                self.locals[name] = _Local(name, pyname(name), ctype)
        self._scan_tree(self.node.child_by_field_name("body"))

    def _scan_tree(self, root: Node) -> None:
        """The locals, address-taken names and labels of ``root``'s statements."""
        stack = [root]
        while stack:
            n = stack.pop()
            if n.type == "declaration":
                self._scan_declaration(n)
            elif n.type == "pointer_expression" and n.children[0].type == "&":
                arg = n.child_by_field_name("argument")
                while arg is not None and arg.type == "parenthesized_expression":
                    arg = arg.named_children[0] if arg.named_children else None
                if arg is not None and arg.type == "identifier":
                    self._addr_taken.add(_text(arg))
            elif n.type == "labeled_statement":
                self.labels.append(_text(n.child_by_field_name("label")))
            elif n.type == "call_expression":
                self._scan_lvalue_args(n)
                if n.parent is not None and n.parent.type == "expression_statement":
                    self._scan_declaring_macro(n)
            stack.extend(n.children)
        for name in self._addr_taken:
            loc = self.locals.get(name)
            if loc is not None and not self._aggregate(loc.ctype):
                loc.cell = True

    _addr_taken: set[str]

    def _scan_declaring_macro(self, call: Node) -> None:
        """``DECLARE_WAITQUEUE(wait, current);``, ``LIST_HEAD(list);``: a macro
        whose expansion declares locals of the function; kept to be translated
        in place of the call."""
        fn = call.child_by_field_name("function")
        if fn is None or fn.type != "identifier" or self.names.primitive(_text(fn)) \
                or self.names.function_macro(_text(fn)) is None:
            return
        from analyzer.model.macros import expand_text

        names = self.names
        try:
            text = expand_text(self.written(call).decode(errors="replace"), lambda n: None
                               if names.primitive(n) else names.function_macro(n))
        except AnalyzerError:
            return
        parsed = parse(f"void __decl(void) {{ {_plain_typeof(text)}; }}\n".encode())
        body = parsed.root.named_children[0].child_by_field_name("body") \
            if parsed.root.named_children else None
        items = [c for c in body.named_children if c.type != "comment"] if body else []
        if len(items) == 1 and items[0].type == "declaration" and not items[0].has_error:
            self._foreign.append(parsed)
            self._declaring[call.start_byte] = items[0]
            self._scan_declaration(items[0])

    _declaring: dict[int, Node]

    def _scan_lvalue_args(self, call: Node) -> None:
        """A primitive that assigns to an argument (``spin_lock_irqsave(l, flags)``)
        takes its address: that local lives in a cell."""
        fn = call.child_by_field_name("function")
        prim = self.names.primitive(_text(fn)) if fn is not None and fn.type == "identifier" \
            else None
        if not prim or not prim.get("lvalue"):
            return
        args = [a for a in call.child_by_field_name("arguments").named_children
                if a.type != "comment"]
        for i in prim["lvalue"]:
            if i < len(args) and _unparen(args[i]).type == "identifier":
                self._addr_taken.add(_text(_unparen(args[i])))

    def _params(self) -> list[tuple[str, str]]:
        d = self.node.child_by_field_name("declarator")
        while d is not None and d.type != "function_declarator":
            d = d.child_by_field_name("declarator")
        plist = d.child_by_field_name("parameters") if d is not None else None
        result = []
        for p in plist.named_children if plist is not None else []:
            if p.type == "variadic_parameter":
                result.append(("...", "..."))
                continue
            if p.type != "parameter_declaration":
                continue
            decl = p.child_by_field_name("declarator")
            if decl is None:
                continue
            name, suffix, _ = _declarator_info(decl)
            if name:
                result.append((name, f"{_type_text(p)} {suffix}".strip()))
        return result

    def _base_type(self, n: Node) -> str:
        """A declaration's base type; a struct or union without a tag
        (``union { int val; ... } v;``) is named by its place (facts.anonymous_name)."""
        t = n.child_by_field_name("type")
        if t is not None and t.type in ("struct_specifier", "union_specifier") \
                and t.child_by_field_name("name") is None \
                and t.child_by_field_name("body") is not None and not self._foreign_node(t):
            from analyzer.model.facts import anonymous_name

            return f"{t.type.split('_')[0]} {anonymous_name(self.file, t.start_point.row + 1)}"
        return _type_text(n)

    def _scan_declaration(self, n: Node) -> None:
        base = self._base_type(n)
        for d in n.children_by_field_name("declarator"):
            name, suffix, _ = _declarator_info(d)
            if name and not _is_prototype(d):
                self.locals[name] = _Local(name, pyname(name), f"{base} {suffix}".strip(),
                                           static=_is_static(n))

    def _cell_type(self, loc: _Local) -> str:
        """``, 'int'``: the C type of a scalar local whose address is taken, so that
        its bytes can be copied (``copy_to_user(optval, &val, len)``); pointers and
        aggregates are left out (the model's sizes read past qualifiers)."""
        if "*" in loc.ctype or "[" in loc.ctype or "(" in loc.ctype \
                or self._struct_name(loc.ctype) is not None:
            return ""
        return f", {loc.ctype!r}" if loc.ctype else ""

    def _foreign_node(self, n: Node) -> bool:
        """Is ``n`` from the parse of a macro's expansion (its lines are not the file's)?"""
        def root(x: Node) -> Node:
            while x.parent is not None:
                x = x.parent
            return x
        return root(n) != root(self.node)

    def _aggregate(self, ctype: str) -> bool:
        """Does a local of this type hold an object (struct by value or array)?"""
        return "[]" in ctype or self._struct_name(ctype) is not None

    def _struct_name(self, ctype: str) -> str | None:
        """The struct/union a local of ``ctype`` holds by value, else None."""
        if "*" in ctype or "[]" in ctype or "(" in ctype:
            return None
        t = re.sub(r"\b(const|volatile|static)\b", " ", ctype).split()
        if len(t) >= 2 and t[0] in ("struct", "union"):
            return t[1]
        return self.names.aggregate(" ".join(t)) if t else None

    # --- the function --------------------------------------------------------------
    def run(self) -> Translation:
        self._addr_taken, self._declaring = set(), {}
        self.scan()
        params = [p for p, _ in self._params()]
        args = ", ".join("*_va" if p == "..." else self.locals[p].py for p in params)
        self.emit(0, f"def {pyname(self.fname)}({args}):", self.node)
        for p in params:
            if p != "..." and self.locals[p].cell:
                loc = self.locals[p]
                self.emit(1, f"{loc.py} = rt.cell({loc.py}, {p!r}{self._cell_type(loc)})",
                          self.node)
        self.header_end = len(self.out)
        body = self.node.child_by_field_name("body")
        if self.labels:
            self.blocks(body)
        else:
            self.block_items(body.named_children, 1)
            self.out.append((1, "return None", body.end_point.row + 1))
        return self.finish()

    header_end = 1

    def assembled(self) -> list[tuple[int, str, int]]:
        """The emitted lines with the nested defs of macro expansions put right
        after the function's header (Python closures see the caller's locals)."""
        cut = self.header_end
        return self.out[:cut] + self.prelude + self.out[cut:]

    def finish(self) -> Translation:
        lines, mapping = [], {}
        for i, (indent, text, cline) in enumerate(self.assembled(), start=1):
            where = f"  # {safe_path(self.file)}:{cline}" if cline else ""
            lines.append("    " * indent + text + where)
            if cline:
                mapping[i] = cline
        return Translation(self.fname, self.file, self.node.start_point.row + 1,
                           "\n".join(lines) + "\n", mapping)

    def blocks(self, body: Node) -> None:
        """A body with labels: blocks run from a dispatch loop."""
        self.dispatch(self.flatten(body.named_children), 1, body, top=True)

    def dispatch(self, items: list[Node], ind: int, where: Node, top: bool = False) -> None:
        """Statements split into blocks at their labels, run from a loop that a
        ``goto`` (``raise rt.Goto``) re-enters at a label, forward or backward;
        a goto to a label of an enclosing block passes through."""
        blocks: list[tuple[str, list[Node]]] = [("_start", [])]
        for item in items:
            while item is not None and item.type == "labeled_statement":
                blocks.append((_text(item.child_by_field_name("label")), []))
                inner = [c for c in item.named_children
                         if c.type not in ("statement_identifier", "comment")]
                item = inner[0] if inner else None
            if item is not None and item.type != "comment" \
                    and item.start_point.row + 1 not in self.inactive:
                blocks[-1][1].append(item)
        escapes = not top and _escapes(items)
        var = "_label" if top else self.fresh("label")
        own = tuple(label for label, _ in blocks[1:])
        self.emit(ind, f"{var} = '_start'", where)
        self.emit(ind, "while True:", where)
        self.emit(ind + 1, "rt.tick()", where)
        self.emit(ind + 1, "try:", where)
        outer, self.escape_to = self.escape_to, (var if escapes else None)
        try:
            for i, (label, block) in enumerate(blocks):
                self.emit(ind + 2, f"if {var} == {label!r}:", block[0] if block else where)
                self.block_items(block, ind + 3)
                nxt = blocks[i + 1][0] if i + 1 < len(blocks) else None
                end = block[-1].end_point.row + 1 if block and nxt else \
                    where.end_point.row + 1
                last = "return None" if top else "break"
                self.out.append((ind + 3, f"{var} = {nxt!r}" if nxt else last,
                                 self.at_line or end))
        finally:
            self.escape_to = outer
        self.emit(ind + 1, "except rt.Goto as _g:", where)
        self.emit(ind + 2, f"if _g.label not in {own!r}:", where)
        self.emit(ind + 3, "rt.goto_out(_g)" if top else "raise", where)
        self.emit(ind + 2, f"{var} = _g.label", where)
        if escapes:  # a break/continue of the enclosing loop or switch left the blocks
            for jump in ("break", "continue"):
                self.emit(ind, f"if {var} == '_{jump}':", where)
                self.jump(jump, ind + 1, where)

    # --- statements ---------------------------------------------------------------
    def block_items(self, items, indent: int) -> None:
        start = len(self.out)
        items = list(items)
        if any(i.type == "labeled_statement" for i in items):
            self.dispatch(self.flatten(items), indent, items[0])
            return
        for item in items:
            if item.start_point.row + 1 not in self.inactive:
                self.statement(item, indent)
        if len(self.out) == start:
            self.emit(indent, "pass", None)

    cur_line = 0

    def statement(self, n: Node, ind: int) -> None:
        """One statement; one the translator cannot handle becomes a statement
        that stops the run with the reason, if the run ever gets there."""
        out, prelude = len(self.out), len(self.prelude)
        try:
            self._statement(n, ind)
        except Untranslatable as e:
            del self.out[out:]
            del self.prelude[prelude:]
            self.emit(ind, f"rt.cannot({str(e)!r})", n)

    def _statement(self, n: Node, ind: int) -> None:
        self.cur_line = n.start_point.row + 1
        if n.has_error and n.type in ("declaration", "return_statement"):
            line = self.at_line or n.start_point.row + 1
            again = self.reparsed(n)
            saved, self.at_line = self.at_line, line
            try:
                self.statement(again, ind)
            finally:
                self.at_line = saved
            return
        handler = getattr(self, f"s_{n.type}", None)
        if handler is None:
            if n.type == "comment":
                return
            raise self.fail(n, f"statement {n.type}")
        handler(n, ind)

    def s_compound_statement(self, n: Node, ind: int) -> None:
        for item in n.named_children:
            self.statement(item, ind)

    def s_expression_statement(self, n: Node, ind: int) -> None:
        if not n.named_children:
            return
        if n.has_error or n.named_children[0].is_error:  # misread: read its text again
            line = self.at_line or n.start_point.row + 1
            again = self.reparsed(n)
            saved, self.at_line = self.at_line, line
            try:
                if again.type == "compound_statement":  # a macro that is a block
                    self._scan_tree(again)  # (iterate_and_advance): its own locals
                    self.s_compound_statement(again, ind)
                elif again.type == "declaration":  # a macro that declares a local
                    self._scan_tree(again)
                    self.statement(again, ind)
                else:
                    self.s_expression_statement(again, ind)
            finally:
                self.at_line = saved
            return
        self.expression_statement(n.named_children[0], ind)

    def reparsed(self, n: Node) -> Node:
        """A statement the grammar misreads (``offsetof(T, a[i])``, a macro given
        a type: ``alloc_percpu(struct sock *)``), rewritten so that it reads as
        C means it, parsed alone; its lines keep ``n``'s."""
        from analyzer.model.macros import expand_text

        text = self.written(n).decode(errors="replace")
        fixed = _OFFSETOF.sub(lambda m: f'__model_offsetof("{m.group(1).strip()}", '
                                         f'"{" ".join(m.group(2).split())}")', text)
        found = self._parse_statement(fixed, n.type)
        if found is None:  # expand the macros it uses, as the preprocessor would
            names = self.names
            try:
                fixed = expand_text(fixed, lambda name: None if names.primitive(name)
                                    else names.function_macro(name))
            except AnalyzerError:
                fixed = ""
            found = self._parse_statement(_plain_typeof(fixed), n.type) if fixed else None
            if found is None and fixed and n.type == "expression_statement":
                # a macro that is a block, or one that declares a local
                # (DECLARE_SOCKADDR(type, dst, src))
                found = self._parse_statement(_plain_typeof(fixed.rstrip().rstrip(";")),
                                              "compound_statement")
                if found is None:
                    found = self._parse_statement(_plain_typeof(fixed), "declaration")
        if found is None:
            raise self.fail(n, "a statement with a parse error")
        return found

    def _parse_statement(self, text: str, kind: str) -> Node | None:
        parsed = parse(f"void __stmt(void) {{ {text}\n}}\n".encode())
        body = parsed.root.named_children[0].child_by_field_name("body") \
            if parsed.root.named_children else None
        items = [c for c in body.named_children if c.type != "comment"] if body else []
        if len(items) != 1 or items[0].has_error or items[0].type != kind:
            return None
        self._foreign.append(parsed)
        return items[0]

    def expression_statement(self, e: Node, ind: int) -> None:
        if e.type == "assignment_expression":
            self.emit(ind, self.assign_stmt(e), e)
        elif e.type == "update_expression":
            self.emit(ind, self.update_stmt(e), e)
        elif e.type == "comma_expression":
            for part in (e.child_by_field_name("left"), e.child_by_field_name("right")):
                self.expression_statement(part, ind)
        elif e.type == "cast_expression" and _text(e.child_by_field_name("type")) == "void":
            self.expression_statement(e.child_by_field_name("value"), ind)
        elif e.type == "parenthesized_expression" and e.named_children:
            self.expression_statement(e.named_children[0], ind)
        elif e.type == "call_expression" and e.start_byte in getattr(self, "_declaring", {}):
            saved, self.at_line = self.at_line, self.at_line or e.start_point.row + 1
            try:  # a declaring macro: its declaration, in place
                self.s_declaration(self._declaring[e.start_byte], ind)
            finally:
                self.at_line = saved
        else:
            self.emit(ind, self.expr(e), e)

    def s_declaration(self, n: Node, ind: int) -> None:
        for d in n.children_by_field_name("declarator"):
            name, suffix, dims = _declarator_info(d)
            if not name or _is_prototype(d):
                continue
            loc = self.locals[name]
            ctype = f"{self._base_type(n)} {_declarator_info(d)[1]}".strip()
            if ctype != loc.ctype:  # a name declared again in another block, another type
                loc.ctype = ctype
            value = d.child_by_field_name("value") if d.type == "init_declarator" else None
            self.declare(loc, value, dims, d, ind)

    def declare(self, loc: _Local, value: Node | None, dims: list, d: Node, ind: int) -> None:
        if loc.static and self._struct_name(loc.ctype) is not None:
            tname = self._struct_name(loc.ctype)  # static const struct x ops; one object
            self.emit(ind, f"{loc.py}, _new = rt.static_object({self.fname!r}, "
                      f"{loc.name!r}, {tname!r})", d)
            if value is not None and value.type == "initializer_list":
                self.emit(ind, "if _new:", d)
                self.init_fields(loc.py, value, ind + 1)
            return
        if loc.static:
            init = self.expr(value) if value is not None and value.type != "initializer_list" \
                else "0"
            self.emit(ind, f"{loc.py} = rt.static({self.fname!r}, {loc.name!r}, {init})", d)
            loc.cell = True
            return
        if "[]" in loc.ctype:
            self.local_array(loc, value, dims, d, ind)
            return
        tname = self._struct_name(loc.ctype)
        if tname is not None:
            value = self.brace_value(value) if value is not None else None
            self.emit(ind, f"{loc.py} = rt.new_local({tname!r}, {loc.name!r})", d)
            if value is not None and value.type == "initializer_list":
                self.init_fields(loc.py, value, ind)
            elif value is not None:  # struct x = y: a copy of the members
                self.emit(ind, f"rt.copy_into({loc.py}, {self.expr(value)})", d)
            return
        init = self.expr(value) if value is not None else \
            f"rt.unknown({('uninitialized ' + loc.name)!r}, 'a local read before it is set')"
        init = self.typed_value(loc, value, init)
        if loc.cell:
            init = f"rt.cell({init}, {loc.name!r}{self._cell_type(loc)})"
        self.emit(ind, f"{loc.py} = {init}", d)

    def designated_expansion(self, item: Node) -> list[Node] | None:
        """The initializer members a macro item expands to, when its expansion
        is designated (``[X] = {...}``, ``.f = v``), else None."""
        fn = item.child_by_field_name("function") if item.type == "call_expression" else None
        if fn is None or fn.type != "identifier" or self.names.primitive(_text(fn)) \
                or self.names.function_macro(_text(fn)) is None:
            return None
        from analyzer.model.macros import expand_text

        names = self.names
        text = expand_text(self.written(item).decode(errors="replace"),
                           lambda n: None if names.primitive(n) else names.function_macro(n))
        if not text.lstrip().startswith(("[", ".")):
            return None
        parsed = parse(f"int __init_value[] = {{ {_plain_typeof(text)} }};\n".encode())
        decl = parsed.root.named_children[0] if parsed.root.named_children else None
        init = decl.child_by_field_name("declarator") if decl is not None else None
        found = init.child_by_field_name("value") if init is not None \
            and init.type == "init_declarator" else None
        if found is None or found.has_error:
            raise self.fail(item, f"the expansion of {_text(fn)}: {text[:80]!r}")
        self._foreign.append(parsed)
        return [c for c in found.named_children if c.type != "comment"]

    def brace_value(self, value: Node) -> Node:
        """An initializer value that is a macro expanding to a brace list
        (``LIST_HEAD_INIT(x)`` is ``{ &(x), &(x) }``): that list; else ``value``."""
        from analyzer.model.macros import expand_text

        names = self.names
        if value.type == "identifier" and not self.local(_text(value)):
            body = self.names.macro(_text(value))  # OSQ_LOCK_UNLOCKED is { ATOMIC_INIT(0) }
            if not body or not body.lstrip().startswith("{"):
                return value
            text, fn = body, value
        else:
            fn = value.child_by_field_name("function") \
                if value.type == "call_expression" else None
            if fn is None or fn.type != "identifier" or self.names.primitive(_text(fn)) \
                    or self.names.function_macro(_text(fn)) is None:
                return value
            text = self.written(value).decode(errors="replace")
        text = expand_text(text, lambda n: None if names.primitive(n)
                           else names.function_macro(n))
        if not text.lstrip().startswith("{"):
            return value
        parsed = parse(f"int __init_value = {_plain_typeof(text)};\n".encode())
        decl = parsed.root.named_children[0] if parsed.root.named_children else None
        init = decl.child_by_field_name("declarator") if decl is not None else None
        found = init.child_by_field_name("value") if init is not None \
            and init.type == "init_declarator" else None
        if found is None or found.has_error:
            raise self.fail(value, f"the expansion of {_text(fn)}: {text[:80]!r}")
        self._foreign.append(parsed)
        return found

    def local_array(self, loc: _Local, value: Node | None, dims: list, d: Node,
                    ind: int) -> None:
        """``int range[2];``, ``char buf[32] = {0};``: an array of the function."""
        if len(dims) != 1:
            raise self.fail(d, "a local array of several dimensions")
        elem = loc.ctype.replace("[]", "").strip()
        if dims[0] is not None:
            count = self.expr(dims[0])
        elif value is not None and value.type == "initializer_list":
            count = str(len([c for c in value.named_children if c.type != "comment"]))
        else:
            raise self.fail(d, "a local array of unknown size")
        self.emit(ind, f"{loc.py} = rt.local_array({elem!r}, {count}, {loc.name!r})", d)
        if value is not None and value.type == "initializer_list":
            self.init_fields(loc.py, value, ind)
        elif value is not None and value.type == "string_literal":
            self.emit(ind, f"rt.copy_string({loc.py}, {self.expr(value)})", d)
        elif value is not None:
            raise self.fail(d, "an array initialized from an expression")

    def init_fields(self, target: str, lst: Node, ind: int) -> None:
        """A local struct's initializer list: designated and positional members,
        nested lists (``.task_list = { NULL, NULL }``)."""
        items = [c for c in lst.named_children if c.type != "comment"]
        for pos, item in enumerate(items):
            if item.type == "initializer_pair":
                path = target
                for des in item.children_by_field_name("designator"):
                    if des.type != "field_designator":
                        raise self.fail(des, "an array designator")
                    path += "." + field_name(_text(des.named_children[0]))
                value = item.child_by_field_name("value")
            else:
                path, value = f"rt.slot({target}, {pos})", item
            value = self.brace_value(value)
            if value.type == "initializer_list":
                sub = self.fresh("o")
                if path.startswith("rt.slot("):
                    path = "rt.aggregate_slot(" + path[len("rt.slot("):]
                self.emit(ind, f"{sub} = {path}", item)
                self.init_fields(sub, value, ind)
            elif path.startswith("rt.slot("):
                self.emit(ind, f"rt.set_slot({target}, {pos}, {self.expr(value)})", item)
            else:
                self.emit(ind, f"{path} = {self.expr(value)}", item)

    def s_if_statement(self, n: Node, ind: int, word: str = "if") -> None:
        cond = n.child_by_field_name("condition")
        self.emit(ind, f"{word} {self.cond(cond)}:", n)
        self.suite(n.child_by_field_name("consequence"), ind + 1)
        alt = n.child_by_field_name("alternative")
        if alt is not None:
            if alt.type == "else_clause":
                alt = alt.named_children[0]
            if alt.type == "if_statement":
                self.s_if_statement(alt, ind, "elif")
            else:
                self.emit(ind, "else:", alt)
                self.suite(alt, ind + 1)

    def suite(self, n: Node | None, ind: int) -> None:
        if n is None:
            self.emit(ind, "pass", None)
        elif n.type == "compound_statement":
            self.block_items(n.named_children, ind)
        else:
            self.block_items([n], ind)

    def cond(self, n: Node) -> str:
        return self.expr(n)

    def s_return_statement(self, n: Node, ind: int) -> None:
        if self.parent is not None:
            self.s_return_in_macro(n)
        value = n.named_children[0] if n.named_children else None
        self.emit(ind, f"return {self.expr(value)}" if value is not None else "return None", n)

    def s_goto_statement(self, n: Node, ind: int) -> None:
        label = _text(n.child_by_field_name("label"))
        if label not in self.labels:
            raise self.fail(n, "a goto to an unknown label")
        self.emit(ind, f"raise rt.Goto({label!r})", n)

    def s_labeled_statement(self, n: Node, ind: int) -> None:
        raise self.fail(n, "a label inside a nested block")

    def s_break_statement(self, n: Node, ind: int) -> None:
        self.jump("break", ind, n)

    def s_continue_statement(self, n: Node, ind: int) -> None:
        if self.loop_depth == 0:
            raise self.fail(n, "continue inside a switch")
        self.jump("continue", ind, n)

    def jump(self, kind: str, ind: int, n: Node) -> None:
        """``break``/``continue``; inside the blocks of a body with labels (a
        dispatch loop of its own), leave that loop first, saying which."""
        if self.escape_to is not None:
            self.emit(ind, f"{self.escape_to} = '_{kind}'", n)
        self.emit(ind, "break" if self.escape_to is not None else kind, n)

    def s_while_statement(self, n: Node, ind: int) -> None:
        self.emit(ind, f"while {self.cond(n.child_by_field_name('condition'))}:", n)
        self.emit(ind + 1, "rt.tick()", n)
        self.loop_body(n.child_by_field_name("body"), ind + 1)

    def loop_body(self, body: Node, ind: int) -> None:
        self.loop_depth += 1
        saved, self.escape_to = self.escape_to, None
        try:
            self.suite(body, ind)
        finally:
            self.loop_depth -= 1
            self.escape_to = saved

    def s_do_statement(self, n: Node, ind: int) -> None:
        first = self.fresh("first")
        self.emit(ind, f"{first} = True", n)
        self.emit(ind, "while True:", n)
        self.emit(ind + 1, "rt.tick()", n)
        cond = self.cond(n.child_by_field_name("condition"))
        self.emit(ind + 1, f"if not {first} and not ({cond}):", n)
        self.emit(ind + 2, "break", n)
        self.emit(ind + 1, f"{first} = False", n)
        self.loop_body(n.child_by_field_name("body"), ind + 1)

    def s_for_statement(self, n: Node, ind: int) -> None:
        rw = self.iters.get(n.start_byte)
        if rw is not None:
            head = self.iterator_head(n, rw)
            if head is not None:  # the iteration macro's own for(...), expanded
                saved, self.at_line = self.at_line, self.at_line or n.start_point.row + 1
                try:
                    self.for_loop(head, n.child_by_field_name("body"), n, ind)
                finally:
                    self.at_line = saved
                return
            self.iterator_loop(n, rw, ind)
            return
        self.for_loop(n, n.child_by_field_name("body"), n, ind)

    def for_loop(self, head: Node, body: Node, n: Node, ind: int) -> None:
        """``for (init; cond; update) body``; ``head`` holds the three parts."""
        init = head.child_by_field_name("initializer")
        if init is not None:
            if init.type == "declaration":
                self.s_declaration(init, ind)
            else:
                self.expression_statement(init, ind)
        first = self.fresh("first")
        self.emit(ind, f"{first} = True", n)
        self.emit(ind, "while True:", n)
        self.emit(ind + 1, "rt.tick()", n)
        update = head.child_by_field_name("update")
        if update is not None:
            self.emit(ind + 1, f"if not {first}:", n)
            self.expression_statement(update, ind + 2)
        self.emit(ind + 1, f"{first} = False", n)
        cond = head.child_by_field_name("condition")
        if cond is not None:
            self.emit(ind + 1, f"if not ({self.cond(cond)}):", n)
            self.emit(ind + 2, "break", n)
        self.loop_body(body, ind + 1)

    def iterator_head(self, n: Node, rw: Rewrite) -> Node | None:
        """The ``for (...)`` an iteration macro of the tree expands to (its
        nested macros expanded too, primitives kept), or None when the macro
        has no definition the configuration keeps."""
        from analyzer.model.macros import expand_text

        if self.names.function_macro(rw.name) is None:
            return None
        names = self.names

        def lookup(name: str):
            return None if names.primitive(name) else names.function_macro(name)

        text = expand_text(f"{rw.name}({', '.join(rw.args)})", lookup)
        parsed = parse(f"void __loop(void) {{ {_plain_typeof(text)} ; }}\n".encode())
        stack = [parsed.root]
        while stack:
            node = stack.pop()
            if node.type == "for_statement":
                if node.has_error:
                    break
                self._foreign.append(parsed)  # keep the tree alive while translating
                return node
            stack.extend(reversed(node.named_children))
        raise self.fail(n, f"the expansion of {rw.name}: {text[:80]!r}")

    def iterator_loop(self, n: Node, rw: Rewrite, ind: int) -> None:
        spec = self.names.iterator(rw.name)
        if spec is None:
            raise self.fail(n, f"the iteration macro {rw.name} (not in primitives.toml)")
        init = n.child_by_field_name("initializer")
        cond = n.child_by_field_name("condition")
        update = n.child_by_field_name("update")
        if init is None or cond is None or init.type != "identifier":
            raise self.fail(n, f"the arguments of {rw.name}")
        cursor = self.lvalue_name(init)
        member = repr(_text(update)) if update is not None else "''"
        self.emit(ind, f"for {cursor} in rt.iterate({spec['kind']!r}, {self.expr(cond)}, "
                  f"{member}):", n)
        self.loop_body(n.child_by_field_name("body"), ind + 1)

    def lvalue_name(self, n: Node) -> str:
        loc = self.local(_text(n), write=True)
        if loc is None or loc.cell:
            raise self.fail(n, "a loop cursor that is not a plain local")
        return loc.py

    def s_switch_statement(self, n: Node, ind: int) -> None:
        body = n.child_by_field_name("body")
        items = self.case_items(body)
        if items and items[0].type != "case_statement":
            raise self.fail(n, "a switch with statements before its first case")
        cases = [c for c in items if c.type == "case_statement"]
        # statements after a case that an #ifdef inside it cut short belong to it
        extra: dict[int, list[Node]] = {}
        for item in items:
            if item.type == "case_statement":
                extra[item.start_byte] = own = []
            else:
                own.append(item)
        values, default = [], len(cases)
        for i, c in enumerate(cases):
            v = c.child_by_field_name("value")
            values.append(self.expr(v) if v is not None else "None")
            if v is None:
                default = i
        sw = self.fresh("sw")
        self.emit(ind, f"{sw} = rt.case_index({self.expr(n.child_by_field_name('condition'))},"
                  f" [{', '.join(values)}], {default})", n)
        self.emit(ind, "for _ in rt.once():", n)
        saved, self.loop_depth = self.loop_depth, 0
        escape, self.escape_to = self.escape_to, None
        try:
            for i, c in enumerate(cases):
                self.emit(ind + 1, f"if {sw} <= {i}:", c)
                items = [s for s in c.named_children if s != c.child_by_field_name("value")]
                self.block_items(items + extra[c.start_byte], ind + 2)
        finally:
            self.loop_depth = saved
            self.escape_to = escape

    def case_items(self, body: Node) -> list[Node]:
        """The statements of a switch body, the cases of its kept #if/#ifdef
        branches in place (``#ifdef CONFIG_NET_RX_BUSY_POLL case SO_BUSY_POLL:``)."""
        out = []
        for c in body.named_children:
            if c.type == "comment":
                continue
            if c.type in ("preproc_ifdef", "preproc_if", "preproc_else", "preproc_elif"):
                heads = {x.start_byte for x in (c.child_by_field_name("name"),
                                                c.child_by_field_name("condition"))
                         if x is not None}
                out.extend(x for x in self.case_items(c) if x.start_byte not in heads)
                continue
            if c.start_point.row + 1 not in self.inactive:
                out.append(c)
        return out

    def s_preproc_ifdef(self, n: Node, ind: int) -> None:
        name = _text(n.child_by_field_name("name"))
        negate = _text(n.children[0]).strip() == "#ifndef"
        self.preproc_branch(n, self.names.enabled(f"defined({name})") != negate, ind)

    def s_preproc_if(self, n: Node, ind: int) -> None:
        cond = _text(n.child_by_field_name("condition"))
        self.preproc_branch(n, self.names.enabled(cond), ind)

    def flatten(self, items) -> list[Node]:
        """Statements with the kept branches of #if/#ifdef spliced in (labels
        inside them become labels of the body)."""
        out: list[Node] = []
        for item in items:
            if item.type in ("preproc_ifdef", "preproc_if"):
                out.extend(self.flatten(self.kept(item)))
            else:
                out.append(item)
        return out

    def kept(self, n: Node) -> list[Node]:
        if n.type == "preproc_ifdef":
            name = _text(n.child_by_field_name("name"))
            negate = _text(n.children[0]).strip() == "#ifndef"
            taken = self.names.enabled(f"defined({name})") != negate
        else:
            taken = self.names.enabled(_text(n.child_by_field_name("condition")))
        alt = n.child_by_field_name("alternative")
        skip = {n.child_by_field_name("name"), n.child_by_field_name("condition"), alt}
        if taken:
            return [c for c in n.named_children if c not in skip]
        if alt is None:
            return []
        if alt.type == "preproc_else":
            return list(alt.named_children)
        return self.kept(alt)

    def preproc_branch(self, n: Node, taken: bool, ind: int) -> None:
        alt = n.child_by_field_name("alternative")
        skip = {n.child_by_field_name("name"), n.child_by_field_name("condition"), alt}
        if taken:
            for item in n.named_children:
                if item not in skip:
                    self.statement(item, ind)
        elif alt is not None:
            if alt.type == "preproc_else":
                for item in alt.named_children:
                    self.statement(item, ind)
            else:  # preproc_elif
                self.s_preproc_if(alt, ind)

    def s_preproc_call(self, n: Node, ind: int) -> None:
        return

    def s_preproc_def(self, n: Node, ind: int) -> None:
        return  # a #define inside a body: its uses are expanded where they are

    def s_preproc_function_def(self, n: Node, ind: int) -> None:
        return

    def s_empty_statement(self, n: Node, ind: int) -> None:
        return

    # --- assignments -----------------------------------------------------------------
    def assign_stmt(self, e: Node) -> str:
        left, right = _unparen(e.child_by_field_name("left")), e.child_by_field_name("right")
        op = _text(e.child_by_field_name("operator"))
        if right.type == "assignment_expression":  # a = b = c
            inner = self.assign_expr(right)
        else:
            inner = self.expr(right)
        if op != "=":
            inner = self.binop(_ASSIGN_OPS[op], self.expr(left), inner)
        loc = self.local(_text(left)) if left.type == "identifier" else None
        if loc is not None:
            inner = self.typed_value(loc, right, inner)
        return self.store(left, inner)

    def typed_value(self, loc: _Local, node: Node | None, value: str) -> str:
        """A call's value stored in a pointer local takes the local's type (an
        untyped allocation becomes memory of that type)."""
        if node is None or node.type != "call_expression" or "*" not in loc.ctype \
                or "(" in loc.ctype:
            return value
        pointee = _norm_type(loc.ctype)
        pointee = pointee[:-1].strip() if pointee.endswith("*") else ""
        return f"rt.typed({value}, {pointee!r})" if pointee else value

    def store(self, left: Node, value: str) -> str:
        if left.type == "parenthesized_expression":
            return self.store(left.named_children[0], value)
        if left.type == "pointer_expression" and left.children[0].type == "*":
            return f"rt.store({self.expr(left.child_by_field_name('argument'))}, {value})"
        if left.type in ("identifier", "field_expression", "subscript_expression"):
            return f"{self.place(left)} = {value}"
        fn = left.child_by_field_name("function") if left.type == "call_expression" else None
        if fn is not None and fn.type == "identifier" and not self.names.primitive(_text(fn)) \
                and self.names.function_macro(_text(fn)) is not None:
            # `unix_peer(ska) = skb`: a macro that names a place, expanded in place
            from analyzer.model.macros import expand_text

            names = self.names
            text = expand_text(self.written(left).decode(errors="replace"), lambda n: None
                               if names.primitive(n) else names.function_macro(n))
            return self.store(_parse_expression(text, left, self), value)
        raise self.fail(left, "an assignment target")

    def place(self, n: Node) -> str:
        """A Python assignable expression for an identifier, member or element."""
        if n.type == "identifier":
            name = _text(n)
            loc = self.local(name, write=True)
            if loc is not None:
                return f"{loc.py}.v" if loc.cell else loc.py
            if self.names.is_global(name):
                return f"G.{field_name(name)}"
            raise self.fail(n, f"an assignment to {name}, which is neither local nor global")
        return self.expr(n)

    def assign_expr(self, e: Node) -> str:
        """An assignment used as a value: ``(x := v)`` or ``rt.store(&place, v)``."""
        left, right = _unparen(e.child_by_field_name("left")), e.child_by_field_name("right")
        op = _text(e.child_by_field_name("operator"))
        value = self.assign_expr(right) if right.type == "assignment_expression" \
            else self.expr(right)
        if op != "=":
            value = self.binop(_ASSIGN_OPS[op], self.expr(left), value)
        loc = self.local(_text(left), write=True) if left.type == "identifier" else None
        if loc is not None and not loc.cell:
            return f"({loc.py} := {value})"
        return f"rt.store({self.address(left)}, {value})"

    def update_stmt(self, e: Node) -> str:
        op = "+" if "++" in _text(e) else "-"
        arg = e.child_by_field_name("argument")
        return self.store(arg, f"{self.expr(arg)} {op} 1")

    # --- expressions --------------------------------------------------------------------
    def expr(self, n: Node) -> str:
        handler = getattr(self, f"e_{n.type}", None)
        if handler is None or n.is_error:
            raise self.fail(n, f"expression {n.type}")
        return handler(n)

    def e_parenthesized_expression(self, n: Node) -> str:
        inner = [c for c in n.named_children if c.type != "comment"]
        if len(inner) != 1:
            raise self.fail(n, "a parenthesized expression")
        if inner[0].type == "compound_statement":
            return self.statement_expression(n)
        return f"({self.expr(inner[0])})"

    def statement_expression(self, n: Node) -> str:
        """``({ decls; stmts; value; })``: a nested function of this one that
        runs the statements and returns the last expression's value."""
        text = self.written(n).decode(errors="replace")
        line = self.at_line or self.cur_line or n.start_point.row + 1
        name = self.fresh("se")
        child = _expansion(self, name, text, "block", line, n, "a statement expression")
        lines = child.nested(name, "block")
        self.prelude.extend((indent + 1, t, ln) for indent, t, ln in lines)
        return f"{name}()"

    def e_number_literal(self, n: Node) -> str:
        try:
            return str(c_int(_text(n)))
        except ValueError:
            raise self.fail(n, "a number") from None

    def e_char_literal(self, n: Node) -> str:
        body = _text(n)[1:-1]
        s = decode_c_string(body)
        if len(s) != 1:
            raise self.fail(n, "a character literal")
        return str(ord(s))

    def e_string_literal(self, n: Node) -> str:
        return f"rt.S({self.string_value(n)!r})"

    def string_value(self, n: Node) -> str:
        parts = [c for c in n.named_children if c.type in ("string_content", "escape_sequence")]
        return decode_c_string("".join(_text(c) for c in parts))

    def e_concatenated_string(self, n: Node) -> str:
        return f"rt.S({self.joined_string(n)!r})"

    def joined_string(self, n: Node, depth: int = 0) -> str:
        """Adjacent literals, and macros that stand for literals (``KERN_INFO
        "text"``: KERN_INFO is ``KERN_SOH "6"``), as one string."""
        pieces = []
        for c in n.named_children:
            if c.type == "string_literal":
                pieces.append(self.string_value(c))
            elif c.type == "identifier" and _text(c) == "__func__":
                pieces.append(self.fname)
            elif c.type == "identifier" and depth < 8 and self.names.macro(_text(c)):
                body = self.names.macro(_text(c))
                parsed = parse(f"char *__s = {body} \"\";\n".encode())
                decl = parsed.root.named_children[0] if parsed.root.named_children else None
                init = decl.child_by_field_name("declarator") if decl is not None else None
                value = init.child_by_field_name("value") if init is not None else None
                if value is None or value.type not in ("concatenated_string", "string_literal"):
                    raise self.fail(c, f"the macro {_text(c)} inside a string")
                pieces.append(self.string_value(value) if value.type == "string_literal"
                              else self.joined_string(value, depth + 1))
            else:
                raise self.fail(c, "a macro inside a string concatenation")
        return "".join(pieces)

    def e_true(self, n: Node) -> str:
        return "1"

    def e_false(self, n: Node) -> str:
        return "0"

    def e_null(self, n: Node) -> str:
        return "None"

    def e_identifier(self, n: Node) -> str:
        name = _text(n)
        loc = self.local(name)
        if loc is not None:
            return f"{loc.py}.v" if loc.cell else loc.py
        return self.name_value(name, n)

    def name_value(self, name: str, n: Node) -> str:
        if name == "NULL":
            return "None"
        if name in ("true", "false"):
            return "1" if name == "true" else "0"
        if name == "__func__":
            return repr(self.fname)
        field_name(name)  # validates
        if self.names.symbol(name):
            return f"F.{field_name(name)}()"
        value = self.names.constant(name)  # macros and enumerators come first
        if value is not None:
            return f"rt.K({name!r}, {int(value)})"
        if self.names.is_global(name):
            return f"G.{field_name(name)}"
        if self.names.is_function(name):
            return f"rt.fn({name!r}, {self.file!r})"
        text = self.names.config_string(name)
        if text is not None:
            return f"rt.S({text!r})"
        body = self.names.macro(name)
        if body and name not in self.expanding:
            self.expanding.add(name)
            try:
                return f"({self.expr(_parse_expression(body, n, self))})"
            finally:
                self.expanding.discard(name)
        return f"rt.unknown({name!r})"

    def members(self, name: str) -> str:
        """``.a.b`` for a member name, through field-alias macros."""
        target = self.names.alias(name) or name
        segs = target.replace("->", ".").split(".")
        out = []
        for seg in segs:  # `skc_u16hashes[1]`: a member and its index
            base, _, index = seg.strip().partition("[")
            out.append("." + field_name(base) + (f"[{int(index.rstrip(']'))}]" if index else ""))
        return "".join(out)

    def e_field_expression(self, n: Node) -> str:
        arg = n.child_by_field_name("argument")
        fld = _text(n.child_by_field_name("field"))
        return f"{self.expr(arg)}{self.members(fld)}"

    def e_subscript_expression(self, n: Node) -> str:
        arg = n.child_by_field_name("argument")
        index = n.child_by_field_name("index")
        return f"{self.expr(arg)}[{self.expr(index)}]"

    def e_conditional_expression(self, n: Node) -> str:
        c = self.expr(n.child_by_field_name("condition"))
        b = self.expr(n.child_by_field_name("alternative"))
        if n.child_by_field_name("consequence") is None:  # GNU C `x ?: y`: x once
            return f"({c} or {b})"
        a = self.expr(n.child_by_field_name("consequence"))
        return f"({a} if {c} else {b})"

    def e_comma_expression(self, n: Node) -> str:
        left = self.expr(n.child_by_field_name("left"))
        right = self.expr(n.child_by_field_name("right"))
        return f"({left}, {right})[-1]"

    def e_assignment_expression(self, n: Node) -> str:
        return self.assign_expr(n)

    def e_update_expression(self, n: Node) -> str:
        arg = n.child_by_field_name("argument")
        op = "+" if "++" in _text(n) else "-"
        prefix = n.children[0].type in ("++", "--")
        loc = self.local(_text(arg), write=True) if arg.type == "identifier" else None
        if loc is not None and not loc.cell:
            walrus = f"({loc.py} := {loc.py} {op} 1)"
            return walrus if prefix else f"rt.first({loc.py}, {walrus})"
        return f"rt.bump({self.address(arg)}, {op}1, {prefix})"

    def binop(self, op: str, a: str, b: str) -> str:
        if op == "/":
            return f"rt.cdiv({a}, {b})"
        if op == "%":
            return f"rt.cmod({a}, {b})"
        return f"{a} {op} {b}"

    def e_binary_expression(self, n: Node) -> str:
        op = _text(n.child_by_field_name("operator"))
        left = n.child_by_field_name("left")
        ctype = self.cast_type(left) if op in ("-", "+", "*", "&") else None
        if ctype is not None:  # `(gid_t) -1`: the grammar reads a cast to a typedef as `gid_t - 1`
            right = n.child_by_field_name("right")
            if op == "&":
                value = self.address(right)
            else:
                operand = self.expr(right)
                value = {"-": f"(-{operand})", "+": operand, "*": f"rt.deref({operand})"}[op]
            return f"rt.cast_int({value}, {ctype!r})"
        a = self.expr(left)
        b = self.expr(n.child_by_field_name("right"))
        if op == "&&":
            return f"(bool({a}) and bool({b}))"
        if op == "||":
            return f"(bool({a}) or bool({b}))"
        if op in ("/", "%") or op in _BINOPS:
            return f"({self.binop(op, a, b)})"
        raise self.fail(n, f"the operator {op}")

    def cast_type(self, n: Node) -> str | None:
        """The integer typedef of ``(T)`` when ``n`` is one in parentheses, else None."""
        if n.type != "parenthesized_expression" or len(n.named_children) != 1:
            return None
        inner = n.named_children[0]
        if inner.type != "identifier" or self.local(_text(inner)) \
                or not self.names.is_type(_text(inner)):
            return None
        return _norm_type(_text(inner))

    def e_unary_expression(self, n: Node) -> str:
        op = _text(n.child_by_field_name("operator"))
        a = self.expr(n.child_by_field_name("argument"))
        table = {"!": f"(not {a})", "-": f"(-{a})", "~": f"(~{a})", "+": f"(+{a})"}
        if op not in table:
            raise self.fail(n, f"the operator {op}")
        return table[op]

    def e_pointer_expression(self, n: Node) -> str:
        arg = n.child_by_field_name("argument")
        if n.children[0].type == "*":
            return f"rt.deref({self.expr(arg)})"
        return self.address(arg)

    def address(self, arg: Node) -> str:
        """``&arg``."""
        if arg.type == "parenthesized_expression":
            return self.address(arg.named_children[0])
        if arg.type == "identifier":
            name = _text(arg)
            loc = self.local(name)
            if loc is not None:
                if not loc.cell and name not in self.locals and not self._aggregate(loc.ctype):
                    raise self.fail(arg, f"the address of the caller's local {name} "
                                    "inside a macro")
                return loc.py  # a cell, or an object that is its own address
            if self.names.is_global(name):
                return f"rt.gref(G, {name!r})"
            if self.names.is_function(name):
                return f"rt.fn({name!r}, {self.file!r})"
            raise self.fail(arg, f"the address of {name}")
        if arg.type == "field_expression":
            base = self.expr(arg.child_by_field_name("argument"))
            members = self.members(_text(arg.child_by_field_name("field")))
            head, last = members.rsplit(".", 1)
            return f"rt.ref({base}{head}, {last!r})"
        if arg.type == "subscript_expression":
            return f"rt.iref({self.expr(arg.child_by_field_name('argument'))}, " \
                   f"{self.expr(arg.child_by_field_name('index'))})"
        if arg.type == "pointer_expression" and arg.children[0].type == "*":
            return self.expr(arg.child_by_field_name("argument"))
        if arg.type == "call_expression":
            expanded = self.expansion_node(arg)
            if expanded is not None:  # &list_next_rcu(p): the place the macro names
                return self.address(expanded)
            return self.expr(arg)
        if arg.type == "compound_literal_expression":
            return self.expr(arg)
        raise self.fail(arg, "an address-of")

    def expansion_node(self, call: Node) -> Node | None:
        """A call of a function-like macro, expanded and parsed as one expression
        (for a place: ``list_next_rcu(p)`` is ``(*((T **)(&(p)->next)))``)."""
        fn = call.child_by_field_name("function")
        if fn is None or fn.type != "identifier" or self.names.primitive(_text(fn)) \
                or self.names.function_macro(_text(fn)) is None:
            return None
        from analyzer.model.macros import expand_text

        names = self.names
        text = expand_text(self.written(call).decode(errors="replace"),
                           lambda n: None if names.primitive(n) else names.function_macro(n))
        node = _parse_expression(_plain_typeof(text), call, self)
        self._foreign.append(node)
        return node

    def e_cast_expression(self, n: Node) -> str:
        tdesc = n.child_by_field_name("type")
        value = self.expr(n.child_by_field_name("value"))
        text = re.sub(r"\s+", " ", _text(tdesc))
        m = re.match(r"(?:const )?(?:struct|union) (\w+) ?\*$", text)
        if m:
            return f"rt.cast({value}, {m.group(1)!r})"
        if "*" not in text and text not in ("void", "bool", "_Bool"):
            return f"rt.cast_int({value}, {_norm_type(text)!r})"
        if "*" in text:
            pointee = _norm_type(text)[:-1].strip()
            return f"rt.to_ptr({value}, {pointee!r})"
        return value

    def e_compound_literal_expression(self, n: Node) -> str:
        """``(T){ .a = x }`` or ``(T){ x }``: a new object of T with those members."""
        ctype = _norm_type(_text(n.child_by_field_name("type")))
        tname = re.sub(r"^(?:struct|union)\s+", "", ctype)
        if not IDENT.match(tname):
            raise self.fail(n, "a compound literal's type")
        pairs = []
        items = [c for c in n.child_by_field_name("value").named_children if c.type != "comment"]
        for pos, item in enumerate(items):
            if item.type != "initializer_pair":  # (kuid_t){ value }: the pos-th member
                if item.type == "initializer_list":
                    raise self.fail(item, "a nested compound literal member")
                pairs.append(f"({pos}, {self.expr(item)})")
                continue
            des = item.children_by_field_name("designator")
            if len(des) != 1 or des[0].type != "field_designator":
                raise self.fail(item, "a compound literal member")
            member = field_name(_text(des[0].named_children[0]))
            pairs.append(f"({member!r}, {self.expr(item.child_by_field_name('value'))})")
        return f"rt.compound({tname!r}, [{', '.join(pairs)}])"

    def e_offsetof_expression(self, n: Node) -> str:
        """``offsetof(T, m)``, ``offsetof(T, a.b)``: the byte offset, from T's layout
        (the member path is read from the text: the grammar keeps one name)."""
        tdesc = n.child_by_field_name("type")
        text = self.written(n).decode(errors="replace")
        m = re.fullmatch(r"\s*offsetof\s*\((.*),([^,]*)\)\s*", text, re.S)
        if tdesc is None or m is None:
            return f"rt.unknown({' '.join(text.split())!r})"
        path = "".join(m.group(2).split())
        return f"rt.offsetof({_norm_type(_text(tdesc))!r}, {path!r})"

    def e_alignof_expression(self, n: Node) -> str:
        tdesc = n.child_by_field_name("type")
        if tdesc is None:
            raise self.fail(n, "__alignof__ of an expression")
        return f"rt.alignof({_norm_type(_text(tdesc))!r})"

    def e_sizeof_expression(self, n: Node) -> str:
        tdesc = n.child_by_field_name("type")
        if tdesc is not None:
            return f"rt.sizeof({_norm_type(_text(tdesc))!r})"
        value = n.child_by_field_name("value")
        inner = value
        while inner.type == "parenthesized_expression" and len(inner.named_children) == 1:
            inner = inner.named_children[0]
        if inner.type in ("string_literal", "concatenated_string"):  # sizeof("text")
            return f"rt.SizeOf('char []', {len(eval_string(self, inner)) + 1})"
        if inner.type == "identifier" and not self.local(_text(inner)) \
                and self.names.is_type(_text(inner)):
            return f"rt.sizeof({_text(inner)!r})"  # sizeof (s32): a type in parentheses
        ctype = self.type_of(value)
        loc = self.local(_text(inner)) if inner.type == "identifier" else None
        if loc is not None and loc.ctype.endswith("[]"):  # gid_t urange[2]: the whole array
            elem = _norm_type(loc.ctype[:-2])
            return f"rt.SizeOf({ctype!r}, {loc.py}.count * rt.sizeof({elem!r}))"
        if inner.type == "identifier" and self.names.is_global(_text(inner)):
            # a global array's count is the object's (records give `char` for `char x[]`)
            return f"rt.sizeof_value({self.expr(inner)}, {_text(inner)!r}, {ctype!r})"
        if ctype is None:
            return f"rt.unknown({('sizeof ' + _text(value))!r})"
        return f"rt.sizeof({ctype!r})"

    def type_of(self, n: Node) -> str | None:
        """The C type of a small expression (for ``sizeof(*wq)``)."""
        while n.type == "parenthesized_expression":
            n = n.named_children[0]
        if n.type == "cast_expression":
            return _norm_type(_text(n.child_by_field_name("type")))
        if n.type == "identifier":
            loc = self.local(_text(n))
            return _norm_type(loc.ctype) if loc else self.names.global_type(_text(n))
        if n.type == "pointer_expression" and n.children[0].type == "*":
            inner = self.type_of(n.child_by_field_name("argument"))
            return inner[:-1].strip() if inner and inner.endswith("*") else None
        if n.type == "field_expression":
            base = self.type_of(n.child_by_field_name("argument"))
            m = re.search(r"(?:struct|union) (\w+)", base or "")
            if not m:
                return None
            ftype = self.names.field_type(m.group(1), _text(n.child_by_field_name("field")))
            return _norm_type(ftype) if ftype else None
        return None

    # --- calls ---------------------------------------------------------------------------
    def e_call_expression(self, n: Node) -> str:
        fn = n.child_by_field_name("function")
        args_node = n.child_by_field_name("arguments")
        if fn.type == "identifier":
            return self.direct_call(_text(fn), n, args_node)
        cast = self.call_as_cast(fn, args_node)
        if cast is not None:
            return cast
        args = self.args(args_node, n)
        if fn.type == "field_expression":
            holder = self.expr(fn.child_by_field_name("argument"))
            members = self.members(_text(fn.child_by_field_name("field")))
            head, last = members.rsplit(".", 1)
            expr = re.sub(r"\s+", "", _text(fn))
            return f"rt.via({holder}{head}, {last!r}, {expr!r})({', '.join(args)})"
        return f"rt.deref({self.expr(fn)})({', '.join(args)})"

    def call_as_cast(self, fn: Node, args_node: Node) -> str | None:
        """``(__be16)(x)``: a cast to a typedef that the grammar reads as a call;
        ``(__u16)(__be16)(x)``, two casts read as a call of a call."""
        if fn.type == "call_expression":
            inner_fn = fn.child_by_field_name("function")
            inner_args = [a for a in fn.child_by_field_name("arguments").named_children
                          if a.type != "comment"]
            t1, t2 = self._cast_type(inner_fn), None
            if len(inner_args) == 1 and inner_args[0].type == "identifier" \
                    and not self.local(_text(inner_args[0])) \
                    and self.names.is_type(_text(inner_args[0])):
                t2 = _text(inner_args[0])
            if t1 is not None and t2 is not None:
                value = self.call_as_cast(_synthetic_paren(inner_args[0]), args_node)
                if value is not None:
                    return value if t1 == "__auto_type" else f"rt.cast_int({value}, {t1!r})"
        inner = fn
        while inner.type == "parenthesized_expression" and len(inner.named_children) == 1:
            inner = inner.named_children[0]
        if inner is fn or inner.type != "identifier" or self.local(_text(inner)):
            return None
        tname = _text(inner)
        if tname != "__auto_type" and not self.names.is_type(tname):
            return None
        args = [a for a in args_node.named_children if a.type != "comment"]
        if len(args) != 1:
            return None
        value = self.expr(args[0])
        return value if tname == "__auto_type" else f"rt.cast_int({value}, {tname!r})"

    def _cast_type(self, fn: Node) -> str | None:
        """The type of ``(T)`` when ``fn`` is a parenthesized type name."""
        inner = fn
        while inner.type == "parenthesized_expression" and len(inner.named_children) == 1:
            inner = inner.named_children[0]
        if inner is fn or inner.type != "identifier" or self.local(_text(inner)):
            return None
        name = _text(inner)
        return name if name == "__auto_type" or self.names.is_type(name) else None

    def args(self, args_node: Node, call: Node) -> list[str]:
        if args_node.has_error:
            raise self.fail(call, "a call with unparsable arguments")
        return [self.expr(a) for a in args_node.named_children if a.type != "comment"]

    def direct_call(self, name: str, n: Node, args_node: Node) -> str:
        loc = self.local(name)
        if loc is not None:
            return f"rt.deref({self.e_identifier(n.child_by_field_name('function'))})" \
                   f"({', '.join(self.args(args_node, n))})"
        if name in _CONFIG_TESTS:  # IS_ENABLED(CONFIG_X): the configuration decides
            return self.config_test(name, args_node)
        if name == "__model_offsetof":  # offsetof(T, a[i]), see reparsed()
            ctype, path = [self.string_value(a) for a in args_node.named_children]
            m = re.fullmatch(r"(.*)\[([^\]]*)\]", path.strip())
            if m is None:
                return f"rt.offsetof({ctype!r}, {path!r})"
            index = self.expr(_parse_expression(m.group(2), n, self))
            return f"rt.offsetof({ctype!r}, {m.group(1).strip()!r}, {index})"
        prim = self.names.primitive(name)
        if prim is None and name not in self.expanding:
            mac = self.names.function_macro(name)
            if mac is not None:
                return self.expand(mac, n, args_node)
        if prim is None and not self.names.is_function(name) and name not in self.expanding:
            alias = self.names.macro(name)  # #define cpu_to_be16 __cpu_to_be16
            if alias and alias.isidentifier() and alias != name:
                self.expanding.add(name)
                try:
                    return self.direct_call(alias, n, args_node)
                finally:
                    self.expanding.discard(name)
        prim = prim or {}
        if prim.get("types") or args_node.has_error:
            args = self.macro_args(name, args_node, prim, n)
        else:
            nodes = [a for a in args_node.named_children if a.type != "comment"]
            lvalues = set(prim.get("lvalue", []))
            args = [self.address(a) if i in lvalues else self.expr(a)
                    for i, a in enumerate(nodes)]
        return f"F.{field_name(name)}({', '.join(args)})"

    def macro_args(self, name: str, args_node: Node, prim: dict, call: Node) -> list[str]:
        """Arguments of a macro that takes type names (``container_of``)."""
        from analyzer.parse import _split_args

        inner = self.written(args_node)[1:-1]  # as written: parse may rewrite type names
        types = set(prim.get("types", []))
        out = []
        for i, raw in enumerate(_split_args(inner)):
            text = raw.decode(errors="replace").strip()
            if i in types:
                m = re.fullmatch(r"(?:struct|union)[\s_]+(\w+)|(\w+)", text)
                if not m:
                    raise self.fail(call, f"the type argument of {name}")
                out.append(repr(m.group(1) or m.group(2)))
            elif i in set(prim.get("members", [])):
                if not re.fullmatch(r"[\w.]+", text):
                    raise self.fail(call, f"the member argument of {name}")
                first, _, rest = text.partition(".")  # sk_bind_node: __sk_common.skc_bind_node
                first = (self.names.alias(first) or first).replace("->", ".")
                out.append(repr(first + ("." + rest if rest else "")))
            else:
                out.append(self.expr(_parse_expression(text, call, self)))
        return out


    # --- macros ----------------------------------------------------------------------------
    def config_test(self, name: str, args_node: Node) -> str:
        """``IS_ENABLED(CONFIG_X)`` and friends: decided by the configuration."""
        arg = self.arg_text(args_node).strip()
        if not IDENT.match(arg):
            raise self.fail(args_node, f"the argument of {name}")
        value = int(bool(self.names.enabled(f"{name}({arg})")))
        return f"rt.K({f'{name}({arg})'!r}, {value})"

    def arg_text(self, args_node: Node) -> str:
        """The text between a call's parentheses as written (before rewrites)."""
        return self.written(args_node)[1:-1].decode(errors="replace")

    def written(self, node: Node) -> bytes:
        """A node's text as the file has it (parse rewrites undone), when the
        node is of this function's tree; else as parsed (an expansion's)."""
        root, mine = node, self.node
        while root.parent is not None:
            root = root.parent
        while mine.parent is not None:
            mine = mine.parent
        if self.raw is not None and root == mine:
            return self.raw[node.start_byte:node.end_byte]
        return node.text

    def expand(self, mac, call: Node, args_node: Node) -> str:
        """A function-like macro used here: its body with the arguments put in,
        translated as a nested function of this one (it sees the caller's
        locals), run as a step of its own by ``rt.mcall``."""
        from analyzer.model.macros import shape, split_args, substitute

        try:
            text = substitute(mac.params, mac.body, split_args(self.arg_text(args_node)),
                              mac.name)
        except AnalyzerError as e:
            raise self.fail(call, f"the use of macro {mac.name} ({e})") from None
        text = _plain_typeof(text)
        kind = shape(text)
        line = self.at_line or self.cur_line or call.start_point.row + 1
        where = f"{mac.name!r}, {mac.file!r}, {int(mac.line)}"
        if kind == "empty":
            return f"rt.mcall({where}, None, True)"
        name = self.fresh("m")
        self.expanding.add(mac.name)
        try:
            child = _expansion(self, name, text, kind, line, call, mac.name)
            lines = child.nested(name, kind)
        finally:
            self.expanding.discard(mac.name)
        self.prelude.extend((indent + 1, t, ln) for indent, t, ln in lines)
        return f"rt.mcall({where}, {name}, {kind == 'do'})"

    def nested(self, pyname_: str, kind: str) -> list[tuple[int, str, int]]:
        """This expansion as ``def NAME(): ...`` lines (see :meth:`expand`)."""
        self._addr_taken, self._declaring = set(), {}
        self.scan()
        body = self.node.child_by_field_name("body")
        if self.labels:
            raise self.fail(body, "a label inside a macro")
        self._declaring = getattr(self, "_declaring", {})
        items = [c for c in body.named_children if c.type != "comment"]
        last = items[-1] if items and kind in ("block", "expr") else None
        self.block_items(items[:-1] if last is not None else items, 1)
        if last is not None:
            if last.type == "expression_statement" and last.named_children:
                self.emit(1, f"return {self.expr(last.named_children[0])}", last)
            elif last.type == "return_statement" and kind == "expr":
                value = last.named_children[0] if last.named_children else None
                self.emit(1, f"return {self.expr(value)}" if value is not None else
                          "return None", last)
            else:
                self.statement(last, 1)
                self.emit(1, "return None", last)
        head = [(0, f"def {pyname_}():", self.at_line)]
        if self.nonlocals:
            head.append((1, "nonlocal " + ", ".join(sorted(self.nonlocals)), self.at_line))
        self.header_end = 0
        return head + self.assembled()

    def s_return_in_macro(self, n: Node) -> None:
        raise self.fail(n, "a return inside a macro (it would return from the caller)")


_OFFSETOF = re.compile(r"\boffsetof\s*\(\s*((?:struct|union)\s+\w+|\w+)\s*,\s*"
                       r"(\w+\s*(?:\.\s*\w+|\[[^()\]]*\])[\w.\s\[\]]*)\)")
_CONFIG_TESTS = frozenset({"IS_ENABLED", "IS_BUILTIN", "IS_MODULE", "IS_REACHABLE",
                           "config_enabled"})
_TYPEOF = re.compile(r"\b(?:__typeof__|__typeof|typeof)\s*\(")


def _plain_typeof(text: str) -> str:
    """``typeof(x)`` becomes ``__auto_type`` (a type the model does not need:
    values keep their own), so that ``const typeof(*p) *q = (p);`` parses;
    ``typeof(struct sock *)`` is that type."""
    out, pos = [], 0
    for m in _TYPEOF.finditer(text):
        if m.start() < pos:
            continue
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            j += 1
        inner = text[m.end():j - 1].strip()
        is_type = re.fullmatch(r"(?:const\s+)?(?:(?:struct|union|enum)\s+\w+|unsigned\s+\w+|"
                               r"int|long|short|char|u8|u16|u32|u64|s8|s16|s32|s64)"
                               r"[\s*]*", inner)
        out.append(text[pos:m.start()] + (inner if is_type else "__auto_type"))
        pos = j
    out.append(text[pos:])
    return "".join(out)


def _expansion(parent: _Translator, name: str, text: str, kind: str, line: int,
               call: Node, macro: str) -> _Translator:
    """A child translator over one macro expansion, parsed as a function body."""
    inner = text.strip()
    if kind == "block":
        while inner.startswith("(") and inner.endswith(")"):
            inner = inner[1:-1].strip()
        inner = inner[1:-1]  # the statements between the braces
        src = f"void {name}(void) {{ {inner}\n}}\n"
    elif kind == "do":
        src = f"void {name}(void) {{ {inner};\n}}\n"
    else:
        src = f"void {name}(void) {{ return ({inner});\n}}\n"
    parsed = parse(src.encode())
    fnode = next((c for c in parsed.root.named_children if c.type == "function_definition"),
                 None)
    if fnode is None or fnode.has_error:
        if kind == "expr" and call.parent is not None \
                and call.parent.type == "expression_statement":
            return _expansion(parent, name, text, "do", line, call, macro)
        raise parent.fail(call, f"the expansion of macro {macro}: {text[:80]!r}")
    child = _Translator(fnode, parent.file, parsed.rewrites, parent.names, src.encode(),
                        parent=parent, at_line=line)
    child.fname = parent.fname
    return child


def eval_string(tr: _Translator, n: Node) -> str:
    """The characters of a string literal or of adjacent literals."""
    if n.type == "string_literal":
        return tr.string_value(n)
    return "".join(tr.string_value(c) for c in n.named_children if c.type == "string_literal")


class _synthetic_paren:  # noqa: N801 - stands in for a parenthesized_expression node
    """``(T)`` around a type name found as an argument (see call_as_cast)."""

    type = "parenthesized_expression"

    def __init__(self, inner: Node):
        self.named_children = [inner]


def _unparen(n: Node) -> Node:
    """``(x)`` as an assignment target is ``x``."""
    while n.type == "parenthesized_expression" and len(n.named_children) == 1:
        n = n.named_children[0]
    return n


def _escapes(items: list[Node]) -> bool:
    """Does a ``break``/``continue`` in ``items`` leave them (not inside a loop
    or switch of their own)?"""
    stack = list(items)
    while stack:
        n = stack.pop()
        if n.type in ("break_statement", "continue_statement"):
            return True
        if n.type in ("for_statement", "while_statement", "do_statement",
                      "switch_statement"):
            continue
        stack.extend(n.named_children)
    return False


def _norm_type(ctype: str) -> str:
    t = re.sub(r"\b(const|volatile)\b", " ", ctype)
    t = re.sub(r"\s+", " ", t.replace("*", " * ")).strip()
    return re.sub(r"\* (?=\*)", "*", t)


def _parse_expression(text: str, call: Node, tr: _Translator) -> Node:
    """Parse one macro argument on its own (line numbers do not matter here)."""
    parsed = parse(b"void __arg(void) { (" + text.encode() + b"); }\n")
    body = parsed.root.named_children[0].child_by_field_name("body") \
        if parsed.root.named_children else None
    stmt = body.named_children[0] if body is not None and body.named_children else None
    if stmt is None or stmt.has_error or stmt.type != "expression_statement":
        raise tr.fail(call, f"the macro argument {text!r}")
    paren = stmt.named_children[0]
    return paren.named_children[0]


def translate_function(node: Node, file: str, rewrites: tuple[Rewrite, ...],
                       names: Names, raw: bytes | None = None) -> Translation:
    """The Python translation of one C ``function_definition``.

    Raises :class:`Untranslatable` (naming function, file and line) on a
    construct it does not handle.
    """
    return _Translator(node, file, rewrites, names, raw).run()
