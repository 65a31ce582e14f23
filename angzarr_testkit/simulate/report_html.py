"""A storm report as one self-contained HTML page.

:func:`render_html` turns a :class:`~angzarr_testkit.simulate.storm.StormReport` into a page a
person can read in any browser, offline: the verdict, the counts, the fault coverage, a
per-source-root swimlane timeline of every delivery (inline SVG, read from the storm's trace)
and the findings grouped by kind. The page loads nothing: inline CSS, no scripts, no fonts or
images, and a Content-Security-Policy that forbids fetching anything. Every piece of text that
comes from the user's code, the trace or the findings is escaped.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..framework.findings import KINDS, Finding
from .faults import FAULT_CLASSES
from .storm import StormReport

__all__ = ["render_html", "write_html"]

# -- the visual vocabulary ------------------------------------------------------------------

#: outcome class -> (fill colour, legend label). The order is the priority when one delivery
#: had several commands with different outcomes: the worst one colours the mark.
_OUTCOME_STYLE: dict[str, tuple[str, str]] = {
    "rejected": ("#e8590c", "rejected / dead-lettered command"),
    "retried-out": ("#ae3ec9", "retried out (sequence never matched)"),
    "not-sent": ("#868e96", "not sent (consumer crashed first)"),
    "deduped": ("#1c7ed6", "deduped by the destination"),
    "applied": ("#2f9e44", "applied"),
    "none": ("#ffffff", "no command sent"),
}
_OUTCOME_OF_STATUS = {
    "applied": "applied",
    "deduped": "deduped",
    "already-processed": "deduped",
    "rejected": "rejected",
    "dead-lettered": "rejected",
    "retried-out": "retried-out",
    "not-sent": "not-sent",
}

#: per-delivery fault -> colour of the marker drawn above the delivery.
_FAULT_COLOUR = {
    "crash-before-ack": "#5f3dc4",
    "crash-mid-dispatch": "#0c8599",
    "nack-requeue": "#b08900",
    "concurrent-redelivery": "#d6336c",
}
_FAULT_FALLBACK = "#495057"

#: finding kind -> ring colour (errors in reds and darks, the note in amber).
_FINDING_COLOUR = {
    "double-apply": "#e03131",
    "lost-command": "#000000",
    "dedupe-collision": "#9c36b5",
    "nondeterministic-output": "#f76707",
    "unstamped-command": "#5c940d",
    "sequence-mismatch": "#364fc7",
    "missing-destination-sequence": "#0ca678",
    "handler-error": "#862e9c",
    "rejected-command": "#fab005",
    "dead-lettered": "#343a40",
    "invalid-provenance": "#a61e4d",
}
_FINDING_FALLBACK = "#e03131"

_SHAPES = (
    ("circle", "first delivery"),
    ("diamond", "redelivery (marked redelivered)"),
    ("square", "publisher duplicate (a second copy, not marked redelivered)"),
)

# Timeline geometry (SVG user units; the SVG scales down to the page width).
_WIDTH = 1300
_LABEL_W = 250
_PLOT_X0 = _LABEL_W + 16
_PLOT_X1 = _WIDTH - 24
_AXIS_H = 30
_LANE_H = 36

_CSS = """
:root { --ink:#212529; --muted:#6c757d; --line:#dee2e6; --bg:#f1f3f5; --card:#ffffff;
  --good:#2b8a3e; --good-bg:#ebfbee; --bad:#c92a2a; --bad-bg:#fff5f5; --note:#e67700; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; }
header.top { padding:20px 28px 16px; background:var(--card); border-bottom:4px solid var(--line); }
header.top.clean { border-bottom-color:var(--good); }
header.top.unclean { border-bottom-color:var(--bad); }
.headline { display:flex; align-items:center; gap:16px; flex-wrap:wrap; }
h1 { font-size:22px; margin:0; font-weight:650; }
h1 .mono { font-size:inherit; }
.verdict { font-weight:800; letter-spacing:.06em; padding:6px 14px; border-radius:6px;
  font-size:18px; }
.verdict.clean { color:var(--good); background:var(--good-bg); border:2px solid var(--good); }
.verdict.unclean { color:var(--bad); background:var(--bad-bg); border:2px solid var(--bad); }
.reasons { margin:8px 0 0; padding-left:20px; color:var(--bad); }
.reasons.ok { color:var(--good); }
dl.meta { display:grid; grid-template-columns:max-content 1fr; gap:2px 14px; margin:14px 0 0; }
dl.meta dt { color:var(--muted); }
dl.meta dd { margin:0; overflow-wrap:anywhere; }
code, pre, .mono { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
  font-size:12.5px; }
main { padding:20px 28px 40px; display:flex; flex-direction:column; gap:20px; }
.grid { display:grid; grid-template-columns:minmax(260px,1fr) minmax(420px,1.5fr)
  minmax(300px,1fr); gap:20px; align-items:start; }
@media (max-width:1100px) { .grid { grid-template-columns:1fr; } }
section.card { background:var(--card); border:1px solid var(--line); border-radius:8px;
  padding:14px 18px 16px; }
h2 { font-size:16px; margin:0 0 10px; }
h3 { font-size:15px; margin:18px 0 8px; display:flex; align-items:center; gap:10px;
  flex-wrap:wrap; }
p.hint { color:var(--muted); margin:0 0 10px; }
table { border-collapse:collapse; width:100%; }
th, td { text-align:left; padding:4px 8px; border-bottom:1px solid var(--line);
  vertical-align:top; }
th { font-weight:500; white-space:nowrap; }
td.plan { white-space:nowrap; color:var(--muted); }
thead th { color:var(--muted); font-weight:600; font-size:12px; text-transform:uppercase;
  letter-spacing:.04em; }
th.num, td.num { text-align:right; font-variant-numeric:tabular-nums; font-weight:600; }
tr.warn td.num { color:var(--note); }
tr.zero td, tr.zero th { color:#adb5bd; }
tr[data-kind] th, tr[data-kind] td { border-bottom:none; padding-bottom:0; }
tr.meaning td { color:var(--muted); font-size:12.5px; padding-top:0; }
tr.missing { background:var(--bad-bg); }
tr.missing th, tr.missing td { color:var(--bad); font-weight:700; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px;
  font-weight:600; white-space:nowrap; }
.badge.error { background:var(--bad-bg); color:var(--bad); border:1px solid #ffc9c9; }
.badge.note { background:#fff9db; color:var(--note); border:1px solid #ffe066; }
.badge.req { background:#e7f5ff; color:#1864ab; border:1px solid #a5d8ff; }
.badge.missing { background:var(--bad); color:#fff; }
.swatch { display:inline-block; width:11px; height:11px; border-radius:50%;
  vertical-align:-1px; margin-right:6px; }
.legend { display:grid; grid-template-columns:repeat(auto-fit,minmax(250px,1fr)); gap:4px 18px;
  margin:0 0 12px; padding:10px 12px; background:#f8f9fa; border:1px solid var(--line);
  border-radius:6px; }
.legend h4 { margin:2px 0 2px; font-size:12px; color:var(--muted); text-transform:uppercase;
  letter-spacing:.04em; }
.legend div.item { display:flex; align-items:center; gap:8px; font-size:13px; }
.legend svg { flex:none; }
.timeline { overflow-x:auto; }
.timeline svg { display:block; max-width:100%; height:auto; }
.capnote { margin:10px 0 0; padding:6px 10px; background:#fff9db; border:1px solid #ffe066;
  border-radius:6px; }
article.finding { border:1px solid var(--line); border-left:4px solid var(--bad);
  border-radius:6px; padding:8px 12px; margin:0 0 10px; background:#fff; }
article.finding.note { border-left-color:var(--note); }
article.finding p.msg { margin:0 0 6px; overflow-wrap:anywhere; }
article.finding dl { display:grid; grid-template-columns:max-content 1fr; gap:1px 12px;
  margin:0; font-size:13px; }
article.finding dt { color:var(--muted); }
article.finding dd { margin:0; overflow-wrap:anywhere; }
details { margin-top:6px; }
details pre { background:#f8f9fa; border:1px solid var(--line); padding:8px; overflow-x:auto;
  margin:6px 0 0; }
p.more { color:var(--muted); font-style:italic; margin:4px 0 0; }
footer { color:var(--muted); padding:0 28px 24px; font-size:12px; }
"""


def _e(value: Any) -> str:
    """Escape anything for HTML text or a quoted attribute."""
    return html.escape(str(value), quote=True)


# -- reading the trace ------------------------------------------------------------------------


@dataclass
class _Mark:
    """One delivery drawn on a lane."""

    n: int
    msg: int
    t: float
    copy: int
    consumer: int
    redelivered: bool
    count: int
    fault: str | None
    k: Any
    outcomes: list[str]
    findings: list[str]
    settle: str | None = None


@dataclass
class _Lane:
    """One source root's swimlane."""

    root: str
    order: int
    deliveries: int = 0
    interesting: int = 0
    tagged_findings: int = 0
    report_findings: int = 0
    marks: list[_Mark] = field(default_factory=list)
    kept_interesting: int = 0
    plain_seen: int = 0

    @property
    def findings(self) -> int:
        return max(self.tagged_findings, self.report_findings)

    @property
    def plain(self) -> int:
        return self.deliveries - self.interesting


def _interesting(obj: dict[str, Any]) -> bool:
    """Deliveries worth drawing before plain applied ones when a lane must be thinned."""
    if obj.get("findings") or obj.get("fault") or obj.get("redelivered") or obj.get("copy"):
        return True
    return any(status != "applied" for status in obj.get("outcomes") or ())


def _number(value: Any, default: float = 0) -> float:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else default


@dataclass
class _Timeline:
    lanes: list[_Lane]
    total_roots: int
    t_min: float
    t_max: float
    deliveries: int
    unrooted: int
    error: str | None = None


def _read_timeline(report: StormReport, max_roots: int, max_events_per_root: int) -> _Timeline:
    """Two passes over the trace: count per root, then collect the marks of the lanes shown
    (so memory stays bounded by the caps, whatever the storm's size)."""
    lanes: dict[str, _Lane] = {}
    root_of: dict[int, str] = {}
    t_min, t_max = math.inf, -math.inf
    deliveries = unrooted = 0
    try:
        for obj in _trace_lines(report):
            kind = obj.get("type")
            if kind == "publish":
                root = obj.get("root")
                if root is not None and "msg" in obj:
                    root = str(root)
                    root_of[obj["msg"]] = root
                    if root not in lanes:
                        lanes[root] = _Lane(root, len(lanes))
            elif kind == "deliver":
                deliveries += 1
                t = _number(obj.get("t"))
                t_min, t_max = min(t_min, t), max(t_max, t)
                lane = lanes.get(_root_for(root_of, obj))
                if lane is None:
                    unrooted += 1
                    continue
                lane.deliveries += 1
                lane.tagged_findings += len(obj.get("findings") or ())
                if _interesting(obj):
                    lane.interesting += 1
            elif kind == "settle" and obj.get("result") == "dead-letter":
                lane = lanes.get(_root_for(root_of, obj))
                if lane is not None:
                    lane.tagged_findings += 1
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        return _Timeline([], 0, 0, 0, 0, 0, error=f"the trace could not be read: {exc}")

    source = report.options.get("source_domain")
    for finding in report.findings:
        root = _root_of_trigger(finding.trigger, source)
        if root is not None and root in lanes:
            lanes[root].report_findings += 1

    ranked = sorted(
        lanes.values(),
        key=lambda ln: (ln.findings == 0, -ln.findings, -ln.deliveries, ln.order),
    )
    shown = ranked[: max(max_roots, 0)]
    wanted = {ln.root: ln for ln in shown}
    if wanted:
        try:
            _collect_marks(report, wanted, root_of, max(max_events_per_root, 0))
        except (OSError, ValueError, AttributeError, TypeError) as exc:
            return _Timeline([], 0, 0, 0, 0, 0, error=f"the trace could not be read: {exc}")
    if t_min > t_max:
        t_min = t_max = 0
    return _Timeline(shown, len(lanes), t_min, t_max, deliveries, unrooted)


def _collect_marks(
    report: StormReport, wanted: dict[str, _Lane], root_of: dict[int, str], cap: int
) -> None:
    strides: dict[str, int] = {}
    for lane in wanted.values():
        budget = cap - min(lane.interesting, cap)
        strides[lane.root] = math.ceil(lane.plain / budget) if budget > 0 and lane.plain else 0
    last: _Mark | None = None
    for obj in _trace_lines(report):
        kind = obj.get("type")
        if kind == "settle":
            if last is not None and last.msg == obj.get("msg"):
                last.settle = str(obj.get("result"))
            last = None
            continue
        if kind != "deliver":
            continue
        last = None
        lane = wanted.get(_root_for(root_of, obj))
        if lane is None:
            continue
        if _interesting(obj):
            if lane.kept_interesting >= cap:
                continue
            lane.kept_interesting += 1
        else:
            stride = strides[lane.root]
            index = lane.plain_seen
            lane.plain_seen += 1
            if not stride or index % stride:
                continue
        last = _Mark(
            n=int(_number(obj.get("n"))),
            msg=int(_number(obj.get("msg"))),
            t=_number(obj.get("t")),
            copy=int(_number(obj.get("copy"))),
            consumer=int(_number(obj.get("consumer"))),
            redelivered=bool(obj.get("redelivered")),
            count=int(_number(obj.get("count"))),
            fault=None if obj.get("fault") is None else str(obj.get("fault")),
            k=obj.get("k"),
            outcomes=[str(s) for s in obj.get("outcomes") or ()],
            findings=[str(s) for s in obj.get("findings") or ()],
        )
        lane.marks.append(last)


def _root_for(root_of: dict[int, str], obj: dict[str, Any]) -> str:
    msg = obj.get("msg")
    return root_of.get(msg, "") if isinstance(msg, int) else ""


def _trace_lines(report: StormReport) -> Iterator[dict[str, Any]]:
    for obj in report.trace:
        if isinstance(obj, dict):
            yield obj


def _root_of_trigger(trigger: str | None, source_domain: Any) -> str | None:
    """The root of a trigger label ``domain/root@seq Type`` (``root`` may be ``<N bytes: ..>``)."""
    if not trigger or "/" not in trigger:
        return None
    domain, rest = trigger.split("/", 1)
    if source_domain and domain != source_domain:
        return None
    if rest.startswith("<"):
        end = rest.find(">")
        return rest[: end + 1] if end >= 0 else None
    for stop in ("@", " ", "["):
        cut = rest.find(stop)
        if cut >= 0:
            rest = rest[:cut]
    return rest or None


# -- drawing ----------------------------------------------------------------------------------


def _outcome_class(outcomes: Iterable[str]) -> str:
    present = {_OUTCOME_OF_STATUS.get(s, "rejected") for s in outcomes}
    for name in _OUTCOME_STYLE:
        if name in present:
            return name
    return "none"


def _shape_of(mark: _Mark) -> str:
    if mark.redelivered:
        return "diamond"
    if mark.copy:
        return "square"
    return "circle"


def _shape(shape: str, x: float, y: float, fill: str) -> str:
    stroke = "#495057" if fill == "#ffffff" else "#1f2326"
    common = f'fill="{fill}" stroke="{stroke}" stroke-width="1"'
    if shape == "diamond":
        d = 6.5
        return (
            f'<polygon points="{x:.1f},{y - d:.1f} {x + d:.1f},{y:.1f} {x:.1f},{y + d:.1f} '
            f'{x - d:.1f},{y:.1f}" {common}/>'
        )
    if shape == "square":
        s = 5
        return f'<rect x="{x - s:.1f}" y="{y - s:.1f}" width="{2 * s}" height="{2 * s}" {common}/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" {common}/>'


def _fault_marker(x: float, top: float, colour: str) -> str:
    return (
        f'<polygon points="{x - 4.5:.1f},{top + 2:.1f} {x + 4.5:.1f},{top + 2:.1f} '
        f'{x:.1f},{top + 9:.1f}" fill="{colour}"/>'
    )


def _dead_letter_marker(x: float, y: float) -> str:
    return (
        f'<path d="M{x - 7:.1f},{y - 7:.1f}L{x + 7:.1f},{y + 7:.1f}M{x + 7:.1f},{y - 7:.1f}'
        f'L{x - 7:.1f},{y + 7:.1f}" stroke="#212529" stroke-width="2.2"/>'
    )


def _ring(x: float, y: float, r: float, colour: str) -> str:
    return (
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="none" stroke="{colour}" '
        'stroke-width="2.2"/>'
    )


def _tooltip(mark: _Mark, root: str) -> str:
    parts = [f"delivery #{mark.n} at t={mark.t:g} ms", f"message {mark.msg}"]
    if mark.copy:
        parts[-1] += " (publisher duplicate copy)"
    parts.append(f"root {root}")
    parts.append(f"consumer {mark.consumer}, delivery count {mark.count}")
    parts.append("redelivered" if mark.redelivered else "first delivery of this copy")
    if mark.fault:
        fault = mark.fault + (f" (k={mark.k})" if mark.k is not None else "")
        parts.append(f"fault: {fault}")
    parts.append("outcomes: " + (", ".join(mark.outcomes) if mark.outcomes else "no command"))
    if mark.findings:
        parts.append("findings: " + ", ".join(mark.findings))
    if mark.settle:
        parts.append(f"settled: {mark.settle}")
    return "\n".join(parts)


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


def _timeline_svg(tl: _Timeline) -> str:
    lanes = tl.lanes
    height = _AXIS_H + _LANE_H * len(lanes) + _AXIS_H
    span = tl.t_max - tl.t_min
    plot_w = _PLOT_X1 - _PLOT_X0

    def x_of(t: float) -> float:
        if span <= 0:
            return _PLOT_X0 + plot_w / 2
        return _PLOT_X0 + (t - tl.t_min) / span * plot_w

    out = [
        f'<svg class="lanes" width="{_WIDTH}" height="{height}" viewBox="0 0 {_WIDTH} {height}" '
        f'role="img" aria-label="Deliveries per source root over virtual time" '
        'font-family="system-ui,-apple-system,Segoe UI,Roboto,Arial,sans-serif" font-size="12">'
    ]
    lanes_bottom = _AXIS_H + _LANE_H * len(lanes)
    # Lane backgrounds first, so the grid and the marks sit on top of them.
    for i, lane in enumerate(lanes):
        top = _AXIS_H + i * _LANE_H
        fill = "#f8f9fa" if i % 2 else "#ffffff"
        out.append(f'<rect x="0" y="{top}" width="{_WIDTH}" height="{_LANE_H}" fill="{fill}"/>')
        if lane.findings:
            out.append(f'<rect x="0" y="{top}" width="4" height="{_LANE_H}" fill="#e03131"/>')
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
            f'<line x1="{x:.1f}" y1="{_AXIS_H - 4}" x2="{x:.1f}" y2="{lanes_bottom + 4}" '
            'stroke="#e9ecef" stroke-width="1"/>'
        )
        for y in (_AXIS_H - 9, lanes_bottom + 18):
            out.append(
                f'<text x="{x:.1f}" y="{y}" text-anchor="middle" fill="#6c757d">{t:g}</text>'
            )
    out.append(
        f'<text x="{_LABEL_W - 4}" y="{_AXIS_H - 9}" text-anchor="end" fill="#6c757d" '
        'font-weight="600">virtual time (ms) \u2192</text>'
    )
    out.append(
        f'<line x1="{_LABEL_W}" y1="{_AXIS_H}" x2="{_LABEL_W}" y2="{lanes_bottom}" '
        'stroke="#ced4da" stroke-width="1"/>'
    )
    for i, lane in enumerate(lanes):
        top = _AXIS_H + i * _LANE_H
        mid = top + _LANE_H / 2 + 2
        drawn = len(lane.marks)
        stats = f"{lane.deliveries:,} deliveries"
        if lane.findings:
            stats += f" \u00b7 {lane.findings:,} finding{'s' if lane.findings != 1 else ''}"
        if drawn < lane.deliveries:
            stats += f" \u00b7 {drawn:,} drawn"
        title = f"source root {lane.root}\n{stats}"
        out.append(
            f'<g class="lane" data-root="{_e(lane.root)}"><title>{_e(title)}</title>'
            f'<text x="12" y="{top + 15}" font-weight="600" fill="#212529" '
            f'font-family="ui-monospace,Menlo,Consolas,monospace">{_e(_short_root(lane.root))}'
            f"</text>"
            f'<text x="12" y="{top + 29}" font-size="11" '
            f'fill="{"#c92a2a" if lane.findings else "#6c757d"}">{_e(stats)}</text>'
            f'<line x1="{_PLOT_X0}" y1="{mid}" x2="{_PLOT_X1}" y2="{mid}" stroke="#dee2e6"/>'
        )
        for mark in lane.marks:
            out.append(_mark_svg(mark, x_of(mark.t), top, mid, lane.root))
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def _mark_svg(mark: _Mark, x: float, top: float, mid: float, root: str) -> str:
    parts = [f"<g><title>{_e(_tooltip(mark, root))}</title>"]
    if mark.findings:
        colour = _FINDING_COLOUR.get(mark.findings[0], _FINDING_FALLBACK)
        parts.append(
            f'<rect x="{x - 3:.1f}" y="{top + 1}" width="6" height="{_LANE_H - 2}" '
            f'fill="{colour}" fill-opacity="0.18"/>'
        )
    if mark.fault:
        parts.append(_fault_marker(x, top, _FAULT_COLOUR.get(mark.fault, _FAULT_FALLBACK)))
    fill = _OUTCOME_STYLE[_outcome_class(mark.outcomes)][0]
    parts.append(_shape(_shape_of(mark), x, mid, fill))
    for i, kind in enumerate(dict.fromkeys(mark.findings)):
        parts.append(_ring(x, mid, 9 + 3 * i, _FINDING_COLOUR.get(kind, _FINDING_FALLBACK)))
    if mark.settle == "dead-letter":
        parts.append(_dead_letter_marker(x, mid))
    parts.append("</g>")
    return "".join(parts)


def _icon(body: str, width: int = 22, height: int = 22) -> str:
    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-hidden="true">{body}</svg>'
    )


def _legend(kinds_present: Iterable[str]) -> str:
    items: list[str] = ['<div class="legend" aria-label="legend">']
    items.append("<div><h4>Mark shape: which delivery</h4>")
    for shape, label in _SHAPES:
        items.append(
            f'<div class="item">{_icon(_shape(shape, 11, 11, "#ced4da"))}{_e(label)}</div>'
        )
    items.append("</div><div><h4>Fill: what the commands did</h4>")
    for _name, (colour, label) in _OUTCOME_STYLE.items():
        items.append(
            f'<div class="item">{_icon(_shape("circle", 11, 11, colour))}{_e(label)}</div>'
        )
    items.append("</div><div><h4>Marker above: injected fault</h4>")
    for fault, colour in _FAULT_COLOUR.items():
        icon = _icon(_fault_marker(11, 5, colour) + _shape("circle", 11, 17, "#ced4da"))
        items.append(f'<div class="item">{icon}{_e(fault)}</div>')
    dead = _icon(_shape("diamond", 11, 11, "#ced4da") + _dead_letter_marker(11, 11))
    items.append(f'<div class="item">{dead}settled by dead-lettering (delivery limit)</div>')
    items.append("</div><div><h4>Ring and band: finding raised</h4>")
    kinds = list(dict.fromkeys(kinds_present))
    if not kinds:
        items.append('<div class="item">no delivery raised a finding</div>')
    for kind in kinds:
        colour = _FINDING_COLOUR.get(kind, _FINDING_FALLBACK)
        body = (
            f'<rect x="8" y="0" width="6" height="22" fill="{colour}" fill-opacity="0.18"/>'
            + _shape("circle", 11, 11, "#ced4da")
            + _ring(11, 11, 8.5, colour)
        )
        items.append(f'<div class="item">{_icon(body)}{_e(kind)}</div>')
    items.append("</div></div>")
    return "".join(items)


# -- the page ---------------------------------------------------------------------------------


def _verdict_reasons(report: StormReport) -> list[str]:
    errors = [f for f in report.findings if f.is_error]
    notes = len(report.findings) - len(errors)
    reasons = []
    if errors:
        kinds: dict[str, int] = {}
        for f in errors:
            kinds[f.kind] = kinds.get(f.kind, 0) + 1
        listed = ", ".join(f"{n:,} {k}" for k, n in kinds.items())
        reasons.append(f"{len(errors):,} error finding{'s' if len(errors) != 1 else ''}: {listed}")
    if report.missing_coverage:
        reasons.append(
            "required fault classes never occurred: " + ", ".join(report.missing_coverage)
        )
    if not reasons:
        reasons.append("no error findings and every required fault class occurred")
    if notes:
        reasons.append(f"{notes:,} note{'s' if notes != 1 else ''} (not errors)")
    return reasons


def _header(report: StormReport) -> str:
    opts = report.options
    state = "clean" if report.ok else "unclean"
    word = "CLEAN" if report.ok else "NOT CLEAN"
    reasons = "".join(f"<li>{_e(r)}</li>" for r in _verdict_reasons(report))
    outputs = opts.get("output_domains")
    outputs_text = ", ".join(map(str, outputs)) if isinstance(outputs, list) else "-"
    faults = opts.get("faults")
    if isinstance(faults, dict):
        plan = ", ".join(f"{k}={v}" for k, v in faults.items() if v not in (0, 0.0, False)) or "-"
    else:
        plan = "-"
    rows = [
        ("target", opts.get("target", "-")),
        ("profile", opts.get("profile", "-")),
        ("domains", f"{opts.get('source_domain', '-')} \u2192 {outputs_text}"),
        (
            "size",
            f"{opts.get('events', '-')} events over {opts.get('roots', '-')} roots, "
            f"{opts.get('concurrency', 1)} consumer(s)",
        ),
        ("fault plan", plan),
        ("required", ", ".join(map(str, opts.get("require") or ())) or "-"),
        ("trace", str(report.trace.path)),
        ("replay", f"same seed ({report.seed}), or Storm.replay(<trace file>, saga)"),
    ]
    meta = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
    return (
        f'<header class="top {state}"><div class="headline">'
        f'<span class="verdict {state}">{word}</span>'
        f'<h1>Redelivery storm \u00b7 seed <span class="mono">{_e(report.seed)}</span></h1>'
        f'</div><ul class="reasons{" ok" if report.ok else ""}">{reasons}</ul>'
        f'<dl class="meta">{meta}</dl></header>'
    )


_WARN_COUNTS = {"handler_errors", "rejected", "retried_out", "dead_lettered"}


def _counts_table(report: StormReport) -> str:
    rows = []
    for name, value in report.counts.items():
        cls = "warn" if name in _WARN_COUNTS and value else ("zero" if not value else "")
        label = str(name).replace("_", " ")
        number = f"{value:,}" if isinstance(value, int) else str(value)
        rows.append(
            f'<tr class="{cls}" data-count="{_e(name)}"><th>{_e(label)}</th>'
            f'<td class="num">{_e(number)}</td></tr>'
        )
    return (
        '<section class="card"><h2>Counts</h2><table><tbody>'
        + "".join(rows)
        + "</tbody></table></section>"
    )


def _plan_entry(plan: Any, fault: str) -> str:
    if not isinstance(plan, dict):
        return "-"
    if fault == "delivery-limit":
        return f"limit {plan.get('delivery_limit', '-')}"
    value = plan.get(fault.replace("-", "_"))
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"rate {value:g}" if isinstance(value, (int, float)) else str(value)


def _coverage_table(report: StormReport) -> str:
    required = set(map(str, report.options.get("require") or ()))
    missing = set(report.missing_coverage)
    names = list(report.fault_coverage)
    names += [m for m in report.missing_coverage if m not in report.fault_coverage]
    if not names:
        names = list(FAULT_CLASSES)
    plan = report.options.get("faults")
    rows = []
    for name in names:
        value = report.fault_coverage.get(name, 0)
        flags = ""
        if name in missing:
            cls = "missing"
            flags = (
                '<span class="badge missing" title="required by the storm, never occurred">'
                "required, missing</span>"
            )
        elif name in required:
            cls = ""
            flags = '<span class="badge req">required</span>'
        else:
            cls = "zero" if not value else ""
        rows.append(
            f'<tr class="{cls}" data-fault="{_e(name)}"><th>{_e(name)}</th>'
            f'<td class="plan">{_e(_plan_entry(plan, name))}</td>'
            f'<td class="num">{value:,}</td><td>{flags}</td></tr>'
        )
    return (
        '<section class="card"><h2>Fault coverage</h2>'
        '<table><thead><tr><th>class</th><th>plan</th><th class="num">occurred</th><th></th>'
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></section>"
    )


def _ordered_groups(findings: Iterable[Finding]) -> list[tuple[str, list[Finding]]]:
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        groups.setdefault(f.kind, []).append(f)
    order = list(KINDS)

    def key(kind: str) -> tuple[bool, int]:
        info = KINDS.get(kind)
        return (
            info is None or info.severity != "error",
            order.index(kind) if kind in KINDS else len(order),
        )

    return [(kind, groups[kind]) for kind in sorted(groups, key=key)]


def _kinds_table(groups: list[tuple[str, list[Finding]]]) -> str:
    if not groups:
        body = '<p class="hint">The oracle found nothing: no findings of any kind.</p>'
    else:
        rows = []
        for kind, items in groups:
            info = KINDS.get(kind)
            severity = info.severity if info else "error"
            colour = _FINDING_COLOUR.get(kind, _FINDING_FALLBACK)
            rows.append(
                f'<tr data-kind="{_e(kind)}"><th><span class="swatch" '
                f'style="background:{colour}"></span><a href="#kind-{_e(kind)}">{_e(kind)}</a>'
                f'</th><td><span class="badge {_e(severity)}">{_e(severity)}</span></td>'
                f'<td class="num">{len(items):,}</td></tr>'
                f'<tr class="meaning"><td colspan="3">{_e(info.summary if info else "")}</td></tr>'
            )
        body = (
            '<table><thead><tr><th>kind</th><th>severity</th><th class="num">count</th></tr>'
            "</thead><tbody>" + "".join(rows) + "</tbody></table>"
        )
    return f'<section class="card"><h2>Findings by kind</h2>{body}</section>'


def _finding_html(f: Finding) -> str:
    rows: list[tuple[str, str]] = [("kind", f.kind)]
    if f.delivery is not None:
        rows.append(("delivery", f"#{f.delivery}"))
    if f.trigger:
        rows.append(("trigger", f.trigger))
    if f.target:
        rows.append(("target", f.target))
    if f.sequences:
        rows.append(("sequences", ", ".join(f"{k}={v}" for k, v in f.sequences.items())))
    if f.dedupe_key:
        rows.append(("dedupe key", f.dedupe_key))
    for key, value in f.details.items():
        rows.append((str(key), str(value)))
    mono = {"trigger", "target", "dedupe key", "sequences"}
    mono_attr = ' class="mono"'
    dl = "".join(
        f"<dt>{_e(k)}</dt><dd{mono_attr if k in mono else ''}>{_e(v)}</dd>" for k, v in rows
    )
    tb = ""
    if f.traceback:
        tb = f"<details><summary>traceback</summary><pre>{_e(f.traceback.rstrip())}</pre></details>"
    severity = "note" if not f.is_error else "error"
    return (
        f'<article class="finding {severity}"><p class="msg">{_e(f.message)}</p>'
        f"<dl>{dl}</dl>{tb}</article>"
    )


def _findings_section(groups: list[tuple[str, list[Finding]]], cap: int) -> str:
    out = ['<section class="card" id="findings"><h2>Findings</h2>']
    if not groups:
        out.append('<p class="hint">None.</p>')
    left_out = [(kind, len(items) - max(cap, 0)) for kind, items in groups if len(items) > cap]
    if left_out:
        listed = ", ".join(f"{n:,} {_e(kind)}" for kind, n in left_out)
        out.append(
            f'<p class="capnote" id="findings-truncated">At most {max(cap, 0):,} findings of '
            f"each kind are listed; left out: {listed} (the counts above are complete; "
            "<code>--max-findings 0</code> or <code>max_findings_per_kind=</code> lists "
            "more).</p>"
        )
    for kind, items in groups:
        info = KINDS.get(kind)
        severity = info.severity if info else "error"
        summary = info.summary if info else ""
        colour = _FINDING_COLOUR.get(kind, _FINDING_FALLBACK)
        out.append(
            f'<h3 id="kind-{_e(kind)}"><span class="swatch" style="background:{colour}"></span>'
            f'{_e(kind)} <span class="badge {_e(severity)}">{_e(severity)}</span>'
            f'<span class="hint">{len(items):,} \u00b7 {_e(summary)}</span></h3>'
        )
        shown = items[: max(cap, 0)]
        out.extend(_finding_html(f) for f in shown)
        if len(items) > len(shown):
            rest = len(items) - len(shown)
            out.append(
                f'<p class="more">and {rest:,} more {_e(kind)} '
                f"finding{'s' if rest != 1 else ''} not shown</p>"
            )
    out.append("</section>")
    return "".join(out)


def _timeline_section(report: StormReport, max_roots: int, max_events_per_root: int) -> str:
    tl = _read_timeline(report, max_roots, max_events_per_root)
    out = ['<section class="card" id="timeline"><h2>Deliveries per source root</h2>']
    if tl.error:
        out.append(f'<p class="capnote">{_e(tl.error)}</p></section>')
        return "".join(out)
    out.append(
        '<p class="hint">One lane per source aggregate root of the triggers; each mark is one '
        "delivery of one of its triggers, placed at its virtual time. Roots with findings come "
        "first (red edge), then the busiest. Hover a mark for the delivery's details.</p>"
    )
    kinds_present: list[str] = []
    for lane in tl.lanes:
        for mark in lane.marks:
            kinds_present.extend(mark.findings)
    out.append(_legend(kinds_present))
    if tl.lanes:
        out.append(f'<div class="timeline">{_timeline_svg(tl)}</div>')
    else:
        out.append('<p class="hint">The trace has no deliveries to draw.</p>')
    notes = []
    left_out = tl.total_roots - len(tl.lanes)
    if left_out > 0:
        notes.append(
            f"{left_out:,} of {tl.total_roots:,} roots not shown (showing {len(tl.lanes):,}: "
            "those with findings first, then the busiest)."
        )
    thinned = sum(1 for lane in tl.lanes if len(lane.marks) < lane.deliveries)
    if thinned:
        notes.append(
            f"{thinned:,} lane{'s' if thinned != 1 else ''} had more than "
            f"{max_events_per_root:,} deliveries: faulted, redelivered and failing ones are "
            "drawn first, plain applied ones are sampled evenly."
        )
    if tl.unrooted:
        notes.append(f"{tl.unrooted:,} deliveries had no published root in the trace.")
    out.extend(f'<p class="capnote">{_e(n)}</p>' for n in notes)
    out.append("</section>")
    return "".join(out)


def render_html(
    report: StormReport,
    *,
    max_roots: int = 40,
    max_events_per_root: int = 200,
    max_findings_per_kind: int = 50,
) -> str:
    """Render a storm report as one self-contained HTML page (no network resources, no
    scripts).

    Args:
        report: what :meth:`Storm.run` (or a replay) returned; its trace file is read for the
            timeline.
        max_roots: most source roots drawn as timeline lanes; roots with findings come first,
            then the busiest, and the page says how many were left out.
        max_events_per_root: most deliveries drawn per lane; interesting deliveries (faults,
            redeliveries, findings, failures) first, plain ones sampled evenly.
        max_findings_per_kind: most findings listed per kind (then "and N more").

    Returns:
        The page as a string (UTF-8 when written).
    """
    from .. import __version__  # at call time: the package is fully imported by then

    groups = _ordered_groups(report.findings)
    word = "CLEAN" if report.ok else "NOT CLEAN"
    title = f"Storm seed {report.seed}: {word}"
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        _header(report),
        "<main>",
        '<div class="grid">',
        _counts_table(report),
        _coverage_table(report),
        _kinds_table(groups),
        "</div>",
        _timeline_section(report, max_roots, max_events_per_root),
        _findings_section(groups, max_findings_per_kind),
        "</main>",
        f"<footer>angzarr-testkit {_e(__version__)} \u00b7 storm report, seed "
        f"{_e(report.seed)}</footer>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_html(
    report: StormReport,
    path: str | os.PathLike[str],
    *,
    max_roots: int = 40,
    max_events_per_root: int = 200,
    max_findings_per_kind: int = 50,
) -> Path:
    """Write :func:`render_html`'s page to ``path`` (UTF-8) and return the path."""
    target = Path(path)
    target.write_text(
        render_html(
            report,
            max_roots=max_roots,
            max_events_per_root=max_events_per_root,
            max_findings_per_kind=max_findings_per_kind,
        ),
        encoding="utf-8",
    )
    return target
