"""When steps: deliveries and redeliveries of one trigger, and a seeded storm."""

from __future__ import annotations

from typing import Any

from ..framework.targets import import_target
from ..ids import uuid_for
from ..simulate.faults import FaultPlan
from .environment import (
    cell_bool,
    cell_float,
    cell_int,
    state,
    table_rows,
)
from .saga_support import (
    G_ACT,
    harness,
    last_delivery,
    message_from_table,
)
from .vocabulary import step

__all__: list[str] = []

# -- actions --------------------------------------------------------------------------------------


@step(
    "When",
    '{type_name:w} is delivered from root "{root}"',
    group=G_ACT,
    description="Deliver one event of that type (fields from an optional `| field | value |` "
    "table) from that source root (by name), at the root's next sequence.",
    example='When OrderCreated is delivered from root "order-1"\n'
    "  | field    | value |\n  | order_id | o-1   |\n  | sku      | sku-1 |",
)
def when_delivered(context: Any, type_name: str, root: str) -> None:
    s = state(context)
    event = message_from_table(context, type_name)
    s.delivery = harness(context).deliver(event, root=uuid_for(root), correlation_id=f"corr-{root}")


@step(
    "When",
    "the trigger is redelivered {times:d} times",
    group=G_ACT,
    description="AMQP redelivery of the last delivered trigger (the same message bytes).",
    example="When the trigger is redelivered 20 times",
)
def when_redelivered(context: Any, times: int) -> None:
    s = state(context)
    again = harness(context).redeliver(last_delivery(s), times=times)
    if again:
        s.extra["first_delivery"] = s.extra.get("first_delivery", s.delivery)
        s.delivery = again[-1]


@step(
    "Given",
    'storm events from "{target}"',
    group=G_ACT,
    description="The storm's event source: `package.module:attr` naming a list, a callable "
    "`(rng, i) -> event` or a Hypothesis strategy.",
    example='Given storm events from "myproject.testing:order_events"',
)
def given_event_source(context: Any, target: str) -> None:
    state(context).event_source = import_target(target)


@step(
    "When",
    "a storm of {events:d} events over {roots:d} roots runs with seed {seed:d}",
    group=G_ACT,
    description="A seeded redelivery storm against the saga, with faults from an optional "
    "`| fault | value |` table (rates 0..1; `reorder` true/false; "
    "`delivery-limit` N; `concurrency` N).",
    example="When a storm of 500 events over 10 roots runs with seed 7\n"
    "  | fault            | value |\n  | duplicate        | 0.1   |\n"
    "  | crash-before-ack | 0.05  |\n  | reorder          | true  |",
)
def when_storm(context: Any, events: int, roots: int, seed: int) -> None:
    from ..simulate import Storm

    s = state(context)
    if s.saga is None:
        raise AssertionError('no saga declared: Given the saga "package.module:attr"')
    options: dict[str, Any] = {}
    concurrency = 1
    rates = [f.replace("_", "-") for f in FaultPlan.__dataclass_fields__ if f != "delivery_limit"]
    known = [*rates, "delivery-limit", "concurrency"]
    if context.table is not None:
        for row in table_rows(context, "fault", "value"):
            name, value = row["fault"].strip(), row["value"].strip()
            what = f"fault {name!r}"
            if name == "concurrency":
                concurrency = cell_int(value, what, minimum=1, maximum=64)
            elif name == "reorder":
                options["reorder"] = cell_bool(value, what)
            elif name == "delivery-limit":
                options["delivery_limit"] = cell_int(value, what, minimum=1, maximum=10_000)
            elif name in rates:
                options[name.replace("-", "_")] = cell_float(value, what)
            else:
                raise AssertionError(f"fault: got {name!r}; expected one of: {', '.join(known)}")
    faults = FaultPlan(**options)
    if faults.concurrent_redelivery and concurrency < 2:
        concurrency = 2
    setups = list(s.storm_setup)
    s.report = Storm(
        s.saga,
        source_domain=s.source_domain,
        output_domains=s.output_domains,
        profile=s.profile,
        events=events,
        roots=roots,
        seed=seed,
        event_source=s.event_source,
        faults=faults,
        concurrency=concurrency,
        setup=(lambda h: [fn(h) for fn in setups]) if setups else None,
        **({"kind": "process-manager", **s.extra["pm"]} if "pm" in s.extra else {}),
    ).run()
