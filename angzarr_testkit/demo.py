"""``make demo`` / ``angzarr-testkit demo``: the production bugs the kit exists to expose.

Three versions of the same order -> inventory saga receive one ``OrderCreated`` and then the
same AMQP message again (at-least-once redelivery), against an inventory aggregate that already
has history, first under the default ``core`` profile (angzarr core HEAD as deployed):

* ``stamp_saga`` stamps the sequence from ``destination_sequences``. Core sends an EMPTY map,
  so the SDK's ``stamp_command`` raises on every trigger: ``missing-destination-sequence``.
* ``deferred_saga`` stamps ``Destinations.deferred_header(trigger cover, trigger seq)`` and
  leaves ``merge_strategy`` at its default, MERGE_COMMUTATIVE. Core checks a deferred command
  against the history as expecting sequence 0 and retries it until it is dropped:
  ``sequence-mismatch``.
* ``strict_deferred_saga`` adds ``merge_strategy = MERGE_STRICT``: applied once, every
  redelivery deduped on (source.root, source_seq, target.root).

Then the seed protocol (``profile="sequence-map"``, angzarr-client 0.3's map): the map is
filled, so ``stamp_saga`` works once and double-applies on every redelivery.

Last, a seeded redelivery storm (duplicates, crashes, requeues, concurrent redeliveries) under
core against the strict deferred saga (clean) and, under the seed protocol, the stamping one
(double-applies).

Everything printed is computed by the harness on this run.
"""

from __future__ import annotations

import sys
from typing import Any

from . import wire
from .destinations import Destinations
from .framework import SagaHarness, render_findings
from .ids import uuid_for

__all__ = ["deferred_saga", "run", "stamp_saga", "strict_deferred_saga"]

_T = wire.types_pb2
_E = wire.examples_pb2


def _reserve(request: Any) -> Any:
    event = _E.OrderCreated()
    request.source.pages[-1].event.Unpack(event)
    cmd = _T.CommandBook(
        cover=_T.Cover(domain="inventory", root=_T.UUID(value=uuid_for(event.sku)))
    )
    cmd.pages.add().command.Pack(
        _E.ReserveInventory(order_id=event.order_id, sku=event.sku, quantity=event.quantity),
        type_url_prefix=wire.TYPE_URL_PREFIX,
    )
    return cmd


def stamp_saga(request: Any) -> list[Any]:
    """Stamps the map's sequence: right once, wrong on every redelivery."""
    destinations = Destinations.from_proto(request.destination_sequences)
    return [destinations.stamp_command(_reserve(request), "inventory")]


def deferred_saga(request: Any) -> list[Any]:
    """Stamps a deferred header naming the trigger: redeliveries dedupe."""
    cmd = _reserve(request)
    header = Destinations.deferred_header(
        request.source.cover, request.source.pages[-1].header.sequence
    )
    for page in cmd.pages:
        page.header.CopyFrom(header)
    return [cmd]


def strict_deferred_saga(request: Any) -> list[Any]:
    """The deferred header, and MERGE_STRICT so core's merge check lets it through history."""
    commands = deferred_saga(request)
    for page in commands[0].pages:
        page.merge_strategy = _T.MERGE_STRICT
    return commands


def _scenario(name: str, saga: Any, redeliveries: int, profile: str = "core") -> SagaHarness:
    h = SagaHarness(saga, source_domain="order", output_domains=["inventory"], profile=profile)
    h.given_destination("inventory", uuid_for("sku-42"), next_sequence=5)
    d = h.deliver(
        _E.OrderCreated(order_id="order-1", sku="sku-42", quantity=2),
        root=uuid_for("order-1"),
        correlation_id="demo-1",
    )
    again = h.redeliver(d, times=redeliveries)
    inv = h.aggregate("inventory", uuid_for("sku-42"))
    print(f"== {name} (profile {profile})")
    sent = d.commands[0].describe() if d.commands else "no command (the saga raised)"
    print(f"   first delivery: map {dict(d.request.destination_sequences)} -> {sent}")
    statuses = [o.status for r in [d, *again] for o in r.outcomes]
    print(f"   outcomes over {1 + redeliveries} deliveries: {statuses}")
    print(
        f"   inventory aggregate: business logic ran {inv.applied}x, deduped {inv.deduped}x, "
        f"next_sequence {inv.next_sequence}"
    )
    print("   " + render_findings(h.findings, title="oracle").replace("\n", "\n   "))
    print()
    return h


def _order_events(rng: Any, i: int) -> Any:
    return _E.OrderCreated(order_id=f"order-{i}", sku="sku-42", quantity=1 + rng.randrange(3))


def _storm(name: str, saga: Any, profile: str = "core") -> Any:
    from .simulate import FaultPlan, Storm

    report = Storm(
        saga,
        profile=profile,
        source_domain="order",
        output_domains=["inventory"],
        events=2000,
        roots=50,
        seed=7,
        event_source=_order_events,
        concurrency=2,
        faults=FaultPlan(
            duplicate=0.05,
            crash_before_ack=0.05,
            crash_mid_dispatch=0.02,
            nack_requeue=0.02,
            concurrent_redelivery=0.02,
            reorder=True,
        ),
    ).run()
    print(f"== storm: {name} (profile {profile})")
    print("   " + report.summary().replace("\n", "\n   "))
    first = next((f for f in report.findings if f.kind == "double-apply"), None)
    if first is not None:
        print("   first double-apply:")
        print("   " + first.render(with_traceback=False).replace("\n", "\n   "))
    print()
    return report


def run(redeliveries: int = 3) -> int:
    """Run the scenarios, then a storm against the fixed and the stamping saga; exit code 0
    when the oracle saw what the demo explains (it always does unless the kit is broken)."""
    stamped = _scenario(
        "saga stamping destination_sequences (explicit sequence)", stamp_saga, redeliveries
    )
    commutative = _scenario(
        "saga stamping Destinations.deferred_header(...), merge_strategy unset",
        deferred_saga,
        redeliveries,
    )
    strict = _scenario(
        "saga stamping Destinations.deferred_header(...) with MERGE_STRICT",
        strict_deferred_saga,
        redeliveries,
    )
    seed = _scenario(
        "saga stamping destination_sequences (explicit sequence)",
        stamp_saga,
        redeliveries,
        profile="sequence-map",
    )
    storm_strict = _storm("2,000 OrderCreated, deferred MERGE_STRICT saga", strict_deferred_saga)
    storm_stamped = _storm(
        "2,000 OrderCreated, explicit-sequence saga", stamp_saga, profile="sequence-map"
    )
    kinds = [f.kind for f in commutative.findings]
    as_explained = (
        {f.kind for f in stamped.findings} == {"missing-destination-sequence"}
        and "sequence-mismatch" in kinds
        and set(kinds) <= {"sequence-mismatch", "lost-command"}
        and strict.clean
        and not strict.findings
        and [f.kind for f in seed.findings] == ["double-apply"]
        and storm_strict.ok
        and storm_stamped.kinds().get("double-apply", 0) > 0
    )
    print(
        "demo:",
        "the oracle caught the map-stamping saga (both profiles) and the unmerged deferred "
        "one, and passed the deferred MERGE_STRICT saga"
        if as_explained
        else "UNEXPECTED: the oracle did not report what the demo explains",
    )
    return 0 if as_explained else 1


if __name__ == "__main__":
    sys.exit(run())
