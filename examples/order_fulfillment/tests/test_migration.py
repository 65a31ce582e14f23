"""Moving from angzarr-client 0.3's map protocol to angzarr core HEAD: what changes for each
saga of the project (the kit's compare_profiles / compare_scenario; its docs/compare.md)."""

import re
import shlex
import uuid
from pathlib import Path

from angzarr_testkit import FaultPlan, compare_profiles, compare_scenario, uuid_for
from angzarr_testkit.cli import main
from order_fulfillment.messages import OrderCreated
from order_fulfillment.sagas import ExplicitSequenceSaga, OrderFulfillmentSaga, sku_root
from order_fulfillment.testing import order_events, stocked

STORM = dict(
    output_domains=["inventory", "payment"],
    event_source=order_events,
    setup=stocked,
    events=500,
    roots=20,
    seed=7,
    faults=FaultPlan(duplicate=0.1, crash_before_ack=0.05),
)


def test_the_deferred_saga_migrates_unchanged():
    c = compare_profiles(OrderFulfillmentSaga, **STORM)  # sequence-map, then core
    assert c.ok and c.same_triggers
    assert [r.verdict for r in c.runs] == ["CLEAN", "CLEAN"]
    assert c.changes() == []
    assert c.run("core").counts["applied"] == 2 * 500


def test_the_explicit_saga_trades_its_redelivery_bug_for_an_empty_map():
    c = compare_profiles(ExplicitSequenceSaga, **STORM)
    assert not c.ok and c.same_triggers
    old, new = c.run("sequence-map"), c.run("core")
    # under the map protocol: redeliveries apply again, stale map values are refused
    assert {"double-apply", "sequence-mismatch"} <= set(old.finding_kinds)
    # under core HEAD the map is empty: every trigger fails, nothing reaches a destination
    assert new.finding_kinds["missing-destination-sequence"] == new.counts["deliveries"]
    assert new.counts["applied"] == 0 and new.verdict == "VACUOUS (no-output)"
    text = c.render()
    assert f"- double-apply {old.finding_kinds['double-apply']:,} -> 0" in text
    assert "    under core: the handler stamped domain 'inventory'" in text


ORDER = OrderCreated(order_id="order-1", customer_id="ada", sku="sku-red", quantity=2)


def order_redelivered(h):
    stocked(h)
    d = h.deliver(ORDER, root=uuid_for("order-1"))
    h.redeliver(d, times=3)


def test_one_redelivered_order_side_by_side():
    explicit = compare_scenario(
        order_redelivered, ExplicitSequenceSaga, output_domains=["inventory", "payment"]
    )
    deferred = compare_scenario(
        order_redelivered, OrderFulfillmentSaga, output_domains=["inventory", "payment"]
    )
    red = f"inventory/{uuid.UUID(bytes=sku_root('sku-red'))}"  # the row's domain/root
    assert {r.profile: r.aggregates[red] for r in explicit.runs} == {
        "sequence-map": 4,  # the first delivery and every redelivery
        "core": 0,
    }
    assert [r.aggregates[red] for r in deferred.runs] == [1, 1]
    assert deferred.ok and not explicit.ok


README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_shows_the_command_real_output(tmp_path, capsys):
    section = README.read_text().split("## Migrating from angzarr-client 0.3's map", 1)[1]
    command, output = re.findall(r"```(?:sh)?\n(.*?)```", section, re.S)[:2]
    argv = shlex.split(command.replace("\\\n", " "))[1:]
    assert main([*argv, "--output-dir", str(tmp_path)]) == 1
    printed = capsys.readouterr().out.splitlines()
    for line in output.splitlines():
        if "..." not in line:  # abridged lines end in ...
            assert line in printed, line
