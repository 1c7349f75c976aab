"""Answer single questions from ``build/graph.sqlite`` with plain SQL.

Takes the graph database written by :func:`analyzer.graph.build_graph_store`
and a question (``callers``, ``callees``, ``path``, ``resolve``, ``struct``,
``table``, ``where`` and names), and produces plain data plus a text rendering
with ``file:line`` on every answer.  This is what
``python -m analyzer query`` runs: it never imports networkx nor builds the
graph, so one question costs a few SQLite lookups (``path`` is a
bidirectional breadth-first search in SQL).
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from analyzer.dbfile import closed, opened
from analyzer.errors import AnalyzerError, NotFound

__all__ = ["GraphDB", "run_query", "CALL_KINDS", "norm_expr", "chain_matches", "key_value",
           "allowed"]

#: how to make the graph database again (the end of every message about a broken one)
REBUILD_GRAPH = "rebuild it with `kernel-analyzer graph` (or `kernel-analyzer analyze`)"
#: edge kinds that are calls (direct, or resolved through a function pointer)
CALL_KINDS = ("calls", "dispatches")
_CALLS_SQL = "('calls','dispatches')"


def norm_expr(expr: str) -> str:
    """A callee expression without spaces and without a trailing argument list.

    >>> norm_expr("sb->s_op->alloc_inode (sb)")
    'sb->s_op->alloc_inode'
    """
    expr = re.sub(r"\s+", "", expr)
    if expr.endswith(")") and "(" in expr:
        depth = 0
        for i in range(len(expr) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(expr[i], 0)
            if depth == 0:
                called = i > 0 and (expr[i - 1].isalnum() or expr[i - 1] in "_])")
                return expr[:i] if called else expr
    return expr


def key_value(key: str | int, constant):
    """A narrowing key as a value: an int, a constant's value (via
    ``constant(name) -> int | None``) or, for names such as file systems, the
    string; ``FIELD=VALUE`` (``type=SOCK_STREAM``) gives ``(field, value)``,
    which matches only registrations keyed by that table field."""
    if isinstance(key, str) and "=" in key:
        name, _, value = key.partition("=")
        return (name.strip().lstrip("."), key_value(value.strip(), constant))
    if isinstance(key, int) or re.fullmatch(r"-?\d+", str(key)):
        return int(key)
    value = constant(str(key))
    if value is None and re.fullmatch(r"[A-Z][A-Z0-9_]*", str(key)):
        raise NotFound(f"unknown constant {key!r}: no enum constant or #define with a value "
                       "in the analysed tree")
    return value if value is not None else str(key).strip('"')


def family_key(db: GraphDB, family: str | int):
    """The registration key ``family`` (``--family``) as a key value, checked
    against the keys that registrations of the tree use; AnalyzerError naming
    the value and listing them otherwise (a lowercase constant name, an empty
    or unknown value, a number no table is registered under)."""
    text = str(family).strip()
    if not text:
        raise AnalyzerError("--family is empty: give a registration key such as AF_INET")
    if re.fullmatch(r"-?[0-9]+", text) and len(text) > 20:
        raise AnalyzerError(f"--family {shorten_value(text)}: no registration key is that "
                            "long a number")
    constant = db.constant
    want = key_value(text if isinstance(family, str) else family, constant)
    known = db.keys()
    if want not in known and text.upper() != text and constant(text.upper()) is not None:
        raise AnalyzerError(f"--family {text!r}: constant names are case-sensitive; "
                            f"did you mean {text.upper()}?")
    if want not in known:
        shown = sorted({v for k, v in known.items() if not isinstance(k, tuple)},
                       key=lambda v: (v.startswith('"'), v))
        raise AnalyzerError(f"--family {shorten_value(text)!r}: no table is registered "
                            f"under this key in the analysed tree; {len(shown)} keys are, "
                            f"e.g. {', '.join(shown[:12])}")
    return want


def shorten_value(text: str, keep: int = 40) -> str:
    """A value to echo in a message: whole if short, else start, count and end."""
    return text if len(text) <= keep else \
        f"{text[:keep // 2]}...({len(text) - keep} more characters)...{text[-keep // 4:]}"


def allowed(chains: list, want) -> bool:
    """Whether a dispatch through a table with these registration chains can
    happen under key ``want``: yes unless the table is registered under keys
    and none is ``want`` (tables registered without a key are kept)."""
    keyed = [c for c in chains or () if len(c) == 1 and "key_field" in c[0]]
    return want is None or not keyed or chain_matches(keyed, want) is not None


def chain_matches(chains: list, want) -> list | None:
    """The first registration chain that ends with key value ``want`` (or
    ``(field, value)``)."""
    for chain in chains or ():
        last = chain[-1] if chain else {}
        if isinstance(want, tuple):
            if (last.get("key_field"), last.get("key_value")) == want:
                return chain
        elif last.get("key_value") == want and "key_field" in last:
            return chain
    return None


@dataclass(eq=False)
class GraphDB:
    """Read-only SQL access to ``build/graph.sqlite``."""

    conn: sqlite3.Connection
    file: Path | None = None  # the database file, for :meth:`connect`

    def __post_init__(self) -> None:
        if self.file is not None:
            opened(self)

    def connect(self) -> sqlite3.Connection:
        """A new read-only connection to the database (a forked child's own: see
        :func:`analyzer.dbfile.reopen_in_child`)."""
        return _read_only(self.file)

    @classmethod
    def open(cls, path) -> GraphDB:
        """Open ``path`` read-only; AnalyzerError naming it (and how to make it
        again) when it is missing, not a graph database of this version, or
        damaged where its header and ``meta`` table are."""
        from analyzer.dbfile import database_problem
        from analyzer.graphdata import FORMAT

        path = Path(path)
        problem = database_problem(path)
        if problem == "is missing":
            raise AnalyzerError(f"{path} is missing: run `kernel-analyzer analyze` (or "
                                "`kernel-analyzer graph`)")
        if problem:
            raise AnalyzerError(f"{path} {problem}: {REBUILD_GRAPH}")
        conn = _read_only(path)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'graph_format'").fetchone()
        except sqlite3.DatabaseError as e:
            conn.close()
            raise AnalyzerError(f"{path} is damaged or not a graph database ({e}): "
                                f"{REBUILD_GRAPH}") from None
        if row is None or row[0] != json.dumps(FORMAT):
            conn.close()
            raise AnalyzerError(f"{path} was written by another version of the analyzer "
                                f"(graph format {row[0][:40] if row else 'unknown'}, this one "
                                f"reads {FORMAT!r}): {REBUILD_GRAPH}")
        return cls(conn, path)

    def node(self, nid: str) -> dict | None:
        row = self.conn.execute("SELECT id, name, kind, file, line, data FROM nodes "
                                "WHERE id = ?", (nid,)).fetchone()
        return _node(row, self.conn) if row else None

    def ids(self, name: str, kinds: tuple[str, ...] = ("function", "undefined")) -> list[str]:
        """The node ids a user's name means (``name`` or ``name@file``)."""
        marks = ",".join("?" * len(kinds))
        rows = self.conn.execute(f"SELECT id FROM nodes WHERE (id = ? OR name = ?) "
                                 f"AND kind IN ({marks}) ORDER BY kind, id",
                                 (name, name, *kinds)).fetchall()
        ids = [r[0] for r in rows]
        return [name] if name in ids else ids

    def one(self, name: str, kinds: tuple[str, ...] = ("function", "undefined")) -> str:
        """The single node id for ``name``; NotFound with the closest names,
        or AnalyzerError listing the candidates of an ambiguous static."""
        ids = self.ids(name, kinds)
        if len(ids) == 1:
            return ids[0]
        if ids:
            defined = [i for i in ids if "@" not in i]
            if len(defined) == 1:
                return defined[0]
            raise AnalyzerError(f"{name!r} is ambiguous: " + ", ".join(ids)
                                + " (give one as name@file)")
        raise NotFound(f"no {'/'.join(kinds)} named {name!r}" + self._closest(name, kinds))

    def _closest(self, name: str, kinds: tuple[str, ...]) -> str:
        import difflib

        marks = ",".join("?" * len(kinds))
        stem = name.split("@")[0]
        rows = self.conn.execute(f"SELECT DISTINCT name FROM nodes WHERE kind IN ({marks}) "
                                 "AND (name LIKE ? OR name LIKE ?) LIMIT 5000",
                                 (*kinds, stem[:3] + "%", "%" + stem[-4:] + "%")).fetchall()
        close = difflib.get_close_matches(stem, [r[0] for r in rows], n=6, cutoff=0.6)
        return "; closest: " + ", ".join(close) if close else ""

    def edges(self, nid: str, direction: str, kinds=CALL_KINDS) -> list[dict]:
        """Edges out of (``callees``) or into (``callers``) a node."""
        col = "src" if direction == "out" else "dst"
        marks = ",".join("?" * len(kinds))
        rows = self.conn.execute(f"SELECT src, dst, kind, file, line, data FROM edges "
                                 f"WHERE {col} = ? AND kind IN ({marks}) ORDER BY line, dst",
                                 (nid, *kinds)).fetchall()
        return [_edge(r, self.conn) for r in rows]

    def sites(self, caller: str, expr: str) -> list[dict]:
        want = norm_expr(expr)
        rows = self.conn.execute("SELECT id, caller, file, line, expr, kind, rtype, struct, "
                                 "field, confidence, cause, ntargets FROM sites "
                                 "WHERE caller = ?", (caller,)).fetchall()
        keys = ("id", "caller", "file", "line", "expr", "kind", "rtype", "struct", "field",
                "confidence", "cause", "ntargets")
        return [dict(zip(keys, r, strict=True)) for r in rows if norm_expr(r[4]) == want]

    def site_targets(self, site: int) -> list[dict]:
        rows = self.conn.execute("SELECT src, dst, kind, file, line, data FROM edges "
                                 "WHERE site = ? AND kind = 'dispatches'", (site,)).fetchall()
        return [_edge(r, self.conn) for r in rows]

    def chains(self, table: str) -> list:
        row = self.conn.execute("SELECT data FROM chains WHERE tbl = ?", (table,)).fetchone()
        return json.loads(row[0]) if row else []

    def keys(self) -> dict:
        """Every registration key in use: key value -> how it is written
        (``2`` -> ``"AF_INET"``), with ``(field, value)`` pairs for FIELD=VALUE keys."""
        out: dict = {}
        for (data,) in self.conn.execute("SELECT data FROM chains"):
            for chain in json.loads(data):
                last = chain[-1] if chain else {}
                if "key_field" in last:
                    value = last.get("key_value")
                    if isinstance(value, list):
                        value = tuple(value)
                    shown = str(last.get("key_expr") or value)
                    out.setdefault(value, shown)
                    out.setdefault((last["key_field"], value), f".{last['key_field']} = {shown}")
        return out

    def constant(self, name: str) -> int | None:
        row = self.conn.execute("SELECT value FROM constants WHERE name = ?",
                                (name,)).fetchone()
        return row[0] if row else None

    def path(self, src: str, dst: str, max_depth: int = 25, want=None) -> list[dict]:
        """One shortest call chain ``src`` -> ``dst`` (bidirectional BFS);
        with ``want`` (a key value), skipping dispatches through tables
        registered under other keys.  From a function to itself: the empty
        chain."""
        if src == dst:
            return []
        self._want, self._chain_cache = want, {}
        fwd, bwd = {src: None}, {dst: None}
        ffront, bfront = [src], [dst]
        for _ in range(max_depth):
            if not ffront or not bfront:
                return []
            forward = len(ffront) <= len(bfront)
            front, seen, other = (ffront, fwd, bwd) if forward else (bfront, bwd, fwd)
            nxt, meet = self._expand(front, seen, forward, other)
            if meet is not None:
                return _join_path(meet, fwd, bwd)
            if forward:
                ffront = nxt
            else:
                bfront = nxt
        return []

    def _expand(self, front: list[str], seen: dict, forward: bool, other: dict):
        col = "src" if forward else "dst"
        nxt, meet = [], None
        for i in range(0, len(front), 500):
            chunk = front[i:i + 500]
            rows = self.conn.execute(
                f"SELECT src, dst, kind, file, line, data FROM edges WHERE {col} IN "
                f"({','.join('?' * len(chunk))}) AND kind IN {_CALLS_SQL}", chunk).fetchall()
            for row in rows:
                node = row[1] if forward else row[0]
                if node not in seen and self._allowed(row):
                    seen[node] = _edge(row, self.conn)
                    nxt.append(node)
                    if node in other and meet is None:
                        meet = node
        return nxt, meet


    def _allowed(self, row) -> bool:
        if self._want is None or row[2] != "dispatches":
            return True
        table = (json.loads(row[5]).get("via") or {}).get("table", "")
        if table not in self._chain_cache:
            self._chain_cache[table] = self.chains(table)
        return allowed(self._chain_cache[table], self._want)


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True)


def _join_path(meet: str, fwd: dict, bwd: dict) -> list[dict]:
    head, node = [], meet
    while fwd.get(node) is not None:
        head.append(fwd[node])
        node = fwd[node]["src"]
    tail, node = [], meet
    while bwd.get(node) is not None:
        tail.append(bwd[node])
        node = bwd[node]["dst"]
    return list(reversed(head)) + tail


def _node(row, conn: sqlite3.Connection) -> dict:
    out = {"id": row[0], "name": row[1], "kind": row[2], "file": row[3], "line": row[4]}
    if row[5]:
        out.update(_attrs(row[5], conn))
    return out


def _edge(row, conn: sqlite3.Connection) -> dict:
    out = {"src": row[0], "dst": row[1], "kind": row[2], "file": row[3], "line": row[4]}
    if row[5]:
        out.update(_attrs(row[5], conn))
    return out


def _attrs(data, conn: sqlite3.Connection) -> dict:
    """A row's other attributes (its ``data`` column, a JSON object);
    AnalyzerError naming the database when they are not one."""
    try:
        found = json.loads(data)
    except (ValueError, TypeError):
        found = None
    if type(found) is not dict:
        path = conn.execute("PRAGMA database_list").fetchone()[2]
        raise AnalyzerError(f"{path} is damaged (a row's data is not a JSON object): "
                            f"{REBUILD_GRAPH}")
    return found


# --- the questions ------------------------------------------------------------

def _q_calls(db: GraphDB, names, direction: str, limit: int, **_):
    _one_name(names, "callers F" if direction == "in" else "callees F")
    nid = db.one(names[0])
    edges = db.edges(nid, direction)
    other = "dst" if direction == "out" else "src"
    groups: dict[tuple, list[dict]] = {}  # a dispatch bound many times: one line
    for e in edges:
        key = (e["file"], e["line"], e[other], e["kind"], e.get("expr"))
        groups.setdefault(key, []).append(e)
    total = len(groups)
    if limit and limit < total:  # the first `limit` answers, each with all its edges
        groups = dict(list(groups.items())[:limit])
        edges = [e for group in groups.values() for e in group]
    count = f"{len(groups)}" + (f" of {total} (--limit {limit})" if len(groups) < total else "")
    count += (f" ({len(edges)} edges, one per binding)" if len(groups) < len(edges) else "")
    lines = [f"{'callees of' if direction == 'out' else 'callers of'} {nid}: {count}"]
    for (file, line, name, kind, expr), group in groups.items():
        how = ""
        if kind == "dispatches":
            more = f" (+{len(group) - 1} more bindings)" if len(group) > 1 else ""
            how = f"  via {expr} [{_via(group[0])}]{more}"
        lines.append(f"  {file}:{line}  {name}{how}")
    return {"function": nid, "edges": edges, "total": total}, "\n".join(lines)


def _one_name(names: list[str], usage: str) -> None:
    if len(names) != 1:
        raise AnalyzerError(f"{usage.split()[0]} takes one name: {usage} "
                            f"(got {len(names)}: {shorten_value(' '.join(names))})")


def _via(e: dict) -> str:
    via = e.get("via") or {}
    copied = f"; {via['via']}" if via.get("via") and via.get("kind") != "argument" else ""
    local = f"; through {via['local']}" if via.get("local") else ""
    return _binding_text(e, via) + copied + local


def _binding_text(e: dict, via: dict) -> str:
    where = f"{via.get('file')}:{via.get('line')}"
    if via.get("kind") == "conditional":
        return f"one of a conditional at {where}"
    if via.get("kind") == "value":
        return "named"
    if via.get("kind") == "argument":
        stored = f", stored in {via['expr']} by {via['via']}" if via.get("via") else ""
        return f"passed as {e.get('field', '')} by {via.get('function')} at {where}{stored}"
    return f"{via.get('table') or via.get('function', '')} .{e.get('field', '')} at {where}"


def _q_path(db: GraphDB, names, family=None, **_):
    if len(names) != 2:
        raise AnalyzerError("path needs two names: path FROM TO")
    src, dst = db.one(names[0]), db.one(names[1])
    want = family_key(db, family) if family is not None else None
    hops = db.path(src, dst, want=want)
    if src == dst:
        return {"from": src, "to": dst, "path": []}, f"{src} -> itself: 0 calls (the empty chain)"
    if not hops:
        return {"from": src, "to": dst, "path": []}, f"no call chain from {src} to {dst}"
    lines = [f"{src} -> {dst}: {len(hops)} calls"]
    for e in hops:
        how = f"  via {e['expr']} [{_via(e)}]" if e["kind"] == "dispatches" else ""
        lines.append(f"  {e['file']}:{e['line']}  {e['src']} -> {e['dst']}{how}")
    return {"from": src, "to": dst, "path": hops}, "\n".join(lines)


def _q_resolve(db: GraphDB, names, family=None, **_):
    if len(names) != 2:
        raise AnalyzerError("resolve needs a function and an expression: resolve F EXPR")
    fid = db.one(names[0])
    sites = db.sites(fid, names[1])
    if not sites:
        raise NotFound(f"no indirect call {shorten_value(names[1])!r} in {fid}")
    want = family_key(db, family) if family is not None else None
    out, lines = [], []
    for site in sites:
        targets = _narrowed(db, db.site_targets(site["id"]), want, family)
        out.append({**site, "targets": targets})
        lines.append(f"{site['file']}:{site['line']}  {site['expr']} in {fid}: "
                     f"{site['rtype'] or '?'} .{site['field']} [{site['confidence']}"
                     f"{': ' + site['cause'] if site['cause'] else ''}] "
                     f"{len(targets)} target(s)")
        lines.extend(_target_lines(t) for t in targets)
    return {"function": fid, "expr": names[1], "family": family, "sites": out}, "\n".join(lines)


def _narrowed(db: GraphDB, targets: list[dict], want, family) -> list[dict]:
    if want is None:
        return targets
    out = []
    for t in targets:
        chain = chain_matches(db.chains(t.get("via", {}).get("table", "")), want)
        if chain:
            out.append({**t, "chain": chain})
    return out


def _target_lines(t: dict) -> str:
    line = f"  -> {t['dst']}  bound at {_via(t)}"
    for step in t.get("chain", ()):
        if step["step"] == "listed":
            line += (f"\n       listed in {step['table']} {step['entry']} "
                     f"at {step['file']}:{step['line']}")
            continue
        if step["step"] == "bound":
            line += (f"\n       bound to {step['table']} .{step['field']} "
                     f"at {step['file']}:{step['line']}")
            continue
        line += (f"\n       {step['step']} by {step.get('registrar')} in {step.get('caller')} "
                 f"at {step['file']}:{step['line']}")
        if "key_field" in step:
            line += (f"; .{step['key_field']} = {step['key_expr']} ({step['key_value']}) "
                     f"at {step['key_file']}:{step['key_line']}")
    return line


def _q_struct(db: GraphDB, names, **_):
    _one_name(names, "struct S")
    node = db.node(db.one(names[0], ("struct",)) if " " not in names[0] else names[0])
    if node is None:
        raise NotFound(f"no struct {names[0]!r}")
    embeds = db.edges(node["id"], "out", ("embeds",))
    lines = [f"{node['id']}  {node['file']}:{node['line']}"]
    lines += [f"  {node['file']}:{ln}  {name}: {ctype}{'  #if ' + g if g else ''}"
              for name, ctype, ln, g in node.get("fields", [])]
    lines += [f"  embeds {e['dst']} (first member {e['field']})" for e in embeds]
    return {**node, "embeds": embeds}, "\n".join(lines)


def _q_table(db: GraphDB, names, **_):
    _one_name(names, "table T")
    node = db.node(db.one(names[0], ("table",)))
    lines = [f"{node['id']}: {node.get('type')}  {node['file']}:{node['line']}"]
    lines += [f"  {node['file']}:{ln}  .{path} = {value}"
              for path, value, ln in node.get("entries", [])]
    regs = db.edges(node["id"], "in", ("registers",))
    lines += [f"  registered by {e['registrar']} in {e['src']} at {e['file']}:{e['line']}"
              for e in regs]
    return {**node, "registrations": regs}, "\n".join(lines)


def _q_where(db: GraphDB, names, **_):
    out = []
    for name in names:
        ids = db.ids(name, ("function", "table", "struct"))
        ids = ids or db.ids(f"struct {name}", ("struct",))
        if not ids:
            db.one(name, ("function", "table", "struct"))
        out.extend(db.node(i) for i in ids)
    return out, "\n".join(f"{n['file']}:{n['line']}  {n['kind']} {n['id']}" for n in out)


_QUESTIONS = {
    "callers": lambda db, names, **kw: _q_calls(db, names, "in", **kw),
    "callees": lambda db, names, **kw: _q_calls(db, names, "out", **kw),
    "path": _q_path, "resolve": _q_resolve, "struct": _q_struct, "table": _q_table,
    "where": _q_where,
}


def run_query(cfg, what: str, names: list[str], family: str | None = None,
              limit: int = 0) -> tuple[object, str]:
    """Answer one question from ``cfg.graph_path``: ``(data, text)``.

    ``what`` is one of callers, callees, path, resolve, struct, table, where.
    """
    if what not in _QUESTIONS:
        raise AnalyzerError(f"unknown question {what!r}: one of {', '.join(_QUESTIONS)}")
    if family is not None and what not in ("resolve", "path"):
        raise AnalyzerError(f"--family narrows only `resolve` and `path`; `{what}` does not "
                            "use it")
    if limit and what not in ("callers", "callees"):
        raise AnalyzerError(f"--limit applies to `callers` and `callees`; `{what}` does not "
                            "use it")
    if limit < 0:
        raise AnalyzerError(f"--limit {limit}: give 0 (no limit) or a positive count")
    db = GraphDB.open(cfg.graph_path)
    try:
        return _QUESTIONS[what](db, names, family=family, limit=limit)
    except sqlite3.DatabaseError as e:
        raise AnalyzerError(f"{cfg.graph_path} is damaged ({e}): {REBUILD_GRAPH}") from None
    finally:
        closed(db)
        db.conn.close()
