"""Simulated destination aggregates: the event store and angzarr's per-command pipeline.

The pipeline follows DESIGN.md section 3 ("Destination aggregate pipeline") step by step:
cover validation, deferred dedupe, deferred restamping, explicit sequence check by merge
strategy, business logic, persistence with the dedupe tag. It knows nothing of sagas; the
coordinator tells it, per command, which delivery and emission index it belongs to so the
oracle can tell a legitimate dedupe hit from a collision.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import empty_pb2

from .. import wire
from ..errors import ConfigurationError, InvalidArgumentError
from ..ids import root_str
from .targets import _describe, _full_name

__all__ = [
    "AggregateSpec",
    "CommandContext",
    "DedupeEntry",
    "EventStore",
    "Outcome",
    "Pipeline",
    "Stream",
    "edition_name",
    "stream_label",
]

DOMAIN_RE = re.compile(r"[a-z_][a-z0-9_-]{0,63}")
MAIN_EDITIONS = ("", "angzarr")

APPLIED = "applied"
DEDUPED = "deduped"
REJECTED = "rejected"
RETRIED_OUT = "retried-out"
DEAD_LETTERED = "dead-lettered"
ALREADY_PROCESSED = "already-processed"
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


@dataclass
class Outcome:
    """What happened to one command (one attempt, or the final word on it).

    Attributes:
        status: applied, deduped, rejected, retried-out, dead-lettered, already-processed
            (final) or retryable (an attempt that may be retried).
        code: gRPC-style status code for failures (``FAILED_PRECONDITION``, ...).
        message: the failure message (e.g. ``Sequence mismatch: command expects 5, ...``).
        events: the ``EventBook`` returned (persisted or, on a dedupe hit, the cached one).
        attempts: how many times the coordinator sent it.
        expected: the command's explicit sequence, if any.
        actual: the aggregate's next sequence when it was checked.
        dedupe_key: the deferred dedupe key the command was stored or found under.
        collided_with: on a dedupe hit, the emission index of the command of the SAME
            delivery whose events were returned (a dedupe collision), else ``None``.
    """

    status: str
    code: str = "OK"
    message: str = ""
    events: Any = None
    attempts: int = 1
    expected: int | None = None
    actual: int | None = None
    dedupe_key: tuple | None = None
    collided_with: int | None = None

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
        return f"<{self.status}: {self.code} {self.message!r}>"


@dataclass
class DedupeEntry:
    """Events stored under one deferred dedupe key, and who stored them."""

    pages: list[Any]
    delivery: int
    index: int
    command_bytes: bytes


@dataclass
class Stream:
    """One simulated aggregate: its pages and the bookkeeping the oracle reads."""

    domain: str
    root: bytes
    edition: str = ""
    pages: list[Any] = field(default_factory=list)
    applied: int = 0
    deduped: int = 0
    dedupe: dict[tuple, DedupeEntry] = field(default_factory=dict)
    external_ids: set[str] = field(default_factory=set)

    @property
    def next_sequence(self) -> int:
        return self.pages[-1].header.sequence + 1 if self.pages else 0

    @property
    def label(self) -> str:
        return stream_label(self.domain, self.root, self.edition)

    def book(self, cover: Any | None = None) -> Any:
        """The stream as an ``EventBook`` (cover from ``cover`` or rebuilt)."""
        T = wire.types_pb2
        if cover is None:
            cover = T.Cover(domain=self.domain, root=T.UUID(value=self.root))
            if self.edition:
                cover.edition.name = self.edition
        return T.EventBook(cover=cover, pages=self.pages, next_sequence=self.next_sequence)


class EventStore:
    """All simulated streams, keyed by (domain, edition, root)."""

    def __init__(self) -> None:
        self.streams: dict[tuple[str, str, bytes], Stream] = {}

    def stream(self, domain: str, root: bytes, edition: str = "") -> Stream:
        key = (domain, edition, bytes(root))
        found = self.streams.get(key)
        if found is None:
            found = self.streams[key] = Stream(domain, bytes(root), edition)
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


def merge_policy(merge: str | Commutative) -> Commutative:
    """Turn ``given_aggregate(merge=...)`` into a commutativity predicate."""
    if callable(merge):
        return merge
    if merge == "strict":
        return lambda command: False
    if merge == "commutative":
        return lambda command: True
    raise ConfigurationError(
        f"merge={merge!r} is not supported; use 'strict' (the domain declares no change "
        "commutative), 'commutative' (it declares every change commutative) or a callable "
        "fn(CommandBook) -> bool",
        details={"merge": repr(merge)},
    )


@dataclass
class CommandContext:
    """Where a command came from, for dedupe bookkeeping and findings."""

    delivery: int
    index: int
    correlation_id: str = ""


class Pipeline:
    """angzarr's destination aggregate pipeline over an :class:`EventStore`."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.specs: dict[str, AggregateSpec] = {}
        self.dead_letters: list[Any] = []

    def spec(self, domain: str) -> AggregateSpec:
        return self.specs.get(domain) or AggregateSpec()

    # -- commands ---------------------------------------------------------------------
    def execute(self, command: Any, ctx: CommandContext) -> Outcome:
        """Run one command through the pipeline and return this attempt's outcome."""
        T = wire.types_pb2
        problem = validate_cover(command.cover) if command.HasField("cover") else "no cover"
        if problem:
            return Outcome(REJECTED, "INVALID_ARGUMENT", f"Invalid cover: {problem}")
        if not command.pages:
            return Outcome(REJECTED, "INVALID_ARGUMENT", "Command has no pages")
        cover = command.cover
        stream = self.store.stream(cover.domain, cover.root.value, edition_name(cover))
        page0 = command.pages[0]
        kind = page0.header.WhichOneof("sequence_type") if page0.HasField("header") else None

        key = None
        if kind == "angzarr_deferred" and page0.header.angzarr_deferred.source.domain:
            key = dedupe_key(stream, page0.header.angzarr_deferred)
            hit = stream.dedupe.get(key)
            if hit is not None:
                stream.deduped += 1
                events = T.EventBook(
                    cover=cover, pages=hit.pages, next_sequence=stream.next_sequence
                )
                events.cover.correlation_id = ctx.correlation_id or cover.correlation_id
                collided = hit.delivery == ctx.delivery and hit.index != ctx.index
                return Outcome(
                    DEDUPED,
                    events=events,
                    dedupe_key=key,
                    collided_with=hit.index if collided else None,
                )

        actual = stream.next_sequence
        expected: int | None = None
        if kind in ("angzarr_deferred", "external_deferred"):
            restamped = T.CommandBook()
            restamped.CopyFrom(command)
            for i, page in enumerate(restamped.pages):
                page.header.sequence = actual + i
            command = restamped
        else:
            expected = page0.header.sequence if kind == "sequence" else 0
            if expected != actual:
                strategy = T.MergeStrategy.Name(page0.merge_strategy)
                mismatch = f"Sequence mismatch: command expects {expected}, aggregate at {actual}"
                if strategy == "MERGE_COMMUTATIVE" and self.spec(cover.domain).commutative(command):
                    pass
                elif strategy == "MERGE_AGGREGATE_HANDLES":
                    pass
                elif strategy == "MERGE_MANUAL":
                    self._dead_letter(command, mismatch, expected, actual)
                    return Outcome(
                        DEAD_LETTERED, "ABORTED", mismatch, expected=expected, actual=actual
                    )
                else:
                    return Outcome(
                        RETRYABLE, "FAILED_PRECONDITION", mismatch, expected=expected, actual=actual
                    )

        outcome = self._business_logic(stream, command, ctx, key)
        outcome.expected, outcome.actual = expected, actual
        return outcome

    def _business_logic(
        self, stream: Stream, command: Any, ctx: CommandContext, key: tuple | None
    ) -> Outcome:
        T, C = wire.types_pb2, wire.command_handler_pb2
        contextual = T.ContextualCommand(events=stream.book(), command=command)
        contextual = T.ContextualCommand.FromString(contextual.SerializeToString())
        handler = self.spec(stream.domain).handler
        try:
            raw = handler(contextual) if handler is not None else _echo(command)
            new_pages = _normalize_events(raw, C)
        except _Revoked as revoked:
            return Outcome(REJECTED, "FAILED_PRECONDITION", f"Command revoked: {revoked}")
        except _BadResult as bad:
            return Outcome(REJECTED, "INTERNAL", str(bad))
        except Exception as exc:  # business logic rejected the command
            return Outcome(
                REJECTED,
                getattr(exc, "code", None) or "FAILED_PRECONDITION",
                f"{type(exc).__name__}: {exc}",
            )
        return self._persist(stream, command, ctx, key, new_pages)

    def _persist(
        self,
        stream: Stream,
        command: Any,
        ctx: CommandContext,
        key: tuple | None,
        new_pages: list[Any],
    ) -> Outcome:
        T = wire.types_pb2
        head = stream.next_sequence
        for i, page in enumerate(new_pages):
            if not (page.HasField("header") and page.header.WhichOneof("sequence_type")):
                page.header.sequence = head + i
        if new_pages:
            first = new_pages[0].header.sequence
            if first != head:
                return Outcome(
                    RETRYABLE,
                    "FAILED_PRECONDITION",
                    f"Sequence conflict: expected {head}, got {first}",
                )
            for prev, page in zip(new_pages, new_pages[1:], strict=False):
                if page.header.sequence <= prev.header.sequence:
                    return Outcome(
                        REJECTED,
                        "INTERNAL",
                        f"Business logic returned non-increasing sequences "
                        f"{prev.header.sequence} then {page.header.sequence}",
                    )
        stream.pages.extend(new_pages)
        if key is not None:
            stream.dedupe[key] = DedupeEntry(
                list(new_pages),
                ctx.delivery,
                ctx.index,
                command.SerializeToString(deterministic=True),
            )
        stream.applied += 1
        events = T.EventBook(
            cover=command.cover, pages=new_pages, next_sequence=stream.next_sequence
        )
        return Outcome(APPLIED, events=events, dedupe_key=key)

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
        problem = validate_cover(fact.cover) if fact.HasField("cover") else "no cover"
        if problem:
            return Outcome(REJECTED, "INVALID_ARGUMENT", f"Invalid cover: {problem}")
        if not fact.pages:
            return Outcome(REJECTED, "INVALID_ARGUMENT", "Fact has no pages")
        ids = []
        for i, page in enumerate(fact.pages):
            if not (
                page.HasField("header")
                and page.header.WhichOneof("sequence_type") == "external_deferred"
            ):
                return Outcome(
                    REJECTED,
                    "INVALID_ARGUMENT",
                    f"Fact page {i} has no external_deferred header; facts must "
                    "carry an external id",
                )
            ids.append(page.header.external_deferred.external_id)
        stream = self.store.stream(
            fact.cover.domain, fact.cover.root.value, edition_name(fact.cover)
        )
        if ids[0] in stream.external_ids:
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
        stream.pages.extend(pages)
        stream.external_ids.update(ids)
        return Outcome(
            APPLIED,
            events=T.EventBook(cover=fact.cover, pages=pages, next_sequence=stream.next_sequence),
        )


class _Revoked(Exception):
    pass


class _BadResult(Exception):
    pass


def _echo(command: Any) -> list[Any]:
    """Default business logic: accept, one event per command page carrying the command."""
    return [page.command for page in command.pages if page.HasField("command")] or [
        _pack(empty_pb2.Empty())
    ]


def _pack(message: Any) -> Any:
    from google.protobuf import any_pb2

    packed = any_pb2.Any()
    packed.Pack(message, type_url_prefix=wire.TYPE_URL_PREFIX)
    return packed


def _normalize_events(raw: Any, C: Any) -> list[Any]:
    """Business logic's return value -> fresh ``EventPage`` list (sequences maybe unset)."""
    T = wire.types_pb2
    name = _full_name(raw)
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
        item_name = _full_name(item)
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
                f"business logic returned {_describe(item)}; return events (messages, "
                "EventPages, an EventBook), a BusinessResponse, or None"
            )
    return pages


def validate_cover(cover: Any) -> str | None:
    """Why ``cover`` would be refused with INVALID_ARGUMENT, or ``None`` if it is fine."""
    if not cover.HasField("root") or not cover.root.value:
        return f"root is missing (domain '{cover.domain}')"
    if len(cover.root.value) != 16:
        return f"root must be a 16-byte UUID, got {len(cover.root.value)} bytes"
    if not DOMAIN_RE.fullmatch(cover.domain):
        return (
            f"domain {cover.domain!r} is not a valid domain name "
            "(lowercase, [a-z_][a-z0-9_-]{0,63})"
        )
    return None


def dedupe_key(stream: Stream, deferred: Any) -> tuple:
    """The deferred dedupe key: target (domain, edition, root) + source (edition, domain,
    root) + source_seq."""
    src = deferred.source
    return (
        stream.domain,
        stream.edition,
        stream.root,
        edition_name(src),
        src.domain,
        bytes(src.root.value),
        deferred.source_seq,
    )


def render_key(key: tuple) -> str:
    """A dedupe key for reports."""
    t_domain, t_edition, t_root, s_edition, s_domain, s_root, seq = key
    return (
        f"source {stream_label(s_domain, s_root, s_edition)} seq {seq} -> target "
        f"{stream_label(t_domain, t_root, t_edition)}"
    )


def prior_pages(n: int) -> list[Any]:
    """``n`` placeholder history pages (sequences 0..n-1) for ``given_destination``."""
    T = wire.types_pb2
    pages = []
    for i in range(n):
        page = T.EventPage()
        page.header.sequence = i
        page.event.CopyFrom(_pack(empty_pb2.Empty()))
        pages.append(page)
    return pages


def check_sequence_arg(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgumentError(
            f"{what} must be a non-negative int, got {value!r}", details={what: repr(value)}
        )
    return value
