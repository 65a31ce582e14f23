"""The ``core`` profile's destination checks: angzarr core HEAD's merge rules (H-18), the
aggregate sidecar's pre-validation and the retry classification (docs/profiles.md).

Core HEAD f97af362, ``src/orchestration/aggregate/pipeline.rs`` ``execute_mode``: a deferred
command expects sequence 0 (``extract_command_sequence``), so it mismatches whenever the
destination has history; STRICT and AGGREGATE_HANDLES then apply, MANUAL is dead-lettered
(ABORTED, ``SEQUENCE_MISMATCH_DLQ_SUFFIX``), COMMUTATIVE runs business logic and then
``aggregate/merge.rs`` ``check_commutative_overlap``: disjoint applies, overlap is
FAILED_PRECONDITION ``SEQUENCE_MISMATCH_OVERLAP`` (not retried), a Replay failure is
FAILED_PRECONDITION ``SEQUENCE_MISMATCH`` (retried). ``aggregate/grpc/mod.rs``
``GrpcAggregateContext::pre_validate_sequence`` refuses an explicit mismatch as retryable
for every strategy but AGGREGATE_HANDLES. ``utils/retry.rs`` ``is_retryable_status`` retries
FAILED_PRECONDITION whose message starts "Sequence mismatch:" or "Sequence conflict:".
"""

from __future__ import annotations

import pytest
import sagas
from hypothesis import given, settings
from hypothesis import strategies as st

from angzarr_testkit import SagaHarness
from angzarr_testkit.framework.outcomes import (
    SEQUENCE_CONFLICT,
    SEQUENCE_MISMATCH,
    SEQUENCE_MISMATCH_DLQ_SUFFIX,
    SEQUENCE_MISMATCH_OVERLAP,
    is_retryable_status,
)
from angzarr_testkit.ids import uuid_for

T, E = sagas.T, sagas.E
SKU = uuid_for("sku-1")
STRATEGIES = {
    "commutative": T.MERGE_COMMUTATIVE,
    "strict": T.MERGE_STRICT,
    "aggregate-handles": T.MERGE_AGGREGATE_HANDLES,
    "manual": T.MERGE_MANUAL,
}


def order(i: int = 1) -> E.OrderCreated:
    return E.OrderCreated(order_id=f"o-{i}", sku="sku-1", quantity=1)


def deferred_with(strategy: int):
    def saga(request):
        commands = sagas.deferred_saga(request)
        for cmd in commands:
            for page in cmd.pages:
                page.merge_strategy = strategy
        return commands

    return saga


def harness(saga, history: int, *, profile: str = "core", merge=None) -> SagaHarness:
    h = SagaHarness(saga, source_domain="order", output_domains=["inventory"], profile=profile)
    if merge is not None:
        h.given_aggregate("inventory", merge=merge)
    h.given_destination("inventory", SKU, next_sequence=history)
    return h


def statuses(delivery) -> list[str]:
    return [o.status for o in delivery.outcomes]


# -- execute_mode: deferred commands against history (H-18) ---------------------------------


def test_execute_mode_deferred_against_an_empty_stream_applies_whatever_the_strategy():
    for strategy in STRATEGIES.values():
        h = harness(deferred_with(strategy), history=0)
        assert statuses(h.deliver(order())) == ["applied"]
        assert h.findings == []


def test_execute_mode_deferred_commutative_without_replay_retries_out():
    h = harness(sagas.deferred_saga, history=3)  # merge_strategy unset: COMMUTATIVE (0)
    delivery = h.deliver(order())
    (outcome,) = delivery.outcomes
    assert outcome.status == "retried-out" and outcome.attempts == 11
    assert outcome.message == "Sequence mismatch: command expects 0, aggregate at 3"
    assert (outcome.expected, outcome.actual) == (0, 3)
    assert h.aggregate("inventory", SKU).next_sequence == 3  # nothing persisted
    finding = next(f for f in h.findings if f.kind == "sequence-mismatch")
    assert "H-18" in finding.message and "MERGE_STRICT" in finding.message
    assert "stale explicit sequence" not in finding.message  # the advice fits a deferred one


def test_execute_mode_deferred_strict_and_aggregate_handles_apply_against_history():
    for name in ("strict", "aggregate-handles"):
        h = harness(deferred_with(STRATEGIES[name]), history=3)
        first = h.deliver(order())
        assert statuses(first) == ["applied"], name
        assert statuses(h.redeliver(first)[0]) == ["deduped"], name  # still deduped
        assert h.findings == [], name
        assert h.aggregate("inventory", SKU).next_sequence == 4


def test_execute_mode_deferred_manual_dead_letters():
    h = harness(deferred_with(T.MERGE_MANUAL), history=2)
    (outcome,) = h.deliver(order()).outcomes
    assert outcome.status == "dead-lettered" and outcome.code == "ABORTED"
    assert outcome.message == (
        "Sequence mismatch: command expects 0, aggregate at 2. Sent to DLQ for manual review."
    )
    (letter,) = h.pipeline.dead_letters
    assert (
        letter.sequence_mismatch.expected_sequence,
        letter.sequence_mismatch.actual_sequence,
    ) == (
        0,
        2,
    )
    assert [f.kind for f in h.findings] == ["dead-lettered"]


def test_check_commutative_overlap_disjoint_applies_and_overlap_is_final():
    disjoint = harness(sagas.deferred_saga, history=3, merge="commutative")
    assert statuses(disjoint.deliver(order())) == ["applied"] and disjoint.findings == []

    overlap = harness(sagas.deferred_saga, history=3, merge="overlapping")
    (outcome,) = overlap.deliver(order()).outcomes
    assert outcome.status == "rejected" and outcome.attempts == 1  # not retried
    assert outcome.message == (
        "Sequence mismatch with overlapping fields: command expects 0, aggregate at 3"
    )
    assert not is_retryable_status(outcome.code, outcome.message)
    finding = next(f for f in overlap.findings if f.kind == "sequence-mismatch")
    assert "overlap" in finding.message and "MERGE_STRICT" in finding.message


def test_check_commutative_overlap_runs_after_business_logic():
    """Core runs business logic before the field check: its refusal wins."""
    h = harness(sagas.deferred_saga, history=3, merge="overlapping")
    h.given_aggregate("inventory", sagas.refusing_inventory, merge="overlapping")
    (outcome,) = h.deliver(order()).outcomes
    assert outcome.status == "rejected"
    assert not outcome.message.startswith(SEQUENCE_MISMATCH_OVERLAP)


def test_the_seed_protocol_never_compares_a_deferred_command_with_history():
    for strategy in STRATEGIES.values():
        h = harness(deferred_with(strategy), history=3, profile="sequence-map")
        assert statuses(h.deliver(order())) == ["applied"]


# -- pre_validate_sequence: explicit sequences (the sidecar) --------------------------------


def test_pre_validate_sequence_sidecar_retries_manual():
    """Under core an explicit sequence is never sent by a saga (the rewrite), so drive the
    pipeline the way a direct client command reaches it."""
    h = harness(sagas.deferred_saga, history=3)
    # AGGREGATE_HANDLES last: it applies and moves the head
    for name in ("commutative", "strict", "manual", "aggregate-handles"):
        outcome = h.pipeline.execute(_explicit(STRATEGIES[name], 1))
        if name == "aggregate-handles":
            assert outcome.status == "applied", name
        else:
            assert outcome.status == "retryable", name
            assert outcome.message == "Sequence mismatch: command expects 1, aggregate at 3"
            assert is_retryable_status(outcome.code, outcome.message)
    assert h.pipeline.dead_letters == []  # MANUAL is refused before the DLQ branch


def test_the_seed_protocol_dead_letters_an_explicit_manual_mismatch():
    h = harness(sagas.deferred_saga, history=3, profile="sequence-map")
    outcome = h.pipeline.execute(_explicit(T.MERGE_MANUAL, 1))
    assert outcome.status == "dead-lettered" and len(h.pipeline.dead_letters) == 1


def _explicit(strategy: int, sequence: int):
    cmd = sagas.reserve(order())
    cmd.pages[0].header.sequence = sequence
    cmd.pages[0].merge_strategy = strategy
    return cmd


# -- is_retryable_status ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "message", "retryable"),
    [
        ("FAILED_PRECONDITION", SEQUENCE_MISMATCH + "0, aggregate at 1", True),
        ("FAILED_PRECONDITION", SEQUENCE_CONFLICT + "expected 3, got 2", True),
        ("FAILED_PRECONDITION", SEQUENCE_MISMATCH_OVERLAP + "0, aggregate at 1", False),
        ("FAILED_PRECONDITION", "Hand already dealt", False),
        ("ABORTED", SEQUENCE_MISMATCH + "0, aggregate at 1" + SEQUENCE_MISMATCH_DLQ_SUFFIX, False),
        ("INVALID_ARGUMENT", SEQUENCE_MISMATCH + "0, aggregate at 1", False),
    ],
)
def test_is_retryable_status(code, message, retryable):
    assert is_retryable_status(code, message) is retryable


@settings(max_examples=80, deadline=None)
@given(
    strategy=st.sampled_from(sorted(STRATEGIES)),
    history=st.integers(0, 6),
    deferred=st.booleans(),
    sequence=st.integers(0, 6),
)
def test_every_attempt_is_classified_as_core_classifies_it(strategy, history, deferred, sequence):
    """Whatever the command, a retried attempt is exactly one core's retry loop would retry,
    and what core applies is persisted at the head."""
    h = harness(sagas.deferred_saga, history=history)
    if deferred:
        cmd = deferred_with(STRATEGIES[strategy])(_request(h))[0]
    else:
        cmd = _explicit(STRATEGIES[strategy], sequence)
    outcome = h.pipeline.execute(cmd)
    retryable = outcome.status == "retryable"
    assert retryable == (
        outcome.code is not None and is_retryable_status(outcome.code, outcome.message)
    )
    mismatch = (0 if deferred else sequence) != history
    if (
        not mismatch
        or (deferred and strategy in ("strict", "aggregate-handles"))
        or (not deferred and strategy == "aggregate-handles")
    ):
        assert outcome.status == "applied"
        assert h.aggregate("inventory", SKU).next_sequence == history + 1
    else:
        assert outcome.status in ("retryable", "dead-lettered")
        assert (outcome.status == "dead-lettered") == (deferred and strategy == "manual")
        assert h.aggregate("inventory", SKU).next_sequence == history


def _request(h: SagaHarness):
    request = sagas.S.SagaHandleRequest()
    request.source.cover.domain = "order"
    request.source.cover.root.value = uuid_for("order-1")
    page = request.source.pages.add()
    page.header.sequence = 0
    page.event.Pack(order(), type_url_prefix=sagas.PREFIX)
    return request
