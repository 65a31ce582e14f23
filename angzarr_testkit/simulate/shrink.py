"""Shrinking: reduce a failing storm to a minimal schedule and write it out as a test.

The schedule of a storm (which trigger is delivered when, with which fault) is independent of
what the saga does, so a failing storm can be replayed on any sub-schedule. :func:`shrink`
first drops whole trigger messages (delta debugging over message ids), then single
deliveries, then faults, keeping only reductions that still produce the same finding kind,
and writes the result as a standalone pytest file that replays it (and fails for that
finding). A sharded storm's trace is shrunk to its first shard with the finding, written as
an unsharded (``shards=1``) storm.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError, UsageTypeError, safe_repr, unwritable
from ..framework.findings import KINDS
from ..framework.saga import SagaHarness
from ..validate import check_int
from .shards import shard_schedule
from .storm import Storm, StormReport
from .trace import Schedule, Step, Trace
from .trace_read import read_schedule

__all__ = ["ShrinkResult", "shrink"]

DEFAULT_BUDGET = 400


@dataclass
class ShrinkResult:
    """A minimal failing schedule.

    Attributes:
        kind: the finding kind the reduced schedule still produces.
        schedule: the reduced schedule.
        report: the replay report of the reduced schedule (its trace is the minimal trace).
        original_deliveries, original_messages: sizes before shrinking.
        replays: how many replays shrinking took.
        test_file: the written pytest file, when ``out_dir`` was given.
        feature_file: the written Gherkin scenario (shared steps), when ``out_dir`` was given.
    """

    kind: str
    schedule: Schedule
    report: StormReport
    original_deliveries: int
    original_messages: int
    replays: int
    test_file: Path | None = None
    feature_file: Path | None = None

    @property
    def deliveries(self) -> int:
        return len(self.schedule.steps)

    @property
    def messages(self) -> int:
        return len({s.msg for s in self.schedule.steps})

    def describe(self) -> str:
        return (
            f"shrunk {self.original_deliveries} deliveries of {self.original_messages} "
            f"triggers to {self.deliveries} deliveries of {self.messages} trigger(s) still "
            f"producing {self.kind} ({self.replays} replays)"
        )


def shrink(
    trace_file: str | Path,
    saga: Any = None,
    *,
    kind: str | None = None,
    setup: Callable[[SagaHarness], Any] | None = None,
    out_dir: str | Path | None = None,
    target: str | None = None,
    budget: int = DEFAULT_BUDGET,
) -> ShrinkResult:
    """Reduce the storm recorded in ``trace_file`` to a minimal schedule that still produces
    a finding of ``kind`` (default: the first error kind of the original storm).

    Args:
        saga: the target, when the trace does not name an importable one.
        setup: the storm's ``setup`` (business logic), if it had one.
        out_dir: where to write ``test_storm_<kind>.py`` (and its trace).
        target: the ``module:attr`` the written test imports (default: the trace's).
        budget: the most replays to spend.

    Raises:
        TraceError: the trace file is missing, damaged, truncated or edited.
        ConfigurationError: the storm has no such finding, or the test cannot name the saga.
        UsageError: ``out_dir`` is an existing file or cannot be created (code
            ``OUTPUT_UNWRITABLE``), ``kind`` is unknown or ``budget`` is not an int >= 1.
    """
    if kind is not None and (not isinstance(kind, str) or kind not in KINDS):
        raise ConfigurationError(
            f"kind: unknown finding kind {kind!r}; known: {', '.join(KINDS)}",
            details={"parameter": "kind", "value": repr(kind)},
        )
    budget = check_int(budget, "budget", minimum=1)
    out = _prepare_out_dir(out_dir) if out_dir is not None else None
    original = read_schedule(trace_file)
    first = Storm.replay_schedule(original, saga, setup=setup)
    wanted = kind or next((f.kind for f in first.findings if f.is_error), None)
    if wanted is None:
        raise ConfigurationError(
            "the storm in this trace is clean: there is nothing to shrink",
            details={"trace": str(trace_file)},
        )
    if not any(f.kind == wanted for f in first.findings):
        raise ConfigurationError(
            f"the storm in this trace has no {wanted} finding (it has: "
            f"{', '.join(sorted(first.kinds())) or 'none'})",
            details={"kind": wanted},
        )
    if original.parts:  # shrink the failing shard alone, as an unsharded storm
        shards = [f.details.get("shard", "") for f in first.findings if f.kind == wanted]
        if not all(shards):  # a finding of the merged storm (vacuity): no one shard has it
            raise ConfigurationError(
                f"the {wanted} finding of this sharded storm belongs to no one shard: re-run "
                "the storm with shards=1 to shrink it",
                details={"kind": wanted},
            )
        original = shard_schedule(original, int(shards[0]))
    state = {"replays": 1}

    def fails(candidate: Schedule) -> bool:
        if state["replays"] >= budget:
            return False
        state["replays"] += 1
        report = Storm.replay_schedule(candidate, saga, setup=setup)
        _discard(report.trace)
        return any(f.kind == wanted for f in report.findings)

    current = _reduce_messages(original, fails)
    current = _reduce_steps(current, fails)
    current = _simplify_faults(current, fails)
    final = Storm.replay_schedule(current, saga, setup=setup)
    result = ShrinkResult(
        kind=wanted,
        schedule=current,
        report=final,
        original_deliveries=len(original.steps),
        original_messages=len({s.msg for s in original.steps}),
        replays=state["replays"],
    )
    if out is not None:
        name = target or (
            original.header["target"] if original.header.get("target_is_importable") else None
        )
        if name is None:
            raise ConfigurationError(
                "the written test must import the saga: pass target='package.module:attr' "
                "(the storm was given an object)",
            )
        result.test_file = write_pytest(result, out, name)
        result.feature_file = write_feature(result, out, name)
    return result


def _prepare_out_dir(out_dir: str | Path) -> Path:
    """``out_dir`` made ready before any work: a directory (created), never a file."""
    try:
        out = Path(out_dir)
    except TypeError:
        raise UsageTypeError(
            f"out_dir: got {safe_repr(out_dir)}; expected a directory path",
            details={"parameter": "out_dir", "value": safe_repr(out_dir)},
        ) from None
    if out.exists() and not out.is_dir():
        raise unwritable(
            f"out_dir: {str(out)!r} is an existing file; expected a directory (it is created "
            "when missing)",
            out,
            "out_dir",
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise unwritable(
            f"out_dir: cannot create the directory {str(out)!r}: {exc.strerror or exc}",
            out,
            "out_dir",
        ) from exc
    if not os.access(out, os.W_OK):
        raise unwritable(
            f"out_dir: the directory {str(out)!r} is not writable",
            out,
            "out_dir",
        )
    return out


def _restrict(schedule: Schedule, keep: set[int]) -> Schedule:
    return Schedule(
        header=schedule.header,
        books={m: b for m, b in schedule.books.items() if m in keep},
        publishes=[p for p in schedule.publishes if p[0] in keep],
        steps=[s for s in schedule.steps if s.msg in keep],
    )


def _reduce_messages(schedule: Schedule, fails: Callable[[Schedule], bool]) -> Schedule:
    """Delta debugging over trigger messages: drop chunks while the finding persists."""
    msgs = list(dict.fromkeys(s.msg for s in schedule.steps))
    chunk = max(len(msgs) // 2, 1)
    while True:
        i = 0
        while i < len(msgs) and len(msgs) > 1:
            candidate = msgs[:i] + msgs[i + chunk :]
            if candidate and fails(_restrict(schedule, set(candidate))):
                msgs = candidate
            else:
                i += chunk
        if chunk == 1:
            break
        chunk = max(chunk // 2, 1)
    return _restrict(schedule, set(msgs))


def _reduce_steps(schedule: Schedule, fails: Callable[[Schedule], bool]) -> Schedule:
    """Drop single deliveries (last first), keeping each drop that still fails."""
    steps = list(schedule.steps)
    for j in reversed(range(len(steps))):
        candidate = steps[:j] + steps[j + 1 :]
        if candidate and fails(replace(schedule, steps=candidate)):
            steps = candidate
    used = {(s.msg, s.copy) for s in steps}
    msgs = {m for m, _ in used}
    publishes = [
        (m, dup) for m, dup in schedule.publishes if m in msgs and (not dup or (m, 1) in used)
    ]
    return replace(schedule, steps=steps, publishes=publishes)


def _simplify_faults(schedule: Schedule, fails: Callable[[Schedule], bool]) -> Schedule:
    """Turn faults off one at a time where the finding does not need them."""
    steps = list(schedule.steps)
    for j, step in enumerate(steps):
        if step.fault is None:
            continue
        candidate = (
            steps[:j] + [Step(step.msg, step.copy, None, None, step.consumer)] + steps[j + 1 :]
        )
        if fails(replace(schedule, steps=candidate)):
            steps = candidate
    return replace(schedule, steps=steps)


def _discard(trace: Trace) -> None:
    if trace.temporary:
        trace.path.unlink(missing_ok=True)


def write_pytest(result: ShrinkResult, out_dir: Path, target: str) -> Path:
    """Write the minimal schedule as a standalone pytest file (with its trace beside it)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"test_storm_{result.kind.replace('-', '_')}"
    # The whole trace of the minimal replay, byte for byte: its digest must still match.
    trace_text = result.report.trace.path.read_bytes().decode("utf-8")
    header = result.report.options
    test = f'''\
        """Minimal reproduction of a {result.kind} finding, shrunk by angzarr-testkit.

        Storm seed {header["seed"]}, profile {header["profile"]}: {result.describe()}.
        Run it with pytest; it fails until the saga is fixed.
        """

        from pathlib import Path

        from angzarr_testkit.simulate import Storm

        TARGET = {target!r}
        TRACE = {trace_text!r}


        def test_{result.kind.replace("-", "_")}_reproduction(tmp_path: Path) -> None:
            trace = tmp_path / "trace.jsonl"
            trace.write_bytes(TRACE.encode("utf-8"))
            report = Storm.replay(trace, saga=TARGET)
            kinds = report.kinds()
            assert "{result.kind}" not in kinds, report.summary() + "\\n\\n" + "\\n".join(
                f.render() for f in report.findings if f.kind == "{result.kind}"
            )
        '''
    path = out_dir / f"{stem}.py"
    path.write_text(textwrap.dedent(test), encoding="utf-8")
    (out_dir / f"{stem}.jsonl").write_bytes(trace_text.encode("utf-8"))
    return path


def write_feature(result: ShrinkResult, out_dir: Path, target: str) -> Path:
    """Write the minimal schedule as a Gherkin scenario that uses the shared steps and replays
    the trace written beside it by :func:`write_pytest` (run it with behave, with the kit's
    steps registered; it fails until the saga is fixed)."""
    stem = f"storm_{result.kind.replace('-', '_')}"
    trace_name = f"test_{stem}.jsonl"
    header = result.report.options
    pm = header.get("kind") == "process-manager"
    declare = (
        f'Given the process manager "{target}" in domain "{header["pm_domain"]}" from domains '
        f'"{", ".join(header["sources"] or [])}" to domains '
        f'"{", ".join(header["output_domains"])}"'
        if pm
        else f'Given the saga "{target}" from domain "{header["source_domain"]}" to domains '
        f'"{", ".join(header["output_domains"])}"'
    )
    feature = f"""\
Feature: Minimal reproduction of a {result.kind} finding
  Shrunk by angzarr-testkit from storm seed {header["seed"]}: {result.describe()}.

  Scenario: the shrunk storm replays clean
    {declare}
    When the storm in trace "{trace_name}" is replayed
    Then the storm is clean
"""
    path = out_dir / f"{stem}.feature"
    path.write_text(feature, encoding="utf-8")
    return path
