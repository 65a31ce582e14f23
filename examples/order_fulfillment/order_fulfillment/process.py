"""The fulfilment workflow: a process manager over order, inventory and shipping.

OrderCreated (order) -> ReserveInventory (inventory); InventoryReserved (inventory) ->
ShipOrder (shipping). Its state is its own events (FulfillmentStarted, ShipmentRequested),
keyed by the workflow's correlation id: a redelivered trigger finds the step already done.

``handle`` finishes what angzarr-client 0.3.1's ``ProcessManager`` leaves out and angzarr core
HEAD needs: core stores process events with the sequences they carry (a page without a header
is sequence 0, so a workflow's second event would conflict and requeue forever) on the stream
of the book's cover root (none: one nil-root stream for every workflow), and checks a deferred
command against a destination with history by merge strategy (MERGE_STRICT lets it through).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from angzarr_client.aggregate import applies
from angzarr_client.process_manager import ProcessManager, handles, output_domain
from angzarr_client.proto.angzarr import types_pb2

from angzarr_testkit.wire import examples_pb2 as _pb

from .messages import InventoryReserved, OrderCreated, ReserveInventory
from .sagas import sku_root

FulfillmentStarted = _pb.FulfillmentStarted
ShipmentRequested = _pb.ShipmentRequested
ShipOrder = _pb.ShipOrder


def shipment_root(order_id: str) -> bytes:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"shipment:{order_id}").bytes


def workflow_root(correlation_id: str) -> bytes:
    """The workflow's own stream root: its correlation id as a UUID (or a uuid5 of it)."""
    try:
        return uuid.UUID(correlation_id).bytes
    except ValueError:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"workflow:{correlation_id}").bytes


def _next_sequence(state: types_pb2.EventBook) -> int:
    if state.next_sequence:
        return state.next_sequence
    return max((p.header.sequence + 1 for p in state.pages), default=0)


def _command(domain: str, root: bytes, message) -> types_pb2.CommandBook:
    book = types_pb2.CommandBook(
        cover=types_pb2.Cover(domain=domain, root=types_pb2.UUID(value=root))
    )
    book.pages.add().command.Pack(message)
    return book


@dataclass
class FulfillmentState:
    started: bool = False
    shipment_requested: bool = False


class FulfillmentProcess(ProcessManager[FulfillmentState]):
    """Reserve stock for a new order, then ship it once the stock is reserved."""

    name = "fulfillment"

    def _create_empty_state(self) -> FulfillmentState:
        return FulfillmentState()

    @classmethod
    def handle(cls, trigger, process_state, destination_sequences=None):
        response = super().handle(trigger, process_state, destination_sequences)
        events = response.process_events
        if events.pages:
            head = _next_sequence(process_state)
            for i, page in enumerate(events.pages):
                page.header.sequence = head + i
            correlation_id = trigger.cover.correlation_id
            events.cover.CopyFrom(
                types_pb2.Cover(
                    domain=cls.name,
                    root=types_pb2.UUID(value=workflow_root(correlation_id)),
                    correlation_id=correlation_id,
                )
            )
        for command in response.commands:
            for page in command.pages:
                page.merge_strategy = types_pb2.MERGE_STRICT
        return response

    @applies(FulfillmentStarted)
    def apply_started(self, state: FulfillmentState, event: FulfillmentStarted) -> None:
        state.started = True

    @applies(ShipmentRequested)
    def apply_shipment(self, state: FulfillmentState, event: ShipmentRequested) -> None:
        state.shipment_requested = True

    @output_domain("inventory")
    @handles(OrderCreated, input_domain="order")
    def on_order_created(self, event: OrderCreated):
        if self.state.started:
            return None  # a redelivery: this step is done
        self._apply_and_record(FulfillmentStarted(order_id=event.order_id))
        return _command(
            "inventory",
            sku_root(event.sku),
            ReserveInventory(order_id=event.order_id, sku=event.sku, quantity=event.quantity),
        )

    @output_domain("shipping")
    @handles(InventoryReserved, input_domain="inventory")
    def on_inventory_reserved(self, event: InventoryReserved):
        if self.state.shipment_requested:
            return None
        self._apply_and_record(ShipmentRequested(order_id=event.order_id))
        return _command(
            "shipping",
            shipment_root(event.order_id),
            ShipOrder(order_id=event.order_id, address="on file"),
        )
