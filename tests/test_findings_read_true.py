"""Findings that read true (issue 11, item 10): cause order, one entry per defect, no
nondeterministic-output for identical commands, no lost-command for an applied command.

Behaviour modelled (angzarr core, main): a redelivered trigger is handled with a fresh
``destination_sequences`` map read from the destinations' heads (``angzarr-coordinator``
saga handling, ``SagaContext::handle``), so explicit sequences may move between deliveries;
the destination's deferred dedupe (``aggregate`` pipeline, ``check_deferred_dedupe``) makes a
redelivered command a no-op success, which is not a loss.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Callable
from dataclasses import FrozenInstanceError
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from angzarr_testkit import (
    Destinations,
    FaultPlan,
    Finding,
    SagaHarness,
    render_findings,
    uuid_for,
    wire,
)
from angzarr_testkit.framework import outputs
from angzarr_testkit.framework import saga as saga_module
from angzarr_testkit.framework.findings import FindingGroup, defect_key, group_findings
from angzarr_testkit.ids import root_str
from angzarr_testkit.simulate import Storm

T, S, E = wire.types_pb2, wire.saga_pb2, wire.examples_pb2
PREFIX = wire.TYPE_URL_PREFIX
# these tests pin how findings read under the seed protocol (its map-stamping sagas)
IO = dict(source_domain="order", output_domains=["inventory"], profile="sequence-map")

pytestmark = pytest.mark.timeout(60)


def order_of(request: Any) -> Any:
    event = E.OrderCreated()
    request.source.pages[-1].event.Unpack(event)
    return event


def reserve(event: Any) -> Any:
    book = T.CommandBook(cover=T.Cover(domain="inventory", root=T.UUID(value=uuid_for(event.sku))))
    book.pages.add().command.Pack(
        E.ReserveInventory(order_id=event.order_id, sku=event.sku, quantity=event.quantity),
        type_url_prefix=PREFIX,
    )
    return book


def deferred(request: Any, cmd: Any) -> Any:
    header = Destinations.deferred_header(
        request.source.cover, request.source.pages[-1].header.sequence
    )
    for page in cmd.pages:
        page.header.CopyFrom(header)
    return cmd


def caching_saga() -> Callable[[Any], Any]:
    """The user report: stamps from the map the first time, then serves the cached command
    (the same bytes) on every redelivery, whatever the map says by then."""
    cache: dict[str, Any] = {}

    def saga(request: Any) -> Any:
        event = order_of(request)
        if event.order_id not in cache:
            stamped = Destinations.from_proto(request.destination_sequences)
            cache[event.order_id] = stamped.stamp_command(reserve(event), "inventory")
        return [cache[event.order_id]]

    return saga


def map_stamping_saga(request: Any) -> Any:
    return [
        Destinations.from_proto(request.destination_sequences).stamp_command(
            reserve(order_of(request)), "inventory"
        )
    ]


def random_id_saga(request: Any) -> Any:
    event = order_of(request)
    event.order_id = str(uuid.uuid4())
    return [deferred(request, reserve(event))]


def shuffled_fields_saga() -> Callable[[Any], Any]:
    """The same command every time, its payload's fields (and a map's entries) serialized in
    a different order on every call: the same content as far as angzarr is concerned."""
    calls = itertools.count()

    def saga(request: Any) -> Any:
        n = next(calls)
        event = order_of(request)
        parts = [
            E.ReserveInventory(order_id=event.order_id).SerializeToString(),
            E.ReserveInventory(sku=event.sku).SerializeToString(),
            E.ReserveInventory(quantity=event.quantity).SerializeToString(),
        ]
        if n % 2:
            parts.reverse()
        tags = [E.LineItems(tags={k: v}).SerializeToString() for k, v in (("a", 1), ("b", 2))]
        if n % 2:
            tags.reverse()
        cmd = reserve(event)
        cmd.pages[0].command.value = b"".join(parts)
        page = cmd.pages.add()
        page.command.type_url = PREFIX + "testkit_examples.order.LineItems"
        page.command.value = b"".join(tags)
        return [deferred(request, cmd)]

    return saga


def counter_sequence_saga() -> Callable[[Any], Any]:
    """An explicit sequence from a counter, not from the map: really nondeterministic."""
    counter = itertools.count(7)

    def saga(request: Any) -> Any:
        cmd = reserve(order_of(request))
        cmd.pages[0].header.sequence = next(counter)
        return [cmd]

    return saga


def two_from_map_saga(request: Any) -> Any:
    """Two commands to one aggregate at map and map + 1 (derived from the map each time)."""
    base = request.destination_sequences["inventory"]
    event = order_of(request)
    first, second = reserve(event), reserve(event)
    first.pages[0].header.sequence = base
    second.pages[0].command.Pack(
        E.ReleaseInventory(order_id=event.order_id), type_url_prefix=PREFIX
    )
    second.pages[0].header.sequence = base + 1
    return [first, second]


def order(i: int = 1, sku: str = "sku-1") -> Any:
    return E.OrderCreated(order_id=f"o-{i}", sku=sku, quantity=1)


def kinds(findings: list[Finding]) -> list[str]:
    return [f.kind for f in findings]


# -- cause order ------------------------------------------------------------------------------


def test_harness_findings_list_the_root_cause_first():
    # The map holds one sequence per domain (sku-1's head): the command to sku-2 carries a
    # stale sequence that never gets through (the cause) and so is lost (the consequence).
    stale = SagaHarness(caching_saga(), **IO)
    stale.given_destination("inventory", uuid_for("sku-1"), next_sequence=3)
    stale.given_destination("inventory", uuid_for("sku-2"), next_sequence=0)
    stale.deliver(order(1, "sku-2"), root=uuid_for("o-1"))
    found = kinds(stale.findings)
    assert found == sorted(found, key=["sequence-mismatch", "lost-command"].index)
    assert found[0] == "sequence-mismatch" and "lost-command" in found
    report = render_findings(stale.findings)
    assert report.index("[sequence-mismatch]") < report.index("[lost-command]")


def test_storm_findings_are_in_cause_order():
    report = Storm(
        caching_saga(),
        **IO,
        events=60,
        roots=6,
        seed=4,
        event_source=lambda rng, i: order(i, f"sku-{rng.randrange(3)}"),
        faults=FaultPlan(duplicate=0.2),
        progress=False,
    ).run()
    order_of_kinds = list(dict.fromkeys(kinds(report.findings)))
    assert order_of_kinds == ["sequence-mismatch", "lost-command"], order_of_kinds


# -- grouping ---------------------------------------------------------------------------------


def lost(n: int, domain: str = "inventory", kind: str = "lost-command") -> Finding:
    root = root_str(uuid_for(f"r{n}"))
    return Finding(
        kind,
        f"testkit_examples.order.ReserveInventory to {domain}/{root} was emitted (deliveries "
        f"#{n}, #{n + 7}) but never applied nor rejected: every send ran out of retries",
        trigger=f"order/{root_str(uuid_for(f't{n}'))}@{n} testkit_examples.order.OrderCreated",
        target=f"{domain}/{root}",
        delivery=n,
        sequences={"expected": n, "actual": n + 1},
    )


def test_the_same_defect_is_one_group_with_a_count_and_examples():
    findings = [lost(n) for n in range(1, 401)]
    groups = group_findings(findings)
    assert len(groups) == 1
    group = groups[0]
    assert isinstance(group, FindingGroup)
    assert (group.kind, group.count, group.is_error) == ("lost-command", 400, True)
    assert [f.delivery for f in group.examples] == [1, 2, 3]
    assert group.first is findings[0]
    text = render_findings(findings)
    assert text.startswith("findings: 400 lost-command (1 distinct)")
    assert text.count("[lost-command]") == 1 and "[lost-command] x400: " in text
    assert "... and 397 more" in text
    assert "#2 order/" in text and "-> inventory/" in text  # an example line
    assert group.to_dict()["count"] == 400 and len(group.to_dict()["examples"]) == 3


def test_different_defects_stay_apart():
    findings = [
        lost(1),
        lost(2, domain="payment"),
        lost(3, kind="double-apply"),
        Finding("lost-command", "x", target="inventory/a", defect="set by the check"),
        Finding("lost-command", "y", target="inventory/b", defect="set by the check"),
    ]
    groups = group_findings(findings)
    assert [(g.kind, g.count) for g in groups] == [
        ("double-apply", 1),
        ("lost-command", 1),
        ("lost-command", 1),
        ("lost-command", 2),
    ]
    assert defect_key(findings[3]) == "set by the check"
    assert defect_key(lost(5)) == defect_key(lost(77))


def test_a_group_of_one_renders_as_the_finding():
    f = lost(3)
    assert group_findings([f])[0].render() == f.render()
    assert render_findings([f]) == f"findings: 1 lost-command\n\n{f.render()}"


def test_finding_stays_backward_compatible():
    f = Finding("lost-command", "m", "trigger", "target", 3)
    assert f.defect is None and f.delivery == 3
    with pytest.raises(FrozenInstanceError):
        f.defect = "x"  # type: ignore[misc]
    assert set(f.to_dict()) >= {"kind", "severity", "message", "trigger", "target", "defect"}


def test_storm_of_one_bug_is_one_entry_per_defect():
    report = Storm(
        map_stamping_saga,
        **IO,
        events=200,
        roots=10,
        seed=2,
        event_source=lambda rng, i: order(i),
        faults=FaultPlan(duplicate=0.5),
        progress=False,
    ).run()
    assert report.kinds()["double-apply"] > 50
    groups = group_findings(report.findings)
    assert [(g.kind, g.count) for g in groups] == [("double-apply", report.kinds()["double-apply"])]


# -- nondeterministic-output: content only ----------------------------------------------------


def nondeterministic(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.kind == "nondeterministic-output"]


def test_a_cached_command_redelivered_after_the_map_moved_is_not_nondeterministic():
    h = SagaHarness(caching_saga(), **IO)
    d = h.deliver(order(1), root=uuid_for("o-1"))
    h.deliver(order(2), root=uuid_for("o-2"))
    h.redeliver(d, times=2)
    assert h.deliveries[2].sent[0].sequence == 0  # the same command, the map now says 2
    assert h.deliveries[2].request.destination_sequences["inventory"] == 2
    assert nondeterministic(h.findings) == []


def test_map_stamped_sequences_are_not_nondeterministic():
    for saga in (map_stamping_saga, two_from_map_saga):
        h = SagaHarness(saga, **IO)
        h.redeliver(h.deliver(order(1), root=uuid_for("o-1")), times=2)
        assert nondeterministic(h.findings) == [], saga.__name__


def test_field_and_map_order_are_not_nondeterministic():
    h = SagaHarness(shuffled_fields_saga(), **IO)
    d = h.deliver(order(1), root=uuid_for("o-1"))
    h.redeliver(d, times=3)
    assert h.deliveries[0].commands[0].book != h.deliveries[1].commands[0].book  # other bytes
    assert nondeterministic(h.findings) == []
    assert h.clean


def test_a_random_id_is_still_nondeterministic_and_the_field_is_named():
    h = SagaHarness(random_id_saga, **IO)
    h.redeliver(h.deliver(order(1), root=uuid_for("o-1")))
    (finding,) = nondeterministic(h.findings)
    path = "commands[0].pages[0].command<ReserveInventory>.order_id"
    assert f"command #0 differs at {path}" in finding.message
    ids = re.findall(r"'([0-9a-f-]{36})'", finding.message)
    assert len(ids) == 2 and ids[0] != ids[1]  # two different values, never two identical
    assert finding.details["field"] == path


def test_a_counter_sequence_is_still_nondeterministic():
    h = SagaHarness(counter_sequence_saga(), **IO)
    h.redeliver(h.deliver(order(1), root=uuid_for("o-1")))
    (finding,) = nondeterministic(h.findings)
    assert "commands[0].pages[0].header.sequence" in finding.message
    assert "7 (map + 7)" in finding.message and "8 (map + 8)" in finding.message


def storm_of(saga: Any, seed: int = 5, events: int = 150, **faults: Any) -> Any:
    return Storm(
        saga,
        **IO,
        events=events,
        roots=10,
        seed=seed,
        event_source=lambda rng, i: order(i, f"sku-{rng.randrange(3)}"),
        faults=FaultPlan(**faults),
        concurrency=2 if faults.get("concurrent_redelivery") else 1,
        progress=False,
    ).run()


@pytest.mark.parametrize("keep", [True, False], ids=["first-outputs-kept", "digests-only"])
def test_storms_agree(monkeypatch, keep):
    if not keep:  # beyond the storm's memory for first outputs: packed digests
        monkeypatch.setattr(saga_module, "_KEEP_OUTPUTS", 0)
    cached = storm_of(caching_saga(), duplicate=0.3, crash_before_ack=0.2)
    assert cached.counts["redeliveries"] + cached.counts["duplicates"] > 20
    assert nondeterministic(cached.findings) == []
    shuffled = storm_of(shuffled_fields_saga(), duplicate=0.3)
    if keep:  # with only digests, serialization order is all the storm has to go by
        assert nondeterministic(shuffled.findings) == []
    random_ids = storm_of(random_id_saga, duplicate=0.3)
    found = nondeterministic(random_ids.findings)
    assert (
        found and len(found) <= random_ids.counts["duplicates"] + random_ids.counts["redeliveries"]
    )
    if keep:
        assert all("<ReserveInventory>.order_id" in f.message for f in found)
    else:
        assert all("did not keep" in f.message for f in found)
    counter = storm_of(counter_sequence_saga(), duplicate=0.3)
    assert nondeterministic(counter.findings)
    assert all("header.sequence" in f.message for f in nondeterministic(counter.findings))


# -- lost-command: never for an applied command -----------------------------------------------


def test_a_redelivery_of_an_applied_command_is_not_lost():
    h = SagaHarness(caching_saga(), **IO)
    d = h.deliver(order(1), root=uuid_for("o-1"))
    h.deliver(order(2), root=uuid_for("o-2"))
    h.redeliver(d)  # the cached command's sequence is stale now: refused, but applied before
    assert kinds(h.findings) == ["sequence-mismatch"]
    assert h.aggregate("inventory", uuid_for("sku-1")).applied == 2


def test_a_command_rejected_once_is_not_lost_when_a_redelivery_is_cut_short():
    h = SagaHarness(map_stamping_saga, **IO)

    def refuse(ctx: Any) -> Any:
        raise ValueError("no stock")

    h.given_aggregate("inventory", refuse)
    d = h.deliver(order(1), root=uuid_for("o-1"))
    # A redelivery handled but never dispatched (a consumer crash before sending anything).
    work = h.handle_delivery(d._trigger_bytes, True)
    h.execute_delivery(work, limit=0)
    assert kinds(h.findings) == ["rejected-command"]


class Ledger:
    """Records what the destination's business logic applied, per order id, and which
    trigger (root, seq) each order id came from, so that findings can be checked against
    what really happened."""

    def __init__(self, saga: Callable[[Any], Any]) -> None:
        self.saga = saga
        self.applied: set[str] = set()
        self.orders: dict[tuple[str, int], str] = {}

    def handle(self, request: Any) -> Any:
        event = order_of(request)
        src = request.source
        self.orders[(root_str(src.cover.root.value), src.pages[-1].header.sequence)] = (
            event.order_id
        )
        return self.saga(request)

    def setup(self, harness: Any) -> None:
        def apply(ctx: Any) -> list[Any]:
            for page in ctx.command.pages:
                cmd = E.ReserveInventory()
                if page.command.Unpack(cmd):
                    self.applied.add(cmd.order_id)
            return [E.InventoryReserved()]

        harness.given_aggregate("inventory", apply)

    def order_of_finding(self, finding: Finding) -> str:
        match = re.match(r"order/([0-9a-f-]{36})@(\d+)", finding.trigger or "")
        assert match, finding.trigger
        return self.orders[(match.group(1), int(match.group(2)))]


FAULTS = {
    "crash-mid-dispatch": dict(crash_mid_dispatch=0.3),
    "crash-before-ack": dict(crash_before_ack=0.3),
    "concurrent": dict(concurrent_redelivery=0.3),
    "duplicate": dict(duplicate=0.3),
    "all": dict(
        duplicate=0.1, crash_before_ack=0.1, crash_mid_dispatch=0.1, concurrent_redelivery=0.1
    ),
}


def ledger_storm(saga: Callable[[Any], Any], faults: dict[str, Any], seed: int = 9) -> Any:
    ledger = Ledger(saga)
    report = Storm(
        ledger.handle,
        **IO,
        events=150,
        roots=10,
        seed=seed,
        event_source=lambda rng, i: order(i, f"sku-{rng.randrange(3)}"),
        faults=FaultPlan(**faults),
        concurrency=2,
        setup=ledger.setup,
        progress=False,
    ).run()
    return ledger, report


@pytest.mark.parametrize("faults", FAULTS.values(), ids=FAULTS.keys())
def test_storms_never_report_an_applied_command_lost(faults):
    def two_commands(request: Any) -> Any:  # so that a crash can cut a dispatch short
        event = order_of(request)
        release = reserve(event)
        release.cover.root.value = uuid_for("sku-other")
        return [deferred(request, reserve(event)), deferred(request, release)]

    ledger, report = ledger_storm(two_commands, faults)
    assert report.ok, render_findings(report.findings)
    assert len(ledger.applied) == 150

    # The user report: cached stale sequences lose some commands for real, not others.
    ledger, report = ledger_storm(caching_saga(), faults)
    lost_orders = {ledger.order_of_finding(f) for f in report.findings if f.kind == "lost-command"}
    emitted = set(ledger.orders.values())
    assert lost_orders, "a stale cached sequence really loses commands"
    assert not lost_orders & ledger.applied, "an applied command was reported lost"
    assert lost_orders == emitted - ledger.applied  # and every really lost one is reported


# -- the comparison itself --------------------------------------------------------------------

UINT32 = st.integers(0, 2**32 - 1)


@given(st.lists(st.tuples(UINT32, st.one_of(st.none(), UINT32)), max_size=6))
def test_packed_sequences_round_trip(pairs):
    info = tuple((raw, None if base is None else raw - base) for raw, base in pairs)
    assert outputs.unpack_seqs(outputs.pack_seqs(info), len(info)) == info


def response_with(*pages: Any) -> Any:
    cmd = T.CommandBook(cover=T.Cover(domain="inventory", root=T.UUID(value=uuid_for("s"))))
    for message in pages:
        cmd.pages.add().command.Pack(message, type_url_prefix=PREFIX)
    return S.SagaResponse(commands=[cmd])


@pytest.mark.parametrize(
    ("first", "this", "path", "shown"),
    [
        (
            E.LineItems(tags={"a": 1}),
            E.LineItems(tags={"a": 1, "b": 2}),
            "commands[0].pages[0].command<LineItems>.tags['b']",
            ("(absent)", "2"),
        ),
        (
            E.LineItems(priority=E.PRIORITY_LOW),
            E.LineItems(priority=E.PRIORITY_HIGH),
            "commands[0].pages[0].command<LineItems>.priority",
            ("PRIORITY_LOW", "PRIORITY_HIGH"),
        ),
        (
            E.LineItems(memo=""),
            E.LineItems(),
            "commands[0].pages[0].command<LineItems>.memo",
            ("''", "(unset)"),
        ),
        (
            E.LineItems(lines=[E.Line(sku="a")]),
            E.LineItems(lines=[E.Line(sku="a"), E.Line(sku="b")]),
            "commands[0].pages[0].command<LineItems>.lines (count)",
            ("1", "2"),
        ),
        (
            E.ReserveInventory(),
            E.ReleaseInventory(),
            "commands[0].pages[0].command.type_url",
            (
                PREFIX + "testkit_examples.order.ReserveInventory",
                PREFIX + "testkit_examples.order.ReleaseInventory",
            ),
        ),
    ],
    ids=["map-key", "enum", "presence", "repeated", "type"],
)
def test_first_difference_names_the_field(first, this, path, shown):
    found = outputs.first_difference(response_with(first), response_with(this), (), ())
    assert found is not None and found.path == path
    assert found.first == shown[0]
    assert found.this == shown[1]


def test_same_content_has_no_difference():
    a = response_with(E.LineItems(tags={"a": 1, "b": 2}, lines=[E.Line(sku="x", quantity=2)]))
    b = response_with(E.LineItems(tags={"b": 2, "a": 1}, lines=[E.Line(quantity=2, sku="x")]))
    assert outputs.first_difference(a, b, (), ()) is None
