"""A Drawing as inline SVG markup: one focusable group per node, named and stated for screen readers.

Built as a string (every text and attribute escaped here) rather than through the template
engine: a 1,000-node task is about 5,000 elements, which string joins render in milliseconds.
Colours come from the stylesheet through `data-state`, so the page's script changes a node's
colour by changing one attribute.
"""
from __future__ import annotations

from collections.abc import Callable
from html import escape

from .graph import END, Box, Drawing, Edge

NAME_CHARS = 19
ICONS = {
    "ParallelGateway": "M20 11v18M11 20h18",
    "ExclusiveGateway": "M14 14l12 12M26 14l-12 12",
    "ConditionalParallelGateway": "M20 12v16M12 20h16M16 16h8v8h-8z",
    "ConvergeGateway": "M13 20h14M20 13v14M15 15l10 10M25 15l-10 10",
}


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _short(text: str, limit: int = NAME_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _n(value: float) -> str:
    return f"{value:.0f}"


def edge_path(edge: Edge) -> str:
    """Smooth cubic segments through the edge's points, leaving and entering along their sides.

    A control point reaches half the distance along its own direction only, so a steep edge
    bends smoothly instead of overshooting backwards.
    """
    pts = edge.points
    parts = [f"M{_n(pts[0][0])} {_n(pts[0][1])}"]
    last = len(pts) - 2
    for k, ((x1, y1), (x2, y2)) in enumerate(zip(pts, pts[1:], strict=False)):
        ahead = 1.0 if x2 >= x1 else -1.0
        d1 = edge.out_dir if k == 0 else (ahead, 0.0)
        d2 = edge.in_dir if k == last else (ahead, 0.0)
        r1 = max(12.0, 0.5 * (abs(x2 - x1) if d1[0] else abs(y2 - y1)))
        r2 = max(12.0, 0.5 * (abs(x2 - x1) if d2[0] else abs(y2 - y1)))
        parts.append(f"C{_n(x1 + d1[0] * r1)} {_n(y1 + d1[1] * r1)} "
                     f"{_n(x2 - d2[0] * r2)} {_n(y2 - d2[1] * r2)} {_n(x2)} {_n(y2)}")
    return " ".join(parts)


def _node(box: Box, state: str) -> str:
    label = f"{box.label}, {box.type_label}"
    title = box.label + (f" ({box.code})" if box.code else "") + (" · optional" if box.optional else "")
    # A template's nodes have no state: no colour, no state text.
    stated = (f'data-state="{_e(state)}" aria-label="{_e(label)}, {_e(state)}"' if state
              else f'aria-label="{_e(label)}"')
    attrs = (f'class="node {box.kind}{" frame" if box.expanded else ""}{" end" if box.type == END else ""}" '
             f'data-key="{_e(box.key)}" data-type="{_e(box.type)}" data-label="{_e(label)}" {stated} '
             f'role="button" tabindex="-1" transform="translate({_n(box.x)} {_n(box.y)})"')
    w, h = _n(box.w), _n(box.h)
    inner = [f"<title>{_e(title)}</title>"]
    if box.kind == "event":
        r = box.w / 2
        inner.append(f'<circle class="shape" cx="{_n(r)}" cy="{_n(r)}" r="{_n(r - 1)}"/>')
        inner.append(f'<text class="glyph" x="{_n(r)}" y="{_n(r + 4)}">{"end" if box.type == END else "start"}</text>')
    elif box.kind == "gateway":
        half = box.w / 2
        inner.append(f'<path class="shape" d="M{_n(half)} 1L{_n(box.w - 1)} {_n(half)}L{_n(half)} '
                     f'{_n(box.h - 1)}L1 {_n(half)}z"/>')
        inner.append(f'<path class="icon" d="{ICONS.get(box.type, "")}"/>')
    elif box.expanded:
        inner.append(f'<rect class="shape" width="{w}" height="{h}" rx="8"/>')
        inner.append(f'<text class="name" x="10" y="20">{_e(_short(box.label, 40))}</text>')
        inner.append(f'<text class="st" x="{_n(box.w - 10)}" y="20" text-anchor="end">{_e(state)}</text>')
    else:
        inner.append(f'<rect class="shape" width="{w}" height="{h}" rx="6"/>')
        inner.append(f'<text class="name" x="10" y="21">{_e(_short(box.label))}</text>')
        inner.append(f'<text class="st" x="10" y="40">{_e(state)}</text>')
        if box.code:
            inner.append(f'<text class="code" x="{_n(box.w - 8)}" y="40" text-anchor="end">'
                         f'{_e(_short(box.code, 12))}</text>')
    return f"<g {attrs}>{''.join(inner)}</g>"


def render(drawing: Drawing, state_of: Callable[[Box], str], *, label: str) -> str:
    """The `<svg>` element; `state_of(box)` gives each node's state code ("" for none)."""
    frames = sorted((b for b in drawing.boxes if b.expanded), key=lambda b: b.depth)
    plain = [b for b in drawing.boxes if not b.expanded]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" id="graph" '
        f'viewBox="0 0 {_n(drawing.width)} {_n(drawing.height)}" '
        f'width="{_n(drawing.width)}" height="{_n(drawing.height)}" role="group" aria-label="{_e(label)}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" '
        'orient="auto-start-reverse"><path d="M0 0L10 5L0 10z"/></marker></defs>',
        '<g class="frames">', *(_node(b, state_of(b)) for b in frames), "</g>",
        '<g class="edges" aria-hidden="true">',
    ]
    for edge in drawing.edges:
        out.append(f'<path class="edge" data-flow="{_e(edge.flow_id)}" d="{edge_path(edge)}" '
                   f'marker-end="url(#arrow)"/>')
    for edge in drawing.edges:
        if edge.label:
            (x1, y1), (x2, y2) = edge.points[0], edge.points[1]
            mx, my = (x1 + x2) / 2, (y1 + y2) / 2 - 6
            out.append(f'<text class="edge-label" x="{_n(mx)}" y="{_n(my)}">{_e(_short(edge.label, 24))}</text>')
    out += ["</g>", '<g class="nodes">', *(_node(b, state_of(b)) for b in plain), "</g>", "</svg>"]
    return "".join(out)
