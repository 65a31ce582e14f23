"""Test helpers of the project: storm event source and harness setup."""

from __future__ import annotations

from angzarr_testkit import uuid_for

from . import aggregates
from .messages import InventoryRestocked, OrderCreated
from .sagas import sku_root

SKUS = ("sku-red", "sku-blue")


def order_events(rng, i):
    """Storm events: small orders for two SKUs (stock is restocked generously)."""
    return OrderCreated(
        order_id=f"order-{i}",
        customer_id=f"customer-{i % 7}",
        sku=SKUS[i % 2],
        quantity=1 + rng.randrange(2),
        amount_cents=1999,
    )


def stocked(harness, units: int = 100_000) -> None:
    """Give a harness the project's business logic and stock for every SKU."""
    harness.given_aggregate("inventory", handler=aggregates.inventory)
    harness.given_aggregate("payment", handler=aggregates.payment)
    for sku in SKUS:
        harness.given_destination(
            "inventory", sku_root(sku), events=[InventoryRestocked(sku=sku, quantity=units)]
        )


__all__ = ["SKUS", "order_events", "stocked", "uuid_for"]


def workflow_events(rng, i):
    """Process-manager storm events: (domain, event) pairs, one new order per workflow."""
    return "order", OrderCreated(order_id=f"order-{i}", sku=SKUS[i % 2], quantity=1)
