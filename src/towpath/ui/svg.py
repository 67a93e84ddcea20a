"""Graphs and timelines drawn as SVG on the server: a step DAG, a lineage graph, a step timeline, a sparkline.

The layout is layered (each node one column right of its furthest dependency, nodes in a
column in first-seen order), which reads like Airflow's graph view and needs no JavaScript;
the browser only pans and zooms the finished picture (static/app.js).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 180, 44, 60, 18, 12

STATUS_COLOURS = {
    "success": ("#d7f5dd", "#1b5e20"), "failed": ("#fde0dc", "#8e1c12"), "audit_failed": ("#ffe8c2", "#7a3d00"),
    "killed": ("#ece0f5", "#4a1f6b"), "interrupted": ("#ece0f5", "#4a1f6b"), "running": ("#dbe9ff", "#0b3d91"),
    "skipped": ("#eceff1", "#37474f"), "kept": ("#ffe8c2", "#7a3d00"),
}
"""Status -> (fill, text): every pair has a contrast ratio above 7:1."""
DEFAULT_COLOURS = ("#f5f5f5", "#212121")


@dataclass(frozen=True)
class Box:
    id: str
    x: int
    y: int


def layers(graph: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Node -> column: one past its furthest dependency (dependencies outside `graph` are ignored)."""
    depth: dict[str, int] = {}

    def of(node: str, trail: frozenset[str]) -> int:
        if node in depth:
            return depth[node]
        deps = [d for d in graph.get(node, ()) if d in graph and d not in trail]
        depth[node] = 1 + max((of(d, trail | {node}) for d in deps), default=-1)
        return depth[node]

    for node in graph:
        of(node, frozenset())
    return depth


def place(graph: Mapping[str, Sequence[str]]) -> tuple[dict[str, Box], int, int]:
    """Boxes of a layered layout, and the picture's width and height."""
    columns: dict[int, list[str]] = {}
    for node, column in layers(graph).items():
        columns.setdefault(column, []).append(node)
    boxes = {node: Box(node, PAD + c * (NODE_W + GAP_X), PAD + r * (NODE_H + GAP_Y))
             for c, nodes in columns.items() for r, node in enumerate(nodes)}
    width = PAD * 2 + max(len(columns), 1) * (NODE_W + GAP_X) - GAP_X
    height = PAD * 2 + max((len(n) for n in columns.values()), default=1) * (NODE_H + GAP_Y) - GAP_Y
    return boxes, width, height


def dag(graph: Mapping[str, Sequence[str]], *, status: Mapping[str, str], links: Mapping[str, str],
        subtitle: Mapping[str, str] | None = None, label: str = "step graph") -> str:
    """The graph as SVG: a box per node (coloured by `status`, linking to `links[node]`), an arrow per edge."""
    boxes, width, height = place(graph)
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" role="img" aria-label="{escape(label)}" '
             f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">'),
             ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#455a64"/></marker></defs>'),
             '<g class="viewport">']
    for node, deps in graph.items():
        for dep in deps:
            if dep in boxes and node in boxes:
                a, b = boxes[dep], boxes[node]
                x1, y1, x2, y2 = a.x + NODE_W, a.y + NODE_H // 2, b.x, b.y + NODE_H // 2
                mid = (x1 + x2) // 2
                parts.append(f'<path class="edge" d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}" fill="none" '
                             'stroke="#455a64" stroke-width="1.5" marker-end="url(#arrow)"/>')
    for node, box in boxes.items():
        state = status.get(node, "")
        fill, ink = STATUS_COLOURS.get(state, DEFAULT_COLOURS)
        sub = (subtitle or {}).get(node, state)
        inner = (f'<rect x="{box.x}" y="{box.y}" width="{NODE_W}" height="{NODE_H}" rx="6" fill="{fill}" '
                 f'stroke="{ink}"/><text x="{box.x + 8}" y="{box.y + 18}" fill="{ink}" font-weight="600">'
                 f'{escape(_fit(node, 24))}</text><text x="{box.x + 8}" y="{box.y + 35}" fill="{ink}" '
                 f'font-size="12">{escape(_fit(sub, 28))}</text>')
        title = f"<title>{escape(node)}: {escape(sub)}</title>"
        href = links.get(node)
        if href:
            parts.append(f'<a class="node" href="{escape(href)}" data-node="{escape(node)}">{title}{inner}</a>')
        else:
            parts.append(f'<g class="node" data-node="{escape(node)}">{title}{inner}</g>')
    parts.append("</g></svg>")
    return "".join(parts)


@dataclass(frozen=True)
class Span:
    label: str
    start: str
    end: str | None
    status: str


def timeline(spans: Sequence[Span], *, now: dt.datetime | None = None) -> str:
    """One bar per span on a shared time axis (an open span runs to `now`)."""
    if not spans:
        return ""
    parsed = [(s, dt.datetime.fromisoformat(s.start), dt.datetime.fromisoformat(s.end) if s.end else
               (now or dt.datetime.now(dt.UTC))) for s in spans]
    first = min(p[1] for p in parsed)
    total = max((p[2] - first).total_seconds() for p in parsed) or 1.0
    label_w, bar_w, row_h = 200, 520, 22
    height = row_h * len(parsed) + 24
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" role="img" aria-label="step timings" '
             f'viewBox="0 0 {label_w + bar_w + 90} {height}" width="{label_w + bar_w + 90}" height="{height}">')]
    for i, (span, start, end) in enumerate(parsed):
        y = i * row_h + 4
        x = label_w + bar_w * (start - first).total_seconds() / total
        w = max(2.0, bar_w * (end - start).total_seconds() / total)
        fill, ink = STATUS_COLOURS.get(span.status, DEFAULT_COLOURS)
        seconds = (end - start).total_seconds()
        parts.append(f'<text x="0" y="{y + 14}" font-size="12" fill="#212121">{escape(_fit(span.label, 28))}</text>'
                     f'<rect class="span" x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h - 6}" fill="{fill}" '
                     f'stroke="{ink}"><title>{escape(span.label)}: {seconds:.2f}s</title></rect>'
                     f'<text x="{x + w + 4:.1f}" y="{y + 13}" font-size="11" fill="#212121">{seconds:.2f}s</text>')
    parts.append(f'<text x="{label_w}" y="{height - 4}" font-size="11" fill="#424242">0s</text>'
                 f'<text x="{label_w + bar_w}" y="{height - 4}" font-size="11" fill="#424242" '
                 f'text-anchor="end">{total:.2f}s</text></svg>')
    return "".join(parts)


def sparkline(points: Sequence[tuple[str, float]], *, label: str, width: int = 320, height: int = 60) -> str:
    """A small line chart of (time label, value) points, oldest first."""
    if len(points) < 2:
        return ""
    top = max(v for _, v in points) or 1.0
    step = (width - 8) / (len(points) - 1)
    coords = " ".join(f"{4 + i * step:.1f},{height - 4 - (height - 20) * v / top:.1f}" for i, (_, v) in enumerate(points))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="sparkline" role="img" aria-label="{escape(label)}" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}"><polyline fill="none" stroke="#0b3d91" '
            f'stroke-width="2" points="{coords}"/><text x="4" y="12" font-size="11" fill="#212121">max '
            f'{top:,.0f}</text></svg>')


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
