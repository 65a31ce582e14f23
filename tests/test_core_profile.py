"""The ``core`` profile: what angzarr core HEAD's coordinators send and do (docs/profiles.md).

Pinned here, each with the core file and function it models (core HEAD f97af362):

* the map is empty: ``orchestration/saga/mod.rs`` ``orchestrate_saga`` fills
  ``destination_sequences`` only for declared output domains and no production context
  declares any; ``orchestration/process_manager/grpc/mod.rs`` ``GrpcPMContext::handle`` sends
  ``Default::default()``;
* every command page is rewritten to a deferred header naming the trigger (``orchestrate_saga``;
  ``process_manager/mod.rs`` ``execute_pm_commands`` with the PM's cover): a page without an
  ``angzarr_deferred`` header gets ``{trigger cover, max trigger page sequence}``, a deferred
  page without a source gets the source only (its ``source_seq`` kept);
* a process manager's Prepare is never called (``orchestrate_pm``).
"""

from __future__ import annotations

import pms
import pytest
import sagas
from hypothesis import given, settings
from hypothesis import strategies as st

from angzarr_testkit import PROFILES, ConfigurationError, ProcessManagerHarness, SagaHarness
from angzarr_testkit.framework.saga import DEFAULT_PROFILE
from angzarr_testkit.simulate import FaultPlan, Storm

T, E = sagas.T, sagas.E
IO = dict(source_domain="order", output_domains=["inventory", "payment"])


def order(i: int = 1) -> E.OrderCreated:
    return E.OrderCreated(order_id=f"o-{i}", sku="sku-1", quantity=1)


def test_core_is_the_default_profile_everywhere():
    assert PROFILES == ("core", "sequence-map", "deferred-rewrite") and DEFAULT_PROFILE == "core"
    assert SagaHarness(sagas.deferred_saga, **IO).profile == "core"
    assert _pm(pms.fulfillment_pm).profile == "core"
    assert Storm(sagas.deferred_saga, **IO, event_source=sagas.one_sku).profile == "core"
    from angzarr_testkit.cli.parser import build_parser

    args = build_parser().parse_args(["storm", "sagas:deferred_saga"])
    assert args.profile == "core"


def test_core_sends_an_empty_map_whatever_the_output_domains():
    h = SagaHarness(sagas.deferred_saga, profile="core", **IO)
    h.given_destination("inventory", sagas.uuid_for("sku-1"), next_sequence=4)
    delivery = h.deliver(order())
    assert dict(delivery.request.destination_sequences) == {}
    seeded = SagaHarness(sagas.deferred_saga, profile="sequence-map", **IO).deliver(order())
    assert dict(seeded.request.destination_sequences) == {"inventory": 0, "payment": 0}


def test_a_saga_stamping_from_the_map_fails_on_every_trigger_under_core():
    h = SagaHarness(sagas.explicit_saga, profile="core", **IO)
    for i in range(3):
        h.deliver(order(i))
    assert [f.kind for f in h.findings] == ["missing-destination-sequence"] * 3
    message = h.findings[0].message
    assert "EMPTY map" in message and "Destinations.deferred_header" in message
    assert h.findings[0].details["domain"] == "inventory"
    # the seed protocol fills the map: the same saga's first deliveries are fine there
    seed = SagaHarness(sagas.explicit_saga, profile="sequence-map", **IO)
    for i in range(3):
        seed.deliver(order(i))
    assert seed.findings == []


def _fixed_sequence_saga(request):
    """Stamps an explicit sequence of its own (not from the map)."""
    cmd = sagas.reserve(sagas.order_of(request))
    cmd.pages[0].header.sequence = 7
    return [cmd]


def test_core_rewrites_an_explicit_sequence_into_a_deferred_header_that_dedupes():
    h = SagaHarness(_fixed_sequence_saga, profile="core", **IO)
    first = h.deliver(order(), sequence=3)
    header = first.sent[0].book.pages[0].header
    assert header.WhichOneof("sequence_type") == "angzarr_deferred"
    assert header.angzarr_deferred.source_seq == 3
    assert header.angzarr_deferred.source.SerializeToString() == (
        first.trigger.cover.SerializeToString()
    )
    again = h.redeliver(first, times=2)
    assert [o.status for o in first.outcomes] == ["applied"]
    assert [o.status for d in again for o in d.outcomes] == ["deduped", "deduped"]
    assert h.findings == []
    # under the seed protocol the same saga's stale explicit sequence is refused
    seed = SagaHarness(_fixed_sequence_saga, profile="sequence-map", **IO)
    seed.deliver(order(), sequence=3)
    assert {f.kind for f in seed.findings} == {"sequence-mismatch", "lost-command"}


@settings(max_examples=60, deadline=None)
@given(
    seqs=st.lists(st.integers(0, 50), min_size=1, max_size=4, unique=True).map(sorted),
    header=st.sampled_from(["none", "sequence", "deferred-with-source", "deferred-no-source"]),
    own_seq=st.integers(0, 99),
)
def test_core_rewrite_of_every_header_kind(seqs, header, own_seq):
    other = T.Cover(domain="billing", root=T.UUID(value=sagas.uuid_for("elsewhere")))

    def saga(request):
        cmd = sagas.reserve(sagas.order_of(request))
        page = cmd.pages[0]
        if header == "sequence":
            page.header.sequence = own_seq
        elif header == "deferred-with-source":
            page.header.angzarr_deferred.source.CopyFrom(other)
            page.header.angzarr_deferred.source_seq = own_seq
        elif header == "deferred-no-source":
            page.header.angzarr_deferred.source_seq = own_seq
        return [cmd]

    book = T.EventBook(cover=T.Cover(domain="order", root=T.UUID(value=sagas.uuid_for("r"))))
    for s in seqs:
        page = book.pages.add()
        page.header.sequence = s
        page.event.Pack(order(s), type_url_prefix=sagas.PREFIX)
    h = SagaHarness(saga, profile="core", **IO)
    sent = h.deliver(book).sent[0].book.pages[0].header
    assert sent.WhichOneof("sequence_type") == "angzarr_deferred"
    deferred = sent.angzarr_deferred
    if header == "deferred-with-source":  # left as the handler built it
        assert (deferred.source, deferred.source_seq) == (other, own_seq)
    elif header == "deferred-no-source":  # the source filled in, its source_seq kept
        assert deferred.source == book.cover and deferred.source_seq == own_seq
    else:  # rewritten: the trigger's cover and its highest page sequence
        assert deferred.source == book.cover and deferred.source_seq == max(seqs)


def _pm(pm, **kw):
    return ProcessManagerHarness(
        pm, pm_domain="fulfillment", sources=["order"], output_domains=["inventory"], **kw
    )


def test_a_process_manager_gets_an_empty_map_and_its_own_provenance_under_core():
    delivery = _pm(pms.fulfillment_pm, profile="core").deliver(order(), correlation_id="wf-1")
    assert dict(delivery.request.destination_sequences) == {}
    assert delivery.sent  # the loop below checks something
    for recorded in delivery.sent:
        header = recorded.book.pages[0].header
        assert header.WhichOneof("sequence_type") == "angzarr_deferred"
        assert header.angzarr_deferred.source.domain == "fulfillment"


def test_a_process_manager_stamping_from_the_map_fails_under_core():
    h = _pm(pms.stamping_pm, profile="core")
    h.deliver(order(), correlation_id="wf-1")
    assert "missing-destination-sequence" in {f.kind for f in h.findings}
    seed = _pm(pms.stamping_pm, profile="sequence-map")
    seed.deliver(order(), correlation_id="wf-1")
    assert "missing-destination-sequence" not in {f.kind for f in seed.findings}


def test_prepare_is_refused_under_core_with_what_to_change():
    with pytest.raises(ConfigurationError) as info:
        ProcessManagerHarness(
            pms.PreparingPM(),
            pm_domain="fulfillment",
            sources=["order"],
            profile="core",
            prepare=True,
        )
    assert info.value.details == {"parameter": "prepare", "profile": "core"}
    assert "never calls" in info.value.message and "profile='sequence-map'" in info.value.message


def test_core_storms_find_the_map_stamping_saga_and_pass_the_deferred_one():
    opts = dict(
        IO,
        events=40,
        roots=4,
        event_source=sagas.one_sku,
        profile="core",
        seed=3,
        faults=FaultPlan(duplicate=0.3, crash_before_ack=0.2),
    )
    assert Storm(sagas.strict_deferred_saga, **opts).run().ok
    report = Storm(sagas.explicit_saga, **opts).run()
    assert not report.ok
    assert set(report.kinds()) >= {"missing-destination-sequence"}
    assert report.options["profile"] == "core"


def test_the_cli_takes_profile_core(tmp_path, capsys):
    from angzarr_testkit.cli import main

    code = main(
        [
            "storm",
            "sagas:strict_deferred_saga",
            "--source-domain",
            "order",
            "--output-domain",
            "inventory",
            "--event-source",
            "sagas:one_sku",
            "--events",
            "10",
            "--roots",
            "2",
            "--profile",
            "core",
            "--output-dir",
            str(tmp_path),
        ]
    )
    assert code == 0
    assert main(["storm", "sagas:deferred_saga", "--profile", "nonsense"]) == 2
