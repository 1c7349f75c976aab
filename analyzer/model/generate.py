"""Generate the model: Python classes for structs, Python functions for the
kernel functions on the path, Python initializers for globals.

Takes :class:`~analyzer.model.facts.Facts` (the analysis) and the data table
``kernel/primitives.toml``; gives a :class:`Generator` whose
:meth:`Generator.machine` makes a :class:`~analyzer.model.runtime.Machine` that
translates C on first use, and :meth:`Generator.write` writes every generated
module to a folder (``build/model``): ``structs.py`` and one module per kernel
source file, each statement with its ``# file:line``.

What is "on the path" (the rule, data in primitives.toml): a called function
is translated from C when it is defined in the analysed tree and is neither a
primitive nor listed in ``[offpath]``; a function not defined in the tree is
a stub step whose value is a named unknown.  During boot only the ``[boot]``
entries and the ``follow`` list are run; other boot callees are stubs assumed
to succeed (0).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from tree_sitter import Node

from analyzer import records
from analyzer.config import MODEL_PARTS
from analyzer.constants import evaluate_expr
from analyzer.errors import AnalyzerError
from analyzer.model import bootinputs, rt
from analyzer.model.cpp import Conditions, Reading
from analyzer.model.facts import TAG, ConfigFacts, Facts
from analyzer.model.linker import Linker
from analyzer.model.machine import Machine
from analyzer.model.outside import OutsideIndex
from analyzer.model.sizes import Sizes
from analyzer.model.translate import (
    IDENT,
    Names,
    Translation,
    Untranslatable,
    _Translator,
    field_name,
    function_name_of,
    safe_path,
)
from analyzer.model.values import TypeSize
from analyzer.parse import Parsed, parse

__all__ = ["Generator", "table", "module_name", "ParsedFile"]

_QUALS = re.compile(r"\b(const|volatile|__rcu|__user|__iomem|__percpu|__force|static|"
                    r"extern|register|inline|__always_inline|__read_mostly)\b")


def table() -> dict:
    """The model's data table, ``kernel/primitives.toml`` (see spec.py)."""
    from analyzer.model.spec import load_table

    return load_table("primitives.toml")


def module_name(file: str) -> str:
    """``net/socket.c`` -> ``net_socket_c`` (the generated module's name)."""
    return re.sub(r"\W", "_", file)


@dataclass
class ParsedFile:
    """One parsed kernel file with its function definitions and declarations by name."""

    rel: str
    parsed: Parsed
    functions: dict[str, list[Node]]
    declarations: dict[str, list[Node]]
    raw: bytes = b""
    inactive: frozenset[int] | None = None


def _index(parsed: Parsed) -> tuple[dict, dict]:
    functions: dict[str, list[Node]] = {}
    decls: dict[str, list[Node]] = {}
    stack = [parsed.root]
    while stack:
        n = stack.pop()
        if n.type == "function_definition":
            functions.setdefault(function_name_of(n), []).append(n)
            continue
        if n.type == "declaration":
            for d in n.children_by_field_name("declarator"):
                inner = d
                while inner is not None and inner.type != "identifier":
                    inner = inner.child_by_field_name("declarator")
                if inner is not None:
                    decls.setdefault(inner.text.decode(), []).append(n)
            continue
        stack.extend(n.children)
    return functions, decls


class Generator:
    """Translates on demand and keeps every generated text for :meth:`write`."""

    def __init__(self, facts: Facts, data: dict | None = None, kconfig=None,
                 cache_dir=None, image_dir=None):
        self.data = data or table()
        #: where boot images are kept (analyzer.model.image), or None: boot every time
        self.image_dir = Path(image_dir) if image_dir is not None else None
        #: read a boot image back (False: boot from the C and write the image;
        #: the model stage does, so that its modules hold the boot's functions)
        self.read_image = True
        #: the kernel configuration (analyzer.model.kconfig.KernelConfig): the one
        #: given, else the default one of a tree that has its Kconfig files (a tree
        #: of snippets has none: then only the table's [config] decides)
        if kconfig is None and (Path(facts.kernel_dir) / "net" / "Kconfig").is_file():
            from analyzer.model.kconfig import KernelConfig

            kconfig = KernelConfig.of_tree(facts.kernel_dir)
        self.kconfig = kconfig
        defines = self.build_defines()
        if not isinstance(facts, ConfigFacts):
            facts = ConfigFacts(facts, {k: v for k, v in defines.items() if isinstance(v, int)})
        self.facts = facts
        self.facts.keep = self.kept
        self._dropped: dict[str, frozenset[int]] = {}
        self._reading: dict[str, Reading] = {}  # files whose #if lines are being decided
        #: sizeof() and integer widths of the analysed types (the ``[abi]`` table)
        self.sizes = Sizes(self, {**self.data.get("abi", {}),
                                  "constants": self.data.get("arch", {}).get("constants", {})})
        #: the preprocessor's view: #if/#ifdef/IS_ENABLED under this build
        self.config = Conditions(defines, self.tree_defines, self.tree_value)
        self.files: dict[str, ParsedFile] = {}
        #: parsed texts by SHA-256 (:meth:`parsed`); a session's generators share one
        self.parses: dict[str, tuple[Parsed, dict, dict]] = {}
        self.layouts: dict[str, type | None] = {}
        self.struct_src: dict[str, str] = {}
        self.functions: dict[tuple[str, str], tuple[Translation, object]] = {}
        self.inits: dict[str, tuple[Translation, object]] = {}
        self.by_code: dict[str, dict[int, int]] = {}
        self.code_file: dict[str, str] = {}
        self.names_cache: dict[str, Names] = {}
        self.linker = Linker(self, self.data)
        self._macros: dict[tuple[str, str], object] = {}
        self._booted = None
        self._keep_alive: list = []  # parses whose nodes are in use
        self.outside = OutsideIndex(self.facts.kernel_dir, cache_dir)
        #: globals declared through a macro: the candidate lines of each file by
        #: the name they declare, what each name asked for gave, and the answers
        #: a boot image brought (name -> is it one)
        self._declarer_lines: dict[str, dict[str, list[tuple]]] = {}
        self._macro_global_found: dict[tuple[str, str], tuple | None] = {}
        self._macro_global_known: dict[tuple[str, str], bool] = {}
        self._own_constants: dict[str, dict] = {}
        #: what the generator read (analyzer.model.bootinputs): tree files by
        #: SHA-256, the names whose definitions it looked up per file, and the
        #: digest of the initcall records
        self.sources_read: dict[str, str] = {}
        self.bodies_read: dict[str, set[str]] = {}
        self.initcalls_read = ""
        #: the Python of what the boot translated, when the machine came from an
        #: image: (kind, name, file, text), written with this process's own
        self.boot_sources: list[tuple[str, str, str, str]] = []
        #: why the boot image was not read ("" when it was, or none was looked for)
        self.image_note = ""
        #: write the boot image in a forked process (the model stage of ``analyze``:
        #: the runs go on meanwhile); :meth:`wait_image` waits for it
        self.save_in_background = False
        self._saving: int | None = None

    def config_string(self, name: str) -> str | None:
        """A string macro the build defines: ``CONFIG_DEFAULT_TCP_CONG`` is cubic."""
        value = self.config.defines.get(name)
        if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
            return value[1:-1]
        return None

    def build_defines(self) -> dict[str, int | str]:
        """The macros the build defines: the configuration's CONFIG_*, the
        compiler's predefines, the architecture's values (primitives.toml)."""
        defines: dict[str, int | str] = dict(self.kconfig.defines()) if self.kconfig else {}
        legacy = self.data.get("config", {})  # small test tables name what they enable
        defines.update({name: 1 for name in legacy.get("enabled", [])})
        defines.update({k: int(v) for k, v in legacy.get("values", {}).items()})
        defines.update(self.data.get("compiler", {}).get("defines", {}))
        defines.update(self.data.get("arch", {}).get("constants", {}))
        return defines

    def _kept_defines(self, name: str, functions: bool = True):
        """The tree's ``#define``s of ``name`` in a branch the build keeps (in a
        header the architecture includes); ``functions=False`` leaves out the
        function-like ones."""
        skip = set(self.data.get("arch", {}).get("not_included", []))
        for rec in self.facts.find("macros", name):
            if rec.file in skip or (not functions and rec.params is not None) or \
                    f"!{name}" in rec.guard.replace(" ", ""):
                continue  # `#ifndef X / #define X` does not define X before itself
            if not rec.guard or self.config(rec.guard):
                yield rec

    def tree_defines(self, name: str) -> bool:
        """Does the analysed tree #define ``name`` where the build keeps it?"""
        return next(self._kept_defines(name), None) is not None

    def member_alias(self, name: str) -> str | None:
        """The member path a field-alias ``#define`` names: the analysis's, or a
        path with an index (``udp_portaddr_hash`` is
        ``inet.sk.__sk_common.skc_u16hashes[1]``, include/linux/udp.h)."""
        found = self.facts.alias(name)
        if found is not None:
            return found
        body = self.facts.macro(name)
        if body and re.fullmatch(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[\d+\])*\[\d+\]"
                                 r"(?:\.[A-Za-z_]\w*)*", body.strip()) and "." in body:
            return body.strip()
        return None

    def tree_value(self, name: str) -> int | None:
        """The number an object-like ``#define`` of the tree gives ``name``, from
        the first definition in a branch the build keeps; None if there is none."""
        rec = next(self._kept_defines(name, functions=False), None)
        body = rec.body.strip() if rec is not None else ""
        if re.fullmatch(r"-?0[xX][0-9a-fA-F]+", body):
            return int(body, 16)
        if re.fullmatch(r"-?[0-9]+", body):  # a leading 0 is octal in C
            return int(body, 8) if body.lstrip("-").startswith("0") else int(body)
        return None

    def typedef(self, name: str) -> str | None:
        """What typedef ``name`` stands for under the configuration: of its
        definitions, the first of :meth:`Sizes.typedefs` (active branch, a header
        the architecture includes, generic headers first; never the store's order)."""
        found = self.sizes.typedefs(name)
        return found[0] if found else None

    def kept(self, rec) -> bool:
        """Is a record's line kept by the #if directives of its file?  (Asked
        while those directives are decided, as the preprocessor reads them: a
        line below the one being decided is not read yet.)"""
        if rec.file not in self._dropped:
            reading = self._reading.get(rec.file)
            if reading is not None:
                return reading.keeps(rec.line)
            try:
                raw = self.source(rec.file)
            except OSError:
                raw = b""
            self._dropped[rec.file] = self._decide(rec.file, raw)
        return rec.line not in self._dropped[rec.file]

    def _decide(self, rel: str, raw: bytes) -> frozenset[int]:
        """The lines of ``rel`` that the build's #if directives drop, decided once."""
        self._reading[rel] = Reading()
        try:
            return self.config.inactive_lines(raw, self._reading[rel])
        finally:
            del self._reading[rel]

    def derived(self) -> dict:
        """What the generator read from the tree and the store, as plain data
        (kept in the boot image: a later process skips reading it again)."""
        return {"sizes": self.sizes.state(), "outside": self.outside.state(),
                "dropped": {f: sorted(lines) for f, lines in self._dropped.items()},
                "read": sorted(self.config.read),
                "macro_globals": [[f, n, found is not None]
                                  for (f, n), found in self._macro_global_found.items()]
                + [[f, n, known] for (f, n), known in self._macro_global_known.items()
                   if (f, n) not in self._macro_global_found]}

    def restore_derived(self, state: dict) -> None:
        """Take back :meth:`derived` of the same analysis and configuration."""
        self.sizes.restore(state.get("sizes", {}))
        self.outside.restore(state.get("outside", {}))
        for f, lines in state.get("dropped", {}).items():
            self._dropped.setdefault(str(f), frozenset(map(int, lines)))
        self.config.read.update(map(str, state.get("read", [])))
        for f, n, known in state.get("macro_globals", []):
            self._macro_global_known.setdefault((str(f), str(n)), bool(known))

    # --- files ------------------------------------------------------------------
    def source(self, rel: str) -> bytes:
        """The bytes of the tree's file ``rel`` (OSError), remembered with their
        hash among what the generator read (:attr:`sources_read`)."""
        try:
            raw = (self.facts.kernel_dir / rel).read_bytes()
        except OSError:
            self.sources_read.setdefault(rel, "")  # missing: its appearance changes the boot
            raise
        self.sources_read[rel] = hashlib.sha256(raw).hexdigest()
        return raw

    def file(self, rel: str) -> ParsedFile:
        if rel not in self.files:
            try:
                src = self.source(rel)
            except OSError as e:
                path = self.facts.kernel_dir / rel
                raise AnalyzerError(f"cannot read {path}: {e.strerror}") from None
            self.files[rel] = ParsedFile(rel, *self.parsed(src, self.sources_read[rel]), src)
        return self.files[rel]

    def parsed(self, src: bytes, sha: str = "") -> tuple[Parsed, dict, dict]:
        """A text parsed, with its functions and declarations by name (read, never
        changed), once for the generators that share :attr:`parses`; ``sha``: the
        text's SHA-256 (hex), when known already."""
        key = sha or hashlib.sha256(src).hexdigest()
        found = self.parses.get(key)
        if found is None:
            parsed = parse(src)
            found = self.parses[key] = (parsed, *_index(parsed))
        return found

    def inactive(self, pf: ParsedFile) -> frozenset[int]:
        """Lines of ``pf`` that the configuration's #if/#ifdef drop (from the raw
        text: the parse stage may blank directives)."""
        if pf.inactive is None:
            pf.inactive = self._dropped.get(pf.rel)
        if pf.inactive is None:
            pf.inactive = self._dropped[pf.rel] = self._decide(pf.rel, pf.raw)
        return pf.inactive

    # --- names ------------------------------------------------------------------
    def names(self, file: str) -> Names:
        if file not in self.names_cache:
            prims, iters = self.data.get("primitives", {}), self.data.get("iterators", {})
            facts = self.facts
            self.names_cache[file] = Names(
                is_function=lambda n: facts.has_function(n) or n in prims
                or n in self.data.get("standins", {}) or bool(self.outside.files(n)),
                is_global=lambda n: facts.definition(n, file) is not None
                or bool(facts.globals(n)) or self.is_macro_global(file, n)
                or n in self.data.get("machine", {}).get("globals", {})
                or self.outside_global(n, file) is not None,
                constant=lambda n: self.constant_in(n, file),
                alias=self.member_alias,
                field_type=facts.field_type,
                primitive=prims.get,
                symbol=lambda n: n in self.data.get("symbols", {}),
                enabled=self.config,
                iterator=iters.get,
                global_type=lambda n: (facts.definition(n, file) or _first(facts.globals(n))
                                       or records.Global("", "", "", 0)).type or None,
                macro=facts.macro,
                function_macro=lambda n: self.macro_for(n, file),
                is_type=lambda n: bool(facts.typedef(n)) or self.sizes.base_type(n) is not None,
                aggregate=self.aggregate,
                config_string=self.config_string,
            )
        return self.names_cache[file]

    def macro_for(self, name: str, origin: str):
        """The function-like ``#define`` a call of ``name`` from ``origin``
        expands, under the configuration: one in an active branch, of a header
        the architecture includes (``[arch]`` of primitives.toml); a function of
        the tree defined in ``origin`` itself wins over a macro of a header."""
        key = (name, origin)
        if key not in self._macros:
            self._macros[key] = self._choose_macro(name, origin)
        return self._macros[key]

    def _choose_macro(self, name: str, origin: str):
        skip = set(self.data.get("arch", {}).get("not_included", []))
        found = [d for d in self.facts.macros(name) if d.file not in skip and self.kept(d)]
        if not found and origin and origin.split("/", 1)[0] in MODEL_PARTS:
            own = self._own_macro(name, origin)  # a #define of a file the store lacks
            found = [own] if own is not None else []
        if not found:
            return None
        found.sort(key=lambda d: (d.file != origin, not d.file.startswith("include/"),
                                  d.file, d.line))
        if found[0].file != origin and self.facts.has_function(name):
            defined = self.definition(name, origin)
            if defined is not None and defined[0] == origin:
                return None
        return found[0]

    def constant_in(self, name: str, file: str) -> int | None:
        """A constant as ``file`` sees it: the analysis's, else, for a file of
        MODEL_PARTS (not in the store), a ``#define`` or enumerator of the file
        itself or of a header it includes with quotes (lib/kstrtox.h)."""
        value = self.facts.constant(name)
        if value is not None or not file or file.split("/", 1)[0] not in MODEL_PARTS:
            return value
        if file not in self._own_constants:
            self._own_constants[file] = self._scan_constants(file)
        found = self._own_constants[file]
        rec = found.get(name)
        if rec is None or rec.value is not None:
            return None if rec is None else rec.value

        def lookup(other: str) -> int:
            v = self.constant_in(other, file) if other != name else None
            if v is None:
                raise KeyError(other)
            return v

        return evaluate_expr(rec.expr, lookup)

    def _scan_constants(self, file: str) -> dict:
        from analyzer.extract import extract_file

        found: dict = {}
        pf = self.file(file)
        headers = re.findall(rb'^#\s*include\s+"([^"]+)"', pf.raw, re.M)
        for rel in [file] + [str(PurePosixPath(file).parent / h.decode()) for h in headers]:
            try:
                src = self.source(rel)
            except OSError:
                continue
            dropped = self.config.inactive_lines(src)
            for c in extract_file(rel, src).constants:
                if c.line not in dropped:
                    found.setdefault(c.name, c)
        return found

    def _own_macro(self, name: str, file: str):
        from analyzer.model.macros import MacroDef

        node = _define(self.file(file).parsed.root, name)
        if node is None or node.start_point.row + 1 in self.inactive(self.file(file)):
            return None
        params = tuple(p.text.decode() for p in
                       node.child_by_field_name("parameters").named_children)
        value = node.child_by_field_name("value")
        body = value.text.decode(errors="replace").replace("\\\n", "\n") if value else ""
        return MacroDef(name, file, node.start_point.row + 1, params, body)

    # --- struct classes ------------------------------------------------------------
    def layout(self, name: str) -> type | None:
        """The generated class of struct/union ``name`` (None if not analysed)."""
        if name not in self.layouts:
            self.layouts[name] = None
            s = self.facts.struct(name)
            if s is not None:
                self.layouts[name] = self._make_class(s)
        return self.layouts[name]

    def _make_class(self, s: records.Struct) -> type:
        tagged = self._tagged_members(s)  # struct rtt_meas { ... } rtt_min[3]: a member
        inline = {f.name.rsplit(".", 1)[0] for f in s.fields if "." in f.name} - set(tagged)
        members = [(f.line, f.name, tagged.get(f.name, f.type)) for f in s.fields
                   if (not f.guard or self.config(f.guard)) and f.type not in ("struct", "union")
                   and f.name not in inline
                   and not any(f.name.startswith(t + ".") for t in tagged)]
        members += self.macro_members(s)
        members.sort(key=lambda m: m[0])  # stable: a line's members keep their order
        specs = [self.spec(name, ctype, origin=s.file) for _, name, ctype in members]
        if s.kind not in ("struct", "union"):
            raise AnalyzerError(f"{s.file}:{s.line}: unknown aggregate kind {s.kind!r}")
        return self.class_of(rt.Layout(s.name, s.kind, s.file, int(s.line), tuple(specs)))

    def class_of(self, layout: rt.Layout) -> type:
        """The class of objects of ``layout`` (its text is kept for :meth:`write`)."""
        name = f"{layout.kind}_{field_name(re.sub(r'[^A-Za-z0-9_]', '_', layout.name))}"
        doc = f"{layout.kind} {layout.name}: {layout.file}:{layout.line}"
        lines = [f"class {name}(rt.Obj):", f"    __doc__ = {doc!r}", "    __slots__ = ()",
                 f"    LAYOUT = rt.Layout({layout.name!r}, {layout.kind!r}, {layout.file!r}, "
                 f"{layout.line}, ("]
        lines += [f"        {_spec_src(sp)}," for sp in layout.fields]
        lines.append("    ))")
        self.struct_src[layout.name] = "\n".join(lines) + "\n"
        return type(name, (rt.Obj,), {"__doc__": doc, "__slots__": (), "LAYOUT": layout})

    def _tagged_members(self, s: records.Struct) -> dict[str, str]:
        """Members defined with a struct of their own tag inside the struct
        (``struct uid_gid_extent { ... } extent[5];``): name -> C type with dims."""
        from analyzer.model.sizes import _members, _node_at

        containers = {f.name: f.type for f in s.fields if "." not in f.name
                      and re.fullmatch(r"(?:struct|union) \w+", f.type)
                      and any(g.name.startswith(f.name + ".") for g in s.fields)}
        if not containers:
            return {}
        pf = self.file(s.file)
        node = _node_at(pf.parsed.root, s.line, ("struct_specifier", "union_specifier"),
                        s.name)
        out = {}
        for decl in _members(node.child_by_field_name("body")) if node is not None else ():
            for name, ctype in field_names(decl):
                if name in containers:
                    dims = re.search(r"(\[[^\]]*\])+$", ctype)
                    stars = "*" if re.search(r"\}\s*\*", ctype) else ""
                    out[name] = f"{containers[name]} {stars}{dims.group(0) if dims else ''}"
        return {k: v.strip() for k, v in out.items()}

    def macro_members(self, s: records.Struct) -> list[tuple[int, str, str]]:
        """Members a struct declares through a macro (``DECLARE_BITMAP(b, 8);``,
        ``DEFINE_SNMP_STAT(struct tcp_mib, tcp_statistics);``): (line, name, type)."""
        from analyzer.model.sizes import _members, _node_at

        pf = self.file(s.file)
        node = _node_at(pf.parsed.root, s.line, ("struct_specifier", "union_specifier"),
                        s.name)
        out = []
        bodies = [node.child_by_field_name("body")] if node is not None else []
        while bodies:
            for decl in _members(bodies.pop()):
                line = decl.start_point.row + 1
                if line in self.inactive(pf) or not self.config.active(decl):
                    continue
                t = decl.child_by_field_name("type")
                if t is not None and t.type in ("struct_specifier", "union_specifier") \
                        and t.child_by_field_name("body") is not None \
                        and not decl.children_by_field_name("declarator"):
                    bodies.append(t.child_by_field_name("body"))  # an anonymous member
                if not self.is_member_macro(decl):
                    continue
                for fd in self.expand_member(decl, s.file):
                    out.extend((line, name, ctype) for name, ctype in field_names(fd))
        return out

    def is_member_macro(self, decl: Node) -> bool:
        """A field_declaration that is a macro use: ``DECLARE_BITMAP(bits, 8);``,
        ``HASH_LEN_DECLARE;``."""
        t = decl.child_by_field_name("type")
        if t is None or decl.children_by_field_name("declarator"):
            return False
        if t.type == "macro_type_specifier":
            return True
        return t.type == "type_identifier" and bool(self.facts.macro(t.text.decode()))

    def expand_member(self, decl: Node, file: str) -> list[Node]:
        """The field declarations a member macro expands to."""
        text = decl.child_by_field_name("type").text.decode(errors="replace")
        if text.isidentifier():  # an object-like macro: HASH_LEN_DECLARE
            text = self.facts.macro(text) or ""
        try:
            text = _typeof_types(self.expand_text(text, file))
        except AnalyzerError:
            return []
        parsed = parse(f"struct __members {{ {text}; }};\n".encode())
        self._keep_alive.append(parsed)
        from analyzer.model.sizes import _members

        found = []
        for n in parsed.root.named_children:
            if n.type == "struct_specifier":
                found = [d for d in _members(n.child_by_field_name("body"))
                         if not d.has_error and not self.is_member_macro(d)]
        return found

    def spec(self, name: str, ctype: str, depth: int = 0, origin: str = "") -> rt.FieldSpec:
        """How a member of C type ``ctype`` is held (see objects.FieldSpec)."""
        t = re.sub(r"\s+", " ", _QUALS.sub(" ", ctype)).strip()
        m = re.match(r"(.*?)\s*\[([^\]]*)\]((?:\s*\[[^\]]*\])*)$", t)
        if m:
            count = self.count(m.group(2), origin)
            count = -1 if count == 0 else count  # a flexible array member: T x[0], T x[]
            elem = self.spec(name, (m.group(1) + " " + m.group(3)).strip(), depth)
            return rt.FieldSpec(name, ctype, "array", count=count, elem=elem)
        if "*" in t or "(" in t:
            return rt.FieldSpec(name, ctype, "ptr")
        sm = re.fullmatch(rf"(struct|union) ({TAG})", t)
        if sm:
            kind = "struct" if self.facts.struct(sm.group(2)) else "opaque"
            return rt.FieldSpec(name, ctype, kind, target=sm.group(2))
        if re.fullmatch(r"\w+", t) and depth < 8:
            target = self.typedef(t)
            if target and target != t:
                sub = self.spec(name, target, depth + 1)
                return rt.FieldSpec(name, ctype, sub.kind, sub.target, sub.count, sub.elem)
        return rt.FieldSpec(name, ctype, "scalar")

    def count(self, text: str, origin: str = "") -> int:
        text = text.strip()
        if not text:
            return 0
        if "(" in text:  # BITS_TO_LONGS(PROTO_INUSE_NR): macros expanded first
            text = self.expand_text(text, origin)
        if "sizeof" in text:  # `_K_SS_MAXSIZE - sizeof(unsigned short)`: sizes first
            from analyzer.model.sizes import Unsized

            try:
                text = re.sub(r"\bsizeof\s*\(([^()]*)\)",
                              lambda m: str(self.sizes.sizeof(m.group(1))), text)
            except Unsized:
                return -1
        value = evaluate_expr(text, lambda n: _or_fail(self.facts.constant(n)))
        return value if value is not None and 0 <= value <= 1 << 16 else -1

    # --- functions -------------------------------------------------------------------
    def definition(self, name: str, origin: str) -> tuple[str, Node] | None:
        """(file, node) of the definition of ``name`` as seen from ``origin``."""
        recs = self.facts.functions(name)
        ranked = sorted(recs, key=lambda f: (f.file != origin, f.static and not f.header,
                                             f.file.startswith("arch/"), f.file, f.line))
        for rec in ranked:
            if rec.static and not rec.header and rec.file != origin and origin:
                continue
            node = self._active_body(rec.file, name)
            if node is not None:
                return rec.file, node
        return self._outside(name, origin)

    def _active_body(self, file: str, name: str) -> Node | None:
        pf = self.file(file)
        self.bodies_read.setdefault(file, set()).add(name)
        for node in pf.functions.get(name, []):  # the #if lines decide (read from the text)
            if node.child_by_field_name("body") is not None \
                    and node.start_point.row + 1 not in self.inactive(pf):
                return node
        return None

    def _outside(self, name: str, origin: str) -> tuple[str, Node] | None:
        """A definition in kernel/, mm/ or lib/ (read by the model, not analysed)."""
        for file in sorted(self.outside.files(name), key=lambda f: f != origin):
            node = self._active_body(file, name)
            if node is None or (_is_static(node) and file != origin):
                continue
            return file, node
        return None

    def function(self, name: str, origin: str) -> tuple[Translation, object] | None:
        found = self.definition(name, origin)
        if found is None:
            return None
        file, node = found
        key = (name, file)
        if key not in self.functions:
            pf = self.file(file)
            tr = _Translator(node, file, pf.parsed.rewrites, self.names(file), pf.raw,
                             self.inactive(pf)).run()
            self.functions[key] = (tr, self._compile(tr, f"<model:{file}:{name}>"))
        return self.functions[key]

    def return_type(self, name: str, file: str) -> str:
        """The C return type of a function defined in ``file`` ("void", "int *")."""
        node = self._active_body(file, name)
        if node is None:
            return ""
        if returns_void(node):
            return "void"
        t = node.child_by_field_name("type")
        d = node.child_by_field_name("declarator")
        stars = "*" if d is not None and d.type == "pointer_declarator" else ""
        return f"{t.text.decode() if t is not None else 'int'} {stars}".strip()

    def macro(self, name: str, file: str) -> tuple[Translation, object]:
        """A function-like ``#define`` translated as a function of its parameters."""
        key = (name, file)
        if key not in self.functions:
            node = _define(self.file(file).parsed.root, name)
            if node is None:
                raise AnalyzerError(f"no #define {name}(...) in {file}")
            params = [p.text.decode() for p in node.child_by_field_name("parameters")
                      .named_children]
            body = node.child_by_field_name("value").text.decode().replace("\\\n", " \n")
            line = node.start_point.row + 1
            text = "\n" * (line - 1) + f"long {name}(" + ", ".join(
                f"long {p}" for p in params if IDENT.match(p)) + f") {{ return {body}; }}\n"
            parsed = parse(text.encode())
            fnode = next(c for c in parsed.root.named_children
                         if c.type == "function_definition")
            tr = _Translator(fnode, file, (), self.names(file)).run()
            self.functions[key] = (tr, self._compile(tr, f"<model:{file}:{name}>"))
        return self.functions[key]

    def _compile(self, tr: Translation, code_name: str):
        self.by_code[code_name] = tr.lines
        self.code_file[code_name] = tr.file
        return compile(tr.source, code_name, "exec")

    def locate(self, code_name: str, lineno: int) -> tuple[str, int] | None:
        lines = self.by_code.get(code_name)
        if lines is None:
            return None
        return self.code_file[code_name], lines.get(lineno, 0)

    # --- globals -----------------------------------------------------------------------
    def expand_text(self, text: str, origin: str) -> str:
        """C text with the tree's function-like macros expanded (primitives kept)."""
        from analyzer.model.macros import expand_text

        prims = self.data.get("primitives", {})
        return expand_text(text, lambda n: None if n in prims else self.macro_for(n, origin))

    def global_maker(self, m: Machine, name: str, origin: str):
        if name in self.data.get("machine", {}).get("globals", {}):  # nr_kernel_pages
            return name, lambda: rt.Named(name, m.machine_global(name))
        rec = self.facts.definition(name, origin)
        if rec is not None and rec.type.isidentifier() and self.macro_for(rec.type, rec.file):
            rec = None  # static LIST_HEAD(x);: made from the macro's own text below
        if rec is None:
            declared = self.macro_global(origin, name)
            if declared is not None:  # static DECLARE_BITMAP(name, bits);
                g, parsed = declared
                key = f"{name}@{g.file}" if g.static else name
                return key, lambda: self.make_global(m, g, key, parsed)
        if rec is None:
            found = self.outside_global(name, origin)  # a global of kernel/, mm/, lib/
            if found is not None:
                g, node = found
                key = f"{name}@{g.file}" if g.static else name
                return key, lambda: self.make_global(m, g, key, node)
        if rec is None:  # only declared (extern): its value lives outside the analysed tree
            return name, lambda: rt.Sym(name, "declared extern; defined outside the analysed tree")
        key = f"{name}@{rec.file}" if rec.static else name
        return key, lambda: self.make_global(m, rec, key)

    def outside_global(self, name: str, origin: str):
        """(Global, declaration node) of a global the model reads from kernel/,
        mm/ or lib/: a static of ``origin`` there, or a definition there."""
        if self.typedef(name):
            return None  # a type name, not a variable
        candidates = [origin] if origin.split("/", 1)[0] in MODEL_PARTS else []
        candidates += [f for f in self.outside.variable_files(name) if f != origin]
        for file in candidates:
            try:
                pf = self.file(file)
            except AnalyzerError:
                continue
            for node in pf.declarations.get(name, []):
                if node.start_point.row + 1 in self.inactive(pf) or node.parent is None \
                        or node.parent.type not in ("translation_unit", "preproc_if",
                                                    "preproc_ifdef", "preproc_else"):
                    continue
                g = _global_of(node, name, file)
                if g is not None and not g.extern and (g.file == origin or not g.static):
                    return g, None
        return None

    def macro_global(self, file: str, name: str) -> tuple | None:
        """(Global, its parsed declaration) when ``file`` declares global ``name``
        through a macro (``static LIST_HEAD(x);``, ``static DECLARE_BITMAP(bits,
        64);``): the first such line, in an active branch, whose macro expanded
        and parsed declares it; else None.  Only the lines naming ``name`` are
        expanded, when it is asked for."""
        key = (file, name)
        if key not in self._macro_global_found:
            found = None
            for line, static, macro, call in self._declarers(file).get(name, ()):
                if line in self.inactive(self.file(file)) \
                        or self.macro_for(macro, file) is None:
                    continue
                try:
                    text = self.expand_text(call, file)
                except AnalyzerError:
                    continue
                found = _declared_global(text, name, file, line, static)
                if found is not None:
                    break
            self._macro_global_found[key] = found
        return self._macro_global_found[key]

    def is_macro_global(self, file: str, name: str) -> bool:
        """Does ``file`` declare global ``name`` through a macro (what a boot
        image says, else :meth:`macro_global`)?"""
        known = self._macro_global_known.get((file, name))
        return known if known is not None else self.macro_global(file, name) is not None

    def _declarers(self, file: str) -> dict[str, list[tuple]]:
        """The lines of ``file`` written like a declaration through a macro, by
        the name they declare: (line, static, macro, call text), in file order."""
        if file not in self._declarer_lines:
            found: dict[str, list[tuple]] = {}
            try:
                text = self.file(file).raw.decode(errors="replace") if file else ""
            except AnalyzerError:
                text = ""
            for m in _DECLARER.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                found.setdefault(m.group(3), []).append(
                    (line, "static" in m.group(1), m.group(2),
                     f"{m.group(2)}({m.group(3)}{m.group(4) or ''})"))
            self._declarer_lines[file] = found
        return self._declarer_lines[file]

    def make_global(self, m: Machine, rec: records.Global, key: str, parsed=None):
        if parsed is not None:  # a macro's declaration: its parsed node
            node, inactive = parsed, frozenset()
        else:
            pf = self.file(rec.file)
            node, inactive = _declaration_at(pf, rec.name, rec.line), self.inactive(pf)
        value_node = _init_value(node, rec.name) if node is not None else None
        spec = self.global_spec(rec, value_node, inactive)
        m.global_specs[key] = spec
        obj = m.zero(spec, rec.name, None)
        if value_node is None:
            return obj
        m.dset(m.globals, key, obj)  # visible to its own initializer (lock = ...(x.lock))
        fn = self.initializer(rec, value_node, inactive)
        ns = m.namespace(rec.file)
        exec(fn, ns)  # noqa: S102 - generated by this module from validated pieces
        value = ns[f"init_{rec.name}"](obj)
        if spec.kind in ("struct", "opaque") and value is not obj:
            if isinstance(value, rt.Obj):  # = ATOMIC_INIT(0): a struct copy
                for k in list(value._v):
                    setattr(obj, k, value._v[k])
            return obj
        return value

    def global_spec(self, rec: records.Global, value: Node | None,
                    inactive: frozenset[int]) -> rt.FieldSpec:
        """How a global is held; ``T x[] = {...}`` counts the kept initializers."""
        dims = rec.array if rec.array.startswith("[") else f"[{rec.array}]"
        spec = self.spec(rec.name, rec.type + (f" {dims}" if rec.array else ""),
                         origin=rec.file)
        if not (rec.array and spec.kind == "array" and spec.count <= 0 and value is not None
                and value.type == "initializer_list"):
            return spec
        items = [c for c in value.named_children if c.type != "comment"
                 and c.start_point.row + 1 not in inactive]
        return rt.FieldSpec(rec.name, rec.type, "array", count=len(items),
                            elem=self.spec(rec.name, rec.type))

    def initializer(self, rec: records.Global, value: Node, inactive: frozenset[int]):
        key = f"{rec.name}@{rec.file}"
        if key not in self.inits:
            tr = _InitTranslator(value, rec, inactive, self.names(rec.file)).translate()
            self.inits[key] = (tr, self._compile(tr, f"<model:{rec.file}:init {rec.name}>"))
        return self.inits[key][1]

    # --- the machine --------------------------------------------------------------------
    def boot_follow(self) -> set[str]:
        boot = self.data.get("boot", {})
        return set(boot.get("entries", [])) | set(boot.get("follow", []))

    def sizeof(self, ctype: str):
        """``sizeof(ctype)`` as the machine gives it (see rt.sizeof)."""
        from analyzer.model.sizes import Unsized

        try:
            return rt.SizeOf(ctype, self.sizes.sizeof(ctype))
        except Unsized as e:
            return TypeSize(ctype, str(e))

    def booted(self):
        """(machine, BootReport): a machine booted once for this generator (see
        boot.py); runs check it out and roll it back."""
        if self._booted is None:
            self._booted = self._boot_image() or self._boot()
        return self._booted

    def _boot(self):
        from analyzer.model.boot import boot, plan

        m = self.machine()
        caller = m.process
        m.process = replace(caller, label="kernel_init")  # initcalls run in pid 1, as root
        m.task = None  # made on first use of `current`
        calls, left_out = plan(self, self.data)
        report = rt.run_in(m, boot, m, calls)
        m.process = caller
        report.left_out = left_out
        m.compact_boot()
        self._booted = m, report
        self.save_image()
        return m, report

    def save_image(self) -> None:
        """Write the booted machine and what the generator has derived so far
        (offsets, #if lines ...) as this analysis's boot image, when it has an
        image folder; the boot report says whether it was written."""
        if self.image_dir is None or self._booted is None:
            return
        from analyzer.model import image

        m, report = self._booted
        try:
            key = image.image_key(self)
            path = image.path_for(self.image_dir, key)
            if self.save_in_background:
                self._saving = image.save_in_child(path, key, self, m, report)
                report.image = "being written" if self._saving is not None else "written"
            else:
                image.save(path, key, self, m, report)
                report.image = "written"
        except (image.ImageError, OSError) as e:
            report.image = f"not written: {e}"

    def wait_image(self) -> None:
        """Wait for the boot image written in the background, if one is; the boot
        report says whether it was written."""
        if self._saving is None:
            return
        pid, self._saving = self._saving, None
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            status = -1
        if self._booted is not None:
            self._booted[1].image = "written" if status == 0 else \
                "not written: the process writing it failed"

    def _boot_image(self):
        """The booted machine from the image of this analysis, if there is one."""
        if self.image_dir is None or not self.read_image:
            return None
        from analyzer.model import image

        try:
            key = image.image_key(self)
        except image.ImageError:
            return None
        found = image.load(image.path_for(self.image_dir, key), key, self)
        if found is not None:
            found[1].image = "read"
        return found

    def initcalls(self):
        """The initcalls the configuration builds in, in boot order, as
        ``boot.BootCall``s, and those it leaves out as (function, file, why)."""
        from analyzer.model import kbuild
        from analyzer.model.boot import BootCall

        records_ = self._initcall_records()
        if records_ is None:
            return [], []  # a few files of a test: no build to evaluate
        self.initcalls_read = bootinputs.digest(records_)
        build = kbuild.built(self.facts.kernel_dir, self.kconfig)
        order = kbuild.initcall_order(records_, build, self.kconfig)
        calls = [BootCall(c.initcall.function, c.initcall.file, c.initcall.line,
                          c.initcall.level, c.why) for c in order.calls]
        left_out = [(s.initcall.function, s.initcall.file, s.why) for s in order.skipped]
        return calls, left_out

    def initcalls_digest(self) -> str:
        """The digest :meth:`initcalls` keeps of the initcall records it read."""
        records_ = self._initcall_records()
        return "" if records_ is None else bootinputs.digest(records_)

    def _initcall_records(self) -> list | None:
        """The store's initcall records, by file; None without a configuration
        or a store (a few files of a test)."""
        if self.kconfig is None or not hasattr(self.facts.source, "all"):
            return None
        return list(self.facts.source.all("initcalls", by_file=True))

    def aggregate(self, ctype: str) -> str | None:
        """The struct or union ``ctype`` names, through typedefs (not pointers)."""
        t = re.sub(r"\s+", " ", _QUALS.sub(" ", ctype)).strip()
        for _ in range(8):
            m = re.fullmatch(r"(?:struct|union) (\w+)", t)
            if m:
                return m.group(1) if self.facts.struct(m.group(1)) else None
            if not re.fullmatch(r"\w+", t):
                return None
            target = self.typedef(t)
            if not target or target == t:
                return None
            t = re.sub(r"\s+", " ", _QUALS.sub(" ", target)).strip()
        return None

    def offsetof(self, ctype: str, member: str):
        from analyzer.model.sizes import Unsized

        try:
            return rt.SizeOf(ctype, self.sizes.offset(ctype, member))
        except (Unsized, TypeError, ValueError) as e:
            return rt.Sym(f"offsetof({ctype}, {member})", str(e))

    def alignof(self, ctype: str):
        from analyzer.model.sizes import Unsized

        try:
            return self.sizes.layout(ctype).align
        except Unsized as e:
            return rt.Sym(f"__alignof__({ctype})", str(e))

    def machine(self) -> Machine:
        m = Machine(self.layout, self.linker.link, self.global_maker, self.locate)
        m.convert = self.sizes.convert  # a member keeps the value its C type can hold
        m.sizeof = self.sizeof
        m.alignof = self.alignof
        m.offsetof = self.offsetof
        m.struct_of = self.aggregate
        m.integer_type = lambda ctype: self.sizes.integer(ctype) is not None
        m.constant = self.facts.constant
        m.max_depth = int(self.data.get("policy", {}).get("max_depth", 40))
        machine = self.data.get("machine", {})
        m.cpus = int(machine.get("cpus", 1))
        m.memory_mb = int(machine.get("memory_mb", 64))
        m.machine_globals = dict(machine.get("globals", {}))
        from analyzer.model.process import Process

        m.process = Process.from_table(self.data.get("process", {}))
        return m

    # --- output ------------------------------------------------------------------------------
    def sources(self) -> tuple[dict, dict, dict]:
        """The Python generated so far, with what the boot translated when the
        machine came from an image: functions ((name, file) -> text),
        initializers of globals (key -> (file, text)), struct classes (name -> text)."""
        functions = {(name, file): text for kind, name, file, text in self.boot_sources
                     if kind == "f"}
        functions.update({key: tr.source for key, (tr, _) in self.functions.items()})
        inits = {key: (file, text) for kind, key, file, text in self.boot_sources if kind == "i"}
        inits.update({key: (tr.file, tr.source) for key, (tr, _) in self.inits.items()
                      if key not in inits})
        structs = {name: text for kind, name, _, text in self.boot_sources if kind == "s"}
        structs.update(self.struct_src)
        return functions, inits, structs

    def modules(self) -> dict[str, str]:
        """Generated module texts by file name."""
        header = ("# Generated by analyzer.model from {what}; do not edit.\n"
                  "# rt = analyzer.model.runtime; F (functions) and G (globals) are bound\n"
                  "# by the machine that runs this code.\n\n")
        functions, inits, structs = self.sources()
        out = {"structs.py": header.format(what="the analysed struct definitions")
               + "from analyzer.model import rt\n\n\n"
               + "\n\n".join(structs[k] for k in sorted(structs))}
        per_file: dict[str, list[str]] = {}
        for (_, file), text in sorted(functions.items(), key=lambda i: i[0][1::-1]):
            per_file.setdefault(file, []).append(text)
        for file, text in inits.values():
            per_file.setdefault(file, []).append(text)
        for file, sources in per_file.items():
            out[module_name(file) + ".py"] = header.format(what=safe_path(file)) \
                + "\n\n".join(sources)
        return out

    def write(self, folder: Path) -> list[Path]:
        """Write the generated modules into ``folder``: each one atomically (a
        temporary file renamed), and only when its text changed."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in self.modules().items():
            path = folder / name
            data = text.encode()
            try:
                same = path.read_bytes() == data
            except OSError:
                same = False
            if not same:
                tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
                try:
                    tmp.write_bytes(data)
                    os.replace(tmp, path)
                finally:
                    tmp.unlink(missing_ok=True)
            written.append(path)
        return written

    def python_of(self, name: str) -> tuple[Translation, str]:
        """The generated Python of ``name`` (or ``name@file``) and the C it comes
        from; AnalyzerError when no such function, or when several files define
        ``name`` (the message lists the ``name@file`` forms to choose from)."""
        name, _, file = name.strip().partition("@")
        if not name:
            raise AnalyzerError("--python needs a function name, e.g. --python sock_alloc "
                                "or --python raw_init@net/ipv4/raw.c")
        if file:
            if not any(f.file == file for f in self.facts.functions(name)):
                where = ", ".join(sorted({f.file for f in self.facts.functions(name)}))
                raise AnalyzerError(f"{name} is not defined in {file}"
                                    + (f"; it is in {where}" if where else ""))
        else:
            files = sorted({f.file for f in self.facts.functions(name)
                            if not f.header})
            if len(files) > 1:
                raise AnalyzerError(f"{name} is defined in {len(files)} files; name one: "
                                    + ", ".join(f"{name}@{f}" for f in files[:8])
                                    + (" ..." if len(files) > 8 else ""))
        found = self.definition(name, file)
        if found is None:
            raise AnalyzerError(f"{name} is not a function defined in the analysed tree")
        tr, _ = self.function(name, found[0])
        node, raw = found[1], self.file(found[0]).raw  # as written, before macro rewrites
        return tr, raw[node.start_byte:node.end_byte].decode(errors="replace")


def _py(name: str) -> str:
    from analyzer.model.translate import pyname

    return pyname(name)


#: a file-scope use of a macro that declares a global: `static DECLARE_BITMAP(x, 8);`
_DECLARER = re.compile(r"^((?:(?:static|const|__read_mostly|__initdata)\s+)*)"
                       r"([A-Za-z_]\w*)[ \t]*\([ \t]*([A-Za-z_]\w*)[ \t]*((?:,[^;{}\n]*)?)\)"
                       r"[ \t]*(?:__\w+[ \t]*)*;", re.M)


def _global_of(node: Node, name: str, file: str):
    """A Global record for ``name`` declared by a declaration node of ``file``."""
    from analyzer.model.translate import _declarator_info, _type_text

    storage = {c.text.decode() for c in node.children if c.type == "storage_class_specifier"}
    for d in node.children_by_field_name("declarator"):
        found, suffix, dims = _declarator_info(d)
        if found != name or "()" in suffix:
            continue
        array = "".join(f"[{dim.text.decode() if dim is not None else ''}]" for dim in dims)
        ctype = _type_text(node) + (" " + suffix.replace("[]", "") if "*" in suffix else "")
        return records.Global(name, ctype.strip(), file, node.start_point.row + 1,
                              static="static" in storage, extern="extern" in storage,
                              array=array)
    return None


def _declared_global(text: str, name: str, file: str, line: int, static: bool):
    """A macro's expansion parsed as a declaration of ``name``:
    (Global record, declaration node), or None if it is not one."""
    from analyzer.model.translate import _declarator_info, _type_text

    parsed = parse((text.strip().rstrip(";") + ";\n").encode())
    for node in parsed.root.named_children:
        if node.type != "declaration" or node.has_error or any(
                c.type == "storage_class_specifier" and c.text == b"extern"
                for c in node.children):
            continue
        for d in node.children_by_field_name("declarator"):
            found, suffix, dims = _declarator_info(d)
            if found != name:
                continue
            array = "".join(f"[{dim.text.decode() if dim is not None else ''}]" for dim in dims)
            ctype = _type_text(node) + (" " + suffix.replace("[]", "") if "*" in suffix else "")
            return records.Global(name, ctype.strip(), file, line, static=static,
                                  array=array), node
    return None


def field_names(decl: Node) -> list[tuple[str, str]]:
    """(name, C type with pointer and array parts) of each member a
    field_declaration declares."""
    t = decl.child_by_field_name("type")
    base = re.sub(r"\s+", " ", t.text.decode(errors="replace")) if t is not None else "int"
    out = []
    for d in decl.children_by_field_name("declarator"):
        stars, dims, inner = "", "", d
        while inner is not None and inner.type != "field_identifier":
            if inner.type == "pointer_declarator":
                stars += "*"
            elif inner.type == "array_declarator":
                size = inner.child_by_field_name("size")
                dims += f"[{size.text.decode() if size is not None else ''}]"
            elif inner.type == "function_declarator":
                stars += "(*)()"
            inner = inner.child_by_field_name("declarator")
        if inner is not None:
            out.append((inner.text.decode(), f"{base} {stars}{dims}".strip()))
    return out


_TYPEOF_TYPE = re.compile(r"\b(?:__typeof__|__typeof|typeof)\s*\(\s*((?:struct|union|enum)\s+\w+"
                          r"|(?:unsigned |signed )?(?:long long|long|int|short|char)|\w+_t)\s*\)")


def _typeof_types(text: str) -> str:
    """``__typeof__(struct tcp_mib)`` is ``struct tcp_mib``."""
    return _TYPEOF_TYPE.sub(lambda m: m.group(1), text)


def _is_static(node: Node) -> bool:
    return any(c.type == "storage_class_specifier" and c.text == b"static"
               for c in node.children)


def returns_void(node: Node) -> bool:
    """Does a function_definition return void (``void f(...)``, not ``void *f``)?"""
    t = node.child_by_field_name("type")
    d = node.child_by_field_name("declarator")
    return t is not None and t.text == b"void" and d is not None \
        and d.type == "function_declarator"


def _first(items: list):
    return items[0] if items else None


def _or_fail(value):
    if value is None:
        raise KeyError("unknown")
    return value


def _spec_src(sp: rt.FieldSpec) -> str:
    elem = _spec_src(sp.elem) if sp.elem is not None else "None"
    return (f"rt.FieldSpec({sp.name!r}, {sp.ctype!r}, {sp.kind!r}, {sp.target!r}, "
            f"{sp.count}, {elem})")


def _declaration_at(pf: ParsedFile, name: str, line: int) -> Node | None:
    nodes = pf.declarations.get(name, [])
    for n in nodes:
        if n.start_point.row + 1 <= line <= n.end_point.row + 1:
            return n
    return nodes[0] if nodes else None


def _init_value(decl: Node, name: str) -> Node | None:
    for d in decl.children_by_field_name("declarator"):
        if d.type == "init_declarator":
            inner = d.child_by_field_name("declarator")
            while inner is not None and inner.type != "identifier":
                inner = inner.child_by_field_name("declarator")
            if inner is not None and inner.text.decode() == name:
                return d.child_by_field_name("value")
    return None


class _InitTranslator(_Translator):
    """A global's initializer as ``def init_NAME(o): ...; return o``."""

    def __init__(self, value: Node, rec: records.Global, inactive: frozenset[int],
                 names: Names):
        self.value, self.rec, self.inactive = value, rec, inactive
        self.node, self.file, self.names = value, rec.file, names
        self.fname = rec.name
        self.iters = {}
        self.locals = {}
        self.out = []
        self.loop_depth = self.counter = 0
        self.labels = []
        self.expanding = set()
        self.raw = None
        self.parent, self.at_line, self.prelude, self.nonlocals = None, 0, [], set()
        self._foreign, self._declaring = [], {}
        self.header_end = 1
        self.cur_line = rec.line

    def translate(self) -> Translation:
        field_name(self.rec.name)
        self.emit(0, f"def init_{self.rec.name}(o):", self.value)
        self.value = self.brace_value(self.value)  # = STATIC_KEY_INIT_FALSE: { ... }
        if self.value.type == "initializer_list":
            self.fill("o", self.value, 1)
            self.emit(1, "return o", self.value)
        else:
            self.emit(1, f"return {self.expr(self.value)}", self.value)
        tr = self.finish()
        return Translation(f"init {self.rec.name}", self.rec.file, self.rec.line,
                           tr.source, tr.lines)

    def fill(self, target: str, lst: Node, ind: int) -> None:
        for pos, item in enumerate(self.items(lst)):
            if item.type == "initializer_pair":
                path = target
                for des in item.children_by_field_name("designator"):
                    if des.type == "field_designator":
                        path += "." + field_name(des.named_children[0].text.decode())
                    elif des.type == "subscript_designator":
                        path = f"rt.slot({path}, {self.expr(des.named_children[0])})"
                    else:
                        raise self.fail(des, "a designator")
                value = item.child_by_field_name("value")
            else:
                path, value = f"rt.slot({target}, {pos})", item
            self.put(path, value, ind)

    def items(self, lst: Node) -> list[Node]:
        """The kept items of an initializer list; an item that is a macro
        expanding to designated members (``NEIGH_SYSCTL_ENTRY(...)`` is
        ``[NEIGH_VAR_X] = { ... }``) gives those members."""
        out = []
        for item in lst.named_children:
            if item.type == "comment" or item.start_point.row + 1 in self.inactive:
                continue
            expanded = self.designated_expansion(item)
            out.extend(expanded if expanded is not None else [item])
        return out

    def put(self, path: str, value: Node, ind: int) -> None:
        value = self.brace_value(value)
        if value.type == "initializer_list":
            sub = self.fresh("o")
            if path.startswith("rt.slot("):
                path = "rt.aggregate_slot(" + path[len("rt.slot("):]
            self.emit(ind, f"{sub} = {path}", value)
            self.fill(sub, value, ind)
            return
        if path.startswith("rt.slot(") and path.endswith(")"):
            self.emit(ind, f"rt.set_slot({path[len('rt.slot('):-1]}, {self.expr(value)})", value)
        else:
            self.emit(ind, f"{path} = {self.expr(value)}", value)


__all__ += ["Untranslatable"]


def _define(root, name: str):
    """The ``#define name(...)`` node of a file (depth first, in source order)."""
    stack = [root] if root is not None else []
    while stack:
        n = stack.pop()
        if n.type == "preproc_function_def" and \
                n.child_by_field_name("name").text.decode() == name:
            return n
        if n.type in ("translation_unit", "preproc_if", "preproc_ifdef", "preproc_else",
                      "preproc_elif", "ERROR"):
            stack.extend(reversed(n.named_children))
    return None
