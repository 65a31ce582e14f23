"""SagaHarness: the fake coordinator, the destination pipeline and the oracle."""

from __future__ import annotations

import pytest
import sagas
from hypothesis import given, settings
from hypothesis import strategies as st

from angzarr_testkit import (
    ConfigurationError,
    InvalidArgumentError,
    SagaHarness,
    TargetError,
    uuid_for,
    uuid_str_for,
    wire,
)

T = wire.types_pb2
E = wire.examples_pb2
C = wire.command_handler_pb2
SKU = uuid_for("sku-1")
ORDER = uuid_for("order-1")


def order(order_id: str = "o-1", sku: str = "sku-1", quantity: int = 2, **kw) -> E.OrderCreated:
    return E.OrderCreated(order_id=order_id, sku=sku, quantity=quantity, **kw)


def kinds(h: SagaHarness) -> list[str]:
    return [f.kind for f in h.findings]


def harness(saga, **kw) -> SagaHarness:
    kw.setdefault("profile", "sequence-map")  # these tests pin the seed protocol
    kw.setdefault("source_domain", "order")
    kw.setdefault("output_domains", ["inventory"])
    return SagaHarness(saga, **kw)


# -- sequence-map profile ---------------------------------------------------------------


def test_map_holds_next_sequence_of_first_declared_destination_per_domain():
    h = harness(sagas.two_domain_saga, output_domains=["inventory", "payment", "shipping"])
    h.given_destination("inventory", SKU, next_sequence=5)
    h.given_destination("inventory", uuid_for("sku-2"), next_sequence=9)
    h.given_destination("payment", uuid_for("c"), next_sequence=2)
    d = h.deliver(order(customer_id="c"), root=ORDER, correlation_id="c-1")
    assert dict(d.request.destination_sequences) == {"inventory": 5, "payment": 2, "shipping": 0}
    assert d.command("inventory").sequence == 5
    assert d.command("payment").sequence == 2
    assert [o.status for o in d.outcomes] == ["applied", "applied"]
    inv = h.aggregate("inventory", SKU)
    assert inv.next_sequence == 6 and inv.applied == 1
    assert inv.events_of(E.ReserveInventory) == [
        E.ReserveInventory(order_id="o-1", sku="sku-1", quantity=2)
    ]
    h.assert_clean()


def test_request_carries_the_trigger_as_built():
    h = harness(sagas.explicit_saga)
    d = h.deliver(order(), root=ORDER, correlation_id="c-9", sequence=4)
    src = d.request.source
    assert src.cover.domain == "order" and src.cover.root.value == ORDER
    assert src.cover.correlation_id == "c-9"
    assert [p.header.sequence for p in src.pages] == [4]
    assert src.pages[0].event.type_url == "type.googleapis.com/testkit_examples.order.OrderCreated"
    assert h.deliver(order("o-2"), root=ORDER).request.source.pages[0].header.sequence == 5


def test_stale_strict_sequence_is_retried_on_virtual_clock_and_reported():
    h = harness(sagas.stale_saga)
    h.given_destination("inventory", SKU, next_sequence=5)
    d = h.deliver(order(), root=ORDER)
    (outcome,) = d.outcomes
    assert outcome.status == "retried-out"
    assert outcome.code == "FAILED_PRECONDITION"
    assert outcome.message == "Sequence mismatch: command expects 2, aggregate at 5"
    assert outcome.attempts == 11
    assert d.virtual_time > 0 and h.clock == d.virtual_time
    assert h.aggregate("inventory", SKU).applied == 0
    assert kinds(h) == ["sequence-mismatch", "lost-command"]
    mismatch = h.findings[0]
    assert mismatch.sequences == {"expected": 2, "actual": 5}
    with pytest.raises(AssertionError, match="sequence-mismatch"):
        h.assert_clean()


def test_max_retries_is_an_option():
    h = harness(sagas.stale_saga, max_retries=2)
    h.given_destination("inventory", SKU, next_sequence=5)
    assert h.deliver(order(), root=ORDER).outcomes[0].attempts == 3


def test_commutative_mismatch_is_strict_unless_destination_declares_it():
    h = harness(sagas.stale_saga_with(T.MERGE_COMMUTATIVE))
    h.given_destination("inventory", SKU, next_sequence=5)
    assert h.deliver(order(), root=ORDER).outcomes[0].status == "retried-out"

    h = harness(sagas.stale_saga_with(T.MERGE_COMMUTATIVE))
    h.given_destination("inventory", SKU, next_sequence=5)
    h.given_aggregate("inventory", merge="commutative")
    d = h.deliver(order(), root=ORDER)
    assert d.outcomes[0].status == "applied"
    assert d.outcomes[0].events.pages[0].header.sequence == 5


def test_commutative_predicate_decides_per_command():
    seen = []

    def only_reserve(command):
        seen.append(command.pages[0].command.type_url)
        return command.pages[0].command.type_url.endswith("ReserveInventory")

    h = harness(sagas.stale_saga_with(T.MERGE_COMMUTATIVE))
    h.given_destination("inventory", SKU, next_sequence=5)
    h.given_aggregate("inventory", merge=only_reserve)
    assert h.deliver(order(), root=ORDER).outcomes[0].status == "applied"
    assert seen


def test_aggregate_handles_applies_and_business_logic_sees_history():
    histories = []

    def logic(ctx):
        # next_sequence=5 is a snapshot at 4 with no pages after it (angzarr core's model)
        histories.append((ctx.events.snapshot.sequence, len(ctx.events.pages)))
        assert ctx.events.next_sequence == 5
        cmd = E.ReserveInventory()
        ctx.command.pages[0].command.Unpack(cmd)
        return [E.InventoryReserved(order_id=cmd.order_id, sku=cmd.sku, quantity=cmd.quantity)]

    h = harness(sagas.stale_saga_with(T.MERGE_AGGREGATE_HANDLES))
    h.given_destination("inventory", SKU, next_sequence=5)
    h.given_aggregate("inventory", handler=logic)
    d = h.deliver(order(), root=ORDER)
    assert d.outcomes[0].status == "applied"
    assert histories == [(4, 0)]
    assert (
        h.aggregate("inventory", SKU).event_types[-1] == "testkit_examples.order.InventoryReserved"
    )


def test_manual_mismatch_dead_letters_with_details():
    h = harness(sagas.stale_saga_with(T.MERGE_MANUAL))
    h.given_destination("inventory", SKU, next_sequence=5)
    d = h.deliver(order(), root=ORDER)
    assert d.outcomes[0].status == "dead-lettered"
    assert d.outcomes[0].code == "ABORTED"
    assert d.outcomes[0].attempts == 1
    (letter,) = h.dead_letters
    assert letter.WhichOneof("rejection_details") == "sequence_mismatch"
    assert letter.sequence_mismatch.expected_sequence == 2
    assert letter.sequence_mismatch.actual_sequence == 5
    assert letter.sequence_mismatch.merge_strategy == T.MERGE_MANUAL
    assert letter.rejected_command.cover.domain == "inventory"
    assert kinds(h) == ["dead-lettered"]


# -- redelivery and dedupe ---------------------------------------------------------------


def test_redelivery_with_explicit_stamping_is_a_double_apply():
    h = harness(sagas.explicit_saga)
    h.given_destination("inventory", SKU, next_sequence=5)
    d = h.deliver(order(), root=ORDER, correlation_id="c-1")
    (again,) = h.redeliver(d)
    assert again.redelivered and again.request.source == d.request.source
    assert dict(again.request.destination_sequences) == {"inventory": 6}
    assert again.command("inventory").sequence == 6
    assert again.outcomes[0].status == "applied"
    assert h.aggregate("inventory", SKU).applied == 2
    assert kinds(h) == ["double-apply"]  # and not nondeterministic-output: 6 came from the map
    finding = h.findings[0]
    assert finding.target == f"inventory/{uuid_str_for('sku-1')}"
    assert finding.trigger.startswith(f"order/{uuid_str_for('order-1')}@0 ")
    assert "deferred_header" in finding.message
    with pytest.raises(AssertionError) as info:
        h.assert_clean()
    assert "double-apply" in str(info.value) and "order/" in str(info.value)


def test_deferred_header_redelivery_dedupes_and_is_clean():
    h = harness(sagas.deferred_saga)
    h.given_destination("inventory", SKU, next_sequence=5)
    d = h.deliver(order(), root=ORDER, correlation_id="c-1", sequence=3)
    assert d.command("inventory").deferred.source_seq == 3
    assert d.command("inventory").deferred.root == ORDER
    first_events = d.outcomes[0].events
    assert [p.header.sequence for p in first_events.pages] == [5]
    again = h.redeliver(d, times=20)
    assert {o.status for r in again for o in r.outcomes} == {"deduped"}
    assert all(list(r.outcomes[0].events.pages) == list(first_events.pages) for r in again)
    agg = h.aggregate("inventory", SKU)
    assert agg.applied == 1 and agg.deduped == 20 and agg.next_sequence == 6
    assert h.findings == []
    h.assert_clean()


def test_dedupe_is_per_target_root_and_source_seq():
    h = harness(sagas.deferred_saga)
    a = h.deliver(order("o-1"), root=ORDER, sequence=0)
    b = h.deliver(order("o-2"), root=ORDER, sequence=1)
    c = h.deliver(order("o-3"), root=uuid_for("order-2"), sequence=0)
    assert [x.outcomes[0].status for x in (a, b, c)] == ["applied"] * 3
    assert h.aggregate("inventory", SKU).applied == 3
    h.assert_clean()


def test_edition_is_part_of_the_dedupe_key_and_main_timeline_aliases():
    h = harness(sagas.deferred_saga)
    d = h.deliver(order(), root=ORDER, sequence=0, edition="angzarr")
    h.redeliver(d)
    h.deliver(order(), root=ORDER, sequence=0, edition="")
    assert h.aggregate("inventory", SKU).applied == 1
    h.deliver(order(), root=ORDER, sequence=0, edition="what-if")
    assert h.aggregate("inventory", SKU, edition="what-if").applied == 1


def test_dedupe_collision_returns_first_events_for_second_command():
    ran = []

    def logic(ctx):
        ran.append(ctx.command.pages[0].command.type_url.rsplit(".", 1)[-1])
        return [ctx.command.pages[0].command]

    h = harness(sagas.colliding_saga)
    h.given_aggregate("inventory", handler=logic)
    d = h.deliver(order(), root=ORDER)
    assert [o.status for o in d.outcomes] == ["applied", "deduped"]
    assert d.outcomes[1].collided_with == 0
    assert list(d.outcomes[1].events.pages) == list(d.outcomes[0].events.pages)
    assert ran == ["ReserveInventory"]
    (finding,) = h.findings
    assert finding.kind == "dedupe-collision"
    assert "source order/" in finding.dedupe_key and "-> target inventory/" in finding.dedupe_key


@pytest.mark.parametrize("saga", [sagas.random_id_saga, sagas.counter_target_saga])
def test_nondeterministic_output_is_reported(saga):
    h = harness(saga)
    d = h.deliver(order(), root=ORDER)
    h.redeliver(d)
    assert "nondeterministic-output" in kinds(h)
    finding = next(f for f in h.findings if f.kind == "nondeterministic-output")
    assert "command #0 differs" in finding.message and finding.delivery == 2


def test_publisher_duplicate_is_the_same_logical_trigger():
    h = harness(sagas.explicit_saga)
    h.deliver(order(), root=ORDER, sequence=0)
    h.deliver(order(), root=ORDER, sequence=0)  # a second publish of the same event
    assert kinds(h) == ["double-apply"]


# -- deferred-rewrite profile ----------------------------------------------------------


def test_deferred_rewrite_turns_explicit_sequences_into_deferred_headers():
    h = harness(sagas.explicit_saga, profile="deferred-rewrite")
    h.given_destination("inventory", SKU, next_sequence=5)
    book = T.EventBook(
        cover=T.Cover(domain="order", root=T.UUID(value=ORDER), correlation_id="c-1")
    )
    for seq in (7, 8):
        page = book.pages.add()
        page.header.sequence = seq
        page.event.Pack(order(), type_url_prefix=wire.TYPE_URL_PREFIX)
    d = h.deliver(book)
    assert d.command("inventory").sequence == 5  # as the saga returned it
    sent = d.sent[0]
    assert sent.sequence is None
    assert sent.deferred.source == book.cover and sent.deferred.source_seq == 8
    h.redeliver(d, times=3)
    assert h.aggregate("inventory", SKU).applied == 1
    h.assert_clean()


def test_deferred_rewrite_with_no_output_domains_gives_empty_map_and_finding():
    h = SagaHarness(sagas.explicit_saga, source_domain="order", profile="deferred-rewrite")
    d = h.deliver(order(), root=ORDER)
    assert dict(d.request.destination_sequences) == {}
    assert d.error is not None and d.error.code == "MISSING_DESTINATION_SEQUENCE"
    (finding,) = h.findings
    assert finding.kind == "missing-destination-sequence"
    assert finding.details["domain"] == "inventory"
    assert d.commands == [] and d.outcomes == []


def test_deferred_rewrite_keeps_given_source_and_fills_missing_one():
    def saga(request):
        with_source = sagas.deferred_saga(request)[0]
        no_source = sagas.reserve(sagas.order_of(request), root=uuid_for("sku-2"))
        no_source.pages[0].header.angzarr_deferred.source_seq = 0
        return [with_source, no_source]

    h = harness(saga, profile="deferred-rewrite")
    d = h.deliver(order(), root=ORDER, sequence=0, correlation_id="c-1")
    assert d.sent[0].book.pages == d.commands[0].book.pages  # source kept as given
    assert d.sent[1].deferred.source.root.value == ORDER
    assert d.sent[1].deferred.source_seq == 0
    h.assert_clean()


def test_unstamped_only_matters_in_sequence_map_profile():
    h = harness(sagas.unstamped_saga)
    h.deliver(order(), root=ORDER)
    assert "unstamped-command" in kinds(h)
    h = harness(sagas.unstamped_saga, profile="deferred-rewrite")
    h.deliver(order(), root=ORDER)
    assert kinds(h) == []


# -- handler failures ------------------------------------------------------------------


def test_sdk_value_error_is_a_missing_destination_sequence():
    h = harness(sagas.sdk_style_missing_saga)
    d = h.deliver(order(), root=ORDER)
    assert isinstance(d.error, ValueError)
    (finding,) = h.findings
    assert finding.kind == "missing-destination-sequence"
    assert finding.details["domain"] == "shipping"


def test_kit_error_is_a_missing_destination_sequence():
    h = harness(sagas.stamps_shipping_saga)
    h.deliver(order(), root=ORDER)
    (finding,) = h.findings
    assert finding.kind == "missing-destination-sequence"
    assert "shipping" in finding.message and "['inventory']" in finding.message


def test_handler_exception_never_escapes_and_keeps_traceback():
    h = harness(sagas.exploding_saga)
    d = h.deliver(order(), root=ORDER)
    assert isinstance(d.error, RuntimeError)
    (finding,) = h.findings
    assert finding.kind == "handler-error"
    assert "RuntimeError: boom" in finding.message
    assert "exploding_saga" in finding.traceback
    assert "traceback:" in finding.render() and "exploding_saga" in finding.render()


@pytest.mark.parametrize(
    ("saga", "needle"),
    [(sagas.wrong_type_saga, "handler returned dict"), (sagas.wrong_item_saga, "item 0")],
)
def test_wrong_return_type_is_a_handler_error_naming_it(saga, needle):
    h = harness(saga)
    h.deliver(order(), root=ORDER)
    (finding,) = h.findings
    assert finding.kind == "handler-error" and needle in finding.message


def test_servicer_abort_is_a_handler_error_with_code():
    h = harness(sagas.AbortingServicer())
    h.deliver(order(), root=ORDER)
    (finding,) = h.findings
    assert finding.kind == "handler-error" and "INVALID_ARGUMENT" in finding.message


# -- destination rejections ------------------------------------------------------------


def test_business_rejection_and_revocation_are_notes():
    def logic(ctx):
        if ctx.events.next_sequence == 0:
            raise ValueError("not enough stock")
        response = C.BusinessResponse()
        response.revocation.reason = "sku discontinued"
        return response

    h = harness(sagas.deferred_saga)
    h.given_aggregate("inventory", handler=logic)
    d = h.deliver(order(), root=ORDER)
    assert d.outcomes[0].status == "rejected"
    assert d.outcomes[0].message == "ValueError: not enough stock"
    h2 = harness(sagas.deferred_saga)
    h2.given_destination("inventory", SKU, next_sequence=1)
    h2.given_aggregate("inventory", handler=logic)
    d2 = h2.deliver(order(), root=ORDER)
    assert d2.outcomes[0].code == "FAILED_PRECONDITION"
    assert d2.outcomes[0].message == "Command revoked: sku discontinued"
    for hh in (h, h2):
        assert kinds(hh) == ["rejected-command"]
        assert not hh.findings[0].is_error
        hh.assert_clean()


def test_malformed_command_covers_are_invalid_commands_naming_the_problem():
    """Core refuses them in parse_command_cover (src/orchestration/aggregate/parsing.rs)."""
    h = harness(sagas.bad_cover_saga)
    d = h.deliver(order(), root=ORDER)
    assert [o.code for o in d.outcomes] == ["INVALID_ARGUMENT", "INVALID_ARGUMENT"]
    assert "expected 16 bytes, found 3" in d.outcomes[0].message
    assert "domain name must start with lowercase letter" in d.outcomes[1].message
    assert kinds(h) == ["invalid-command", "invalid-command"]
    assert [f.details["field"] for f in h.findings] == ["cover.root", "cover.domain"]
    assert "'Inventory!'" in h.findings[1].message


def test_lost_command_when_every_send_runs_out_of_retries():
    h = harness(sagas.stale_saga)
    h.given_destination("inventory", SKU, next_sequence=5)
    d = h.deliver(order(), root=ORDER)
    h.redeliver(d)
    lost = [f for f in h.findings if f.kind == "lost-command"]
    assert len(lost) == 1 and "#1, #2" in lost[0].message


# -- coordinator stamping of covers ----------------------------------------------------


def test_edition_overwritten_and_correlation_filled_when_empty():
    def saga(request):
        keep = sagas.reserve(sagas.order_of(request), correlation_id="mine")
        keep.cover.edition.name = "stale-edition"
        fill = sagas.reserve(sagas.order_of(request), root=uuid_for("sku-2"))
        for cmd in (keep, fill):
            cmd.pages[0].header.CopyFrom(wire.types_pb2.PageHeader(sequence=0))
        return [keep, fill]

    h = harness(saga)
    d = h.deliver(order(), root=ORDER, correlation_id="c-7", edition="v2")
    assert d.commands[0].edition == "stale-edition"
    assert [c.edition for c in d.sent] == ["v2", "v2"]
    assert [c.correlation_id for c in d.sent] == ["mine", "c-7"]
    d = h.deliver(order("o-2"), root=ORDER, correlation_id="c-8")
    assert [c.book.cover.HasField("edition") for c in d.sent] == [False, False]


# -- facts ------------------------------------------------------------------------------


def _fact_saga(with_header: bool):
    def saga(request):
        fact = T.EventBook(cover=T.Cover(domain="inventory", root=T.UUID(value=SKU)))
        page = fact.pages.add()
        page.event.Pack(
            E.InventoryRestocked(sku="sku-1", quantity=3), type_url_prefix=wire.TYPE_URL_PREFIX
        )
        if with_header:
            page.header.external_deferred.external_id = "restock-1"
        return wire.saga_pb2.SagaResponse(events=[fact])

    return saga


def test_facts_need_external_deferred_and_dedupe_on_external_id():
    h = harness(_fact_saga(True))
    d = h.deliver(order(), root=ORDER)
    assert [o.status for o in d.fact_outcomes] == ["applied"]
    (again,) = h.redeliver(d)
    assert [o.status for o in again.fact_outcomes] == ["already-processed"]
    assert len(h.aggregate("inventory", SKU).events) == 1
    h.assert_clean()

    h = harness(_fact_saga(False))
    d = h.deliver(order(), root=ORDER)
    assert d.fact_outcomes[0].code == "INVALID_ARGUMENT"
    assert "ExternalDeferredSequence" in d.fact_outcomes[0].message
    assert kinds(h) == ["invalid-command"]
    assert "external_deferred" in h.findings[0].message


# -- targets ----------------------------------------------------------------------------


def test_servicer_target():
    servicer = sagas.ServicerSaga()
    h = harness(servicer)
    h.deliver(order(), root=ORDER)
    assert servicer.calls == 1 and h.aggregate("inventory", SKU).applied == 1


def test_string_target():
    h = harness("sagas:deferred_saga")
    assert h.target.name == "sagas:deferred_saga"
    assert h.deliver(order(), root=ORDER).outcomes[0].status == "applied"


@pytest.mark.parametrize(
    ("target", "needle"),
    [
        ("no_such_module_xyz:saga", "cannot import module 'no_such_module_xyz'"),
        ("sagas:no_such_saga", "has no attribute 'no_such_saga'"),
        ("sagas.deferred_saga", "not of the form 'package.module:attr'"),
        (42, "cannot use 42 as a saga"),
        (sagas.ServicerSaga, "pass an instance"),
    ],
)
def test_bad_targets_raise_target_error(target, needle):
    with pytest.raises(TargetError, match=needle):
        SagaHarness(target, source_domain="order")


def test_handler_gets_private_copies_over_bytes():
    seen = []

    def saga(request):
        seen.append(request)
        cmd = sagas.deferred_saga(request)[0]
        seen.append(cmd)
        return [cmd]

    h = harness(saga)
    d = h.deliver(order(), root=ORDER)
    seen[0].source.cover.domain = "mutated"
    seen[1].cover.domain = "mutated"
    assert d.request.source.cover.domain == "order"
    assert d.commands[0].domain == "inventory"


# -- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        ({"profile": "eventual"}, ConfigurationError, "profile: got 'eventual'; expected one of"),
        ({"output_domains": "inventory"}, ConfigurationError, "a list of domain names"),
        ({"output_domains": ["Inventory"]}, InvalidArgumentError, r"output_domains\[0\]: got"),
        ({"source_domain": "bad domain"}, InvalidArgumentError, "angzarr domain name"),
    ],
)
def test_bad_harness_options(kwargs, error, needle):
    with pytest.raises(error, match=needle):
        harness(sagas.explicit_saga, **kwargs)


def test_bad_delivery_inputs():
    h = harness(sagas.explicit_saga)
    with pytest.raises(InvalidArgumentError, match="16 UUID bytes"):
        h.deliver(order(), root=b"short")
    with pytest.raises(
        InvalidArgumentError, match="event message instance or an angzarr.EventBook"
    ):
        h.deliver({"order_id": "x"})
    bad = T.EventBook(cover=T.Cover(domain="order", root=T.UUID(value=b"12345")))
    with pytest.raises(InvalidArgumentError, match="16-byte UUID"):
        h.deliver(bad)
    with pytest.raises(InvalidArgumentError, match="Delivery returned by deliver"):
        h.redeliver("d")
    with pytest.raises(InvalidArgumentError, match="unknown domain 'nowhere'"):
        h.aggregate("nowhere", SKU)
    with pytest.raises(ConfigurationError, match="merge: got 'sometimes'"):
        h.given_aggregate("inventory", merge="sometimes")
    nameless = SagaHarness(sagas.explicit_saga)
    with pytest.raises(ConfigurationError, match="source_domain"):
        nameless.deliver(order())


def test_recorded_command_accessors():
    h = harness(sagas.explicit_saga)
    h.given_destination("inventory", SKU, next_sequence=3)
    cmd = h.deliver(order(), root=ORDER).command("inventory")
    assert (cmd.domain, cmd.root, cmd.sequence, cmd.deferred) == ("inventory", SKU, 3, None)
    assert cmd.type_name == "testkit_examples.order.ReserveInventory"
    assert cmd.unpack(E.ReserveInventory).quantity == 2
    with pytest.raises(AssertionError, match="holds testkit_examples.order.ReserveInventory"):
        cmd.unpack(E.ShipOrder)
    assert cmd == cmd.book and "seq=3" in repr(cmd) and 'sku: "sku-1"' in repr(cmd)
    d = h.deliver(order("o-2"), root=ORDER)
    with pytest.raises(AssertionError, match="found 0"):
        d.command("payment")


# -- properties ---------------------------------------------------------------------------

deliveries = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=12
)


@settings(max_examples=40, deadline=None)
@given(deliveries)
def test_deferred_saga_applies_each_distinct_trigger_once(plan):
    """Whatever mix of deliveries and redeliveries, each distinct trigger applies once."""
    h = harness(sagas.deferred_saga)
    distinct = set()
    for root_n, seq, redeliveries in plan:
        d = h.deliver(order(f"o-{root_n}-{seq}"), root=uuid_for(f"order-{root_n}"), sequence=seq)
        h.redeliver(d, times=redeliveries)
        distinct.add((root_n, seq))
    applied = h.aggregate("inventory", SKU).applied
    # Re-delivering the same (root, seq) with another payload is a different event under the
    # same dedupe key; the oracle sees that as nondeterminism, not as a second application.
    assert applied == len(distinct)
    assert not [f for f in h.findings if f.kind in ("double-apply", "lost-command")]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 20), st.integers(1, 5))
def test_explicit_saga_double_applies_iff_redelivered(head, redeliveries):
    h = harness(sagas.explicit_saga)
    h.given_destination("inventory", SKU, next_sequence=head)
    d = h.deliver(order(), root=ORDER)
    assert h.findings == []
    h.redeliver(d, times=redeliveries)
    assert kinds(h) == ["double-apply"]
    assert h.aggregate("inventory", SKU).applied == 1 + redeliveries


def test_cross_trigger_dedupe_collision_is_reported():
    def constant_seq_saga(request):
        cmd = sagas.reserve(sagas.order_of(request))
        cmd.pages[0].header.angzarr_deferred.source.CopyFrom(request.source.cover)
        cmd.pages[0].header.angzarr_deferred.source_seq = 0  # the same for every trigger
        return [cmd]

    h = harness(constant_seq_saga)
    h.deliver(order("o-1"), root=ORDER, sequence=0)
    second = h.deliver(order("o-2"), root=ORDER, sequence=1)
    assert second.outcomes[0].status == "deduped"
    assert second.outcomes[0].collided_delivery == 1
    collision = next(f for f in h.findings if f.kind == "dedupe-collision")
    assert "served another trigger" in collision.message
    assert "invalid-provenance" in kinds(h)
    assert h.aggregate("inventory", SKU).applied == 1


def test_without_records_deliver_returns_none_but_the_oracle_still_works():
    h = harness(sagas.explicit_saga, record=False)
    d = h.deliver(order(), root=ORDER, sequence=0)
    assert d is None and h.deliveries == []
    h.deliver(order(), root=ORDER, sequence=0)  # a duplicate publish
    assert kinds(h) == ["double-apply"]


def test_a_target_module_that_fails_to_import_is_a_target_error(tmp_path, monkeypatch):
    (tmp_path / "broken_saga_mod.py").write_text("raise RuntimeError('bad config')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TargetError, match="raised RuntimeError: bad config"):
        SagaHarness("broken_saga_mod:saga", source_domain="order")


def _rewritten_source(edit):
    """A deferred saga whose header's source cover is the trigger's, edited by ``edit``."""

    def saga(request):
        [cmd] = sagas.deferred_saga(request)
        edit(cmd.pages[0].header.angzarr_deferred.source)
        return [cmd]

    return saga


@pytest.mark.parametrize(
    ("edit", "valid"),
    [
        (lambda src: None, True),  # the trigger's cover as it came (the fast path)
        (lambda src: setattr(src, "correlation_id", "another"), True),  # not part of it
        (lambda src: src.ClearField("correlation_id"), True),
        (lambda src: setattr(src.root, "value", uuid_for("elsewhere")), False),
        (lambda src: setattr(src, "domain", "payment"), False),
        (lambda src: setattr(src.edition, "name", "v2"), False),
    ],
    ids=["as-came", "other-correlation", "no-correlation", "root", "domain", "edition"],
)
def test_provenance_compares_domain_root_and_edition_of_the_source(edit, valid):
    h = harness(_rewritten_source(edit))
    h.deliver(order(), root=ORDER, correlation_id="c-1")
    assert ("invalid-provenance" not in kinds(h)) is valid, kinds(h)


def test_a_fact_deduped_on_an_id_used_by_other_events_is_a_fact_collision():
    """core ``execute_fact_pipeline``: the second restock of sku-1 reuses the first's
    external_id, so core drops it as already processed; a redelivery of the first is fine."""
    h = harness(sagas.constant_fact_id_saga, profile="core")
    first = h.deliver(E.OrderCreated(order_id="o-1", sku="sku-1", quantity=3), root=ORDER)
    (again,) = h.redeliver(first)
    assert [o.status for o in again.fact_outcomes] == ["already-processed"]
    assert h.findings == []  # the same events again: the dedupe working
    second = h.deliver(E.OrderCreated(order_id="o-2", sku="sku-1", quantity=5), root=ORDER)
    assert [o.status for o in second.fact_outcomes] == ["already-processed"]
    (finding,) = h.findings
    assert finding.kind == "fact-collision" and finding.details["first_delivery"] == "1"
    assert "'restock-sku-1'" in finding.message and "Derive external_id" in finding.message
    assert len(h.aggregate("inventory", SKU).events) == 1  # the second restock is lost
    fixed = harness(sagas.unique_fact_id_saga, profile="core")
    for i in (1, 2):
        fixed.deliver(E.OrderCreated(order_id=f"o-{i}", sku="sku-1", quantity=i), root=ORDER)
    assert fixed.findings == [] and len(fixed.aggregate("inventory", SKU).events) == 2


@pytest.mark.parametrize(("profile", "deduped"), [("core", False), ("sequence-map", True)])
def test_execute_fact_pipeline_stores_page_0s_external_id_only(profile, deduped):
    """core ``execute_fact_pipeline`` stores one id per fact book, page 0's: a later fact
    whose page-0 id is an earlier fact's page-1 id is new in core (the seed profiles recorded
    every page's id)."""

    def saga(request):
        # the first trigger's fact carries ids "a" (page 0) and "b"; the second's only "b"
        ids = ("a", "b") if sagas.order_of(request).order_id == "o-1" else ("b",)
        fact = T.EventBook(cover=T.Cover(domain="inventory", root=T.UUID(value=SKU)))
        for ext in ids:
            page = fact.pages.add()
            page.event.Pack(E.InventoryRestocked(sku="sku-1"), type_url_prefix=wire.TYPE_URL_PREFIX)
            page.header.external_deferred.external_id = ext
        return wire.saga_pb2.SagaResponse(events=[fact])

    h = harness(saga, profile=profile)
    h.deliver(order(), root=ORDER)
    d = h.deliver(order("o-2"), root=ORDER)
    assert d.fact_outcomes[0].status == ("already-processed" if deduped else "applied")
