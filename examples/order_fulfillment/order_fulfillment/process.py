"""The fulfilment workflow: a process manager over order, inventory and shipping.

OrderCreated (order) -> ReserveInventory (inventory); InventoryReserved (inventory) ->
ShipOrder (shipping). Its state is its own events (FulfillmentStarted, ShipmentRequested),
keyed by the workflow's correlation id: a redelivered trigger finds the step already done.
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
