"""angzarr's per-command destination pipeline (the business-logic call is business.py).

The pipeline follows DESIGN.md section 3 ("Destination aggregate pipeline") step by step:
cover validation, deferred dedupe, deferred restamping, explicit sequence check by merge
strategy, business logic, persistence with the dedupe tag. It knows nothing of sagas; the
coordinator tells it, per command, which delivery and emission index it belongs to so the
oracle can tell a legitimate dedupe hit from a collision.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from .. import wire
from .business import BusinessRejected, EchoPages, echo_pages, normalize_events, run_business_logic
from .commands import check_command, check_fact
from .covers import edition_name
from .outcomes import (
    ALREADY_PROCESSED,
    APPLIED,
    DEAD_LETTERED,
    DEDUPED,
    REJECTED,
    RETRYABLE,
    SEQUENCE_CONFLICT,
    SEQUENCE_MISMATCH,
    SEQUENCE_MISMATCH_DLQ_SUFFIX,
    SEQUENCE_MISMATCH_OVERLAP,
    Outcome,
    Pending,
)
from .specs import DEFAULT_SPEC, AggregateSpec
from .store import DedupeEntry, EventStore, Stream, pack_entry, source_key

__all__ = ["EchoPages", "Pipeline", "normalize_events"]


class Pipeline:
    """angzarr's destination aggregate pipeline over an :class:`EventStore`.

    ``core`` applies angzarr core HEAD's rules where they differ from the seed protocol's
    (docs/profiles.md): a deferred command is checked against the history as expecting
    sequence 0 by its merge strategy (core's H-18), and an explicit sequence that does not
    match is refused as retryable for every strategy but MERGE_AGGREGATE_HANDLES, as the
    deployed aggregate sidecar's pre-validation does. Without it, the seed protocol's rules:
    deferred commands are never compared with the history, and an explicit mismatch is
    decided by merge strategy (MERGE_MANUAL dead-letters)."""

    def __init__(
        self, store: EventStore, *, core: bool = False, dedupe_store: str = "postgres"
    ) -> None:
        self.store = store
        self.core = core
        #: core's storage backend: ``"sqlite"`` stores no dedupe source for a deferred
        #: command whose source edition is the empty string, so it never dedupes
        self.dedupe_store = dedupe_store
        #: (stream, external_id) -> (the stored fact's event bytes, the delivery that sent it):
        #: a later fact deduped on the id with other events is a fact-collision
        self.fact_contents: dict[tuple[str, str, bytes, str], tuple[bytes, int]] = {}
        self.specs: dict[str, AggregateSpec] = {}
        self.dead_letters: list[Any] = []

    def spec(self, domain: str) -> AggregateSpec:
        return self.specs.get(domain) or DEFAULT_SPEC

    # -- commands ---------------------------------------------------------------------
    def execute(
        self,
        command: Any,
        delivery: int = 0,
        index: int = 0,
        trigger: int = 0,
        *,
        checked: bool = False,
    ) -> Outcome:
        """Run one command through the pipeline and return this attempt's outcome.

        ``delivery`` and ``index`` say which delivery sent it and at which emission index,
        so a dedupe hit on an entry stored by another command of the same delivery can be
        told apart (a collision); ``trigger`` identifies the trigger event, so a hit on an
        entry another trigger stored is one too. ``checked``: the caller already found the
        command valid with :func:`~angzarr_testkit.framework.commands.check_command` (the
        coordinator does, once per emitted command), so the check is not repeated."""
        prepared = self._prepare(command, delivery, index, trigger, checked)
        if type(prepared) is Outcome:
            return prepared
        return self._commit(*prepared)

    def prepare(
        self,
        command: Any,
        delivery: int = 0,
        index: int = 0,
        trigger: int = 0,
        *,
        checked: bool = False,
    ) -> Outcome | Pending:
        """Steps 1-5: validate, dedupe lookup, sequence check, business logic."""
        prepared = self._prepare(command, delivery, index, trigger, checked)
        return prepared if type(prepared) is Outcome else Pending(*prepared)

    def commit(self, pending: Pending) -> Outcome:
        """Step 6: persist the new pages if the head has not moved, tag them for dedupe."""
        p = pending
        return self._commit(
            p.stream,
            p.command,
            p.key,
            p.head,
            p.pages,
            p.delivery,
            p.index,
            p.trigger,
            p.expected,
            p.actual,
        )

    def _prepare(
        self, command: Any, delivery: int, index: int, trigger: int, checked: bool
    ) -> Outcome | tuple:
        """:meth:`prepare`'s steps; a command that passes them comes back as the fields of
        its :class:`Pending` (a tuple: :meth:`execute` commits it without building one)."""
        T = wire.types_pb2
        # What core's parse/validate steps refuse before anything else (the coordinator
        # reports it as invalid-command; this is the destination's answer).
        problems = () if checked else check_command(command)
        if problems:
            return Outcome(REJECTED, "INVALID_ARGUMENT", problems[0].status)
        cover = command.cover
        domain = cover.domain
        stream = self.store.stream(domain, cover.root.value, edition_name(cover))
        page0 = command.pages[0]
        kind = page0.header.WhichOneof("sequence_type") if page0.HasField("header") else None

        key = None
        if (
            kind == "angzarr_deferred"
            and page0.header.angzarr_deferred.source.domain
            and self._keyed(page0.header.angzarr_deferred)
        ):
            key = source_key(page0.header.angzarr_deferred)
            hit = stream.dedupe.get(key)
            if hit is not None:
                return self._deduped(
                    stream, command, delivery, index, trigger, key, DedupeEntry.unpack(hit)
                )

        actual = stream.next_sequence
        expected: int | None = None
        spec = self.specs.get(domain)
        handler = spec.handler if spec is not None else None
        check_overlap = False
        if kind in ("angzarr_deferred", "external_deferred"):
            if self.core and actual:
                # H-18: a deferred command expects sequence 0, so any history is a mismatch
                # that its merge strategy decides (STRICT and AGGREGATE_HANDLES apply).
                strategy = page0.merge_strategy
                if strategy == T.MERGE_MANUAL:
                    expected = 0
                    mismatch = f"{SEQUENCE_MISMATCH}0, aggregate at {actual}"
                    self._dead_letter(command, mismatch, 0, actual)
                    return Outcome(
                        DEAD_LETTERED,
                        "ABORTED",
                        mismatch + SEQUENCE_MISMATCH_DLQ_SUFFIX,
                        expected=0,
                        actual=actual,
                    )
                check_overlap = strategy == T.MERGE_COMMUTATIVE
            if handler is not None:  # business logic sees the restamped command
                restamped = T.CommandBook()
                restamped.CopyFrom(command)
                for i, page in enumerate(restamped.pages):
                    page.header.sequence = actual + i
                command = restamped
        else:
            expected = page0.header.sequence if kind == "sequence" else 0
            if expected != actual:
                mismatch = f"{SEQUENCE_MISMATCH}{expected}, aggregate at {actual}"
                strategy = page0.merge_strategy
                if self.core:
                    # the sidecar's pre-validation: retryable whatever the strategy, MANUAL
                    # included, unless the aggregate handles merging itself
                    if strategy != T.MERGE_AGGREGATE_HANDLES:
                        return Outcome(
                            RETRYABLE,
                            "FAILED_PRECONDITION",
                            mismatch,
                            expected=expected,
                            actual=actual,
                        )
                elif strategy == T.MERGE_MANUAL:
                    self._dead_letter(command, mismatch, expected, actual)
                    return Outcome(
                        DEAD_LETTERED, "ABORTED", mismatch, expected=expected, actual=actual
                    )
                elif strategy == T.MERGE_COMMUTATIVE:
                    # the seed protocol decides before business logic runs
                    refused = self._overlap_check(command, expected, actual)
                    if refused is not None:
                        return refused
                elif strategy != T.MERGE_AGGREGATE_HANDLES:
                    return Outcome(
                        RETRYABLE, "FAILED_PRECONDITION", mismatch, expected=expected, actual=actual
                    )

        if handler is None:
            # The default business logic: one event per command page carrying its payload,
            # already serialized at the sequences it will have (bytes, no page objects).
            pages: list[Any] | EchoPages = echo_pages(command, actual)
        else:
            try:
                pages = run_business_logic(handler, stream, command)
            except BusinessRejected as rejected:
                return Outcome(
                    REJECTED, rejected.code, rejected.message, expected=expected, actual=actual
                )
        if check_overlap:
            # MERGE_COMMUTATIVE after business logic ran: the field check decides
            refused = self._overlap_check(command, expected or 0, actual)
            if refused is not None:
                return refused
        return (stream, command, key, actual, pages, delivery, index, trigger, expected, actual)

    def _keyed(self, deferred: Any) -> bool:
        """Whether core looks up and stores a dedupe source for this deferred header: not
        for a source without a root (``deferred_to_source_info`` gives none), nor under the
        SQLite backend for a source whose edition is the empty string (its ``add`` stores the
        source columns only for a non-empty edition). The seed profiles always do."""
        if not self.core:
            return True
        source = deferred.source
        if not source.HasField("root"):
            return False
        return self.dedupe_store != "sqlite" or bool(source.edition.name)

    def _overlap_check(self, command: Any, expected: int, actual: int) -> Outcome | None:
        """A MERGE_COMMUTATIVE command whose sequence does not match: ``None`` when the
        domain declares its change disjoint from the history (it applies); else a final
        rejection when the changes overlap (``merge="overlapping"``), or a retryable mismatch
        when nothing can prove them disjoint (an aggregate without Replay)."""
        spec = self.spec(command.cover.domain)
        if spec.commutative(command):
            return None
        if spec.overlapping:
            return Outcome(
                REJECTED,
                "FAILED_PRECONDITION",
                f"{SEQUENCE_MISMATCH_OVERLAP}{expected}, aggregate at {actual}",
                expected=expected,
                actual=actual,
            )
        return Outcome(
            RETRYABLE,
            "FAILED_PRECONDITION",
            f"{SEQUENCE_MISMATCH}{expected}, aggregate at {actual}",
            expected=expected,
            actual=actual,
        )

    def _commit(
        self,
        stream: Stream,
        command: Any,
        key: bytes | None,
        at: int,
        new_pages: Any,
        delivery: int,
        index: int,
        trigger: int,
        expected: int | None,
        actual: int,
    ) -> Outcome:
        """:meth:`commit` over a :class:`Pending`'s fields. ``new_pages`` is a list of
        ``EventPage`` (business logic's) or an :class:`EchoPages` (already serialized)."""
        head = stream.next_sequence
        echo = type(new_pages) is EchoPages
        if echo:
            count = len(new_pages.raw)
            first = at  # the echo's pages were serialized from the head it was prepared on
        else:
            for i, page in enumerate(new_pages):
                if not (page.HasField("header") and page.header.WhichOneof("sequence_type")):
                    page.header.sequence = at + i
            if self.core:
                # persist_events keeps only the pages after the history it loaded
                new_pages = [page for page in new_pages if page.header.sequence >= at]
            count = len(new_pages)
            first = new_pages[0].header.sequence if count else at
        if first != head and (count or not self.core):  # core: no new page is a no-op
            return Outcome(
                RETRYABLE,
                "FAILED_PRECONDITION",
                f"{SEQUENCE_CONFLICT}expected {head}, got {first}",
                expected=expected if count else None,
                actual=actual if count else None,
            )
        if echo:
            stream.extend_raw(new_pages.raw, at + count)
            pages: Any = partial(stream.page_range, at, count)
        else:
            for prev, page in zip(new_pages, new_pages[1:], strict=False):
                if page.header.sequence <= prev.header.sequence:
                    return Outcome(
                        REJECTED,
                        "INTERNAL",
                        f"Business logic returned non-increasing sequences "
                        f"{prev.header.sequence} then {page.header.sequence}",
                    )
            stream.extend(new_pages)
            pages = new_pages
        noop = not count and self.core
        if noop:
            key = None  # core writes nothing for a no-op (no new page), so it tags nothing
        if key is not None:
            stream.dedupe[key] = pack_entry(head, count, delivery, index, trigger)
        stream.applied += 1
        return Outcome(
            APPLIED,
            events_args=(command.cover, pages, stream.next_sequence),
            dedupe=(stream, key) if key is not None else None,
            expected=expected,
            actual=actual,
            noop=noop,
        )

    def _deduped(
        self,
        stream: Stream,
        command: Any,
        delivery: int,
        index: int,
        trigger: int,
        key: bytes,
        hit: DedupeEntry,
    ) -> Outcome:
        # The stored events come back under the in-flight command's cover (its correlation
        # id); business logic does not run and nothing is persisted. A hit on an entry that
        # another command of this delivery stored, or that another trigger stored, is a
        # collision: this command is silently dropped.
        stream.deduped += 1
        collided = (hit.delivery == delivery and hit.index != index) or hit.trigger != trigger
        return Outcome(
            DEDUPED,
            events_args=(
                command.cover,
                lambda: stream.page_range(hit.first, hit.count),
                stream.next_sequence,
            ),
            dedupe=(stream, key),
            collided_with=hit.index if collided else None,
            collided_delivery=hit.delivery if collided else None,
        )

    def _dead_letter(self, command: Any, reason: str, expected: int, actual: int) -> None:
        T = wire.types_pb2
        letter = T.AngzarrDeadLetter(
            cover=command.cover,
            rejected_command=command,
            rejection_reason=reason,
            source_component_type="aggregate",
            source_component=command.cover.domain,
        )
        letter.sequence_mismatch.expected_sequence = expected
        letter.sequence_mismatch.actual_sequence = actual
        letter.sequence_mismatch.merge_strategy = T.MERGE_MANUAL
        self.dead_letters.append(letter)

    # -- facts ------------------------------------------------------------------------
    def inject_fact(self, fact: Any, delivery: int = 0) -> Outcome:
        """Inject a fact ``EventBook`` (``SagaResponse.events``): external-id dedupe.

        A fact deduped on an id that a fact with other events stored comes back
        ``already-processed`` with ``message`` saying so and ``collided_delivery`` naming the
        delivery that stored it (the oracle's ``fact-collision``)."""
        T = wire.types_pb2
        problems = check_fact(fact)
        if problems:
            return Outcome(REJECTED, "INVALID_ARGUMENT", problems[0].status)
        # core needs one external_deferred page (the fact marker) and dedupes on page 0's
        # non-empty external_id (pipeline.rs execute_fact_pipeline).
        ids = [
            p.header.external_deferred.external_id
            for p in fact.pages
            if p.header.WhichOneof("sequence_type") == "external_deferred"
        ]
        stream = self.store.stream(
            fact.cover.domain, fact.cover.root.value, edition_name(fact.cover)
        )
        page0 = fact.pages[0].header
        first_id = (
            page0.external_deferred.external_id
            if page0.WhichOneof("sequence_type") == "external_deferred"
            else ""
        )
        where = (stream.domain, stream.edition, stream.root, first_id)
        content = b"".join(page.event.SerializeToString() for page in fact.pages)
        if first_id and first_id in stream.external_ids:
            stored = self.fact_contents.get(where)
            differs = stored is not None and stored[0] != content
            return Outcome(
                ALREADY_PROCESSED,
                message=f"external_id {first_id!r} was stored by a fact with other events"
                if differs
                else "",
                events=T.EventBook(cover=fact.cover, next_sequence=stream.next_sequence),
                collided_delivery=stored[1] if differs and stored is not None else None,
            )
        head = stream.next_sequence
        pages = []
        for i, page in enumerate(fact.pages):
            copy = T.EventPage()
            copy.CopyFrom(page)
            copy.header.sequence = head + i
            pages.append(copy)
        stream.extend(pages)
        if self.core:  # execute_fact_pipeline stores one id per book: page 0's
            if first_id:
                stream.external_ids.add(first_id)
        else:
            stream.external_ids.update(ids)
        if first_id:
            self.fact_contents[where] = (content, delivery)
        return Outcome(
            APPLIED,
            events=T.EventBook(cover=fact.cover, pages=pages, next_sequence=stream.next_sequence),
        )
