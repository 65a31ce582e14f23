"""What happened to a command at the destination: the statuses, :class:`Outcome`, and
:class:`Pending` (a command prepared, not yet committed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import wire
from .store import Stream, full_key

__all__ = [
    "ALREADY_PROCESSED",
    "APPLIED",
    "DEAD_LETTERED",
    "DEDUPED",
    "NOT_SENT",
    "REJECTED",
    "RETRIED_OUT",
    "RETRYABLE",
    "SEQUENCE_CONFLICT",
    "SEQUENCE_MISMATCH",
    "SEQUENCE_MISMATCH_DLQ_SUFFIX",
    "SEQUENCE_MISMATCH_OVERLAP",
    "SUCCESS_STATUSES",
    "Outcome",
    "Pending",
    "is_retryable_status",
]

APPLIED = "applied"
DEDUPED = "deduped"
REJECTED = "rejected"
RETRIED_OUT = "retried-out"
DEAD_LETTERED = "dead-lettered"
ALREADY_PROCESSED = "already-processed"
NOT_SENT = "not-sent"  # the consumer crashed before sending it
RETRYABLE = "retryable"  # an attempt's status only; never a final outcome

SUCCESS_STATUSES = (APPLIED, DEDUPED, ALREADY_PROCESSED)

# The sequence error messages, byte for byte as angzarr core HEAD words them: its retry
# classification reads the prefixes (docs/profiles.md, "retry classification").
#: a sequence check refused the command: ``{SEQUENCE_MISMATCH}{expected}, aggregate at {actual}``
SEQUENCE_MISMATCH = "Sequence mismatch: command expects "
#: MERGE_COMMUTATIVE whose changed fields overlap the intervening history (not retryable)
SEQUENCE_MISMATCH_OVERLAP = "Sequence mismatch with overlapping fields: command expects "
#: appended to a MERGE_MANUAL mismatch's message when the command is dead-lettered
SEQUENCE_MISMATCH_DLQ_SUFFIX = ". Sent to DLQ for manual review."
#: the store refused pages below its head: ``{SEQUENCE_CONFLICT}expected {head}, got {first}``
SEQUENCE_CONFLICT = "Sequence conflict: "


def is_retryable_status(code: str, message: str) -> bool:
    """Whether angzarr core retries a command that failed with ``code`` and ``message``.

    Only ``FAILED_PRECONDITION`` whose message starts with ``"Sequence mismatch:"`` or
    ``"Sequence conflict:"`` is retried (refetch state, run again); every other failure,
    including ``"Sequence mismatch with overlapping fields: ..."`` and a business rule's own
    ``FAILED_PRECONDITION``, is final (docs/profiles.md, "retry classification")."""
    return code == "FAILED_PRECONDITION" and (
        message.startswith("Sequence mismatch:") or message.startswith("Sequence conflict:")
    )


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
        noop: under ``core``, business logic ran and returned no new page: nothing was
            persisted or tagged, so a redelivery runs it again (not a double-apply).
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
        "noop",
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
        noop: bool = False,
    ) -> None:
        self.status = status
        self.noop = noop
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
    pages: Any  # business logic's EventPage list, or the pipeline's EchoPages (serialized)
    delivery: int
    index: int
    trigger: int
    expected: int | None
    actual: int
