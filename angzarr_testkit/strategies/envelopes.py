"""Envelopes: payloads, pages, deferred headers, and event and command books.

They keep the invariants of :mod:`angzarr_testkit.factories`: one cover per book, sequences
contiguous from a start, ``next_sequence`` = last + 1 (or the start when there are no pages),
payloads packed with the ``type.googleapis.com/`` prefix.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import any_pb2
from google.protobuf.message import Message
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from .. import wire
from ..validate import check_message, check_uint32
from .arbitrary import messages
from .params import (
    UINT32_MAX,
    as_strategy,
    bad_param,
    check_domain_value,
    check_enum_value,
    check_plain,
    check_size,
)
from .primitives import covers, sequences

_T = wire.types_pb2
_EX = wire.examples_pb2

_EVENT_TYPES = (
    "OrderCreated",
    "OrderCancelled",
    "InventoryReserved",
    "InventoryRestocked",
    "ReservationRefused",
    "PaymentCharged",
    "OrderShipped",
)
_COMMAND_TYPES = (
    "ReserveInventory",
    "ReleaseInventory",
    "ChargePayment",
    "ShipOrder",
    "RestockInventory",
)
#: The values of `command_books(stamping=...)`.
STAMPINGS = ("sequence", "angzarr_deferred", "unstamped")


def example_events() -> SearchStrategy[Message]:
    """Any of the example domain's events (``OrderCreated``, ``InventoryReserved``, ...)."""
    return st.one_of(*(messages(getattr(_EX, name)) for name in _EVENT_TYPES))


def example_commands() -> SearchStrategy[Message]:
    """Any of the example domain's commands (``ReserveInventory``, ``ChargePayment``, ...)."""
    return st.one_of(*(messages(getattr(_EX, name)) for name in _COMMAND_TYPES))


def _packed(message: Message) -> any_pb2.Any:
    if message.DESCRIPTOR.full_name == "google.protobuf.Any":
        copy = any_pb2.Any()
        copy.ParseFromString(message.SerializeToString())
        return copy
    return wire.pack(message)


def event_pages(sequence: object = None, *, events: object = None) -> SearchStrategy[Any]:
    """``angzarr.EventPage`` with ``header.sequence`` and a packed payload from ``events``
    (default :func:`example_events`)."""
    check_plain(sequence, "sequence", check_uint32)
    check_plain(events, "events", check_message)
    return st.builds(
        lambda seq, payload: _T.EventPage(
            header=_T.PageHeader(sequence=seq), event=_packed(payload)
        ),
        as_strategy(sequence, sequences()),
        as_strategy(events, example_events()),
    )


def deferred_headers(source: object = None, *, source_seq: object = None) -> SearchStrategy[Any]:
    """``angzarr.PageHeader`` with ``angzarr_deferred{source, source_seq}`` (default: any cover,
    any uint32)."""
    check_plain(source, "source", check_message, full_name="angzarr.Cover")
    check_plain(source_seq, "source_seq", check_uint32)
    return st.builds(
        lambda src, seq: _T.PageHeader(
            angzarr_deferred=_T.AngzarrDeferredSequence(source=src, source_seq=seq)
        ),
        as_strategy(source, covers()),
        as_strategy(source_seq, sequences()),
    )


def _book_cover_strategy(
    cover: object, domain: object, root: object, correlation_id: object, edition: object
) -> SearchStrategy[Any]:
    if cover is not None:
        if any(v is not None for v in (domain, root, correlation_id, edition)):
            raise bad_param("cover", "pass either cover= or domain=/root=/... shortcuts", cover)
        check_plain(cover, "cover", check_message, full_name="angzarr.Cover")
        return as_strategy(cover)
    return covers(domain, root=root, correlation_id=correlation_id, edition=edition)


def event_books(
    domain: object = None,
    *,
    min_pages: int = 0,
    max_pages: int = 5,
    events: object = None,
    start: object = None,
    cover: object = None,
    root: object = None,
    correlation_id: object = None,
    edition: object = None,
) -> SearchStrategy[Any]:
    """``angzarr.EventBook``: one cover, ``min_pages..max_pages`` pages numbered contiguously
    from ``start`` (default: any uint32 that leaves room), ``next_sequence`` = last + 1 or start.

    ``events`` is a strategy of payload messages (default :func:`example_events`).
    """
    check_size(min_pages, max_pages, "pages")
    check_domain_value(domain, "domain")
    check_plain(events, "events", check_message)
    check_plain(start, "start", check_uint32)
    cover_s = _book_cover_strategy(cover, domain, root, correlation_id, edition)
    start_s = as_strategy(start, sequences(UINT32_MAX - max_pages))
    payloads = st.lists(
        as_strategy(events, example_events()), min_size=min_pages, max_size=max_pages
    )
    return st.builds(_event_book, cover_s, start_s, payloads)


def _event_book(cover: Any, start: int, payloads: list[Message]) -> Any:
    if start + len(payloads) > UINT32_MAX:
        raise bad_param(
            "start", f"{start} leaves no room for {len(payloads)} pages in uint32", start
        )
    pages = [
        _T.EventPage(header=_T.PageHeader(sequence=start + i), event=_packed(p))
        for i, p in enumerate(payloads)
    ]
    return _T.EventBook(cover=cover, pages=pages, next_sequence=start + len(pages))


def command_books(
    domain: object = None,
    *,
    min_pages: int = 1,
    max_pages: int = 3,
    commands: object = None,
    start: object = None,
    stamping: object = "sequence",
    deferred: object = None,
    merge_strategy: object = None,
    cover: object = None,
    root: object = None,
    correlation_id: object = None,
    edition: object = None,
) -> SearchStrategy[Any]:
    """``angzarr.CommandBook``: one cover and ``min_pages..max_pages`` pages of ``commands``
    (default :func:`example_commands`).

    ``stamping`` (a value or a strategy of them): ``"sequence"`` numbers the pages from ``start``;
    ``"angzarr_deferred"`` puts one ``deferred`` header (default :func:`deferred_headers`) on
    every page; ``"unstamped"`` leaves them without a header. ``merge_strategy`` (default
    ``MERGE_COMMUTATIVE``) is set on every page.
    """
    check_size(min_pages, max_pages, "pages")
    check_domain_value(domain, "domain")
    check_plain(commands, "commands", check_message)
    check_plain(start, "start", check_uint32)
    check_plain(deferred, "deferred", check_message, full_name="angzarr.PageHeader")
    check_enum_value(merge_strategy, "merge_strategy", _T.MergeStrategy)
    if isinstance(stamping, (list, dict, set)) or (
        not isinstance(stamping, SearchStrategy) and stamping not in STAMPINGS
    ):
        raise bad_param("stamping", f"{stamping!r} is not one of {', '.join(STAMPINGS)}", stamping)
    return st.builds(
        _command_book,
        _book_cover_strategy(cover, domain, root, correlation_id, edition),
        as_strategy(start, sequences(UINT32_MAX - max_pages)),
        st.lists(as_strategy(commands, example_commands()), min_size=min_pages, max_size=max_pages),
        as_strategy(stamping),
        as_strategy(deferred, deferred_headers()),
        as_strategy(merge_strategy, st.just(0)),
    )


def _command_book(
    cover: Any, start: int, payloads: list[Message], stamping: str, deferred: Any, merge: Any
) -> Any:
    if stamping not in STAMPINGS:
        raise bad_param("stamping", f"{stamping!r} is not one of {', '.join(STAMPINGS)}", stamping)
    if isinstance(merge, str):
        merge = _T.MergeStrategy.Value(merge)
    pages = []
    for i, payload in enumerate(payloads):
        page = _T.CommandPage(command=_packed(payload), merge_strategy=merge)
        if stamping == "sequence":
            page.header.sequence = start + i
        elif stamping == "angzarr_deferred":
            page.header.CopyFrom(deferred)
        pages.append(page)
    return _T.CommandBook(cover=cover, pages=pages)
