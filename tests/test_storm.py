"""Redelivery storms: determinism, every fault class, the oracle, replay, event sources."""

from __future__ import annotations

import json
from base64 import b64decode

import pytest
import sagas
from hypothesis import given, settings
from hypothesis import strategies as st

from angzarr_testkit import ClientError, ConfigurationError, TraceError, UsageError, uuid_for, wire
from angzarr_testkit.simulate import FAULT_CLASSES, FaultPlan, Storm

E = wire.examples_pb2
T = wire.types_pb2


one_sku = sagas.one_sku


def two_command_saga(request):
    """Reserve and charge, both deferred: two targets per trigger."""
    event = sagas.order_of(request)
    commands = [sagas.reserve(event), sagas.charge(event)]
    header = wire.types_pb2.PageHeader()
    header.angzarr_deferred.source.CopyFrom(request.source.cover)
    header.angzarr_deferred.source_seq = request.source.pages[-1].header.sequence
    for cmd in commands:
        cmd.pages[0].header.CopyFrom(header)
    return commands


def storm(saga=sagas.deferred_saga, **kw):
    kw.setdefault("profile", "sequence-map")  # these tests pin the seed protocol
    kw.setdefault("source_domain", "order")
    kw.setdefault("output_domains", ["inventory"])
    kw.setdefault("event_source", one_sku)
    kw.setdefault("events", 200)
    kw.setdefault("roots", 10)
    kw.setdefault("seed", 7)
    return Storm(saga, **kw)


def deliver_lines(report):
    return [json.loads(line) for line in report.trace.lines() if '"type":"deliver"' in line]


ALL_FAULTS = FaultPlan(
    duplicate=0.1,
    crash_before_ack=0.05,
    crash_mid_dispatch=0.05,
    nack_requeue=0.05,
    reorder=True,
    concurrent_redelivery=0.05,
)


# -- determinism --------------------------------------------------------------------------


def test_same_seed_gives_byte_identical_trace_and_findings():
    a = storm(sagas.explicit_saga, faults=ALL_FAULTS, concurrency=2).run()
    b = storm(sagas.explicit_saga, faults=ALL_FAULTS, concurrency=2).run()
    assert a.trace.lines() == b.trace.lines()
    assert [f.to_dict() for f in a.findings] == [f.to_dict() for f in b.findings]
    assert a.counts == b.counts
    c = storm(sagas.explicit_saga, faults=ALL_FAULTS, concurrency=2, seed=8).run()
    assert c.trace.lines() != a.trace.lines()


def test_run_twice_on_one_storm_starts_from_scratch():
    s = storm(faults=FaultPlan(duplicate=0.3))
    first, second = s.run(), s.run()
    assert first.counts == second.counts and first.trace.lines() == second.trace.lines()


# -- fault classes and the oracle -----------------------------------------------------------


def test_clean_deferred_saga_under_every_fault():
    report = storm(faults=ALL_FAULTS, concurrency=2, require=list(FAULT_CLASSES[:-1])).run()
    assert report.ok, report.summary()
    report.assert_clean()
    for fault in FAULT_CLASSES[:-1]:
        assert report.fault_coverage[fault] > 0, fault
    counts = report.counts
    assert counts["applied"] == 200  # one application per trigger, whatever the faults
    assert counts["deduped"] > 0 and counts["redeliveries"] > 0
    assert counts["deliveries"] > counts["published"]


@pytest.mark.parametrize(
    "plan",
    [
        FaultPlan(duplicate=0.2),
        FaultPlan(crash_before_ack=0.2),
    ],
    ids=["duplicate", "crash-before-ack"],
)
def test_explicit_stamping_double_applies_under_redelivery(plan):
    report = storm(sagas.explicit_saga, faults=plan).run()
    assert not report.ok
    kinds = report.kinds()
    assert kinds.get("double-apply", 0) > 0
    assert report.counts["applied"] > 200
    with pytest.raises(AssertionError, match="double-apply"):
        report.assert_clean()


def test_duplicate_copies_are_not_marked_redelivered():
    report = storm(faults=FaultPlan(duplicate=1.0), events=20).run()
    assert report.counts["duplicates"] == 20
    assert report.counts["redeliveries"] == 0
    assert report.counts["deduped"] == 20
    assert report.ok


def test_crash_mid_dispatch_sends_the_rest_on_redelivery():
    report = storm(
        two_command_saga,
        output_domains=["inventory", "payment"],
        faults=FaultPlan(crash_mid_dispatch=0.3),
    ).run()
    crashed = [d for d in deliver_lines(report) if d["fault"] == "crash-mid-dispatch"]
    assert crashed and all(len(d["outcomes"]) == 2 for d in crashed)
    assert all(d["outcomes"].count("not-sent") == 2 - d["k"] for d in crashed)
    assert any(d["k"] == 1 for d in crashed) and any(d["k"] == 0 for d in crashed)
    assert report.counts["applied"] == 400  # both commands of every trigger, once
    assert report.ok, report.summary()


def test_crash_mid_dispatch_up_to_the_limit_loses_commands():
    report = storm(
        two_command_saga,
        output_domains=["inventory", "payment"],
        events=30,
        faults=FaultPlan(crash_mid_dispatch=1.0, delivery_limit=2),
    ).run()
    kinds = report.kinds()
    assert kinds["dead-lettered"] == 30
    # k is drawn below the command count, so the second command never went out
    assert kinds["lost-command"] >= 30
    assert report.counts["dead_lettered"] == 30


def test_nack_requeue_redelivers_without_calling_the_handler():
    report = storm(faults=FaultPlan(nack_requeue=0.3)).run()
    counts = report.counts
    assert report.fault_coverage["nack-requeue"] > 0
    assert counts["handler_calls"] == counts["deliveries"] - report.fault_coverage["nack-requeue"]
    assert counts["applied"] == 200 and report.ok


def test_reorder_interleaves_deliveries():
    plain = [d["msg"] for d in deliver_lines(storm().run())]
    mixed = [d["msg"] for d in deliver_lines(storm(faults=FaultPlan(reorder=True)).run())]
    assert plain == sorted(plain)
    assert mixed != sorted(mixed) and sorted(mixed) == sorted(plain)


def test_concurrent_redelivery_loser_conflicts_then_dedupes():
    report = storm(faults=FaultPlan(concurrent_redelivery=0.5), concurrency=2).run()
    pairs = [d for d in deliver_lines(report) if d["fault"] == "concurrent-redelivery"]
    assert pairs
    assert all(d["outcomes"] == ["applied", "deduped"] for d in pairs)
    assert report.counts["applied"] == 200
    assert report.ok, report.summary()


def test_concurrent_redelivery_of_explicit_saga_is_caught():
    report = storm(
        sagas.explicit_saga, faults=FaultPlan(concurrent_redelivery=0.5), concurrency=2
    ).run()
    # the loser of each race sends its explicit sequence after the winner moved the head
    assert set(report.kinds()) == {"sequence-mismatch"}, report.kinds()
    assert not report.ok


def test_delivery_limit_dead_letters():
    report = storm(events=10, faults=FaultPlan(crash_before_ack=1.0, delivery_limit=3)).run()
    assert report.counts["deliveries"] == 40  # 3 returns allowed: the 4th dead-letters
    assert report.fault_coverage["delivery-limit"] == 10
    dead = [f for f in report.findings if f.kind == "dead-lettered"]
    assert len(dead) == 10 and dead[0].details["deliveries"] == "4"
    settles = [json.loads(x) for x in report.trace.lines() if '"type":"settle"' in x]
    assert [s["result"] for s in settles].count("dead-letter") == 10


def test_required_fault_class_that_never_happened_fails_the_storm():
    report = storm(require=["crash-before-ack"]).run()
    assert not report.ok
    assert report.missing_coverage == ["crash-before-ack"]
    with pytest.raises(AssertionError, match="never occurred.*crash-before-ack"):
        report.assert_clean()


def test_handler_errors_in_a_storm_are_findings_not_crashes():
    report = storm(sagas.exploding_saga, events=20).run()
    # nothing came out of any call: the storm is vacuous too
    assert report.kinds() == {"handler-error": 20, "vacuous-run": 1}
    assert report.counts["handler_errors"] == 20


# -- event sources ----------------------------------------------------------------------------


def test_list_event_source_is_cycled():
    events = [E.OrderCreated(order_id="a", sku="sku-1"), E.OrderCreated(order_id="b", sku="sku-1")]
    report = storm(event_source=events, events=6).run()
    assert report.counts["published"] == 6 and report.ok
    published = [
        json.loads(line)["book"] for line in report.trace.lines() if '"type":"publish"' in line
    ]
    order_ids = [
        sagas.order_of(
            wire.saga_pb2.SagaHandleRequest(source=T.EventBook.FromString(b64decode(b)))
        ).order_id
        for b in published
    ]
    assert order_ids == ["a", "b", "a", "b", "a", "b"]


def test_event_source_may_return_books():
    def books(rng, i):
        book = T.EventBook(cover=T.Cover(domain="order", root=T.UUID(value=uuid_for("o"))))
        page = book.pages.add()
        page.header.sequence = i
        page.event.Pack(
            E.OrderCreated(order_id=str(i), sku="sku-1"), type_url_prefix=wire.TYPE_URL_PREFIX
        )
        return book

    report = storm(event_source=books, events=5).run()
    assert report.counts["applied"] == 5


def test_hypothesis_strategy_event_source_is_seeded():
    strategy = st.builds(E.OrderCreated, order_id=st.text(max_size=5), sku=st.just("sku-1"))
    a = storm(event_source=strategy, events=30).run()
    b = storm(event_source=strategy, events=30).run()
    assert a.trace.lines() == b.trace.lines() and a.ok


def test_plain_callable_without_event_source_says_what_to_do():
    with pytest.raises(ConfigurationError, match="event_source"):
        storm(event_source=None).run()


def test_bad_event_source_values():
    with pytest.raises(UsageError, match=r"event_source\[0\]: got 42"):
        storm(event_source=lambda rng, i: 42).run()
    with pytest.raises(UsageError, match="event_source: got .*expected at least one event"):
        storm(event_source=[])


# -- options -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"require": ["crash"]}, r"require\[0\]: got 'crash'"),
        ({"faults": FaultPlan(concurrent_redelivery=0.1)}, "concurrency=2"),
        ({"faults": "lots"}, "FaultPlan"),
        ({"events": -1}, "events"),
        ({"roots": 0}, "roots"),
    ],
)
def test_bad_storm_options(kwargs, needle):
    with pytest.raises(ClientError, match=needle):
        storm(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"duplicate": 1.5}, "a number from 0 to 1"),
        ({"crash_before_ack": 0.6, "nack_requeue": 0.6}, "add up to 1.2"),
        ({"delivery_limit": 0}, "delivery_limit"),
        ({"reorder": "yes"}, "reorder"),
    ],
)
def test_bad_fault_plans(kwargs, needle):
    with pytest.raises(ConfigurationError, match=needle):
        FaultPlan(**kwargs)


def test_fault_plan_round_trips_and_refuses_unknown_keys():
    assert FaultPlan.from_dict(ALL_FAULTS.to_dict()) == ALL_FAULTS
    with pytest.raises(ConfigurationError, match="unknown fault option"):
        FaultPlan.from_dict({"dupes": 0.1})


# -- replay -------------------------------------------------------------------------------------


def test_replay_reexecutes_a_trace_exactly(tmp_path):
    path = tmp_path / "storm.jsonl"
    original = storm(sagas.explicit_saga, faults=ALL_FAULTS, concurrency=2, trace=path).run()
    assert original.trace.path == path and not original.trace.temporary
    replayed = Storm.replay(path, saga=sagas.explicit_saga)
    assert [f.to_dict() for f in replayed.findings] == [f.to_dict() for f in original.findings]
    assert deliver_lines(replayed) == deliver_lines(original)
    assert replayed.counts == original.counts


def test_replay_of_string_target_needs_no_saga(tmp_path):
    path = tmp_path / "storm.jsonl"
    original = storm("sagas:explicit_saga", faults=FaultPlan(duplicate=0.2), trace=path).run()
    assert Storm.replay(path).kinds() == original.kinds()


def test_replay_errors(tmp_path):
    with pytest.raises(TraceError, match="does not exist"):
        Storm.replay(tmp_path / "nope.jsonl", saga=sagas.deferred_saga)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "nonsense"}\n')
    with pytest.raises(TraceError, match="bad.jsonl:1"):
        Storm.replay(bad, saga=sagas.deferred_saga)
    path = tmp_path / "obj.jsonl"
    storm(trace=path, events=3).run()
    with pytest.raises(ConfigurationError, match="pass saga="):
        Storm.replay(path)


def test_setup_gives_the_storm_business_logic():
    def setup(h):
        def logic(ctx):
            raise ValueError("out of stock")

        h.given_aggregate("inventory", handler=logic)

    report = storm(setup=setup, events=10).run()
    # every command refused: nothing was exercised, so the storm is vacuous
    assert report.kinds() == {"rejected-command": 10, "vacuous-run": 1}
    assert not report.ok
    (vacuous,) = [f for f in report.findings if f.kind == "vacuous-run"]
    assert vacuous.details["reason"] == "nothing-applied"


# -- the determinism check skips only what cannot be compared ---------------------------


def test_a_fault_free_storm_has_nothing_to_compare():
    # Every trigger is delivered once and acked: no two outputs of one trigger exist, so a
    # saga with random ids is not (and cannot be shown) nondeterministic.
    report = storm(sagas.random_id_saga, events=50).run()
    assert report.counts["redeliveries"] == 0
    assert "nondeterministic-output" not in report.kinds()


@pytest.mark.parametrize(
    "plan",
    [
        FaultPlan(duplicate=0.3),
        FaultPlan(crash_before_ack=0.3),
        FaultPlan(crash_mid_dispatch=0.3),
        FaultPlan(concurrent_redelivery=0.3),
    ],
    ids=lambda p: next(k for k, v in p.to_dict().items() if v),
)
def test_every_fault_that_calls_the_handler_again_is_compared(plan):
    # (a nack-requeue fails before the handler: it never calls it twice on its own)
    report = storm(sagas.random_id_saga, events=50, faults=plan, concurrency=2).run()
    assert "nondeterministic-output" in report.kinds(), report.kinds()


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    duplicate=st.sampled_from([0.0, 0.2]),
    crash=st.sampled_from([0.0, 0.2]),
    nack=st.sampled_from([0.0, 0.2]),
    concurrent=st.sampled_from([0.0, 0.2]),
)
def test_the_random_run_finds_what_a_replay_that_compares_everything_finds(
    seed, duplicate, crash, nack, concurrent, tmp_path_factory
):
    # A replay runs the determinism check on every delivery; the random run skips the
    # fault-free first deliveries of triggers published once. Both must find the same.
    plan = FaultPlan(
        duplicate=duplicate,
        crash_before_ack=crash,
        nack_requeue=nack,
        concurrent_redelivery=concurrent,
    )
    path = tmp_path_factory.mktemp("trace") / "storm.jsonl"
    first = storm(
        sagas.random_id_saga, events=30, seed=seed, faults=plan, trace=path, concurrency=2
    ).run()
    again = Storm.replay(path, sagas.random_id_saga)
    assert [(f.kind, f.trigger, f.delivery) for f in first.findings] == [
        (f.kind, f.trigger, f.delivery) for f in again.findings
    ]
    assert not again.verdict_changed
