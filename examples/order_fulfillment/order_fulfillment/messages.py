"""The domain's protobuf messages.

In your project these are your own generated ``*_pb2`` modules. The example reuses the
order-fulfilment messages that ship with angzarr-testkit (package ``testkit_examples.order``)
so that it needs no code generation step.
"""

from angzarr_testkit.wire import examples_pb2 as _pb

ChargePayment = _pb.ChargePayment
InventoryReserved = _pb.InventoryReserved
InventoryRestocked = _pb.InventoryRestocked
OrderCreated = _pb.OrderCreated
PaymentCharged = _pb.PaymentCharged
ReservationRefused = _pb.ReservationRefused
ReserveInventory = _pb.ReserveInventory
RestockInventory = _pb.RestockInventory

__all__ = [
    "ChargePayment",
    "InventoryReserved",
    "InventoryRestocked",
    "OrderCreated",
    "PaymentCharged",
    "ReservationRefused",
    "ReserveInventory",
    "RestockInventory",
]
