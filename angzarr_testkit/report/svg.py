"""Drawing the timeline: the swimlane SVG and the legend's icons.

Shapes are computed here (coordinates are arithmetic, which a template does badly) and returned
as :class:`markupsafe.Markup`, so the page template inserts them as they are; every piece of
text inside them (roots, tooltips, labels) goes through :func:`escape_text` first.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from markupsafe import Markup

from .markup import escape_text
from .palette import (
    FAULT_COLOUR,
    OUTCOME_STYLE,
    SHAPES,
    fault_colour,
    finding_colour,
    outcome_class,
)
from .timeline import Mark, Timeline

__all__ = [
    "LegendGroup",
    "dead_letter_marker",
    "fault_marker",
    "icon",
    "legend",
    "ring",
    "shape",
    "timeline_svg",
]

# Timeline geometry (SVG user units; the SVG scales down to the page width).
WIDTH = 1300
LABEL_W = 250
PLOT_X0 = LABEL_W + 16
PLOT_X1 = WIDTH - 24
AXIS_H = 30
LANE_H = 36


def shape(kind: str, x: float, y: float, fill: str) -> str:
    """A mark of ``kind`` (``circle``, ``diamond`` or ``square``) centred on ``(x, y)``."""
    stroke = "#495057" if fill == "#ffffff" else "#1f2326"
    common = f'fill="{fill}" stroke="{stroke}" stroke-width="1"'
    if kind == "diamond":
        d = 6.5
        return (
            f'<polygon points="{x:.1f},{y - d:.1f} {x + d:.1f},{y:.1f} {x:.1f},{y + d:.1f} '
            f'{x - d:.1f},{y:.1f}" {common}/>'
        )
    if kind == "square":
        s = 5
        return f'<rect x="{x - s:.1f}" y="{y - s:.1f}" width="{2 * s}" height="{2 * s}" {common}/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" {common}/>'


def fault_marker(x: float, top: float, colour: str) -> str:
    """The downward triangle drawn above a delivery that had a fault injected."""
    return (
        f'<polygon points="{x - 4.5:.1f},{top + 2:.1f} {x + 4.5:.1f},{top + 2:.1f} '
        f'{x:.1f},{top + 9:.1f}" fill="{colour}"/>'
    )


def dead_letter_marker(x: float, y: float) -> str:
    """The cross over a delivery that was settled by dead-lettering."""
    return (
        f'<path d="M{x - 7:.1f},{y - 7:.1f}L{x + 7:.1f},{y + 7:.1f}M{x + 7:.1f},{y - 7:.1f}'
        f'L{x - 7:.1f},{y + 7:.1f}" stroke="#212529" stroke-width="2.2"/>'
    )


def ring(x: float, y: float, r: float, colour: str) -> str:
    """A finding's ring around a mark."""
    return (
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="none" stroke="{colour}" '
        'stroke-width="2.2"/>'
    )


def icon(body: str, width: int = 22, height: int = 22) -> Markup:
    """A small standalone SVG (a legend entry) around shapes drawn by this module."""
    return Markup(
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-hidden="true">{body}</svg>'
    )


@dataclass(frozen=True)
class LegendGroup:
    """One column of the legend: a heading and its ``(icon or None, label)`` entries."""

    heading: str
    items: tuple[tuple[Markup | None, str], ...]


def legend(kinds_present: Iterable[str]) -> list[LegendGroup]:
    """The legend's columns; the finding column lists the kinds in ``kinds_present`` only."""
    grey = "#ced4da"
    shapes = tuple((icon(shape(kind, 11, 11, grey)), label) for kind, label in SHAPES)
    fills = tuple(
        (icon(shape("circle", 11, 11, colour)), label) for colour, label in OUTCOME_STYLE.values()
    )
    faults: list[tuple[Markup | None, str]] = [
        (icon(fault_marker(11, 5, colour) + shape("circle", 11, 17, grey)), fault)
        for fault, colour in FAULT_COLOUR.items()
    ]
    faults.append(
        (
            icon(shape("diamond", 11, 11, grey) + dead_letter_marker(11, 11)),
            "settled by dead-lettering (delivery limit)",
        )
    )
    kinds = list(dict.fromkeys(kinds_present))
    found: list[tuple[Markup | None, str]] = []
    if not kinds:
        found.append((None, "no delivery raised a finding"))
    for kind in kinds:
        colour = finding_colour(kind)
        body = (
            f'<rect x="8" y="0" width="6" height="22" fill="{colour}" fill-opacity="0.18"/>'
            + shape("circle", 11, 11, grey)
            + ring(11, 11, 8.5, colour)
        )
        found.append((icon(body), kind))
    return [
        LegendGroup("Mark shape: which delivery", shapes),
        LegendGroup("Fill: what the commands did", fills),
        LegendGroup("Marker above: injected fault", tuple(faults)),
        LegendGroup("Ring and band: finding raised", tuple(found)),
    ]


def _nice_step(span: float, target_ticks: int = 8) -> float:
    if span <= 0:
        return 1
    raw = span / target_ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return max(factor * magnitude, 1)
    return 10 * magnitude


def _short_root(root: str) -> str:
    return root if len(root) <= 13 else root[:8] + "\u2026" + root[-4:]


def timeline_svg(tl: Timeline) -> Markup:
    """The swimlane chart: one lane per shown root, one mark per drawn delivery, over a
    virtual-time axis."""
    lanes = tl.lanes
    height = AXIS_H + LANE_H * len(lanes) + AXIS_H
    span = tl.t_max - tl.t_min
    plot_w = PLOT_X1 - PLOT_X0

    def x_of(t: float) -> float:
        if span <= 0:
            return PLOT_X0 + plot_w / 2
        return PLOT_X0 + (t - tl.t_min) / span * plot_w

    out = [
        f'<svg class="lanes" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-label="Deliveries per source root over virtual time" '
        'font-family="system-ui,-apple-system,Segoe UI,Roboto,Arial,sans-serif" font-size="12">'
    ]
    lanes_bottom = AXIS_H + LANE_H * len(lanes)
    # Lane backgrounds first, so the grid and the marks sit on top of them.
    for i, lane in enumerate(lanes):
        top = AXIS_H + i * LANE_H
        fill = "#f8f9fa" if i % 2 else "#ffffff"
        out.append(f'<rect x="0" y="{top}" width="{WIDTH}" height="{LANE_H}" fill="{fill}"/>')
        if lane.findings:
            out.append(f'<rect x="0" y="{top}" width="4" height="{LANE_H}" fill="#e03131"/>')
    # Time axis (top and bottom) with a light grid.
    step = _nice_step(span)
    first = math.ceil(tl.t_min / step) * step if span > 0 else tl.t_min
    ticks = []
    t = first
    while t <= tl.t_max + 1e-9 and len(ticks) < 50:
        ticks.append(t)
        t += step
    for t in ticks:
        x = x_of(t)
        out.append(
            f'<line x1="{x:.1f}" y1="{AXIS_H - 4}" x2="{x:.1f}" y2="{lanes_bottom + 4}" '
            'stroke="#e9ecef" stroke-width="1"/>'
        )
        for y in (AXIS_H - 9, lanes_bottom + 18):
            out.append(
                f'<text x="{x:.1f}" y="{y}" text-anchor="middle" fill="#6c757d">{t:g}</text>'
            )
    out.append(
        f'<text x="{LABEL_W - 4}" y="{AXIS_H - 9}" text-anchor="end" fill="#6c757d" '
        'font-weight="600">virtual time (ms) \u2192</text>'
    )
    out.append(
        f'<line x1="{LABEL_W}" y1="{AXIS_H}" x2="{LABEL_W}" y2="{lanes_bottom}" '
        'stroke="#ced4da" stroke-width="1"/>'
    )
    for i, lane in enumerate(lanes):
        top = AXIS_H + i * LANE_H
        mid = top + LANE_H / 2 + 2
        drawn = len(lane.marks)
        stats = f"{lane.deliveries:,} deliveries"
        if lane.findings:
            stats += f" \u00b7 {lane.findings:,} finding{'s' if lane.findings != 1 else ''}"
        if drawn < lane.deliveries:
            stats += f" \u00b7 {drawn:,} drawn"
        title = escape_text(f"source root {lane.root}\n{stats}")
        root, short = escape_text(lane.root), escape_text(_short_root(lane.root))
        out.append(
            f'<g class="lane" data-root="{root}"><title>{title}</title>'
            f'<text x="12" y="{top + 15}" font-weight="600" fill="#212529" '
            f'font-family="ui-monospace,Menlo,Consolas,monospace">{short}'
            f"</text>"
            f'<text x="12" y="{top + 29}" font-size="11" '
            f'fill="{"#c92a2a" if lane.findings else "#6c757d"}">{escape_text(stats)}</text>'
            f'<line x1="{PLOT_X0}" y1="{mid}" x2="{PLOT_X1}" y2="{mid}" stroke="#dee2e6"/>'
        )
        for mark in lane.marks:
            out.append(_mark_svg(mark, x_of(mark.t), top, mid, lane.root))
        out.append("</g>")
    out.append("</svg>")
    return Markup("".join(out))


def _mark_svg(mark: Mark, x: float, top: float, mid: float, root: str) -> str:
    parts = [f"<g><title>{escape_text(mark.tooltip(root))}</title>"]
    if mark.findings:
        colour = finding_colour(mark.findings[0])
        parts.append(
            f'<rect x="{x - 3:.1f}" y="{top + 1}" width="6" height="{LANE_H - 2}" '
            f'fill="{colour}" fill-opacity="0.18"/>'
        )
    if mark.fault:
        parts.append(fault_marker(x, top, fault_colour(mark.fault)))
    fill = OUTCOME_STYLE[outcome_class(mark.outcomes)][0]
    parts.append(shape(mark.shape, x, mid, fill))
    for i, kind in enumerate(dict.fromkeys(mark.findings)):
        parts.append(ring(x, mid, 9 + 3 * i, finding_colour(kind)))
    if mark.settle == "dead-letter":
        parts.append(dead_letter_marker(x, mid))
    parts.append("</g>")
    return "".join(parts)
