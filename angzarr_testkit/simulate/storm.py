"""Redelivery storms: a deterministic at-least-once bus in front of the saga harness.

A :class:`Storm` publishes ``events`` triggers spread over ``roots`` source roots into a model
of a RabbitMQ queue with manual acks, and lets ``concurrency`` consumers take deliveries on a
virtual clock, injecting the faults of a :class:`FaultPlan` from a seeded RNG. Each delivery
runs through a :class:`~angzarr_testkit.framework.saga.SagaHarness` (records off), so the
destination pipeline and the oracle are the same as in single-delivery tests. Same seed, same
saga, same options: byte-identical trace.
"""

from __future__ import annotations

import base64
import inspect
import os
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import wire
from ..errors import (
    ClientError,
    ConfigurationError,
    TargetError,
    TraceError,
    UsageError,
    UserCodeError,
    safe_repr,
)
from ..framework.aggregate import (
    APPLIED,
    DEAD_LETTERED,
    DEDUPED,
    REJECTED,
    RETRIED_OUT,
    Outcome,
    Pending,
    validate_cover,
)
from ..framework.encode import event_book_bytes
from ..framework.findings import Finding, check_kinds, failing, render_findings, sort_findings
from ..framework.saga import PROFILES, DeliveryWork, SagaHarness
from ..ids import root_str, uuid_for
from ..validate import (
    DOMAIN_RE,
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
from .bus import Bus, Message, open_bus
from .faults import FAULT_CLASSES, FaultPlan
from .sources import check_event_source, describe_source, make_event_source, refuse_event
from .trace import (
    TRACE_FORMAT,
    TRACE_VERSION,
    Schedule,
    Trace,
    TraceWriter,
    config_digest,
    read_schedule,
)
from .vacuity import budget_finding, default_delivery_budget, vacuity

__all__ = ["COUNT_NAMES", "MAX_RETRIES_LIMIT", "Storm", "StormReport"]

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

#: Storm options that change the verdict: recorded in the header, passed again on replay.
_VERDICT_OPTIONS = ("allow_vacuous", "fail_on", "delivery_budget")
#: The most whole-list re-sends a storm accepts (angzarr's coordinator makes 10): each
#: re-send runs every command again, so the bound keeps one delivery's work finite.
MAX_RETRIES_LIMIT = 1000

_EVENT_SHAPES = "a protobuf event message, a (domain, event) pair or an angzarr EventBook"

_STEP_MS = 1  # virtual time of one delivery


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
        return "\n".join(lines)


class Storm:
    """A seeded redelivery storm against a saga or a process manager.

    Every argument is checked at the call: a bad one is a
    :class:`~angzarr_testkit.errors.UsageError` naming the parameter.

    Args:
        saga: any saga target (see :class:`SagaHarness`), or a process manager (see
            ``kind``).
        source_domain, output_domains, profile, max_retries: as for :class:`SagaHarness`
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
    """

    def __init__(
        self,
        saga: Any,
        *,
        source_domain: str | None = None,
        output_domains: Sequence[str] | None = None,
        profile: str = "sequence-map",
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
        self.fail_on = check_kinds(fail_on, "fail_on")
        if kind == "saga":
            self.harness_options: dict[str, Any] = dict(
                source_domain=source_domain,
                output_domains=outputs,
                profile=profile,
                max_retries=self.max_retries,
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
            )
        # Which source domain an SDK process manager takes each event type from.
        self._type_domains = _input_domains(pm_class)
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
        return _Engine(self, harness, random.Random(self.seed)).run_random(source, domain)

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
                format version (see :func:`~angzarr_testkit.simulate.trace.read_schedule`).
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
        try:
            options: dict[str, Any] = dict(
                source_domain=header["source_domain"],
                output_domains=header["output_domains"],
                profile=header["profile"],
                events=header["events"],
                roots=header["roots"],
                seed=header["seed"],
                faults=FaultPlan.from_dict(header["faults"]),
                require=header.get("require", ()),
                concurrency=header["concurrency"],
                max_retries=header.get("max_retries", 10),
                kind=header.get("kind", "saga"),
                pm_domain=header.get("pm_domain"),
                sources=header.get("sources"),
                prepare=header.get("prepare", False),
                delivery_budget=header.get("delivery_budget"),
                allow_vacuous=header.get("allow_vacuous", False),
                fail_on=header.get("fail_on", ()),
            )
        except ClientError as exc:
            raise TraceError(f"the trace header is not valid: {exc.message}") from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise TraceError(
                f"the trace header is not valid ({type(exc).__name__}: {exc}); it was not "
                "written by this kit's storms",
                details={"error": type(exc).__name__},
            ) from exc
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
        report = _Engine(storm, storm._probe, random.Random(storm.seed)).run_schedule(schedule)
        if schedule.summary is not None:
            report.recorded = {
                "ok": schedule.summary["ok"],
                "finding_kinds": dict(schedule.summary["finding_kinds"]),
            }
        return report

    # -- internals ------------------------------------------------------------------------
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


def _input_domains(pm_class: type | None) -> dict[str, str]:
    """Event full name -> the input domain an SDK process manager declares for it
    (``@handles(Event, input_domain=...)``)."""
    out: dict[str, str] = {}
    for entry in getattr(pm_class, "_dispatch_table", {}).values():
        if len(entry) > 2 and entry[2]:
            name = getattr(getattr(entry[1], "DESCRIPTOR", None), "full_name", None)
            if name:
                out[name] = entry[2]
    return out


def _domains(value: Any, param: str) -> list[str] | None:
    """``None`` or a list of domain names (a lone str refused)."""
    if value is None:
        return None
    return check_names(value, param, item=check_domain, accepted="a list of domain names")


def _parse_book(msg_id: int, book: bytes) -> Any:
    from google.protobuf.message import DecodeError

    try:
        return wire.types_pb2.EventBook.FromString(book)
    except DecodeError as exc:
        raise TraceError(
            f"the trace's book of message {msg_id} is not an angzarr EventBook ({exc})"
        ) from exc


def _json_str(value: str | None) -> str:
    # Statuses, kinds and fault names are plain ASCII identifiers: no escaping needed.
    return "null" if value is None else f'"{value}"'


def _json_list(values: list[str]) -> str:
    return '["' + '","'.join(values) + '"]' if values else "[]"


class _Engine:
    """One storm run: the bus model, fault injection, the trace and the counters."""

    def __init__(self, storm: Storm, harness: SagaHarness, rng: random.Random) -> None:
        self.storm = storm
        self.h = harness
        self.rng = rng
        self.faults = storm.faults
        self.counts = dict.fromkeys(COUNT_NAMES, 0)
        self.coverage = dict.fromkeys(FAULT_CLASSES, 0)
        self.extra_findings: list[Finding] = []
        self.produced = 0  # commands and facts the handler returned, over every call
        self.budget = storm.delivery_budget
        self.exhausted = False
        self.unpublished = 0
        # every message not yet acked or dead-lettered (messages hash by identity)
        self.unsettled: set[Message] = set()
        self.source_name = describe_source(storm.event_source)
        temporary = storm.trace_path is None
        path = Trace.temporary_path() if temporary else storm.trace_path
        assert path is not None
        self.trace = Trace(path, temporary=temporary)
        self.writer = TraceWriter(path)
        self.clock_ms = 0
        self.next_consumer = 0
        self.replaying = False
        # in memory, or the registered broker transport's (transports.rabbitmq)
        self.bus: Bus = open_bus(self, storm.broker)

    # -- drivers ----------------------------------------------------------------------
    def run_random(self, source: Callable[[random.Random, int], Any], domain: str) -> StormReport:
        storm, rng, faults = self.storm, self.rng, self.faults
        self.writer.line(storm.header(self.h))
        heads: dict[tuple[str, int], int] = {}
        roots: dict[tuple[str, int], tuple[bytes, str]] = {}  # -> (cover bytes, root text)
        published = 0
        total = storm.events
        progress = self._progress(total)
        bus, counts, budget = self.bus, self.counts, self.budget
        event_domain = self._event_domain
        plain = storm.kind == "saga"  # a saga's bare events come from its source domain
        while published < total or bus.pending():
            if counts["deliveries"] >= budget:
                self.exhausted = True
                self.unpublished = total - published
                break
            while published < total and bus.has_room():
                event = source(rng, published)
                if plain and not isinstance(event, tuple):
                    src = domain
                else:
                    src, event = event_domain(event, published, domain)
                r = rng.randrange(storm.roots)
                key = (src, r)
                root = roots.get(key)
                if root is None:
                    root = roots[key] = self._root(src, r)
                book = self._book(event, root[0], heads, key, published)
                self._publish(published, book, rng.random() < faults.duplicate, root[1])
                published += 1
            message = bus.take()
            if message is not None:
                self._deliver(message, *self._draw_fault(message))
            if progress is not None:
                progress(published)
        return self._finish()

    def run_schedule(self, schedule: Schedule) -> StormReport:
        self.writer.line(self.storm.header(self.h))
        self.replaying = True
        messages: dict[tuple[int, int], Message] = {}
        for msg_id, duplicate in schedule.publishes:
            book = schedule.books.get(msg_id)
            if book is None:
                raise TraceError(f"the trace publishes message {msg_id} without its book")
            copy = 1 if duplicate else 0
            original = messages.get((msg_id, 0))
            trigger = original.trigger if original else _parse_book(msg_id, book)
            message = messages[(msg_id, copy)] = Message(msg_id, book, trigger, copy)
            self.unsettled.add(message)
            self.counts["published" if not duplicate else "duplicates"] += 1
            if duplicate:
                self.coverage["duplicate"] += 1
            self._trace_publish(message, duplicate=duplicate)
        for step in schedule.steps:
            message = messages.get((step.msg, step.copy))
            if message is None:
                raise TraceError(f"the trace delivers unknown message {step.msg}")
            self._deliver(message, step.fault, step.k, replay_consumer=step.consumer)
        # The recorded storm stopped on its budget: say so again (a shrunk schedule with
        # fewer deliveries is not an exhausted storm).
        self.exhausted = bool(self.unsettled) and self.counts["deliveries"] >= self.budget
        return self._finish()

    # -- the bus ------------------------------------------------------------------------
    @staticmethod
    def _root(domain: str, r: int) -> tuple[bytes, str]:
        # Every root r of every domain shares one correlation id (a UUID, so a process
        # manager's state root is the workflow's): root r is one workflow.
        T = wire.types_pb2
        root = uuid_for(f"{domain}-root-{r}")
        correlation_id = root_str(uuid_for(f"storm-workflow-{r}"))
        cover = T.Cover(domain=domain, root=T.UUID(value=root), correlation_id=correlation_id)
        return cover.SerializeToString(), root_str(root)

    def _event_domain(self, event: Any, i: int, default: str) -> tuple[str, Any]:
        """Which domain the storm publishes ``event`` (the source's ``i``-th) from: a
        ``(domain, event)`` pair's, an EventBook's own (checked in :meth:`_book`), the input
        domain an SDK process manager declares for the type, else the trigger domain. A
        process manager with several sources needs one of the first three."""
        storm = self.storm
        if isinstance(event, tuple):
            if len(event) != 2:
                raise refuse_event(self.source_name, i, event, _EVENT_SHAPES)
            domain, event = event
            if not isinstance(domain, str) or not DOMAIN_RE.fullmatch(domain):
                raise refuse_event(
                    self.source_name,
                    i,
                    domain,
                    "an angzarr domain name (lowercase, [a-z_][a-z0-9_-]{0,63})",
                    type_error=not isinstance(domain, str),
                    param=" domain",
                )
            self._check_from(domain, i, event)
            return domain, event
        if storm.kind == "saga":
            return default, event
        name = getattr(getattr(event, "DESCRIPTOR", None), "full_name", None)
        declared = storm._type_domains.get(name) if name else None
        if declared is not None:
            return declared, event
        sources = self.h.sources  # type: ignore[attr-defined]
        if len(sources) > 1 and name not in (None, "angzarr.EventBook"):
            raise refuse_event(
                self.source_name,
                i,
                event,
                "a (domain, event) pair or an EventBook",
                hint=(
                    f"the process manager takes triggers from {', '.join(sources)}, and nothing "
                    f"says which one {name} comes from"
                ),
            )
        return default, event

    def _check_from(self, domain: str, i: int, event: Any) -> None:
        """A trigger from a domain the handler does not subscribe to never reaches it."""
        h = self.h
        allowed = h.sources if self.storm.kind == "process-manager" else [h.source_domain]  # type: ignore[attr-defined]
        if domain not in allowed:
            raise refuse_event(
                self.source_name,
                i,
                event,
                f"an event from {'one of ' if len(allowed) > 1 else ''}"
                f"{', '.join(str(d) for d in allowed)}",
                hint=(
                    f"it comes from domain {domain!r}, and angzarr only delivers the "
                    f"{self.storm.kind}'s subscribed domains"
                ),
            )

    def _book(
        self,
        event: Any,
        cover: bytes,
        heads: dict[tuple[str, int], int],
        key: tuple[str, int],
        i: int,
    ) -> bytes:
        descriptor = getattr(event, "DESCRIPTOR", None)
        name = getattr(descriptor, "full_name", None)
        if name == "angzarr.EventBook":
            problem = validate_cover(event.cover) if event.HasField("cover") else "no cover"
            if problem is None and not event.pages:
                problem = "it has no pages"
            if problem:
                raise refuse_event(
                    self.source_name,
                    i,
                    event,
                    "an EventBook angzarr would publish (a valid cover, at least one page)",
                    hint=(
                        f"its cover {problem}"
                        if problem.startswith(("root", "domain"))
                        else problem
                    ),
                )
            self._check_from(event.cover.domain, i, event)
            return event.SerializeToString()
        if name is None or not hasattr(event, "SerializeToString"):
            raise refuse_event(self.source_name, i, event, _EVENT_SHAPES)
        seq = heads.get(key, 0)
        heads[key] = seq + 1
        return event_book_bytes(cover, seq, wire.TYPE_URL_PREFIX + name, event.SerializeToString())

    def _publish(self, msg_id: int, book: bytes, duplicate: bool, root_label: str) -> None:
        trigger = wire.types_pb2.EventBook.FromString(book)
        message = Message(msg_id, book, trigger)
        self.unsettled.add(message)
        self.bus.publish(message)
        self.counts["published"] += 1
        self._trace_publish(message, duplicate=False, root_label=root_label)
        if duplicate:
            copy = Message(msg_id, book, trigger, copy=1)
            message.twin = copy.twin = True
            self.unsettled.add(copy)
            self.bus.publish(copy)
            self.counts["duplicates"] += 1
            self.coverage["duplicate"] += 1
            self._trace_publish(copy, duplicate=True)

    def _trace_publish(
        self, message: Message, *, duplicate: bool, root_label: str | None = None
    ) -> None:
        if duplicate:
            self.writer.raw(f'{{"type":"publish","msg":{message.id},"duplicate":true}}\n')
            return
        pages = message.trigger.pages
        if root_label is None:
            root_label = root_str(message.trigger.cover.root.value)
        book64 = base64.b64encode(message.book).decode("ascii")
        self.writer.raw(
            f'{{"type":"publish","msg":{message.id},"root":"{root_label}",'
            f'"seq":{pages[-1].header.sequence if pages else -1},"book":"{book64}"}}\n'
        )

    def _draw_fault(self, message: Message) -> tuple[str | None, int | None]:
        f = self.faults
        u = self.rng.random()
        if u < f.crash_before_ack:
            return "crash-before-ack", None
        u -= f.crash_before_ack
        if u < f.crash_mid_dispatch:
            return "crash-mid-dispatch", -1  # k is drawn once the commands are known
        u -= f.crash_mid_dispatch
        if u < f.nack_requeue:
            return "nack-requeue", None
        u -= f.nack_requeue
        if u < f.concurrent_redelivery:
            return "concurrent-redelivery", None
        return None, None

    def _requeue(self, message: Message, how: str) -> str:
        """The message goes back to the queue (``how``: a consumer ``crash`` or a ``nack``),
        unless it reached the delivery limit: then it is dead-lettered."""
        # RabbitMQ's x-delivery-limit counts returns: the message is dead-lettered when it
        # comes back after `limit + 1` deliveries (calibrated against the broker).
        if not self.bus.counts_deliveries and message.count > self.faults.delivery_limit:
            self._dead_letter(message)
            return "dead-letter"
        message.redelivered = True
        if self.replaying:
            return "requeue"  # the schedule says what comes next
        self.bus.requeue(message, how)
        return "requeue"

    def _dead_letter(self, message: Message) -> None:
        self.unsettled.discard(message)
        self.counts["dead_lettered"] += 1
        self.coverage["delivery-limit"] += 1
        label = self.h.trigger_label(message.trigger)
        self.extra_findings.append(
            Finding(
                "dead-lettered",
                f"trigger message {message.id} was dead-lettered after {message.count} "
                f"deliveries (x-delivery-limit {self.faults.delivery_limit}); whatever it had "
                "not yet done is lost",
                trigger=label,
                details={"deliveries": str(message.count), "message": str(message.id)},
            )
        )

    # -- one delivery ---------------------------------------------------------------------
    def _deliver(
        self,
        message: Message,
        fault: str | None,
        k: int | None,
        replay_consumer: int | None = None,
    ) -> None:
        h, counts, bus = self.h, self.counts, self.bus
        if not bus.counts_deliveries:
            message.count += 1
        counts["deliveries"] += 1
        if message.redelivered:
            counts["redeliveries"] += 1
        self.clock_ms += _STEP_MS
        consumer = self._consumer() if replay_consumer is None else replay_consumer
        redelivered = message.redelivered
        findings_before = len(h.finding_log)
        outcomes: list[Outcome] = []
        if fault == "nack-requeue":
            self.coverage["nack-requeue"] += 1
            settle = self._requeue(message, "nack")
        else:
            # The determinism check compares deliveries of one trigger. On the in-memory bus
            # a first delivery without a fault, of a trigger published once, is acked and
            # never delivered again: there is nothing to compare it with, so the oracle skips
            # it (a replay, or a real broker that may redeliver anything, always compares).
            compare = (
                fault is not None
                or message.twin
                or message.count > 1
                or self.replaying
                or bus.counts_deliveries
            )
            work = h.handle_delivery(
                message.book,
                redelivered,
                trigger_id=message.id,
                trigger=message.trigger,
                compare=compare,
            )
            self._count_call(work)
            if fault == "concurrent-redelivery":
                self.coverage["concurrent-redelivery"] += 1
                second = bus.redeliver_to_rival(message)
                counts["deliveries"] += 1
                counts["redeliveries"] += 1
                rival = h.handle_delivery(
                    second.book, True, trigger_id=second.id, trigger=second.trigger
                )
                self._count_call(rival)
                self._lockstep(work, rival)
                outcomes = work.outcomes + rival.outcomes
                self._count_facts(work)
                self._count_facts(rival)
                settle = self._ack(second)
            elif fault == "crash-mid-dispatch":
                self.coverage["crash-mid-dispatch"] += 1
                if k is None or k < 0:
                    k = self.rng.randrange(len(work.sent)) if work.sent else 0
                if work.error is None:
                    h.execute_delivery(work, limit=k)
                outcomes = work.outcomes
                settle = self._requeue(message, "crash")
            else:
                if work.error is None:
                    h.execute_delivery(work)
                    if work.facts:
                        self._count_facts(work)
                outcomes = work.outcomes
                if fault == "crash-before-ack":
                    self.coverage["crash-before-ack"] += 1
                    settle = self._requeue(message, "crash")
                elif work.error is not None and h.requeue_on_error:
                    settle = self._requeue(message, "nack")  # a PM handler error
                else:
                    settle = self._ack(message)
        self._count_outcomes(outcomes)
        new_kinds = [f.kind for f in h.finding_log[findings_before:]]
        self.writer.raw(
            f'{{"type":"deliver","n":{counts["deliveries"]},"msg":{message.id},'
            f'"copy":{message.copy},'
            f'"t":{self.clock_ms},"consumer":{consumer},'
            f'"redelivered":{"true" if redelivered else "false"},"count":{message.count},'
            f'"fault":{_json_str(fault)},"k":{"null" if k is None else k},'
            f'"outcomes":{_json_list([o.status for o in outcomes])},'
            f'"findings":{_json_list(new_kinds)}}}\n'
            f'{{"type":"settle","msg":{message.id},"result":"{settle}"}}\n'
        )

    def _consumer(self) -> int:
        consumer = self.next_consumer
        self.next_consumer = (consumer + 1) % self.storm.concurrency
        return consumer

    def _ack(self, message: Message) -> str:
        self.unsettled.discard(message)
        self.counts["acked"] += 1
        self.bus.ack(message)
        return "ack"

    def _count_call(self, work: DeliveryWork) -> None:
        if work.skipped:  # a PM trigger without correlation id: the handler is not called
            self.counts["skipped"] += 1
            return
        self.counts["handler_calls"] += 1
        if work.error is not None:
            self.counts["handler_errors"] += 1
        else:
            self.produced += len(work.sent) + len(work.facts)

    def _count_facts(self, work: DeliveryWork) -> None:
        """Facts go to their destinations once the whole command list went out."""
        if work.error is None:
            self.counts["facts"] += len(work.facts)

    def _count_outcomes(self, outcomes: list[Outcome]) -> None:
        counts = self.counts
        counts["commands_sent"] += len(outcomes)
        for outcome in outcomes:
            status = outcome.status
            if status == APPLIED:
                counts["applied"] += 1
            elif status == DEDUPED:
                counts["deduped"] += 1
            elif status == REJECTED or status == DEAD_LETTERED:
                counts["rejected"] += 1
            elif status == RETRIED_OUT:
                counts["retried_out"] += 1

    def _lockstep(self, first: DeliveryWork, second: DeliveryWork) -> None:
        """Two consumers process the same trigger at once: both look up the dedupe key and
        run business logic on the same head before either persists; the second commit then
        meets ``Sequence conflict`` and the coordinator's retry finds the dedupe entry."""
        h = self.h
        if first.error is not None or second.error is not None:
            for work in (first, second):
                if work.error is None:
                    h.execute_delivery(work)
            return
        pipeline = h.pipeline
        n = min(len(first.sent), len(second.sent))
        round_a: list[Outcome] = []
        round_b: list[Outcome] = []
        for i in range(n):
            pa = pipeline.prepare(first.sent[i], first.number, i, first.trigger_id)
            pb = pipeline.prepare(second.sent[i], second.number, i, second.trigger_id)
            round_a.append(pipeline.commit(pa) if isinstance(pa, Pending) else pa)
            round_b.append(pipeline.commit(pb) if isinstance(pb, Pending) else pb)
        for work, first_round in ((first, round_a), (second, round_b)):
            for i in range(n, len(work.sent)):
                first_round.append(pipeline.execute(work.sent[i], work.number, i, work.trigger_id))
            h.execute_delivery(work, first_round=first_round)

    # -- the end --------------------------------------------------------------------------
    def _finish(self) -> StormReport:
        for message in self.bus.close():
            self._dead_letter(message)  # what the broker dead-lettered
        storm = self.storm
        if self.exhausted:
            cycling = list(self.unsettled)
            self.extra_findings.append(
                budget_finding(
                    self.budget,
                    cycling,
                    self.unpublished,
                    self.faults.delivery_limit,
                    label=self.h.trigger_label,
                )
            )
        missing = [r for r in storm.require if not self.coverage.get(r)]
        vacuous = vacuity(
            self.counts,
            produced=self.produced,
            facts_persisted=self._facts_persisted(),
            output_domains=self.h.output_domains,
            missing=missing,
            allow_vacuous=storm.allow_vacuous,
        )
        if vacuous is not None:
            self.extra_findings.append(vacuous)
        findings = sort_findings(self.h.findings + self.extra_findings)
        ok = not failing(findings, fail_on=storm.fail_on)
        finding_kinds: dict[str, int] = {}
        for f in findings:
            finding_kinds[f.kind] = finding_kinds.get(f.kind, 0) + 1
        self.writer.finish(
            {
                "counts": self.counts,
                "fault_coverage": self.coverage,
                "findings": len(findings),
                "finding_kinds": finding_kinds,
                "ok": ok,
            }
        )
        return StormReport(
            ok=ok,
            findings=findings,
            counts=dict(self.counts),
            fault_coverage=dict(self.coverage),
            missing_coverage=missing,
            trace=self.trace,
            seed=self.storm.seed,
            options=self.storm.header(self.h),
            fail_on=storm.fail_on,
        )

    def _facts_persisted(self) -> int:
        """Fact pages the destinations stored (their external ids), over the whole run."""
        if not self.counts["facts"]:
            return 0
        return sum(len(s.external_ids) for s in self.h.store.streams.values())

    def _progress(self, total: int) -> Callable[[int], None] | None:
        show = self.storm.progress
        if show is False or (show is None and total < 20_000):
            return None
        from tqdm import tqdm

        # disable=None: tqdm shows the bar on a terminal only, never when piped.
        bar = tqdm(
            total=total,
            unit="event",
            desc="storm",
            disable=None if show is None else False,
            mininterval=0.5,
            leave=True,
        )
        state = {"done": 0}

        def update(done: int) -> None:
            if done != state["done"]:
                bar.update(done - state["done"])
                state["done"] = done
                if done == total:
                    bar.close()

        return update
