"""Code excerpts as linked HTML: Pygments tokens, their syntactic roles, lines that ran.

Takes the text of an excerpt (source lines of one function, struct or table,
with their first line number), parses it with tree-sitter (through
:func:`analyzer.parse.parse`, so kernel macros read as the extraction reads
them) and gives each identifier token of the Pygments C lexer a :class:`Role`:
a call, a member access and the struct it belongs to (typed through the
receiver expression), a designator of an initializer, a struct tag, a typedef
name, a label, a declaration or a plain name.  A resolver
(:class:`analyzer.docs.xref.Xref`) turns roles into links and cards; this
module only reads syntax.

:func:`branches` marks, from the syntax tree and the lines a run executed, the
arm taken at each ``if``/``switch`` and each ``goto`` that jumped.
:func:`render` writes the block as the HTML of ``pymdownx.highlight``'s table
layout (so the theme styles it), each line in a span with the classes ``ran`` /
``not-ran`` and ``hll`` for the lecture's cited lines.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html import escape

from pygments.lexers.c_cpp import CLexer
from pygments.token import STANDARD_TYPES, Token
from tree_sitter import Node

from analyzer.parse import Rewrite, parse
from analyzer.records import base_struct

__all__ = ["Tok", "Role", "Ref", "Types", "Excerpt", "Block", "analyse", "branches",
           "render", "prepare", "NAME_CLASSES", "C_KEYWORDS", "is_identifier_token"]

#: C keywords and base types: never a link (Pygments marks types ``kt``, keywords ``k``)
_KEYWORDS = """
auto break case char const continue default do double else enum extern float for goto if
inline int long register restrict return short signed sizeof static struct switch typedef
union unsigned void volatile while _Bool _Complex _Alignas _Alignof _Atomic _Generic
_Noreturn _Static_assert _Thread_local asm __asm__ typeof __typeof__ __attribute__
"""
C_KEYWORDS = frozenset(_KEYWORDS.split())

#: Pygments short classes of name tokens (an identifier that may be linked)
NAME_CLASSES = frozenset({"n", "nf", "nc", "nl", "nb", "nv", "nx", "bp", "nn", "nd", "no", "kt"})


def is_identifier_token(css: str, text: str) -> bool:
    """Whether a Pygments token (its short class and text) is an identifier to link."""
    return (css in NAME_CLASSES and text not in C_KEYWORDS
            and re.fullmatch(r"[A-Za-z_]\w*", text) is not None)


@dataclass(frozen=True)
class Tok:
    """A Pygments token of the excerpt: char offset, text, short CSS class."""

    start: int
    text: str
    css: str

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass(frozen=True)
class Role:
    """What an identifier is, from syntax alone.

    ``kind``: ``fn-def`` (the function defined), ``call`` (a direct call),
    ``icall`` (the member or variable an indirect call goes through; ``expr``
    the callee expression), ``member`` (``x->f``, ``x.f``; ``struct`` the
    struct it was typed to, "" when the receiver's type is not known),
    ``designator`` (``.f =`` in an initializer), ``field-def`` (a member being
    declared in a struct definition), ``tag`` (``struct NAME``), ``typename``,
    ``label`` / ``goto`` (``out:`` and ``goto out``), ``param-def``,
    ``var-def``, ``macro`` (the name of a macro use the parser rewrote),
    ``value`` (the value of a designator, ``.create = inet_create``), ``name``
    (any other use of a name; ``expr`` the function or macro it is an argument
    of).  ``fn-def`` of a macro-defined function has the function's name in
    ``expr`` (``SYSCALL_DEFINE3(socket, ...)`` defines ``SyS_socket``).
    """

    kind: str
    struct: str = ""
    path: str = ""  # the member's dotted path inside ``struct`` ("ucopy.task")
    expr: str = ""


@dataclass(frozen=True)
class Ref:
    """Where an identifier leads: a card id and/or a URL (relative to the page)."""

    id: str = ""
    href: str = ""
    title: str = ""


class Types:
    """What typing member accesses needs; :class:`analyzer.docs.xref.Xref` answers."""

    def var_type(self, name: str) -> str | None:  # a local, parameter or global
        return None

    def member_type(self, struct: str, path: str) -> tuple[str, str, str] | None:
        """``(owner struct, path in it, C type)`` of member ``path`` of ``struct``
        (through field-alias macros and anonymous members), or None."""
        return None

    def return_type(self, function: str) -> str | None:
        return None

    def struct_of(self, ctype: str) -> str:
        """The struct a type names (through typedefs), "" if none."""
        return base_struct(ctype)

    def member_owner(self, name: str) -> str:
        """The struct that has a member ``name`` when exactly one has it, else ""
        (for receivers whose type is not known: ``current->nsproxy``)."""
        return ""

    def macro_params(self, name: str) -> tuple[str, ...] | None:
        """The parameters of a function-like macro (``("ptr", "type", "member")``)."""
        return None


@dataclass(frozen=True)
class Excerpt:
    """One code block: where it is, what the lecture cites, what ran."""

    file: str
    start: int
    lines: tuple[str, ...]
    kind: str = "function"  # function | struct | table | global | other
    name: str = ""  # the function, struct or table it shows
    struct: str = ""  # for tables: the struct type of the initializer
    cited: frozenset[int] = frozenset()
    executed: frozenset[int] | None = None


@dataclass
class Block:
    """An analysed excerpt: its tokens (by line) and the role of each identifier."""

    excerpt: Excerpt
    text: str
    tokens: list[Tok]
    roles: dict[int, Role] = field(default_factory=dict)  # token start -> role
    labels: dict[str, int] = field(default_factory=dict)  # label -> absolute line
    branch: dict[int, tuple[str, str]] = field(default_factory=dict)  # line -> (class, why)
    #: line -> the first line of the statement on it (lines that can run: not blank
    #: lines, comments, braces, labels, signatures or declarations without a value)
    statements: dict[int, int] = field(default_factory=dict)

    def line_of(self, offset: int) -> int:
        return self.excerpt.start + self.text.count("\n", 0, offset)


def prepare(lines: Iterable[str]) -> str:
    """The excerpt's text as shown: tabs as four spaces, trailing blanks cut."""
    return "\n".join(x.replace("\t", "    ").rstrip() for x in lines) + "\n"


_LEXER = CLexer(stripnl=False, ensurenl=False)


def tokenize(text: str) -> list[Tok]:
    """Pygments tokens with their offsets and short classes (a token never spans lines)."""
    out = []
    for start, ttype, value in _LEXER.get_tokens_unprocessed(text):
        css = _css(ttype)
        pos = start
        for part in re.split(r"(\n)", value) if "\n" in value else (value,):
            if part:
                out.append(Tok(pos, part, "" if part == "\n" else css))
                pos += len(part)
    return out


@functools.cache  # a few dozen token types, asked for each token
def _css(ttype) -> str:
    while ttype not in STANDARD_TYPES and ttype is not Token:
        ttype = ttype.parent
    return STANDARD_TYPES.get(ttype, "")


# --- syntactic roles ----------------------------------------------------------------------

_IDENT_NODES = ("identifier", "field_identifier", "type_identifier", "statement_identifier")
#: the parameter names by which a macro takes a type and a member of it
#: (``container_of(ptr, type, member)``, ``list_for_each_entry(pos, head, member)``)
_TYPE_PARAMS, _MEMBER_PARAMS = ("type", "TYPE"), ("member", "MEMBER")


class _Analyser:
    def __init__(self, block: Block, types: Types, scope: dict[str, str], src: bytes,
                 rewrites: tuple[Rewrite, ...]):
        self.block, self.types, self.scope = block, types, scope
        self.src, self.rewrites = src, rewrites
        self.chars = _char_offsets(src)

    def char(self, byte: int) -> int:
        """The char offset of a byte offset of the parsed text."""
        return byte if self.chars is None else self.chars[min(byte, len(self.chars) - 1)]

    # types of expressions ------------------------------------------------------------
    def var_type(self, name: str) -> str | None:
        return self.scope.get(name) or self.types.var_type(name)

    def expr_type(self, node: Node | None, depth: int = 0) -> str | None:
        if node is None or depth > 12:
            return None
        t = node.type
        if t == "identifier":
            return self.var_type(_text(node))
        if t == "field_expression":
            owner = self.receiver_struct(node, depth)
            if not owner:
                return None
            found = self.types.member_type(owner[0], _join(owner[1], _field_name(node)))
            return found[2] if found else None
        if t == "parenthesized_expression":
            return self.expr_type(node.named_children[0] if node.named_children else None,
                                  depth + 1)
        if t == "cast_expression":
            desc = node.child_by_field_name("type")
            return self._type_text(desc) if desc else None
        if t == "pointer_expression":
            inner = self.expr_type(node.child_by_field_name("argument"), depth + 1)
            if inner is None:
                return None
            return inner + " *" if node.children[0].type == "&" else _deref(inner)
        if t == "subscript_expression":
            inner = self.expr_type(node.child_by_field_name("argument"), depth + 1)
            return _element(inner) if inner else None
        if t == "call_expression":
            return self.call_type(node)
        if t == "conditional_expression":
            return self.expr_type(node.child_by_field_name("consequence"), depth + 1)
        return None

    def call_type(self, node: Node) -> str | None:
        fn = node.child_by_field_name("function")
        if fn is None or fn.type != "identifier":
            return None
        name = _text(fn)
        slots = self.macro_slots(name)
        if slots is not None:  # container_of(p, struct T, m) is a struct T *
            args = node.child_by_field_name("arguments")
            named = args.named_children if args else []
            if len(named) > slots[0]:
                return self._type_arg(named[slots[0]]) + " *"
        return self.types.return_type(name)

    def macro_slots(self, name: str) -> tuple[int, int] | None:
        """(type, member) argument positions of a macro that takes both, from the
        names of its parameters; None for any other name."""
        params = self.types.macro_params(name)
        if not params:
            return None
        ti = next((i for i, p in enumerate(params) if p in _TYPE_PARAMS), -1)
        mi = next((i for i, p in enumerate(params) if p in _MEMBER_PARAMS), -1)
        return (ti, mi) if ti >= 0 and mi >= 0 else None

    def _type_arg(self, node: Node) -> str:
        """A type passed to a macro (``struct socket_alloc``), as written."""
        for r in self.rewrites:
            if r.kind == "typearg" and r.start <= node.start_byte < r.end:
                return r.args[0] if r.args else ""
        return _text(node).replace("struct_", "struct ", 1)

    def _type_text(self, node: Node) -> str:
        return re.sub(r"\s+", " ", _text(node)).strip()

    def receiver_struct(self, node: Node, depth: int = 0) -> tuple[str, str] | None:
        """``(struct, path prefix)`` of a field expression's receiver; when its type
        is not known, the only struct that has the member, if there is one."""
        arg = node.child_by_field_name("argument")
        rtype = self.expr_type(arg, depth + 1)
        if rtype is None:
            owner = self.types.member_owner(_field_name(node))
            return (owner, "") if owner else None
        if rtype.startswith("@"):  # a named anonymous member: "@tcp_sock:ucopy"
            s, _, prefix = rtype[1:].partition(":")
            return s, prefix
        name = self.types.struct_of(rtype)
        return (name, "") if name else None

    # roles ---------------------------------------------------------------------------
    def role(self, node: Node) -> Role:
        parent = node.parent
        ptype = parent.type if parent else ""
        if node.type == "statement_identifier":
            return Role("goto" if ptype == "goto_statement" else "label")
        if node.type == "type_identifier":
            if ptype in ("struct_specifier", "union_specifier", "enum_specifier"):
                return Role("tag", struct=_text(node) if ptype != "enum_specifier" else "")
            return Role("typename")
        if node.type == "field_identifier":
            return self.field_role(node, parent)
        return self.identifier_role(node, parent)

    def field_role(self, node: Node, parent: Node | None) -> Role:
        ptype = parent.type if parent else ""
        if ptype == "field_expression":
            owner = self.receiver_struct(parent)
            path = _join(owner[1], _text(node)) if owner else _text(node)
            kind = "icall" if _called(parent) else "member"
            return Role(kind, owner[0] if owner else "", path,
                        expr=_squash(_text(parent)) if kind == "icall" else "")
        if ptype == "offsetof_expression":
            desc = parent.child_by_field_name("type")
            struct = self.types.struct_of(_text(desc)) if desc else ""
            return Role("member", struct, _text(node))
        if ptype == "field_designator":
            owner = self.designator_struct(parent)
            if owner is None:
                return Role("member", "", _text(node))
            return Role("designator", owner[0], owner[1])
        if ptype in ("field_declaration", "function_declarator", "pointer_declarator",
                     "array_declarator", "parenthesized_declarator", "bitfield_clause"):
            return Role("field-def", self.block.excerpt.name, _text(node))
        return Role("member", "", _text(node))

    def _macro_member(self, node: Node, parent: Node | None) -> Role | None:
        """The member argument of ``container_of(p, struct T, member)`` and its kin."""
        if parent is None or parent.type != "argument_list":
            return None
        call = parent.parent
        fn = call.child_by_field_name("function") if call is not None else None
        slots = self.macro_slots(_text(fn)) if fn is not None else None
        args = parent.named_children
        if slots is None or len(args) <= max(slots) or args[slots[1]] != node:
            return None
        struct = self.types.struct_of(self._type_arg(args[slots[0]]))
        return Role("member", struct, _text(node)) if struct else None

    def iterator_member(self, r: Rewrite, text: str) -> Role | None:
        """The member argument of an iterator macro the parser rewrote
        (``list_for_each_entry_rcu(answer, head, list)``: ``list`` is a member of
        what ``answer`` points to)."""
        params = self.types.macro_params(r.name)
        if not params or len(params) != len(r.args):
            return None
        mi = next((i for i, p in enumerate(params) if p in _MEMBER_PARAMS), -1)
        if mi < 0 or r.args[mi] != text or not r.args[0].isidentifier():
            return None
        pos = self.var_type(r.args[0])
        struct = self.types.struct_of(_deref(pos) or "") if pos else ""
        return Role("member", struct, text) if struct else None

    def designator_struct(self, designator: Node) -> tuple[str, str] | None:
        """``(struct, path)`` a ``.f`` designator names, from the initializer's type."""
        pair = designator.parent
        if pair is None or pair.type != "initializer_pair":
            return None
        names = []
        for c in pair.children:
            if c is designator:
                names.append(_text(c.child_by_field_name("field") or c.named_children[-1]))
                break
            if c.type == "field_designator":
                names.append(_text(c.named_children[-1]))
        base = self.list_struct(pair.parent)
        if base is None:
            return None
        return base[0], _join(base[1], ".".join(names))

    def list_struct(self, lst: Node | None, depth: int = 0) -> tuple[str, str] | None:
        """The struct (and path prefix) whose members an initializer list sets."""
        if lst is None or lst.type != "initializer_list" or depth > 8:
            return None
        up = lst.parent
        if up is None:
            return None
        if up.type == "compound_literal_expression":
            t = up.child_by_field_name("type")
            name = self.types.struct_of(_text(t)) if t else ""
            return (name, "") if name else None
        if up.type == "init_declarator":
            ex = self.block.excerpt
            if ex.struct:
                return ex.struct, ""
            decl = up.parent
            t = decl.child_by_field_name("type") if decl else None
            name = self.types.struct_of(_text(t)) if t else ""
            return (name, "") if name else None
        if up.type == "initializer_list":
            return self.list_struct(up, depth + 1)
        if up.type == "initializer_pair":
            outer = None
            for c in up.children:
                if c.type == "field_designator":
                    outer = c
            if outer is None:  # [i] = { ... }: an array element
                return self.list_struct(up.parent, depth + 1)
            found = self.designator_struct(outer)
            if found is None:
                return None
            member = self.types.member_type(*found)
            if member is None:
                return None
            owner, path, ctype = member
            inner = self.types.struct_of(ctype)
            return (inner, "") if inner and ctype.strip() != "struct" else (owner, path)
        return None

    def identifier_role(self, node: Node, parent: Node | None) -> Role:
        ptype = parent.type if parent else ""
        name = _text(node)
        member = self._macro_member(node, parent)
        if member is not None:
            return member
        if ptype == "call_expression" and parent.child_by_field_name("function") == node:
            if name in self.scope:
                return Role("icall", expr=name)
            return Role("call")
        if ptype == "function_declarator" and _declares_function(parent):
            return Role("fn-def")
        if _inside(node, "parameter_declaration", "parameter_list"):
            return Role("param-def")
        if ptype in ("init_declarator", "declaration", "pointer_declarator",
                     "array_declarator") and _declarator_of(node):
            return Role("var-def")
        if ptype == "goto_statement":
            return Role("goto")
        if ptype == "initializer_pair":
            return Role("value")
        if ptype == "argument_list":
            call = parent.parent
            fn = call.child_by_field_name("function") if call is not None else None
            if fn is not None and fn.type == "identifier":
                return Role("name", expr=_text(fn))
        return Role("name")


def _text(node: Node) -> str:
    return node.text.decode("utf-8", errors="replace") if node.text else ""


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _field_name(node: Node) -> str:
    f = node.child_by_field_name("field")
    return _text(f) if f else ""


def _called(field_expr: Node) -> bool:
    up = field_expr.parent
    while up is not None and up.type == "parenthesized_expression":
        field_expr, up = up, up.parent
    return (up is not None and up.type == "call_expression"
            and up.child_by_field_name("function") == field_expr)


def _declares_function(declarator: Node) -> bool:
    up = declarator.parent
    while up is not None and up.type in ("pointer_declarator", "parenthesized_declarator"):
        up = up.parent
    return up is not None and up.type in ("function_definition", "declaration")


def _inside(node: Node, kind: str, stop: str) -> bool:
    up = node.parent
    while up is not None and up.type != stop:
        if up.type == kind:
            return True
        up = up.parent
    return False


def _declarator_of(node: Node) -> bool:
    """Whether ``node`` is the declared name (not an initializer's value)."""
    child, up = node, node.parent
    while up is not None and up.type in ("pointer_declarator", "array_declarator",
                                         "init_declarator", "parenthesized_declarator"):
        if up.type == "init_declarator":
            return up.child_by_field_name("declarator") == child
        if up.type == "array_declarator" and up.child_by_field_name("declarator") != child:
            return False
        child, up = up, up.parent
    return up is not None and up.type == "declaration"


def _deref(ctype: str) -> str | None:
    t = ctype.rstrip()
    if t.endswith("*"):
        return t[:-1].rstrip()
    if t.endswith("]"):
        return re.sub(r"\s*\[[^\]]*\]$", "", t)
    return None


def _element(ctype: str) -> str | None:
    t = ctype.rstrip()
    if t.endswith("]"):
        return re.sub(r"\s*\[[^\]]*\]$", "", t)
    if t.startswith("@"):
        return None
    return _deref(t) if "*" in t else t  # a global array is typed by its element


def _char_offsets(src: bytes) -> list[int] | None:
    """Byte offset -> char offset, or None when the text is ASCII (they agree)."""
    if src.isascii():
        return None
    table, pos = [], 0
    for ch in src.decode("utf-8", errors="replace"):
        n = len(ch.encode("utf-8"))
        table.extend([pos] * n)
        pos += 1
    table.append(pos)
    return table


def _ident_nodes(root: Node) -> Iterable[Node]:
    cursor = root.walk()
    visited = False
    while True:
        if not visited:
            node = cursor.node
            if node.type in _IDENT_NODES:
                yield node
            if cursor.goto_first_child():
                continue
        if cursor.goto_next_sibling():
            visited = False
            continue
        if not cursor.goto_parent():
            return
        visited = True


def analyse(excerpt: Excerpt, types: Types, scope: dict[str, str] | None = None) -> Block:
    """Tokens and roles of an excerpt; ``scope`` maps the function's parameters and
    locals to their types."""
    text = prepare(excerpt.lines)
    block = Block(excerpt, text, tokenize(text))
    parsed = parse(text.encode("utf-8"))
    an = _Analyser(block, types, dict(scope or {}), parsed.source, parsed.rewrites)
    by_start: dict[int, Node] = {}
    for node in _ident_nodes(parsed.root):
        by_start.setdefault(an.char(node.start_byte), node)
    for i, tok in enumerate(block.tokens):
        if not is_identifier_token(tok.css, tok.text):
            continue
        node = by_start.get(tok.start)
        role = _rewrite_role(parsed.rewrites, tok, an)
        if role is None and node is not None and _text(node) == tok.text:
            role = an.role(node)
        if role is None:
            role = _fallback_role(block.tokens, i)
        block.roles[tok.start] = role
        if role.kind == "label":
            block.labels.setdefault(tok.text, block.line_of(tok.start))
    if excerpt.executed is not None:
        block.branch = branches(parsed.root, excerpt.start, excerpt.executed)
        block.statements = statement_lines(parsed.root, excerpt.start)
    return block


def _rewrite_role(rewrites: tuple[Rewrite, ...], tok: Tok, an: _Analyser) -> Role | None:
    """The role of a token inside a macro use the parser rewrote, when the
    rewritten text does not tell it (None otherwise)."""
    for r in rewrites:
        if not an.char(r.start) <= tok.start < an.char(r.end):
            continue
        if tok.text == r.name:
            return Role("macro")
        if r.kind == "iterator":
            return an.iterator_member(r, tok.text)
        if r.kind == "definer" and r.args and tok.text == r.args[0]:
            defined = re.search(r"(\w+)\s*\(", an.src[r.start:r.end].decode(
                "utf-8", errors="replace"))
            return Role("fn-def", expr=defined.group(1) if defined else "")
        if r.kind == "definer" and tok.text in r.args[2::2]:
            return Role("param-def")
        if r.kind == "typearg" and r.args and tok.text in r.args[0].split():
            return Role("tag", struct=tok.text)
    return None


def _fallback_role(tokens: list[Tok], i: int) -> Role:
    """The role of a token the parser could not read, from its neighbours."""
    prev = _previous(tokens, i)
    if prev in ("->", "."):
        return Role("member", "", tokens[i].text)
    if prev in ("struct", "union"):
        return Role("tag", struct=tokens[i].text)
    return Role("call" if _following(tokens, i) == "(" else "name")


def _previous(tokens: list[Tok], i: int) -> str:
    j, text = i - 1, ""
    while j >= 0 and not tokens[j].text.strip():
        j -= 1
    if j >= 0:
        text = tokens[j].text
        if text == ">" and j > 0 and tokens[j - 1].text == "-":
            return "->"
    return text


def _following(tokens: list[Tok], i: int) -> str:
    j = i + 1
    while j < len(tokens) and not tokens[j].text.strip():
        j += 1
    return tokens[j].text if j < len(tokens) else ""


# --- the branch taken ---------------------------------------------------------------------


def _line(node: Node, start: int) -> int:
    return start + node.start_point.row


def branches(root: Node, start: int, executed: frozenset[int]) -> dict[int, tuple[str, str]]:
    """Line -> (class, explanation) for the arms of ``if``/``switch`` and the
    ``goto`` statements, from the lines that ran: ``taken`` on the first line of
    the arm that ran, ``untaken`` on the first line of an arm that did not,
    ``jump`` on a ``goto`` that ran and ``target`` on the label it jumped to."""
    out: dict[int, tuple[str, str]] = {}
    labels: dict[str, int] = {}
    gotos: list[tuple[int, str]] = []
    stack = [root]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        line = _line(node, start)
        if node.type == "if_statement" and line in executed:
            _mark_if(node, start, executed, out)
        elif node.type == "case_statement":
            first = _arm_first(node, start)
            if first is not None and _line(first, start) in executed:
                _mark(out, line, "taken", "the case that ran")
        elif node.type == "labeled_statement":
            label = node.child_by_field_name("label")
            labels[_text(label) if label else ""] = line
        elif node.type == "goto_statement" and line in executed:
            label = node.child_by_field_name("label")
            gotos.append((line, _text(label) if label else ""))
    for line, label in gotos:
        _mark(out, line, "jump", f"goto {label} ran")
        if label in labels:
            _mark(out, labels[label], "target", f"reached by goto {label}")
    return out


def _mark(out: dict[int, tuple[str, str]], line: int, cls: str, why: str) -> None:
    """Add a mark to a line (a line can be an arm taken and a goto that jumped)."""
    if line in out:
        old_cls, old_why = out[line]
        if cls not in old_cls.split():
            out[line] = (f"{old_cls} {cls}", f"{old_why}; {why}")
    else:
        out[line] = (cls, why)


_SIMPLE = ("expression_statement", "return_statement", "break_statement",
           "continue_statement", "goto_statement")
_HEADED = {"if_statement": "consequence", "while_statement": "body",
           "for_statement": "body", "switch_statement": "body"}


def statement_lines(root: Node, start: int) -> dict[int, int]:
    """Line -> first line of the statement on it, for the lines that can run:
    simple statements and declarations that give a value (all their lines), the
    heads of ``if``/``for``/``while``/``switch`` (up to their body) and ``case``
    labels."""
    out: dict[int, int] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        first = _line(node, start)
        if node.type in _SIMPLE or (node.type == "declaration" and any(
                c.type == "init_declarator" for c in node.children)):
            last = start + node.end_point.row
        elif node.type in _HEADED:
            body = node.child_by_field_name(_HEADED[node.type])
            last = _line(body, start) - 1 if body is not None else first
            if body is not None and body.type != "compound_statement":
                last = max(first, last)
            elif body is not None and _line(body, start) == first:
                last = first
        elif node.type in ("case_statement", "do_statement"):
            last = first
        else:
            continue
        for n in range(first, max(first, last) + 1):
            out.setdefault(n, first)
    return out


def _arm_first(node: Node | None, start: int) -> Node | None:
    """The first statement of an if/else arm or a case (None when it is empty)."""
    if node is None:
        return None
    if node.type in ("else_clause", "case_statement"):
        inner = [c for c in node.named_children if c.type != "comment"
                 and node.child_by_field_name("value") != c]
        if not inner:
            return None
        node = inner[0]
    if node.type == "compound_statement":
        inner = [c for c in node.named_children if c.type != "comment"]
        return inner[0] if inner else None
    return node


def _mark_if(node: Node, start: int, executed: frozenset[int],
             out: dict[int, tuple[str, str]]) -> None:
    cond = _line(node, start)
    then = _arm_first(node.child_by_field_name("consequence"), start)
    other = _arm_first(node.child_by_field_name("alternative"), start)
    if then is None:
        return
    t, e = _line(then, start), (_line(other, start) if other is not None else 0)
    if t == cond:  # "if (x) return y;" on one line: the line ran either way
        if e and e != cond and e in executed:
            _mark(out, e, "taken", "the condition failed: the else arm ran")
        return
    if t in executed:
        _mark(out, t, "taken", "the condition held")
        if e and e != t:
            _mark(out, e, "untaken", "the else arm did not run")
        return
    _mark(out, t, "untaken", "the condition failed")
    if e and e in executed:
        _mark(out, e, "taken", "the condition failed: the else arm ran")


# --- HTML ---------------------------------------------------------------------------------

Resolve = Callable[[Block, Tok, Role], "Ref | None"]

_BRANCH_TITLE = {"taken": "branch taken", "untaken": "branch not taken", "jump": "goto taken"}


def render(block: Block, resolve: Resolve, block_id: int, title: str = "") -> str:
    """The block as HTML: a line-number column and the code, identifiers wrapped
    in links (``<a href data-s>``) or spans carrying a card id (``data-s``)."""
    ex = block.excerpt
    lines = _line_tokens(block)
    numbers, code = [], []
    for i, toks in enumerate(lines):
        n = ex.start + i
        classes = _line_classes(block, n)
        anchor = f"__codelineno-{block_id}-{n}"
        br = block.branch.get(n)
        tip = f' title="{escape(br[1])}"' if br else ""
        gutter = ["normal", *("cited" if c == "hll" else c for c in classes)]
        numbers.append(f'<span class="{" ".join(gutter)}"{tip}>'
                       f'<a href="#{anchor}">{n}</a></span>')
        body = "".join(_token_html(block, t, resolve) for t in toks)
        cls = " ".join(["cl", *classes])
        code.append(f'<a id="{anchor}" name="{anchor}"></a><span class="{cls}">{body}\n</span>')
    head = f'<span class="filename">{escape(title)}</span>' if title else ""
    return ('<div class="highlight xref" markdown="0">' + head
            + '<table class="highlighttable"><tr><td class="linenos"><div class="linenodiv">'
            + "<pre><span></span>" + "\n".join(numbers) + "</pre></div></td>"
            + '<td class="code"><div><pre><span></span><code>' + "".join(code)
            + "</code></pre></div></td></tr></table></div>\n")


def _line_classes(block: Block, n: int) -> list[str]:
    ex = block.excerpt
    out = []
    if ex.executed is not None and (n in ex.executed or n in block.statements):
        out.append("ran" if n in ex.executed or block.statements[n] in ex.executed
                   else "not-ran")
    if n in block.branch:
        out.append(block.branch[n][0])
    if n in ex.cited:
        out.append("hll")
    return out


def _line_tokens(block: Block) -> list[list[Tok]]:
    lines: list[list[Tok]] = [[]]
    for t in block.tokens:
        if t.text == "\n":
            lines.append([])
        else:
            lines[-1].append(t)
    if not lines[-1]:
        lines.pop()
    return lines


def _token_html(block: Block, tok: Tok, resolve: Resolve) -> str:
    text = escape(tok.text, quote=False)
    role = block.roles.get(tok.start)
    ref = resolve(block, tok, role) if role is not None else None
    if ref is None or not (ref.id or ref.href):  # whitespace needs no span
        return f'<span class="{tok.css}">{text}</span>' if tok.css not in ("", "w") else text
    sym = f' data-s="{escape(ref.id)}"' if ref.id else ""
    tip = f' title="{escape(ref.title)}"' if ref.title else ""
    if ref.href:
        return (f'<a class="{tok.css} xr" href="{escape(ref.href)}"{sym}{tip}>{text}</a>')
    return f'<span class="{tok.css} xs"{sym}{tip}>{text}</span>'
