"""The process-manager harness: a fake angzarr PM coordinator.

A process manager is keyed by correlation id: its state is the PM domain's stream for the
trigger's correlation id. Per delivery (DESIGN.md section 3, "Process managers") the
coordinator skips triggers without a correlation id, passes the state (and, in the legacy
two-phase flow, a map built from ``Prepare``'s destinations) to ``Handle``, persists the
returned process events to the PM stream before sending the commands, stamps the commands'
provenance (``angzarr_deferred{source = PM domain / root from the correlation id, source_seq =
highest PM event sequence}``) and sends each command once. A handler that raises is nacked and
requeued until the delivery limit, then dead-lettered.

Under ``profile="core"`` the process events are persisted as angzarr core HEAD does it
(:mod:`.pm_store`): each page at its own sequence (0 without a header), to the book's cover
root or the nil root; the state is fetched by correlation id. A refused persist sends no
command and requeues the trigger; core has no delivery limit, so the kit's
``delivery_limit`` is a kit-side cap there and the loop is a ``requeue-loop`` finding.

The oracle adds PM checks to the saga ones (:mod:`.pm_checks`): a trigger whose process events
are persisted twice (PM state double-apply), and commands that repeat one already applied for
an earlier trigger of the same workflow (history re-triggering).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import wire
from ..errors import ConfigurationError, InvalidArgumentError, codes
from ..factories import pm_root
from ..validate import check_bool, check_int, check_names, check_str, checked
from .aggregate import Stream, edition_name
from .inputs import validate_domain
from .pm_checks import PMCommandChecks, PMOracle
from .pm_store import CorePMStore, PersistRejected, pm_source_seq
from .records import AggregateView, Delivery, RecordedCommand
from .saga import DEFAULT_PROFILE, SagaHarness
from .targets import PMTarget, resolve_pm_target
from .work import DeliveryWork, copy_edition

__all__ = ["PMDelivery", "ProcessManagerHarness", "pm_root"]

NIL_ROOT = bytes(16)
#: the highest ``delivery_limit`` accepted: a poison trigger is delivered that often + 1
MAX_DELIVERY_LIMIT = 10_000


@dataclass
class PMDelivery(Delivery):
    """A process-manager delivery: a :class:`Delivery` plus the PM's own output.

    Attributes:
        process_events: the process events persisted to the PM stream (with sequences).
        skipped: the trigger had no correlation id, so angzarr did not call the PM.
        attempts: how many times the trigger was delivered (requeues after handler errors).
        prepared: the destinations ``Prepare`` declared (legacy two-phase flow).
    """

    process_events: list[Any] = field(default_factory=list)
    skipped: bool = False
    attempts: int = 1
    prepared: list[Any] = field(default_factory=list)

    def command(self, domain: str) -> RecordedCommand:
        if self.skipped:
            raise AssertionError(
                f"delivery #{self.number} was skipped: its trigger has no correlation id, and "
                "angzarr only runs process managers for correlated triggers"
            )
        return super().command(domain)


class ProcessManagerHarness(SagaHarness):
    """Drive a real process manager through a fake angzarr coordinator.

    Args:
        pm: the target (a callable ``fn(ProcessManagerHandleRequest)``, a servicer with
            ``Handle`` (and ``Prepare``), an angzarr_client ``ProcessManager`` subclass, or a
            ``"package.module:attr"`` string).
        pm_domain: the PM's own domain (its state stream's domain).
        sources: the domains it takes triggers from (the first is ``deliver``'s default).
        output_domains: domains the framework supplies sequences for.
        profile: ``"core"`` (default: angzarr core HEAD, an empty map, no Prepare, the
            provenance header), ``"sequence-map"`` (the seed protocol) or
            ``"deferred-rewrite"`` (commands get the PM's provenance header); see
            docs/profiles.md.
        prepare: the legacy two-phase flow: call ``Prepare`` and fill the map from the
            destinations it declares.
        delivery_limit: the queue's ``x-delivery-limit``: a trigger whose handler keeps raising
            is dead-lettered after ``delivery_limit + 1`` deliveries. Under ``"core"`` a
            kit-side cap (core declares no limit, so the trigger would requeue forever): the
            kit stops after ``delivery_limit + 1`` deliveries with a ``requeue-loop``.
        record: keep :class:`PMDelivery` records (storms turn it off).
        allow_vacuous: as for :class:`SagaHarness` (a skipped trigger is a delivery).
        dedupe_store: as for :class:`SagaHarness`.
    """

    requeue_on_error = True  # a PM handler error is a nack with requeue (storms read this)
    _delivery_class = PMDelivery
    _oracle_class = PMOracle
    _checks_class = PMCommandChecks
    oracle: PMOracle

    def __init__(
        self,
        pm: Any,
        *,
        pm_domain: str | None = None,
        sources: Sequence[str] | None = None,
        output_domains: Sequence[str] | None = None,
        profile: str = DEFAULT_PROFILE,
        prepare: bool = False,
        delivery_limit: int = 20,
        record: bool = True,
        allow_vacuous: bool = False,
        dedupe_store: str = "postgres",
    ) -> None:
        if sources is not None:
            sources = checked(
                ConfigurationError,
                check_names,
                sources,
                "sources",
                item=validate_domain,
                accepted="a list of domain names",
            )
        if pm_domain is not None:
            validate_domain(pm_domain, "pm_domain")
        prepare = checked(ConfigurationError, check_bool, prepare, "prepare")
        if prepare and profile == "core":
            raise ConfigurationError(
                "prepare=True with profile='core': angzarr core HEAD never calls a process "
                "manager's Prepare (orchestrate_pm goes straight to Handle with an empty "
                "destination_sequences map). Drop prepare=True to test what core does, or use "
                "profile='sequence-map' to test the two-phase Prepare flow",
                details={"parameter": "prepare", "profile": profile},
            )
        delivery_limit = checked(
            ConfigurationError,
            check_int,
            delivery_limit,
            "delivery_limit",
            minimum=1,
            maximum=MAX_DELIVERY_LIMIT,
        )
        target = resolve_pm_target(pm)
        self.sources = list(sources if sources is not None else target.sources)
        super().__init__(
            target,
            source_domain=self.sources[0] if self.sources else None,
            output_domains=output_domains if output_domains is not None else target.output_domains,
            profile=profile,
            max_retries=0,  # PM commands are sent once each
            record=record,
            allow_vacuous=allow_vacuous,
            dedupe_store=dedupe_store,
        )
        self.pm_target: PMTarget = target
        domain = pm_domain or target.pm_domain
        if domain is None:
            raise ConfigurationError(
                "the PM's domain is unknown: give ProcessManagerHarness(pm_domain=...)",
                code=codes.UNKNOWN_DOMAIN,
            )
        self.pm_domain = validate_domain(domain, "pm_domain")
        for i, source in enumerate(self.sources):
            validate_domain(source, f"sources[{i}]")
        self.prepare = prepare
        if self.prepare and target.prepare is None:
            raise ConfigurationError(
                f"prepare=True needs a Prepare method, and {target.name} has none: give a "
                "servicer with Prepare(request, context) or an angzarr_client ProcessManager",
                code=codes.TARGET_UNSUPPORTED,
            )
        self.delivery_limit = delivery_limit
        self._pm_streams: dict[str, Stream] = {}
        #: the PM domain's streams as core keeps them (``profile="core"``)
        self._core_store = CorePMStore(self.pm_domain)

    def _resolve(self, target: Any) -> Any:
        return target  # already a PMTarget

    # -- public ---------------------------------------------------------------------------
    def deliver(  # type: ignore[override]
        self,
        event: Any,
        *,
        domain: str | None = None,
        root: bytes | None = None,
        correlation_id: str = "",
        sequence: int | None = None,
        edition: str | None = None,
    ) -> PMDelivery:
        """Deliver a trigger from ``domain`` (default: the first source) to the PM.

        A PM handler that raises is requeued and delivered again until ``delivery_limit``,
        then dead-lettered (``handler-error`` + ``dead-lettered``); under ``profile="core"``
        a refused persist requeues too, and the kit stops at the cap with ``requeue-loop``."""
        if domain is not None:
            validate_domain(domain, "domain")
        if domain is not None and self.sources and domain not in self.sources:
            raise InvalidArgumentError(
                f"domain '{domain}' is not one of the PM's sources {self.sources}; add it to "
                "sources=[...]",
                code=codes.UNKNOWN_DOMAIN,
                details={"domain": domain},
            )
        return super().deliver(
            event,
            root=root,
            correlation_id=correlation_id,
            sequence=sequence,
            edition=edition,
            domain=domain,
        )

    def state(self, correlation_id: str) -> AggregateView:
        """The PM's stream for ``correlation_id`` (empty for a workflow never started)."""
        checked(InvalidArgumentError, check_str, correlation_id, "correlation_id")
        if self.profile == "core":  # what core fetches: the stream that holds the workflow
            stream = self._core_store.fetch(correlation_id) or Stream(
                self.pm_domain, pm_root(correlation_id)
            )
        else:
            stream = self._pm_streams.get(correlation_id) or Stream(
                self.pm_domain, pm_root(correlation_id)
            )
        return AggregateView(
            self.pm_domain,
            stream.root,
            stream.edition,
            stream.pages,
            stream.next_sequence,
            stream.applied,
            stream.deduped,
        )

    # -- the coordinator --------------------------------------------------------------------
    def _run(self, trigger_bytes: bytes, *, redelivered: bool) -> Delivery:
        attempts = 0
        while True:
            attempts += 1
            work = self.handle_delivery(trigger_bytes, redelivered or attempts > 1)
            if work.error is None:
                self.execute_delivery(work)
                break
            if attempts > self.delivery_limit:  # x-delivery-limit counts returns
                if self.profile == "core":  # core has no limit: the kit's cap ends the loop
                    self.oracle.requeue_loop(work, attempts, self.delivery_limit)
                else:
                    self.oracle.poisoned(work, attempts)
                break
        delivery = work.delivery
        if isinstance(delivery, PMDelivery):
            delivery.attempts = attempts
        return delivery  # type: ignore[return-value]  # None only when record=False

    def handle_delivery(
        self,
        trigger_bytes: bytes,
        redelivered: bool,
        trigger_id: int | None = None,
        trigger: Any = None,
        compare: bool = True,
    ) -> DeliveryWork:
        """The process manager's first step of a delivery (same contract as
        :meth:`SagaHarness.handle_delivery`): Prepare, the PM state stream, Handle, then
        persist the process events before the commands are stamped and checked."""
        PM = wire.process_manager_pb2
        work = self._begin(trigger_bytes, trigger_id, trigger, {})
        trigger = work.trigger
        delivery = self._record(work, redelivered, trigger_bytes)
        correlation_id = trigger.cover.correlation_id
        if not correlation_id:
            work.skipped = True
            if delivery is not None:
                delivery.skipped = True
            return work
        core = self.profile == "core"
        state: Stream | None
        if core:  # fetched by correlation id; a new workflow has none
            state = self._core_store.fetch(correlation_id)
            state_book = (
                None
                if state is None
                else state.book(self._core_store.state_cover(state, correlation_id))
            )
        else:
            state = self._pm_stream(correlation_id)
            state_book = state.book(self._pm_cover(correlation_id))
        try:
            if self.prepare:
                covers = self.pm_target.prepare_covers(
                    PM.ProcessManagerPrepareRequest(
                        trigger=trigger, process_state=state_book
                    ).SerializeToString()
                )
                if delivery is not None:
                    delivery.prepared = covers
                work.seqs = self._prepared_sequences(covers)
            else:
                work.seqs = self._sequence_map()
            request = PM.ProcessManagerHandleRequest(
                trigger=trigger, process_state=state_book, destination_sequences=work.seqs
            )
            request_bytes = request.SerializeToString()
            if delivery is not None:
                delivery.request = PM.ProcessManagerHandleRequest.FromString(request_bytes)
            response, response_bytes = self.pm_target.handle_bytes(request_bytes)
        except Exception as exc:  # nack + requeue: the caller redelivers
            work.error = exc
            if delivery is not None:
                delivery.error = exc
            self.oracle.handler_failed(work, exc)
            return work
        if delivery is not None:
            returned = PM.ProcessManagerHandleResponse.FromString(response_bytes)
            delivery.commands = [RecordedCommand(c) for c in returned.commands]
        # A PM is stateful: only deliveries that saw the same state must emit the same.
        if compare:  # False: the caller knows the trigger is never delivered again
            head = state.next_sequence if state is not None else -1
            self.oracle.check_determinism(
                work, response, response_bytes, key=hash((work.trigger_id, head))
            )
        if core:
            if not self._persist_core(work, state, response, correlation_id):
                return work  # nacked and requeued: no command is sent
            self.take_output(work, response.commands, response.facts)
            return work
        assert state is not None
        events = self._persist_process_events(work, state, response)
        if delivery is not None:
            delivery.process_events = events
        prior = state.next_sequence - 1 - len(events) if state.next_sequence else None
        source_seq = (
            events[-1].header.sequence
            if events
            else (prior if prior is not None and prior >= 0 else 0)
        )
        work.pm_source = (self._pm_cover(correlation_id), source_seq)
        self.take_output(work, response.commands, response.facts)
        return work

    def _pm_cover(self, correlation_id: str) -> Any:
        T = wire.types_pb2
        return T.Cover(
            domain=self.pm_domain,
            root=T.UUID(value=pm_root(correlation_id)),
            correlation_id=correlation_id,
        )

    def _pm_stream(self, correlation_id: str) -> Stream:
        stream = self._pm_streams.get(correlation_id)
        if stream is None:
            stream = self._pm_streams[correlation_id] = Stream(
                self.pm_domain, pm_root(correlation_id)
            )
        return stream

    def _prepared_sequences(self, covers: list[Any]) -> dict[str, int]:
        seqs: dict[str, int] = {}
        for cover in covers:
            if cover.domain in seqs:
                continue  # one value per domain: the first destination declared
            stream = self.store.find(cover.domain, cover.root.value, edition_name(cover))
            seqs[cover.domain] = stream.next_sequence if stream else 0
        return seqs

    def _persist_process_events(
        self, work: DeliveryWork, state: Stream, response: Any
    ) -> list[Any]:
        """Persist the PM's events to its stream (sequences from the head when unset, as the
        SDK leaves them), before any command is sent."""
        pages = [
            wire.types_pb2.EventPage.FromString(p.SerializeToString())
            for p in response.process_events.pages
        ]
        if not pages:
            return []
        head = state.next_sequence
        for i, page in enumerate(pages):
            if not (page.HasField("header") and page.header.WhichOneof("sequence_type")):
                page.header.sequence = head + i
        if pages[0].header.sequence != head:
            self.oracle.process_events_conflict(work, state, pages)
            return []
        state.extend(pages)
        state.applied += 1
        self.oracle.state_persisted(work, state)
        return pages

    def _persist_core(
        self, work: DeliveryWork, state: Stream | None, response: Any, correlation_id: str
    ) -> bool:
        """Persist the process events as core does (:mod:`.pm_store`), before any command;
        ``False``: the store refused them, so nothing is sent and the trigger is requeued."""
        book = response.process_events
        if book.HasField("cover"):  # core gives a book's cover the trigger's edition
            copy_edition(book.cover, work.trigger.cover)
        try:
            stream, pages = self._core_store.persist(book, correlation_id)
        except PersistRejected as exc:
            work.error = exc
            if work.delivery is not None:
                work.delivery.error = exc
            self.oracle.persist_rejected(work, exc, len(response.commands))
            return False
        if stream is not None:
            stream.applied += 1
            self.oracle.state_persisted(work, stream)
        if work.delivery is not None:
            work.delivery.process_events = pages
        work.pm_source = (self._pm_cover(correlation_id), pm_source_seq(list(book.pages), state))
        return True

    def _stamp(self, command: Any, trigger: Any, work: DeliveryWork | None = None) -> None:
        if command.HasField("cover"):  # core fills in only a cover that exists
            cover = command.cover
            copy_edition(cover, trigger.cover)
            if not cover.correlation_id:
                cover.correlation_id = trigger.cover.correlation_id
        if self.profile == "sequence-map" or work is None:
            return
        source, source_seq = work.pm_source
        for page in command.pages:
            deferred = page.header.angzarr_deferred
            if page.header.WhichOneof("sequence_type") == "angzarr_deferred":
                # the handler's own deferred header: core fills in only a missing source and
                # keeps the handler's source_seq (execute_pm_commands)
                if not deferred.HasField("source"):
                    deferred.source.CopyFrom(source)
                continue
            deferred.source.CopyFrom(source)
            deferred.source_seq = source_seq
