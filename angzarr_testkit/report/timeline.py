"""Reading a storm's trace into the timeline model: one lane per source root, one mark per
delivery drawn.

The trace is read twice: once to count the deliveries and findings of every root, once to
collect the marks of the lanes that will be shown, so memory stays bounded by the caps
(``max_roots`` lanes of at most ``max_events_per_root`` marks) whatever the storm's size.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..simulate import StormReport

__all__ = ["Lane", "Mark", "Timeline", "read_timeline", "root_of_trigger"]

#: what reading a broken trace can raise; the report shows it instead of failing.
_READ_ERRORS = (OSError, ValueError, AttributeError, TypeError)


@dataclass
class Mark:
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

    @property
    def shape(self) -> str:
        """``diamond`` for a redelivery, ``square`` for a publisher duplicate, else ``circle``."""
        if self.redelivered:
            return "diamond"
        if self.copy:
            return "square"
        return "circle"

    def tooltip(self, root: str) -> str:
        """The delivery's details, one per line (the mark's hover text)."""
        parts = [f"delivery #{self.n} at t={self.t:g} ms", f"message {self.msg}"]
        if self.copy:
            parts[-1] += " (publisher duplicate copy)"
        parts.append(f"root {root}")
        parts.append(f"consumer {self.consumer}, delivery count {self.count}")
        parts.append("redelivered" if self.redelivered else "first delivery of this copy")
        if self.fault:
            fault = self.fault + (f" (k={self.k})" if self.k is not None else "")
            parts.append(f"fault: {fault}")
        parts.append("outcomes: " + (", ".join(self.outcomes) if self.outcomes else "no command"))
        if self.findings:
            parts.append("findings: " + ", ".join(self.findings))
        if self.settle:
            parts.append(f"settled: {self.settle}")
        return "\n".join(parts)


@dataclass
class Lane:
    """One source root's swimlane: its totals and the marks drawn."""

    root: str
    order: int
    deliveries: int = 0
    interesting: int = 0
    tagged_findings: int = 0
    report_findings: int = 0
    marks: list[Mark] = field(default_factory=list)
    kept_interesting: int = 0
    plain_seen: int = 0

    @property
    def findings(self) -> int:
        """Findings on this root: tagged on its deliveries or named by the report's triggers."""
        return max(self.tagged_findings, self.report_findings)

    @property
    def plain(self) -> int:
        """Deliveries with nothing to point out (first delivery, applied, no fault)."""
        return self.deliveries - self.interesting


@dataclass
class Timeline:
    """The lanes shown, what was left out, and the virtual time span of all deliveries."""

    lanes: list[Lane]
    total_roots: int
    t_min: float
    t_max: float
    deliveries: int
    unrooted: int
    error: str | None = None

    @property
    def thinned(self) -> int:
        """How many lanes show fewer marks than they had deliveries."""
        return sum(1 for lane in self.lanes if len(lane.marks) < lane.deliveries)

    def finding_kinds(self) -> list[str]:
        """The finding kinds tagged on the drawn marks, in drawing order (with repeats)."""
        return [kind for lane in self.lanes for mark in lane.marks for kind in mark.findings]


def _unreadable(exc: Exception) -> Timeline:
    return Timeline([], 0, 0, 0, 0, 0, error=f"the trace could not be read: {exc}")


def _interesting(obj: dict[str, Any]) -> bool:
    """Deliveries worth drawing before plain applied ones when a lane must be thinned."""
    if obj.get("findings") or obj.get("fault") or obj.get("redelivered") or obj.get("copy"):
        return True
    return any(status != "applied" for status in obj.get("outcomes") or ())


def _number(value: Any, default: float = 0) -> float:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def read_timeline(report: StormReport, max_roots: int, max_events_per_root: int) -> Timeline:
    """Read ``report``'s trace into at most ``max_roots`` lanes (roots with findings first,
    then the busiest) of at most ``max_events_per_root`` marks each.

    A trace that cannot be read gives a timeline with no lanes and ``error`` set.
    """
    lanes: dict[str, Lane] = {}
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
                        lanes[root] = Lane(root, len(lanes))
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
    except _READ_ERRORS as exc:
        return _unreadable(exc)

    source = report.options.get("source_domain")
    for finding in report.findings:
        root = root_of_trigger(finding.trigger, source)
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
        except _READ_ERRORS as exc:
            return _unreadable(exc)
    if t_min > t_max:
        t_min = t_max = 0
    return Timeline(shown, len(lanes), t_min, t_max, deliveries, unrooted)


def _collect_marks(
    report: StormReport, wanted: dict[str, Lane], root_of: dict[int, str], cap: int
) -> None:
    strides: dict[str, int] = {}
    for lane in wanted.values():
        budget = cap - min(lane.interesting, cap)
        strides[lane.root] = math.ceil(lane.plain / budget) if budget > 0 and lane.plain else 0
    last: Mark | None = None
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
        last = Mark(
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


def root_of_trigger(trigger: str | None, source_domain: Any) -> str | None:
    """The root of a trigger label ``domain/root@seq Type`` (``root`` may be ``<N bytes: ..>``),
    or ``None`` when the label names no root of ``source_domain``."""
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
