"""vacuous-run: a storm or harness that exercised nothing is never reported clean.

One test per reason a storm is vacuous (``details["reason"]``), the opt-outs
(``allow_vacuous``, ``allow=["vacuous-run"]``), ``fail_on``, facts counting as work, and
the harness rule (asserted clean without a single delivery). Skipped process-manager
triggers model angzarr core ``src/handlers/core/process_manager.rs``,
``ProcessManagerEventHandler::handle`` ("Event has no correlation_id, skipping process
manager").
"""

from __future__ import annotations

import pms
import pytest
import sagas

from angzarr_testkit import (
    ProcessManagerHarness,
    SagaHarness,
    UsageError,
    uuid_for,
    wire,
)
from angzarr_testkit.simulate import FaultPlan, Storm

pytestmark = pytest.mark.timeout(60)

E = wire.examples_pb2
T = wire.types_pb2


def storm(saga=sagas.deferred_saga, **kw):
    kw.setdefault("source_domain", "order")
    kw.setdefault("output_domains", ["inventory"])
    kw.setdefault("event_source", sagas.one_sku)
    kw.setdefault("events", 20)
    kw.setdefault("seed", 3)
    return Storm(saga, **kw)


def vacuous(report):
    """The one vacuous-run finding of a report (fails if there is not exactly one)."""
    found = [f for f in report.findings if f.kind == "vacuous-run"]
    assert len(found) == 1, report.kinds()
    return found[0]


def nothing(request):
    return []


def fact_saga(request):
    """Records a fact on the inventory aggregate; sends no command."""
    fact = T.EventBook(cover=T.Cover(domain="inventory", root=T.UUID(value=uuid_for("sku-1"))))
    page = fact.pages.add()
    seq = request.source.pages[-1].header.sequence
    page.header.external_deferred.external_id = f"{request.source.cover.root.value.hex()}-{seq}"
    page.event.Pack(E.InventoryReserved(order_id="o", sku="sku-1"), wire.TYPE_URL_PREFIX)
    return wire.saga_pb2.SagaResponse(events=[fact])


def bare_fact_saga(request):
    """A fact without an external_deferred page: refused by every destination."""
    fact = T.EventBook(cover=T.Cover(domain="inventory", root=T.UUID(value=uuid_for("sku-1"))))
    fact.pages.add().event.Pack(E.InventoryReserved(order_id="o"), wire.TYPE_URL_PREFIX)
    return wire.saga_pb2.SagaResponse(events=[fact])


def refuse_everything(h):
    def logic(ctx):
        raise ValueError("out of stock")

    h.given_aggregate("inventory", handler=logic)


# -- one test per reason -------------------------------------------------------------------


def test_no_deliveries():
    report = storm(events=0).run()
    assert not report.ok
    finding = vacuous(report)
    assert finding.details["reason"] == "no-deliveries"
    assert "delivered nothing" in finding.message and finding.details["deliveries"] == "0"
    with pytest.raises(AssertionError, match=r"\[vacuous-run\] vacuous run: the storm delivered"):
        report.assert_clean()


def test_every_trigger_skipped():
    """A PM storm whose EventBooks carry no correlation id: angzarr never calls the PM."""

    def uncorrelated(rng, i):
        book = T.EventBook(cover=T.Cover(domain="order", root=T.UUID(value=uuid_for(f"o{i}"))))
        page = book.pages.add()
        page.event.Pack(E.OrderCreated(order_id=f"o{i}", sku="s"), wire.TYPE_URL_PREFIX)
        return book

    report = Storm(
        pms.fulfillment_pm,
        pm_domain="fulfillment",
        sources=["order"],
        output_domains=["inventory"],
        event_source=uncorrelated,
        events=10,
    ).run()
    assert not report.ok
    assert report.counts["skipped"] == 10 and report.counts["handler_calls"] == 0
    finding = vacuous(report)
    assert finding.details["reason"] == "all-skipped"
    assert "correlation id" in finding.message and "10 of 10" in finding.message


def test_handler_never_called():
    report = storm(events=5, faults=FaultPlan(nack_requeue=1.0, delivery_limit=2)).run()
    assert report.counts["handler_calls"] == 0 and report.fault_coverage["delivery-limit"] == 5
    assert vacuous(report).details["reason"] == "handler-never-called"


def test_no_command_or_fact_although_outputs_declared():
    report = storm(nothing).run()
    assert report.counts["handler_calls"] == 20 and report.counts["commands_sent"] == 0
    assert report.kinds() == {"vacuous-run": 1}
    finding = vacuous(report)
    assert finding.details["reason"] == "no-output"
    assert "20 handler calls" in finding.message and "inventory" in finding.message
    assert not report.ok


def test_a_handler_without_declared_outputs_may_do_nothing():
    """The rule is about handlers that declare where they write: one that declares no
    output domain and returns nothing is not judged vacuous."""
    report = storm(nothing, output_domains=[]).run()
    assert report.ok and report.findings == []


def test_every_command_rejected():
    report = storm(setup=refuse_everything).run()
    assert report.counts["applied"] == 0 and report.counts["rejected"] == 20
    finding = vacuous(report)
    assert finding.details["reason"] == "nothing-applied"
    assert "20 commands (20 rejected" in finding.message
    assert not report.ok


def test_every_command_not_sent():
    """A crash before any command goes out, up to the delivery limit: nothing applied."""
    report = storm(events=5, faults=FaultPlan(crash_mid_dispatch=1.0, delivery_limit=1)).run()
    assert report.counts["applied"] == 0
    assert vacuous(report).details["reason"] == "nothing-applied"


def test_required_fault_never_happened():
    report = storm(require=["crash-before-ack"]).run()
    assert report.missing_coverage == ["crash-before-ack"]
    finding = vacuous(report)
    assert finding.details["reason"] == "missing-coverage"
    assert "crash-before-ack" in finding.message
    assert not report.ok


def test_several_reasons_make_one_finding():
    report = storm(nothing, require=["duplicate"]).run()
    finding = vacuous(report)
    assert finding.details["reason"] == "no-output"
    assert finding.details["also"] == "missing-coverage"
    assert "also: required fault classes never occurred" in finding.message


# -- facts are work ------------------------------------------------------------------------


def test_fact_only_saga_is_not_vacuous_and_its_facts_are_counted():
    report = storm(fact_saga, faults=FaultPlan(duplicate=0.5)).run()
    assert report.ok, report.summary()
    assert report.counts["applied"] == 0
    assert report.counts["facts"] >= 20  # duplicates inject their fact again (deduped)
    assert "facts" in report.summary()


def test_fact_only_saga_whose_facts_are_all_refused_is_vacuous():
    report = storm(bare_fact_saga).run()
    assert report.counts["facts"] == 20
    finding = vacuous(report)
    assert finding.details["reason"] == "nothing-applied"
    assert "20 facts (none stored)" in finding.message


# -- opting out and raising severities --------------------------------------------------------


def test_allow_vacuous_accepts_a_storm_that_did_nothing():
    report = storm(events=0, allow_vacuous=True).run()
    assert report.ok and report.findings == []
    report.assert_clean()


def test_allow_vacuous_still_requires_the_required_faults():
    report = storm(allow_vacuous=True, require=["reorder"]).run()
    assert vacuous(report).details["reason"] == "missing-coverage"
    assert not report.ok


def test_assert_clean_allow_vacuous_run():
    report = storm(events=0).run()
    report.assert_clean(allow=["vacuous-run"])
    with pytest.raises(UsageError, match=r"allow: got 'vacuous-run'.*allow=\['vacuous-run'\]"):
        report.assert_clean(allow="vacuous-run")


def test_fail_on_raises_a_warning_to_an_error():
    def half(h):
        def logic(ctx):
            order = E.ReserveInventory()
            ctx.command.pages[0].command.Unpack(order)
            if order.order_id.endswith("7"):
                raise ValueError("out of stock")
            return []

        h.given_aggregate("inventory", handler=logic)

    def numbered(rng, i):
        return E.OrderCreated(order_id=f"o-{i}", sku="sku-1", quantity=1)

    loose = storm(setup=half, event_source=numbered).run()
    assert loose.ok and loose.kinds() == {"rejected-command": 2}
    with pytest.raises(AssertionError, match=r"\[rejected-command\]"):
        loose.assert_clean(fail_on=["rejected-command"])
    strict = storm(setup=half, event_source=numbered, fail_on=["rejected-command"]).run()
    assert not strict.ok
    with pytest.raises(AssertionError, match=r"\[rejected-command\]"):
        strict.assert_clean()
    with pytest.raises(UsageError, match=r"fail_on\[0\]: got 'rejected'"):
        storm(fail_on=["rejected"])


# -- harnesses -----------------------------------------------------------------------------------


def test_harness_asserted_clean_without_a_delivery_is_vacuous():
    h = SagaHarness(sagas.deferred_saga, source_domain="order", output_domains=["inventory"])
    assert not h.clean
    with pytest.raises(AssertionError, match=r"\[vacuous-run\].*without a single delivery"):
        h.assert_clean()
    # the pytest plugin reads findings after every test: vacuity is not one of them
    assert h.findings == []
    h.assert_clean(allow=["vacuous-run"])


def test_harness_allow_vacuous():
    h = SagaHarness(sagas.deferred_saga, source_domain="order", allow_vacuous=True)
    assert h.clean
    h.assert_clean()
    with pytest.raises(UsageError, match="allow_vacuous"):
        SagaHarness(sagas.deferred_saga, source_domain="order", allow_vacuous="yes")


def test_one_ignored_event_is_enough_for_a_harness():
    h = SagaHarness(nothing, source_domain="order", output_domains=["inventory"])
    h.deliver(E.OrderCreated(order_id="o", sku="s"), root=uuid_for("o"))
    assert h.clean
    h.assert_clean()


def test_harness_fail_on():
    h = SagaHarness(sagas.deferred_saga, source_domain="order", output_domains=["inventory"])
    refuse_everything(h)
    h.deliver(E.OrderCreated(order_id="o", sku="s"), root=uuid_for("o"))
    h.assert_clean()  # a rejection is a warning
    with pytest.raises(AssertionError, match=r"\[rejected-command\]"):
        h.assert_clean(fail_on=["rejected-command"])
    with pytest.raises(UsageError, match="fail_on"):
        h.assert_clean(fail_on="rejected-command")


def test_pm_harness_vacuity_and_a_skipped_trigger():
    h = ProcessManagerHarness(
        pms.fulfillment_pm, pm_domain="fulfillment", sources=["order"], output_domains=["inventory"]
    )
    with pytest.raises(AssertionError, match="vacuous-run"):
        h.assert_clean()
    h.deliver(E.OrderCreated(order_id="o", sku="s"), domain="order", root=uuid_for("o"))
    assert h.deliveries[0].skipped  # no correlation id: still a delivery
    h.assert_clean()
    relaxed = ProcessManagerHarness(
        pms.fulfillment_pm, pm_domain="fulfillment", sources=["order"], allow_vacuous=True
    )
    relaxed.assert_clean()
