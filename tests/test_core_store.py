"""The ``core`` profile's persistence and dedupe rules (docs/profiles.md), each test named
after the core HEAD function it models (f97af362):

* ``orchestration/aggregate/grpc/mod.rs`` ``GrpcAggregateContext::persist_events``: a
  command whose business logic returns no new page is a NoOp: nothing is written, so no dedupe
  source is tagged and a redelivery runs business logic again; received pages at or below the
  history it loaded are dropped before persisting;
* ``deferred_to_source_info`` (same file): a deferred source without a root is no dedupe key;
* ``storage/sqlite/event_store.rs`` ``add``: the SQLite backend stores the source columns only
  for a non-empty source edition, so its dedupe never hits for the unnamed main timeline
  (Postgres, ``storage/postgres/event_store.rs`` ``add``, stores them: the default).
"""

from __future__ import annotations

import json

import pytest
import sagas
from hypothesis import given, settings
from hypothesis import strategies as st

from angzarr_testkit import ConfigurationError, SagaHarness, UsageError
from angzarr_testkit.cli import main
from angzarr_testkit.ids import uuid_for
from angzarr_testkit.simulate import FaultPlan, Storm

T, E = sagas.T, sagas.E
SKU = uuid_for("sku-1")
IO = dict(source_domain="order", output_domains=["inventory"])


def order(i: int = 1) -> E.OrderCreated:
    return E.OrderCreated(order_id=f"o-{i}", sku="sku-1", quantity=1)


def statuses(deliveries) -> list[str]:
    return [o.status for d in deliveries for o in d.outcomes]


def nothing(ctx):
    return []


def test_persist_events_noop_is_not_tagged_and_reruns_on_redelivery():
    h = SagaHarness(sagas.strict_deferred_saga, **IO)
    h.given_aggregate("inventory", nothing)
    first = h.deliver(order())
    again = h.redeliver(first, times=2)
    assert statuses([first, *again]) == ["applied"] * 3
    assert all(o.noop for d in [first, *again] for o in d.outcomes)
    view = h.aggregate("inventory", SKU)
    assert (view.applied, view.deduped, view.next_sequence) == (3, 0, 0)
    assert h.findings == []  # a no-op run again is no double-apply
    # the seed profiles tag it: the redeliveries dedupe
    seed = SagaHarness(sagas.strict_deferred_saga, profile="sequence-map", **IO)
    seed.given_aggregate("inventory", nothing)
    d = seed.deliver(order())
    assert statuses([d, *seed.redeliver(d, times=2)]) == ["applied", "deduped", "deduped"]


def _stale_pages(ctx):
    """Business logic returning a page at an old sequence and one at the head."""
    head = ctx.command.pages[0].header.sequence
    old = T.EventPage()
    old.header.sequence = max(head - 1, 0)
    old.event.Pack(E.InventoryReserved(order_id="old"), type_url_prefix=sagas.PREFIX)
    new = T.EventPage()
    new.header.sequence = head
    new.event.Pack(E.InventoryReserved(order_id="new"), type_url_prefix=sagas.PREFIX)
    return [old, new] if head else [new]


def test_persist_events_drops_pages_at_or_below_the_loaded_history():
    h = SagaHarness(sagas.strict_deferred_saga, **IO)
    h.given_aggregate("inventory", _stale_pages)
    h.given_destination("inventory", SKU, next_sequence=3)
    (outcome,) = h.deliver(order()).outcomes
    assert outcome.status == "applied"
    view = h.aggregate("inventory", SKU)
    assert view.next_sequence == 4
    assert [E.InventoryReserved.FromString(p.event.value).order_id for p in view.events] == ["new"]
    # the seed profiles refuse the old page as a conflict and retry until it is lost
    seed = SagaHarness(sagas.strict_deferred_saga, profile="sequence-map", **IO)
    seed.given_aggregate("inventory", _stale_pages)
    seed.given_destination("inventory", SKU, next_sequence=3)
    assert [o.status for o in seed.deliver(order()).outcomes] == ["retried-out"]


def _rootless_source_saga(request):
    commands = sagas.strict_deferred_saga(request)
    for page in commands[0].pages:
        page.header.angzarr_deferred.source.ClearField("root")
    return commands


def test_deferred_to_source_info_rootless_source_is_no_dedupe_key():
    """Core rewrites only a deferred page without a source; one whose source has no root
    (the field unset) keeps it, and ``deferred_to_source_info`` then gives no source: no
    lookup, nothing tagged. (A root that is set but not 16 bytes is an invalid-command.)"""
    h = SagaHarness(_rootless_source_saga, **IO)
    first = h.deliver(order())
    again = h.redeliver(first)
    assert statuses([first, *again]) == ["applied", "applied"]
    assert h.aggregate("inventory", SKU).deduped == 0


def _edition_saga(name: str):
    def saga(request):
        commands = sagas.strict_deferred_saga(request)
        for page in commands[0].pages:
            page.header.angzarr_deferred.source.edition.name = name
        return commands

    return saga


@pytest.mark.parametrize(
    ("store", "edition", "deduped"),
    [
        ("postgres", "", True),
        ("postgres", "angzarr", True),
        ("sqlite", "", False),  # the usual unnamed main timeline: never deduped
        ("sqlite", "angzarr", True),  # the named main sentinel is stored
        ("sqlite", "v2", True),
    ],
)
def test_sqlite_add_drops_the_source_for_an_empty_edition(store, edition, deduped):
    h = SagaHarness(_edition_saga(edition), dedupe_store=store, **IO)
    first = h.deliver(order())
    (again,) = h.redeliver(first)
    assert again.outcomes[0].status == ("deduped" if deduped else "applied")
    kinds = {f.kind for f in h.findings}
    assert ("double-apply" in kinds) is (not deduped)


def test_sqlite_storms_find_the_double_applies_and_replay_them(tmp_path):
    opts = dict(
        IO,
        events=40,
        roots=4,
        seed=2,
        event_source=sagas.one_sku,
        faults=FaultPlan(duplicate=0.5),
    )
    assert Storm(sagas.strict_deferred_saga, **opts).run().ok
    trace = tmp_path / "sqlite.jsonl"
    report = Storm(sagas.strict_deferred_saga, dedupe_store="sqlite", trace=trace, **opts).run()
    assert not report.ok and report.kinds().get("double-apply", 0) > 0
    header = json.loads(trace.read_text().splitlines()[0])
    assert header["dedupe_store"] == "sqlite"
    replayed = Storm.replay(trace, saga=sagas.strict_deferred_saga)
    assert replayed.counts == report.counts and not replayed.verdict_changed


def test_the_cli_takes_dedupe_store(tmp_path, capsys):
    argv = [
        "storm",
        "sagas:strict_deferred_saga",
        "--source-domain",
        "order",
        "--output-domain",
        "inventory",
        "--event-source",
        "sagas:one_sku",
        "--events",
        "20",
        "--roots",
        "2",
        "--duplicate",
        "0.5",
        "--output-dir",
        str(tmp_path),
        "--json",
    ]
    assert main(argv) == 0
    capsys.readouterr()
    assert main([*argv, "--dedupe-store", "sqlite"]) == 1
    assert json.loads(capsys.readouterr().out)["finding_counts"]["double-apply"] > 0
    assert main([*argv, "--dedupe-store", "mysql"]) == 2
    err = capsys.readouterr().err
    assert "--dedupe-store" in err and "postgres" in err and err.count("\n") == 1


@settings(max_examples=40, deadline=None)
@given(
    value=st.one_of(st.none(), st.integers(), st.text(max_size=8), st.just("Postgres")).filter(
        lambda v: v not in ("postgres", "sqlite")
    )
)
def test_a_bad_dedupe_store_is_a_usage_error_naming_it(value):
    with pytest.raises(ConfigurationError, match="dedupe_store"):
        SagaHarness(sagas.strict_deferred_saga, dedupe_store=value, **IO)
    with pytest.raises(UsageError, match="dedupe_store"):
        Storm(sagas.strict_deferred_saga, dedupe_store=value, event_source=sagas.one_sku, **IO)
