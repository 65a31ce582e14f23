"""Per test: what it made with the fixtures, and the verdict on them (a failure report
naming the findings, how to allow them and how to replay the seed)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from ..framework.findings import KINDS, Finding, failing, group_findings
from ..framework.saga import SagaHarness
from ..simulate.storm import Storm, StormReport
from .markers import allowed_kinds
from .settings import SETTINGS, Settings, derive_seed
from .summary import SUMMARY_ATTR

__all__ = [
    "MAX_SHOWN_PER_KIND",
    "STATE",
    "PluginState",
    "annotate_report",
    "judge_call",
    "render_failure",
    "state_for",
]

#: Defects (groups of findings, see ``group_findings``) of one kind shown in full in a failure
#: (the rest are counted).
MAX_SHOWN_PER_KIND = 5


@dataclass
class PluginState:
    """What one test made with the fixtures, and what has been reported already."""

    item: pytest.Item
    settings: Settings
    harnesses: list[SagaHarness] = field(default_factory=list)
    storms: list[tuple[str, Storm, StormReport]] = field(default_factory=list)  # (label, ...)
    storm_count: int = 0
    #: terminal-summary lines: the findings that did not fail the test, grouped
    summary: list[str] = field(default_factory=list)
    _seen: set[tuple[int, str]] = field(default_factory=set)  # (harness, rendered finding)
    _reports_seen: int = 0  # storm reports are final: judged once each, in order

    @property
    def seed(self) -> int:
        return derive_seed(self.settings.seed, self.item.nodeid)

    def verdict(self) -> str | None:
        """A failure report for what was not reported yet (``None`` when all is clean);
        marks it reported, and notes in :attr:`summary` what did not fail."""
        allowed = allowed_kinds(self.item)
        fail_on = self.settings.fail_on
        blocks: list[str] = []
        kinds: set[str] = set()
        for n, harness in enumerate(self.harnesses, 1):
            fresh = self._fresh(n, harness.findings)
            errors = failing(fresh, allow=allowed, fail_on=fail_on)
            self._note(f"saga harness #{n}", fresh, errors, allowed)
            if errors:
                kinds.update(f.kind for f in errors)
                title = (
                    f"saga harness #{n} ({harness.target.name}, profile {harness.profile}) "
                    "is not clean"
                )
                blocks.append(render_failure(title, errors))
        reports, self._reports_seen = self.storms[self._reports_seen :], len(self.storms)
        for label, storm, report in reports:
            storm_allowed, storm_fail_on = _storm_policy(storm, allowed, fail_on)
            errors = failing(report.findings, allow=storm_allowed, fail_on=storm_fail_on)
            self._note(label, report.findings, errors, storm_allowed)
            # A required fault class that never happened is a vacuous-run finding (one
            # verdict with assert_clean: waived only by allowing vacuous-run).
            if not errors:
                continue
            kinds.update(f.kind for f in errors)
            title = (
                f"{label} ({report.options.get('target', '?')}, seed {report.seed}, "
                f"{storm.events} events, profile {report.options.get('profile', '?')}) "
                "is not clean"
            )
            notes = []
            if not report.trace.temporary:
                notes.append(f"  trace: {report.trace.path}")
            blocks.append(render_failure(title, errors, notes))
        if not blocks:
            return None
        lines = ["angzarr-testkit: " + blocks[0], *blocks[1:]]
        if kinds:
            listed = ", ".join(f'"{k}"' for k in sorted(kinds, key=list(KINDS).index))
            lines.append(f"(if these are expected: @pytest.mark.angzarr_allow({listed}))")
        lines.append(self.replay_line())
        return "\n\n".join(lines)

    def consume(self) -> None:
        """Mark everything so far as reported (the test failed or was skipped on its own);
        what did not fail still goes to the summary."""
        allowed = allowed_kinds(self.item)
        for n, harness in enumerate(self.harnesses, 1):
            fresh = self._fresh(n, harness.findings)
            errors = failing(fresh, allow=allowed, fail_on=self.settings.fail_on)
            self._note(f"saga harness #{n}", fresh, errors, allowed)
        for label, storm, report in self.storms[self._reports_seen :]:
            storm_allowed, storm_fail_on = _storm_policy(storm, allowed, self.settings.fail_on)
            errors = failing(report.findings, allow=storm_allowed, fail_on=storm_fail_on)
            self._note(label, report.findings, errors, storm_allowed)
        self._reports_seen = len(self.storms)

    def _note(
        self,
        label: str,
        findings: Iterable[Finding],
        errors: list[Finding],
        allowed: frozenset[str],
    ) -> None:
        """Summary lines for the findings that did not fail: warnings, notes, and errors
        accepted by ``angzarr_allow``, one line per defect."""
        failed = {id(f) for f in errors}
        rest = [f for f in findings if id(f) not in failed]
        for group in group_findings(rest):
            how = group.severity
            if group.is_error or group.kind in allowed:
                how += ", allowed"
            times = f" x{group.count}" if group.count > 1 else ""
            message = " ".join(group.first.message.split())
            if len(message) > 160:
                message = message[:157] + "..."
            self.summary.append(f"{label}: [{group.kind}]{times} ({how}): {message}")

    def _fresh(self, harness: int, findings: Iterable[Finding]) -> list[Finding]:
        # A harness may deliver again after a check (in a fixture's teardown), and its
        # lost-command findings are recomputed on every read: identify findings by content.
        fresh = []
        for f in findings:
            key = (harness, f.render())
            if key not in self._seen:
                self._seen.add(key)
                fresh.append(f)
        return fresh

    def replay_line(self) -> str:
        return (
            self.settings.replay_line(self.item.nodeid) + f"\nthis test's angzarr_seed: {self.seed}"
        )


def render_failure(title: str, errors: list[Finding], notes: Iterable[str] = ()) -> str:
    """A title with the count of each kind, ``notes`` lines, then each defect (findings
    grouped by ``group_findings``, in cause order) rendered once with its count and a few
    examples; at most :data:`MAX_SHOWN_PER_KIND` defects of each kind."""
    groups = group_findings(errors)
    counts: dict[str, int] = {}
    shown_per_kind: dict[str, int] = {}
    shown = []
    hidden: dict[str, int] = {}
    for g in groups:
        counts[g.kind] = counts.get(g.kind, 0) + g.count
        if shown_per_kind.get(g.kind, 0) < MAX_SHOWN_PER_KIND:
            shown_per_kind[g.kind] = shown_per_kind.get(g.kind, 0) + 1
            shown.append(g)
        else:
            hidden[g.kind] = hidden.get(g.kind, 0) + g.count
    if counts:
        title += ": " + ", ".join(f"{n} {k}" for k, n in counts.items())
        if len(groups) < len(errors):
            title += f" ({len(groups)} distinct)"
    parts = ["\n".join([title, *notes]), *(g.render() for g in shown)]
    if hidden:
        more = ", ".join(f"{n} more {k}" for k, n in hidden.items())
        parts.append(f"(not shown: {more}; the object's .findings has them all)")
    return "\n\n".join(parts)


#: where a test's :class:`PluginState` lives: ``item.stash[STATE]``
STATE = pytest.StashKey["PluginState"]()


def state_for(request: pytest.FixtureRequest) -> PluginState:
    """The test's state, made on first use."""
    item = request.node
    state = item.stash.get(STATE, None)
    if state is None:
        state = item.stash[STATE] = PluginState(item, request.config.stash[SETTINGS])
    return state


def judge_call(item: pytest.Item) -> None:
    """After a test's call phase passed: fail it with the verdict, if there is one."""
    state = item.stash.get(STATE, None)
    if state is not None:
        text = state.verdict()
        if text:
            pytest.fail(text, pytrace=False)


def annotate_report(item: pytest.Item, call: pytest.CallInfo[None], report: Any) -> None:
    """A phase's report: a failure gets the replay line; a teardown carries the summary."""
    state = item.stash.get(STATE, None)
    if state is not None:
        if not report.passed:
            state.consume()  # never pile a second failure on a failed or skipped phase
        if report.failed and "angzarr-testkit seed:" not in report.longreprtext:
            report.sections.append(("angzarr-testkit", state.replay_line()))
        if call.when == "teardown" and state.summary:
            # A plain attribute of the report: xdist carries it to the controller.
            setattr(report, SUMMARY_ATTR, list(state.summary))


def _storm_policy(
    storm: Storm, allowed: frozenset[str], fail_on: frozenset[str]
) -> tuple[frozenset[str], frozenset[str]]:
    """The test's allowed and fail-on kinds for one storm: its own ``fail_on`` adds to the
    test's (the verdict its ``assert_clean`` gives). ``allow_vacuous`` needs nothing here:
    such a storm never reports a ``vacuous-run``."""
    return allowed, fail_on | storm.fail_on
