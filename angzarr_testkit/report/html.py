"""A storm report as one self-contained HTML page, rendered from a Jinja2 template.

:func:`render_html` turns a :class:`~angzarr_testkit.simulate.StormReport` into a page a person
can read in any browser, offline: the verdict, the counts, the fault coverage, a per-source-root
swimlane timeline of every delivery (inline SVG, read from the storm's trace) and the findings
grouped by kind. The page loads nothing: the stylesheet is inlined, there are no scripts, fonts
or images, and a Content-Security-Policy forbids fetching anything.

This module only builds the template's context (plain values: strings, numbers, lists);
the page's structure is ``templates/report.html.j2`` and its look ``static/report.css``, both
read from the installed package (never from the working directory). The environment escapes
every value it prints (``autoescape``, with :func:`~angzarr_testkit.report.markup.escape_text`
as the rule) and fails on a context key the template needs but was not given
(``StrictUndefined``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from ..framework.findings import KINDS, Finding
from ..simulate import FAULT_CLASSES, StormReport
from ..version import __version__
from .markup import escape_text
from .palette import finding_colour
from .svg import legend, timeline_svg
from .timeline import read_timeline

__all__ = [
    "CSP",
    "STYLESHEET",
    "TEMPLATE",
    "context",
    "environment",
    "render_html",
    "stylesheet",
    "write_html",
]

#: the page template's name inside ``angzarr_testkit/report/templates``.
TEMPLATE = "report.html.j2"
#: the inlined stylesheet, inside ``angzarr_testkit/report/static``.
STYLESHEET = "report.css"
#: nothing may be fetched; only the inline stylesheet and data: images may apply.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

_WARN_COUNTS = {"handler_errors", "rejected", "retried_out", "dead_lettered"}


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The report's template environment (built once): templates loaded from the package,
    autoescape on, :class:`jinja2.StrictUndefined`."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("angzarr_testkit.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=escape_text,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["thousands"] = _thousands
    return env


@functools.lru_cache(maxsize=1)
def stylesheet() -> Markup:
    """``static/report.css``, read from the package once, to be inlined into the page."""
    css = resources.files(__package__).joinpath("static", STYLESHEET).read_text(encoding="utf-8")
    return Markup(css)


def _thousands(value: Any) -> str:
    return f"{value:,}" if isinstance(value, (int, float)) else str(value)


# -- the context ------------------------------------------------------------------------------


def _verdict(report: StormReport) -> dict[str, Any]:
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
    return {
        "ok": report.ok,
        "state": "clean" if report.ok else "unclean",
        "word": "CLEAN" if report.ok else "NOT CLEAN",
        "reasons": reasons,
    }


def _meta(report: StormReport) -> list[tuple[str, Any]]:
    opts = report.options
    outputs = opts.get("output_domains")
    outputs_text = ", ".join(map(str, outputs)) if isinstance(outputs, list) else "-"
    faults = opts.get("faults")
    if isinstance(faults, dict):
        plan = ", ".join(f"{k}={v}" for k, v in faults.items() if v not in (0, 0.0, False)) or "-"
    else:
        plan = "-"
    return [
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


def _counts(report: StormReport) -> list[dict[str, str]]:
    rows = []
    for name, value in report.counts.items():
        cls = "warn" if name in _WARN_COUNTS and value else ("zero" if not value else "")
        rows.append(
            {
                "cls": cls,
                "name": str(name),
                "label": str(name).replace("_", " "),
                "number": f"{value:,}" if isinstance(value, int) else str(value),
            }
        )
    return rows


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


def _coverage(report: StormReport) -> list[dict[str, Any]]:
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
        if name in missing:
            cls = "missing"
        elif name in required:
            cls = ""
        else:
            cls = "zero" if not value else ""
        rows.append(
            {
                "cls": cls,
                "name": name,
                "plan": _plan_entry(plan, name),
                "occurred": value,
                "missing": name in missing,
                "required": name in required,
            }
        )
    return rows


def _finding(f: Finding) -> dict[str, Any]:
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
    return {
        "severity": "error" if f.is_error else "note",
        "message": f.message,
        "rows": [(key, value, key in mono) for key, value in rows],
        "traceback": f.traceback.rstrip() if f.traceback else "",
    }


def _groups(findings: Iterable[Finding], cap: int) -> list[dict[str, Any]]:
    """Findings by kind, errors first then in :data:`KINDS` order, at most ``cap`` listed."""
    by_kind: dict[str, list[Finding]] = {}
    for f in findings:
        by_kind.setdefault(f.kind, []).append(f)
    order = list(KINDS)

    def key(kind: str) -> tuple[bool, int]:
        info = KINDS.get(kind)
        return (
            info is None or info.severity != "error",
            order.index(kind) if kind in KINDS else len(order),
        )

    groups = []
    for kind in sorted(by_kind, key=key):
        items = by_kind[kind]
        info = KINDS.get(kind)
        shown = items[: max(cap, 0)]
        groups.append(
            {
                "kind": kind,
                "severity": info.severity if info else "error",
                "summary": info.summary if info else "",
                "colour": finding_colour(kind),
                "count": len(items),
                "shown": [_finding(f) for f in shown],
                "rest": len(items) - len(shown),
            }
        )
    return groups


def _timeline(report: StormReport, max_roots: int, max_events_per_root: int) -> dict[str, Any]:
    tl = read_timeline(report, max_roots, max_events_per_root)
    if tl.error:
        return {"error": tl.error, "legend": [], "svg": None, "notes": []}
    notes = []
    left_out = tl.total_roots - len(tl.lanes)
    if left_out > 0:
        notes.append(
            f"{left_out:,} of {tl.total_roots:,} roots not shown (showing {len(tl.lanes):,}: "
            "those with findings first, then the busiest)."
        )
    thinned = tl.thinned
    if thinned:
        notes.append(
            f"{thinned:,} lane{'s' if thinned != 1 else ''} had more than "
            f"{max_events_per_root:,} deliveries: faulted, redelivered and failing ones are "
            "drawn first, plain applied ones are sampled evenly."
        )
    if tl.unrooted:
        notes.append(f"{tl.unrooted:,} deliveries had no published root in the trace.")
    return {
        "error": None,
        "legend": legend(tl.finding_kinds()),
        "svg": timeline_svg(tl) if tl.lanes else None,
        "notes": notes,
    }


def context(
    report: StormReport, *, max_roots: int, max_events_per_root: int, max_findings_per_kind: int
) -> dict[str, Any]:
    """Everything :data:`TEMPLATE` prints, computed from ``report`` and its trace."""
    groups = _groups(report.findings, max_findings_per_kind)
    verdict = _verdict(report)
    cap = max_findings_per_kind
    return {
        "csp": Markup(CSP),  # kit-written, quotes and all
        "title": f"Storm seed {report.seed}: {verdict['word']}",
        "stylesheet": stylesheet(),
        "version": __version__,
        "seed": report.seed,
        "verdict": verdict,
        "meta": _meta(report),
        "counts": _counts(report),
        "coverage": _coverage(report),
        "groups": groups,
        "cap": max(cap, 0),
        "left_out": [(g["kind"], g["count"] - max(cap, 0)) for g in groups if g["count"] > cap],
        "timeline": _timeline(report, max_roots, max_events_per_root),
    }


# -- the public API ---------------------------------------------------------------------------


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
    values = context(
        report,
        max_roots=max_roots,
        max_events_per_root=max_events_per_root,
        max_findings_per_kind=max_findings_per_kind,
    )
    return environment().get_template(TEMPLATE).render(values)


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
