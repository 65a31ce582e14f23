"""angzarr-testkit: a fake angzarr for testing sagas and process managers.

Public API (everything else is private):

* :class:`Destinations`, the seed contract for stamping commands;
* :class:`ProcessManagerHarness` (and :class:`PMDelivery`), the same for process managers;
* :class:`SagaHarness` and its records (:class:`Delivery`, :class:`RecordedCommand`,
  :class:`Outcome`, :class:`AggregateView`), the fake coordinator;
* :class:`Finding` and :data:`KINDS`, the oracle's vocabulary;
* :class:`Storm`, :class:`FaultPlan` and :class:`StormReport`, redelivery storms;
* :func:`compare_profiles` and :func:`compare_scenario` (a :class:`ProfileComparison`), the
  same storm or scenario under several profiles side by side (docs/compare.md);
* :func:`render_html` and :func:`write_html`, a storm's HTML report (:mod:`angzarr_testkit.report`);
* :func:`uuid_for`, deterministic roots; the error hierarchy in :mod:`angzarr_testkit.errors`.
"""

from .destinations import Destinations
from .errors import (
    ClientError,
    ConfigurationError,
    InvalidArgumentError,
    TargetError,
    TraceError,
    UsageError,
    UsageTypeError,
    UserCodeError,
    codes,
)
from .framework import (
    KINDS,
    PROFILES,
    SEVERITIES,
    AggregateView,
    DeferredRef,
    Delivery,
    Finding,
    Outcome,
    RecordedCommand,
    SagaHarness,
    error_kinds,
    failing,
    render_findings,
)
from .framework.pm import PMDelivery, ProcessManagerHarness
from .ids import uuid_for, uuid_str_for
from .report import render_html, write_html
from .simulate import (
    COMPARED_PROFILES,
    FAULT_CLASSES,
    FaultPlan,
    ProfileComparison,
    Storm,
    StormReport,
    compare_profiles,
    compare_scenario,
)
from .transports import rabbitmq as _rabbitmq  # noqa: F401  (registers the broker bus)
from .version import __version__

__all__ = [
    "COMPARED_PROFILES",
    "FAULT_CLASSES",
    "KINDS",
    "PROFILES",
    "SEVERITIES",
    "AggregateView",
    "ClientError",
    "ConfigurationError",
    "DeferredRef",
    "Delivery",
    "Destinations",
    "FaultPlan",
    "Finding",
    "InvalidArgumentError",
    "Outcome",
    "PMDelivery",
    "ProfileComparison",
    "ProcessManagerHarness",
    "RecordedCommand",
    "SagaHarness",
    "Storm",
    "StormReport",
    "TargetError",
    "TraceError",
    "UsageError",
    "UsageTypeError",
    "UserCodeError",
    "__version__",
    "codes",
    "compare_profiles",
    "compare_scenario",
    "error_kinds",
    "failing",
    "render_findings",
    "render_html",
    "uuid_for",
    "uuid_str_for",
    "write_html",
]
