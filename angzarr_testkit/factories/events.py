"""``EventPage`` and ``EventBook`` factories: one cover, contiguous pages, ``next_sequence``."""

from __future__ import annotations

from typing import Any, TypeVar

import factory
from google.protobuf.message import Message

from .. import wire
from ..validate import UINT32_MAX
from .base import ProtoFactory, pop_params
from .coerce import as_message, bad_param, check_uint32_param, construct
from .covers import CoverFactory, book_cover
from .pages import build_pages, default_events, number_pages

M = TypeVar("M", bound=Message)

_T = wire.types_pb2


class EventPageFactory(ProtoFactory):
    """``angzarr.EventPage`` with ``header.sequence`` and a packed example event.

    Params: ``sequence`` (default 0; or pass ``header``), ``event`` (any message, packed; or an
    ``Any``), ``external``, ``created_at`` (``Timestamp`` or ``datetime``), ``committed``,
    ``cascade_id``, ``validate``.
    """

    class Meta:
        model = _T.EventPage

    sequence = None
    header = None
    external = None
    event = factory.Maybe(
        factory.LazyAttribute(lambda o: o.external is None),
        yes_declaration=factory.Sequence(lambda n: default_events(n)[0]),
        no_declaration=None,
    )
    created_at = None
    validate = True

    @classmethod
    def _assemble(cls, model_class: type[M], kwargs: dict[str, Any]) -> M:
        kwargs.pop("validate", None)
        sequence = kwargs.pop("sequence", None)
        if sequence is not None and kwargs.get("header") is not None:
            raise bad_param("sequence", "pass either sequence= or header=, not both", sequence)
        if kwargs.get("header") is None:
            kwargs["header"] = _T.PageHeader(
                sequence=check_uint32_param(0 if sequence is None else sequence, "sequence")
            )
        if kwargs.get("event") is not None and kwargs.get("external") is not None:
            raise bad_param(
                "event", "event and external are a oneof; pass only one", kwargs["event"]
            )
        return construct(model_class, kwargs, cls.__name__)


class EventBookFactory(ProtoFactory):
    """``angzarr.EventBook``: one cover, contiguous pages from ``start``, ``next_sequence``.

    ``EventBookFactory(events=[OrderCreated(...), ...], start=3, domain="order")``. Defaults: domain
    ``"order"``, two example events (``OrderCreated``, ``PaymentCharged``) at sequences 0 and 1.

    Params:
        events: payload messages (packed), ``Any``s or ``EventPage``s.
        pages: ``EventPage``s (or mappings); the same as ``events``, pass one of the two.
        start: sequence of the first page (default 0, or ``snapshot.sequence + 1``).
        cover, domain, root, correlation_id, edition: the book's single cover.
        snapshot, next_sequence: as on the wire; ``next_sequence`` is computed when omitted.
        validate: check and renumber (default); ``False`` keeps given pages as they are.

    Pages with an ``external_deferred`` or ``angzarr_deferred`` header (facts) keep it and take
    no sequence; every other page is (re)numbered.
    """

    class Meta:
        model = _T.EventBook

    cover = factory.SubFactory(CoverFactory, validate=factory.SelfAttribute("..validate"))
    domain = None
    root = None
    correlation_id = None
    edition = None
    start = None
    pages = None
    events = factory.Maybe(
        factory.LazyAttribute(lambda o: o.pages is None),
        yes_declaration=factory.Sequence(default_events),
        no_declaration=None,
    )
    snapshot = None
    next_sequence = None
    validate = True

    @classmethod
    def _assemble(cls, model_class: type[M], kwargs: dict[str, Any]) -> M:
        validate = bool(kwargs.pop("validate", True))
        cover = book_cover(kwargs, cls.__name__, validate=validate)
        start, events, pages = pop_params(kwargs, "start", "events", "pages")
        if events is not None and pages is not None:
            raise bad_param("events", "pass either events= or pages=, not both", events)
        snapshot = kwargs.pop("snapshot", None)
        if snapshot is not None:
            snapshot = as_message(_T.Snapshot.DESCRIPTOR, snapshot, "snapshot")
        if start is None:
            start = snapshot.sequence + 1 if snapshot is not None else 0
        check_uint32_param(start, "start")
        if validate and snapshot is not None and start <= snapshot.sequence:
            raise bad_param(
                "start", f"pages after a snapshot at {snapshot.sequence} start later", start
            )
        param = "events" if events is not None else "pages"
        built = build_pages(_T.EventPage, "event", events if events is not None else pages, param)
        last = number_pages(built, start, renumber_given=validate)
        computed = start if last is None else last + 1
        next_sequence = kwargs.pop("next_sequence", None)
        if next_sequence is None:
            next_sequence = computed
        elif check_uint32_param(next_sequence, "next_sequence") != computed and validate:
            raise bad_param(
                "next_sequence",
                f"{next_sequence} disagrees with the pages (expected {computed}); omit it to "
                "have it computed, or pass validate=False for an inconsistent book",
                next_sequence,
            )
        if next_sequence > UINT32_MAX:
            raise bad_param("start", f"the book runs past uint32 ({UINT32_MAX})", start)
        kwargs.update(
            cover=cover,
            pages=[p.message for p in built],
            snapshot=snapshot,
            next_sequence=next_sequence,
        )
        return construct(model_class, kwargs, cls.__name__)
