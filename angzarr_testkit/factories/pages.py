"""Pages of a book: payloads into pages, contiguous numbering, the default example payloads.

The pages of a book that carry a sequence are numbered ``start, start + 1, ...`` in order; pages
with a deferred header (``external_deferred``, ``angzarr_deferred``) keep it and take none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf import any_pb2
from google.protobuf.message import Message

from .. import wire
from ..validate import UINT32_MAX
from .coerce import as_message, bad_param, construct

_EX = wire.examples_pb2

#: The header kinds of a deferred page (a fact, or a command awaiting its sequence).
DEFERRED_KINDS = ("external_deferred", "angzarr_deferred")


def header_kind(page: Any) -> str | None:
    """Which ``sequence_type`` a page's header holds (``None`` when it has no header)."""
    if not page.HasField("header"):
        return None
    return page.header.WhichOneof("sequence_type")


def default_events(n: int) -> list[Message]:
    """The example events of the ``n``-th default book: ``OrderCreated``, ``PaymentCharged``."""
    order_id = f"order-{n}"
    return [
        _EX.OrderCreated(
            order_id=order_id,
            customer_id=f"customer-{n}",
            sku="sku-1",
            quantity=2,
            amount_cents=2500,
            shipping_address="1 Test Street",
        ),
        _EX.PaymentCharged(order_id=order_id, amount_cents=2500),
    ]


def default_commands(n: int) -> list[Message]:
    """The example command of the ``n``-th default command book: ``ReserveInventory``."""
    return [_EX.ReserveInventory(order_id=f"order-{n}", sku="sku-1", quantity=2)]


_NOT_PAYLOADS = frozenset(
    {
        "angzarr.EventBook",
        "angzarr.CommandBook",
        "angzarr.EventPage",
        "angzarr.CommandPage",
        "angzarr.Cover",
        "angzarr.PageHeader",
    }
)


class Page:
    """A built page, and whether the caller gave it as a page."""

    __slots__ = ("message", "given")

    def __init__(self, message: Any, *, given: bool) -> None:
        self.message = message
        self.given = given


def build_pages(
    page_class: type[Message], payload_field: str, items: object, param: str
) -> list[Page]:
    """Pages from a list of pages, page mappings, payload messages or ``Any``s (all copied).

    Each result remembers whether the caller gave it as a page (its header is then the
    caller's business when ``validate=False``).
    """
    if items is None:
        return []
    if isinstance(items, (str, bytes, Mapping, Message)) or not isinstance(items, Iterable):
        raise bad_param(param, f"takes a list, got {type(items).__name__}", items)
    pages: list[Page] = []
    page_name = page_class.DESCRIPTOR.full_name
    for i, item in enumerate(items):
        where = f"{param}[{i}]"
        if isinstance(item, Message) and item.DESCRIPTOR.full_name == page_name:
            pages.append(Page(as_message(page_class.DESCRIPTOR, item, where), given=True))
        elif isinstance(item, Mapping):
            pages.append(Page(construct(page_class, dict(item), where), given=True))
        elif isinstance(item, Message):
            name = item.DESCRIPTOR.full_name
            if name in _NOT_PAYLOADS:
                raise bad_param(
                    where,
                    f"a {name} is not a payload; pass domain messages (packed into Any for you) "
                    f"or {page_name} pages",
                    item,
                )
            payload = as_message(any_pb2.Any.DESCRIPTOR, item, where)  # packs non-Any messages
            pages.append(Page(page_class(**{payload_field: payload}), given=False))
        else:
            raise bad_param(
                where,
                f"expected a protobuf message or a {page_name}, got {type(item).__name__}",
                item,
            )
    return pages


def number_pages(pages: list[Page], start: int, *, renumber_given: bool) -> int | None:
    """Number the pages without a deferred header ``start, start + 1, ...``; return the last.

    With ``renumber_given=False`` a page the caller gave keeps its header, and numbering goes on
    after its sequence.
    """
    last: int | None = None
    for page in pages:
        kind = header_kind(page.message)
        if kind in DEFERRED_KINDS:
            continue
        if page.given and not renumber_given:
            if kind == "sequence":
                last = page.message.header.sequence
            continue
        seq = start if last is None else last + 1
        if seq > UINT32_MAX:
            raise bad_param("start", f"pages from {start} run past uint32 ({UINT32_MAX})", start)
        page.message.header.sequence = seq
        last = seq
    return last
