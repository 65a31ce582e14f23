"""Steps for a process manager: its declaration, correlated and uncorrelated deliveries,
its own state, skipped and dead-lettered triggers."""

from __future__ import annotations

from typing import Any

from ..ids import uuid_for
from ..validate import check_domain
from .environment import (
    cell_int,
    state,
    table_rows,
)
from .saga_givens import given_saga
from .saga_support import (
    G_ACT,
    G_AGG,
    G_ORACLE,
    G_SAGA,
    domain_list,
    findings_report,
    harness,
    last_delivery,
    message_from_table,
)
from .vocabulary import step

__all__: list[str] = []

# -- process managers ---------------------------------------------------------------------


@step(
    "Given",
    'the process manager "{target}" in domain "{pm_domain}" from domains '
    '"{sources}" to domains "{outputs}"',
    group=G_SAGA,
    description="The process manager under test (`package.module:attr`), its own domain, "
    "the domains it takes triggers from and those it commands.",
    example='Given the process manager "myproject.pms:Fulfillment" in domain "fulfillment" '
    'from domains "order, inventory" to domains "inventory, shipping"',
)
def given_pm(context: Any, target: str, pm_domain: str, sources: str, outputs: str) -> None:
    check_domain(pm_domain, "pm_domain")
    source_list, output_list = domain_list(sources, "sources"), domain_list(outputs, "outputs")
    given_saga(context, target)
    s = state(context)
    s.output_domains = output_list
    s.extra["pm"] = {"pm_domain": pm_domain, "sources": source_list}


@step(
    "Given",
    "the legacy two-phase flow",
    group=G_SAGA,
    description="The process manager's `Prepare` declares destinations and the map is "
    "filled from them (`prepare=True`).",
    example="Given the legacy two-phase flow",
)
def given_prepare(context: Any) -> None:
    pm = state(context).extra.get("pm")
    if pm is None:
        raise AssertionError("declare the process manager first")
    pm["prepare"] = True


@step(
    "When",
    '{type_name:w} is delivered from domain "{domain}" root "{root}" in workflow "{workflow}"',
    group=G_ACT,
    description="Deliver an event (fields from an optional `| field | value |` table) from "
    "a source domain and root, correlated to a workflow (by name: its "
    "correlation id is `uuid_str_for(workflow)`).",
    example='When OrderCreated is delivered from domain "order" root "order-1" in workflow "w-1"',
)
def when_delivered_in_workflow(
    context: Any, type_name: str, domain: str, root: str, workflow: str
) -> None:
    from ..ids import uuid_str_for

    s = state(context)
    event = message_from_table(context, type_name)
    s.delivery = harness(context).deliver(
        event, domain=domain, root=uuid_for(root), correlation_id=uuid_str_for(workflow)
    )


@step(
    "When",
    '{type_name:w} is delivered from domain "{domain}" root "{root}" without a correlation id',
    group=G_ACT,
    description="Deliver an uncorrelated event (a process manager skips it).",
    example='When OrderCreated is delivered from domain "order" root "order-1" without a '
    "correlation id",
)
def when_delivered_uncorrelated(context: Any, type_name: str, domain: str, root: str) -> None:
    s = state(context)
    s.delivery = harness(context).deliver(
        message_from_table(context, type_name), domain=domain, root=uuid_for(root)
    )


@step(
    "Then",
    'the process manager state for workflow "{workflow}" has events:',
    group=G_AGG,
    description="The PM's own stream for that workflow: a `| sequence | type |` table, "
    "exactly (no more events after the last row).",
    example='Then the process manager state for workflow "w-1" has events:\n'
    "  | sequence | type               |\n  | 0        | FulfillmentStarted |",
)
def then_pm_state(context: Any, workflow: str) -> None:
    from ..ids import uuid_str_for

    h = harness(context)
    if not hasattr(h, "state"):
        raise AssertionError("the harness is not a process manager's")
    view = h.state(uuid_str_for(workflow))
    rows = table_rows(context, "sequence", "type")
    got = [(p.header.sequence, p.event.type_url.rsplit(".", 1)[-1]) for p in view.events]
    want = [(cell_int(r["sequence"], "sequence"), r["type"].rsplit(".", 1)[-1]) for r in rows]
    assert got == want, f"PM state events: {got}"


@step(
    "Then",
    "the trigger was skipped",
    group=G_ORACLE,
    description="The process manager was not called (the trigger had no correlation id).",
    example="Then the trigger was skipped",
)
def then_skipped(context: Any) -> None:
    d = last_delivery(state(context))
    assert getattr(d, "skipped", False), f"delivery #{d.number} was not skipped"


@step(
    "Then",
    "the trigger was dead-lettered after {times:d} deliveries",
    group=G_ORACLE,
    description="A poison trigger: the handler raised on every delivery until the queue's "
    "x-delivery-limit (20 returns: 21 deliveries by default) dead-lettered it.",
    example="Then the trigger was dead-lettered after 21 deliveries",
)
def then_poisoned(context: Any, times: int) -> None:
    h = harness(context)
    dead = [f for f in h.findings if f.kind == "dead-lettered"]
    assert dead, findings_report(h)
    assert dead[-1].details.get("deliveries") == str(times), dead[-1].render()
