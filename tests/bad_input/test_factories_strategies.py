"""Bad arguments to the factories and strategies: an InvalidArgumentError (a UsageError) at
the call naming the parameter; arbitrary values are accepted or refused so, never another
exception. Strategy parameters given as plain values are checked when the strategy is made,
not when it is first drawn from."""

from __future__ import annotations

import math
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from angzarr_testkit import InvalidArgumentError, UsageError, codes, wire
from angzarr_testkit import factories as F
from angzarr_testkit import strategies as S

T, E = wire.types_pb2, wire.examples_pb2

pytestmark = pytest.mark.timeout(60)

CASES = [
    # factories: the uint32 and domain checks now come from validate.py
    ("page-seq-big", lambda: F.EventPageFactory(sequence=2**32), "sequence"),
    ("page-seq-str", lambda: F.EventPageFactory(sequence="1"), "sequence"),
    ("book-start-neg", lambda: F.EventBookFactory(start=-1), "start"),
    ("book-next-float", lambda: F.EventBookFactory(next_sequence=1.0), "next_sequence"),
    ("cover-domain-int", lambda: F.CoverFactory(domain=5), "domain"),
    ("cover-domain-long", lambda: F.CoverFactory(domain="a" * 65), "domain"),
    ("source-seq", lambda: F.DeferredPageHeaderFactory(source_seq=2**40), "source_seq"),
    (
        "request-map-key",
        lambda: F.SagaHandleRequestFactory(destination_sequences={"X": 1}),
        "destination_sequences['X']",
    ),
    # strategies: plain values are checked at the call
    ("covers-root", lambda: S.covers(root=b"short"), "root"),
    ("covers-root-int", lambda: S.covers(root=5), "root"),
    ("covers-corr", lambda: S.covers(correlation_id=5), "correlation_id"),
    ("covers-edition", lambda: S.covers(edition=3), "edition"),
    ("sequences-max", lambda: S.sequences(2**32), "max_value"),
    ("pages-seq", lambda: S.event_pages(sequence=-1), "sequence"),
    ("pages-events", lambda: S.event_pages(events="x"), "events"),
    ("deferred-source", lambda: S.deferred_headers(source=T.UUID()), "source"),
    ("deferred-seq", lambda: S.deferred_headers(source_seq=math.nan), "source_seq"),
    ("books-start", lambda: S.event_books(start=2**32), "start"),
    ("books-max", lambda: S.event_books(max_pages=10**9), "max_pages"),
    ("books-cover", lambda: S.event_books(cover="c"), "cover"),
    ("commands-merge", lambda: S.command_books(merge_strategy="MERGE_NOPE"), "merge_strategy"),
    ("commands-merge-int", lambda: S.command_books(merge_strategy=99), "merge_strategy"),
    ("commands-deferred", lambda: S.command_books(deferred=T.Cover()), "deferred"),
    ("commands-stamping", lambda: S.command_books(stamping=["sequence"]), "stamping"),
    ("dest-seqs", lambda: S.destination_sequences(sequences=-1), "sequences"),
    ("dest-size", lambda: S.destination_sequences(max_size=-1), "max_size"),
    ("saga-source", lambda: S.saga_handle_requests(source=T.Cover()), "source"),
    (
        "saga-map",
        lambda: S.saga_handle_requests(destination_sequences={"ok": 2**32}),
        "destination_sequences['ok']",
    ),
    ("pm-new", lambda: S.process_manager_handle_requests(new_workflow="yes"), "new_workflow"),
    ("pm-trigger", lambda: S.process_manager_handle_requests(trigger=1), "trigger"),
    ("messages-depth", lambda: S.messages(T.Cover, max_depth=10**6), "max_depth"),
    ("messages-nan", lambda: S.messages(T.Cover, allow_nan="no"), "allow_nan"),
    ("messages-overrides", lambda: S.messages(T.Cover, overrides=[1]), "overrides"),
    ("corr-empty", lambda: S.correlation_ids(allow_empty=None), "allow_empty"),
]


@pytest.mark.parametrize(("make", "param"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_parameter_is_an_invalid_argument_naming_it(make, param):
    with pytest.raises(InvalidArgumentError) as info:
        make()
    assert info.value.details["param"] == param
    assert param in info.value.message


def test_uint32_code_and_type_flavour():
    with pytest.raises(InvalidArgumentError) as info:
        F.EventPageFactory(sequence=2**32)
    assert info.value.code == codes.SEQUENCE_OUT_OF_RANGE
    with pytest.raises(TypeError):
        S.event_pages(sequence="1")


def test_domain_pattern_is_validates_one():
    from angzarr_testkit.validate import DOMAIN_RE

    assert F.DOMAIN_PATTERN is DOMAIN_RE


garbage = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**32, 2**32 - 1, 2**63, -1, 0, 10**9]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=70),
    st.binary(max_size=40),
    st.lists(st.one_of(st.integers(), st.text(max_size=5), st.none()), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.sampled_from(
        [object(), int, str, E.OrderCreated, uuid.uuid4(), T.Cover(), T.EventBook(), T.UUID()]
    ),
)

FACTORY_PARAMETERS = [
    ("UUIDFactory.value", lambda v: F.UUIDFactory(value=v)),
    ("CoverFactory.domain", lambda v: F.CoverFactory(domain=v)),
    ("CoverFactory.root", lambda v: F.CoverFactory(root=v)),
    ("CoverFactory.correlation_id", lambda v: F.CoverFactory(correlation_id=v)),
    ("CoverFactory.edition", lambda v: F.CoverFactory(edition=v)),
    ("EventPageFactory.sequence", lambda v: F.EventPageFactory(sequence=v)),
    ("EventPageFactory.event", lambda v: F.EventPageFactory(event=v)),
    ("EventPageFactory.created_at", lambda v: F.EventPageFactory(created_at=v)),
    ("EventBookFactory.events", lambda v: F.EventBookFactory(events=v)),
    ("EventBookFactory.start", lambda v: F.EventBookFactory(start=v)),
    ("EventBookFactory.next_sequence", lambda v: F.EventBookFactory(next_sequence=v)),
    ("EventBookFactory.domain", lambda v: F.EventBookFactory(domain=v)),
    ("EventBookFactory.snapshot", lambda v: F.EventBookFactory(snapshot=v)),
    ("CommandBookFactory.commands", lambda v: F.CommandBookFactory(commands=v)),
    ("CommandBookFactory.start", lambda v: F.CommandBookFactory(start=v)),
    ("CommandBookFactory.merge_strategy", lambda v: F.CommandBookFactory(merge_strategy=v)),
    ("CommandBookFactory.deferred", lambda v: F.CommandBookFactory(deferred=v)),
    ("DeferredPageHeaderFactory.source", lambda v: F.DeferredPageHeaderFactory(source=v)),
    ("DeferredPageHeaderFactory.source_seq", lambda v: F.DeferredPageHeaderFactory(source_seq=v)),
    (
        "SagaHandleRequestFactory.destination_sequences",
        lambda v: F.SagaHandleRequestFactory(destination_sequences=v),
    ),
    (
        "ProcessManagerHandleRequestFactory.process_state",
        lambda v: F.ProcessManagerHandleRequestFactory(process_state=v),
    ),
    ("pm_root", lambda v: F.pm_root(v)),
]

STRATEGY_PARAMETERS = [
    ("covers.domain", lambda v: S.covers(v)),
    ("covers.root", lambda v: S.covers(root=v)),
    ("covers.correlation_id", lambda v: S.covers(correlation_id=v)),
    ("covers.edition", lambda v: S.covers(edition=v)),
    ("sequences", lambda v: S.sequences(v)),
    ("correlation_ids", lambda v: S.correlation_ids(allow_empty=v)),
    ("event_pages.sequence", lambda v: S.event_pages(v)),
    ("event_pages.events", lambda v: S.event_pages(events=v)),
    ("deferred_headers.source", lambda v: S.deferred_headers(v)),
    ("deferred_headers.source_seq", lambda v: S.deferred_headers(source_seq=v)),
    ("event_books.min_pages", lambda v: S.event_books(min_pages=v, max_pages=10**4)),
    ("event_books.max_pages", lambda v: S.event_books(max_pages=v)),
    ("event_books.start", lambda v: S.event_books(start=v)),
    ("event_books.events", lambda v: S.event_books(events=v)),
    ("event_books.cover", lambda v: S.event_books(cover=v)),
    ("command_books.stamping", lambda v: S.command_books(stamping=v)),
    ("command_books.merge_strategy", lambda v: S.command_books(merge_strategy=v)),
    ("command_books.deferred", lambda v: S.command_books(deferred=v)),
    ("command_books.commands", lambda v: S.command_books(commands=v)),
    ("destination_sequences.domains", lambda v: S.destination_sequences(v)),
    ("destination_sequences.sequences", lambda v: S.destination_sequences(sequences=v)),
    ("destination_sequences.max_size", lambda v: S.destination_sequences(max_size=v)),
    ("saga_handle_requests.source", lambda v: S.saga_handle_requests(v)),
    (
        "saga_handle_requests.destination_sequences",
        lambda v: S.saga_handle_requests(destination_sequences=v),
    ),
    ("saga_handle_requests.sync_mode", lambda v: S.saga_handle_requests(sync_mode=v)),
    ("pm_requests.trigger", lambda v: S.process_manager_handle_requests(v)),
    ("pm_requests.pm_domain", lambda v: S.process_manager_handle_requests(pm_domain=v)),
    ("pm_requests.new_workflow", lambda v: S.process_manager_handle_requests(new_workflow=v)),
    ("messages.type", lambda v: S.messages(v)),
    ("messages.max_depth", lambda v: S.messages(T.Cover, max_depth=v)),
    ("messages.max_size", lambda v: S.messages(T.Cover, max_size=v)),
    ("messages.overrides", lambda v: S.messages(T.Cover, overrides=v)),
    ("messages.allow_infinity", lambda v: S.messages(T.Cover, allow_infinity=v)),
]


@pytest.mark.parametrize(
    "make", [p[1] for p in FACTORY_PARAMETERS], ids=[p[0] for p in FACTORY_PARAMETERS]
)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=garbage)
def test_factories_accept_or_refuse_any_value(make, value):
    try:
        make(value)
    except UsageError:
        pass


@pytest.mark.parametrize(
    "make", [p[1] for p in STRATEGY_PARAMETERS], ids=[p[0] for p in STRATEGY_PARAMETERS]
)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=garbage, data=st.data())
def test_strategies_accept_or_refuse_any_value_at_the_call(make, value, data):
    try:
        strategy = make(value)
    except UsageError:
        return
    # an accepted plain value must also draw (or refuse with a UsageError while drawing)
    try:
        data.draw(strategy)
    except UsageError:
        pass
