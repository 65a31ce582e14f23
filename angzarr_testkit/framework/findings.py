"""Findings: the oracle's vocabulary.

Every check the kit makes reports a :class:`Finding`. Kinds are stable strings shared by the
API, the CLI's JSON, the Gherkin steps and the reports. :data:`KINDS` is the one table that
gives each kind its severity (errors make a harness or storm unclean, warnings are shown,
notes are recorded) and its place in cause order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError
from ..validate import check_names, usage_error

__all__ = [
    "ERROR",
    "KINDS",
    "NOTE",
    "SEVERITIES",
    "WARNING",
    "Finding",
    "FindingGroup",
    "FindingKind",
    "check_kinds",
    "defect_key",
    "error_kinds",
    "failing",
    "group_findings",
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
        "silent-handler",
        ERROR,
        "the saga returned no command for a trigger it handles after catching an exception "
        "or logging at ERROR",
    ),
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
        "a sequence (explicit, or 0 for a deferred command under core) did not match the "
        "destination and never got through",
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
    (
        "fact-collision",
        ERROR,
        "a fact was deduped on an external_id that a fact with other events stored; its "
        "events were dropped",
    ),
    ("double-apply", ERROR, "business logic applied the same logical command twice"),
    ("dead-lettered", ERROR, "a command or trigger was dead-lettered"),
    (
        "requeue-loop",
        ERROR,
        "a trigger came back on every delivery (a failing process manager, crashes, nacks); "
        "angzarr core has no delivery limit, so it would be requeued forever (the kit stopped "
        "at its own cap)",
    ),
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
        "unknown-target",
        WARNING,
        "a command went to the trigger's own root in another domain, or to a root with no "
        "history in a domain declared must_exist: likely the wrong root",
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


class _KindSeverity:
    """``severity`` and ``is_error`` of anything with a ``kind`` (findings and groups)."""

    kind: str

    @property
    def severity(self) -> str:
        """``"error"``, ``"warning"`` or ``"note"`` (the kind's default, see :data:`KINDS`)."""
        return KINDS[self.kind].severity

    @property
    def is_error(self) -> bool:
        """Whether this makes the run unclean."""
        return self.severity == ERROR


@dataclass(frozen=True)
class Finding(_KindSeverity):
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
        defect: what the finding is an instance of, set by the check that made it (e.g.
            ``"lost-command inventory ReserveInventory"``): findings with the same kind and
            defect are one defect seen many times (:func:`group_findings`). ``None``: derived
            from the target domain and the message (see :func:`defect_key`).
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
    defect: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UsageError(f"unknown finding kind {self.kind!r}; known: {', '.join(KINDS)}")

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
            "defect": defect_key(self),
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


# -- grouping -----------------------------------------------------------------------------

# What varies between instances of one defect: ids, quoted values, numbers (sequences,
# delivery numbers). Order matters: ids before numbers, and lists of "#N" collapse to one.
_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_QUOTED_RE = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'")
_NUMBER_RE = re.compile(r"(?<![A-Za-z_])\d+(?:\.\d+)?")
_HASH_LIST_RE = re.compile(r"#N(?:\s*(?:,|and)\s*#N)+")
_LIST_RE = re.compile(r"\[N(?:, N)*\]")

#: Examples a group keeps (and shows) besides its count.
GROUP_EXAMPLES = 3


def defect_key(finding: Finding) -> str:
    """The key that makes findings one defect: the producer's ``defect`` when it set one,
    else the target domain and the message with its instance data (ids, quoted values,
    numbers) masked. Two findings group when their kinds and defect keys are equal."""
    if finding.defect is not None:
        return finding.defect
    text = _UUID_RE.sub("<id>", finding.message)
    text = _QUOTED_RE.sub("<v>", text)
    text = _NUMBER_RE.sub("N", text)
    text = _LIST_RE.sub("[N]", _HASH_LIST_RE.sub("#N", text))
    domain = (finding.target or "").split("/", 1)[0]
    return f"{domain}: {text}" if domain else text


@dataclass(frozen=True)
class FindingGroup(_KindSeverity):
    """One defect seen ``count`` times: the findings of one kind with one :func:`defect_key`.

    Attributes:
        kind: the findings' kind.
        defect: their shared :func:`defect_key`.
        count: how many findings the group stands for.
        examples: the first :data:`GROUP_EXAMPLES` of them, in the order they were found.
    """

    kind: str
    defect: str
    count: int
    examples: tuple[Finding, ...]

    @property
    def first(self) -> Finding:
        """The first finding of the group."""
        return self.examples[0]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: kind, severity, defect, count and the examples' dicts."""
        return {
            "kind": self.kind,
            "severity": self.severity,
            "defect": self.defect,
            "count": self.count,
            "examples": [f.to_dict() for f in self.examples],
        }

    def summary_line(self) -> str:
        """One line: ``[kind] xN: first message`` (``xN`` only when N > 1)."""
        times = f" x{self.count}" if self.count > 1 else ""
        return f"[{self.kind}]{times}: {self.first.message}"

    def render(self, *, with_traceback: bool = True) -> str:
        """The first finding rendered in full; for a group of several, ``xN`` after the kind
        and one line per further example (delivery, trigger, target)."""
        text = self.first.render(with_traceback=with_traceback)
        if self.count == 1:
            return text
        head, _, rest = text.partition("\n")
        head = head.replace(f"[{self.kind}]", f"[{self.kind}] x{self.count}:", 1)
        lines = [head, *([rest] if rest else [])]
        others = [_example_line(f) for f in self.examples[1:]]
        more = self.count - len(self.examples)
        if more > 0:
            others.append(f"... and {more} more")
        lines.append("    also:       " + "\n                ".join(others))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render(with_traceback=False)


def _example_line(f: Finding) -> str:
    parts = []
    if f.delivery is not None:
        parts.append(f"#{f.delivery}")
    if f.trigger:
        parts.append(f.trigger.split(" ", 1)[0])
    if f.target:
        parts.append(f"-> {f.target}")
    return " ".join(parts) or f.message


def _check_findings(value: Any, param: str) -> list[Finding]:
    """A list of :class:`Finding` (a lone string, a non-iterable or a non-finding item is a
    :class:`~angzarr_testkit.errors.UsageTypeError` naming ``param``)."""
    accepted = "an iterable of Finding (e.g. harness.findings or report.findings)"
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, Iterable):
        raise usage_error(param, value, accepted, type_error=True)
    items = list(value)
    for i, item in enumerate(items):
        if not isinstance(item, Finding):
            raise usage_error(f"{param}[{i}]", item, "a Finding", type_error=True)
    return items


def group_findings(findings: Iterable[Finding]) -> list[FindingGroup]:
    """``findings`` as defects: one :class:`FindingGroup` per kind and :func:`defect_key`,
    in cause order (groups of one kind in the order their first finding was found)."""
    groups: dict[tuple[str, str], list[Any]] = {}
    for f in _check_findings(findings, "findings"):
        key = (f.kind, defect_key(f))
        entry = groups.get(key)
        if entry is None:
            groups[key] = [1, [f]]
        else:
            entry[0] += 1
            if len(entry[1]) < GROUP_EXAMPLES:
                entry[1].append(f)
    made = [FindingGroup(k, d, n, tuple(ex)) for (k, d), (n, ex) in groups.items()]
    return sorted(made, key=lambda g: KINDS[g.kind].rank)


def render_findings(findings: Iterable[Finding], *, title: str = "findings") -> str:
    """Render findings as one report in cause order, with a count per kind, one block per
    defect (:func:`group_findings`: ``[kind] xN: ...`` with a few examples)."""
    items = _check_findings(findings, "findings")
    if not items:
        return f"{title}: none"
    groups = group_findings(items)
    counts: dict[str, int] = {}
    for g in groups:
        counts[g.kind] = counts.get(g.kind, 0) + g.count
    head = ", ".join(f"{n} {k}" for k, n in counts.items())
    if len(groups) < len(items):
        head += f" ({len(groups)} distinct)"
    body = "\n\n".join(g.render() for g in groups)
    return f"{title}: {head}\n\n{body}"
