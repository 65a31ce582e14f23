"""Example sagas used by the kit's own tests (also reachable as "sagas:NAME" targets).

Each is a plain callable ``fn(SagaHandleRequest)`` written the way a user would, against the
active wire classes.
"""

from __future__ import annotations

import itertools
import logging
import uuid

from angzarr_testkit import Destinations, uuid_for, wire

T = wire.types_pb2
S = wire.saga_pb2
E = wire.examples_pb2
PREFIX = wire.TYPE_URL_PREFIX


def order_of(request) -> E.OrderCreated:
    event = E.OrderCreated()
    request.source.pages[-1].event.Unpack(event)
    return event


def reserve(event: E.OrderCreated, **cover) -> T.CommandBook:
    book = T.CommandBook(
        cover=T.Cover(
            domain=cover.pop("domain", "inventory"),
            root=T.UUID(value=cover.pop("root", uuid_for(event.sku))),
            **cover,
        )
    )
    book.pages.add().command.Pack(
        E.ReserveInventory(order_id=event.order_id, sku=event.sku, quantity=event.quantity),
        type_url_prefix=PREFIX,
    )
    return book


def charge(event: E.OrderCreated) -> T.CommandBook:
    book = T.CommandBook(
        cover=T.Cover(domain="payment", root=T.UUID(value=uuid_for(event.customer_id or "c")))
    )
    book.pages.add().command.Pack(
        E.ChargePayment(order_id=event.order_id, amount_cents=event.amount_cents),
        type_url_prefix=PREFIX,
    )
    return book


def explicit_saga(request):
    """Stamps the map's sequence: correct on first delivery, double-applies on redelivery."""
    destinations = Destinations.from_proto(request.destination_sequences)
    return S.SagaResponse(
        commands=[destinations.stamp_command(reserve(order_of(request)), "inventory")]
    )


def deferred_saga(request):
    """Stamps a deferred header identifying the trigger: dedupes on redelivery."""
    cmd = reserve(order_of(request))
    header = Destinations.deferred_header(
        request.source.cover, request.source.pages[-1].header.sequence
    )
    for page in cmd.pages:
        page.header.CopyFrom(header)
    return [cmd]


def strict_deferred_saga(request):
    """A deferred header and MERGE_STRICT on each page: what angzarr core HEAD lets through a
    destination with history (its merge check skips deferred STRICT commands)."""
    commands = deferred_saga(request)
    for cmd in commands:
        for page in cmd.pages:
            page.merge_strategy = T.MERGE_STRICT
    return commands


def two_domain_saga(request):
    """Reserves inventory and charges payment, both stamped from the map."""
    destinations = Destinations.from_proto(request.destination_sequences)
    event = order_of(request)
    return [
        destinations.stamp_command(reserve(event), "inventory"),
        destinations.stamp_command(charge(event), "payment"),
    ]


def unstamped_saga(request):
    return reserve(order_of(request))


def stale_saga(request):
    """Stamps a hard-coded sequence 2 with MERGE_STRICT."""
    cmd = reserve(order_of(request))
    cmd.pages[0].header.sequence = 2
    cmd.pages[0].merge_strategy = T.MERGE_STRICT
    return [cmd]


def stale_saga_with(strategy: int):
    def saga(request):
        cmd = reserve(order_of(request))
        cmd.pages[0].header.sequence = 2
        cmd.pages[0].merge_strategy = strategy
        return [cmd]

    return saga


def colliding_saga(request):
    """Two deferred commands to the same inventory root from one trigger."""
    event = order_of(request)
    header = Destinations.deferred_header(
        request.source.cover, request.source.pages[-1].header.sequence
    )
    first, second = reserve(event), reserve(event)
    second.pages[0].command.Pack(
        E.ReleaseInventory(order_id=event.order_id, sku=event.sku, quantity=1),
        type_url_prefix=PREFIX,
    )
    for cmd in (first, second):
        cmd.pages[0].header.CopyFrom(header)
    return [first, second]


def random_id_saga(request):
    """Puts a random order id in the payload: nondeterministic."""
    event = order_of(request)
    event.order_id = str(uuid.uuid4())
    cmd = reserve(event)
    cmd.pages[0].header.CopyFrom(
        Destinations.deferred_header(request.source.cover, request.source.pages[-1].header.sequence)
    )
    return [cmd]


_counter = itertools.count()


def counter_target_saga(request):
    """Picks its target root from a process-wide counter: nondeterministic."""
    event = order_of(request)
    cmd = reserve(event, root=uuid_for(f"sku-{next(_counter)}"))
    cmd.pages[0].header.CopyFrom(
        Destinations.deferred_header(request.source.cover, request.source.pages[-1].header.sequence)
    )
    return [cmd]


def stamps_shipping_saga(request):
    """Stamps a domain it never declared."""
    destinations = Destinations.from_proto(request.destination_sequences)
    return [destinations.stamp_command(reserve(order_of(request), domain="shipping"), "shipping")]


def sdk_style_missing_saga(request):
    """Raises what angzarr_client 0.3.1's Destinations.stamp_command raises."""
    raise ValueError("No sequence for domain 'shipping' - check output_domains config")


def exploding_saga(request):
    raise RuntimeError("boom")


def wrong_type_saga(request):
    return {"commands": []}


def wrong_item_saga(request):
    return [T.Cover(domain="inventory")]


def bad_cover_saga(request):
    event = order_of(request)
    short_root = reserve(event, root=b"\x01\x02\x03")
    bad_domain = reserve(event, domain="Inventory!")
    for cmd in (short_root, bad_domain):
        cmd.pages[0].header.CopyFrom(
            Destinations.deferred_header(
                request.source.cover, request.source.pages[-1].header.sequence
            )
        )
    return [short_root, bad_domain]


class ServicerSaga:
    """A gRPC-servicer-style saga."""

    def __init__(self) -> None:
        self.calls = 0

    def Handle(self, request, context):  # noqa: N802 - gRPC naming
        self.calls += 1
        return S.SagaResponse(commands=deferred_saga(request))


class AbortingServicer:
    def Handle(self, request, context):  # noqa: N802 - gRPC naming
        context.abort("INVALID_ARGUMENT", "cannot handle this")


def stale_manual_saga(request):
    return stale_saga_with(T.MERGE_MANUAL)(request)


def wrong_provenance_saga(request):
    """A deferred header whose source_seq is not a sequence of the trigger."""
    cmd = reserve(order_of(request))
    cmd.pages[0].header.CopyFrom(
        Destinations.deferred_header(
            request.source.cover, request.source.pages[-1].header.sequence + 100
        )
    )
    return [cmd]


def one_sku(rng, i):
    """Storm events: orders for one SKU, so every command targets one inventory root."""
    return E.OrderCreated(order_id=f"o-{i}", sku="sku-1", quantity=1 + rng.randrange(3))


def refusing_inventory(ctx):
    """Business logic that refuses every reservation."""
    raise ValueError("not enough stock")


def echo_saga(request):
    """Answers with its own request: bytes that are not a SagaResponse (malformed-response)."""
    return request


def silent_saga(request):
    """Emits nothing for every trigger although it declares output domains (vacuous-run)."""
    return []


def fact_saga_with_id(make_id):
    """Records one restock fact per trigger, its external_id ``make_id(order event)``."""

    def saga(request):
        event = order_of(request)
        fact = T.EventBook(
            cover=T.Cover(domain="inventory", root=T.UUID(value=uuid_for(event.sku)))
        )
        page = fact.pages.add()
        page.event.Pack(
            E.InventoryRestocked(sku=event.sku, quantity=event.quantity), type_url_prefix=PREFIX
        )
        page.header.external_deferred.external_id = make_id(event)
        return S.SagaResponse(events=[fact])

    return saga


#: the bug: one external_id per SKU, so every later restock of the SKU is "already processed"
constant_fact_id_saga = fact_saga_with_id(lambda event: f"restock-{event.sku}")
#: the fix: the id names the order (what makes the fact unique)
unique_fact_id_saga = fact_saga_with_id(lambda event: f"restock-{event.order_id}")


_router_log = logging.getLogger("sagas.router")


def swallowing_saga(request):
    """Routes like the public examples' router: catches every exception, logs it at ERROR
    and returns no commands (silent-handler)."""
    try:
        return exploding_saga(request)
    except Exception as exc:
        _router_log.error("saga_failed: %s", exc)
        return []


def swallowing_stamp_saga(request):
    """The same router around a saga that stamps from the map, which angzarr core HEAD sends
    empty: missing-destination-sequence, although the error never leaves the handler."""
    try:
        return stamps_shipping_saga(request)
    except Exception as exc:
        _router_log.error("saga_failed: %s", exc)
        return []
