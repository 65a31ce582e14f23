"""angzarr_client Saga subclasses as targets (client wire mode only: they need the SDK)."""

import pytest

from angzarr_testkit import SagaHarness, TargetError, uuid_for, wire

pytestmark = pytest.mark.skipif(
    wire.MODE != "angzarr_client", reason="angzarr_client Saga targets need the client wire mode"
)

E = wire.examples_pb2


def _sagas():
    from angzarr_client.destinations import Destinations as SdkDestinations
    from angzarr_client.saga import Saga, domain, handles, output_domain

    @domain("order")
    @output_domain("inventory")
    class ReserveSaga(Saga):
        name = "saga-order-inventory"

        @handles(E.OrderCreated)
        def on_created(self, event: E.OrderCreated, destinations: SdkDestinations):
            return E.ReserveInventory(
                order_id=event.order_id, sku=event.sku, quantity=event.quantity
            )

    @domain("order")
    @output_domain("inventory")
    class StampingSaga(Saga):
        name = "saga-order-inventory-stamping"

        @handles(E.OrderCreated)
        def on_created(self, event: E.OrderCreated, destinations: SdkDestinations):
            cmd = wire.types_pb2.CommandBook(
                cover=wire.types_pb2.Cover(
                    domain="inventory", root=wire.types_pb2.UUID(value=uuid_for(event.sku))
                )
            )
            cmd.pages.add().command.Pack(
                E.ReserveInventory(order_id=event.order_id), type_url_prefix=wire.TYPE_URL_PREFIX
            )
            destinations.stamp_command(cmd, "shipping")  # 0.3.1 raises a plain ValueError
            return cmd

    return ReserveSaga, StampingSaga


def test_saga_subclass_declares_domains_and_is_served_like_the_sdk():
    reserve_saga, _ = _sagas()
    h = SagaHarness(reserve_saga)
    assert h.source_domain == "order" and h.output_domains == ["inventory"]
    assert h.target.handled_types == [E.OrderCreated]
    d = h.deliver(E.OrderCreated(order_id="o-1", sku="sku-1", quantity=1), root=uuid_for("o"))
    cmd = d.command("inventory")
    assert cmd.root == uuid_for("o")  # the SDK targets the source root
    assert cmd.unpack(E.ReserveInventory).order_id == "o-1"
    assert d.outcomes[0].status == "applied"
    assert isinstance(d.request, wire.saga_pb2.SagaHandleRequest)


def test_saga_instance_and_string_targets():
    reserve_saga, _ = _sagas()
    assert SagaHarness(reserve_saga()).target.source_domain == "order"


def test_sdk_value_error_becomes_missing_destination_sequence():
    _, stamping_saga = _sagas()
    h = SagaHarness(stamping_saga)
    h.deliver(E.OrderCreated(order_id="o-1", sku="sku-1"), root=uuid_for("o"))
    (finding,) = h.findings
    assert finding.kind == "missing-destination-sequence"
    assert finding.details["domain"] == "shipping"


def test_sdk_saga_handler_servicer_target():
    from angzarr_client.saga_handler import SagaHandler

    reserve_saga, _ = _sagas()
    h = SagaHarness(SagaHandler(reserve_saga), source_domain="order", output_domains=["inventory"])
    d = h.deliver(E.OrderCreated(order_id="o-1", sku="sku-1"), root=uuid_for("o"))
    assert d.outcomes[0].status == "applied"


def test_unknown_string_target_in_client_mode():
    with pytest.raises(TargetError):
        SagaHarness("angzarr_client.saga:NoSuchSaga")
