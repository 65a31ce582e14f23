"""The storm's delivery budget: a redelivery loop ends with budget-exhausted, never a hang.

A quorum queue dead-letters a message after ``x-delivery-limit`` returns (RabbitMQ 4: 20 by
default); with a huge limit and a consumer that always nacks, the broker would loop for
ever. The storm stops at its budget (default: ``default_delivery_budget``) with one
``budget-exhausted`` finding and a normal report whose trace is complete.
"""

from __future__ import annotations

import json
import re

import pms
import pytest
import sagas

from angzarr_testkit import UsageError
from angzarr_testkit.simulate import FaultPlan, Storm
from angzarr_testkit.simulate.faults import MAX_DELIVERY_LIMIT
from angzarr_testkit.simulate.vacuity import (
    BUDGET_SLACK,
    LOOP_LIMIT,
    default_delivery_budget,
)

pytestmark = pytest.mark.timeout(30)

# The largest delivery limit a FaultPlan accepts (a larger one, e.g. 10**18, is refused at the
# call): with every delivery nacked, only the budget ends this storm early.
LOOP = FaultPlan(delivery_limit=MAX_DELIVERY_LIMIT, nack_requeue=1.0)


def storm(saga=sagas.deferred_saga, **kw):
    kw.setdefault("source_domain", "order")
    kw.setdefault("output_domains", ["inventory"])
    kw.setdefault("event_source", sagas.one_sku)
    kw.setdefault("seed", 1)
    return Storm(saga, **kw)


def budget_findings(report):
    return [f for f in report.findings if f.kind == "budget-exhausted"]


@pytest.mark.timeout(20)
def test_endless_nack_loop_ends_with_budget_exhausted():
    report = storm(faults=LOOP).run()  # 1000 events, the default budget
    budget = default_delivery_budget(1000, LOOP)
    assert report.counts["deliveries"] == budget
    (finding,) = budget_findings(report)
    assert f"delivery budget of {budget:,} deliveries" in finding.message
    assert re.search(r"message \d+ delivered", finding.message)
    assert "never published" in finding.message
    assert finding.details["budget"] == str(budget)
    assert finding.trigger and finding.trigger.startswith("order/")  # the looping trigger
    assert not report.ok
    # a normal report: the trace is closed with its summary line
    last = json.loads(report.trace.lines()[-1])
    assert last["type"] == "summary" and last["ok"] is False
    with pytest.raises(AssertionError, match=r"\[budget-exhausted\]"):
        report.assert_clean()


def test_default_budget_formula():
    assert default_delivery_budget(1000, FaultPlan()) == 1000 * 22 + BUDGET_SLACK
    assert default_delivery_budget(10, FaultPlan(duplicate=0.1, delivery_limit=3)) == (
        10 * 2 * 5 + BUDGET_SLACK
    )
    assert default_delivery_budget(10, LOOP) == 10 * (LOOP_LIMIT + 2) + BUDGET_SLACK
    assert storm(events=7).delivery_budget == default_delivery_budget(7, FaultPlan())


@pytest.mark.parametrize(
    "plan",
    [
        FaultPlan(crash_before_ack=1.0, delivery_limit=3),
        FaultPlan(duplicate=1.0, crash_before_ack=0.6, concurrent_redelivery=0.4, delivery_limit=4),
        FaultPlan(nack_requeue=1.0, delivery_limit=LOOP_LIMIT),
    ],
    ids=["always-crash", "duplicates-and-rivals", "loop-at-the-limit"],
)
def test_storms_that_end_on_their_own_never_reach_the_default_budget(plan):
    """The default is an upper bound for every storm whose delivery limit is at most
    LOOP_LIMIT, even when every message goes all the way to the limit."""
    report = storm(events=30, faults=plan, concurrency=2).run()
    assert not budget_findings(report)
    assert report.counts["deliveries"] <= default_delivery_budget(30, plan)
    # every message settles: acked, or stopped at the delivery limit (dead-lettered, or under
    # core, which has no limit, the kit's requeue-loop cap)
    assert report.fault_coverage["delivery-limit"] + report.counts["acked"] >= 30


def test_explicit_budget_stops_the_storm_and_names_the_cycling_messages():
    report = storm(
        events=10,
        faults=FaultPlan(crash_before_ack=1.0, delivery_limit=20),
        delivery_budget=50,
    ).run()
    assert report.counts["deliveries"] == 50
    (finding,) = budget_findings(report)
    assert "50 deliveries" in finding.message
    assert "delivered 21 times" not in finding.message  # stopped before any dead-letter
    assert finding.details["cycling"] == "1"


def test_a_budget_exhausted_trace_replays_to_the_same_finding(tmp_path):
    path = tmp_path / "loop.jsonl"
    original = storm(events=3, faults=LOOP, trace=path).run()
    replayed = Storm.replay(path, saga=sagas.deferred_saga)
    assert replayed.kinds() == original.kinds() == {"budget-exhausted": 1, "vacuous-run": 1}
    assert replayed.counts == original.counts


def test_a_poison_process_manager_with_a_huge_limit_ends():
    report = Storm(
        pms.poison_pm,
        pm_domain="fulfillment",
        sources=["order"],
        output_domains=["inventory"],
        event_source=lambda rng, i: ("order", sagas.one_sku(rng, i)),
        events=3,
        faults=FaultPlan(delivery_limit=MAX_DELIVERY_LIMIT),
    ).run()
    assert budget_findings(report)
    assert report.counts["handler_errors"] == report.counts["deliveries"]


def test_an_astronomic_delivery_limit_is_refused_at_the_call():
    with pytest.raises(UsageError, match="delivery_limit: got 1000000000000000000"):
        FaultPlan(delivery_limit=10**18, nack_requeue=1.0)


@pytest.mark.parametrize(
    ("value", "kind"),
    [(0, UsageError), (-5, UsageError), ("100", TypeError), (True, TypeError), (2.5, TypeError)],
)
def test_bad_budgets(value, kind):
    with pytest.raises(kind, match="delivery_budget"):
        storm(delivery_budget=value)


def test_max_retries_is_bounded():
    """Each retry re-sends the whole command list: an unbounded count is a hang."""
    with pytest.raises(UsageError, match=r"max_retries: got 1000000; expected an int in 0\.\.1000"):
        storm(max_retries=10**6)
