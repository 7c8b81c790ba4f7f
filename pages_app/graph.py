"""A pipeline tree as a drawing: shaped boxes at positions, routed edges, subprocesses expanded in place.

Plain Python over the tree's dict (no Django), so it is tested fast and the page is drawn on
the server: the browser paints the graph with the HTML, before any script runs.

Positions come from the tree's `location` (and edge sides from its `line`) when every node of
a level has a distinct one, as the original's editor saves them; otherwise the level is laid
out automatically (layout.py). A subprocess is drawn as a frame holding its own level, laid
out the same way; with saved positions, the space it needs beyond a plain node is inserted
as extra columns and rows through it, so nothing the editor placed ends up under it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline_engine import api as engine_api

from . import layout

START, END = engine_api.START_EVENT, engine_api.END_EVENT
ACTIVITY, SUBPROCESS = engine_api.SERVICE_ACTIVITY, engine_api.SUB_PROCESS
GATEWAYS = tuple(sorted(engine_api.GATEWAY_TYPES))

SIZE = {"event": (36.0, 36.0), "gateway": (40.0, 40.0), "activity": (150.0, 52.0)}
# The original editor's `location` is a node's top-left corner for a node of this size:
# centres are kept, so our (differently sized) shapes line up as they did there.
FOOTPRINT = {"event": (42.0, 42.0), "gateway": (32.0, 32.0), "activity": (150.0, 76.0)}
SUB_PAD, SUB_HEADER = 14.0, 30.0
MARGIN = 24.0
SIDES = {"Left": (-1.0, 0.0), "Right": (1.0, 0.0), "Top": (0.0, -1.0), "Bottom": (0.0, 1.0)}

TYPE_LABELS = {
    START: "start event", END: "end event", ACTIVITY: "activity", SUBPROCESS: "subprocess",
    "ParallelGateway": "parallel gateway", "ExclusiveGateway": "exclusive gateway",
    "ConditionalParallelGateway": "conditional parallel gateway", "ConvergeGateway": "converge gateway",
}


def kind_of(node_type: str) -> str:
    if node_type in (START, END):
        return "event"
    if node_type in GATEWAYS:
        return "gateway"
    if node_type == SUBPROCESS:
        return "subprocess"
    return "activity"


@dataclass
class Box:
    key: str                 # ids from the root down, joined by "/": unique even if ids repeat
    node_id: str
    type: str
    kind: str
    name: str
    code: str
    optional: bool
    depth: int
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0
    expanded: bool = False   # a subprocess drawn as a frame around its own nodes

    @property
    def stack(self) -> list[str]:
        return self.key.split("/")[:-1]

    @property
    def type_label(self) -> str:
        return TYPE_LABELS.get(self.type, self.type)

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        return {START: "start", END: "end"}.get(self.type, self.node_id)


@dataclass
class Edge:
    flow_id: str
    source: str              # box keys
    target: str
    points: list[tuple[float, float]]
    out_dir: tuple[float, float] = (1.0, 0.0)
    in_dir: tuple[float, float] = (1.0, 0.0)
    label: str = ""


@dataclass
class Drawing:
    boxes: list[Box] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    width: float = 0.0
    height: float = 0.0

    def box(self, key: str) -> Box | None:
        return next((b for b in self.boxes if b.key == key), None)


def _as_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return [value] if isinstance(value, str) and value else []


def _nodes(tree: dict) -> list[dict]:
    """The level's nodes, start first and end last, in the tree's own order otherwise."""
    out = []
    for key in ("start_event",):
        if isinstance(tree.get(key), dict):
            out.append(tree[key])
    for group in ("activities", "gateways"):
        out.extend(n for n in (tree.get(group) or {}).values() if isinstance(n, dict))
    if isinstance(tree.get("end_event"), dict):
        out.append(tree["end_event"])
    return [n for n in out if isinstance(n.get("id"), str)]


def _flow_order(nodes: list[dict], flows: dict) -> list[str]:
    """Node ids in breadth-first order from the start: it seeds a readable order inside layers."""
    by_id = {n["id"]: n for n in nodes}
    seen: list[str] = []
    marked: set[str] = set()
    queue = [n["id"] for n in nodes if n.get("type") == START] or [n["id"] for n in nodes[:1]]
    while queue:
        nid = queue.pop(0)
        if nid in marked or nid not in by_id:
            continue
        marked.add(nid)
        seen.append(nid)
        for fid in _as_list(by_id[nid].get("outgoing")):
            flow = flows.get(fid) or {}
            if flow.get("target") in by_id and flow["target"] not in marked:
                queue.append(flow["target"])
    return seen + [n["id"] for n in nodes if n["id"] not in marked]


def _labels(nodes: list[dict]) -> dict[str, str]:
    """Branch labels of conditional gateways' outgoing flows (the condition's name, else its expression)."""
    labels: dict[str, str] = {}
    for node in nodes:
        for fid, cond in (node.get("conditions") or {}).items():
            if isinstance(cond, dict):
                text = cond.get("name") or cond.get("evaluate") or ""
                labels[fid] = str(text)
        default = node.get("default_condition")
        if isinstance(default, dict) and default.get("flow_id"):
            labels[default["flow_id"]] = str(default.get("name") or "default")
    return labels


def _locations(tree: dict, ids: list[str]) -> dict[str, tuple[float, float]] | None:
    found: dict[str, tuple[float, float]] = {}
    for item in tree.get("location") or []:
        if not isinstance(item, dict):
            continue
        x, y = item.get("x"), item.get("y")
        if isinstance(x, int | float) and isinstance(y, int | float) and not isinstance(x, bool):
            found[str(item.get("id"))] = (float(x), float(y))
    if not ids or any(i not in found for i in ids):
        return None
    points = {found[i] for i in ids}
    if len(points) < len(ids):  # stacked on one spot: saved by a program, not placed by a person
        return None
    return {i: found[i] for i in ids}


@dataclass
class _Level:
    boxes: list[Box]
    children: dict[str, _Level]          # subprocess key -> its level, positions local to the frame
    edges: list[Edge]
    width: float
    height: float


def _sides(tree: dict) -> dict[str, tuple[str, str]]:
    out = {}
    for line in tree.get("line") or []:
        if isinstance(line, dict) and isinstance(line.get("source"), dict) and isinstance(line.get("target"), dict):
            out[str(line.get("id"))] = (str(line["source"].get("arrow")), str(line["target"].get("arrow")))
    return out


def _anchor(box: Box, side: tuple[float, float]) -> tuple[float, float]:
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    return cx + side[0] * box.w / 2, cy + side[1] * box.h / 2


def _level(tree: dict, prefix: str, depth: int, use_locations: bool) -> _Level:
    nodes = _nodes(tree)
    flows = {k: v for k, v in (tree.get("flows") or {}).items() if isinstance(v, dict)}
    boxes: dict[str, Box] = {}
    children: dict[str, _Level] = {}
    for node in nodes:
        nid = node["id"]
        kind = kind_of(str(node.get("type")))
        box = Box(key=prefix + nid, node_id=nid, type=str(node.get("type")), kind=kind,
                  name=str(node.get("name") or ""), code=str((node.get("component") or {}).get("code") or ""),
                  optional=bool(node.get("optional")), depth=depth)
        box.w, box.h = SIZE["activity" if kind == "subprocess" else kind]
        child = node.get("pipeline") if kind == "subprocess" else None
        if isinstance(child, dict):
            sub = _level(child, box.key + "/", depth + 1, use_locations)
            children[box.key] = sub
            box.expanded = True
            box.w = max(box.w, sub.width + 2 * SUB_PAD)
            box.h = sub.height + SUB_HEADER + SUB_PAD
        boxes[nid] = box
    order = _flow_order(nodes, flows)
    edge_list: list[tuple[str, str, str]] = [
        (fid, f["source"], f["target"]) for fid, f in flows.items()
        if f.get("source") in boxes and f.get("target") in boxes]
    labels = _labels(nodes)
    saved = _locations(tree, order) if use_locations else None
    edges: list[Edge] = []
    if saved is not None:
        _place_saved(boxes, saved)
        sides = _sides(tree)
        for fid, a, b in edge_list:
            src_side, dst_side = sides.get(fid, ("Right", "Left"))
            out_dir = SIDES.get(src_side, (1.0, 0.0))
            into = SIDES.get(dst_side, (-1.0, 0.0))
            edges.append(Edge(fid, boxes[a].key, boxes[b].key,
                              [_anchor(boxes[a], out_dir), _anchor(boxes[b], into)],
                              out_dir, (-into[0], -into[1]), labels.get(fid, "")))
    else:
        placed = layout.layered(order, {i: (boxes[i].w, boxes[i].h) for i in order},
                                [(a, b) for _f, a, b in edge_list])
        for nid, (x, y) in placed.pos.items():
            boxes[nid].x, boxes[nid].y = x, y
        for index, (fid, a, b) in enumerate(edge_list):
            bends = placed.bends.get(index, [])
            if index in placed.reversed_edges:
                # A loop back: leave below the source, come back below the target.
                down, up = (0.0, 1.0), (0.0, -1.0)
                pts = [_anchor(boxes[a], down), *bends, _anchor(boxes[b], down)]
                edges.append(Edge(fid, boxes[a].key, boxes[b].key, pts, down, up, labels.get(fid, "")))
            else:
                pts = [_anchor(boxes[a], (1.0, 0.0)), *bends, _anchor(boxes[b], (-1.0, 0.0))]
                edges.append(Edge(fid, boxes[a].key, boxes[b].key, pts, label=labels.get(fid, "")))
    width = max((b.x + b.w for b in boxes.values()), default=0.0)
    height = max((b.y + b.h for b in boxes.values()), default=0.0)
    return _Level([boxes[i] for i in order], children, edges, width, height)


def _place_saved(boxes: dict[str, Box], saved: dict[str, tuple[float, float]]) -> None:
    """Centres from the editor's corners; frames push later columns right and lower rows down."""
    centres = {}
    for nid, (x, y) in saved.items():
        box = boxes[nid]
        fw, fh = FOOTPRINT["activity" if box.kind == "subprocess" else box.kind]
        centres[nid] = (x + fw / 2, y + fh / 2)
    growth = []
    for nid, box in boxes.items():
        if box.expanded:
            growth.append((centres[nid], box.w - SIZE["activity"][0], box.h - SIZE["activity"][1]))
    base_w, base_h = SIZE["activity"]
    for nid, (cx, cy) in centres.items():
        box = boxes[nid]
        dx = sum(gw for (gx, _gy), gw, _gh in growth if gx < cx)
        dy = sum(gh for (_gx, gy), _gw, gh in growth if gy < cy)
        # A frame keeps its top-left where a plain node would have been and grows right and down.
        w, h = (base_w, base_h) if box.expanded else (box.w, box.h)
        box.x, box.y = cx - w / 2 + dx, cy - h / 2 + dy
    min_x = min(b.x for b in boxes.values())
    min_y = min(b.y for b in boxes.values())
    for box in boxes.values():
        box.x -= min_x
        box.y -= min_y


def _flatten(level: _Level, ox: float, oy: float, drawing: Drawing) -> None:
    for box in level.boxes:
        box.x += ox
        box.y += oy
        drawing.boxes.append(box)
    for edge in level.edges:
        edge.points = [(x + ox, y + oy) for x, y in edge.points]
        drawing.edges.append(edge)
    for box in level.boxes:
        sub = level.children.get(box.key)
        if sub is not None:
            inner_x = box.x + (box.w - sub.width) / 2
            _flatten(sub, inner_x, box.y + SUB_HEADER, drawing)


def draw(tree: dict, *, use_locations: bool = True) -> Drawing:
    """The drawing of a whole tree, its top-left at (MARGIN, MARGIN)."""
    level = _level(tree if isinstance(tree, dict) else {}, "", 0, use_locations)
    drawing = Drawing()
    _flatten(level, MARGIN, MARGIN, drawing)
    drawing.width = level.width + 2 * MARGIN
    drawing.height = level.height + 2 * MARGIN
    return drawing
