"""The code browser's symbols: what each identifier of an excerpt is, and its card.

Takes the docs :class:`~analyzer.docs.facts.Facts` (records, resolved calls,
the model's runs) and a :class:`PageIndex` (which symbols have a page) and
turns the :class:`~analyzer.docs.codeview.Role` of each identifier into a
:class:`~analyzer.docs.codeview.Ref`: a link to the symbol's page and/or the
id of its card.  Cards are plain data, one per symbol (function, struct,
member, typedef, global or ops table, constant with its value, macro, local,
parameter, indirect call site with every resolved target and its evidence),
written by :meth:`Xref.data_files` as ``generated/symbols/bNN.js`` files
that assign to a global, so the site's script reads them from ``file://``
too.  The symbol ids:

``f:<function id>`` ``s:<struct>`` ``m:<struct>.<member path>`` ``t:<typedef>``
``g:<global>`` ``k:<constant>`` ``M:<macro>`` ``x:<name>`` (a function defined
outside the analysed files) ``v:<function id>:<name>`` (a local or parameter)
``i:<function id>:<line>:<expression>`` (an indirect call site).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from analyzer.docs.codeview import Block, Excerpt, Ref, Role, Tok, Types, analyse, render
from analyzer.docs.facts import Facts, MacroDef, Step
from analyzer.docs.render import rel_link
from analyzer.records import Field, Function, Struct, base_struct, pointer_depth

__all__ = ["PageIndex", "Xref", "BUCKETS", "bucket", "SYMBOL_PAGE", "DATA_DIR"]

#: how many data files the cards are spread over (the script computes the same hash)
BUCKETS = 64
DATA_DIR = "generated/symbols"
#: the page that shows any card by its id (``#<id>``)
SYMBOL_PAGE = "generated/ref/symbol.md"


def bucket(symbol_id: str) -> int:
    """The data file of a card: FNV-1a over the id's UTF-16 code units, mod BUCKETS.

    >>> bucket("f:sock_alloc") == bucket("f:sock_alloc"), 0 <= bucket("s:sock") < BUCKETS
    (True, True)
    """
    h = 0x811C9DC5
    data = symbol_id.encode("utf-16-le")
    for i in range(0, len(data), 2):
        h ^= data[i] | (data[i + 1] << 8)
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h % BUCKETS


@dataclass
class PageIndex:
    """Which symbols have a page (docs-relative ``.md`` paths)."""

    functions: dict[str, str] = field(default_factory=dict)
    structs: dict[str, str] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)
    tour: dict[str, str] = field(default_factory=dict)  # function -> its tour step page


def _url(md: str) -> str:
    """The directory URL of a page, relative to the site root.

    >>> _url("generated/ref/structs/sock.md"), _url("generated/index.md")
    ('generated/ref/structs/sock/', 'generated/')
    """
    return md[:-len("index.md")] if md.endswith("index.md") else md[:-3] + "/"


def _href(here: str, md: str, anchor: str = "") -> str:
    """The URL of page ``md`` from page ``here`` as a browser resolves it."""
    url = "../" + re.sub(r"\.md$", "/", rel_link(here, md))
    return url + (f"#{anchor}" if anchor else "")


def field_anchor(path: str) -> str:
    """The id of a member's row on its struct's page."""
    return "field-" + re.sub(r"[^A-Za-z0-9_]+", "-", path)


@dataclass(frozen=True)
class _Ctx:
    """What the resolution of one block knows: the page and the excerpt's function."""

    here: str
    function: Function | None
    block: int  # the block's number on its page (its lines' anchors)


class Xref(Types):
    """Resolves identifiers to links and cards over ``facts``; collects the cards."""

    def __init__(self, facts: Facts, pages: PageIndex):
        self.facts, self.pages = facts, pages
        self.cards: dict[str, dict] = {}
        self._fields: dict[str, dict[str, Field] | None] = {}
        self._macros: dict[str, MacroDef] = {}
        self._no_macro: set[str] = set()
        self._near = ""  # the file of the excerpt being rendered
        self._aliases: dict[str, set[str]] = {}  # member id -> alias notes
        self._taken = _taken_by_site(facts)
        self._first_steps = _first_steps(facts)
        self._numbered: dict[str, int] = {}  # page -> the blocks rendered on it so far
        self._analysed: dict[tuple, Block] = {}  # an excerpt shown on several pages: once

    # --- types (for codeview) ---------------------------------------------------------

    def _struct_fields(self, name: str) -> dict[str, Field] | None:
        if name not in self._fields:
            st = self.facts.struct(name) if name else None
            self._fields[name] = {f.name: f for f in st.fields} if st else None
        return self._fields[name]

    def var_type(self, name: str) -> str | None:
        g = self.facts.global_(name)
        if g is None:
            return None
        return f"{g.type} {g.array}".strip() if g.array and g.array != "[]" else g.type

    def return_type(self, function: str) -> str | None:
        fn = self.facts.function(function)
        return fn.return_type if fn else None

    def struct_of(self, ctype: str) -> str:
        name = base_struct(ctype)
        if name or not ctype:
            return name
        word = re.sub(r"\b(const|volatile|__rcu|__user)\b|\*|\[.*\]", " ", ctype).split()
        td = self.facts.typedef(word[-1]) if word else None
        return base_struct(td.type) if td else ""

    def member_type(self, struct: str, path: str) -> tuple[str, str, str] | None:
        found = self._member(struct, path)
        if found is not None or "." in path:
            return found
        alias = self.facts.alias(path)
        if alias is None:
            return None
        cur, prefix, last = struct, "", None
        for part in alias.target.split("."):
            last = self._member(cur, f"{prefix}.{part}" if prefix else part)
            if last is None:
                return None
            cur, prefix = _next_struct(self, last)
        if last is not None:
            note = (f"{alias.name}: #define {alias.name} {alias.target} "
                    f"({alias.file}:{alias.line})")
            self._aliases.setdefault(_member_id(last[0], last[1]), set()).add(note)
        return last

    def member_owner(self, name: str) -> str:
        owners = self.facts.structs_with_member(name)
        return owners[0] if len(owners) == 1 else ""

    def macro_params(self, name: str) -> tuple[str, ...] | None:
        m = self._macro(name)
        return m.params if m is not None else None

    def _member(self, struct: str, path: str) -> tuple[str, str, str] | None:
        fields = self._struct_fields(struct)
        f = fields.get(path) if fields else None
        if f is None:
            return None
        ctype = f.type.strip()
        return struct, path, (f"@{struct}:{path}" if ctype in ("struct", "union") else ctype)

    # --- blocks -----------------------------------------------------------------------

    def block(self, excerpt: Excerpt, function: Function | None = None) -> Block:
        """The excerpt's tokens and roles (read, never changed, by :func:`render`),
        made once per excerpt and scope."""
        scope = {}
        if function is not None:
            scope = {v.name: v.type for v in (*function.params, *function.locals)}
        key = (excerpt, tuple(scope.items()))
        found = self._analysed.get(key)
        if found is None:
            found = self._analysed[key] = analyse(excerpt, self, scope)
        return found

    def html(self, here: str, excerpt: Excerpt, function: Function | None = None,
             title: str = "") -> str:
        """The excerpt as linked HTML for the page ``here`` (its blocks are
        numbered per page: a page's HTML does not depend on the pages made before it)."""
        self._near = excerpt.file  # a macro of the excerpt's own file comes first
        block = self.block(excerpt, function)
        n = self._numbered[here] = self._numbered.get(here, 0) + 1
        ctx = _Ctx(here, function, n)
        return render(block, lambda b, t, r: self.resolve(ctx, b, t, r), n, title)

    # --- resolution -------------------------------------------------------------------

    def resolve(self, ctx: _Ctx, block: Block, tok: Tok, role: Role) -> Ref | None:
        kind, name = role.kind, tok.text
        fn = ctx.function
        if kind in ("label", "goto"):
            line = block.labels.get(name)
            return Ref(href=f"#__codelineno-{ctx.block}-{line}") if line else None
        if kind in ("param-def", "var-def") and fn is not None and _has_var(fn, name):
            return Ref(self._var_card(fn, name))
        if kind == "fn-def":
            return self._function_ref(ctx, role.expr or name, block.excerpt.file)
        if kind == "icall":
            return self._icall_ref(ctx, block, tok, role)
        if kind in ("member", "designator", "field-def"):
            return self._member_ref(ctx, role)
        if kind == "tag":
            return self._struct_ref(ctx, role.struct or name) or self._enum_ref(name)
        if kind == "typename":
            return self._typedef_ref(ctx, name) or self._macro_ref(name)
        if kind == "param-def":
            return Ref(self._loose_param(name))
        if fn is not None and _has_var(fn, name):
            return Ref(self._var_card(fn, name))
        if kind == "call":
            return (self._function_ref(ctx, name, block.excerpt.file)
                    or self._macro_ref(name) or self._external_ref(name))
        found = self._name_ref(ctx, name, block.excerpt.file)
        if found is not None:
            return found
        if kind == "value":  # .proto_cgroup = tcp_proto_cgroup: a function named, not here
            return self._external_ref(name)
        return self._unknown_ref(name, role)

    def _name_ref(self, ctx: _Ctx, name: str, file: str) -> Ref | None:
        f = self.facts
        if f.constant(name) is not None:
            return Ref(self._constant_card(name))
        if f.global_(name) is not None:
            return self._global_ref(ctx, name)
        if f.function(name, file) is not None:
            return self._function_ref(ctx, name, file)
        return self._macro_ref(name) or self._typedef_ref(ctx, name)

    def _unknown_ref(self, name: str, role: Role) -> Ref | None:
        """A name no record and no #define explains: a configuration option, or a
        name a macro takes as text (``kmemcheck_bitfield_begin(flags1)``)."""
        if name.startswith("CONFIG_"):
            sid = f"K:{name}"
            self.cards.setdefault(sid, {
                "k": "configuration option", "n": name, "t": name,
                "d": ["set by the kernel configuration (.config, from the Kconfig files), "
                      "not by a #define of the source"]})
            return Ref(sid)
        macro = self._macros.get(role.expr) if role.expr else None
        if macro is not None and macro.params is not None:
            sid = f"a:{role.expr}:{name}"
            self.cards.setdefault(sid, {
                "k": "macro argument", "n": name, "t": f"{role.expr}(... {name} ...)",
                "f": macro.file, "l": macro.line,
                "d": [f"a name passed to the macro {role.expr}, which uses it as text "
                      "(to build a declaration or a member name), not as a value"],
                "a": [{"t": f"#define {role.expr}", "s": f"M:{role.expr}"}]})
            self._macro_ref(role.expr)
            return Ref(sid)
        return None

    def _loose_param(self, name: str) -> str:
        """A parameter named in a function-pointer type or a prototype."""
        sid = f"P:{name}"
        self.cards.setdefault(sid, {"k": "parameter", "n": name, "t": name, "d": [
            "a parameter name in a function type (a member's function pointer or a "
            "declaration): it names the argument, nothing is stored under it"]})
        return sid

    def _enum_ref(self, name: str) -> Ref | None:
        found = self.facts.enum(name)
        if found is None:
            return None
        sid = f"e:{name}"
        file, line = found
        self.cards.setdefault(sid, {"k": "enum", "n": name, "t": f"enum {name}", "f": file,
                                    "l": line, "d": ["an enumeration: its constants are "
                                                     "integers named in the source"]})
        return Ref(sid)

    # functions -------------------------------------------------------------------------

    def _function_ref(self, ctx: _Ctx, name: str, file: str) -> Ref | None:
        rec = self.facts.function(name, file)
        if rec is not None and rec.alias_of:  # sys_socket: the SyS_socket it names
            rec = self.facts.function(rec.alias_of, rec.file) or rec
            name = rec.name
        if rec is None:
            return None
        sid = self._function_card(rec)
        if not self._has_page(rec):
            return Ref(sid)
        for page in (self.pages.tour.get(name), self.pages.functions.get(name)):
            if page and page != ctx.here:
                return Ref(sid, _href(ctx.here, page))
        return Ref(sid)

    def _has_page(self, rec: Function) -> bool:
        """Whether the pages named ``rec.name`` show this very function (two statics
        of one name in different files are different functions)."""
        shown = self.facts.function(rec.name)
        return shown is not None and shown.id == rec.id

    def _page_of(self, rec: Function) -> str:
        if not self._has_page(rec):
            return ""
        return self.pages.tour.get(rec.name) or self.pages.functions.get(rec.name) or ""

    def _function_card(self, fn: Function, calls: bool = False) -> str:
        sid = f"f:{fn.id}"
        card = self.cards.get(sid)
        if card is None:
            card = self.cards[sid] = {
                "k": "function", "n": fn.name, "t": fn.signature or f"{fn.name}()",
                "f": fn.file, "l": fn.line, "d": _function_notes(fn), "a": self._pages_of(fn)}
            ran = self._model_notes(fn.name, fn.file)
            if ran:
                card["r"] = ran
        if calls and "c" not in card:
            card["c"] = self._callees(fn)
        return sid

    def _pages_of(self, fn: Function) -> list[dict]:
        name, out = fn.name, []
        if not self._has_page(fn):
            return out
        if name in self.pages.tour:
            out.append({"t": "tour step", "h": _url(self.pages.tour[name])})
        if name in self.pages.functions:
            out.append({"t": "reference page", "h": _url(self.pages.functions[name])})
        return out

    def _model_notes(self, name: str, file: str = "") -> list[str]:
        """Where each scenario's run called (or stubbed) the function first."""
        out = []
        for label, step in self._first_steps.get(name, ()):
            if file and step.file and step.file != file:
                continue  # a static of the same name in another file
            how = "runs" if step.event == "call" else "not modelled (a stub)"
            out.append(f"{label}: {how}, step {step.n}")
        if not out and name in self.facts.primitives:
            out.append("a runtime primitive of the model")
        return out

    def _callees(self, fn: Function) -> list[dict]:
        seen, out = set(), []
        for n in self.facts.callees(fn):
            if n.name in seen:
                continue
            seen.add(n.name)
            rec = self.facts.function(n.name, n.file if n.kind == "calls" else "")
            item = {"t": n.name}
            if rec is not None:
                item["s"] = self._function_card(rec)
            out.append(item)
        return out

    def _external_ref(self, name: str) -> Ref:
        sid = f"x:{name}"
        if sid not in self.cards:
            notes = ["not defined in the analysed files (net/, fs/, include/): "
                     "its definition is elsewhere in the kernel (mm/, kernel/, lib/...)"]
            if name in self.facts.primitives:
                notes.append("the model runs it as a runtime primitive")
            self.cards[sid] = {"k": "external function", "n": name, "t": f"{name}()",
                               "d": notes, "r": self._model_notes(name)}
        return Ref(sid)

    # indirect calls --------------------------------------------------------------------

    def _icall_ref(self, ctx: _Ctx, block: Block, tok: Tok, role: Role) -> Ref:
        fn, line = ctx.function, block.line_of(tok.start)
        expr = role.expr or tok.text
        sid = f"i:{fn.id if fn else block.excerpt.name}:{line}:{expr}"
        taken = self._taken.get((block.excerpt.file, line, expr), {})
        if sid not in self.cards:
            self.cards[sid] = self._icall_card(fn, role, expr, block.excerpt.file, line, taken)
        tour_label = getattr(self.facts.run, "label", "") if self.facts.run else ""
        chosen = next((k for k, labels in taken.items() if tour_label in labels),
                      next(iter(taken), None))
        if chosen:
            ref = self._function_ref(ctx, chosen[0], chosen[1])
            if ref is not None and ref.href:
                return Ref(sid, ref.href)
        return Ref(sid)

    def _icall_card(self, fn: Function | None, role: Role, expr: str, file: str, line: int,
                    taken: dict[tuple[str, str], list[str]]) -> dict:
        from analyzer.records import Call

        targets = []
        if fn is not None:
            call = Call(fn.id, file, line, "field" if role.struct else "var", "", expr,
                        expr.rpartition("->")[0], role.path.rpartition(".")[2])
            targets = self.facts.resolve(fn, call)
        rows, seen = [], set()
        for t in targets:
            seen.add((t.name, t.file))
            rows.append(self._target_row(t.name, t.file, t.line,
                                         [e.text for e in t.evidence if e.text]
                                         + [f"{e.file}:{e.line}" for e in t.evidence[:1]
                                            if e.file], taken.get((t.name, t.file), [])))
        for (name, tfile), labels in taken.items():  # taken, not in the graph's answer
            if (name, tfile) not in seen:
                rows.append(self._target_row(name, tfile, 0, [], labels))
        tour = getattr(self.facts.run, "label", "") if self.facts.run else ""
        rows.sort(key=lambda r: (tour not in r.get("k", ()), not r.get("k"), r["n"]))
        member = f"member {role.struct}.{role.path}" if role.struct else f"variable {expr}"
        card = {"k": "indirect call", "n": expr, "t": f"{expr}(...)", "f": file, "l": line,
                "d": [f"a call through the function pointer {member}",
                      f"{len(targets)} resolved target{'s' if len(targets) != 1 else ''}"],
                "x": rows}
        if role.struct:
            card["a"] = [{"t": f"struct {role.struct}", "s": self._struct_card(role.struct)}]
        return card

    def _target_row(self, name: str, file: str, line: int, evidence: list[str],
                    taken: list[str]) -> dict:
        rec = self.facts.function(name, file)
        row: dict = {"n": name, "e": evidence}
        if rec is not None:
            row["s"] = self._function_card(rec)
            row["f"], row["l"] = rec.file, rec.line
            page = self._page_of(rec)
            if page:
                row["h"] = _url(page)
        elif file:
            row["f"], row["l"] = file, line
        if taken:
            row["k"] = taken
        return row

    # structs, members, typedefs ----------------------------------------------------------

    def _struct_ref(self, ctx: _Ctx, name: str) -> Ref | None:
        sid = self._struct_card(name)
        if sid is None:
            return self._typedef_ref(ctx, name)
        page = self.pages.structs.get(name)
        return Ref(sid, _href(ctx.here, page) if page and page != ctx.here else "")

    def _struct_card(self, name: str) -> str | None:
        sid = f"s:{name}"
        if sid in self.cards:
            return sid
        st = self.facts.struct(name)
        if st is None:
            return None
        self.cards[sid] = _struct_card(st, self.pages.structs.get(name))
        return sid

    def _member_ref(self, ctx: _Ctx, role: Role) -> Ref | None:
        if not role.struct:
            return self._unknown_member(role.path)
        found = self.member_type(role.struct, role.path)
        if found is None:
            return self._missing_member(ctx, role.struct, role.path)
        owner, path, _ = found
        sid = _member_id(owner, path)
        if sid not in self.cards:
            st = self.facts.struct(owner)
            f = (self._struct_fields(owner) or {}).get(path)
            if st is None or f is None:
                return None
            self.cards[sid] = self._member_card(st, f)
        page = self.pages.structs.get(owner)
        href = _href(ctx.here, page, field_anchor(path)) if page else ""
        return Ref(sid, href)

    def _missing_member(self, ctx: _Ctx, struct: str, path: str) -> Ref | None:
        """A member the source uses that the struct's extracted members lack (a
        macro declares it: ``HASH_LEN_DECLARE`` gives ``qstr`` its ``len``)."""
        st = self.facts.struct(struct)
        if st is None:
            return self._unknown_member(path)
        sid = _member_id(struct, path)
        self.cards.setdefault(sid, {
            "k": "member", "n": f"{struct}.{path}", "t": path, "f": st.file, "l": st.line,
            "d": [f"a member of {st.kind} {struct} that is not among the members the "
                  "analysis extracted from its definition (a macro in the definition "
                  "declares it, or a configuration leaves it out)"],
            "a": [{"t": f"{st.kind} {struct}", "s": self._struct_card(struct) or ""}]})
        page = self.pages.structs.get(struct)
        return Ref(sid, _href(ctx.here, page) if page and page != ctx.here else "")

    def _unknown_member(self, name: str) -> Ref | None:
        """A member whose receiver's type the analysis does not know: every struct
        that has a member of that name."""
        owners = self.facts.structs_with_member(name)
        if not owners:
            return None
        sid = f"m:?.{name}"
        if sid not in self.cards:
            shown = owners[:12]
            self.cards[sid] = {
                "k": "member", "n": name, "t": name,
                "d": ["the type of the expression before it is not known to the analysis "
                      f"(a macro such as current); {len(owners)} structs have a member "
                      f"named {name}" + (f", the first {len(shown)}:" if len(owners) > 12
                                          else ":")],
                "a": [{"t": f"struct {o}", "s": self._struct_card(o) or ""} for o in shown]}
        return Ref(sid)

    def _member_card(self, st: Struct, f: Field) -> dict:
        extra = [f"only with {f.guard}"] if f.guard else []
        if f.bits:
            extra.append(f"a bit-field of {f.bits} bits")
        card = {"k": "member", "n": f"{st.name}.{f.name}", "t": f"{f.type} {f.name}".strip(),
                "f": st.file, "l": f.line, "d": [f"a member of {st.kind} {st.name}", *extra],
                "a": [{"t": f"{st.kind} {st.name}", "s": self._struct_card(st.name) or ""}]}
        inner = base_struct(f.type)
        if inner and inner != st.name and self._struct_card(inner):
            card["a"].append({"t": f"struct {inner}", "s": f"s:{inner}"})
        return card

    def _typedef_ref(self, ctx: _Ctx, name: str) -> Ref | None:
        td = self.facts.typedef(name)
        if td is None:
            return None
        sid = f"t:{name}"
        inner = base_struct(td.type)
        if sid not in self.cards:
            card = {"k": "typedef", "n": name, "t": f"typedef {td.type} {name}",
                    "f": td.file, "l": td.line, "d": []}
            if inner and self._struct_card(inner):
                card["a"] = [{"t": f"struct {inner}", "s": f"s:{inner}"}]
            self.cards[sid] = card
        page = self.pages.structs.get(inner) if inner else None
        return Ref(sid, _href(ctx.here, page) if page and page != ctx.here else "")

    # globals, constants, macros, variables -----------------------------------------------

    def _global_ref(self, ctx: _Ctx, name: str) -> Ref:
        sid = f"g:{name}"
        if sid not in self.cards:
            self.cards[sid] = self._global_card(name)
        page = self.pages.tables.get(name)
        return Ref(sid, _href(ctx.here, page) if page and page != ctx.here else "")

    def _global_card(self, name: str) -> dict:
        g = self.facts.global_(name)
        init = self.facts.initializer(name)
        kind = "ops table" if init is not None else "global"
        dim = g.array if g.array else ""
        card = {"k": kind, "n": name, "t": f"{'static ' if g.static else ''}{g.type} {name}"
                f"{dim if dim.startswith('[') else (f'[{dim}]' if dim else '')}",
                "f": g.file, "l": g.line, "d": []}
        if init is not None:
            card["d"].append(f"{len(init.entries)} initialised fields")
            regs = self.facts.registrations(name)
            card["d"] += [f"registered by {r.registrar}() in {r.caller.split('@')[0]} "
                          f"({r.file}:{r.line})" for r in regs[:4]]
        page = self.pages.tables.get(name)
        if page:
            card["a"] = [{"t": "reference page", "h": _url(page)}]
        inner = base_struct(g.type)
        if inner and self._struct_card(inner):
            card.setdefault("a", []).append({"t": f"struct {inner}", "s": f"s:{inner}"})
        return card

    def _constant_card(self, name: str) -> str:
        sid = f"k:{name}"
        if sid in self.cards:
            return sid
        c = self.facts.constant(name)
        value = self.facts.constant_value(name)
        shown = f"{name} = {value}" if value is not None else name
        if value is not None and abs(value) > 255:
            shown += f" ({value:#x})" if value >= 0 else ""
        notes = [f"enum {c.enum}" if c.enum else ("an enum constant" if c.kind == "enum"
                                                   else f"#define {name} {c.expr}")]
        if c.kind == "enum" and c.expr:
            notes.append(f"= {c.expr}")
        if value is None:
            notes.append("its value is not known from the analysed files")
        self.cards[sid] = {"k": "constant", "n": name, "t": shown, "f": c.file, "l": c.line,
                           "d": notes}
        return sid

    def _macro(self, name: str) -> MacroDef | None:
        m = self._macros.get(name)
        if m is None and name not in self._no_macro:
            m = self.facts.macros([name], near=[self._near] if self._near else []).get(name)
            if m is None:
                self._no_macro.add(name)
            else:
                self._macros[name] = m
        return m

    def _macro_ref(self, name: str) -> Ref | None:
        m = self._macro(name)
        if m is None:
            return None
        sid = f"M:{name}"
        if sid not in self.cards:
            params = f"({', '.join(m.params)})" if m.params is not None else ""
            notes = ["a function-like macro" if m.params is not None else "a macro"]
            if m.found_by == "search":
                notes.append("found by a plain search of the tree for its #define")
            self.cards[sid] = {"k": "macro", "n": name, "t": f"#define {name}{params}",
                               "f": m.file, "l": m.line, "d": notes, "b": m.body[:400]}
        return Ref(sid)

    def _var_card(self, fn: Function, name: str) -> str:
        sid = f"v:{fn.id}:{name}"
        if sid in self.cards:
            return sid
        params = [v.name for v in fn.params]
        var = next(v for v in (*fn.params, *fn.locals) if v.name == name)
        what = (f"parameter {params.index(name) + 1} of {fn.name}()" if name in params
                else f"a local variable of {fn.name}()")
        card = {"k": "parameter" if name in params else "local", "n": name,
                "t": _decl(var.type, name), "f": fn.file, "l": var.line, "d": [what]}
        inner = base_struct(var.type)
        if inner and self._struct_card(inner):
            card["a"] = [{"t": f"struct {inner}", "s": f"s:{inner}"}]
        self.cards[sid] = card
        return sid

    # --- coverage and data files --------------------------------------------------------

    def cover(self, radius: int = 2) -> dict[str, int]:
        """Cards for every function within ``radius`` calls of the path of every
        scenario the model ran, and for the structs those functions name; the path
        and its callees list what they call.  Gives counts per ring."""
        runs = list(self.facts.scenarios.values()) or ([self.facts.run] if self.facts.run
                                                       else [])
        ring = {n for r in runs for n in r.functions()}
        seen: set[str] = set()
        counts = {}
        for depth in range(radius + 1):
            nxt: set[str] = set()
            for name in sorted(ring - seen):
                seen.add(name)
                rec = self.facts.function(name)
                if rec is None:
                    _ = self._macro_ref(name) or self._external_ref(name)
                    continue
                self._function_card(rec, calls=depth < radius)
                self._structs_named(rec)
                if depth < radius:
                    nxt |= {c["t"] for c in self.cards[f"f:{rec.id}"].get("c", [])}
            counts[f"ring {depth}"] = len(ring)
            ring = nxt
        return counts

    def _structs_named(self, fn: Function) -> None:
        for ctype in (fn.return_type, *(v.type for v in (*fn.params, *fn.locals))):
            name = base_struct(ctype)
            if name:
                self._struct_card(name)

    def part(self) -> dict:
        """The cards and the members' alias notes made so far, as plain data, for
        another process's :meth:`take`."""
        return {"cards": self.cards,
                "aliases": {sid: sorted(notes) for sid, notes in self._aliases.items()}}

    def take(self, part: dict) -> None:
        """Add the cards of another process's :meth:`part`, made from the same
        facts; its keys win where both have made a card (a card only gains keys,
        ``c`` the callees, once made)."""
        for sid, card in part["cards"].items():
            self.cards[sid] = {**self.cards.get(sid, {}), **card}
        for sid, notes in part["aliases"].items():
            self._aliases.setdefault(sid, set()).update(notes)

    def written(self) -> dict[str, dict]:
        """The cards as the data files hold them: a member's card lists the
        ``#define``s that name it (``al``), found on any page."""
        return {sid: {**card, "al": sorted(self._aliases[sid])} if self._aliases.get(sid)
                else card for sid, card in self.cards.items()}

    def data_files(self) -> dict[str, str]:
        """``{docs-relative path: JavaScript}``: the cards (:meth:`written`) in
        BUCKETS files."""
        parts: list[dict[str, dict]] = [{} for _ in range(BUCKETS)]
        for sid, card in self.written().items():
            parts[bucket(sid)][sid] = card
        return {f"{DATA_DIR}/b{i:02d}.js": "LSA.add(" + json.dumps(
            dict(sorted(p.items())), separators=(",", ":"), sort_keys=False) + ");\n"
            for i, p in enumerate(parts)}


def _next_struct(x: Xref, found: tuple[str, str, str]) -> tuple[str, str]:
    owner, path, ctype = found
    if ctype.startswith("@"):
        return owner, path
    return x.struct_of(ctype), ""


def _member_id(struct: str, path: str) -> str:
    return f"m:{struct}.{path}"


def _has_var(fn: Function, name: str) -> bool:
    return any(v.name == name for v in (*fn.params, *fn.locals))


def _decl(ctype: str, name: str) -> str:
    if ctype.endswith("]"):
        base, _, dim = ctype.partition("[")
        return f"{base.strip()} {name}[{dim}"
    if "(*)" in ctype:
        return ctype.replace("(*)", f"(*{name})", 1)
    return f"{ctype}{'' if ctype.endswith('*') else ' '}{name}"


def _function_notes(fn: Function) -> list[str]:
    out = []
    if fn.macro:
        out.append(f"defined by {fn.macro}(...)")
    if fn.alias_of:
        out.append(f"an alias of {fn.alias_of}")
    what = " ".join(w for w, on in (("static", fn.static), ("inline", fn.inline)) if on)
    if what:
        out.append(what)
    return out


def _struct_card(st: Struct, page: str | None) -> dict:
    notes = [f"{len(st.fields)} members, lines {st.line}–{st.end_line}"]
    first = st.first
    if first is not None and not pointer_depth(first.type) and base_struct(first.type):
        notes.append(f"embeds {first.type} as its first member {first.name}")
    card = {"k": st.kind, "n": st.name, "t": f"{st.kind} {st.name}", "f": st.file,
            "l": st.line, "d": notes}
    if page:
        card["a"] = [{"t": "reference page", "h": _url(page)}]
    return card


def _runs(facts: Facts) -> dict:
    runs = dict(facts.scenarios)
    if facts.run is not None and not runs:
        runs = {getattr(facts.run, "label", "") or "the scenario": facts.run}
    return runs


def _first_steps(facts: Facts) -> dict[str, list[tuple[str, Step]]]:
    """Function name -> (scenario, its first call or stub step) for every run."""
    out: dict[str, list[tuple[str, Step]]] = {}
    for label, run in _runs(facts).items():
        seen = set()
        for s in run.steps:
            if s.event in ("call", "stub") and (s.function, s.file) not in seen:
                seen.add((s.function, s.file))
                out.setdefault(s.function, []).append((label, s))
    return out


def _taken_by_site(facts: Facts) -> dict[tuple[str, int, str], dict[tuple[str, str], list[str]]]:
    """``(file, line, expr) -> {(target, its file): [scenario labels]}`` from the
    model's dispatch steps."""
    out: dict[tuple[str, int, str], dict[tuple[str, str], list[str]]] = {}
    for label, run in _runs(facts).items():
        for s in run.steps:
            key = _site_key(s)
            if key is not None:
                out.setdefault(key, {}).setdefault((s.function, s.file), []).append(label)
    return out


def _site_key(s: Step) -> tuple[str, int, str] | None:
    if s.event != "call" or not isinstance(s.via, dict) or not s.site:
        return None
    file, _, line = s.site.rpartition(":")
    if not line.isdigit():
        return None
    return file, int(line), re.sub(r"\s+", "", str(s.via.get("expr", "")))

