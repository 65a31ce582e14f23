"""The fake angzarr: event store, destination aggregate pipeline, saga coordinator, findings."""

from .aggregate import AggregateSpec, EventStore, Outcome, Pipeline
from .findings import KINDS, SEVERITIES, Finding, error_kinds, failing, render_findings
from .saga import PROFILES, AggregateView, DeferredRef, Delivery, RecordedCommand, SagaHarness
from .targets import SagaTarget, resolve_saga_target

__all__ = [
    "KINDS",
    "PROFILES",
    "SEVERITIES",
    "AggregateSpec",
    "AggregateView",
    "DeferredRef",
    "Delivery",
    "EventStore",
    "Finding",
    "Outcome",
    "Pipeline",
    "RecordedCommand",
    "SagaHarness",
    "SagaTarget",
    "error_kinds",
    "failing",
    "render_findings",
    "resolve_saga_target",
]
