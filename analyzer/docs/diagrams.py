"""Small diagrams drawn at build time as inline SVG (no JavaScript, no CDN).

Takes plain layouts computed by the page generators (a call tree, a chain of
embedded structs, a struct made of parts, objects with pointer fields) and
produces ``<svg>`` text.  Every label is XML-escaped; every drawn box is a
``<g class="node">`` so a browser test can count them.  Sizes come from a
monospace font, so text width is ``0.6 * font size`` per character.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["TreeNode", "Part", "ObjNode", "call_tree", "nested", "record", "object_graph"]

FONT = 12
CHAR = FONT * 0.6
ROW = 22
PAD = 8


def _x(text: object) -> str:
    return escape(str(text), quote=True)


def _w(text: str) -> float:
    return len(text) * CHAR + 2 * PAD


def _svg(width: float, height: float, title: str, body: list[str], cls: str) -> str:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="diagram {cls}" role="img" '
            f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
            f'font-family="monospace" font-size="{FONT}">')
    mark = f"arrow-{cls}-{zlib.crc32(title.encode()):08x}"
    defs = (f'<defs><marker id="{mark}" viewBox="0 0 10 10" refX="9" refY="5" '
            'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            '<path d="M0,0 L10,5 L0,10 z" class="dg-head"/></marker></defs>')
    body = [b.replace(f"url(#arrow-{cls})", f"url(#{mark})") for b in body]
    return "".join([head, f"<title>{_x(title)}</title>", defs, *body, "</svg>"])


def _box(x: float, y: float, w: float, h: float, label: str, cls: str = "",
         href: str = "") -> str:
    text = (f'<text x="{x + PAD:.1f}" y="{y + h / 2 + FONT * 0.35:.1f}" '
            f'class="dg-label">{_x(label)}</text>')
    rect = f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="4" class="dg-box"/>'
    inner = rect + text
    if href:
        inner = f'<a href="{_x(href)}">{inner}</a>'
    return f'<g class="node {cls}">{inner}</g>'


@dataclass(frozen=True)
class TreeNode:
    """One call in a call tree: its depth, label, CSS class and link."""

    depth: int
    label: str
    cls: str = ""
    href: str = ""


def call_tree(nodes: Sequence[TreeNode], title: str) -> str:
    """An indented call tree: one box per call, elbow lines from each caller."""
    indent, body, parents = 28, [], {}
    width = max((n.depth * indent + _w(n.label) for n in nodes), default=100) + 2
    for i, n in enumerate(nodes):
        x, y = n.depth * indent + 1, i * (ROW + 6) + 1
        parent = parents.get(n.depth - 1)
        if parent is not None:
            px, py = parent
            body.append(f'<path d="M{px + 10:.1f},{py + ROW:.1f} V{y + ROW / 2:.1f} H{x:.1f}" '
                        f'class="dg-edge" marker-end="url(#arrow-call-tree)"/>')
        parents[n.depth] = (x, y)
        for d in [d for d in parents if d > n.depth]:
            del parents[d]
        body.append(_box(x, y, _w(n.label), ROW, n.label, n.cls, n.href))
    return _svg(width, len(nodes) * (ROW + 6) + 2, title, body, "call-tree")


def nested(layers: Sequence[tuple[str, str, str]], title: str) -> str:
    """Nested boxes, outermost first: ``(label, detail, href)`` per layer."""
    step, head, body, n = 16, ROW + 4, [], len(layers)
    inner_w = max((_w(f"{a}  {b}") for a, b, _ in layers), default=100)
    width = inner_w + 2 * step * n + 2
    height = ROW + 10 + max(n - 1, 0) * (step + head)
    for i, (label, detail, href) in enumerate(layers):
        x, y = 1 + i * step, 1 + i * head
        w, h = width - 2 * x, height - 1 - i * step - y
        rect = (f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="6" '
                f'class="dg-box layer-{i % 5}"/>')
        text = (f'<text x="{x + PAD:.1f}" y="{y + ROW * 0.75:.1f}" class="dg-label">'
                f'<tspan class="dg-strong">{_x(label)}</tspan>  {_x(detail)}</text>')
        inner = rect + text
        if href:
            inner = f'<a href="{_x(href)}">{inner}</a>'
        body.append(f'<g class="node">{inner}</g>')
    return _svg(width, height, title, body, "nested")


@dataclass(frozen=True)
class Part:
    """A member of a composite struct: name, type, and the member's own fields."""

    name: str
    type: str
    fields: tuple[str, ...] = ()
    href: str = ""


def record(name: str, parts: Sequence[Part], title: str, href: str = "") -> str:
    """A struct drawn as a box of stacked members, each listing its own fields."""
    lines = [f"{p.type} {p.name}" for p in parts] + [f for p in parts for f in p.fields]
    inner_w = max([_w(x) + 24 for x in lines] + [_w(f"struct {name}")])
    y, body = ROW + 4, []
    for p in parts:
        h = ROW * (1 + len(p.fields)) + 8
        rows = "".join(f'<text x="{28:.1f}" y="{y + ROW * (k + 1.6):.1f}" class="dg-field">'
                       f'{_x(f)}</text>' for k, f in enumerate(p.fields))
        rect = (f'<rect x="12" y="{y:.1f}" width="{inner_w:.1f}" height="{h:.1f}" rx="4" '
                f'class="dg-box part"/><text x="20" y="{y + ROW * 0.7:.1f}" '
                f'class="dg-label dg-strong">{_x(f"{p.type} {p.name}")}</text>{rows}')
        inner = f'<a href="{_x(p.href)}">{rect}</a>' if p.href else rect
        body.append(f'<g class="node">{inner}</g>')
        y += h + 6
    outer = (f'<g class="node outer"><rect x="1" y="1" width="{inner_w + 22:.1f}" '
             f'height="{y + 4:.1f}" rx="6" class="dg-box outer"/><text x="10" y="{ROW * 0.75:.1f}"'
             f' class="dg-label dg-strong">struct {_x(name)}</text></g>')
    return _svg(inner_w + 26, y + 8, title, [outer, *body], "record")


@dataclass(frozen=True)
class ObjNode:
    """An object of the model: its label, type, and the fields to draw."""

    id: str
    title: str
    fields: tuple[tuple[str, str], ...]
    href: str = ""


def object_graph(nodes: Sequence[ObjNode], edges: Sequence[tuple[str, str, str]],
                 title: str) -> str:
    """Objects stacked top to bottom; an arrow from each pointer field to its object.

    ``edges`` are ``(node id, field name, target node id)``; arrows leave the
    field's row on the right and enter the target's title row on the right,
    each bent a little further out than the last so they stay apart.
    """
    gap, body, place, y = 26, [], {}, 1.0
    w = max((_w(t) for n in nodes for t in [n.title] + [f"{a} = {b}" for a, b in n.fields]),
            default=60)
    for n in nodes:
        place[n.id] = (y, w, {f: k for k, (f, _) in enumerate(n.fields)})
        body.append(_obj_box(n, 1, y, w))
        y += ROW * (len(n.fields) + 1) + 6 + gap
    hops = [e for e in edges if e[0] in place and e[2] in place and e[0] != e[2]]
    right = max((w for _, w, _ in place.values()), default=60) + 1
    for k, (src, fld, dst) in enumerate(hops):
        (sy, sw, rows), (ty, tw, _) = place[src], place[dst]
        y1, y2 = sy + ROW * (rows.get(fld, 0) + 1.45), ty + ROW / 2
        bend = right + 30 + 16 * k
        body.append(f'<path d="M{sw + 1:.1f},{y1:.1f} C{bend:.1f},{y1:.1f} {bend:.1f},{y2:.1f} '
                    f'{tw + 3:.1f},{y2:.1f}" class="dg-edge" marker-end="url(#arrow-objects)">'
                    f'<title>{_x(fld)}</title></path>')
    return _svg(right + 40 + 16 * len(hops), max(y - gap, 30) + 2, title, body, "objects")


def _obj_box(n: ObjNode, x: float, top: float, w: float) -> str:
    rows = "".join(
        f'<text x="{x + PAD:.1f}" y="{top + ROW * (k + 1.65):.1f}" class="dg-field">'
        f'{_x(f)} = {_x(v)}</text>' for k, (f, v) in enumerate(n.fields))
    h = ROW * (len(n.fields) + 1) + 6
    inner = (f'<rect x="{x:.1f}" y="{top:.1f}" width="{w:.1f}" height="{h:.1f}" rx="4" '
             f'class="dg-box"/><text x="{x + PAD:.1f}" y="{top + ROW * 0.72:.1f}" '
             f'class="dg-label dg-strong">{_x(n.title)}</text>{rows}')
    if n.href:
        inner = f'<a href="{_x(n.href)}">{inner}</a>'
    return f'<g class="node">{inner}</g>'
