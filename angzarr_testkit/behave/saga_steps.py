"""Steps that drive a saga through the fake angzarr: harness, redelivery, storms, the oracle."""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from .. import wire
from ..errors import InvalidArgumentError
from ..framework.findings import KINDS, render_findings
from ..framework.saga import SagaHarness
from ..framework.targets import import_target
from ..ids import uuid_for
from ..simulate.faults import FAULT_CLASSES, FaultPlan
from ..validate import check_choice, check_domain
from .environment import (
    KitState,
    cell_bool,
    cell_float,
    cell_int,
    resolve_message_type,
    state,
    table_rows,
)
from .vocabulary import step

__all__: list[str] = []

G_SAGA = "Saga under test"
G_ACT = "Deliveries and storms"
G_OUT = "Commands and stamping"
G_ORACLE = "Dedupe and the oracle"
G_AGG = "Destination aggregates"


# -- helpers ---------------------------------------------------------------------------------


def _domains(text: str, what: str = "domains") -> list[str]:
    """Comma-separated domain names, each checked (a step failure names ``what``)."""
    names = [d.strip() for d in text.split(",") if d.strip()]
    for i, name in enumerate(names):
        check_domain(name, f"{what}[{i}]")
    return names


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise AssertionError(f"kind: got {kind!r}; expected one of: {', '.join(KINDS)}")


def harness(context: Any) -> SagaHarness:
    """The scenario's harness, built on first use from the declared saga and options."""
    s = state(context)
    if s.harness is None:
        if s.saga is None:
            raise AssertionError(
                'no saga declared: start the scenario with Given the saga "package.module:attr"'
            )
        pm_options = s.extra.get("pm")
        if pm_options is not None:
            from ..framework.pm import ProcessManagerHarness

            s.harness = ProcessManagerHarness(
                s.saga, output_domains=s.output_domains, profile=s.profile, **pm_options
            )
        else:
            s.harness = SagaHarness(
                s.saga,
                source_domain=s.source_domain,
                output_domains=s.output_domains,
                profile=s.profile,
            )
        for setup in s.storm_setup:
            setup(s.harness)
    return s.harness


def _add_setup(context: Any, setup: Any) -> None:
    """Apply ``setup(harness)`` to the scenario's harness (now, or when it is built) and to
    every storm it runs."""
    s = state(context)
    s.storm_setup.append(setup)
    if s.harness is not None:
        setup(s.harness)


def _delivery(s: KitState) -> Any:
    if s.delivery is None:
        raise AssertionError("nothing was delivered yet: add a When ... is delivered step")
    return s.delivery


def _convert(field: FieldDescriptor, text: str) -> Any:
    t = field.type
    if wire.is_repeated(field) or t in (
        FieldDescriptor.TYPE_MESSAGE,
        FieldDescriptor.TYPE_GROUP,
    ):
        raise InvalidArgumentError(
            f"field {field.name} is a message or repeated field; tables set scalar fields only",
            details={"field": field.name},
        )
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return float(text)
    if t == FieldDescriptor.TYPE_BOOL:
        if text.lower() not in ("true", "false", "yes", "no", "1", "0"):
            raise InvalidArgumentError(f"field {field.name} wants true or false, got {text!r}")
        return text.lower() in ("true", "yes", "1")
    if t == FieldDescriptor.TYPE_ENUM:
        return field.enum_type.values_by_name[text].number if not text.isdigit() else int(text)
    if t == FieldDescriptor.TYPE_STRING:
        return text
    if t == FieldDescriptor.TYPE_BYTES:
        return text.encode()
    return int(text)


def message_from_table(context: Any, type_name: str) -> Any:
    """Build a message of ``type_name`` from a ``| field | value |`` table (optional)."""
    cls = resolve_message_type(type_name)
    message = cls()
    if context.table is None:
        return message
    fields = cls.DESCRIPTOR.fields_by_name
    for row in table_rows(context, "field", "value"):
        name = row["field"]
        if name not in fields:
            raise AssertionError(
                f"{type_name} has no field {name!r}; its fields: {', '.join(fields)}"
            )
        try:
            setattr(message, name, _convert(fields[name], row["value"]))
        except (ValueError, KeyError) as exc:
            raise AssertionError(
                f"cannot set {type_name}.{name} to {row['value']!r}: {exc}"
            ) from None
    return message


def _findings_report(h: Any) -> str:
    return render_findings(h.findings, title="findings")


# -- the saga under test ------------------------------------------------------------------------


@step(
    "Given",
    'the saga "{target}"',
    group=G_SAGA,
    description="The saga under test, as `package.module:attr` (any target the harness "
    "accepts); its declared `@domain`/`@output_domain` are used.",
    example='Given the saga "myproject.sagas:OrderFulfillmentSaga"',
)
def given_saga(context: Any, target: str) -> None:
    s = state(context)
    s.saga = target
    s.harness = None


@step(
    "Given",
    'the saga "{target}" from domain "{source}" to domains "{outputs}"',
    group=G_SAGA,
    description="The saga under test with its trigger domain and output domains "
    "(comma-separated) given explicitly.",
    example='Given the saga "myproject.sagas:reserve" from domain "order" to domains '
    '"inventory, payment"',
)
def given_saga_with_domains(context: Any, target: str, source: str, outputs: str) -> None:
    check_domain(source, "source")
    outputs_list = _domains(outputs, "outputs")
    given_saga(context, target)
    s = state(context)
    s.source_domain = source
    s.output_domains = outputs_list


@step(
    "Given",
    'the framework profile "{profile}"',
    group=G_SAGA,
    description="`sequence-map` (default) or `deferred-rewrite` (DESIGN.md section 3).",
    example='Given the framework profile "deferred-rewrite"',
)
def given_profile(context: Any, profile: str) -> None:
    s = state(context)
    if s.harness is not None:
        raise AssertionError("declare the profile before destinations and deliveries")
    from ..framework.saga import PROFILES

    s.profile = check_choice(profile, "profile", PROFILES)


@step(
    "Given",
    'destination "{domain}" root "{root}" at sequence {seq:d}',
    group=G_AGG,
    description="A destination aggregate (root by name, via `uuid_for`) whose next "
    "sequence is `seq`. The first one per domain is what the sequence map "
    "reports.",
    example='Given destination "inventory" root "sku-1" at sequence 5',
)
def given_destination(context: Any, domain: str, root: str, seq: int) -> None:
    harness(context).given_destination(domain, uuid_for(root), next_sequence=seq)


@step(
    "Given",
    'aggregate "{domain}" runs business logic "{target}"',
    group=G_AGG,
    description="Business logic for a destination domain: `package.module:attr` naming "
    "`fn(ContextualCommand) -> events` (raise to reject).",
    example='Given aggregate "inventory" runs business logic "myproject.inventory:handle"',
)
def given_business_logic(context: Any, domain: str, target: str) -> None:
    check_domain(domain, "domain")
    fn = import_target(target)
    _add_setup(context, lambda h: h.given_aggregate(domain, handler=fn))


@step(
    "Given",
    'the setup "{target}"',
    group=G_AGG,
    description="`package.module:attr` naming `fn(harness)` that gives destinations "
    "business logic and history; applied to the harness and to every storm.",
    example='Given the setup "myproject.testing:stocked"',
)
def given_setup(context: Any, target: str) -> None:
    _add_setup(context, import_target(target))


@step(
    "Given",
    'aggregate "{domain}" declares its changes "{merge}"',
    group=G_AGG,
    description="The destination's merge policy: `strict` or `commutative` (for "
    "MERGE_COMMUTATIVE commands whose sequence does not match).",
    example='Given aggregate "inventory" declares its changes "commutative"',
)
def given_merge(context: Any, domain: str, merge: str) -> None:
    harness(context).given_aggregate(domain, merge=merge)


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
    again = harness(context).redeliver(_delivery(s), times=times)
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


# -- commands and stamping -------------------------------------------------------------------------


def _one(s: KitState, domain: str) -> Any:
    return _delivery(s).command(domain)


@step(
    "Then",
    "the saga emits {count:d} commands",
    group=G_OUT,
    description="The last delivery's handler returned exactly `count` commands.",
    example="Then the saga emits 2 commands",
)
def then_emits_count(context: Any, count: int) -> None:
    d = _delivery(state(context))
    listing = "\n".join(f"  - {c.describe()}" for c in d.commands) or "  (none)"
    assert len(d.commands) == count, f"emitted {len(d.commands)}:\n{listing}"


@step(
    "Then",
    "the saga emits no commands",
    group=G_OUT,
    description="The last delivery's handler returned no command.",
    example="Then the saga emits no commands",
)
def then_emits_none(context: Any) -> None:
    then_emits_count(context, 0)


@step(
    "Then",
    'the saga emits {type_name:w} to domain "{domain}"',
    group=G_OUT,
    description="The single command to that domain has that type; an optional "
    "`| field | value |` table checks its fields.",
    example='Then the saga emits ReserveInventory to domain "inventory"\n'
    "  | field    | value |\n  | quantity | 2     |",
)
def then_emits(context: Any, type_name: str, domain: str) -> None:
    command = _one(state(context), domain)
    cls = resolve_message_type(type_name)
    message = command.unpack(cls)
    if context.table is not None:
        expected = message_from_table(context, type_name)
        for row in table_rows(context, "field", "value"):
            name = row["field"]
            got, want = getattr(message, name), getattr(expected, name)
            assert got == want, f"{type_name}.{name} is {got!r}, expected {want!r}"


@step(
    "Then",
    'the command to domain "{domain}" is stamped with sequence {seq:d}',
    group=G_OUT,
    description="Page 0 of that command carries the explicit sequence `seq`.",
    example='Then the command to domain "inventory" is stamped with sequence 5',
)
def then_stamped(context: Any, domain: str, seq: int) -> None:
    command = _one(state(context), domain)
    assert command.sequence == seq, f"command is {command.describe()}"


@step(
    "Then",
    'the command to domain "{domain}" is deferred from domain "{source}" root '
    '"{root}" at sequence {seq:d}',
    group=G_OUT,
    description="Page 0 carries an `angzarr_deferred` header naming that source and "
    "`source_seq` (as sent, so the deferred-rewrite profile's rewrite counts).",
    example='Then the command to domain "inventory" is deferred from domain "order" root '
    '"order-1" at sequence 0',
)
def then_deferred(context: Any, domain: str, source: str, root: str, seq: int) -> None:
    d = _delivery(state(context))
    sent = [c for c in d.sent if c.domain == domain]
    assert len(sent) == 1, f"expected one command to {domain}, sent: {sent}"
    ref = sent[0].deferred
    assert ref is not None, f"the command is not deferred: {sent[0].describe()}"
    assert (ref.domain, ref.root, ref.source_seq) == (source, uuid_for(root), seq), repr(ref)


@step(
    "Then",
    'the saga fails to stamp domain "{domain}" with code "{code}"',
    group=G_OUT,
    description="The handler's stamp for that domain failed (the kit's coded error or "
    "angzarr_client 0.3.1's ValueError), reported as "
    "`missing-destination-sequence`.",
    example='Then the saga fails to stamp domain "shipping" with code '
    '"MISSING_DESTINATION_SEQUENCE"',
)
def then_stamp_failed(context: Any, domain: str, code: str) -> None:
    d = _delivery(state(context))
    found = [f for f in d.findings if f.kind == "missing-destination-sequence"]
    assert found, f"no stamping failure; delivery findings: {[f.kind for f in d.findings]}"
    assert found[0].details.get("domain") == domain, found[0].render()
    assert found[0].details.get("code") == code, found[0].render()


# -- the oracle ---------------------------------------------------------------------------------


@step(
    "Then",
    "there are no findings",
    group=G_ORACLE,
    description="The harness found nothing at all (not even notes).",
    example="Then there are no findings",
)
def then_no_findings(context: Any) -> None:
    h = harness(context)
    assert not h.findings, _findings_report(h)


@step(
    "Then",
    "the harness is clean",
    group=G_ORACLE,
    description="No finding of an error kind (notes allowed; see docs/findings.md).",
    example="Then the harness is clean",
)
def then_clean(context: Any) -> None:
    harness(context).assert_clean()


@step(
    "Then",
    'there is a finding of kind "{kind}"',
    group=G_ORACLE,
    description="At least one finding of that kind (see docs/findings.md).",
    example='Then there is a finding of kind "double-apply"',
)
def then_finding(context: Any, kind: str) -> None:
    _check_kind(kind)
    h = harness(context)
    assert any(f.kind == kind for f in h.findings), _findings_report(h)


@step(
    "Then",
    'the only findings are of kind "{kind}"',
    group=G_ORACLE,
    description="There are findings, and all of them have that kind.",
    example='Then the only findings are of kind "dedupe-collision"',
)
def then_only_findings(context: Any, kind: str) -> None:
    _check_kind(kind)
    h = harness(context)
    kinds = {f.kind for f in h.findings}
    assert kinds == {kind}, _findings_report(h)


@step(
    "Then",
    'business logic on "{domain}" root "{root}" ran {times:d} times',
    group=G_ORACLE,
    description="How many commands that aggregate's business logic applied.",
    example='Then business logic on "inventory" root "sku-1" ran 1 times',
)
def then_applied(context: Any, domain: str, root: str, times: int) -> None:
    view = harness(context).aggregate(domain, uuid_for(root))
    assert view.applied == times, repr(view)


@step(
    "Then",
    'aggregate "{domain}" root "{root}" deduped {times:d} deliveries',
    group=G_ORACLE,
    description="How many commands hit the `(source.root, source_seq, target.root)` dedupe "
    "on that aggregate (business logic not run, no sequence consumed).",
    example='Then aggregate "inventory" root "sku-1" deduped 20 deliveries',
)
def then_deduped(context: Any, domain: str, root: str, times: int) -> None:
    view = harness(context).aggregate(domain, uuid_for(root))
    assert view.deduped == times, repr(view)


@step(
    "Then",
    'aggregate "{domain}" root "{root}" is at sequence {seq:d}',
    group=G_AGG,
    description="The aggregate's next sequence.",
    example='Then aggregate "inventory" root "sku-1" is at sequence 6',
)
def then_at_sequence(context: Any, domain: str, root: str, seq: int) -> None:
    view = harness(context).aggregate(domain, uuid_for(root))
    assert view.next_sequence == seq, repr(view)


@step(
    "Then",
    'aggregate "{domain}" root "{root}" has events:',
    group=G_AGG,
    description="The aggregate's events from the given sequences on: a "
    "`| sequence | type |` table (type unqualified or full name).",
    example='Then aggregate "inventory" root "sku-1" has events:\n'
    "  | sequence | type             |\n  | 5        | ReserveInventory |",
)
def then_has_events(context: Any, domain: str, root: str) -> None:
    view = harness(context).aggregate(domain, uuid_for(root))
    rows = table_rows(context, "sequence", "type")
    if not rows:
        raise AssertionError("the table has no rows: list at least one | sequence | type |")
    by_seq = {p.header.sequence: p.event.type_url.rsplit("/", 1)[-1] for p in view.events}
    snapshot = view.snapshot.sequence if view.snapshot is not None else None
    sequences = [cell_int(r["sequence"], "sequence") for r in rows]
    for row, seq in zip(rows, sequences, strict=True):
        if snapshot is not None and seq <= snapshot:
            raise AssertionError(
                f"sequence: got {seq}; the history up to {snapshot} is a snapshot (no "
                f"events are kept before it): list events from {snapshot + 1} on"
            )
        assert seq in by_seq, f"no event at sequence {seq}; {repr(view)}"
        got = by_seq[seq]
        assert got == row["type"] or got.endswith("." + row["type"]), (
            f"event {seq} is {got}, expected {row['type']}"
        )
    last = max(sequences)
    assert view.next_sequence == last + 1, f"events continue after {last}: {repr(view)}"


# -- storms -------------------------------------------------------------------------------------


def _report(s: KitState) -> Any:
    if s.report is None:
        raise AssertionError("no storm ran: add When a storm of N events ... runs with seed S")
    return s.report


@step(
    "Then",
    "the storm is clean",
    group=G_ORACLE,
    description="No error finding in the storm (and every required fault class occurred).",
    example="Then the storm is clean",
)
def then_storm_clean(context: Any) -> None:
    _report(state(context)).assert_clean()


@step(
    "Then",
    'the storm has a finding of kind "{kind}"',
    group=G_ORACLE,
    description="The storm's oracle reported at least one finding of that kind.",
    example='Then the storm has a finding of kind "double-apply"',
)
def then_storm_finding(context: Any, kind: str) -> None:
    _check_kind(kind)
    report = _report(state(context))
    assert kind in report.kinds(), report.summary()


@step(
    "Then",
    'fault "{fault}" occurred',
    group=G_ORACLE,
    description="The storm actually injected that fault class (a storm that injected "
    "nothing proves nothing).",
    example='Then fault "crash-before-ack" occurred',
)
def then_fault_occurred(context: Any, fault: str) -> None:
    check_choice(fault, "fault", FAULT_CLASSES)
    report = _report(state(context))
    assert report.fault_coverage.get(fault, 0) > 0, report.summary()


@step(
    "Then",
    "business logic ran once per event",
    group=G_ORACLE,
    description="The storm applied exactly one command per published trigger and command "
    "(no double apply, nothing lost).",
    example="Then business logic ran once per event",
)
def then_once_per_event(context: Any) -> None:
    report = _report(state(context))
    assert report.counts["applied"] == report.counts["published"], report.summary()


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
    source_list, output_list = _domains(sources, "sources"), _domains(outputs, "outputs")
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
    d = _delivery(state(context))
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
    assert dead, _findings_report(h)
    assert dead[-1].details.get("deliveries") == str(times), dead[-1].render()


@step(
    "When",
    'the storm in trace "{path}" is replayed',
    group=G_ACT,
    description="Re-execute a recorded storm trace exactly (a path relative to the feature "
    "file), against the declared saga or process manager.",
    example='When the storm in trace "storm-7.jsonl" is replayed',
)
def when_replayed(context: Any, path: str) -> None:
    from pathlib import Path

    from ..simulate import Storm

    s = state(context)
    if s.saga is None:
        raise AssertionError("declare the saga or process manager first")
    trace = Path(path)
    feature = getattr(getattr(context, "feature", None), "filename", None)
    if not trace.is_absolute() and feature:
        trace = Path(feature).resolve().parent / trace
    setups = list(s.storm_setup)
    s.report = Storm.replay(
        trace, saga=s.saga, setup=(lambda h: [fn(h) for fn in setups]) if setups else None
    )
