"""Business logic of the destination aggregates (what angzarr runs for each command).

Each handler takes the ``ContextualCommand`` (prior events + the command) and returns the new
events; raising rejects the command.
"""

from __future__ import annotations

from .messages import (
    ChargePayment,
    InventoryReserved,
    InventoryRestocked,
    PaymentCharged,
    ReserveInventory,
    RestockInventory,
)


class InsufficientStock(Exception):
    """The inventory refuses to reserve more than it has."""


def stock_level(events) -> int:
    """Rebuild the available stock from an inventory aggregate's events."""
    available = 0
    for page in events.pages:
        restocked, reserved = InventoryRestocked(), InventoryReserved()
        if page.event.Unpack(restocked):
            available += restocked.quantity
        elif page.event.Unpack(reserved):
            available -= reserved.quantity
    return available


def inventory(ctx) -> list:
    """Inventory: restock, and reserve only what is available."""
    any_command = ctx.command.pages[0].command
    restock = RestockInventory()
    if any_command.Unpack(restock):
        return [InventoryRestocked(sku=restock.sku, quantity=restock.quantity)]
    reserve = ReserveInventory()
    if not any_command.Unpack(reserve):
        raise ValueError(f"inventory does not handle {any_command.type_url}")
    available = stock_level(ctx.events)
    if reserve.quantity > available:
        raise InsufficientStock(
            f"cannot reserve {reserve.quantity} of {reserve.sku}: {available} available"
        )
    return [
        InventoryReserved(order_id=reserve.order_id, sku=reserve.sku, quantity=reserve.quantity)
    ]


def payment(ctx) -> list:
    """Payment: every charge is recorded."""
    charge = ChargePayment()
    ctx.command.pages[0].command.Unpack(charge)
    return [PaymentCharged(order_id=charge.order_id, amount_cents=charge.amount_cents)]
