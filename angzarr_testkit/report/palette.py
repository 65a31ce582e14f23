"""The report's visual vocabulary: which colour and shape stands for what.

Shared by the timeline drawing (:mod:`angzarr_testkit.report.svg`) and the page's tables
(:mod:`angzarr_testkit.report.html`), so a finding kind has the same colour in the swatch of the
findings table as in the ring around its delivery on the timeline.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "FAULT_COLOUR",
    "FAULT_FALLBACK",
    "FINDING_COLOUR",
    "FINDING_FALLBACK",
    "OUTCOME_OF_STATUS",
    "OUTCOME_STYLE",
    "SHAPES",
    "fault_colour",
    "finding_colour",
    "outcome_class",
]

#: outcome class -> (fill colour, legend label). The order is the priority when one delivery
#: had several commands with different outcomes: the worst one colours the mark.
OUTCOME_STYLE: dict[str, tuple[str, str]] = {
    "rejected": ("#e8590c", "rejected / dead-lettered command"),
    "retried-out": ("#ae3ec9", "retried out (sequence never matched)"),
    "not-sent": ("#868e96", "not sent (consumer crashed first)"),
    "deduped": ("#1c7ed6", "deduped by the destination"),
    "applied": ("#2f9e44", "applied"),
    "none": ("#ffffff", "no command sent"),
}

#: a command's recorded status -> its outcome class (unknown statuses count as rejected).
OUTCOME_OF_STATUS: dict[str, str] = {
    "applied": "applied",
    "deduped": "deduped",
    "already-processed": "deduped",
    "rejected": "rejected",
    "dead-lettered": "rejected",
    "retried-out": "retried-out",
    "not-sent": "not-sent",
}

#: per-delivery fault -> colour of the marker drawn above the delivery.
FAULT_COLOUR: dict[str, str] = {
    "crash-before-ack": "#5f3dc4",
    "crash-mid-dispatch": "#0c8599",
    "nack-requeue": "#b08900",
    "concurrent-redelivery": "#d6336c",
}
FAULT_FALLBACK = "#495057"

#: finding kind -> ring colour (errors in reds and darks, the note in amber).
FINDING_COLOUR: dict[str, str] = {
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
FINDING_FALLBACK = "#e03131"

#: mark shape -> what kind of delivery it stands for.
SHAPES: tuple[tuple[str, str], ...] = (
    ("circle", "first delivery"),
    ("diamond", "redelivery (marked redelivered)"),
    ("square", "publisher duplicate (a second copy, not marked redelivered)"),
)


def finding_colour(kind: str) -> str:
    """The colour of a finding kind (rings, bands and swatches)."""
    return FINDING_COLOUR.get(kind, FINDING_FALLBACK)


def fault_colour(fault: str) -> str:
    """The colour of the marker drawn above a delivery that had ``fault`` injected."""
    return FAULT_COLOUR.get(fault, FAULT_FALLBACK)


def outcome_class(statuses: Iterable[str]) -> str:
    """The worst outcome class among a delivery's command statuses (``none``: no command)."""
    present = {OUTCOME_OF_STATUS.get(s, "rejected") for s in statuses}
    for name in OUTCOME_STYLE:
        if name in present:
            return name
    return "none"
