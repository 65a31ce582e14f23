"""Simulated destination aggregates: the event store and angzarr's per-command pipeline.

The pipeline follows DESIGN.md section 3 ("Destination aggregate pipeline") step by step:
cover validation, deferred dedupe, deferred restamping, explicit sequence check by merge
strategy, business logic, persistence with the dedupe tag. It knows nothing of sagas; the
coordinator tells it, per command, which delivery and emission index it belongs to so the
oracle can tell a legitimate dedupe hit from a collision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from google.protobuf import empty_pb2

from .. import wire
from ..errors import (
    ConfigurationError,
    InvalidArgumentError,
    UsageError,
    UserCodeError,
    describe_exception,
    safe_repr,
)
from ..ids import root_str
from ..validate import DOMAIN_RE, check_callable, check_uint32, checked, usage_error
from .commands import check_command, check_fact
from .encode import length_delimited, varint
from .targets import describe_value, message_full_name

__all__ = [
    "AggregateSpec",
    "DedupeEntry",
    "EventStore",
    "Outcome",
    "Pipeline",
    "Stream",
    "edition_name",
    "normalize_events",
    "stream_label",
]

MAIN_EDITIONS = ("", "angzarr")

APPLIED = "applied"
DEDUPED = "deduped"
REJECTED = "rejected"
RETRIED_OUT = "retried-out"
DEAD_LETTERED = "dead-lettered"
ALREADY_PROCESSED = "already-processed"
NOT_SENT = "not-sent"  # the consumer crashed before sending it
RETRYABLE = "retryable"  # an attempt's status only; never a final outcome

SUCCESS_STATUSES = (APPLIED, DEDUPED, ALREADY_PROCESSED)


def edition_name(cover: Any) -> str:
    """The cover's edition with the main timeline normalised to ``""``."""
    name = cover.edition.name if cover.HasField("edition") else ""
    return "" if name in MAIN_EDITIONS else name


def stream_label(domain: str, root: bytes, edition: str = "") -> str:
    """``domain/root`` (with ``@edition`` off the main timeline) for reports."""
    label = f"{domain}/{root_str(root)}"
    return f"{label}@{edition}" if edition else label


class Outcome:
    """What happened to one command (one attempt, or the final word on it).

    Attributes:
        status: applied, deduped, rejected, retried-out, dead-lettered, already-processed,
            not-sent (final) or retryable (an attempt that may be retried).
        code: gRPC-style status code for failures (``FAILED_PRECONDITION``, ...).
        message: the failure message (e.g. ``Sequence mismatch: command expects 5, ...``).
        events: the ``EventBook`` returned (persisted or, on a dedupe hit, the cached one);
            built on first access.
        attempts: how many times the coordinator sent it.
        expected: the command's explicit sequence, if any.
        actual: the aggregate's next sequence when it was checked.
        dedupe_key: the full deferred dedupe key the command was stored or found under.
        collided_with: on a colliding dedupe hit, the emission index of the command whose
            events were returned, else ``None``.
        collided_delivery: and the delivery that sent it (this one, or another trigger's).
    """

    __slots__ = (
        "_events",
        "_events_args",
        "actual",
        "attempts",
        "code",
        "_dedupe",
        "collided_delivery",
        "collided_with",
        "expected",
        "message",
        "status",
    )

    def __init__(
        self,
        status: str,
        code: str = "OK",
        message: str = "",
        events: Any = None,
        attempts: int = 1,
        expected: int | None = None,
        actual: int | None = None,
        dedupe: tuple[Stream, bytes] | None = None,
        collided_with: int | None = None,
        collided_delivery: int | None = None,
        events_args: tuple | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self._events = events
        self._events_args = events_args
        self.attempts = attempts
        self.expected = expected
        self.actual = actual
        self._dedupe = dedupe
        self.collided_with = collided_with
        self.collided_delivery = collided_delivery

    @property
    def events(self) -> Any:
        if self._events is None and self._events_args is not None:
            cover, pages, next_sequence = self._events_args
            self._events = wire.types_pb2.EventBook(
                cover=cover,
                pages=pages() if callable(pages) else pages,
                next_sequence=next_sequence,
            )
        return self._events

    @property
    def dedupe_key(self) -> tuple | None:
        """The full deferred dedupe key (target domain, edition, root, source edition,
        domain, root, source_seq) the command was stored or found under, if any."""
        return None if self._dedupe is None else full_key(*self._dedupe)

    @property
    def ok(self) -> bool:
        """Whether the command got through (applied, deduped or already processed)."""
        return self.status in SUCCESS_STATUSES

    @property
    def retryable(self) -> bool:
        return self.status == RETRYABLE

    def __repr__(self) -> str:
        if self.ok:
            n = len(self.events.pages) if self.events is not None else 0
            return f"<{self.status}: {n} event(s)>"
        if self.status == NOT_SENT:
            return "<not-sent>"
        return f"<{self.status}: {self.code} {self.message!r}>"


class DedupeEntry(NamedTuple):
    """Where the events stored under one deferred dedupe key sit, and who stored them.

    Streams keep entries packed into one int (:meth:`pack`): a storm keeps millions."""

    first: int
    count: int
    delivery: int
    index: int
    trigger: int = 0

    def pack(self) -> int | DedupeEntry:
        if (
            self.first >= 1 << 32
            or self.count >= 1 << 16
            or self.index >= 1 << 16
            or self.delivery >= 1 << 40
        ):
            return self  # too wide to pack: kept as is
        return (
            self.first
            | self.count << 32
            | self.index << 48
            | self.delivery << 64
            | self.trigger << 104
        )

    @classmethod
    def unpack(cls, value: int | DedupeEntry) -> DedupeEntry:
        if isinstance(value, DedupeEntry):
            return value
        return cls(
            value & 0xFFFFFFFF,
            value >> 32 & 0xFFFF,
            value >> 64 & (1 << 40) - 1,
            value >> 48 & 0xFFFF,
            value >> 104,
        )


@dataclass
class Stream:
    """One simulated aggregate: its pages and the bookkeeping the oracle reads.

    Pages are kept serialized (a parsed ``EventPage`` costs ~10x its bytes in memory, and a
    storm keeps millions); :attr:`pages` parses them on demand. Append with :meth:`extend`
    only: it keeps ``next_sequence``, which the pipeline reads on every command.

    A history may start from a snapshot (:meth:`start_at`): ``given_destination(
    next_sequence=N)`` is modelled as an angzarr snapshot at ``N - 1`` with no pages, so a
    long history costs nothing. As in angzarr core (``EventBookRepository::get`` in
    ``src/repository/event_book/mod.rs`` loads the events after ``snapshot.sequence``, and
    ``calculate_next_sequence`` in ``src/proto_ext/books.rs`` gives last page + 1, else
    snapshot sequence + 1, else 0), the pages held are those after the snapshot."""

    domain: str
    root: bytes
    edition: str = ""
    raw_pages: list[bytes] = field(default_factory=list)
    applied: int = 0
    deduped: int = 0
    dedupe: dict[bytes, int | DedupeEntry] = field(default_factory=dict)
    external_ids: set[str] = field(default_factory=set)
    next_sequence: int = 0
    #: the sequence of the snapshot the history starts from, or ``None`` (no snapshot)
    snapshot_sequence: int | None = None
    _encoded: bytearray | None = field(default=None, repr=False)
    _encoded_count: int = field(default=0, repr=False)

    def start_at(self, next_sequence: int) -> None:
        """Give an empty stream a history of ``next_sequence`` events, held as a snapshot at
        ``next_sequence - 1`` (O(1) in ``next_sequence``; nothing when it is 0)."""
        if self.raw_pages or self.snapshot_sequence is not None:
            raise ValueError("start_at() needs an empty stream")  # an internal misuse
        if next_sequence:
            self.snapshot_sequence = next_sequence - 1
            self.next_sequence = next_sequence

    @property
    def has_history(self) -> bool:
        """Whether the stream holds any page or a snapshot."""
        return bool(self.raw_pages) or self.snapshot_sequence is not None

    @property
    def base(self) -> int:
        """The sequence of the first page held (the one after the snapshot, else 0)."""
        return 0 if self.snapshot_sequence is None else self.snapshot_sequence + 1

    def snapshot(self) -> Any:
        """The snapshot as an ``angzarr.Snapshot`` (its state an empty placeholder: the kit
        has no aggregate state to snapshot), or ``None``."""
        if self.snapshot_sequence is None:
            return None
        T = wire.types_pb2
        return T.Snapshot(sequence=self.snapshot_sequence, state=_pack(empty_pb2.Empty()))

    def extend(self, pages: list[Any]) -> None:
        """Append persisted pages (their header sequences are final)."""
        if pages:
            self.raw_pages.extend(page.SerializeToString() for page in pages)
            self.next_sequence = pages[-1].header.sequence + 1

    @property
    def pages(self) -> list[Any]:
        """Every page held (after the snapshot, if any), parsed (fresh objects)."""
        parse = wire.types_pb2.EventPage.FromString
        return [parse(raw) for raw in self.raw_pages]

    def page_range(self, first: int, count: int) -> list[Any]:
        """The ``count`` pages from sequence ``first`` on, parsed."""
        parse = wire.types_pb2.EventPage.FromString
        start = max(first - self.base, 0)
        return [parse(raw) for raw in self.raw_pages[start : start + count]]

    @property
    def label(self) -> str:
        return stream_label(self.domain, self.root, self.edition)

    def book(self, cover: Any | None = None) -> Any:
        """The stream as an ``EventBook`` (cover from ``cover`` or rebuilt; the snapshot,
        if any, and the pages after it)."""
        T = wire.types_pb2
        if cover is None:
            cover = T.Cover(domain=self.domain, root=T.UUID(value=self.root))
            if self.edition:
                cover.edition.name = self.edition
        return T.EventBook(
            cover=cover,
            snapshot=self.snapshot(),
            pages=self.pages,
            next_sequence=self.next_sequence,
        )

    def book_bytes(self) -> bytes:
        """The stream as a serialized ``EventBook`` (rebuilt cover, the snapshot if any),
        built from the stored page bytes without parsing them; the encoded pages are kept
        and extended incrementally, so business logic over a long history stays cheap."""
        if self._encoded is None:
            self._encoded, self._encoded_count = bytearray(), 0
        for raw in self.raw_pages[self._encoded_count :]:
            self._encoded += length_delimited(b"\x1a", raw)
        self._encoded_count = len(self.raw_pages)
        T = wire.types_pb2
        cover = T.Cover(domain=self.domain, root=T.UUID(value=self.root))
        if self.edition:
            cover.edition.name = self.edition
        snapshot = self.snapshot()
        head = length_delimited(b"\x0a", cover.SerializeToString())
        if snapshot is not None:
            head += length_delimited(b"\x12", snapshot.SerializeToString())
        tail = b"\x30" + varint(self.next_sequence) if self.next_sequence else b""
        return head + bytes(self._encoded) + tail


class EventStore:
    """All simulated streams, keyed by (domain, edition, root)."""

    def __init__(self) -> None:
        self.streams: dict[tuple[str, str, bytes], Stream] = {}
        #: the first main-timeline stream created in each domain
        self.first_in_domain: dict[str, Stream] = {}

    def stream(self, domain: str, root: bytes, edition: str = "") -> Stream:
        key = (domain, edition, root)
        found = self.streams.get(key)
        if found is None:
            found = self.streams[key] = Stream(domain, bytes(root), edition)
            if not edition:
                self.first_in_domain.setdefault(domain, found)
        return found

    def find(self, domain: str, root: bytes, edition: str = "") -> Stream | None:
        return self.streams.get((domain, edition, bytes(root)))


BusinessLogic = Callable[[Any], Any]
Commutative = Callable[[Any], bool]


@dataclass
class AggregateSpec:
    """How a destination domain behaves.

    Attributes:
        handler: business logic ``fn(ContextualCommand) -> events``; ``None`` accepts every
            command and records one event per command page (the command itself, repacked).
        commutative: whether the domain declares a command's change commutative (used for
            MERGE_COMMUTATIVE commands whose sequence does not match).
    """

    handler: BusinessLogic | None = None
    commutative: Commutative = field(default=lambda command: False)


_DEFAULT_SPEC = AggregateSpec()


def merge_policy(merge: str | Commutative) -> Commutative:
    """Turn ``given_aggregate(merge=...)`` into a commutativity predicate.

    Raises (at the ``given_aggregate`` call):
        ConfigurationError: a string other than ``"strict"`` or ``"commutative"``.
        UsageTypeError: neither a string nor a callable taking one argument.

    A user callable is wrapped: when it raises, or returns anything but a ``bool``, the
    predicate raises :class:`~angzarr_testkit.errors.UserCodeError` naming it (the original
    exception chained), out of the ``deliver()`` whose command needed the decision.
    """

    accepted = (
        "'strict' (the domain declares no change commutative), 'commutative' (it declares "
        "every change commutative) or a callable fn(CommandBook) -> bool"
    )
    if isinstance(merge, str):
        if merge == "strict":
            return lambda command: False
        if merge == "commutative":
            return lambda command: True
        raise ConfigurationError(
            f"merge: got {safe_repr(merge)}; expected {accepted} (given_aggregate(domain, "
            "merge=...))",
            details={"parameter": "merge", "value": safe_repr(merge), "accepted": accepted},
        )
    if not callable(merge):
        raise usage_error("merge", merge, accepted, type_error=True)
    check_callable(merge, "merge", arity=1, signature="a callable fn(CommandBook) -> bool")
    name = getattr(merge, "__qualname__", None) or type(merge).__name__
    fn = merge

    def commutative(command: Any) -> bool:
        domain = command.cover.domain
        try:
            result = fn(command)
        except UsageError:
            raise
        except (Exception, SystemExit) as exc:  # the user's merge policy, not the code under test
            raise UserCodeError(
                f"merge function {name} (given_aggregate(merge=...)) raised "
                f"{describe_exception(exc)} deciding whether a command to '{domain}' is "
                "commutative",
                details={"callable": name, "error": type(exc).__name__, "domain": domain},
            ) from exc
        if not isinstance(result, bool):
            raise UserCodeError(
                f"merge function {name} (given_aggregate(merge=...)) returned "
                f"{safe_repr(result)} ({type(result).__name__}) for a command to '{domain}'; "
                "it must return True (the change is commutative: apply it despite the "
                "sequence mismatch) or False",
                details={"callable": name, "domain": domain, "returned": type(result).__name__},
            )
        return result

    return commutative


@dataclass
class Pending:
    """A command that passed the checks and ran its business logic, not yet persisted.

    Splitting ``prepare`` from ``commit`` lets the storm model two consumers that both miss
    the dedupe lookup and run business logic on the same head: the second commit then fails
    with ``Sequence conflict`` (retryable), as angzarr's event store does.
    """

    stream: Stream
    command: Any
    key: tuple | None
    head: int
    pages: list[Any]
    delivery: int
    index: int
    trigger: int
    expected: int | None
    actual: int


class Pipeline:
    """angzarr's destination aggregate pipeline over an :class:`EventStore`."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.specs: dict[str, AggregateSpec] = {}
        self.dead_letters: list[Any] = []

    def spec(self, domain: str) -> AggregateSpec:
        return self.specs.get(domain) or _DEFAULT_SPEC

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
        prepared = self.prepare(command, delivery, index, trigger, checked=checked)
        return prepared if isinstance(prepared, Outcome) else self.commit(prepared)

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
        T = wire.types_pb2
        # What core's parse/validate steps refuse before anything else (the coordinator
        # reports it as invalid-command; this is the destination's answer).
        problems = () if checked else check_command(command)
        if problems:
            return Outcome(REJECTED, "INVALID_ARGUMENT", problems[0].status)
        cover = command.cover
        stream = self.store.stream(cover.domain, cover.root.value, edition_name(cover))
        page0 = command.pages[0]
        kind = page0.header.WhichOneof("sequence_type") if page0.HasField("header") else None

        key = None
        if kind == "angzarr_deferred" and page0.header.angzarr_deferred.source.domain:
            key = source_key(page0.header.angzarr_deferred)
            hit = stream.dedupe.get(key)
            if hit is not None:
                return self._deduped(
                    stream, command, delivery, index, trigger, key, DedupeEntry.unpack(hit)
                )

        actual = stream.next_sequence
        expected: int | None = None
        handler = self.spec(stream.domain).handler
        if kind in ("angzarr_deferred", "external_deferred"):
            if handler is not None:  # business logic sees the restamped command
                restamped = T.CommandBook()
                restamped.CopyFrom(command)
                for i, page in enumerate(restamped.pages):
                    page.header.sequence = actual + i
                command = restamped
        else:
            expected = page0.header.sequence if kind == "sequence" else 0
            if expected != actual:
                mismatch = f"Sequence mismatch: command expects {expected}, aggregate at {actual}"
                strategy = page0.merge_strategy
                if strategy == T.MERGE_MANUAL:
                    self._dead_letter(command, mismatch, expected, actual)
                    return Outcome(
                        DEAD_LETTERED, "ABORTED", mismatch, expected=expected, actual=actual
                    )
                applies = strategy == T.MERGE_AGGREGATE_HANDLES or (
                    strategy == T.MERGE_COMMUTATIVE and self.spec(cover.domain).commutative(command)
                )
                if not applies:
                    return Outcome(
                        RETRYABLE, "FAILED_PRECONDITION", mismatch, expected=expected, actual=actual
                    )

        if handler is None:
            pages = _echo_pages(command)
        else:
            try:
                pages = _run_business_logic(handler, stream, command)
            except _Rejected as rejected:
                return Outcome(
                    REJECTED, rejected.code, rejected.message, expected=expected, actual=actual
                )
        return Pending(
            stream, command, key, actual, pages, delivery, index, trigger, expected, actual
        )

    def commit(self, pending: Pending) -> Outcome:
        """Step 6: persist the new pages if the head has not moved, tag them for dedupe."""
        stream, new_pages = pending.stream, pending.pages
        head = stream.next_sequence
        for i, page in enumerate(new_pages):
            if not (page.HasField("header") and page.header.WhichOneof("sequence_type")):
                page.header.sequence = pending.head + i
        if new_pages:
            first = new_pages[0].header.sequence
            if first != head:
                return Outcome(
                    RETRYABLE,
                    "FAILED_PRECONDITION",
                    f"Sequence conflict: expected {head}, got {first}",
                    expected=pending.expected,
                    actual=pending.actual,
                )
            for prev, page in zip(new_pages, new_pages[1:], strict=False):
                if page.header.sequence <= prev.header.sequence:
                    return Outcome(
                        REJECTED,
                        "INTERNAL",
                        f"Business logic returned non-increasing sequences "
                        f"{prev.header.sequence} then {page.header.sequence}",
                    )
        elif head != pending.head:
            return Outcome(
                RETRYABLE,
                "FAILED_PRECONDITION",
                f"Sequence conflict: expected {head}, got {pending.head}",
            )
        stream.extend(new_pages)
        if pending.key is not None:
            stream.dedupe[pending.key] = DedupeEntry(
                head, len(new_pages), pending.delivery, pending.index, pending.trigger
            ).pack()
        stream.applied += 1
        return Outcome(
            APPLIED,
            events_args=(pending.command.cover, new_pages, stream.next_sequence),
            dedupe=(stream, pending.key) if pending.key is not None else None,
            expected=pending.expected,
            actual=pending.actual,
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
    def inject_fact(self, fact: Any) -> Outcome:
        """Inject a fact ``EventBook`` (``SagaResponse.events``): external-id dedupe."""
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
        if first_id and first_id in stream.external_ids:
            return Outcome(
                ALREADY_PROCESSED,
                events=T.EventBook(cover=fact.cover, next_sequence=stream.next_sequence),
            )
        head = stream.next_sequence
        pages = []
        for i, page in enumerate(fact.pages):
            copy = T.EventPage()
            copy.CopyFrom(page)
            copy.header.sequence = head + i
            pages.append(copy)
        stream.extend(pages)
        stream.external_ids.update(ids)
        return Outcome(
            APPLIED,
            events=T.EventBook(cover=fact.cover, pages=pages, next_sequence=stream.next_sequence),
        )


class _Rejected(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class _Revoked(Exception):
    pass


class _BadResult(Exception):
    pass


def _run_business_logic(handler: BusinessLogic, stream: Stream, command: Any) -> list[Any]:
    """Call user business logic with a ``ContextualCommand`` (over bytes); its rejections
    become :class:`_Rejected`."""
    T, C = wire.types_pb2, wire.command_handler_pb2
    contextual = T.ContextualCommand.FromString(
        length_delimited(b"\x0a", stream.book_bytes())
        + length_delimited(b"\x12", command.SerializeToString())
    )
    try:
        return normalize_events(handler(contextual), C)
    except _Revoked as revoked:
        raise _Rejected("FAILED_PRECONDITION", f"Command revoked: {revoked}") from None
    except _BadResult as bad:
        raise _Rejected("INTERNAL", str(bad)) from None
    except Exception as exc:  # business logic rejected the command
        code = getattr(exc, "code", None)
        raise _Rejected(
            code if isinstance(code, str) else "FAILED_PRECONDITION", f"{type(exc).__name__}: {exc}"
        ) from None


def _echo_pages(command: Any) -> list[Any]:
    """Default business logic: accept, one event per command page carrying the command."""
    T = wire.types_pb2
    pages = [T.EventPage(event=page.command) for page in command.pages if page.HasField("command")]
    return pages or [T.EventPage(event=_pack(empty_pb2.Empty()))]


def _pack(message: Any) -> Any:
    from google.protobuf import any_pb2

    packed = any_pb2.Any()
    packed.Pack(message, type_url_prefix=wire.TYPE_URL_PREFIX)
    return packed


def normalize_events(raw: Any, C: Any) -> list[Any]:
    """Business logic's return value -> fresh ``EventPage`` list (sequences maybe unset).

    ``C`` is the generated ``command_handler_pb2`` module of the wire mode in use. Also used
    by the saga harness to normalise a given event list the same way."""
    T = wire.types_pb2
    name = message_full_name(raw)
    if name == "angzarr.BusinessResponse":
        response = C.BusinessResponse.FromString(raw.SerializeToString())
        which = response.WhichOneof("result")
        if which == "revocation":
            raise _Revoked(response.revocation.reason or "no reason given")
        if which == "events":
            raw, name = response.events, "angzarr.EventBook"
        else:
            return []
    if raw is None:
        return []
    if name == "angzarr.EventBook":
        return [T.EventPage.FromString(p.SerializeToString()) for p in raw.pages]
    if name == "angzarr.EventPage":
        return [T.EventPage.FromString(raw.SerializeToString())]
    items = list(raw) if isinstance(raw, (list, tuple)) else [raw]
    pages = []
    for item in items:
        item_name = message_full_name(item)
        if item_name == "angzarr.EventPage":
            pages.append(T.EventPage.FromString(item.SerializeToString()))
        elif item_name == "google.protobuf.Any":
            page = T.EventPage()
            page.event.CopyFrom(item)
            pages.append(page)
        elif item_name:
            page = T.EventPage()
            page.event.CopyFrom(_pack(item))
            pages.append(page)
        else:
            raise _BadResult(
                f"business logic returned {describe_value(item)}; return events (messages, "
                "EventPages, an EventBook), a BusinessResponse, or None"
            )
    return pages


_VALID_DOMAINS: set[str] = set()


def validate_cover(cover: Any) -> str | None:
    """Why ``cover`` would be refused with INVALID_ARGUMENT, or ``None`` if it is fine."""
    root = cover.root.value
    if not root:
        return f"root is missing (domain '{cover.domain}')"
    if len(root) != 16:
        return f"root must be a 16-byte UUID, got {len(root)} bytes"
    domain = cover.domain
    if domain not in _VALID_DOMAINS:
        if not DOMAIN_RE.fullmatch(domain):
            return (
                f"domain {domain!r} is not a valid domain name "
                "(lowercase, [a-z_][a-z0-9_-]{0,63})"
            )
        _VALID_DOMAINS.add(domain)
    return None


def source_key(deferred: Any) -> bytes:
    """A stream's dedupe key for an ``angzarr_deferred`` header: source (edition, domain,
    root) and source_seq (the target is the stream itself), packed into one bytes object
    (a storm keeps millions): 4-byte seq, edition, NUL, domain, NUL, root."""
    src = deferred.source
    return b"".join(
        (
            deferred.source_seq.to_bytes(4, "big"),
            edition_name(src).encode(),
            b"\x00",
            src.domain.encode(),
            b"\x00",
            src.root.value,
        )
    )


def full_key(stream: Stream, key: bytes) -> tuple:
    """The full dedupe key for reports: target (domain, edition, root), source (edition,
    domain, root) and source_seq."""
    s_edition, _, rest = key[4:].partition(b"\x00")
    s_domain, _, s_root = rest.partition(b"\x00")
    return (
        stream.domain,
        stream.edition,
        stream.root,
        s_edition.decode(),
        s_domain.decode(),
        s_root,
        int.from_bytes(key[:4], "big"),
    )


def render_key(key: tuple) -> str:
    """A dedupe key for reports."""
    t_domain, t_edition, t_root, s_edition, s_domain, s_root, seq = key
    return (
        f"source {stream_label(s_domain, s_root, s_edition)} seq {seq} -> target "
        f"{stream_label(t_domain, t_root, t_edition)}"
    )


def prior_pages(n: int) -> list[Any]:
    """Deprecated: ``n`` placeholder pages. A history of ``n`` events is a snapshot now
    (:meth:`Stream.start_at`); this stays for callers of the old name and refuses more
    pages than a test would ever write out (it allocates one page per event)."""
    n = check_sequence_arg(n, "n")
    if n > _MAX_PLACEHOLDER_PAGES:
        raise InvalidArgumentError(
            f"n: got {n}; expected at most {_MAX_PLACEHOLDER_PAGES} placeholder pages. Give "
            "the history as a snapshot instead: Stream.start_at(n)",
            details={"parameter": "n", "value": str(n)},
        )
    T = wire.types_pb2
    pages = []
    for i in range(n):
        page = T.EventPage()
        page.header.sequence = i
        page.event.CopyFrom(_pack(empty_pb2.Empty()))
        pages.append(page)
    return pages


_MAX_PLACEHOLDER_PAGES = 10_000


def check_sequence_arg(value: Any, what: str) -> int:
    """A uint32 sequence argument (``what`` names the parameter); the check is
    :func:`angzarr_testkit.validate.check_uint32`, raised as ``InvalidArgumentError``."""
    return checked(InvalidArgumentError, check_uint32, value, what)
