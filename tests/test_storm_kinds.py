"""Saga and process-manager storms: the kind that runs is the kind detected or given, a PM's
triggers come from its source domains with a correlation id, and both verdicts are honest.

angzarr core skips PM triggers without a correlation id and filters triggers to the PM's
subscribed domains (``src/handlers/core/process_manager.rs``,
``ProcessManagerEventHandler::handle``).
"""

from __future__ import annotations

import base64
import json

import pms
import pytest
import sagas

from angzarr_testkit import UsageError, wire
from angzarr_testkit.simulate import FaultPlan, Storm

pytestmark = pytest.mark.timeout(60)

T, E = wire.types_pb2, wire.examples_pb2
FAULTS = FaultPlan(duplicate=0.2, crash_before_ack=0.1, reorder=True)


def published_books(report):
    for line in report.trace.lines():
        record = json.loads(line)
        if record.get("type") == "publish" and "book" in record:
            yield T.EventBook.FromString(base64.b64decode(record["book"]))


def two_domain_events(rng, i):
    """Each workflow: its order, then its reservation (from the inventory domain)."""
    if i % 2 == 0:
        return "order", E.OrderCreated(order_id=f"o-{i // 2}", sku="sku-1", quantity=1)
    return "inventory", E.InventoryReserved(order_id=f"o-{i // 2}", sku="sku-1")


def pm_storm(pm, **kw):
    kw.setdefault("faults", FAULTS)
    return Storm(
        pm,
        pm_domain="fulfillment",
        sources=["order", "inventory"],
        output_domains=["inventory", "shipping"],
        profile="deferred-rewrite",
        events=200,
        roots=100,
        seed=4,
        event_source=two_domain_events,
        **kw,
    )


def test_pm_storm_publishes_from_each_events_source_domain_with_a_correlation_id():
    report = pm_storm(pms.fulfillment_pm).run()
    assert report.options["kind"] == "process-manager"
    seen = {}
    for book in published_books(report):
        name = book.pages[-1].event.type_url.rsplit(".", 1)[-1]
        seen.setdefault(name, set()).add(book.cover.domain)
        assert book.cover.correlation_id  # every trigger belongs to a workflow
    assert seen == {"OrderCreated": {"order"}, "InventoryReserved": {"inventory"}}
    assert report.counts["skipped"] == 0


def test_saga_and_pm_storms_give_honest_verdicts():
    good_pm = pm_storm(pms.fulfillment_pm).run()
    assert good_pm.ok, good_pm.summary()
    assert good_pm.counts["applied"] > 0 and good_pm.counts["redeliveries"] > 0
    bad_pm = pm_storm(pms.forgetful_pm).run()
    assert not bad_pm.ok and "double-apply" in bad_pm.kinds()

    def saga_storm(saga):
        return Storm(
            saga,
            source_domain="order",
            output_domains=["inventory"],
            events=200,
            seed=4,
            event_source=sagas.one_sku,
            faults=FAULTS,
            profile="sequence-map",  # the explicit saga's double-apply is the seed protocol's
        ).run()

    good_saga, bad_saga = saga_storm(sagas.deferred_saga), saga_storm(sagas.explicit_saga)
    assert good_saga.ok and good_saga.options["kind"] == "saga"
    assert not bad_saga.ok and "double-apply" in bad_saga.kinds()


def test_pm_options_select_the_pm_kind_and_saga_kind_refuses_them():
    assert Storm(pms.fulfillment_pm, pm_domain="fulfillment", sources=["order"]).kind == (
        "process-manager"
    )
    with pytest.raises(UsageError, match=r"kind: got 'saga'.*pm_domain, sources only apply"):
        Storm(pms.fulfillment_pm, kind="saga", pm_domain="fulfillment", sources=["order"])


def test_a_pm_callable_run_as_a_saga_is_not_clean():
    """A plain callable declares nothing: without PM options it runs as a saga, and a PM
    answering saga requests is a handler error on every trigger, never a clean run."""
    report = Storm(
        pms.fulfillment_pm,
        source_domain="order",
        output_domains=["inventory"],
        events=5,
        event_source=sagas.one_sku,
    ).run()
    assert report.options["kind"] == "saga"
    assert not report.ok
    assert set(report.kinds()) == {"handler-error", "vacuous-run"}


# -- angzarr_client ProcessManager subclasses (client wire mode) ----------------------------------

client_only = pytest.mark.skipif(
    wire.MODE != "angzarr_client", reason="angzarr_client targets need the client wire mode"
)


def _sdk_pm():
    from angzarr_client.process_manager import ProcessManager, handles, output_domain

    def command(domain, message):
        book = T.CommandBook(
            cover=T.Cover(domain=domain, root=T.UUID(value=b"\x07" * 16)),
        )
        book.pages.add().command.Pack(message)
        return book

    class Fulfil(ProcessManager[dict]):
        name = "fulfillment"

        def _create_empty_state(self):
            return {}

        @output_domain("inventory")
        @handles(E.OrderCreated, input_domain="order")
        def on_order(self, event: E.OrderCreated):
            return command("inventory", E.ReserveInventory(order_id=event.order_id))

        @output_domain("shipping")
        @handles(E.InventoryReserved, input_domain="inventory")
        def on_reserved(self, event: E.InventoryReserved):
            return command("shipping", E.ShipOrder(order_id=event.order_id))

    return Fulfil


@client_only
def test_sdk_pm_storm_publishes_each_event_type_from_its_declared_domain():
    report = Storm(_sdk_pm(), events=60, roots=30, seed=2).run()  # default event source
    assert report.options["kind"] == "process-manager"
    seen = {}
    for book in published_books(report):
        name = book.pages[-1].event.type_url.rsplit(".", 1)[-1]
        seen.setdefault(name, set()).add(book.cover.domain)
    assert seen == {"OrderCreated": {"order"}, "InventoryReserved": {"inventory"}}
    assert report.counts["handler_calls"] > 0


@client_only
def test_sdk_pm_refuses_the_saga_kind():
    with pytest.raises(UsageError, match=r"kind: got 'saga'.*Fulfil is a process manager"):
        Storm(_sdk_pm(), kind="saga")
