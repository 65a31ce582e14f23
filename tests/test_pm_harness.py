"""ProcessManagerHarness: state threading, provenance, dedupe, prepare, poison triggers."""

from __future__ import annotations

import uuid

import pms
import pytest

from angzarr_testkit import ConfigurationError, TargetError, UsageError, uuid_for, wire
from angzarr_testkit.errors import InvalidArgumentError, codes
from angzarr_testkit.framework.pm import NIL_ROOT, ProcessManagerHarness, pm_root

T, E = wire.types_pb2, wire.examples_pb2
CORR = "6f1c2d3e-0000-4000-8000-000000000001"
ORDER = uuid_for("order-1")


def harness(pm=pms.fulfillment_pm, **kw):
    kw.setdefault("pm_domain", "fulfillment")
    kw.setdefault("sources", ["order", "inventory"])
    kw.setdefault("output_domains", ["inventory", "shipping"])
    kw.setdefault("profile", "deferred-rewrite")
    return ProcessManagerHarness(pm, **kw)


def created(order_id="o-1"):
    return E.OrderCreated(order_id=order_id, sku="sku-1", quantity=2)


def kinds(h):
    return [f.kind for f in h.findings]


def test_state_threads_between_triggers_of_one_workflow():
    h = harness()
    d1 = h.deliver(created(), domain="order", root=ORDER, correlation_id=CORR)
    assert len(d1.request.process_state.pages) == 0
    assert [p.header.sequence for p in d1.process_events] == [0]
    d2 = h.deliver(
        E.InventoryReserved(order_id="o-1", sku="sku-1", quantity=2),
        domain="inventory",
        root=uuid_for("sku-1"),
        correlation_id=CORR,
    )
    assert [p.event.type_url.rsplit(".", 1)[-1] for p in d2.request.process_state.pages] == [
        "FulfillmentStarted"
    ]
    assert d2.command("shipping").type_name == "testkit_examples.order.ShipOrder"
    state = h.state(CORR)
    assert state.next_sequence == 2 and state.root == uuid.UUID(CORR).bytes
    assert state.event_types == [
        "testkit_examples.order.FulfillmentStarted",
        "testkit_examples.order.ShipmentRequested",
    ]
    h.assert_clean()


def test_commands_carry_pm_provenance_and_dedupe_on_redelivery():
    h = harness()
    d = h.deliver(created(), domain="order", root=ORDER, correlation_id=CORR)
    ref = d.sent[0].deferred
    assert (ref.domain, ref.root, ref.source_seq) == ("fulfillment", uuid.UUID(CORR).bytes, 0)
    assert ref.source.correlation_id == CORR
    again = h.redeliver(d, times=5)
    assert all(r.commands == [] for r in again)  # the state says it is done
    assert h.aggregate("inventory", uuid_for("sku-1")).applied == 1
    assert h.state(CORR).next_sequence == 1
    h.assert_clean()


def test_forgetful_pm_double_applies_state_and_commands():
    h = harness(pms.forgetful_pm)
    d = h.deliver(created(), domain="order", root=ORDER, correlation_id=CORR)
    h.redeliver(d)
    assert h.state(CORR).next_sequence == 2  # FulfillmentStarted twice
    messages = [f.message for f in h.findings if f.kind == "double-apply"]
    assert any("persisted process events for the same trigger again" in m for m in messages)
    assert any("applied by business logic more than once" in m for m in messages)


def test_multi_page_trigger_history_retriggering_is_reported():
    h = harness(pms.history_pm)
    h.deliver(created(), domain="order", root=ORDER, correlation_id=CORR, sequence=0)
    book = T.EventBook(cover=T.Cover(domain="order", root=T.UUID(value=ORDER), correlation_id=CORR))
    for seq, event in enumerate([created(), E.OrderCreated(order_id="o-1", sku="sku-2")]):
        page = book.pages.add()
        page.header.sequence = seq
        page.event.Pack(event, type_url_prefix=wire.TYPE_URL_PREFIX)
    h.deliver(book)
    found = [f for f in h.findings if f.kind == "nondeterministic-output"]
    assert found and "replayed history" in found[0].message


def test_no_pm_event_collides_across_triggers():
    h = harness(pms.stateless_pm)
    h.deliver(created("o-1"), domain="order", root=ORDER, correlation_id=CORR, sequence=0)
    second = h.deliver(created("o-2"), domain="order", root=ORDER, correlation_id=CORR, sequence=1)
    assert second.outcomes[0].status == "deduped"
    assert "dedupe-collision" in kinds(h)
    assert h.aggregate("inventory", uuid_for("sku-1")).applied == 1


def test_two_commands_to_one_root_collide():
    h = harness(pms.two_to_one_root_pm)
    d = h.deliver(created(), domain="order", root=ORDER, correlation_id=CORR)
    assert [o.status for o in d.outcomes] == ["applied", "deduped"]
    assert kinds(h) == ["dedupe-collision"]


def test_pm_commands_are_sent_once_without_retries():
    def stale(request):
        response = pms.fulfillment_pm(request)
        for command in response.commands:
            command.pages[0].header.sequence = 7
            command.pages[0].merge_strategy = T.MERGE_STRICT
        return response

    h = harness(stale, profile="sequence-map")
    d = h.deliver(created(), domain="order", root=ORDER, correlation_id=CORR)
    assert d.outcomes[0].status == "retried-out" and d.outcomes[0].attempts == 1


def test_trigger_without_correlation_id_is_skipped():
    h = harness()
    d = h.deliver(created(), domain="order", root=ORDER)
    assert d.skipped and d.request is None and h.findings == []
    with pytest.raises(AssertionError, match="skipped: its trigger has no correlation id"):
        d.command("inventory")


def test_poison_trigger_is_requeued_to_the_limit_then_dead_lettered():
    h = harness(pms.poison_pm, delivery_limit=5)  # x-delivery-limit: 5 returns
    d = h.deliver(created(), domain="order", root=ORDER, correlation_id=CORR)
    assert d.attempts == 6
    assert len(h.deliveries) == 6 and all(x.redelivered for x in h.deliveries[1:])
    assert kinds(h) == ["handler-error"] * 6 + ["dead-lettered"]
    assert h.findings[-1].details["deliveries"] == "6"
    assert "RuntimeError: cannot parse trigger" in h.findings[0].message


def test_legacy_prepare_flow_fills_the_map_from_declared_destinations():
    pm = pms.PreparingPM()
    h = harness(pm, prepare=True, profile="sequence-map")
    h.given_destination("inventory", uuid_for("sku-1"), next_sequence=4)
    d = h.deliver(created(), domain="order", root=ORDER, correlation_id=CORR)
    assert pm.prepared == 1
    assert [c.domain for c in d.prepared] == ["inventory"]
    assert dict(d.request.destination_sequences) == {"inventory": 4}
    assert d.command("inventory").sequence == 4
    assert d.outcomes[0].status == "applied"
    h.assert_clean()


def test_pm_root_from_correlation_id():
    assert pm_root(CORR) == uuid.UUID(CORR).bytes
    assert pm_root("order-42") == NIL_ROOT


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        ({"pm_domain": None}, ConfigurationError, "pm_domain"),
        ({"sources": "order"}, ConfigurationError, "list of domain names"),
        ({"prepare": True}, ConfigurationError, "needs a Prepare"),
        ({"delivery_limit": 0}, ConfigurationError, "delivery_limit"),
    ],
)
def test_bad_pm_options(kwargs, error, needle):
    with pytest.raises(error, match=needle):
        harness(**kwargs)


def test_bad_pm_targets_and_domains():
    with pytest.raises(TargetError, match="as a process manager"):
        ProcessManagerHarness(42, pm_domain="fulfillment")
    h = harness()
    with pytest.raises(InvalidArgumentError, match="not one of the PM's sources") as info:
        h.deliver(created(), domain="payment", root=ORDER, correlation_id=CORR)
    assert info.value.code == codes.UNKNOWN_DOMAIN


def test_wrong_return_type_is_a_handler_error():
    h = harness(lambda request: ["not a response"], delivery_limit=1)
    h.deliver(created(), domain="order", root=ORDER, correlation_id=CORR)
    assert kinds(h) == ["handler-error", "handler-error", "dead-lettered"]
    assert "expected a ProcessManagerHandleResponse" in h.findings[0].message


# -- storms ----------------------------------------------------------------------------------

from angzarr_testkit.simulate import FaultPlan, Storm  # noqa: E402

PM_FAULTS = FaultPlan(
    duplicate=0.1,
    crash_before_ack=0.05,
    nack_requeue=0.05,
    reorder=True,
    concurrent_redelivery=0.05,
)


def pm_storm(pm, **kw):
    kw.setdefault("faults", PM_FAULTS)
    kw.setdefault("events", 300)
    return Storm(
        pm,
        kind="process-manager",
        pm_domain="fulfillment",
        sources=["order", "inventory"],
        output_domains=["inventory", "shipping"],
        profile="deferred-rewrite",
        roots=kw.pop("roots", 300),
        seed=5,
        event_source=pms.order_events,
        concurrency=2,
        **kw,
    )


def test_pm_storm_is_clean_for_a_correct_pm():
    report = pm_storm(pms.fulfillment_pm).run()
    assert report.ok, report.summary()
    assert report.counts["applied"] > 0 and report.counts["redeliveries"] > 0


def test_pm_storm_catches_a_forgetful_pm():
    report = pm_storm(pms.forgetful_pm).run()
    assert "double-apply" in report.kinds()


def test_pm_storm_poison_trigger_loops_to_the_delivery_limit():
    report = pm_storm(pms.poison_pm, faults=FaultPlan(delivery_limit=3), events=5).run()
    assert report.counts["deliveries"] == 20  # limit 3: dead-lettered on the 4th return
    assert report.kinds() == {"handler-error": 20, "dead-lettered": 5, "vacuous-run": 1}


def test_pm_storm_replays(tmp_path):
    path = tmp_path / "pm.jsonl"
    original = pm_storm(pms.forgetful_pm, trace=path).run()
    replayed = Storm.replay(path, saga=pms.forgetful_pm)
    assert replayed.kinds() == original.kinds() and replayed.counts == original.counts


def test_kind_is_validated():
    with pytest.raises(UsageError, match="kind: got 'workflow'"):
        Storm(pms.fulfillment_pm, kind="workflow")


def test_pm_crash_mid_dispatch_loses_commands_because_state_is_persisted_first():
    """angzarr persists PM events before sending the PM's commands: a consumer crash in
    between leaves state that says 'done' and a command that was never sent."""
    report = pm_storm(
        pms.fulfillment_pm, faults=FaultPlan(crash_mid_dispatch=1.0, delivery_limit=2), events=20
    ).run()
    lost = [f for f in report.findings if f.kind == "lost-command"]
    assert lost and all("ReserveInventory" in f.message for f in lost)
    assert report.counts["applied"] == 0


def test_aborting_pm_servicer_is_reported_as_a_requeued_pm_error():
    class Aborting:
        def Handle(self, request, context):  # noqa: N802 - gRPC naming
            context.abort("UNAVAILABLE", "downstream is down")

    h = harness(Aborting(), delivery_limit=1)
    h.deliver(created(), domain="order", root=ORDER, correlation_id=CORR)
    first = h.findings[0]
    assert first.kind == "handler-error"
    assert "aborted with UNAVAILABLE: downstream is down" in first.message
    assert "requeues" in first.message
