"""Then steps on the last storm: its verdict, its findings and the faults it injected."""

from __future__ import annotations

from typing import Any

from ..simulate.faults import FAULT_CLASSES
from ..validate import check_choice
from .environment import (
    state,
)
from .saga_support import (
    G_ORACLE,
    check_kind,
    storm_report,
)
from .vocabulary import step

__all__: list[str] = []

# -- storms -------------------------------------------------------------------------------------


@step(
    "Then",
    "the storm is clean",
    group=G_ORACLE,
    description="No error finding in the storm (and every required fault class occurred).",
    example="Then the storm is clean",
)
def then_storm_clean(context: Any) -> None:
    storm_report(state(context)).assert_clean()


@step(
    "Then",
    'the storm has a finding of kind "{kind}"',
    group=G_ORACLE,
    description="The storm's oracle reported at least one finding of that kind.",
    example='Then the storm has a finding of kind "double-apply"',
)
def then_storm_finding(context: Any, kind: str) -> None:
    check_kind(kind)
    report = storm_report(state(context))
    assert kind in report.kinds(), report.summary()


@step(
    "Then",
    'fault "{fault}" occurred',
    group=G_ORACLE,
    description="The storm actually injected that fault class (a storm that injected "
    "nothing proves nothing).",
    example='Then fault "crash-before-ack" occurred',
)
def then_fault_occurred(context: Any, fault: str) -> None:
    check_choice(fault, "fault", FAULT_CLASSES)
    report = storm_report(state(context))
    assert report.fault_coverage.get(fault, 0) > 0, report.summary()


@step(
    "Then",
    "business logic ran once per event",
    group=G_ORACLE,
    description="The storm applied exactly one command per published trigger and command "
    "(no double apply, nothing lost).",
    example="Then business logic ran once per event",
)
def then_once_per_event(context: Any) -> None:
    report = storm_report(state(context))
    assert report.counts["applied"] == report.counts["published"], report.summary()
