"""What a harness is given and delivered, checked: destination histories, business logic
with its merge policy, and the trigger a ``deliver()`` call describes (as an ``EventBook``).

Argument errors are raised here, in the order the harness documents them, before anything
changes; :mod:`.saga` calls these from its ``given_*`` and ``deliver`` methods.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf.message import Message

from .. import wire
from ..errors import ConfigurationError, InvalidArgumentError, codes
from ..ids import uuid_for
from ..validate import (
    UINT32_MAX,
    check_callable,
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
    AggregateSpec,
    EventStore,
    check_sequence_arg,
    merge_policy,
    normalize_events,
    validate_cover,
)

__all__ = [
    "aggregate_spec",
    "edition_arg",
    "seed_destination",
    "trigger_book",
    "validate_domain",
    "validate_root",
]


def validate_domain(domain: Any, what: str) -> str:
    """An angzarr domain name (``what`` names the parameter): the check is
    :func:`angzarr_testkit.validate.check_domain`, raised as ``InvalidArgumentError``."""
    return checked(InvalidArgumentError, check_domain, domain, what)


def validate_root(root: Any, what: str = "root") -> bytes:
    """16 UUID bytes (code ``INVALID_COVER``): :func:`angzarr_testkit.validate.check_root`,
    raised as ``InvalidArgumentError``."""
    return checked(InvalidArgumentError, check_root, root, what)


def edition_arg(edition: Any, param: str = "edition") -> str:
    """``None``/``""``/``"angzarr"`` (the main timeline) as ``""``, else the edition name."""
    if edition is None:
        return ""
    name = checked(InvalidArgumentError, check_str, edition, param)
    return "" if name == "angzarr" else name


def seed_destination(
    store: EventStore,
    domain: str,
    root: bytes,
    next_sequence: int,
    events: Iterable[Any] | None,
    edition: str | None,
) -> tuple[bytes, str]:
    """``SagaHarness.given_destination``'s work: check its arguments and give the stream in
    ``store`` its history; returns the root and the edition (``""`` for the main timeline).

    Raises:
        InvalidArgumentError, ConfigurationError: as ``given_destination`` documents.
    """
    validate_domain(domain, "domain")
    root = validate_root(root)
    next_sequence = check_sequence_arg(next_sequence, "next_sequence")
    ed = edition_arg(edition)
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
    stream = store.stream(domain, root, ed)
    if stream.has_history:
        raise ConfigurationError(
            f"destination {stream.label} already has a history; declare each destination "
            "once, before delivering",
            details={"domain": domain},
        )
    if event_list is not None:
        pages = normalize_events(event_list, wire.command_handler_pb2)
        for i, page in enumerate(pages):
            page.header.sequence = i
        stream.extend(pages)
    else:
        stream.start_at(next_sequence)
    return root, ed


#: what ``given_aggregate(merge=...)`` accepts
MERGE_ACCEPTED = "'strict', 'commutative', 'overlapping' or a callable fn(CommandBook) -> bool"


def aggregate_spec(domain: str, handler: Any, merge: Any) -> AggregateSpec:
    """``SagaHarness.given_aggregate``'s arguments, checked, as the pipeline's spec of
    ``domain``."""
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
            signature=MERGE_ACCEPTED,
        )
    elif not isinstance(merge, str) or merge not in ("strict", "commutative", "overlapping"):
        raise recast(
            usage_error(
                "merge",
                merge,
                MERGE_ACCEPTED,
                type_error=not isinstance(merge, str),
            ),
            ConfigurationError,
        )
    return AggregateSpec(
        handler=handler, commutative=merge_policy(merge), overlapping=merge == "overlapping"
    )


def trigger_book(
    event: Any,
    root: bytes | None,
    correlation_id: str,
    sequence: int | None,
    edition: str | None,
    domain: str | None,
    *,
    source_domain: str | None,
    source_heads: dict[tuple[str, str, bytes], int],
) -> Any:
    """The trigger ``EventBook`` of ``SagaHarness.deliver(event, ...)``: ``event`` packed
    into a one-page book at ``sequence`` (by default the source root's next one, from
    ``source_heads``, which it advances), or a copy of a given ``EventBook``."""
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
        src_domain = domain or source_domain
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
            sequence = source_heads.get(head_key, 0)
            if sequence > UINT32_MAX - 1:
                raise InvalidArgumentError(
                    f"sequence: the source root's next sequence {sequence} runs past "
                    "uint32; pass sequence= explicitly",
                    code=codes.SEQUENCE_OUT_OF_RANGE,
                    details={"parameter": "sequence", "value": str(sequence)},
                )
        source_heads[head_key] = max(source_heads.get(head_key, 0), sequence + 1)
        book = T.EventBook(
            cover=T.Cover(domain=src_domain, root=T.UUID(value=root), correlation_id=correlation_id)
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
