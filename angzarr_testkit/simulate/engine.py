"""The storm's delivery engine: one run of a storm on its bus, its faults, trace and counters.

:class:`DeliveryEngine` publishes the triggers (:mod:`.triggers`) into the run's bus
(:mod:`.bus`: in memory or a broker's), takes deliveries, draws each one's fault from the
seeded RNG, runs it through the harness (``handle_delivery`` / ``execute_delivery``), settles
it (ack, requeue or dead-letter), writes the trace lines and counts; when the bus is drained
it adds the budget and vacuity findings and builds the
:class:`~.storm_report.StormReport`. It reads its options from a :class:`StormPlan` (what
:class:`~.storm.Storm` is). A replay drives the same engine from a recorded
:class:`~.trace.Schedule`.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from .. import wire
from ..errors import TraceError
from ..framework.aggregate import (
    APPLIED,
    DEAD_LETTERED,
    DEDUPED,
    REJECTED,
    RETRIED_OUT,
    Outcome,
    Pending,
)
from ..framework.findings import Finding
from ..framework.saga import DeliveryWork, SagaHarness
from ..ids import root_str
from .bus import Bus, Message, open_bus
from .faults import FAULT_CLASSES, FaultPlan
from .progress import progress_bar
from .sources import describe_source
from .storm_report import COUNT_NAMES, StormReport
from .trace import Schedule, Trace, TraceWriter
from .triggers import TriggerMaker, parse_trace_book, root_cover
from .vacuity import budget_finding, delivery_limit_finding
from .verdict import ShardPart, ShardResult, conclude, shard_share, tag_shard

__all__ = ["STEP_MS", "DeliveryEngine", "StormPlan"]

#: virtual time of one delivery, in ms (the trace's ``t``)
STEP_MS = 1


class StormPlan(Protocol):
    """The options of a storm the engine reads (a checked :class:`~.storm.Storm`)."""

    kind: str
    events: int
    roots: int
    seed: int
    event_source: Any
    faults: FaultPlan
    require: Sequence[str]
    concurrency: int
    trace_path: Path | None
    progress: bool | None
    broker: str | None
    delivery_budget: int
    allow_vacuous: bool
    fail_on: frozenset[str]
    #: event full name -> the input domain an SDK process manager declares for it
    type_domains: dict[str, str]

    def header(self, harness: SagaHarness) -> dict[str, Any]: ...


def _json_str(value: str | None) -> str:
    # Statuses, kinds and fault names are plain ASCII identifiers: no escaping needed.
    return "null" if value is None else f'"{value}"'


def _json_list(values: list[str]) -> str:
    return '["' + '","'.join(values) + '"]' if values else "[]"


class DeliveryEngine:
    """One storm run: the bus, fault injection, the trace and the counters.

    It is the :class:`~.bus.BusHost` of its bus (``faults``, ``rng``, ``coverage``). Drive it
    once, with :meth:`run_random` (a storm) or :meth:`run_schedule` (a replay).
    """

    def __init__(
        self,
        storm: StormPlan,
        harness: SagaHarness,
        rng: random.Random,
        *,
        part: ShardPart | None = None,
    ) -> None:
        self.storm = storm
        #: the shard this engine runs (``None``: the whole, unsharded storm)
        self.part = part
        self.h = harness
        self.rng = rng
        self.faults = storm.faults
        f = storm.faults
        #: whether the plan has per-delivery faults at all
        self.any_fault = bool(
            f.crash_before_ack or f.crash_mid_dispatch or f.nack_requeue or f.concurrent_redelivery
        )
        self.counts = dict.fromkeys(COUNT_NAMES, 0)
        self.coverage = dict.fromkeys(FAULT_CLASSES, 0)
        self.extra_findings: list[Finding] = []
        self.produced = 0  # commands and facts the handler returned, over every call
        self.budget = storm.delivery_budget if part is None else part.budget
        self.exhausted = False
        self.unpublished = 0
        # every message not yet acked or dead-lettered (messages hash by identity)
        self.unsettled: set[Message] = set()
        self.source_name = describe_source(storm.event_source)
        self.triggers = TriggerMaker(storm.kind, harness, storm.type_domains, self.source_name)
        temporary = storm.trace_path is None and part is None
        path = part.path if part else Trace.temporary_path() if temporary else storm.trace_path
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
        """Publish the storm's ``events`` from ``source`` (the trigger ``domain`` for bare
        events) and deliver until the bus is drained or the delivery budget is spent."""
        self.deliver_random(source, domain)
        return self._finish()

    def _first_line(self) -> dict[str, Any]:
        return self.storm.header(self.h) if self.part is None else self.part.marker()

    def deliver_random(self, source: Callable[[random.Random, int], Any], domain: str) -> None:
        """:meth:`run_random` without the end (a shard's: see :meth:`shard_result`). A shard
        publishes the global event indexes and source roots ``i % shards == index``."""
        storm, rng, faults = self.storm, self.rng, self.faults
        self.writer.line(self._first_line())
        shard, shards = (0, 1) if self.part is None else (self.part.index, self.part.count)
        own_roots = shard_share(storm.roots, shard, shards)
        heads: dict[tuple[str, int], int] = {}
        roots: dict[tuple[str, int], tuple[bytes, str]] = {}  # -> (cover bytes, root text)
        published = 0
        total = shard_share(storm.events, shard, shards)
        progress = progress_bar(storm.progress if self.part is None else self.part.progress, total)
        bus, counts, budget = self.bus, self.counts, self.budget
        event_domain, make_book = self.triggers.event_domain, self.triggers.book
        plain = storm.kind == "saga"  # a saga's bare events come from its source domain
        while published < total or bus.pending():
            if counts["deliveries"] >= budget:
                self.exhausted = True
                self.unpublished = total - published
                break
            while published < total and bus.has_room():
                i = shard + shards * published  # the global event index
                event = source(rng, i)
                if plain and not isinstance(event, tuple):
                    src = domain
                else:
                    src, event = event_domain(event, i, domain)
                r = shard + shards * rng.randrange(own_roots)
                key = (src, r)
                root = roots.get(key)
                if root is None:
                    root = roots[key] = root_cover(src, r)
                book = make_book(event, root[0], heads, key, i)
                self._publish(i, book, rng.random() < faults.duplicate, root[1])
                published += 1
            message = bus.take()
            if message is not None:
                self._deliver(message, *self._draw_fault(message))
            if progress is not None:
                progress(published)

    def run_schedule(self, schedule: Schedule) -> StormReport:
        """Re-execute a recorded (or shrunk) schedule: its publishes, then its deliveries
        with their recorded faults and consumers."""
        self.deliver_schedule(schedule)
        return self._finish()

    def deliver_schedule(self, schedule: Schedule) -> None:
        """:meth:`run_schedule` without the end (a shard's: see :meth:`shard_result`)."""
        self.writer.line(self._first_line())
        self.replaying = True
        messages: dict[tuple[int, int], Message] = {}
        for msg_id, duplicate in schedule.publishes:
            book = schedule.books.get(msg_id)
            if book is None:
                raise TraceError(f"the trace publishes message {msg_id} without its book")
            copy = 1 if duplicate else 0
            original = messages.get((msg_id, 0))
            trigger = original.trigger if original else parse_trace_book(msg_id, book)
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

    # -- the bus ------------------------------------------------------------------------
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
        u = self.rng.random()
        if not self.any_fault:  # a plan without per-delivery faults (the draw still happens)
            return None, None
        f = self.faults
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
        self.coverage["delivery-limit"] += 1
        core = self.h.profile == "core"  # no x-delivery-limit: the kit's cap, not a DLQ
        if not core:
            self.counts["dead_lettered"] += 1
        self.extra_findings.append(
            delivery_limit_finding(
                message.id,
                message.count,
                self.faults.delivery_limit,
                self.h.trigger_label(message.trigger),
                core=core,
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
        self.clock_ms += STEP_MS
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
    def shard_result(self) -> ShardResult:
        """The run's own end: what the broker dead-lettered, the budget finding, the counts
        and findings (vacuity is decided over all shards: :func:`~.verdict.conclude`)."""
        for message in self.bus.close():
            self._dead_letter(message)  # what the broker dead-lettered
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
        findings = self.h.findings + self.extra_findings
        if self.part is not None and self.part.count > 1:
            findings = tag_shard(findings, self.part.index, self.part.count)
        return ShardResult(
            counts=self.counts,
            coverage=self.coverage,
            findings=findings,
            produced=self.produced,
            facts_persisted=self._facts_persisted(),
            reached=frozenset(
                s.label for s in self.h.store.streams.values() if s.applied or s.deduped
            )
            if self.part is not None and self.part.count > 1
            else frozenset(),
        )

    def _finish(self) -> StormReport:
        return conclude(
            self.storm,
            [self.shard_result()],
            output_domains=self.h.output_domains,
            writer=self.writer,
            trace=self.trace,
            options=self.storm.header(self.h),
        )

    def _facts_persisted(self) -> int:
        """Fact pages the destinations stored (their external ids), over the whole run."""
        if not self.counts["facts"]:
            return 0
        return sum(len(s.external_ids) for s in self.h.store.streams.values())
