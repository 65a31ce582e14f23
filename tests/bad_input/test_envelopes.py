"""Garbage envelopes returned by a saga or a process manager (Hypothesis).

Whatever CommandBooks and fact EventBooks a handler returns (missing covers, roots of any
length, any domain/correlation/edition text, no pages, headers of every kind, payloads of any
type, unknown fields), the harness must answer with specific findings or an honest clean run
that applied the work: never an internal exception. Every command core would refuse gives
exactly one ``invalid-command`` finding; a valid command sent after the garbage is applied.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from angzarr_testkit import KINDS, ProcessManagerHarness, SagaHarness, uuid_for, wire
from angzarr_testkit.framework.commands import check_command, check_fact
from angzarr_testkit.framework.findings import render_findings

pytestmark = pytest.mark.timeout(60)

T = wire.types_pb2
S = wire.saga_pb2
PM = wire.process_manager_pb2
E = wire.examples_pb2
PREFIX = wire.TYPE_URL_PREFIX
SENTINEL = uuid_for("sku-sentinel")
ORDER = uuid_for("order-1")
CORR = "6f1c2d3e-0000-4000-8000-000000000001"
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# protobuf strings are UTF-8: no lone surrogates
_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
_domains = st.one_of(
    st.sampled_from(["inventory", "payment", "_angzarr", "", "Inventory", "a" * 65, "in v"]),
    _text,
)
_roots = st.one_of(
    st.sampled_from([uuid_for("sku-1"), b"", b"12345678", bytes(17)]),
    st.binary(max_size=20),
)
_correlations = st.one_of(st.sampled_from(["", "corr-1", "has space", "c" * 129]), _text)


@st.composite
def covers(draw):
    """A Cover with every field optional and any value."""
    cover = T.Cover()
    if draw(st.booleans()):
        cover.domain = draw(_domains)
    if draw(st.booleans()):
        cover.root.value = draw(_roots)
        cover.root.SetInParent()
    if draw(st.booleans()):
        cover.correlation_id = draw(_correlations)
    if draw(st.booleans()):
        cover.edition.name = draw(st.one_of(st.sampled_from(["", "v2", "_x", "V2"]), _text))
    return cover


@st.composite
def headers(draw, header):
    kind = draw(st.sampled_from(["none", "empty", "sequence", "external", "deferred"]))
    if kind == "empty":
        header.SetInParent()
    elif kind == "sequence":
        header.sequence = draw(st.integers(0, 2**32 - 1))
    elif kind == "external":
        header.external_deferred.external_id = draw(_text)
    elif kind == "deferred":
        deferred = header.angzarr_deferred
        deferred.source_seq = draw(st.integers(0, 2**32 - 1))
        if draw(st.booleans()):
            deferred.source.CopyFrom(draw(covers()))
        else:
            deferred.SetInParent()


@st.composite
def payloads(draw, any_msg):
    choice = draw(st.sampled_from(["message", "garbage", "empty"]))
    if choice == "message":
        any_msg.Pack(E.ReserveInventory(order_id=draw(_text)), type_url_prefix=PREFIX)
    elif choice == "garbage":
        any_msg.type_url = draw(st.one_of(st.just(PREFIX + "/no.Such"), _text))
        any_msg.value = draw(st.binary(max_size=16))
    else:
        any_msg.SetInParent()


@st.composite
def command_books(draw):
    book = T.CommandBook()
    if draw(st.booleans()):
        book.cover.CopyFrom(draw(covers()))
    for _ in range(draw(st.integers(0, 3))):
        page = book.pages.add()
        draw(headers(page.header))
        page.merge_strategy = draw(st.sampled_from([0, 1, 2, 3, 4, 77]))
        if draw(st.booleans()):
            draw(payloads(page.command))
    return book


@st.composite
def fact_books(draw):
    book = T.EventBook()
    if draw(st.booleans()):
        book.cover.CopyFrom(draw(covers()))
    for _ in range(draw(st.integers(0, 3))):
        page = book.pages.add()
        draw(headers(page.header))
        if draw(st.booleans()):
            draw(payloads(page.event))
    return book


def _parsed(cls, data):
    try:
        return cls.FromString(data)
    except Exception:  # not a parseable message: the structural strategies cover it
        return cls()


# CommandBooks/EventBooks parsed from arbitrary bytes (unknown fields included)
_raw_commands = st.binary(max_size=60).map(lambda b: _parsed(T.CommandBook, b))
_raw_facts = st.binary(max_size=60).map(lambda b: _parsed(T.EventBook, b))
_commands = st.lists(st.one_of(command_books(), _raw_commands), max_size=4)
_facts = st.lists(st.one_of(fact_books(), _raw_facts), max_size=3)


def sentinel() -> T.CommandBook:
    """A valid command sent after the garbage: it must be applied."""
    book = T.CommandBook(cover=T.Cover(domain="inventory", root=T.UUID(value=SENTINEL)))
    page = book.pages.add()
    page.header.sequence = 0
    page.command.Pack(E.ReserveInventory(order_id="sentinel"), type_url_prefix=PREFIX)
    return book


def _carries_unknown_fields(messages) -> bool:
    for message in messages:
        known = type(message)()
        known.CopyFrom(message)
        known.DiscardUnknownFields()
        if known.ByteSize() != message.ByteSize():
            return True
    return False


def _check_outcome(h, delivery, garbage, facts):
    """The shared oracle of both properties."""
    findings = h.findings
    assert all(f.kind in KINDS for f in findings)
    if _carries_unknown_fields([*garbage, *facts]):
        # bytes another schema wrote: the whole reply is a malformed response, nothing is sent
        # (a process manager's trigger is requeued after it: dead-lettered at the limit, or
        # under core, which has no limit, a requeue-loop at the kit's cap)
        kinds = {f.kind for f in findings}
        assert "malformed-response" in kinds, render_findings(findings)
        assert kinds <= {"malformed-response", "dead-lettered", "requeue-loop"}, render_findings(
            findings
        )
        assert not h.clean
        return
    assert not [f for f in findings if f.kind == "handler-error"], render_findings(findings)
    invalid = [f for f in findings if f.kind == "invalid-command"]
    sent = [r.book for r in delivery.sent]
    bad_commands = [c for c in sent if check_command(c)]
    bad_facts = [f for f in delivery.facts if check_fact(f)]
    assert len(invalid) == len(bad_commands) + (1 if bad_facts else 0), render_findings(findings)
    for f in invalid:
        assert f.details["field"] and f.details["rule"] and f.details["core_source"]
    # every sent command has a final word; none reported as rejected/lost for a refusal
    assert len(delivery.outcomes) == len(garbage) + 1
    business_rejections = 0
    for command, outcome in zip(sent, delivery.outcomes, strict=True):
        if check_command(command):
            assert outcome.status == "rejected" and outcome.code == "INVALID_ARGUMENT"
        elif outcome.status == "rejected":
            business_rejections += 1
    rejected = [f for f in findings if f.kind == "rejected-command"]
    assert len(rejected) == business_rejections, render_findings(findings)
    # a lost command is only ever the consequence of a stale explicit sequence (reported first)
    lost = [f for f in findings if f.kind == "lost-command"]
    assert not lost or any(f.kind == "sequence-mismatch" for f in findings), render_findings(lost)
    assert delivery.outcomes[-1].ok, delivery.outcomes[-1]
    assert h.aggregate("inventory", SENTINEL).applied == 1
    # reports render and serialise whatever the garbage held
    render_findings(findings)
    json.dumps([f.to_dict() for f in findings])
    if h.clean:
        h.assert_clean()
    else:
        with pytest.raises(AssertionError):
            h.assert_clean()


@SETTINGS
@given(garbage=_commands, facts=_facts)
def test_garbage_from_a_saga_gives_findings_or_an_honest_clean(garbage, facts):
    """Core's aggregate coordinator refuses what parse_command_cover / validate_command_book /
    execute_fact_pipeline refuse (src/orchestration/aggregate/parsing.rs, pipeline.rs,
    src/validation/mod.rs) and the saga coordinator goes on with the next command
    (src/orchestration/saga/mod.rs SagaOperation::try_execute)."""

    def saga(request):
        return S.SagaResponse(commands=[*garbage, sentinel()], events=facts)

    h = SagaHarness(saga, source_domain="order", output_domains=["inventory"])
    d = h.deliver(E.OrderCreated(order_id="o-1"), root=ORDER, correlation_id="corr-1")
    _check_outcome(h, d, garbage, facts)
    h.redeliver(d)  # the same garbage again: no exception, no second invalid-command
    assert len([f for f in h.findings if f.kind == "invalid-command"]) == len(
        [f for f in d.findings if f.kind == "invalid-command"]
    )


@SETTINGS
@given(garbage=_commands, facts=_facts)
def test_garbage_from_a_process_manager_gives_findings_or_an_honest_clean(garbage, facts):
    """PM commands and facts reach the same executors (src/orchestration/process_manager/
    mod.rs execute_pm_commands; facts injected after the commands)."""

    def pm(request):
        return PM.ProcessManagerHandleResponse(commands=[*garbage, sentinel()], facts=facts)

    h = ProcessManagerHarness(
        pm, pm_domain="fulfillment", sources=["order"], output_domains=["inventory"]
    )
    d = h.deliver(E.OrderCreated(order_id="o-1"), domain="order", root=ORDER, correlation_id=CORR)
    _check_outcome(h, d, garbage, facts)


@SETTINGS
@given(data=st.binary(max_size=200))
def test_a_saga_response_parsed_from_any_bytes(data):
    """Whatever parses as a SagaResponse is handled: findings or a clean run, no exception."""
    response = _parsed(S.SagaResponse, data)
    h = SagaHarness(lambda request: response, source_domain="order", output_domains=["inventory"])
    d = h.deliver(E.OrderCreated(order_id="o-1"), root=ORDER)
    invalid = [f for f in h.findings if f.kind == "invalid-command"]
    bad = [c for c in d.sent if check_command(c.book)]
    assert len(invalid) == len(bad) + (1 if any(check_fact(f) for f in d.facts) else 0)
    render_findings(h.findings)
