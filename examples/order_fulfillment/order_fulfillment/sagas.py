"""Order -> inventory and payment: the fulfilment saga, and a buggy variant.

``OrderFulfillmentSaga`` stamps every command with an ``angzarr_deferred`` header naming the
trigger (source cover and sequence; what the newer SDK's ``Destinations.deferred_header``
builds), so a redelivered ``OrderCreated`` is deduplicated by each destination on
(source.root, source_seq, target.root). Its pages say ``MERGE_STRICT``: angzarr core checks a
deferred command against a destination with history as expecting sequence 0, and lets it
through only under STRICT or AGGREGATE_HANDLES (the default, COMMUTATIVE, would need a Replay
proving the changed fields disjoint; the inventory has history, its stock).

``ExplicitSequenceSaga`` stamps explicit sequences from ``destination_sequences`` instead.
Under angzarr core HEAD the map is empty, so it fails on every trigger; under angzarr-client
0.3's map protocol it works on the first delivery and applies the reservation again on every
AMQP redelivery.
"""

from __future__ import annotations

from angzarr_client.destinations import Destinations as SdkDestinations
from angzarr_client.proto.angzarr import types_pb2
from angzarr_client.saga import Saga, domain, handles, output_domain

from .messages import ChargePayment, OrderCreated, ReserveInventory

INVENTORY, PAYMENT = "inventory", "payment"


def sku_root(sku: str) -> bytes:
    """Inventory aggregates are keyed by SKU (deterministic uuid5)."""
    import uuid

    return uuid.uuid5(uuid.NAMESPACE_URL, f"sku:{sku}").bytes


def customer_root(customer_id: str) -> bytes:
    import uuid

    return uuid.uuid5(uuid.NAMESPACE_URL, f"customer:{customer_id}").bytes


def _command(target_domain: str, root: bytes, message, correlation_id: str):
    book = types_pb2.CommandBook(
        cover=types_pb2.Cover(
            domain=target_domain, root=types_pb2.UUID(value=root), correlation_id=correlation_id
        )
    )
    book.pages.add().command.Pack(message)
    return book


def _commands(event: OrderCreated, correlation_id: str = "") -> list:
    return [
        _command(
            INVENTORY,
            sku_root(event.sku),
            ReserveInventory(order_id=event.order_id, sku=event.sku, quantity=event.quantity),
            correlation_id,
        ),
        _command(
            PAYMENT,
            customer_root(event.customer_id),
            ChargePayment(
                order_id=event.order_id,
                customer_id=event.customer_id,
                amount_cents=event.amount_cents,
            ),
            correlation_id,
        ),
    ]


@domain("order")
@output_domain(INVENTORY)
class OrderFulfillmentSaga(Saga):
    """OrderCreated -> ReserveInventory (inventory) + ChargePayment (payment)."""

    name = "saga-order-fulfillment"

    @handles(OrderCreated)
    def on_order_created(self, event: OrderCreated) -> list:
        return _commands(event)

    @classmethod
    def handle(cls, source, destination_sequences=None):
        # Stamp provenance on everything this trigger emits: the destination dedupes a
        # redelivered trigger on (source.root, source_seq, target.root).
        response = super().handle(source, destination_sequences)
        header = types_pb2.PageHeader()
        header.angzarr_deferred.source.CopyFrom(source.cover)
        header.angzarr_deferred.source_seq = source.pages[-1].header.sequence
        for command in response.commands:
            for page in command.pages:
                page.header.CopyFrom(header)
                page.merge_strategy = types_pb2.MERGE_STRICT
        return response


@domain("order")
@output_domain(INVENTORY)
class ExplicitSequenceSaga(Saga):
    """The buggy variant: explicit sequences from the map, no deferred header."""

    name = "saga-order-fulfillment-explicit"

    @handles(OrderCreated)
    def on_order_created(self, event: OrderCreated, destinations: SdkDestinations) -> list:
        commands = _commands(event)
        destinations.stamp_command(commands[0], INVENTORY)
        destinations.stamp_command(commands[1], PAYMENT)
        return commands
