"""Then steps on the last delivery: its commands and stamping, the oracle's findings,
and the destination aggregates."""

from __future__ import annotations

from typing import Any

from ..ids import uuid_for
from .environment import (
    cell_int,
    resolve_message_type,
    state,
    table_rows,
)
from .saga_support import (
    G_AGG,
    G_ORACLE,
    G_OUT,
    check_kind,
    command_to,
    findings_report,
    harness,
    last_delivery,
    message_from_table,
)
from .vocabulary import step

__all__: list[str] = []

# -- commands and stamping -------------------------------------------------------------------------


@step(
    "Then",
    "the saga emits {count:d} commands",
    group=G_OUT,
    description="The last delivery's handler returned exactly `count` commands.",
    example="Then the saga emits 2 commands",
)
def then_emits_count(context: Any, count: int) -> None:
    d = last_delivery(state(context))
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
    command = command_to(state(context), domain)
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
    command = command_to(state(context), domain)
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
    d = last_delivery(state(context))
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
    d = last_delivery(state(context))
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
    assert not h.findings, findings_report(h)


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
    check_kind(kind)
    h = harness(context)
    assert any(f.kind == kind for f in h.findings), findings_report(h)


@step(
    "Then",
    'the only findings are of kind "{kind}"',
    group=G_ORACLE,
    description="There are findings, and all of them have that kind.",
    example='Then the only findings are of kind "dedupe-collision"',
)
def then_only_findings(context: Any, kind: str) -> None:
    check_kind(kind)
    h = harness(context)
    kinds = {f.kind for f in h.findings}
    assert kinds == {kind}, findings_report(h)


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
