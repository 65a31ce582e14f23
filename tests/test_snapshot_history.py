"""given_destination(next_sequence=N) is an angzarr snapshot at N - 1: O(1) in N.

Modelled on angzarr core (github angzarr-io/angzarr, main): ``EventBookRepository::get`` in
``src/repository/event_book/mod.rs`` loads a snapshot and the events from
``snapshot.sequence + 1`` on, and ``calculate_next_sequence`` in ``src/proto_ext/books.rs``
gives the last page's sequence + 1, else the snapshot's sequence + 1, else 0.
"""

from __future__ import annotations

import tracemalloc

import pytest
import sagas

from angzarr_testkit import InvalidArgumentError, SagaHarness, UsageError, codes, uuid_for, wire
from angzarr_testkit.framework.pm import ProcessManagerHarness

T, E = wire.types_pb2, wire.examples_pb2
SKU, ORDER = uuid_for("sku-1"), uuid_for("order-1")
UINT32_MAX = 2**32 - 1

pytestmark = pytest.mark.timeout(20)


def harness(saga=sagas.explicit_saga, **kw):
    kw.setdefault("profile", "sequence-map")  # these tests pin the seed protocol
    kw.setdefault("source_domain", "order")
    kw.setdefault("output_domains", ["inventory"])
    return SagaHarness(saga, **kw)


def order(order_id="o-1"):
    return E.OrderCreated(order_id=order_id, sku="sku-1", quantity=2)


def test_history_is_a_snapshot_at_n_minus_1_with_no_pages():
    h = harness()
    view = h.given_destination("inventory", SKU, next_sequence=5)
    assert view.next_sequence == 5
    assert view.events == []
    assert view.snapshot is not None and view.snapshot.sequence == 4
    assert h.aggregate("inventory", SKU).snapshot.sequence == 4


def test_zero_is_an_empty_stream_without_snapshot():
    view = harness().given_destination("inventory", SKU, next_sequence=0)
    assert (view.next_sequence, view.events, view.snapshot) == (0, [], None)


def test_business_logic_sees_the_snapshot_and_the_pages_after_it():
    seen = []

    def logic(ctx):
        seen.append(
            (
                ctx.events.snapshot.sequence,
                [p.header.sequence for p in ctx.events.pages],
                ctx.events.next_sequence,
            )
        )
        return [E.InventoryReserved(sku="sku-1")]

    h = harness()
    h.given_destination("inventory", SKU, next_sequence=7)
    h.given_aggregate("inventory", handler=logic)
    first = h.deliver(order("o-1"), root=ORDER)
    assert first.command("inventory").sequence == 7
    assert first.outcomes[0].status == "applied"
    h.deliver(order("o-2"), root=uuid_for("order-2"))
    assert seen == [(6, [], 7), (6, [7], 8)]
    view = h.aggregate("inventory", SKU)
    assert [p.header.sequence for p in view.events] == [7, 8]
    assert view.next_sequence == 9
    h.assert_clean()


def test_dedupe_hit_after_a_snapshot_returns_the_stored_events():
    h = harness(sagas.deferred_saga)
    h.given_destination("inventory", SKU, next_sequence=1000)
    d = h.deliver(order(), root=ORDER)
    again = h.redeliver(d)[0]
    assert again.outcomes[0].status == "deduped"
    assert [p.header.sequence for p in again.outcomes[0].events.pages] == [1000]
    assert list(again.outcomes[0].events.pages) == list(d.outcomes[0].events.pages)


def test_sequence_map_reports_the_snapshot_head():
    h = harness()
    h.given_destination("inventory", SKU, next_sequence=2**31)
    d = h.deliver(order(), root=ORDER)
    assert dict(d.request.destination_sequences) == {"inventory": 2**31}
    assert d.outcomes[0].status == "applied"


def test_the_largest_history_is_instant_and_small():
    tracemalloc.start()
    try:
        h = harness()
        view = h.given_destination("inventory", SKU, next_sequence=UINT32_MAX)
        h.aggregate("inventory", SKU)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert view.next_sequence == UINT32_MAX and view.snapshot.sequence == UINT32_MAX - 1
    assert peak < 3 * 2**20, f"peak {peak} bytes"


@pytest.mark.parametrize("bad", [2**32, 2**32 + 5, -1, 10**30])
def test_beyond_uint32_is_a_usage_error(bad):
    with pytest.raises(InvalidArgumentError) as info:
        harness().given_destination("inventory", SKU, next_sequence=bad)
    assert "next_sequence" in info.value.message
    assert info.value.code == codes.SEQUENCE_OUT_OF_RANGE


def test_a_destination_is_declared_once_even_as_a_snapshot():
    h = harness()
    h.given_destination("inventory", SKU, next_sequence=3)
    with pytest.raises(UsageError, match="already has a history"):
        h.given_destination("inventory", SKU, next_sequence=3)


def test_events_and_next_sequence_together_are_refused():
    with pytest.raises(UsageError, match="next_sequence"):
        harness().given_destination("inventory", SKU, next_sequence=2, events=[order()])


def test_given_events_still_form_the_history():
    view = harness().given_destination("inventory", SKU, events=[order("a"), order("b")])
    assert [p.header.sequence for p in view.events] == [0, 1]
    assert view.snapshot is None and view.next_sequence == 2


def test_pm_prepare_flow_reads_the_snapshot_head():
    import pms

    h = ProcessManagerHarness(
        pms.PreparingPM(),
        pm_domain="fulfillment",
        sources=["order", "inventory"],
        output_domains=["inventory", "shipping"],
        prepare=True,
        profile="sequence-map",  # the two-phase Prepare flow is the seed protocol
    )
    h.given_destination("inventory", uuid_for("sku-1"), next_sequence=40)
    d = h.deliver(order(), domain="order", root=ORDER, correlation_id=str(_corr()))
    assert dict(d.request.destination_sequences) == {"inventory": 40}


def _corr():
    import uuid

    return uuid.UUID("6f1c2d3e-0000-4000-8000-000000000001")


def test_behave_history_step_with_a_snapshot(tmp_path):
    """The behave steps work over a snapshot history, and say why an event inside it is
    not listed."""
    from test_behave_steps import run_feature

    result = run_feature(
        tmp_path,
        """
        Feature: snapshot
          Scenario: history as a snapshot
            Given the saga "sagas:explicit_saga" from domain "order" to domains "inventory"
            And the framework profile "sequence-map"
            And destination "inventory" root "sku-1" at sequence 4294967290
            When OrderCreated is delivered from root "order-1"
              | field | value |
              | sku   | sku-1 |
            Then aggregate "inventory" root "sku-1" is at sequence 4294967291
            And aggregate "inventory" root "sku-1" has events:
              | sequence   | type             |
              | 4294967290 | ReserveInventory |
          Scenario: an event inside the snapshot
            Given the saga "sagas:explicit_saga" from domain "order" to domains "inventory"
            And the framework profile "sequence-map"
            And destination "inventory" root "sku-1" at sequence 5
            Then aggregate "inventory" root "sku-1" has events:
              | sequence | type             |
              | 2        | ReserveInventory |
    """,
    )
    out = result.stdout + result.stderr
    assert "1 scenario passed, 1 failed" in out, out
    assert "the history up to 4 is a snapshot" in out
    assert "Traceback" not in out
