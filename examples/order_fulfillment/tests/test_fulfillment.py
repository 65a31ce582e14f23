"""The order-fulfilment saga under the kit: deliveries, redeliveries, a storm."""

import pytest

from angzarr_testkit import FaultPlan, uuid_for
from order_fulfillment.messages import InventoryReserved, OrderCreated, ReserveInventory
from order_fulfillment.sagas import ExplicitSequenceSaga, OrderFulfillmentSaga, sku_root
from order_fulfillment.testing import order_events, stocked

ORDER = OrderCreated(
    order_id="order-1", customer_id="ada", sku="sku-red", quantity=2, amount_cents=4200
)


def test_order_reserves_inventory_and_charges_payment(saga_harness):
    h = saga_harness(OrderFulfillmentSaga, output_domains=["inventory", "payment"])
    stocked(h)
    d = h.deliver(ORDER, root=uuid_for("order-1"), correlation_id="checkout-1")
    reserve = d.command("inventory").unpack(ReserveInventory)
    assert (reserve.sku, reserve.quantity) == ("sku-red", 2)
    assert d.command("payment").deferred.source_seq == 0
    assert [o.status for o in d.outcomes] == ["applied", "applied"]
    reserved = h.aggregate("inventory", sku_root("sku-red")).events_of(InventoryReserved)
    assert [r.quantity for r in reserved] == [2]


def test_redelivered_order_is_deduplicated(saga_harness):
    h = saga_harness(OrderFulfillmentSaga, output_domains=["inventory", "payment"])
    stocked(h)
    d = h.deliver(ORDER, root=uuid_for("order-1"))
    h.redeliver(d, times=20)
    inventory = h.aggregate("inventory", sku_root("sku-red"))
    assert inventory.applied == 1 and inventory.deduped == 20
    # the saga_harness fixture fails the test on any error finding


def test_inventory_refuses_to_oversell(saga_harness):
    h = saga_harness(OrderFulfillmentSaga, output_domains=["inventory", "payment"])
    stocked(h, units=1)
    d = h.deliver(ORDER, root=uuid_for("order-1"))
    refused = d.outcomes[0]
    assert refused.status == "rejected"
    assert "cannot reserve 2 of sku-red: 1 available" in refused.message
    assert [f.kind for f in h.findings] == ["rejected-command"]  # a note, not an error


@pytest.mark.angzarr_allow("missing-destination-sequence")
def test_explicit_sequence_variant_fails_on_every_trigger_under_core(saga_harness):
    # angzarr core HEAD sends an empty destination_sequences: stamp_command raises
    h = saga_harness(ExplicitSequenceSaga, output_domains=["inventory", "payment"])
    stocked(h)
    for i in range(3):
        h.deliver(ORDER, root=uuid_for(f"order-{i}"))
    assert [f.kind for f in h.findings] == ["missing-destination-sequence"] * 3
    assert h.aggregate("inventory", sku_root("sku-red")).applied == 0


@pytest.mark.angzarr_allow("double-apply")
def test_explicit_sequence_variant_double_applies(saga_harness):
    # angzarr-client 0.3's map protocol fills the map: the bug is then the redelivery
    h = saga_harness(
        ExplicitSequenceSaga, output_domains=["inventory", "payment"], profile="sequence-map"
    )
    stocked(h)
    d = h.deliver(ORDER, root=uuid_for("order-1"))
    h.redeliver(d)
    assert h.aggregate("inventory", sku_root("sku-red")).applied == 2
    assert {f.kind for f in h.findings} == {"double-apply"}


@pytest.mark.angzarr_storm(
    events=2000,
    roots=50,
    faults=FaultPlan(
        duplicate=0.05,
        crash_before_ack=0.05,
        crash_mid_dispatch=0.05,
        nack_requeue=0.02,
        concurrent_redelivery=0.02,
        reorder=True,
    ),
    concurrency=2,
)
def test_fulfillment_survives_a_redelivery_storm(storm):
    report = storm(
        OrderFulfillmentSaga,
        output_domains=["inventory", "payment"],
        event_source=order_events,
        setup=stocked,
        require=["duplicate", "crash-before-ack", "crash-mid-dispatch"],
    ).run()
    assert report.counts["applied"] == 2 * report.counts["published"]
    # the storm fixture fails the test if the report is not clean


def one_customer_orders(rng, i):
    # One SKU and one customer: the sequence map (one value per domain) is then right for
    # every command, so what remains is the redelivery bug itself.
    return OrderCreated(order_id=f"order-{i}", customer_id="ada", sku="sku-red", quantity=1)


@pytest.mark.angzarr_allow("double-apply")
def test_storm_catches_the_explicit_variant(storm):
    report = storm(
        ExplicitSequenceSaga,
        output_domains=["inventory", "payment"],
        event_source=one_customer_orders,
        setup=stocked,
        events=500,
        faults=FaultPlan(duplicate=0.1),
        profile="sequence-map",
    ).run()
    assert set(report.kinds()) == {"double-apply"}
