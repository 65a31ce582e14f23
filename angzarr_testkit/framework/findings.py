"""Findings: the oracle's vocabulary.

Every check the kit makes reports a :class:`Finding`. Kinds are stable strings shared by the
API, the CLI's JSON, the Gherkin steps and the reports. :data:`KINDS` is the one table that
says which kinds are errors (they make a harness or storm unclean) and which are notes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ERROR",
    "NOTE",
    "KINDS",
    "Finding",
    "FindingKind",
    "error_kinds",
    "render_findings",
]

ERROR = "error"
NOTE = "note"


@dataclass(frozen=True)
class FindingKind:
    """One row of the finding table."""

    name: str
    severity: str
    summary: str


_TABLE = [
    FindingKind("double-apply", ERROR, "business logic applied the same logical command twice"),
    FindingKind("lost-command", ERROR, "a command was emitted but never applied nor rejected"),
    FindingKind(
        "dedupe-collision",
        ERROR,
        "two commands of one trigger delivery shared a dedupe key; the second got the "
        "first's events and never ran",
    ),
    FindingKind(
        "nondeterministic-output",
        ERROR,
        "a redelivered (or duplicated) trigger produced different commands",
    ),
    FindingKind(
        "unstamped-command", ERROR, "a command reached the destination with no sequence header"
    ),
    FindingKind(
        "sequence-mismatch",
        ERROR,
        "an explicit sequence did not match the destination and never got through",
    ),
    FindingKind(
        "missing-destination-sequence",
        ERROR,
        "the handler stamped a domain the request's sequence map does not have",
    ),
    FindingKind(
        "handler-error", ERROR, "the saga/PM handler raised or returned something unusable"
    ),
    FindingKind(
        "rejected-command",
        NOTE,
        "the destination refused a command (business rule, revocation, bad cover)",
    ),
    FindingKind("dead-lettered", ERROR, "a command or trigger was dead-lettered"),
    FindingKind(
        "invalid-provenance",
        ERROR,
        "a deferred header's source/source_seq does not identify the trigger",
    ),
]

#: kind name -> :class:`FindingKind`, in documentation order.
KINDS: dict[str, FindingKind] = {k.name: k for k in _TABLE}


def error_kinds() -> frozenset[str]:
    """The kinds whose presence makes a run unclean."""
    return frozenset(k.name for k in _TABLE if k.severity == ERROR)


@dataclass(frozen=True)
class Finding:
    """One thing the oracle saw.

    Attributes:
        kind: a key of :data:`KINDS`.
        message: one sentence saying what happened and what to look at.
        trigger: the trigger event that led here (``domain/root@seq``), if any.
        target: the destination aggregate (``domain/root``), if any.
        delivery: the harness's delivery number (1-based), if any.
        sequences: relevant sequence numbers (``expected``, ``actual``, ``source_seq``, ...).
        dedupe_key: the destination dedupe key involved, rendered, if any.
        details: further string context.
        traceback: the handler's traceback for ``handler-error`` findings.
    """

    kind: str
    message: str
    trigger: str | None = None
    target: str | None = None
    delivery: int | None = None
    sequences: dict[str, int] = field(default_factory=dict)
    dedupe_key: str | None = None
    details: dict[str, str] = field(default_factory=dict)
    traceback: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown finding kind {self.kind!r}; known: {', '.join(KINDS)}")

    @property
    def severity(self) -> str:
        """``"error"`` or ``"note"`` (see :data:`KINDS`)."""
        return KINDS[self.kind].severity

    @property
    def is_error(self) -> bool:
        """Whether this finding makes the run unclean."""
        return self.severity == ERROR

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (stable keys)."""
        return {
            "kind": self.kind,
            "severity": self.severity,
            "message": self.message,
            "trigger": self.trigger,
            "target": self.target,
            "delivery": self.delivery,
            "sequences": dict(self.sequences),
            "dedupe_key": self.dedupe_key,
            "details": dict(self.details),
            "traceback": self.traceback,
        }

    def render(self, *, with_traceback: bool = True) -> str:
        """A readable multi-line block (no protobuf dumps)."""
        lines = [f"[{self.kind}] {self.message}"]
        if self.delivery is not None:
            lines.append(f"    delivery:   #{self.delivery}")
        if self.trigger:
            lines.append(f"    trigger:    {self.trigger}")
        if self.target:
            lines.append(f"    target:     {self.target}")
        if self.sequences:
            seqs = ", ".join(f"{k}={v}" for k, v in self.sequences.items())
            lines.append(f"    sequences:  {seqs}")
        if self.dedupe_key:
            lines.append(f"    dedupe key: {self.dedupe_key}")
        for key, value in self.details.items():
            lines.append(f"    {key}: {value}")
        if with_traceback and self.traceback:
            lines.append("    traceback:")
            lines.extend("      " + ln for ln in self.traceback.rstrip().splitlines())
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render(with_traceback=False)


def render_findings(findings: Iterable[Finding], *, title: str = "findings") -> str:
    """Render findings as one report, errors first, with a count per kind."""
    items = sorted(findings, key=lambda f: (not f.is_error, list(KINDS).index(f.kind)))
    if not items:
        return f"{title}: none"
    counts: dict[str, int] = {}
    for f in items:
        counts[f.kind] = counts.get(f.kind, 0) + 1
    head = ", ".join(f"{n} {k}" for k, n in counts.items())
    body = "\n\n".join(f.render() for f in items)
    return f"{title}: {head}\n\n{body}"
