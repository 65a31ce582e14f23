"""What a storm did and what the oracle made of it: :class:`StormReport` and its counters.

The engine (:mod:`angzarr_testkit.simulate.engine`) fills one in when a run ends; this module
only reads it back: the verdict, the counts and fault coverage, the findings (``to_dict``, a
readable ``summary``, ``assert_clean``) and, for a replay, how its verdict compares with the
recorded one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..framework.findings import Finding, check_kinds, failing, render_findings
from .trace import Trace

__all__ = ["COUNT_NAMES", "StormReport"]

#: The counters every report has (the CLI's JSON ``counts``).
COUNT_NAMES = (
    "published",
    "duplicates",
    "deliveries",
    "redeliveries",
    "handler_calls",
    "handler_errors",
    "skipped",
    "commands_sent",
    "applied",
    "deduped",
    "rejected",
    "retried_out",
    "facts",
    "dead_lettered",
    "acked",
)


@dataclass
class StormReport:
    """What a storm did and what the oracle made of it.

    Attributes:
        ok: no finding fails the storm (``findings.failing`` with the storm's ``fail_on``):
            no error finding, and so not vacuous (``vacuous-run``) nor cut short by its
            delivery budget (``budget-exhausted``).
        findings: every finding (harness findings, dead-lettered triggers, lost commands,
            the budget, vacuity).
        counts: see :data:`COUNT_NAMES`.
        fault_coverage: fault class -> how often it happened.
        missing_coverage: required fault classes that never happened.
        trace: the event-level trace (iterable of dicts; JSON lines on disk).
        seed: the seed in use.
        options: the storm's options as recorded in the trace header.
        recorded: for a replay of a trace file, the verdict the trace recorded (``ok``,
            ``finding_kinds``); see :attr:`verdict_changed`. ``None`` otherwise.
        fail_on: kinds the storm was told to fail on beyond the error kinds.
        shared_destinations: in a storm of several shards, the destination aggregates that
            commands of more than one shard reached. Each shard had its own copy of them, so
            the interleavings across shards at these aggregates were not simulated (run with
            ``shards=1`` to cover them); empty for an unsharded storm.
    """

    ok: bool
    findings: list[Finding]
    counts: dict[str, int]
    fault_coverage: dict[str, int]
    missing_coverage: list[str]
    trace: Trace
    seed: int
    options: dict[str, Any] = field(default_factory=dict)
    fail_on: frozenset[str] = frozenset()
    recorded: dict[str, Any] | None = None
    shared_destinations: list[str] = field(default_factory=list)

    @property
    def verdict_changed(self) -> bool:
        """A replay whose verdict (``ok``, or the finding kinds and their counts) differs from
        the one its trace recorded: the code under test, its setup or the kit changed since
        the trace was written (not a finding: a fixed saga replays clean on purpose)."""
        rec = self.recorded
        return rec is not None and (rec["ok"] != self.ok or rec["finding_kinds"] != self.kinds())

    def replay_note(self) -> str | None:
        """One line saying how a replay's verdict differs from the recorded one, or None."""
        if not self.verdict_changed:
            return None
        assert self.recorded is not None

        def word(ok: bool, kinds: dict[str, int]) -> str:
            text = ", ".join(f"{k} {n}" for k, n in kinds.items())
            return ("CLEAN" if ok else "NOT CLEAN") + (f" ({text})" if text else "")

        return (
            "replay verdict differs from the recorded one: recorded "
            f"{word(self.recorded['ok'], self.recorded['finding_kinds'])}, replayed "
            f"{word(self.ok, self.kinds())}"
        )

    def kinds(self) -> dict[str, int]:
        """Finding kind -> count."""
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.kind] = out.get(f.kind, 0) + 1
        return out

    def assert_clean(self, allow: Iterable[str] = (), fail_on: Iterable[str] = ()) -> None:
        """Raise ``AssertionError`` with a readable report when the storm is not clean: a
        finding that fails it (an error kind not in ``allow``, or a kind in ``fail_on`` or
        the storm's ``fail_on``). A vacuous storm (no work, or a required fault class that
        never happened) fails with ``vacuous-run`` unless ``allow=["vacuous-run"]``."""
        allowed = check_kinds(allow, "allow")
        raised = check_kinds(fail_on, "fail_on") | self.fail_on
        errors = failing(self.findings, allow=allowed, fail_on=raised)
        if errors:
            head = f"storm (seed {self.seed}) is not clean; replay with seed={self.seed}"
            raise AssertionError(head + "\n" + render_findings(errors, title="storm findings"))

    def to_dict(self, *, max_findings_per_kind: int = 50) -> dict[str, Any]:
        """A JSON-ready summary: at most ``max_findings_per_kind`` findings of each kind
        (``0``: all of them). ``finding_counts`` has the totals, ``truncated`` says per kind
        how many findings were left out (empty when the list is complete), and a replay has a
        ``replay`` entry with the recorded verdict and whether it changed."""
        from ..validate import check_int

        cap = check_int(max_findings_per_kind, "max_findings_per_kind", minimum=0)
        shown: list[dict[str, Any]] = []
        per_kind: dict[str, int] = {}
        for f in self.findings:
            per_kind[f.kind] = per_kind.get(f.kind, 0) + 1
            if not cap or per_kind[f.kind] <= cap:
                shown.append(f.to_dict())
        out: dict[str, Any] = {
            "ok": self.ok,
            "seed": self.seed,
            "counts": dict(self.counts),
            "fault_coverage": dict(self.fault_coverage),
            "missing_coverage": list(self.missing_coverage),
            "finding_counts": per_kind,
            "findings": shown,
            "max_findings_per_kind": cap or None,
            "truncated": {k: n - cap for k, n in per_kind.items() if cap and n > cap},
            "trace": str(self.trace.path),
            "shared_destinations": list(self.shared_destinations),
        }
        if self.recorded is not None:
            out["replay"] = {
                "recorded_ok": self.recorded["ok"],
                "recorded_finding_kinds": dict(self.recorded["finding_kinds"]),
                "verdict_changed": self.verdict_changed,
            }
        return out

    def summary(self) -> str:
        """A readable table of counts, coverage and finding kinds."""
        width = max(len(k) for k in (*self.counts, *self.fault_coverage, "x" * 12))
        lines = [f"storm seed {self.seed}: {'CLEAN' if self.ok else 'NOT CLEAN'}", "", "counts:"]
        lines += [f"  {k:<{width}}  {v:>10,}" for k, v in self.counts.items()]
        lines += ["", "fault coverage:"]
        lines += [f"  {k:<{width}}  {v:>10,}" for k, v in self.fault_coverage.items()]
        if self.missing_coverage:
            lines.append(f"  required but never occurred: {', '.join(self.missing_coverage)}")
        lines += ["", "findings:"]
        kinds = self.kinds()
        lines += [f"  {k:<{width}}  {v:>10,}" for k, v in kinds.items()] or ["  none"]
        shared = self.shared_destinations
        if shared:
            shown = ", ".join(shared[:5]) + (
                f" and {len(shared) - 5} more" if len(shared) > 5 else ""
            )
            lines += [
                "",
                f"note: commands of several shards reached {len(shared)} destination(s) ({shown}); "
                "each shard had its own copy, so interleavings across shards there were not "
                "simulated: run with shards=1 to cover them",
            ]
        return "\n".join(lines)
