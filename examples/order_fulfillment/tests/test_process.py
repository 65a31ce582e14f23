"""The fulfilment process manager under the kit."""

import pytest
from angzarr_client.process_manager import ProcessManager

from angzarr_testkit import uuid_for, uuid_str_for
from order_fulfillment.messages import InventoryReserved, OrderCreated
from order_fulfillment.process import FulfillmentProcess, shipment_root
from order_fulfillment.sagas import sku_root

WORKFLOW = uuid_str_for("checkout-1")


def pm(pm_harness):
    return pm_harness(FulfillmentProcess)


def test_declared_domains_are_read_from_the_class(pm_harness):
    h = pm(pm_harness)
    assert h.pm_domain == "fulfillment"
    assert sorted(h.sources) == ["inventory", "order"]
    assert sorted(h.output_domains) == ["inventory", "shipping"]


def test_workflow_reserves_then_ships(pm_harness):
    h = pm(pm_harness)
    order = OrderCreated(order_id="o-1", sku="sku-red", quantity=1)
    d1 = h.deliver(order, domain="order", root=uuid_for("o-1"), correlation_id=WORKFLOW)
    assert d1.command("inventory").root == sku_root("sku-red")
    assert d1.sent[0].deferred.source_seq == 0  # provenance: the PM's own event
    reserved = InventoryReserved(order_id="o-1", sku="sku-red", quantity=1)
    d2 = h.deliver(reserved, domain="inventory", root=sku_root("sku-red"), correlation_id=WORKFLOW)
    assert d2.command("shipping").root == shipment_root("o-1")
    assert h.state(WORKFLOW).event_types == [
        "testkit_examples.order.FulfillmentStarted",
        "testkit_examples.order.ShipmentRequested",
    ]


def test_redelivered_trigger_does_nothing_twice(pm_harness):
    h = pm(pm_harness)
    order = OrderCreated(order_id="o-1", sku="sku-red", quantity=1)
    d = h.deliver(order, domain="order", root=uuid_for("o-1"), correlation_id=WORKFLOW)
    h.redeliver(d, times=10)
    assert h.aggregate("inventory", sku_root("sku-red")).applied == 1
    assert h.state(WORKFLOW).next_sequence == 1


def test_process_manager_storm(storm):
    from order_fulfillment.testing import workflow_events

    report = storm(
        FulfillmentProcess,
        events=400,
        roots=400,
        event_source=workflow_events,
        faults={"duplicate": 0.1, "crash_before_ack": 0.05, "reorder": True},
    ).run()
    assert report.counts["applied"] > 0


class PlainSdkProcess(FulfillmentProcess):
    """The same workflow with angzarr-client 0.3.1's own ``handle``: process events without
    sequence headers and without a cover, commands with the default merge strategy."""

    name = "fulfillment"

    @classmethod
    def handle(cls, trigger, process_state, destination_sequences=None):
        return ProcessManager.handle.__func__(cls, trigger, process_state, destination_sequences)


@pytest.mark.angzarr_allow("handler-error", "requeue-loop")
def test_the_sdks_own_process_events_loop_forever_under_angzarr_core(pm_harness):
    # core stores a header-less page as sequence 0 on the nil-root stream: the workflow's
    # second event conflicts, no command is sent, and the trigger is requeued forever
    h = pm_harness(PlainSdkProcess)
    order = OrderCreated(order_id="o-1", sku="sku-red", quantity=1)
    h.deliver(order, domain="order", root=uuid_for("o-1"), correlation_id=WORKFLOW)
    reserved = InventoryReserved(order_id="o-1", sku="sku-red", quantity=1)
    d = h.deliver(reserved, domain="inventory", root=sku_root("sku-red"), correlation_id=WORKFLOW)
    assert d.sent == []  # nothing was shipped
    kinds = {f.kind for f in h.findings}
    assert kinds == {"handler-error", "requeue-loop"}
    assert "Sequence conflict: expected 1, got 0" in h.findings[0].message
