"""Findings: the oracle's vocabulary.

Every check the kit makes reports a :class:`Finding`. Kinds are stable strings shared by the
API, the CLI's JSON, the Gherkin steps and the reports. :data:`KINDS` is the one table that
gives each kind its severity (errors make a harness or storm unclean, warnings are shown,
notes are recorded) and its place in cause order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ERROR",
    "KINDS",
    "NOTE",
    "SEVERITIES",
    "WARNING",
    "Finding",
    "FindingKind",
    "check_kinds",
    "error_kinds",
    "failing",
    "render_findings",
    "sort_findings",
]

ERROR = "error"
WARNING = "warning"
NOTE = "note"
#: error: fails the run; warning: shown (pytest summary, CLI); note: recorded only.
SEVERITIES = (ERROR, WARNING, NOTE)


@dataclass(frozen=True)
class FindingKind:
    """One row of the finding table.

    Attributes:
        name: the stable kind string.
        severity: the default severity (one of :data:`SEVERITIES`).
        summary: one line saying what the kind means.
        rank: position in cause order: root causes (a malformed command, a handler error, a
            stale sequence) come before their consequences (a lost command, a vacuous run).
    """

    name: str
    severity: str
    summary: str
    rank: int = 0


# Cause order: a report lists what to fix first at the top.
_ROWS = [
    (
        "invalid-command",
        ERROR,
        "a command or fact angzarr core refuses outright (INVALID_ARGUMENT: no cover, a root "
        "that is not 16 bytes, a bad domain, a fact without external_deferred, ...)",
    ),
    (
        "malformed-response",
        ERROR,
        "the handler's reply is not a response of the expected type (unparseable bytes, "
        "unknown fields only, another message type)",
    ),
    ("handler-error", ERROR, "the saga/PM handler raised or returned something unusable"),
    (
        "missing-destination-sequence",
        ERROR,
        "the handler stamped a domain the request's sequence map does not have",
    ),
    ("unstamped-command", ERROR, "a command reached the destination with no sequence header"),
    (
        "invalid-provenance",
        ERROR,
        "a deferred header's source/source_seq does not identify the trigger",
    ),
    (
        "sequence-mismatch",
        ERROR,
        "an explicit sequence did not match the destination and never got through",
    ),
    (
        "nondeterministic-output",
        ERROR,
        "a redelivered (or duplicated) trigger produced different commands",
    ),
    (
        "dedupe-collision",
        ERROR,
        "two commands of one trigger delivery shared a dedupe key; the second got the "
        "first's events and never ran",
    ),
    ("double-apply", ERROR, "business logic applied the same logical command twice"),
    ("dead-lettered", ERROR, "a command or trigger was dead-lettered"),
    ("lost-command", ERROR, "a command was emitted but never applied nor rejected"),
    (
        "budget-exhausted",
        ERROR,
        "the storm used up its delivery budget before the queue drained (a redelivery loop)",
    ),
    (
        "vacuous-run",
        ERROR,
        "the run exercised nothing: no delivery, no command or fact produced, every command "
        "rejected or skipped, or a required fault never injected",
    ),
    (
        "rejected-command",
        WARNING,
        "the destination's business logic refused a command (a business rule, a revocation)",
    ),
]
_TABLE = [FindingKind(n, sev, summary, rank) for rank, (n, sev, summary) in enumerate(_ROWS)]

#: kind name -> :class:`FindingKind`, in cause order.
KINDS: dict[str, FindingKind] = {k.name: k for k in _TABLE}


def error_kinds() -> frozenset[str]:
    """The kinds whose presence makes a run unclean by default."""
    return frozenset(k.name for k in _TABLE if k.severity == ERROR)


def check_kinds(value: Any, param: str) -> frozenset[str]:
    """Finding kind names given by a user (``allow=``, ``fail_on=``): a list of known kinds;
    a lone string or an unknown kind is a :class:`~angzarr_testkit.errors.UsageError`."""
    from ..validate import check_names, usage_error

    def one(kind: Any, where: str) -> str:
        if not isinstance(kind, str) or kind not in KINDS:
            raise usage_error(where, kind, "a finding kind: " + ", ".join(KINDS))
        return kind

    return frozenset(check_names(value, param, item=one, accepted="a list of finding kinds"))


def failing(
    findings: Iterable[Finding],
    *,
    allow: Iterable[str] = (),
    fail_on: Iterable[str] = (),
) -> list[Finding]:
    """The findings that fail a run: error-severity kinds not in ``allow``, plus any kind
    named in ``fail_on`` (raising a warning or note to an error), in cause order."""
    allowed = frozenset(allow)
    raised = frozenset(fail_on)
    return sort_findings(
        f for f in findings if (f.is_error or f.kind in raised) and f.kind not in allowed
    )


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """``findings`` in cause order (stable within a kind)."""
    return sorted(findings, key=lambda f: KINDS[f.kind].rank)


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
        """``"error"``, ``"warning"`` or ``"note"`` (the kind's default, see :data:`KINDS`)."""
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
    """Render findings as one report in cause order, with a count per kind."""
    items = sort_findings(findings)
    if not items:
        return f"{title}: none"
    counts: dict[str, int] = {}
    for f in items:
        counts[f.kind] = counts.get(f.kind, 0) + 1
    head = ", ".join(f"{n} {k}" for k, n in counts.items())
    body = "\n\n".join(f.render() for f in items)
    return f"{title}: {head}\n\n{body}"
