"""``sizeof`` of analysed C types on x86-64, computed from their definitions.

Takes a :class:`~analyzer.model.generate.Generator` (for the parsed kernel
files, the configuration that decides ``#ifdef`` branches, and the analysed
typedefs and struct records) and an ``[abi]`` table (base-type sizes from
primitives.toml, arch constants outside the analysed subset from skb.toml); gives
:class:`Sizes`, whose :meth:`Sizes.sizeof` lays out structs and unions the
way the System V x86-64 ABI does: members in order, each at its alignment,
bit-fields packed into units of their type, anonymous inline structs and
unions, arrays sized by evaluated constants, members under an inactive
``#ifdef`` left out.  A type it cannot size raises :class:`Unsized`.
:meth:`Sizes.convert` stores an integer as a member of a given C type holds it.

The struct is read from its tree-sitter node (not from the flattened field
records), so ``union { struct { next; prev; }; rb_node; }`` counts once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tree_sitter import Node

from analyzer.constants import evaluate_expr
from analyzer.errors import AnalyzerError
from analyzer.model.facts import TAG

__all__ = ["Sizes", "Unsized", "Layout"]

_QUALS = re.compile(r"\b(const|volatile|__rcu|__user|__iomem|__percpu|__force|static|extern|"
                    r"register|inline|__randomize_layout|__aligned\([^)]*\))\b")
_ARRAY = re.compile(r"(.*?)\s*\[([^\]]*)\]((?:\s*\[[^\]]*\])*)$")


class Unsized(AnalyzerError):
    """A type whose size the model cannot compute (named in the message)."""


@dataclass(frozen=True)
class Layout:
    """Size and alignment of a type, in bytes."""

    size: int
    align: int


def _up(n: int, a: int) -> int:
    return (n + a - 1) // a * a if a > 1 else n


#: a macro body that names a type (words and stars, no operator or number)
_TYPE_WORDS = re.compile(r"(?:struct |union |enum )?[A-Za-z_]\w*(?: [A-Za-z_]\w*)*[ *]*")


class Sizes:
    """sizeof() of the analysed types, cached."""

    def __init__(self, gen, abi: dict):
        self.gen, self.abi = gen, abi
        self.base = {k: int(v) for k, v in abi.get("types", {}).items()}
        self.pointer = int(abi.get("pointer", 8))
        self._cache: dict[str, Layout] = {}
        self._int_cache: dict[str, tuple[int, bool] | None] = {}
        self._offsets: dict[tuple[str, str], int | Unsized] = {}

    def state(self) -> dict:
        """What was computed, as plain data (kept in the boot image)."""
        return {"layouts": {k: [v.size, v.align] for k, v in self._cache.items()},
                "offsets": [[c, p, v] for (c, p), v in self._offsets.items()
                            if type(v) is int]}

    def restore(self, state: dict) -> None:
        """Take back what :meth:`state` gave (same analysis and configuration)."""
        for k, (size, align) in state.get("layouts", {}).items():
            self._cache.setdefault(str(k), Layout(int(size), int(align)))
        for c, p, v in state.get("offsets", []):
            self._offsets.setdefault((str(c), str(p)), int(v))

    def constant(self, name: str) -> int | None:
        """A constant of the tree, or of the ``[abi]`` table (arch values)."""
        table = self.abi.get("constants", {})
        if name in table:
            return int(table[name])
        return self.gen.facts.constant(name)

    def sizeof(self, ctype: str) -> int:
        """The size in bytes of C type ``ctype`` (``struct sk_buff``, ``__u32``)."""
        return self.layout(ctype).size

    def layout(self, ctype: str, depth: int = 0) -> Layout:
        key = re.sub(r"\s+", " ", _QUALS.sub(" ", ctype)).strip()
        if key not in self._cache:
            if depth > 30:
                raise Unsized(f"sizeof({ctype}): typedefs nest too deep")
            self._cache[key] = self._layout(key, depth)
        return self._cache[key]

    def _layout(self, t: str, depth: int) -> Layout:
        m = _ARRAY.match(t)
        if m:
            elem = self.layout((m.group(1) + " " + m.group(3)).strip(), depth + 1)
            return Layout(elem.size * self.count(m.group(2), t), elem.align)
        if "*" in t or "(" in t:
            return Layout(self.pointer, self.pointer)
        sm = re.fullmatch(rf"(struct|union) ({TAG})", t)
        if sm:
            return self.aggregate(sm.group(2), sm.group(1))
        if t.startswith("enum "):
            return Layout(self.base.get("int", 4), self.base.get("int", 4))
        base = self.base_type(t)
        if base is not None:
            return Layout(base, base)
        errors = []
        targets = self.typedefs(t)
        body = self.gen.facts.macro(t) if re.fullmatch(r"\w+", t) else None
        if body and _TYPE_WORDS.fullmatch(body):  # `#define pgoff_t unsigned long`
            targets.append(body)
        for target in targets:
            try:
                return self.layout(target, depth + 1)
            except Unsized as e:
                errors.append(str(e))
        raise Unsized(f"sizeof({t}): not a base type, struct or typedef the model can size"
                      + (f" ({errors[0]})" if errors else ""))

    def integer(self, ctype: str, depth: int = 0) -> tuple[int, bool] | None:
        """(bits, signed) of an integer type (``__u16`` -> 16, unsigned), through
        its typedefs; None for pointers, aggregates, floats and unknown types.
        ``char`` is signed and enums are ``int``, as on x86-64."""
        t = re.sub(r"\s+", " ", _QUALS.sub(" ", ctype)).strip()
        if depth > 30 or not t or "*" in t or "[" in t or "(" in t \
                or t.startswith(("struct ", "union ")) or t in ("float", "double", "void"):
            return None
        if t.startswith("enum "):
            return 8 * self.base.get("int", 4), True
        if t in ("_Bool", "bool"):
            return 1, False
        size = self.base_type(t)
        if size is not None:
            return 8 * size, "unsigned" not in t.split()
        for target in self.typedefs(t):
            found = self.integer(target, depth + 1)
            if found is not None:
                return found
        return None

    def convert(self, ctype: str, value: int) -> int:
        """``value`` as a member of integer type ``ctype`` holds it (C's
        conversion on assignment: modulo 2**bits, then signed if the type is);
        unchanged for other types."""
        kind = self._int_cache.get(ctype, False)
        if kind is False:
            kind = self._int_cache[ctype] = self.integer(ctype)
        if kind is None:
            return value
        bits, signed = kind
        if bits == 1:
            return int(value != 0)
        value &= (1 << bits) - 1
        return value - (1 << bits) if signed and value >> (bits - 1) else value

    def base_type(self, t: str) -> int | None:
        words = [w for w in t.replace("__signed__", "signed").split()
                 if w not in ("signed", "unsigned")]
        if not words and t.split():
            words = ["int"]
        if words and words[-1] == "int" and len(words) > 1:
            words = words[:-1]
        return self.base.get(" ".join(words)) if words else None

    def count(self, text: str, ctype: str) -> int:
        text = " ".join(text.split())  # a size written over several lines
        if not text:
            return 0
        # `char __data[_K_SS_MAXSIZE - sizeof(unsigned short)]`: the sizes first
        text = re.sub(r"\bsizeof\s*\(([^()]*)\)", lambda m: str(self.sizeof(m.group(1))), text)
        value = evaluate_expr(text, self._lookup)
        if value is None or value < 0:
            raise Unsized(f"sizeof({ctype}): the array size {text!r} does not evaluate")
        return value

    def _lookup(self, name: str) -> int:
        value = self.constant(name)
        if value is None:
            raise KeyError(name)
        return value

    def typedefs(self, name: str) -> list[str]:
        """The targets of typedef ``name`` whose definitions are in an active branch
        of a header the architecture includes (``[arch] not_included``), the
        generic headers (include/linux, include/uapi, asm-generic) first."""
        skip = set(self.gen.data.get("arch", {}).get("not_included", []))
        found = sorted((r for r in self.gen.facts.find("typedefs", name) if r.file not in skip),
                       key=lambda r: (not r.file.startswith(("include/linux/",
                                                             "include/uapi/",
                                                             "include/asm-generic/")),
                                      r.file, r.line))
        out = []
        for rec in found:
            node = _node_at(self.gen.file(rec.file).parsed.root, rec.line, ("type_definition",))
            if (node is None or self.gen.config.active(node)) and rec.type not in out:
                out.append(rec.type)
        return out

    def aggregate(self, name: str, kind: str) -> Layout:
        rec = self.gen.facts.struct(name)
        if rec is None:
            raise Unsized(f"sizeof({kind} {name}): no definition in the analysis")
        root = self.gen.file(rec.file).parsed.root
        node = _node_at(root, rec.line, ("struct_specifier", "union_specifier"), rec.name)
        if node is None or node.child_by_field_name("body") is None:
            raise Unsized(f"sizeof({kind} {name}): {rec.file}:{rec.line} not found")
        return self.body(node)

    def body(self, spec: Node) -> Layout:
        """The layout of a struct/union specifier's member list."""
        is_union = spec.type == "union_specifier"
        bit = size = 0
        align = 1
        for decl in _members(spec.child_by_field_name("body")):
            if not self.gen.config.active(decl):
                continue
            for lay, width in self.member(decl):
                align = max(align, lay.align)
                if is_union:
                    size = max(size, lay.size)
                    continue
                bit = _place(bit, lay, width)
        total = size if is_union else (bit + 7) // 8
        return Layout(_up(total, align), align)

    def offset(self, ctype: str, path: str) -> int:
        """``offsetof(T, path)`` in bytes: ``sk_node.next``, ``ptr[13]`` (each
        answer, or its Unsized, computed once)."""
        key = (ctype, path)
        if key not in self._offsets:
            try:
                self._offsets[key] = self._offset(ctype, path)
            except Unsized as e:
                self._offsets[key] = e
        found = self._offsets[key]
        if isinstance(found, Unsized):
            raise found
        return found

    def _offset(self, ctype: str, path: str) -> int:
        m = re.fullmatch(rf"\s*(struct|union)\s+({TAG})\s*", ctype)
        if not m:
            target = self.gen.aggregate(ctype)
            if target is None:
                raise Unsized(f"offsetof({ctype}, {path}): not a struct")
            m = re.fullmatch(r"(struct|union) (\w+)", f"struct {target}")
        rec = self.gen.facts.struct(m.group(2))
        if rec is None:
            raise Unsized(f"offsetof({ctype}, {path}): no definition of {ctype}")
        node = _node_at(self.gen.file(rec.file).parsed.root, rec.line,
                        ("struct_specifier", "union_specifier"), rec.name)
        if node is None:
            raise Unsized(f"offsetof({ctype}, {path}): {rec.file}:{rec.line} not found")
        total, parts = 0, []
        for part in path.replace("->", ".").split("."):
            head = re.match(r"\s*(\w+)", part)
            alias = self.gen.facts.alias(head.group(1)) if head else None
            if alias:  # sk_node is __sk_common.skc_node
                parts.extend(alias.replace("->", ".").split(".")[:-1])
                part = alias.replace("->", ".").split(".")[-1] + part[head.end():]
            parts.append(part)
        for part in parts:
            pm = re.fullmatch(r"\s*(\w+)\s*(?:\[(.+)\])?\s*", part)
            if not pm or node is None:
                raise Unsized(f"offsetof({ctype}, {path}): cannot follow {part!r}")
            off, lay, inner = self._member_at(node, pm.group(1))
            total += off
            if pm.group(2):
                index = evaluate_expr(pm.group(2), self._lookup)
                elem = self._elem_size(inner, lay)
                total += int(index) * elem
            node = inner
        return total

    def _elem_size(self, decl: Node | None, lay: Layout) -> int:
        """The size of one element of the array member ``decl`` (or its size)."""
        if decl is None:
            return lay.size
        tnode = decl.child_by_field_name("type")
        base = tnode.text.decode() if tnode is not None else "int"
        text = decl.child_by_field_name("declarator").text.decode() \
            if decl.child_by_field_name("declarator") is not None else ""
        if "*" in text.split("[")[0]:
            return self.pointer
        return self.layout(base).size

    def _member_at(self, spec: Node, name: str) -> tuple[int, Layout, Node | None]:
        """(byte offset, layout, the struct specifier or field declaration) of a
        member, through anonymous members."""
        is_union = spec.type == "union_specifier"
        bit = 0
        for decl in _members(spec.child_by_field_name("body")):
            if not self.gen.config.active(decl):
                continue
            tnode = decl.child_by_field_name("type")
            declarators = decl.children_by_field_name("declarator")
            if not declarators and tnode is not None and tnode.child_by_field_name("body"):
                inner_lay = self.body(tnode)
                start = 0 if is_union else _up(bit, inner_lay.align * 8)
                try:
                    off, lay, node = self._member_at(tnode, name)
                    return start // 8 + off, lay, node
                except Unsized:
                    pass
            for (lay, width), d in zip(self.member(decl), declarators or [None], strict=False):
                start = 0 if is_union else (_up(bit, lay.align * 8) if width is None else bit)
                if d is not None and _declared_name(d) == name:
                    inner = tnode if tnode is not None and tnode.child_by_field_name("body") \
                        else None
                    if inner is None and tnode is not None:
                        target = self.gen.aggregate(tnode.text.decode())
                        rec = self.gen.facts.struct(target) if target else None
                        inner = _node_at(self.gen.file(rec.file).parsed.root, rec.line,
                                         ("struct_specifier", "union_specifier"),
                                         rec.name) if rec else None
                    return start // 8, lay, inner if inner is not None else decl
                if not is_union:
                    bit = _place(bit, lay, width)
        raise Unsized(f"no member {name}")

    def member(self, decl: Node) -> list[tuple[Layout, int | None]]:
        """(layout, bit width or None) of each member a field_declaration declares."""
        tnode = decl.child_by_field_name("type")
        declarators = decl.children_by_field_name("declarator")
        if tnode is not None and tnode.type in ("struct_specifier", "union_specifier") and \
                tnode.child_by_field_name("body") is not None:
            inner = self.body(tnode)
            if not declarators:
                return [(inner, None)]
            return [(self.declared(inner, d), None) for d in declarators]
        if not declarators and self.gen.is_member_macro(decl):
            file = self._file_of(decl)
            return [m for fd in self.gen.expand_member(decl, file) for m in self.member(fd)]
        base = tnode.text.decode() if tnode is not None else "int"
        bits = next((c for c in decl.children if c.type == "bitfield_clause"), None)
        out = []
        for d in declarators:
            lay = self.declared_type(base, d)
            width = evaluate_expr(bits.named_children[0].text.decode(), self._lookup) \
                if bits is not None else None
            out.append((lay, width))
        return out

    def _file_of(self, node: Node) -> str:
        """The analysed file a node was parsed from (for its macros)."""
        root = node
        while root.parent is not None:
            root = root.parent
        for rel, pf in self.gen.files.items():
            if pf.parsed.root == root:
                return rel
        return ""

    def declared_type(self, base: str, d: Node) -> Layout:
        text = d.text.decode()
        outside = re.sub(r"\[[^\]]*\]", "[]", text)  # a `(` of an array size is no pointer
        if "(" in outside or text.lstrip().startswith("*"):
            return Layout(self.pointer, self.pointer)
        dims = re.findall(r"\[([^\]]*)\]", text)
        lay = self.layout(base)
        for dim in dims:
            lay = Layout(lay.size * self.count(dim, f"{base} {text}"), lay.align)
        return lay

    def declared(self, inner: Layout, d: Node) -> Layout:
        text = d.text.decode()
        if text.lstrip().startswith("*"):
            return Layout(self.pointer, self.pointer)
        size = inner.size
        for dim in re.findall(r"\[([^\]]*)\]", text):
            size *= self.count(dim, text)
        return Layout(size, inner.align)


def _place(bit: int, lay: Layout, width: int | None) -> int:
    """The bit offset after placing a member at ``bit``."""
    if width is None:
        return _up(bit, lay.align * 8) + lay.size * 8
    unit = lay.size * 8
    if width == 0:
        return _up(bit, unit)
    if unit and bit // unit != (bit + width - 1) // unit:
        bit = _up(bit, unit)
    return bit + width


def _declared_name(d: Node) -> str:
    while d is not None and d.type not in ("field_identifier", "identifier"):
        d = d.child_by_field_name("declarator")
    return d.text.decode() if d is not None else ""


def _members(body: Node | None) -> list[Node]:
    """The field_declarations of a member list, through #if blocks, in order."""
    out, stack = [], list(reversed(body.named_children)) if body is not None else []
    while stack:
        n = stack.pop()
        if n.type == "field_declaration":
            out.append(n)
        elif n.type.startswith("preproc_") or n.type == "else_clause":
            stack.extend(reversed(n.named_children))
    return out


def _node_at(root: Node, line: int, types: tuple[str, ...], name: str = "") -> Node | None:
    """The first node of one of ``types`` starting on ``line`` (named ``name``)."""
    stack = [root]
    while stack:
        n = stack.pop()
        if n.start_point.row + 1 > line or n.end_point.row + 1 < line:
            continue
        if n.type in types and n.start_point.row + 1 == line:
            nm = n.child_by_field_name("name")
            if not name or nm is None or nm.text.decode() == name:
                return n
        stack.extend(reversed(n.children))
    return None
