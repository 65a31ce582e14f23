"""The end of a storm: what each shard of it did, and the one verdict over all of them.

A storm runs as one or more shards (:mod:`.shards`); each shard's engine ends with a
:class:`ShardResult` (picklable: counts, coverage and findings, no harness). :func:`conclude`
merges them (counts and coverage summed, findings in cause order), decides vacuity and the
required coverage once on the merged counts, writes the trace's summary line and builds the
:class:`~.storm_report.StormReport`. An unsharded storm is one shard.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..framework.findings import Finding, failing, sort_findings
from .storm_report import StormReport
from .trace import Trace, TraceWriter
from .vacuity import vacuity

__all__ = ["ShardPart", "ShardResult", "conclude", "shard_share"]


def shard_share(total: int, index: int, count: int) -> int:
    """How many of ``total`` items (events, source roots, deliveries of a budget) shard
    ``index`` of ``count`` owns: those ``i`` with ``i % count == index``."""
    return len(range(index, total, count))


@dataclass(frozen=True)
class ShardPart:
    """Shard ``index`` of ``count``: its delivery ``budget`` and the ``path`` of the part
    file its engine writes (a marker line, then its publish/deliver/settle lines)."""

    index: int
    count: int
    budget: int
    path: Path
    progress: bool | None = False

    def marker(self) -> dict[str, Any]:
        """The shard's marker line in the trace."""
        return {"type": "shard", "index": self.index, "shards": self.count}


@dataclass
class ShardResult:
    """What one shard did: its counters, fault coverage and findings (tagged with the shard
    when the storm has several), the commands and facts its handler returned and the fact
    pages its destinations stored."""

    counts: dict[str, int]
    coverage: dict[str, int]
    findings: list[Finding]
    produced: int
    facts_persisted: int
    #: labels of the destination aggregates its commands reached (applied or deduped), in a
    #: storm of several shards
    reached: frozenset[str] = frozenset()


def tag_shard(findings: Sequence[Finding], index: int, count: int) -> list[Finding]:
    """``findings`` of shard ``index`` of ``count`` with ``details["shard"]`` set (their
    delivery numbers are the shard's); a ``budget-exhausted`` finding names the shard."""
    out = []
    for f in findings:
        message = f.message
        if f.kind == "budget-exhausted":
            message = f"shard {index} of {count}: {message}"
        out.append(replace(f, message=message, details={**f.details, "shard": str(index)}))
    return out


def conclude(
    storm: Any,
    results: Sequence[ShardResult],
    *,
    output_domains: Sequence[str],
    writer: TraceWriter,
    trace: Trace,
    options: dict[str, Any],
) -> StormReport:
    """Merge the shards' ``results`` into the storm's report and write the trace's summary.

    ``storm`` is the storm's options (``require``, ``allow_vacuous``, ``fail_on``, ``seed``);
    ``options`` its trace header."""
    counts = dict(results[0].counts)
    coverage = dict(results[0].coverage)
    for result in results[1:]:
        for name, n in result.counts.items():
            counts[name] += n
        for name, n in result.coverage.items():
            coverage[name] += n
    missing = [r for r in storm.require if not coverage.get(r)]
    vacuous = vacuity(
        counts,
        produced=sum(r.produced for r in results),
        facts_persisted=sum(r.facts_persisted for r in results),
        output_domains=output_domains,
        missing=missing,
        allow_vacuous=storm.allow_vacuous,
    )
    merged = [f for r in results for f in r.findings]
    if vacuous is not None:
        merged.append(vacuous)
    findings = sort_findings(merged)
    ok = not failing(findings, fail_on=storm.fail_on)
    finding_kinds: dict[str, int] = {}
    for f in findings:
        finding_kinds[f.kind] = finding_kinds.get(f.kind, 0) + 1
    writer.finish(
        {
            "counts": counts,
            "fault_coverage": coverage,
            "findings": len(findings),
            "finding_kinds": finding_kinds,
            "ok": ok,
        }
    )
    seen: set[str] = set()
    shared: set[str] = set()
    for result in results:
        shared |= seen & result.reached
        seen |= result.reached
    return StormReport(
        ok=ok,
        shared_destinations=sorted(shared),
        findings=findings,
        counts=counts,
        fault_coverage=coverage,
        missing_coverage=missing,
        trace=trace,
        seed=storm.seed,
        options=options,
        fail_on=storm.fail_on,
    )
