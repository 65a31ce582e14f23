"""Redelivery storms: a deterministic at-least-once bus in front of the saga harness.

A :class:`Storm` publishes ``events`` triggers spread over ``roots`` source roots into a model
of a RabbitMQ queue with manual acks, and lets ``concurrency`` consumers take deliveries on a
virtual clock, injecting the faults of a :class:`FaultPlan` from a seeded RNG. Each delivery
runs through a :class:`~angzarr_testkit.framework.saga.SagaHarness` (records off), so the
destination pipeline and the oracle are the same as in single-delivery tests. Same seed, same
saga, same options: byte-identical trace.

This module holds the options (checked at the call), :meth:`Storm.run`, the replays and the
trace header; the run itself is :class:`~.engine.DeliveryEngine`'s and its result a
:class:`~.storm_report.StormReport` (re-exported here).
"""

from __future__ import annotations

import inspect
import os
import random
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from .. import wire
from ..errors import (
    ConfigurationError,
    TargetError,
    TraceError,
    UsageError,
    UserCodeError,
    safe_repr,
)
from ..framework.findings import check_kinds
from ..framework.saga import DEDUPE_STORES, DEFAULT_PROFILE, PROFILES, SagaHarness
from ..validate import (
    INT64_MAX,
    call_user,
    check_bool,
    check_callable,
    check_choice,
    check_domain,
    check_int,
    check_names,
    usage_error,
)
from ..version import __version__
from .engine import DeliveryEngine
from .faults import FAULT_CLASSES, FaultPlan
from .shards import ShardJob, run_shards, shard_budgets
from .sources import check_event_source, make_event_source
from .storm_report import COUNT_NAMES, StormReport
from .trace import TRACE_FORMAT, TRACE_VERSION, Schedule, Trace, config_digest
from .trace_read import read_schedule, storm_options
from .triggers import input_domains
from .vacuity import default_delivery_budget

__all__ = ["COUNT_NAMES", "MAX_RETRIES_LIMIT", "Storm", "StormReport"]

#: Storm options that change the verdict: recorded in the header, passed again on replay.
_VERDICT_OPTIONS = ("allow_vacuous", "fail_on", "delivery_budget")
#: The most whole-list re-sends a storm accepts (angzarr's coordinator makes 10): each
#: re-send runs every command again, so the bound keeps one delivery's work finite.
MAX_RETRIES_LIMIT = 1000


class Storm:
    """A seeded redelivery storm against a saga or a process manager.

    Every argument is checked at the call: a bad one is a
    :class:`~angzarr_testkit.errors.UsageError` naming the parameter.

    Args:
        saga: any saga target (see :class:`SagaHarness`), or a process manager (see
            ``kind``).
        source_domain, output_domains, profile, dedupe_store, max_retries: as for
            :class:`SagaHarness`
            (``max_retries`` at most :data:`MAX_RETRIES_LIMIT`).
        events: how many trigger events to publish.
        roots: how many source aggregate roots the events are spread over.
        seed: the RNG seed (an int64); the same seed gives the same trace.
        event_source: a list, a callable ``(rng, i) -> event``, a Hypothesis strategy, or None
            for random instances of the saga's declared event types. An event may be a
            message, a ``(domain, message)`` pair or an angzarr ``EventBook``.
        faults: the :class:`FaultPlan` (default: no faults).
        require: a list of fault classes that must occur, else the storm is vacuous.
        concurrency: consumers taking deliveries (``concurrent-redelivery`` needs >= 2).
        trace: where to write the JSON-lines trace (default: a temporary file).
        progress: show a progress bar (default ``None``: only on a terminal, for long storms).
        setup: ``fn(harness)`` called before the storm (``given_aggregate``,
            ``given_destination``); replays call it too. If it raises, a
            :class:`~angzarr_testkit.errors.UserCodeError` names it.
        kind: ``"saga"`` or ``"process-manager"`` (default: ``"process-manager"`` for an
            angzarr_client ``ProcessManager`` or when ``pm_domain``/``sources`` is given,
            else ``"saga"``; ``pm_domain``, ``sources`` and ``prepare`` are the
            :class:`ProcessManagerHarness` options). A process manager's triggers are
            published from its source domains (the domain its SDK class declares for the
            event type, the domain of a ``(domain, event)`` pair, or its only source) with a
            correlation id per workflow.
        broker: an AMQP URL: route deliveries through a real RabbitMQ queue with manual acks
            (see ``angzarr_testkit.transports.rabbitmq``); the oracle is the same.
        delivery_budget: the most deliveries the storm makes; ``None``: the default of
            :func:`~angzarr_testkit.simulate.vacuity.default_delivery_budget`. When it runs
            out the storm stops with a ``budget-exhausted`` finding.
        allow_vacuous: accept a storm that exercised nothing (no ``vacuous-run`` finding for
            no deliveries, skipped triggers, no output or nothing applied; a fault named in
            ``require`` is still required).
        fail_on: finding kinds that fail the storm although their severity is not error
            (e.g. ``["rejected-command"]``).
        shards: split the storm into this many independent sub-storms (1 to ``roots``; see
            :mod:`~angzarr_testkit.simulate.shards`): part of what the storm simulates, so
            recorded in the trace. ``setup`` runs once per shard.
        workers: how many processes run the shards (1 to ``shards``; forked): never
            changes a byte of the trace or the verdict. Not with ``broker``.
    """

    def __init__(
        self,
        saga: Any,
        *,
        source_domain: str | None = None,
        output_domains: Sequence[str] | None = None,
        profile: str = DEFAULT_PROFILE,
        dedupe_store: str = "postgres",
        events: int = 1000,
        roots: int = 10,
        seed: int = 0,
        event_source: Any = None,
        faults: FaultPlan | None = None,
        require: Iterable[str] = (),
        concurrency: int = 1,
        trace: str | Path | None = None,
        progress: bool | None = None,
        setup: Callable[[SagaHarness], Any] | None = None,
        max_retries: int = 10,
        kind: str | None = None,
        broker: str | None = None,
        pm_domain: str | None = None,
        sources: Sequence[str] | None = None,
        prepare: bool = False,
        delivery_budget: int | None = None,
        allow_vacuous: bool = False,
        fail_on: Iterable[str] = (),
        shards: int = 1,
        workers: int = 1,
    ) -> None:
        self.saga = saga
        if broker is not None and not (
            isinstance(broker, str) and broker.startswith(("amqp://", "amqps://"))
        ):
            raise ConfigurationError(
                f"broker: got {safe_repr(broker)}; expected None or an AMQP URL like "
                "amqp://127.0.0.1:5672/",
                details={"parameter": "broker", "value": safe_repr(broker)},
            )
        self.broker = broker
        self.profile = check_choice(profile, "profile", PROFILES)
        self.dedupe_store = check_choice(dedupe_store, "dedupe_store", DEDUPE_STORES)
        if source_domain is not None:
            check_domain(source_domain, "source_domain")
        outputs = _domains(output_domains, "output_domains")
        if pm_domain is not None:
            check_domain(pm_domain, "pm_domain")
        source_list = _domains(sources, "sources")
        check_bool(prepare, "prepare")
        pm_class = _sdk_pm_class(saga)
        if kind is None:
            kind = "process-manager" if (pm_domain or sources or pm_class) else "saga"
        check_choice(kind, "kind", ("saga", "process-manager"))
        if kind == "saga":
            if pm_class is not None:
                raise usage_error(
                    "kind",
                    kind,
                    "'process-manager' (or no kind) for an angzarr_client ProcessManager",
                    hint=f"{pm_class.__name__} is a process manager",
                )
            given = [n for n, v in (("pm_domain", pm_domain), ("sources", sources)) if v]
            if given or prepare:
                raise usage_error(
                    "kind",
                    kind,
                    "'process-manager' when pm_domain/sources/prepare are given",
                    hint=f"{', '.join(given or ['prepare'])} only apply to process managers",
                )
        elif source_domain is not None and source_list and source_domain not in source_list:
            raise usage_error(
                "source_domain",
                source_domain,
                f"one of the process manager's sources ({', '.join(source_list)})",
            )
        self.kind = kind
        self.max_retries = check_int(
            max_retries, "max_retries", minimum=0, maximum=MAX_RETRIES_LIMIT
        )
        self.events = check_int(events, "events", minimum=0)
        self.roots = check_int(roots, "roots", minimum=1)
        self.seed = check_int(seed, "seed", minimum=-INT64_MAX - 1, maximum=INT64_MAX)
        self.faults = faults if faults is not None else FaultPlan()
        if not isinstance(self.faults, FaultPlan):
            raise usage_error("faults", faults, "a FaultPlan or None", type_error=True)
        self.require = check_names(
            require,
            "require",
            item=lambda v, p: check_choice(v, p, FAULT_CLASSES),
            accepted="a list of fault classes",
        )
        self.concurrency = check_int(concurrency, "concurrency", minimum=1)
        if self.faults.concurrent_redelivery and self.concurrency < 2:
            raise ConfigurationError(
                "concurrent_redelivery needs a second consumer: set concurrency=2 or more",
                details={"parameter": "concurrency", "concurrency": str(self.concurrency)},
            )
        if trace is not None and (
            not isinstance(trace, (str, os.PathLike)) or isinstance(trace, bytes) or trace == ""
        ):
            raise usage_error(
                "trace",
                trace,
                "None or a file path (a non-empty str or pathlib.Path)",
                type_error=not isinstance(trace, str),
            )
        self.trace_path = Path(trace) if trace is not None else None
        if progress is not None:
            check_bool(progress, "progress")
        self.progress = progress
        if setup is not None:
            check_callable(setup, "setup", arity=1, signature="a callable fn(harness)")
        self.setup = setup
        check_event_source(event_source)
        self.event_source = event_source
        if delivery_budget is None:
            self.delivery_budget = default_delivery_budget(self.events, self.faults)
        else:
            self.delivery_budget = check_int(delivery_budget, "delivery_budget", minimum=1)
        self.allow_vacuous = check_bool(allow_vacuous, "allow_vacuous")
        self.shards = check_int(shards, "shards", minimum=1, maximum=self.roots)
        self.workers = check_int(workers, "workers", minimum=1)
        if self.workers > self.shards:
            raise usage_error(
                "workers",
                workers,
                f"an int from 1 to shards ({self.shards})",
                hint="workers run shards: raise shards= to use more workers",
            )
        if self.workers > 1 and broker is not None:
            raise usage_error(
                "workers", workers, "1 with broker=", hint="a broker storm runs in one process"
            )
        #: the budget as given (``None``: each shard's default)
        self.budget_given = None if delivery_budget is None else self.delivery_budget
        if self.budget_given is not None and self.budget_given < self.shards:
            raise usage_error(
                "delivery_budget",
                delivery_budget,
                f"an int >= shards ({self.shards}): every shard needs a delivery",
            )
        self.fail_on = check_kinds(fail_on, "fail_on")
        if kind == "saga":
            self.harness_options: dict[str, Any] = dict(
                source_domain=source_domain,
                output_domains=outputs,
                profile=profile,
                max_retries=self.max_retries,
                dedupe_store=dedupe_store,
            )
        else:
            self.harness_options = dict(
                pm_domain=pm_domain,
                sources=source_list
                if source_list is not None
                else ([source_domain] if source_domain else None),
                output_domains=outputs,
                profile=profile,
                prepare=prepare,
                delivery_limit=self.faults.delivery_limit,
                dedupe_store=dedupe_store,
            )
        #: which source domain an SDK process manager takes each event type from
        self.type_domains = input_domains(pm_class)
        # Resolve the target now so bad targets fail at construction, not mid-run.
        self._probe = self._new_harness()

    # -- public -------------------------------------------------------------------------
    def run(self) -> StormReport:
        """Run the storm and return its report."""
        harness = self._probe
        self._probe = self._new_harness()  # a second run() starts from scratch
        source = make_event_source(
            self.event_source, harness.target.handled_types, harness.target.name
        )
        domain = harness.source_domain
        if domain is None:
            raise ConfigurationError(
                "the storm's trigger domain is unknown: give source_domain=... (the target "
                "declares none)",
                details={"parameter": "source_domain"},
            )
        if self.shards > 1:
            return self._run_shards(harness, domain, None)
        return DeliveryEngine(self, harness, random.Random(self.seed)).run_random(source, domain)

    @classmethod
    def replay(
        cls,
        trace_file: str | Path,
        saga: Any = None,
        *,
        setup: Callable[[SagaHarness], Any] | None = None,
        trace: str | Path | None = None,
    ) -> StormReport:
        """Re-execute a recorded trace exactly (same deliveries, same faults) and report.

        ``saga`` defaults to the target recorded in the trace (when it was a
        ``module:attr`` string). The report's ``recorded`` is the verdict the trace
        recorded; ``verdict_changed`` says whether the replay's differs.

        Raises:
            TraceError: the trace file is missing, damaged, truncated, edited or of another
                format version (see :func:`~angzarr_testkit.simulate.trace_read.read_schedule`).
        """
        schedule = read_schedule(trace_file)
        return cls.replay_schedule(schedule, saga, setup=setup, trace=trace)

    @classmethod
    def replay_schedule(
        cls,
        schedule: Schedule,
        saga: Any = None,
        *,
        setup: Callable[[SagaHarness], Any] | None = None,
        trace: str | Path | None = None,
    ) -> StormReport:
        """Execute a :class:`~angzarr_testkit.simulate.trace.Schedule` (what
        :func:`read_schedule` returns, possibly reduced by the shrinker)."""
        header = schedule.header
        target = saga if saga is not None else header.get("target")
        if target is None or (saga is None and not header.get("target_is_importable")):
            raise ConfigurationError(
                "the trace does not name an importable target (the storm was given an object, "
                "not a 'module:attr' string): pass saga= to replay",
            )
        options = storm_options(header)
        accepted = inspect.signature(cls).parameters
        for name in _VERDICT_OPTIONS:
            if name in header:
                if name not in accepted:
                    raise TraceError(
                        f"the trace was recorded with {name}={header[name]!r}, which this "
                        "kit's Storm does not support",
                        details={"option": name},
                    )
                options[name] = header[name]
        try:
            storm = cls(target, trace=trace, progress=False, setup=setup, **options)
        except (TargetError, UserCodeError, TraceError):
            raise
        except UsageError as exc:  # an option of the header the Storm refuses
            raise TraceError(
                f"the trace's recorded options are refused: {exc.message}", details=exc.details
            ) from exc
        if storm.shards > 1 or schedule.parts:
            if len(schedule.parts) != storm.shards:
                raise TraceError(
                    f"the schedule has {len(schedule.parts)} shard(s) but its header says "
                    f"{storm.shards}"
                )
            report = storm._run_shards(storm._probe, None, schedule.parts)
        else:
            engine = DeliveryEngine(storm, storm._probe, random.Random(storm.seed))
            report = engine.run_schedule(schedule)
        if schedule.summary is not None:
            report.recorded = {
                "ok": schedule.summary["ok"],
                "finding_kinds": dict(schedule.summary["finding_kinds"]),
            }
        return report

    # -- internals ------------------------------------------------------------------------
    def _run_shards(
        self, probe: SagaHarness, domain: str | None, schedules: Sequence[Schedule] | None
    ) -> StormReport:
        temporary = self.trace_path is None
        job = ShardJob(
            storm=self,
            new_harness=self._new_harness,
            domain=domain,
            budgets=shard_budgets(self, self.shards, self.budget_given),
            path=Trace.temporary_path() if temporary else self.trace_path,  # type: ignore[arg-type]
            schedules=schedules,
            progress=self.progress if self.workers == 1 else False,
        )
        header = self.header(probe)
        return run_shards(
            job,
            self.workers,
            header=header,
            output_domains=probe.output_domains,
            temporary=temporary,
        )

    def _new_harness(self) -> SagaHarness:
        if self.kind == "process-manager":
            from ..framework.pm import ProcessManagerHarness

            harness: SagaHarness = ProcessManagerHarness(
                self.saga, record=False, **self.harness_options
            )
        else:
            harness = SagaHarness(self.saga, record=False, **self.harness_options)
        if self.setup is not None:
            call_user("storm setup", self.setup, harness)
        return harness

    def header(self, harness: SagaHarness) -> dict[str, Any]:
        """The trace's first line: format, versions, wire mode and every option a replay
        needs, with a ``config_digest`` over them."""
        header = {
            "type": "storm",
            "format": TRACE_FORMAT,
            "version": TRACE_VERSION,
            "kit_version": __version__,
            "wire": wire.MODE,
            "target": self.saga if isinstance(self.saga, str) else harness.target.name,
            "target_is_importable": isinstance(self.saga, str),
            "source_domain": harness.source_domain,
            "output_domains": harness.output_domains,
            "profile": harness.profile,
            "events": self.events,
            "roots": self.roots,
            "seed": self.seed,
            "faults": self.faults.to_dict(),
            "require": self.require,
            "concurrency": self.concurrency,
            "max_retries": harness.max_retries,
            "kind": self.kind,
            "pm_domain": getattr(harness, "pm_domain", None),
            "sources": getattr(harness, "sources", None),
            "prepare": getattr(harness, "prepare", False),
        }
        # Verdict options of a newer Storm, recorded only when set so that replays keep them.
        for name in _VERDICT_OPTIONS:
            value = getattr(self, name, None)
            if value:
                header[name] = sorted(value) if isinstance(value, (set, frozenset)) else value
        if self.dedupe_store != "postgres":  # recorded only when not the default
            header["dedupe_store"] = self.dedupe_store
        if self.shards > 1:  # recorded only when sharded: unsharded headers are unchanged
            header["shards"] = self.shards
            if self.budget_given is None:  # each shard's default, from the events
                header.pop("delivery_budget", None)
        header["config_digest"] = config_digest(header)
        return header


def _sdk_pm_class(target: Any) -> type | None:
    """The angzarr_client ProcessManager class a target is (class, instance or
    ``module:attr`` string), or ``None``."""
    from ..framework.targets import import_target, is_sdk_pm_class

    if isinstance(target, str) and ":" in target and "://" not in target:
        try:
            target = import_target(target)
        except Exception:  # the harness reports bad targets with a clear error
            return None
    for candidate in (target, type(target)):
        if is_sdk_pm_class(candidate):
            return candidate
    return None


def _domains(value: Any, param: str) -> list[str] | None:
    """``None`` or a list of domain names (a lone str refused)."""
    if value is None:
        return None
    return check_names(value, param, item=check_domain, accepted="a list of domain names")
