"""The saga coordinator: one delivery's steps, the way angzarr's coordinator runs them.

:meth:`Coordinator.handle_delivery` builds the request (the sequence map of the profile),
calls the handler (bytes across the hop, :mod:`.targets`), stamps the commands (edition,
correlation, the deferred rewrite) and runs the command checks (:mod:`.checks`);
:meth:`Coordinator.execute_delivery` sends them through the destination pipeline
(:mod:`.aggregate`) in emission order, re-sending the whole list after a retryable failure on
a virtual clock, then injects the facts. Findings go to the oracle (:mod:`.oracle`); records
(:mod:`.records`) are kept when ``record`` is on. :class:`~.saga.SagaHarness` is the public
facade on top (givens, ``deliver``, views); the storm calls the two steps directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import wire
from .aggregate import (
    APPLIED,
    DEAD_LETTERED,
    NOT_SENT,
    REJECTED,
    RETRIED_OUT,
    RETRYABLE,
    SUCCESS_STATUSES,
    EventStore,
    Outcome,
    Pipeline,
    edition_name,
)
from .checks import CommandChecks
from .commands import check_fact
from .diagnose import diagnose_call, report_silence, should_diagnose
from .encode import saga_request_bytes
from .findings import Finding
from .oracle import Oracle
from .records import Delivery, RecordedCommand
from .targets import SagaTarget
from .work import DeliveryWork, copy_edition, trigger_key, trigger_label

__all__ = ["Coordinator"]

_BACKOFF_BASE = 0.1
_BACKOFF_CAP = 5.0
_REPORTED_STATUSES = (RETRIED_OUT, DEAD_LETTERED, REJECTED)


class Coordinator:
    """A fake angzarr saga coordinator over simulated destination aggregates (the state and
    the steps of a delivery; :class:`~.saga.SagaHarness` checks the arguments).

    Args:
        target: the resolved saga (or process-manager) target.
        profile: the framework profile.
        output_domains: the domains the sequence map covers.
        max_retries: whole-list re-sends after a retryable failure.
        record: keep a :class:`~.records.Delivery` of every delivery.
        keep_outputs, keep_output_bytes: the oracle's memory for first outputs (storms).

    Attributes:
        store, pipeline: the simulated destinations and their pipeline.
        oracle: the findings (:class:`~.oracle.Oracle`); ``finding_log`` is its log.
        checks: the command checks (:class:`~.checks.CommandChecks`).
        deliveries: the records, when ``record`` is on.
        clock: virtual seconds spent in retry backoff.
    """

    #: a handler error acks the trigger (sagas); process managers nack and requeue it
    requeue_on_error = False
    #: the oracle and the command checks a harness holds (process managers subclass them)
    _oracle_class: type[Oracle] = Oracle
    _checks_class: type[CommandChecks] = CommandChecks
    #: the record class of a delivery (process managers record more)
    _delivery_class: type[Delivery] = Delivery
    #: how findings name a trigger (:func:`.work.trigger_label`)
    trigger_label = staticmethod(trigger_label)

    def __init__(
        self,
        target: SagaTarget,
        profile: str,
        output_domains: Sequence[str],
        max_retries: int,
        record: bool,
        *,
        keep_outputs: int,
        keep_output_bytes: int,
    ) -> None:
        self.target = target
        self.profile = profile
        self.output_domains = list(output_domains)
        self.max_retries = max_retries
        self.record = record
        self.store = EventStore()
        self.pipeline = Pipeline(self.store, core=profile == "core")
        self.deliveries: list[Delivery] = []
        self.clock = 0.0
        self._count = 0
        self._first_destination: dict[str, tuple[str, bytes, str]] = {}
        self._trigger_ids: dict[tuple, int] = {}
        self.oracle = self._oracle_class(
            target,
            profile,
            keep_all=record,
            keep_outputs=keep_outputs,
            keep_output_bytes=keep_output_bytes,
        )
        self.checks = self._checks_class(self.oracle, profile)
        self.checks.has_history = self._has_history
        #: every finding in the order the oracle raised it (unsorted, without lost commands:
        #: ``findings`` is the report); the storm reads what one delivery added
        self.finding_log: list[Finding] = self.oracle.finding_log

    def _has_history(self, cover: Any) -> bool:
        stream = self.store.find(cover.domain, cover.root.value, edition_name(cover))
        return stream is not None and stream.has_history

    # -- the steps ------------------------------------------------------------------------
    def _sequence_map(self) -> dict[str, int]:
        # One value per domain: the first destination declared with given_destination, else
        # the first aggregate of the domain that commands reached, else a new one (0).
        if self.profile == "core":
            # core HEAD: orchestrate_saga fills the map only for declared output domains and
            # no production context declares any; the PM context sends Default::default()
            # (docs/profiles.md)
            return {}
        seqs = {}
        store = self.store
        for domain in self.output_domains:
            first = self._first_destination.get(domain)
            stream = store.find(*first) if first else store.first_in_domain.get(domain)
            seqs[domain] = stream.next_sequence if stream else 0
        return seqs

    def _run(self, trigger_bytes: bytes, *, redelivered: bool) -> Delivery:
        work = self.handle_delivery(trigger_bytes, redelivered)
        if work.error is None:
            self.execute_delivery(work)
        return work.delivery  # type: ignore[return-value]  # None only when record=False

    def handle_delivery(
        self,
        trigger_bytes: bytes,
        redelivered: bool,
        trigger_id: int | None = None,
        trigger: Any = None,
        compare: bool = True,
    ) -> DeliveryWork:
        """Build the request, call the handler, and prepare what the coordinator will send
        (stamped, checked): the first step of a delivery; :meth:`execute_delivery` is the
        second, and is skipped when ``work.error`` is set (the handler failed).

        The storm calls this directly (with ``trigger_id`` = its message id and the parsed
        ``trigger``) and then :meth:`execute_delivery`, possibly partially or in lockstep with a
        rival consumer. ``compare=False``: the caller knows the trigger is never delivered
        again, so the determinism check (which compares deliveries) is skipped.
        """
        seqs = self._sequence_map()
        work = self._begin(trigger_bytes, trigger_id, trigger, seqs)
        trigger = work.trigger
        request_bytes = saga_request_bytes(trigger_bytes, seqs)
        delivery = self._record(work, redelivered, trigger_bytes)
        if delivery is not None:
            delivery.request = wire.saga_pb2.SagaHandleRequest.FromString(request_bytes)
        try:
            response, response_bytes = self.target.handle_bytes(request_bytes)
        except Exception as exc:  # the coordinator logs and acks: the trigger's work is lost
            work.error = exc
            if delivery is not None:
                delivery.error = exc
            self.oracle.handler_failed(work, exc)
            return work
        if delivery is not None:
            as_returned = wire.saga_pb2.SagaResponse.FromString(response_bytes)
            delivery.commands = [RecordedCommand(c) for c in as_returned.commands]
        if compare:
            self.oracle.check_determinism(work, response, response_bytes)
        if not response.commands and not response.events:  # the rare path: nothing to send
            self._diagnose_silence(work, request_bytes)
        self.take_output(work, response.commands, response.events)
        return work

    def _diagnose_silence(self, work: DeliveryWork, request_bytes: bytes) -> None:
        """A handler that returned nothing for a trigger it handles: call it once more under
        the diagnostic tracer (:mod:`.diagnose`) to see whether it hid an error (caught an
        exception, logged at ERROR); core acks the empty reply (``silent-handler``)."""
        if should_diagnose(self.target, work.trigger):
            report_silence(self.oracle, work, diagnose_call(self.target.call, request_bytes))

    def take_output(self, work: DeliveryWork, commands: Any, facts: Any) -> None:
        """What the coordinator does with a handler's output before sending any of it (sagas
        and process managers alike): stamp each command (:meth:`_stamp`), give each fact
        with a cover the trigger's edition, run the command checks, and record what is
        sent."""
        trigger = work.trigger
        work.sent = sent = list(commands)
        work.facts = list(facts)
        for command in sent:
            self._stamp(command, trigger, work)
        for fact in work.facts:
            if fact.HasField("cover"):  # core never gives a coverless book a cover
                copy_edition(fact.cover, trigger.cover)
        self.checks.check_sent(work)
        delivery = work.delivery
        if delivery is not None:
            delivery.sent = [RecordedCommand(c) for c in sent]
            delivery.facts = work.facts

    def _begin(
        self, trigger_bytes: bytes, trigger_id: int | None, trigger: Any, seqs: dict[str, int]
    ) -> DeliveryWork:
        """A new delivery in flight: the parsed trigger, its identity, the next number."""
        if trigger is None:
            trigger = wire.types_pb2.EventBook.FromString(trigger_bytes)
        if trigger_id is None:
            key = trigger_key(trigger)
            trigger_id = self._trigger_ids.setdefault(key, len(self._trigger_ids))
        self._count += 1
        return DeliveryWork(self._count, trigger, trigger_id, seqs)

    def _record(
        self, work: DeliveryWork, redelivered: bool, trigger_bytes: bytes
    ) -> Delivery | None:
        """The public record of a delivery, when the harness keeps records."""
        if not self.record:
            return None
        delivery = work.delivery = self._delivery_class(
            work.number,
            work.trigger,
            redelivered,
            findings=work.findings,
            _trigger_bytes=trigger_bytes,
        )
        self.deliveries.append(delivery)
        return delivery

    def _stamp(self, command: Any, trigger: Any, work: DeliveryWork | None = None) -> None:
        """What the coordinator does to an emitted command before sending it (in place);
        ``work``: the delivery (process managers read its PM source)."""
        if command.HasField("cover"):  # core fills in only a cover that exists
            cover = command.cover
            copy_edition(cover, trigger.cover)
            if not cover.correlation_id:
                cover.correlation_id = trigger.cover.correlation_id
        if self.profile == "sequence-map":
            return  # the seed protocol: commands go out as stamped
        source_seq = max((p.header.sequence for p in trigger.pages), default=0)
        for page in command.pages:
            deferred = page.header.angzarr_deferred
            if page.header.WhichOneof("sequence_type") == "angzarr_deferred":
                if not deferred.HasField("source"):
                    deferred.source.CopyFrom(trigger.cover)
                continue
            deferred.source.CopyFrom(trigger.cover)
            deferred.source_seq = source_seq

    def execute_delivery(
        self,
        work: DeliveryWork,
        *,
        limit: int | None = None,
        first_round: list[Outcome] | None = None,
    ) -> None:
        """Send the commands in emission order; re-send the whole list after a retryable
        failure (virtual-clock backoff). ``limit`` sends only the first ``limit`` commands
        once (a crash mid-dispatch); ``first_round`` supplies round one's outcomes (computed
        in lockstep with a rival consumer)."""
        sent = work.sent
        execute = self.pipeline.execute
        # check_sent checked every command once: only the invalid ones are checked again
        # (and refused) by the destination
        invalid = self.checks.invalid_reported
        if limit is None and first_round is None and len(sent) == 1 and not invalid:
            # The usual delivery: one valid command. Its first attempt settles it unless it is
            # retryable; then the rounds below take over from that attempt.
            outcome = execute(sent[0], work.number, 0, work.trigger_id, checked=True)
            if outcome.status != RETRYABLE:
                self._attempted(work, 0, outcome, first=True)
                outcome.attempts = 1
                self._settled(work, 0, outcome, valid=True)
                self._conclude(work, [outcome], facts=True)
                return
            first_round = [outcome]
        keys = work.keys
        n = len(sent) if limit is None else min(limit, len(sent))
        final: list[Outcome | None] = [None] * n
        last: list[Outcome | None] = [None] * n
        attempts = [0] * n
        valid = [keys[i] not in invalid for i in range(n)] if invalid else [True] * n
        rounds = 1 if limit is not None else self.max_retries + 1
        for round_no in range(rounds):
            retry = False
            for i in range(n):
                if round_no == 0 and first_round is not None:
                    outcome = first_round[i]
                else:
                    outcome = execute(sent[i], work.number, i, work.trigger_id, checked=valid[i])
                attempts[i] += 1
                last[i] = outcome
                status = outcome.status
                if status == RETRYABLE:
                    retry = True
                elif final[i] is None and status in SUCCESS_STATUSES:
                    final[i] = outcome
                self._attempted(work, i, outcome, first=attempts[i] == 1)
            if not retry:
                break
            if round_no < self.max_retries:
                wait = min(_BACKOFF_BASE * 2**round_no, _BACKOFF_CAP)
                self.clock += wait
                work.virtual_time += wait
        outcomes = []
        for i in range(n):
            outcome = final[i] or last[i]
            assert outcome is not None
            if outcome.status == RETRYABLE:
                outcome = Outcome(
                    RETRIED_OUT,
                    outcome.code,
                    outcome.message,
                    expected=outcome.expected,
                    actual=outcome.actual,
                )
            outcome.attempts = attempts[i]
            outcomes.append(outcome)
            self._settled(work, i, outcome, valid=valid[i])
        outcomes += [Outcome(NOT_SENT) for _ in range(len(sent) - n)]
        self._conclude(work, outcomes, facts=limit is None)

    def _attempted(self, work: DeliveryWork, index: int, outcome: Outcome, *, first: bool) -> None:
        """What the oracle learns from one attempt of command ``index``: an application (a
        second one is a double-apply), or, on the command's first attempt, a colliding dedupe
        hit."""
        if outcome.status == APPLIED and not outcome.noop:
            self.oracle.applied(work, index)
        elif outcome.collided_with is not None and first:
            self.oracle.collision(work, index, outcome)

    def _settled(self, work: DeliveryWork, index: int, outcome: Outcome, *, valid: bool) -> None:
        """Command ``index``'s final ``outcome``: resolved for every delivery of the trigger
        unless it retried out (deduped, rejected: negated in ``applied_in``), and reported when
        refused (an invalid command was reported already, by the command checks)."""
        oracle = self.oracle
        key = work.keys[index]
        status = outcome.status
        if status != RETRIED_OUT:
            oracle.unresolved.pop(key, None)
            if status != APPLIED or outcome.noop:  # (applied: oracle.applied recorded it)
                oracle.applied_in.setdefault(key, -work.number)
        if status in _REPORTED_STATUSES and valid:
            oracle.report_outcome(work, index, outcome)

    def _conclude(self, work: DeliveryWork, outcomes: list[Outcome], *, facts: bool) -> None:
        """The delivery's outcomes, on the work and its record; then the facts, unless the
        consumer crashed mid-dispatch."""
        work.outcomes = outcomes
        delivery = work.delivery
        if delivery is not None:
            delivery.outcomes = outcomes
            delivery.virtual_time = work.virtual_time
        if facts:
            self._inject_facts(work)

    def _inject_facts(self, work: DeliveryWork) -> None:
        facts = work.facts
        if not facts:
            if work.delivery is not None:
                work.delivery.fact_outcomes = []
            return
        outcomes = []
        for n, fact in enumerate(facts):
            outcome = self.pipeline.inject_fact(fact, work.number)
            outcomes.append(outcome)
            problems = check_fact(fact) if outcome.code == "INVALID_ARGUMENT" else ()
            if problems:
                # core's orchestrate_saga / orchestrate_pm stop at the first failed fact
                # injection (`?`): the facts after it are never injected.
                self.checks.invalid_fact(work, n, problems)
                outcomes.extend(Outcome(NOT_SENT) for _ in facts[n + 1 :])
                break
            if outcome.status == REJECTED:
                self.oracle.rejected_fact(work, fact, outcome)
            elif outcome.collided_delivery is not None:
                self.oracle.fact_collision(work, fact, outcome)
        if work.delivery is not None:
            work.delivery.fact_outcomes = outcomes
