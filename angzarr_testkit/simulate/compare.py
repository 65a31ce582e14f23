"""Profile comparison: the same storm, or the same harness scenario, under several framework
profiles, and what changes between them.

The migration report of a team moving from angzarr-client 0.3's map protocol
(``"sequence-map"``) to angzarr core HEAD (``"core"``): :func:`compare_profiles` runs one
storm definition (the same :class:`~.storm.Storm` arguments, seed included) once per profile;
:func:`compare_scenario` runs a scenario ``scenario(harness)`` on a fresh
:class:`~angzarr_testkit.framework.saga.SagaHarness` (or
:class:`~angzarr_testkit.framework.pm.ProcessManagerHarness`) per profile. Both return a
:class:`~.comparison.ProfileComparison` (``render()``, ``to_dict()``); docs/compare.md
explains how to read it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ClientError
from ..framework.findings import Finding
from ..framework.saga import PROFILES, SagaHarness
from ..validate import call_user, check_callable, check_choice, check_names, usage_error
from .comparison import ProfileComparison, ProfileRun, vacuity_notes
from .storm import Storm, StormReport
from .vacuity import vacuity

__all__ = ["COMPARED_PROFILES", "compare_profiles", "compare_scenario", "check_profiles"]

#: the profiles compared when none are given: from the seed protocol (angzarr-client 0.3's
#: map) to angzarr core HEAD, the migration most teams make
COMPARED_PROFILES = ("sequence-map", "core")

_OUTCOME_COUNTS = ("applied", "deduped", "rejected", "retried_out", "dead_lettered")


def check_profiles(value: Any, param: str = "profiles") -> list[str]:
    """At least two distinct profiles of :data:`~angzarr_testkit.PROFILES`."""
    accepted = f"a list of at least two distinct profiles out of {', '.join(PROFILES)}"
    profiles = check_names(
        value, param, item=lambda v, p: check_choice(v, p, PROFILES), accepted=accepted
    )
    if len(profiles) < 2:
        raise usage_error(param, value, accepted, hint="a comparison needs two profiles or more")
    seen: set[str] = set()
    for i, profile in enumerate(profiles):
        if profile in seen:
            raise usage_error(param, value, accepted, hint=f"{param}[{i}] repeats {profile!r}")
        seen.add(profile)
    return profiles


def _refuse_profile(options: dict[str, Any], what: str) -> None:
    if "profile" in options:
        raise usage_error(
            "profile",
            options["profile"],
            f"no profile= with profiles= ({what} runs once per profile of profiles=)",
            hint="put the profile in profiles=[...]",
        )


def compare_profiles(
    saga: Any,
    *,
    profiles: Sequence[str] = COMPARED_PROFILES,
    trace_dir: str | os.PathLike[str] | None = None,
    **storm_options: Any,
) -> ProfileComparison:
    """Run the same storm under each profile of ``profiles`` and compare them.

    Args:
        saga: the storm's target (any :class:`~.storm.Storm` target).
        profiles: at least two distinct profiles; the first is the baseline (default
            :data:`COMPARED_PROFILES`: ``sequence-map`` then ``core``).
        trace_dir: an existing directory for the traces, one per profile
            (``compare-<seed>-<profile>.jsonl``); ``None``: temporary files.
        **storm_options: every other :class:`~.storm.Storm` keyword argument (``seed``,
            ``events``, ``faults``, ``setup``, ...), the same for every profile; not
            ``profile`` (give ``profiles``) nor ``trace`` (give ``trace_dir``).

    Raises:
        UsageError: a bad ``profiles``, ``profile=`` or ``trace=`` given, a ``trace_dir``
            that is not a directory, or a Storm argument the storm refuses (checked for
            every profile before any storm runs).
    """
    names = check_profiles(profiles)
    _refuse_profile(storm_options, "the storm")
    if "trace" in storm_options:
        raise usage_error(
            "trace",
            storm_options["trace"],
            "no trace= with profiles= (one trace per profile)",
            hint="give trace_dir=DIRECTORY: each profile's trace is written there",
        )
    folder = _trace_dir(trace_dir)
    seed = storm_options.get("seed", 0)
    storms = []
    for profile in names:
        trace = None if folder is None else folder / f"compare-{seed}-{profile}.jsonl"
        storms.append(Storm(saga, profile=profile, trace=trace, **storm_options))
    reports = [storm.run() for storm in storms]
    runs = [_storm_run(profile, report) for profile, report in zip(names, reports, strict=True)]
    target = str(reports[0].options.get("target", saga))
    comparison = ProfileComparison(
        "storm", target, runs, seed=storms[0].seed, notes=vacuity_notes(runs)
    )
    if comparison.same_triggers is False:
        comparison.notes.append(
            "the profiles' storms did not publish the same triggers: a delivery's fault draws "
            "depend on what it did (crash-mid-dispatch picks one of the commands sent), so "
            "after the first difference the seeded schedules part; the counts compare "
            "different runs"
        )
    return comparison


def compare_scenario(
    scenario: Callable[[SagaHarness], Any],
    target: Any,
    *,
    profiles: Sequence[str] = COMPARED_PROFILES,
    kind: str | None = None,
    **harness_options: Any,
) -> ProfileComparison:
    """Run ``scenario(harness)`` on a fresh harness per profile and compare the findings,
    the command outcomes and each destination's applied count.

    Args:
        scenario: ``scenario(harness)``: the givens and deliveries of one test
            (``given_destination``, ``given_aggregate``, ``deliver``, ``redeliver``); its
            return value is ignored. If it raises, a
            :class:`~angzarr_testkit.errors.UserCodeError` names it and the profile.
        target: the saga or process manager (any harness target).
        profiles: at least two distinct profiles; the first is the baseline.
        kind: ``"saga"`` or ``"process-manager"`` (default: a process manager when
            ``pm_domain`` or ``sources`` is given or the target is an angzarr_client
            ``ProcessManager``, else a saga).
        **harness_options: the :class:`SagaHarness` (or ``ProcessManagerHarness``)
            keyword arguments, the same for every profile; not ``profile`` nor ``record``.
    """
    scenario = check_callable(scenario, "scenario", arity=1, signature="a callable scenario(h)")
    names = check_profiles(profiles)
    _refuse_profile(harness_options, "the scenario")
    if "record" in harness_options:
        raise usage_error(
            "record",
            harness_options["record"],
            "no record= (a comparison reads every delivery's records)",
        )
    harness_class = _harness_class(target, kind, harness_options)
    harnesses = [harness_class(target, profile=p, **harness_options) for p in names]
    runs = []
    for profile, harness in zip(names, harnesses, strict=True):
        call_user(f"compare scenario (profile {profile})", scenario, harness)
        runs.append(_harness_run(profile, harness))
    return ProfileComparison("scenario", harnesses[0].target.name, runs, notes=vacuity_notes(runs))


# -- one profile's run -------------------------------------------------------------------
def _kinds(findings: Sequence[Finding]) -> tuple[dict[str, int], dict[str, str]]:
    counts: dict[str, int] = {}
    first: dict[str, str] = {}
    for f in findings:
        counts[f.kind] = counts.get(f.kind, 0) + 1
        first.setdefault(f.kind, f.message)
    return counts, first


def _storm_run(profile: str, report: StormReport) -> ProfileRun:
    counts, first = _kinds(report.findings)
    reason = next(
        (f.details.get("reason", "vacuous") for f in report.findings if f.kind == "vacuous-run"),
        None,
    )
    if reason is None and report.options.get("allow_vacuous"):
        # allowed to be vacuous: the storm made no finding of it, the comparison still says so
        found = vacuity(
            report.counts,
            produced=report.counts["commands_sent"] + report.counts["facts"],
            facts_persisted=report.counts["facts"],
            output_domains=report.options.get("output_domains") or (),
            missing=report.missing_coverage,
            allow_vacuous=False,
        )
        reason = found.details["reason"] if found is not None else None
    return ProfileRun(
        profile,
        report.ok,
        reason,
        dict(report.counts),
        counts,
        first,
        trace=str(report.trace.path),
        triggers_digest=_triggers_digest(report.trace.path),
    )


def _harness_run(profile: str, h: SagaHarness) -> ProfileRun:
    deliveries = h.deliveries
    findings = list(h.findings)
    vacuous = None
    if not deliveries:
        vacuous = "no-deliveries"
        if not h.allow_vacuous:
            findings.append(h.oracle.vacuous_run())
    counts = {
        "deliveries": len(deliveries),
        "redeliveries": sum(d.redelivered for d in deliveries),
        "handler_errors": sum(d.error is not None for d in deliveries),
        "skipped": sum(bool(getattr(d, "skipped", False)) for d in deliveries),
        "commands_sent": sum(len(d.sent) for d in deliveries),
        **dict.fromkeys(_OUTCOME_COUNTS, 0),
        "facts": sum(len(d.facts) for d in deliveries),
    }
    for d in deliveries:
        for outcome in d.outcomes:
            name = outcome.status.replace("-", "_")
            counts[name] = counts.get(name, 0) + 1
    kinds, first = _kinds(findings)
    aggregates = {}
    for domain, edition, root in h.store.streams:
        view = h.aggregate(domain, root, edition=edition or None)
        label = f"{domain}/{_root_label(root)}" + (f"@{edition}" if edition else "")
        aggregates[label] = view.applied
    return ProfileRun(profile, h.clean, vacuous, counts, kinds, first, aggregates=aggregates)


# -- helpers -----------------------------------------------------------------------------
def _trace_dir(value: Any) -> Path | None:
    if value is None:
        return None
    accepted = "None or an existing directory (a str or pathlib.Path)"
    if isinstance(value, bytes) or not isinstance(value, (str, os.PathLike)) or value == "":
        raise usage_error("trace_dir", value, accepted, type_error=not isinstance(value, str))
    path = Path(value)
    if not path.is_dir():
        raise usage_error("trace_dir", str(value), accepted, hint="create it first")
    return path


def _triggers_digest(path: Path) -> str:
    """A digest of a trace's ``publish`` lines (the triggers and their duplicates)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for line in handle:
            if line.startswith(b'{"type":"publish"'):
                digest.update(line)
    return "sha256:" + digest.hexdigest()


def _root_label(root: bytes) -> str:
    from ..ids import root_str

    return root_str(root)


def _harness_class(target: Any, kind: str | None, options: dict[str, Any]) -> type[SagaHarness]:
    from ..framework.pm import ProcessManagerHarness
    from ..framework.targets import import_target, is_sdk_pm_class

    if kind is not None:
        check_choice(kind, "kind", ("saga", "process-manager"))
    else:
        candidate = target
        if isinstance(target, str) and ":" in target and "://" not in target:
            try:
                candidate = import_target(target)
            except ClientError:  # the harness reports a bad target with its own error
                candidate = None
        is_pm = is_sdk_pm_class(candidate) or is_sdk_pm_class(type(candidate))
        pm_given = options.get("pm_domain") or options.get("sources")
        kind = "process-manager" if (pm_given or is_pm) else "saga"
    return ProcessManagerHarness if kind == "process-manager" else SagaHarness
