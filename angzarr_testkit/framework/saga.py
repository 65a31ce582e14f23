"""The saga harness: a fake angzarr saga coordinator over simulated destination aggregates.

``SagaHarness`` feeds ``SagaHandleRequest``s (with their ``destination_sequences`` map) to the
user's real saga, records the commands it returns, sends them through the simulated
destination pipeline the way angzarr's coordinator does (edition and correlation copied,
deferred rewrite in the ``deferred-rewrite`` profile, sequential execution, whole-list retries
on a virtual clock) and checks, as an oracle, that nothing is applied twice, lost or silently
dropped. See DESIGN.md section 3 for the behaviour model.
"""

from __future__ import annotations

import re
import traceback as tb
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import symbol_database, text_format
from google.protobuf.message import Message

from .. import wire
from ..errors import ConfigurationError, InvalidArgumentError, codes, describe_exception
from ..ids import root_str, uuid_for
from ..validate import (
    UINT32_MAX,
    check_bool,
    check_callable,
    check_choice,
    check_domain,
    check_int,
    check_message,
    check_names,
    check_root,
    check_str,
    checked,
    recast,
    usage_error,
)
from .aggregate import (
    APPLIED,
    DEAD_LETTERED,
    NOT_SENT,
    REJECTED,
    RETRIED_OUT,
    RETRYABLE,
    SUCCESS_STATUSES,
    AggregateSpec,
    EventStore,
    Outcome,
    Pipeline,
    Stream,
    check_sequence_arg,
    edition_name,
    merge_policy,
    render_key,
    stream_label,
    validate_cover,
)
from .commands import MAX_PAGES_PER_BOOK, MAX_PAYLOAD_BYTES, Problem, check_command, check_fact
from .encode import saga_request_bytes
from .findings import Finding, check_kinds, failing, render_findings, sort_findings
from .outputs import (
    Difference,
    SeqInfo,
    describe_sequence,
    explicit_page,
    field_pattern,
    fingerprint,
    first_difference,
    pack_seqs,
    sequences_differ,
    unpack_seqs,
)
from .targets import (
    HandlerAborted,
    HandlerExited,
    HandlerResultError,
    MalformedResponseError,
    SagaTarget,
    resolve_saga_target,
)

__all__ = [
    "PROFILES",
    "AggregateView",
    "DeferredRef",
    "Delivery",
    "DeliveryWork",
    "RecordedCommand",
    "SagaHarness",
    "copy_edition",
]

#: The framework profiles (DESIGN.md section 3).
PROFILES = ("sequence-map", "deferred-rewrite")

DEFAULT_MAX_RETRIES = 10
_BACKOFF_BASE = 0.1
_BACKOFF_CAP = 5.0
_MASK40 = (1 << 40) - 1
_MASK64 = (1 << 64) - 1
#: storms keep the first output of this many triggers (each at most this many bytes) so that a
#: nondeterministic-output finding can name the differing field; beyond, digests only
_KEEP_OUTPUTS = 20_000
_KEEP_OUTPUT_BYTES = 2_048
_REPORTED_STATUSES = (RETRIED_OUT, DEAD_LETTERED, REJECTED)
_SDK_MISSING_RE = re.compile(r"No sequence for domain '([^']*)'")
# Serialized covers check_command found valid (a pure function of the bytes), so the common
# case skips the field checks; bounded: cleared when full.
_VALID_COVERS: set[bytes] = set()
_VALID_COVERS_LIMIT = 65_536


def _type_name(type_url: str) -> str:
    return type_url.rsplit("/", 1)[-1]


def _payload_text(any_msg: Any) -> str:
    """Readable text of a packed payload when its type is importable, else its size."""
    name = _type_name(any_msg.type_url)
    try:
        cls = symbol_database.Default().GetSymbol(name)
        msg = cls()
        any_msg.Unpack(msg)
        body = text_format.MessageToString(msg, as_one_line=True)
        return f"{name} {{{body}}}" if body else f"{name} {{}}"
    except Exception:  # unknown type: the bytes are all we have
        return f"{name} ({len(any_msg.value)} bytes)"


def validate_domain(domain: Any, what: str) -> str:
    """An angzarr domain name (``what`` names the parameter): the check is
    :func:`angzarr_testkit.validate.check_domain`, raised as ``InvalidArgumentError``."""
    return checked(InvalidArgumentError, check_domain, domain, what)


def validate_root(root: Any, what: str = "root") -> bytes:
    """16 UUID bytes (code ``INVALID_COVER``): :func:`angzarr_testkit.validate.check_root`,
    raised as ``InvalidArgumentError``."""
    return checked(InvalidArgumentError, check_root, root, what)


def _edition_arg(edition: Any, param: str = "edition") -> str:
    """``None``/``""``/``"angzarr"`` (the main timeline) as ``""``, else the edition name."""
    if edition is None:
        return ""
    name = checked(InvalidArgumentError, check_str, edition, param)
    return "" if name == "angzarr" else name


#: bounds that keep a harness call finite (a retry round or a redelivery per unit)
MAX_RETRIES_LIMIT = 1_000
MAX_REDELIVERIES = 100_000


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
        return _type_name(self.book.pages[0].command.type_url)

    @property
    def type_names(self) -> list[str]:
        return [_type_name(p.command.type_url) for p in self.book.pages]

    def unpack(self, message_type: type, page: int = 0) -> Any:
        """Unpack page ``page``'s command as ``message_type`` (AssertionError on a type
        mismatch, naming both types)."""
        any_msg = self.book.pages[page].command
        message = message_type()
        if not any_msg.Unpack(message):
            raise AssertionError(
                f"command page {page} holds {_type_name(any_msg.type_url)}, "
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
        return [_type_name(p.event.type_url) for p in self.events]

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
            if _type_name(page.event.type_url) == full:
                msg = message_type()
                page.event.Unpack(msg)
                out.append(msg)
        return out


class DeliveryWork:
    """One delivery in flight: what the coordinator knows about it (lean; the storm makes
    millions). ``delivery`` is the public record when the harness keeps records.

    :meth:`SagaHarness.handle_delivery` makes one (request built, handler called, commands
    stamped and checked) and :meth:`SagaHarness.execute_delivery` completes it (sends, records
    outcomes). The process-manager harness and the storm pass it between those steps; they
    read its fields and never build one themselves."""

    __slots__ = (
        "delivery",
        "error",
        "facts",
        "findings",
        "keys",
        "number",
        "outcomes",
        "pm_source",
        "seqs",
        "sent",
        "skipped",
        "trigger",
        "trigger_id",
        "trigger_identity",
        "virtual_time",
    )

    def __init__(self, number: int, trigger: Any, trigger_id: int, seqs: dict[str, int]) -> None:
        self.number = number
        self.trigger = trigger
        self.trigger_id = trigger_id
        self.seqs = seqs
        self.delivery: Delivery | None = None
        self.error: BaseException | None = None
        self.sent: list[Any] = []
        self.facts: list[Any] = []
        self.keys: list[int] = []
        self.outcomes: list[Outcome] = []
        self.findings: list[Finding] = []
        self.virtual_time = 0.0
        self.skipped = False
        self.pm_source: tuple[Any, int] | None = None
        #: (cover bytes, domain, root, edition, the trigger's page sequences)
        self.trigger_identity: tuple[bytes, str, bytes, str, Container[int]] | None = None


class SagaHarness:
    """Drive a real saga through a fake angzarr coordinator and check the dedupe.

    Args:
        saga: the target (a callable, a servicer with ``Handle``, an angzarr_client ``Saga``
            subclass or instance, or a ``"package.module:attr"`` string).
        source_domain: the trigger domain (defaults to the target's ``@domain``).
        output_domains: domains the framework supplies sequences for (defaults to the
            target's ``@output_domain``).
        profile: ``"sequence-map"`` (default) or ``"deferred-rewrite"``.
        max_retries: whole-list re-sends after a retryable failure (angzarr: 10).
        record: keep a :class:`Delivery` record of every delivery (``deliveries``); storms
            turn it off to run millions of deliveries in bounded memory (``deliver`` then
            returns ``None``; findings and aggregates are kept either way).
        allow_vacuous: let :meth:`assert_clean` / :attr:`clean` pass a harness that was never
            given a delivery (by default that is a ``vacuous-run``: it tested nothing).
    """

    def __init__(
        self,
        saga: Any,
        *,
        source_domain: str | None = None,
        output_domains: Sequence[str] | None = None,
        profile: str = "sequence-map",
        max_retries: int = DEFAULT_MAX_RETRIES,
        record: bool = True,
        allow_vacuous: bool = False,
    ) -> None:
        checked(ConfigurationError, check_choice, profile, "profile", PROFILES)
        if output_domains is not None:
            output_domains = checked(
                ConfigurationError,
                check_names,
                output_domains,
                "output_domains",
                item=lambda value, param: value,  # each is checked as a domain below
                accepted="a list of domain names",
            )
        if source_domain is not None:
            validate_domain(source_domain, "source_domain")
        self.max_retries = checked(
            ConfigurationError, check_int, max_retries, "max_retries", maximum=MAX_RETRIES_LIMIT
        )
        record = checked(ConfigurationError, check_bool, record, "record")
        self.target: SagaTarget = self._resolve(saga)
        self.profile = profile
        self.source_domain = source_domain or getattr(self.target, "source_domain", None)
        if self.source_domain is not None:
            validate_domain(self.source_domain, "source_domain")
        domains = output_domains if output_domains is not None else self.target.output_domains
        self.output_domains = [
            validate_domain(d, f"output_domains[{i}]") for i, d in enumerate(domains)
        ]
        self.store = EventStore()
        self.pipeline = Pipeline(self.store)
        self.record = record
        self.allow_vacuous = check_bool(allow_vacuous, "allow_vacuous")
        self.deliveries: list[Delivery] = []
        self.clock = 0.0
        self._count = 0
        #: every finding in the order the oracle raised it (unsorted, without lost commands:
        #: :attr:`findings` is the report); the storm reads what one delivery added
        self.finding_log: list[Finding] = []
        self._first_destination: dict[str, tuple[str, bytes, str]] = {}
        self._source_heads: dict[tuple[str, str, bytes], int] = {}
        self._trigger_ids: dict[tuple, int] = {}
        # logical command key -> first delivery that applied it (negated: resolved without
        # applying: deduped, rejected); keys already reported
        self._applied_in: dict[int, int] = {}
        self._reapplied: set[int] = set()
        # logical command key -> (command, trigger, delivery number or numbers) until
        # applied or rejected
        self._unresolved: dict[int, tuple[Any, Any, int | list[int]]] = {}
        # trigger id -> (first delivery number, output digest, sequences, output bytes), or
        # those packed into one int (storms, beyond _KEEP_OUTPUTS)
        self._outputs: dict[int, tuple[int, int, SeqInfo, bytes] | int] = {}
        # logical keys of the invalid commands (ints) and facts (tuples) seen so far: each is
        # reported once as invalid-command
        self._invalid_reported: set[int | tuple] = set()

    #: a handler error acks the trigger (sagas); process managers nack and requeue it
    requeue_on_error = False

    def _resolve(self, target: Any) -> Any:
        return resolve_saga_target(target)

    # -- givens -------------------------------------------------------------------------
    def given_destination(
        self,
        domain: str,
        root: bytes,
        next_sequence: int = 0,
        *,
        events: Iterable[Any] | None = None,
        edition: str | None = None,
    ) -> AggregateView:
        """Give a destination aggregate a history: ``next_sequence`` events, or the given
        event messages. The first destination declared for a domain is the one whose head
        the sequence map reports.

        A history of ``next_sequence`` events is an angzarr snapshot at ``next_sequence - 1``
        with no pages after it (as core loads a stream with a snapshot: the events after
        the snapshot, ``next_sequence`` = snapshot sequence + 1), so it costs nothing
        whatever its length: business logic sees ``ContextualCommand.events.snapshot`` and
        the pages after it, and :meth:`aggregate` reports ``events`` after the snapshot.

        Raises:
            InvalidArgumentError: a bad domain, root, ``next_sequence`` (uint32) or edition,
                ``events`` that are not a list of messages, or both ``events`` and a non-zero
                ``next_sequence``.
            ConfigurationError: the destination already has a history.
        """
        validate_domain(domain, "domain")
        root = validate_root(root)
        next_sequence = check_sequence_arg(next_sequence, "next_sequence")
        ed = _edition_arg(edition)
        event_list = None
        if events is not None:
            event_list = checked(
                InvalidArgumentError,
                check_names,
                events,
                "events",
                item=check_message,
                accepted="a list of event messages",
            )
            if next_sequence:
                raise InvalidArgumentError(
                    f"next_sequence: got {next_sequence} together with events=; pass either "
                    "events= (the history itself) or next_sequence= (a history of that many "
                    "events), not both",
                    details={"parameter": "next_sequence", "value": str(next_sequence)},
                )
        stream = self.store.stream(domain, root, ed)
        if stream.has_history:
            raise ConfigurationError(
                f"destination {stream.label} already has a history; declare each destination "
                "once, before delivering",
                details={"domain": domain},
            )
        if event_list is not None:
            from .aggregate import normalize_events

            pages = normalize_events(event_list, wire.command_handler_pb2)
            for i, page in enumerate(pages):
                page.header.sequence = i
            stream.extend(pages)
        else:
            stream.start_at(next_sequence)
        self._first_destination.setdefault(domain, (domain, root, ed))
        return self.aggregate(domain, root, edition=ed)

    def given_aggregate(self, domain: str, handler: Any = None, merge: Any = "strict") -> None:
        """Give a destination domain business logic and a merge policy.

        Args:
            handler: ``fn(ContextualCommand) -> events`` where events are messages, EventPages,
                an EventBook or a BusinessResponse (revocations reject); raising rejects the
                command. ``None``: accept and record each command as an event.
            merge: ``"strict"`` (no change is commutative), ``"commutative"`` or a callable
                ``fn(CommandBook) -> bool`` deciding per command.
        """
        validate_domain(domain, "domain")
        if handler is not None:
            checked(
                ConfigurationError,
                check_callable,
                handler,
                "handler",
                arity=1,
                signature="a callable fn(ContextualCommand) -> events, or None",
            )
        if callable(merge):
            checked(
                ConfigurationError,
                check_callable,
                merge,
                "merge",
                arity=1,
                signature="'strict', 'commutative' or a callable fn(CommandBook) -> bool",
            )
        elif not isinstance(merge, str) or merge not in ("strict", "commutative"):
            raise recast(
                usage_error(
                    "merge",
                    merge,
                    "'strict', 'commutative' or a callable fn(CommandBook) -> bool",
                    type_error=not isinstance(merge, str),
                ),
                ConfigurationError,
            )
        self.pipeline.specs[domain] = AggregateSpec(
            handler=handler, commutative=merge_policy(merge)
        )

    # -- actions ------------------------------------------------------------------------
    def deliver(
        self,
        event: Any,
        *,
        root: bytes | None = None,
        correlation_id: str = "",
        sequence: int | None = None,
        edition: str | None = None,
        domain: str | None = None,
    ) -> Delivery:
        """Deliver a trigger to the saga and run its commands through the destinations.

        ``event`` is an event message (packed into a one-page book at ``sequence``, by
        default the source root's next sequence) or a ready ``EventBook`` (multi-page
        triggers; ``edition``/``correlation_id`` override its cover when given).
        """
        book = self._trigger_book(event, root, correlation_id, sequence, edition, domain)
        return self._run(book.SerializeToString(), redelivered=False)

    def redeliver(self, delivery: Delivery, times: int = 1) -> list[Delivery]:
        """AMQP redelivery: the same trigger message (same bytes) delivered ``times`` more."""
        if not isinstance(delivery, Delivery):
            raise InvalidArgumentError(
                f"redeliver() takes a Delivery returned by deliver(), got "
                f"{type(delivery).__name__}",
                details={"type": type(delivery).__name__},
            )
        times = checked(InvalidArgumentError, check_int, times, "times", maximum=MAX_REDELIVERIES)
        return [self._run(delivery._trigger_bytes, redelivered=True) for _ in range(times)]

    # -- reading ------------------------------------------------------------------------
    def aggregate(self, domain: str, root: bytes, edition: str | None = None) -> AggregateView:
        """The simulated stream of one destination aggregate (empty if never touched);
        ``events`` are the pages after its snapshot, if it has one (``snapshot``)."""
        validate_domain(domain, "domain")
        root = validate_root(root)
        edition = _edition_arg(edition)
        known = {d for d, _, _ in self.store.streams} | set(self.output_domains)
        if domain not in known:
            raise InvalidArgumentError(
                f"unknown domain '{domain}': no aggregate in it was declared or reached; "
                f"known domains: {', '.join(sorted(known)) or 'none'}",
                code=codes.UNKNOWN_DOMAIN,
                details={"domain": domain},
            )
        ed = "" if edition in (None, "", "angzarr") else edition
        stream = self.store.find(domain, root, ed) or Stream(domain, root, ed)
        return AggregateView(
            domain,
            root,
            ed,
            list(stream.pages),
            stream.next_sequence,
            stream.applied,
            stream.deduped,
            stream.snapshot(),
        )

    @property
    def dead_letters(self) -> list[Any]:
        """``AngzarrDeadLetter`` messages published so far."""
        return list(self.pipeline.dead_letters)

    @property
    def findings(self) -> list[Finding]:
        """Every finding so far, including the ones only a look across deliveries shows
        (``lost-command``)."""
        return sort_findings(self.finding_log + self._lost_commands())

    @property
    def clean(self) -> bool:
        """Whether :meth:`assert_clean` (no arguments) would pass: no error finding, and at
        least one delivery (unless ``allow_vacuous``)."""
        return (self._count > 0 or self.allow_vacuous) and not failing(self.findings)

    def assert_clean(self, allow: Iterable[str] = (), fail_on: Iterable[str] = ()) -> None:
        """Raise ``AssertionError`` with a readable report of every finding that fails the
        run (``findings.failing``): error kinds not in ``allow``, and the kinds in
        ``fail_on``. A harness that was never given a delivery tested nothing: it fails with
        ``vacuous-run`` unless ``allow_vacuous=True`` or ``allow=["vacuous-run"]`` (one
        delivery suffices, even one the handler ignores)."""
        allowed = check_kinds(allow, "allow")
        errors = failing(self.findings, allow=allowed, fail_on=check_kinds(fail_on, "fail_on"))
        if self._count == 0 and not self.allow_vacuous and "vacuous-run" not in allowed:
            errors.append(
                Finding(
                    "vacuous-run",
                    "vacuous run: the harness was asserted clean without a single delivery, "
                    "so it tested nothing: deliver() a trigger first (or pass "
                    "allow_vacuous=True)",
                    details={"reason": "no-deliveries", "deliveries": "0"},
                )
            )
        if errors:
            raise AssertionError(render_findings(errors, title="saga harness is not clean"))

    # -- internals ------------------------------------------------------------------------
    def _trigger_book(
        self,
        event: Any,
        root: bytes | None,
        correlation_id: str,
        sequence: int | None,
        edition: str | None,
        domain: str | None,
    ) -> Any:
        T = wire.types_pb2
        if not isinstance(event, Message):
            raise recast(
                usage_error(
                    "event",
                    event,
                    "an event message instance or an angzarr.EventBook",
                    type_error=True,
                ),
                InvalidArgumentError,
            )
        if root is not None:
            root = validate_root(root)
        checked(InvalidArgumentError, check_str, correlation_id, "correlation_id")
        if sequence is not None:
            # the page after it (next_sequence) must fit uint32 too
            checked(InvalidArgumentError, check_int, sequence, "sequence", maximum=UINT32_MAX - 1)
        if edition is not None:
            checked(InvalidArgumentError, check_str, edition, "edition")
        if domain is not None:
            validate_domain(domain, "domain")
        name = event.DESCRIPTOR.full_name
        if name == "angzarr.EventBook":
            given = [n for n, v in (("root", root), ("sequence", sequence)) if v is not None]
            if given:
                raise InvalidArgumentError(
                    f"{given[0]}: applies to an event message; an EventBook trigger carries "
                    "its own cover and page sequences",
                    details={"parameter": given[0]},
                )
            book = T.EventBook.FromString(event.SerializeToString())
            if correlation_id:
                book.cover.correlation_id = correlation_id
            if edition is not None:
                book.cover.edition.name = edition
        else:
            src_domain = domain or self.source_domain
            if src_domain is None:
                raise ConfigurationError(
                    "the trigger's domain is unknown: give SagaHarness(source_domain=...) or "
                    "deliver(..., domain=...)",
                    code=codes.UNKNOWN_DOMAIN,
                )
            validate_domain(src_domain, "domain")
            root = root if root is not None else uuid_for(src_domain)
            ed = edition or ""
            head_key = (src_domain, ed, root)
            if sequence is None:
                sequence = self._source_heads.get(head_key, 0)
                if sequence > UINT32_MAX - 1:
                    raise InvalidArgumentError(
                        f"sequence: the source root's next sequence {sequence} runs past "
                        "uint32; pass sequence= explicitly",
                        code=codes.SEQUENCE_OUT_OF_RANGE,
                        details={"parameter": "sequence", "value": str(sequence)},
                    )
            self._source_heads[head_key] = max(self._source_heads.get(head_key, 0), sequence + 1)
            book = T.EventBook(
                cover=T.Cover(
                    domain=src_domain, root=T.UUID(value=root), correlation_id=correlation_id
                )
            )
            if ed:
                book.cover.edition.name = ed
            page = book.pages.add()
            page.header.sequence = sequence
            page.event.Pack(event, type_url_prefix=wire.TYPE_URL_PREFIX)
            book.next_sequence = sequence + 1
        problem = validate_cover(book.cover)
        if problem:
            raise InvalidArgumentError(
                f"the trigger EventBook's cover is invalid: {problem}",
                code=codes.INVALID_COVER,
                details={"problem": problem},
            )
        return book

    def _sequence_map(self) -> dict[str, int]:
        # One value per domain: the first destination declared with given_destination, else
        # the first aggregate of the domain that commands reached, else a new one (0).
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
            self._handler_failed(work, exc)
            return work
        if delivery is not None:
            as_returned = wire.saga_pb2.SagaResponse.FromString(response_bytes)
            delivery.commands = [RecordedCommand(c) for c in as_returned.commands]
        if compare:
            self._check_determinism(work, response, response_bytes)
        work.sent = list(response.commands)
        work.facts = list(response.events)
        for command in work.sent:
            self._stamp(command, trigger)
        for fact in work.facts:
            if fact.HasField("cover"):  # core never gives a coverless book a cover
                copy_edition(fact.cover, trigger.cover)
        self._check_sent(work)
        if delivery is not None:
            delivery.sent = [RecordedCommand(c) for c in work.sent]
            delivery.facts = work.facts
        return work

    def _begin(
        self, trigger_bytes: bytes, trigger_id: int | None, trigger: Any, seqs: dict[str, int]
    ) -> DeliveryWork:
        """A new delivery in flight: the parsed trigger, its identity, the next number."""
        if trigger is None:
            trigger = wire.types_pb2.EventBook.FromString(trigger_bytes)
        if trigger_id is None:
            key = self._trigger_key(trigger)
            trigger_id = self._trigger_ids.setdefault(key, len(self._trigger_ids))
        self._count += 1
        return DeliveryWork(self._count, trigger, trigger_id, seqs)

    #: the record class of a delivery (process managers record more)
    _delivery_class: type[Delivery] = None  # type: ignore[assignment]  # set below

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

    def _stamp(self, command: Any, trigger: Any) -> None:
        """What the coordinator does to an emitted command before sending it (in place)."""
        if command.HasField("cover"):  # core fills in only a cover that exists
            cover = command.cover
            copy_edition(cover, trigger.cover)
            if not cover.correlation_id:
                cover.correlation_id = trigger.cover.correlation_id
        if self.profile != "deferred-rewrite":
            return
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
        n = len(sent) if limit is None else min(limit, len(sent))
        final: list[Outcome | None] = [None] * n
        last: list[Outcome | None] = [None] * n
        attempts = [0] * n
        execute = self.pipeline.execute
        # _check_sent checked every command once: only the invalid ones are checked again
        # (and refused) by the destination
        invalid = self._invalid_reported
        keys = work.keys
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
                if status == APPLIED:
                    self._applied(work, i)
                elif outcome.collided_with is not None and attempts[i] == 1:
                    self._collision(work, i, outcome)
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
            if outcome.status != RETRIED_OUT:
                # Resolved for every delivery of the trigger (deduped, rejected: negated).
                self._unresolved.pop(work.keys[i], None)
                if outcome.status != APPLIED:  # (applied: _applied recorded it already)
                    self._applied_in.setdefault(work.keys[i], -work.number)
            if outcome.status in _REPORTED_STATUSES and valid[i]:  # invalid: reported
                self._report_outcome(work, i, outcome)
        work.outcomes = outcomes + [Outcome(NOT_SENT) for _ in range(len(sent) - n)]
        delivery = work.delivery
        if delivery is not None:
            delivery.outcomes = work.outcomes
            delivery.virtual_time = work.virtual_time
        if limit is None:
            self._inject_facts(work)

    def _inject_facts(self, work: DeliveryWork) -> None:
        outcomes = []
        facts = work.facts
        for n, fact in enumerate(facts):
            outcome = self.pipeline.inject_fact(fact)
            outcomes.append(outcome)
            problems = check_fact(fact) if outcome.code == "INVALID_ARGUMENT" else ()
            if problems:
                # core's orchestrate_saga / orchestrate_pm stop at the first failed fact
                # injection (`?`): the facts after it are never injected.
                self._invalid_fact(work, n, problems)
                outcomes.extend(Outcome(NOT_SENT) for _ in facts[n + 1 :])
                break
            if outcome.status == REJECTED:
                self._add(
                    work,
                    Finding(
                        "rejected-command",
                        f"fact to {stream_label(fact.cover.domain, fact.cover.root.value)} was "
                        f"refused: {outcome.code} {outcome.message}",
                        trigger=self.trigger_label(work.trigger),
                        delivery=work.number,
                        details={"code": outcome.code},
                    ),
                )
        if work.delivery is not None:
            work.delivery.fact_outcomes = outcomes

    def _report_outcome(self, work: DeliveryWork, index: int, outcome: Outcome) -> None:
        command = work.sent[index]
        target = stream_label(
            command.cover.domain, command.cover.root.value, edition_name(command.cover)
        )
        type_name = RecordedCommand(command).type_name
        seqs = {
            k: v
            for k, v in (("expected", outcome.expected), ("actual", outcome.actual))
            if v is not None
        }
        common = dict(
            trigger=self.trigger_label(work.trigger),
            target=target,
            delivery=work.number,
            sequences=seqs,
            details={"code": outcome.code},
        )
        if outcome.status == RETRIED_OUT:
            if not outcome.message.startswith("Sequence mismatch"):
                return  # a conflict that never cleared: the lost-command check reports it
            kind = "sequence-mismatch"
            message = (
                f"{type_name} to {target} was refused ({outcome.message}) on all "
                f"{outcome.attempts} attempts: it was stamped with a stale explicit sequence; "
                "stamp from the request's destination_sequences or use a deferred header"
            )
        elif outcome.status == DEAD_LETTERED:
            kind = "dead-lettered"
            message = (
                f"{type_name} to {target} was dead-lettered ({outcome.code}: "
                f"{outcome.message}) under MERGE_MANUAL"
            )
            common["details"]["merge_strategy"] = "MERGE_MANUAL"
        else:
            kind = "rejected-command"
            message = f"{type_name} to {target} was rejected: {outcome.code} {outcome.message}"
        self._add(work, Finding(kind, message, **common))

    def _check_sent(self, work: DeliveryWork) -> None:
        """Per sent command: its logical key, and the unstamped / provenance checks."""
        trigger = work.trigger
        keys = []
        seen: dict[int, int] = {}
        unresolved = self._unresolved
        resolved = self._applied_in
        valid_covers = _VALID_COVERS
        for i, command in enumerate(work.sent):
            pages = command.pages
            # The logical command: target cover and payloads, headers left out.
            if len(pages) == 1:
                body: Any = pages[0].command.SerializeToString()
                largest = len(body)
            else:
                body = tuple(p.command.SerializeToString() for p in pages)
                largest = max(map(len, body), default=0)
            cover_bytes = command.cover.SerializeToString()
            content = hash((cover_bytes, body))
            occurrence = seen.get(content, 0)
            seen[content] = occurrence + 1
            key = hash((work.trigger_id, content, occurrence))
            keys.append(key)
            if not pages or not pages[0].HasField("header"):
                kind = None
            else:
                kind = pages[0].header.WhichOneof("sequence_type")
            provenance_ok = True
            if kind == "angzarr_deferred":
                deferred = pages[0].header.angzarr_deferred
                provenance_ok = self._provenance_ok(work, deferred)
            # What core refuses outright (commands.check_command). Fast path: a cover already
            # found valid, page count and payload sizes in core's limits, and a deferred
            # source that is the trigger's (so its root is a valid UUID).
            if not (
                cover_bytes in valid_covers
                and 0 < len(pages) <= MAX_PAGES_PER_BOOK
                and largest <= MAX_PAYLOAD_BYTES
                and provenance_ok
            ):
                problems = check_command(command)
                if problems:  # core refuses it outright: never pending, never lost
                    self._invalid_command(work, i, key, problems)
                    continue
                if len(valid_covers) >= _VALID_COVERS_LIMIT:
                    valid_covers.clear()
                valid_covers.add(cover_bytes)
            entry = unresolved.get(key)
            if entry is None:
                if key not in resolved:  # applied or resolved by an earlier delivery
                    unresolved[key] = (command, trigger, work.number)
            else:
                numbers = entry[2] if isinstance(entry[2], list) else [entry[2]]
                unresolved[key] = (command, trigger, [*numbers, work.number])
            if kind is None and self.profile == "sequence-map":
                self._unstamped(work, i)
            elif not provenance_ok:
                self._invalid_provenance(work, i, deferred)
        work.keys = keys

    def _provenance_ok(self, work: DeliveryWork, deferred: Any) -> bool:
        """Whether a deferred header identifies the trigger (source cover and a page seq)."""
        identity = work.trigger_identity
        if identity is None:
            t_cover = work.trigger.cover
            pages = work.trigger.pages
            identity = work.trigger_identity = (
                t_cover.SerializeToString(),
                t_cover.domain,
                t_cover.root.value,
                edition_name(t_cover),
                (pages[0].header.sequence,)
                if len(pages) == 1
                else frozenset(p.header.sequence for p in pages),
            )
        if deferred.source_seq not in identity[4]:
            return False
        src = deferred.source
        # Fast path: the saga copied the trigger's cover as it came (the usual case).
        if src.SerializeToString() == identity[0]:
            return True
        return (
            src.domain == identity[1]
            and src.root.value == identity[2]
            and edition_name(src) == identity[3]
        )

    def _invalid_command(
        self, work: DeliveryWork, index: int, key: int, problems: Sequence[Problem]
    ) -> None:
        """One ``invalid-command`` finding per logical command (redeliveries of the same
        trigger emit it again; core refuses it each time, the report says it once)."""
        if key in self._invalid_reported:
            return
        self._invalid_reported.add(key)
        command = work.sent[index]
        rc = RecordedCommand(command)
        what = f"command #{index} ({rc.type_name or 'no payload'})"
        self._add(work, self._invalid_finding(work, what, command, problems))

    def _invalid_fact(self, work: DeliveryWork, index: int, problems: Sequence[Problem]) -> None:
        fact = work.facts[index]
        # a tuple: never equal to a command's int key in the same set
        key = (work.trigger_id, index, fact.SerializeToString(deterministic=True))
        if key in self._invalid_reported:
            return
        self._invalid_reported.add(key)
        rest = len(work.facts) - index - 1
        finding = self._invalid_finding(
            work,
            f"fact #{index}",
            fact,
            problems,
            tail=f"; the {rest} fact(s) after it were not injected (core stops at the first "
            "failed injection)"
            if rest
            else "",
        )
        self._add(work, finding)

    def _invalid_finding(
        self, work: DeliveryWork, what: str, book: Any, problems: Sequence[Problem], tail: str = ""
    ) -> Finding:
        first = problems[0]
        target = self._book_label(book)
        rule = first.rule
        message = (
            f"{what} to {target} is refused by angzarr core before any "
            f"business logic runs: {first.field} is {first.value}, but {rule.text} "
            f"(INVALID_ARGUMENT: {first.status}). Core logs it and moves on, so this work is "
            f"lost{tail}. Fix: {rule.fix}"
        )
        details = {
            "field": first.field,
            "value": first.value,
            "rule": rule.name,
            "core_source": rule.source,
            "code": "INVALID_ARGUMENT",
        }
        if len(problems) > 1:
            details["also"] = "; ".join(p.describe() for p in problems[1:])
        return Finding(
            "invalid-command",
            message,
            trigger=self.trigger_label(work.trigger),
            target=target,
            delivery=work.number,
            details=details,
        )

    @staticmethod
    def _book_label(book: Any) -> str:
        """``domain/root`` of a command or fact book for reports, whatever its cover holds."""
        if not book.HasField("cover"):
            return "<no cover>"
        cover = book.cover
        domain = cover.domain or "<no domain>"
        if not cover.HasField("root"):
            return f"{domain}/<no root>"
        return stream_label(domain, cover.root.value, edition_name(cover))

    def _unstamped(self, work: DeliveryWork, index: int) -> None:
        rc = RecordedCommand(work.sent[index])
        self._add(
            work,
            Finding(
                "unstamped-command",
                f"command #{index} ({rc.type_name}) to {rc.domain} has no sequence header; "
                "the destination reads it as sequence 0. Stamp it with "
                "Destinations.stamp_command(cmd, domain) or a deferred header",
                trigger=self.trigger_label(work.trigger),
                target=stream_label(rc.domain, rc.root),
                delivery=work.number,
            ),
        )

    def _invalid_provenance(self, work: DeliveryWork, index: int, deferred: Any) -> None:
        t_cover = work.trigger.cover
        t_seqs = {p.header.sequence for p in work.trigger.pages}
        rc = RecordedCommand(work.sent[index])
        src = deferred.source
        problems = []
        if not src.domain:
            problems.append("the source cover is missing (no source domain: no dedupe)")
        else:
            if src.domain != t_cover.domain:
                problems.append(
                    f"source domain '{src.domain}' is not the trigger's '{t_cover.domain}'"
                )
            if src.root.value != t_cover.root.value:
                problems.append(
                    f"source root {root_str(src.root.value)} is not the trigger's "
                    f"{root_str(t_cover.root.value)}"
                )
            if edition_name(src) != edition_name(t_cover):
                problems.append(
                    f"source edition '{edition_name(src)}' is not the trigger's "
                    f"'{edition_name(t_cover)}'"
                )
        if deferred.source_seq not in t_seqs:
            problems.append(
                f"source_seq {deferred.source_seq} is not a sequence of the trigger "
                f"(pages {sorted(t_seqs)})"
            )
        self._add(
            work,
            Finding(
                "invalid-provenance",
                f"command #{index} ({rc.type_name}) to {rc.domain} carries a deferred header "
                f"that does not identify the trigger: {'; '.join(problems)}. Build it with "
                "Destinations.deferred_header(request.source.cover, <trigger page seq>)",
                trigger=self.trigger_label(work.trigger),
                target=stream_label(rc.domain, rc.root),
                delivery=work.number,
                sequences={"source_seq": deferred.source_seq},
            ),
        )

    def _applied(self, work: DeliveryWork, index: int) -> None:
        """Business logic applied sent command ``index``: a second application of the same
        logical command (redelivery, duplicate publish or a whole-list re-send) is a
        double-apply, reported once per logical command."""
        key = work.keys[index]
        first = self._applied_in.get(key)
        if first is None or first < 0:  # negative: resolved earlier without applying
            self._applied_in[key] = work.number
            return
        if key in self._reapplied:
            return
        self._reapplied.add(key)
        command = work.sent[index]
        rc = RecordedCommand(command)
        target = stream_label(rc.domain, rc.root, edition_name(command.cover))
        if rc.sequence is not None or not rc.stamped:
            advice = (
                "the repeated trigger (a redelivery or a duplicate publish) was stamped with a "
                "fresh explicit sequence, so the destination could not tell it was a duplicate: "
                "stamp "
                "Destinations.deferred_header(trigger cover, trigger seq) instead"
            )
        else:
            advice = (
                "each application carried a different dedupe key: derive the deferred header "
                "from the trigger (its cover and page sequence), not from per-delivery data"
            )
        self._add(
            work,
            Finding(
                "double-apply",
                f"{rc.type_name or 'command'} to {target} was applied by business logic more "
                f"than once (deliveries #{first}, #{work.number}); {advice}",
                trigger=self.trigger_label(work.trigger),
                target=target,
                delivery=work.number,
                sequences={"sequence": rc.sequence} if rc.sequence is not None else {},
                defect=f"{rc.domain} {rc.type_name} {'deferred' if rc.deferred else 'explicit'}",
            ),
        )

    def _collision(self, work: DeliveryWork, index: int, outcome: Outcome) -> None:
        second = RecordedCommand(work.sent[index])
        if outcome.collided_delivery == work.number:
            first = RecordedCommand(work.sent[outcome.collided_with or 0])
            what = (
                f"commands #{outcome.collided_with} ({first.type_name}) and #{index} "
                f"({second.type_name}) of one delivery went to the same target root with the "
                "same deferred source and source_seq"
            )
            fix = (
                "Send one command per target root per trigger, or merge them into one "
                "multi-page command"
            )
        else:
            what = (
                f"command #{index} ({second.type_name}) carried the same deferred source and "
                f"source_seq as command #{outcome.collided_with} of delivery "
                f"#{outcome.collided_delivery}, which served another trigger"
            )
            fix = "Give each trigger its own source_seq (derive it from the trigger)"
        self._add(
            work,
            Finding(
                "dedupe-collision",
                f"{what}: angzarr returned the earlier command's events for this one, whose "
                f"business logic never ran. {fix}",
                trigger=self.trigger_label(work.trigger),
                target=stream_label(second.domain, second.root),
                delivery=work.number,
                dedupe_key=render_key(outcome.dedupe_key) if outcome.dedupe_key else None,
            ),
        )

    def _check_determinism(
        self, work: DeliveryWork, response: Any, response_bytes: bytes, key: int | None = None
    ) -> None:
        """Compare this delivery's output with the first delivery of the same trigger (and,
        for process managers, the same state: ``key``). Explicit sequences count as the same
        when they are the same number or the same offset from each delivery's (fresh) map;
        everything else is compared by content (see :mod:`.outputs`)."""
        digest, info = fingerprint(response, response_bytes, work.seqs)
        key = work.trigger_id if key is None else key
        outputs = self._outputs
        first = outputs.get(key)
        if first is None:
            # Storms keep the first output of the first triggers (to name the differing field)
            # and, beyond that, one int per trigger: digest, sequences, delivery number.
            if self.record or (
                len(outputs) < _KEEP_OUTPUTS and len(response_bytes) <= _KEEP_OUTPUT_BYTES
            ):
                outputs[key] = (work.number, digest, info, response_bytes)
            else:
                packed = pack_seqs(info) << 64 | digest if info else digest
                outputs[key] = packed << 40 | work.number
            return
        if isinstance(first, int):
            first_number, first_digest = first & _MASK40, (first >> 40) & _MASK64
            first_info = unpack_seqs(first >> 104, len(info))
            first_bytes = None
        else:
            first_number, first_digest, first_info, first_bytes = first
        if first_digest == digest:
            index = sequences_differ(first_info, info)
            if index is None:
                return
            c_index, p_index = explicit_page(response, index)
            raw_a, delta_a = first_info[index]
            raw_b, delta_b = info[index]
            difference: Difference | None = Difference(
                f"commands[{c_index}].pages[{p_index}].header.sequence",
                describe_sequence(raw_a, delta_a),
                describe_sequence(raw_b, delta_b),
            )
        elif first_bytes is not None:
            difference = first_difference(
                type(response).FromString(first_bytes), response, first_info, info
            )
            if difference is None:
                return  # only the serialization differed (field or map order)
        else:
            difference = None
        if difference is not None:
            what = difference.path
            match = re.match(r"commands\[(\d+)\]", what)
            if match and int(match.group(1)) < len(response.commands):
                rc = RecordedCommand(response.commands[int(match.group(1))])
                what = (
                    f"command #{match.group(1)} differs at {what} ({rc.type_name or 'no pages'} "
                    f"to {stream_label(rc.domain, rc.root)})"
                )
            else:
                what += " differs"
            where = (
                f"{what}: delivery #{first_number} had {difference.first}, "
                f"delivery #{work.number} has {difference.this}"
            )
            details = {"field": difference.path}
            defect = field_pattern(difference.path)
        else:
            mine = [RecordedCommand(c).describe() for c in response.commands]
            mine += [
                f"fact to {stream_label(f.cover.domain, f.cover.root.value)}"
                for f in _facts_of(response)
            ]
            where = (
                f"delivery #{work.number} emitted {'; '.join(mine) or 'nothing'}, unlike "
                f"delivery #{first_number} (whose output this storm did not keep: only its "
                "digest)"
            )
            details = {}
            defect = "content"
        self._add(
            work,
            Finding(
                "nondeterministic-output",
                f"the same trigger produced different output on redelivery: {where}. A saga must "
                "be a pure function of the trigger and the request (no random ids, clocks or "
                "counters)",
                trigger=self.trigger_label(work.trigger),
                delivery=work.number,
                details=details,
                defect=f"{self.target.name}: {defect}",
            ),
        )

    def _handler_failed(self, work: DeliveryWork, exc: BaseException) -> None:
        label = self.trigger_label(work.trigger)
        trace = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
        if isinstance(exc, MalformedResponseError):
            self._add(
                work,
                Finding(
                    "malformed-response",
                    f"saga {self.target.name} answered with a malformed response: "
                    f"{exc.summary}. No command or fact could be read from it, so the "
                    "trigger's work is lost; return a SagaResponse (same angzarr schema)",
                    trigger=label,
                    delivery=work.number,
                    details={"handler": self.target.name, **exc.details},
                ),
            )
            return
        code = getattr(exc, "code", None)
        domain = None
        if code == codes.MISSING_DESTINATION_SEQUENCE:
            domain = (getattr(exc, "details", None) or {}).get("domain")
        elif isinstance(exc, ValueError):
            match = _SDK_MISSING_RE.search(describe_exception(exc))
            domain = match.group(1) if match else None
        if domain is not None:
            have = sorted(work.seqs)
            self._add(
                work,
                Finding(
                    "missing-destination-sequence",
                    f"the handler stamped domain '{domain}', but the request's "
                    f"destination_sequences has {have or 'no domains'} "
                    f"(profile {self.profile}); declare '{domain}' as an output domain, or use "
                    "a deferred header",
                    trigger=label,
                    target=domain,
                    delivery=work.number,
                    details={"domain": domain, "code": codes.MISSING_DESTINATION_SEQUENCE},
                    traceback=trace,
                ),
            )
            return
        error = type(exc).__name__
        if isinstance(exc, (HandlerResultError, HandlerExited)):
            what = str(exc)
            error = "SystemExit" if isinstance(exc, HandlerExited) else error
        elif isinstance(exc, HandlerAborted):
            what = f"the servicer aborted with {exc.code}: {exc.details}"
        else:
            what = describe_exception(exc)
        self._add(
            work,
            Finding(
                "handler-error",
                f"saga {self.target.name} failed on the trigger ({what}); angzarr logs this and "
                "acks the message, so the trigger's work is lost",
                trigger=label,
                delivery=work.number,
                details={"error": error},
                traceback=trace,
            ),
        )

    def _lost_commands(self) -> list[Finding]:
        lost = []
        for command, trigger, numbers in self._unresolved.values():
            deliveries = numbers if isinstance(numbers, list) else [numbers]
            rc = RecordedCommand(command)
            target = stream_label(rc.domain, rc.root, edition_name(command.cover))
            lost.append(
                Finding(
                    "lost-command",
                    f"{rc.type_name or 'command'} to {target} was emitted (deliveries "
                    f"{', '.join('#' + str(n) for n in deliveries)}) but never applied nor "
                    "rejected: every send ran out of retries or was cut short",
                    trigger=self.trigger_label(trigger),
                    target=target,
                    delivery=deliveries[-1],
                    defect=f"{rc.domain} {rc.type_name}",
                )
            )
        return lost

    def _add(self, work: DeliveryWork, finding: Finding) -> None:
        work.findings.append(finding)
        self.finding_log.append(finding)

    @staticmethod
    def _trigger_key(trigger: Any) -> tuple:
        cover = trigger.cover
        return (
            cover.domain,
            edition_name(cover),
            bytes(cover.root.value),
            tuple(p.header.sequence for p in trigger.pages),
        )

    @staticmethod
    def trigger_label(trigger: Any) -> str:
        """How findings name a trigger: ``domain/root@seq Type`` (a page range for several)."""
        seqs = [p.header.sequence for p in trigger.pages]
        if not seqs:
            at = "(no pages)"
        elif len(seqs) == 1:
            at = f"@{seqs[0]}"
        else:
            at = f"@{seqs[0]}..{seqs[-1]}"
        types = ",".join(_type_name(p.event.type_url) for p in trigger.pages)
        label = stream_label(
            trigger.cover.domain, trigger.cover.root.value, edition_name(trigger.cover)
        )
        return f"{label}{at} {types}".rstrip()


SagaHarness._delivery_class = Delivery


def _facts_of(response: Any) -> Any:
    """The facts of a ``SagaResponse`` (``events``) or a PM response (``facts``)."""
    if response.DESCRIPTOR.name == "ProcessManagerHandleResponse":
        return response.facts
    return response.events


def copy_edition(cover: Any, trigger_cover: Any) -> None:
    """What the coordinator does to every emitted cover (commands, facts; sagas and process
    managers alike): overwrite ``cover``'s edition with the trigger's (clear it when the
    trigger has none)."""
    if trigger_cover.HasField("edition"):
        cover.edition.CopyFrom(trigger_cover.edition)
    elif cover.HasField("edition"):
        cover.ClearField("edition")
