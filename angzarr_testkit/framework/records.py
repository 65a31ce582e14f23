"""The public records of a saga or process-manager delivery: what tests read.

``Delivery`` (one delivery and everything that followed), ``RecordedCommand`` (a
``CommandBook`` with readable accessors), ``DeferredRef`` (a page's ``angzarr_deferred``
provenance) and ``AggregateView`` (a read-only view of a simulated stream). The coordinator
fills them (:mod:`.saga`); nothing here runs a delivery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from google.protobuf import symbol_database, text_format

from .. import wire
from ..ids import root_str
from .aggregate import Outcome, stream_label
from .findings import Finding

__all__ = ["AggregateView", "DeferredRef", "Delivery", "RecordedCommand", "type_name_of"]


def type_name_of(type_url: str) -> str:
    """The full message name a packed ``Any``'s ``type_url`` names."""
    return type_url.rsplit("/", 1)[-1]


def _payload_text(any_msg: Any) -> str:
    """Readable text of a packed payload when its type is importable, else its size."""
    name = type_name_of(any_msg.type_url)
    try:
        cls = symbol_database.Default().GetSymbol(name)
        msg = cls()
        any_msg.Unpack(msg)
        body = text_format.MessageToString(msg, as_one_line=True)
        return f"{name} {{{body}}}" if body else f"{name} {{}}"
    except Exception:  # unknown type: the bytes are all we have
        return f"{name} ({len(any_msg.value)} bytes)"


@dataclass(frozen=True)
class DeferredRef:
    """The ``angzarr_deferred`` provenance of a command page."""

    source: Any
    source_seq: int

    @property
    def domain(self) -> str:
        return self.source.domain

    @property
    def root(self) -> bytes:
        return bytes(self.source.root.value)

    def __repr__(self) -> str:
        return f"DeferredRef({stream_label(self.domain, self.root)} seq {self.source_seq})"


class RecordedCommand:
    """A ``CommandBook`` as recorded by the harness, with readable accessors.

    Attributes:
        book: the ``CommandBook`` itself (a private copy).
    """

    def __init__(self, book: Any) -> None:
        self.book = book

    @property
    def domain(self) -> str:
        return self.book.cover.domain

    @property
    def root(self) -> bytes:
        return bytes(self.book.cover.root.value)

    @property
    def correlation_id(self) -> str:
        return self.book.cover.correlation_id

    @property
    def edition(self) -> str:
        return self.book.cover.edition.name

    def _header_kind(self) -> str | None:
        if not self.book.pages or not self.book.pages[0].HasField("header"):
            return None
        return self.book.pages[0].header.WhichOneof("sequence_type")

    @property
    def sequence(self) -> int | None:
        """Page 0's explicit sequence, or ``None`` when it is deferred or unstamped."""
        if self._header_kind() == "sequence":
            return self.book.pages[0].header.sequence
        return None

    @property
    def stamped(self) -> bool:
        """Whether page 0 carries any sequence header (explicit or deferred)."""
        return self._header_kind() is not None

    @property
    def deferred(self) -> DeferredRef | None:
        """Page 0's ``angzarr_deferred`` source and seq, or ``None``."""
        if self._header_kind() != "angzarr_deferred":
            return None
        d = self.book.pages[0].header.angzarr_deferred
        return DeferredRef(d.source, d.source_seq)

    @property
    def merge_strategy(self) -> str:
        if not self.book.pages:
            return "MERGE_COMMUTATIVE"
        return wire.types_pb2.MergeStrategy.Name(self.book.pages[0].merge_strategy)

    @property
    def type_name(self) -> str:
        """Full name of page 0's command type (``""`` when there is none)."""
        if not self.book.pages:
            return ""
        return type_name_of(self.book.pages[0].command.type_url)

    @property
    def type_names(self) -> list[str]:
        return [type_name_of(p.command.type_url) for p in self.book.pages]

    def unpack(self, message_type: type, page: int = 0) -> Any:
        """Unpack page ``page``'s command as ``message_type`` (AssertionError on a type
        mismatch, naming both types)."""
        any_msg = self.book.pages[page].command
        message = message_type()
        if not any_msg.Unpack(message):
            raise AssertionError(
                f"command page {page} holds {type_name_of(any_msg.type_url)}, "
                f"not {message_type.DESCRIPTOR.full_name}"
            )
        return message

    def describe(self) -> str:
        kind = self._header_kind()
        if kind == "sequence":
            header = f"seq={self.sequence}"
        elif kind == "angzarr_deferred":
            header = f"deferred({self.deferred!r})"
        elif kind == "external_deferred":
            header = "external_deferred"
        else:
            header = "unstamped"
        payload = ", ".join(_payload_text(p.command) for p in self.book.pages) or "no pages"
        return f"{self.domain}/{root_str(self.root)} [{header}] {payload}"

    def __eq__(self, other: object) -> bool:
        other_book = other.book if isinstance(other, RecordedCommand) else other
        if getattr(getattr(other_book, "DESCRIPTOR", None), "full_name", "") != (
            "angzarr.CommandBook"
        ):
            return NotImplemented
        return self.book.SerializeToString(deterministic=True) == other_book.SerializeToString(
            deterministic=True
        )

    def __hash__(self) -> int:
        return hash(self.book.SerializeToString(deterministic=True))

    def __repr__(self) -> str:
        return f"<Command {self.describe()}>"


@dataclass
class Delivery:
    """One delivery of a trigger to the saga, and everything that followed.

    Attributes:
        number: 1-based delivery number in this harness.
        trigger: the trigger ``EventBook``.
        redelivered: whether this is an AMQP redelivery of an earlier delivery.
        request: the ``SagaHandleRequest`` the handler received.
        commands: the commands as the handler returned them (before any rewrite).
        sent: the commands as the coordinator sent them (edition, correlation, rewrite).
        outcomes: the final outcome of each sent command.
        facts: the facts (``SagaResponse.events``) as the coordinator injected them.
        fact_outcomes: the outcome of each fact.
        error: the handler's exception, if it raised (also a finding).
        findings: the findings this delivery raised.
        virtual_time: virtual seconds spent in retry backoff.
    """

    number: int
    trigger: Any
    redelivered: bool = False
    request: Any = None
    commands: list[RecordedCommand] = field(default_factory=list)
    sent: list[RecordedCommand] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    facts: list[Any] = field(default_factory=list)
    fact_outcomes: list[Outcome] = field(default_factory=list)
    error: BaseException | None = None
    findings: list[Finding] = field(default_factory=list)
    virtual_time: float = 0.0
    _trigger_bytes: bytes = b""

    @property
    def trigger_bytes(self) -> bytes:
        """The trigger message as delivered (what :meth:`SagaHarness.redeliver` sends again)."""
        return self._trigger_bytes

    def command(self, domain: str) -> RecordedCommand:
        """The single command (as returned by the handler) to ``domain``.

        Raises:
            AssertionError: listing every command when there is not exactly one.
        """
        matches = [c for c in self.commands if c.domain == domain]
        if len(matches) != 1:
            listing = "\n".join(f"  - {c.describe()}" for c in self.commands) or "  (none)"
            raise AssertionError(
                f"expected exactly one command to domain '{domain}', found {len(matches)}; "
                f"delivery #{self.number} emitted:\n{listing}"
            )
        return matches[0]

    def commands_to(self, domain: str) -> list[RecordedCommand]:
        """Every command (as returned) to ``domain``."""
        return [c for c in self.commands if c.domain == domain]


@dataclass
class AggregateView:
    """A read-only view of one simulated destination aggregate.

    Attributes:
        events: the event pages held, after the snapshot when there is one.
        next_sequence: the aggregate's next sequence (last page + 1, else snapshot + 1).
        snapshot: the ``angzarr.Snapshot`` the history starts from
            (``given_destination(next_sequence=N)`` is a snapshot at ``N - 1``), or ``None``.
    """

    domain: str
    root: bytes
    edition: str
    events: list[Any]
    next_sequence: int
    applied: int
    deduped: int
    snapshot: Any = None

    @property
    def event_types(self) -> list[str]:
        return [type_name_of(p.event.type_url) for p in self.events]

    def __repr__(self) -> str:
        return (
            f"<Aggregate {stream_label(self.domain, self.root, self.edition)} "
            f"next_sequence={self.next_sequence} applied={self.applied} "
            f"deduped={self.deduped} events={self.event_types}>"
        )

    def events_of(self, message_type: type) -> list[Any]:
        """Every event of ``message_type``, unpacked, in stream order."""
        full = message_type.DESCRIPTOR.full_name
        out = []
        for page in self.events:
            if type_name_of(page.event.type_url) == full:
                msg = message_type()
                page.event.Unpack(msg)
                out.append(msg)
        return out
