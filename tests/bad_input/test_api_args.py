"""Bad arguments to the harnesses, FaultPlan, Destinations and uuid_for: a UsageError at the
call, naming the parameter, the value and what is accepted; never an internal traceback.

Table-driven cases assert the error class and the parameter named in the message; Hypothesis
then passes arbitrary Python values to every parameter: each must be accepted or refused with
a UsageError, nothing else.
"""

from __future__ import annotations

import math
import uuid

import pms
import pytest
import sagas
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from angzarr_testkit import (
    ConfigurationError,
    Destinations,
    FaultPlan,
    InvalidArgumentError,
    ProcessManagerHarness,
    SagaHarness,
    TargetError,
    UsageError,
    codes,
    uuid_for,
    uuid_str_for,
    wire,
)
from angzarr_testkit.ids import root_str
from angzarr_testkit.simulate.faults import check_fault_classes

T, E = wire.types_pb2, wire.examples_pb2
SKU, ORDER = uuid_for("sku-1"), uuid_for("order-1")
CORR = "6f1c2d3e-0000-4000-8000-000000000001"

pytestmark = pytest.mark.timeout(60)


def saga(**kw):
    kw.setdefault("profile", "sequence-map")  # the explicit saga stamps from the map
    kw.setdefault("source_domain", "order")
    kw.setdefault("output_domains", ["inventory"])
    return SagaHarness(sagas.explicit_saga, **kw)


def pm(**kw):
    kw.setdefault("pm_domain", "fulfillment")
    kw.setdefault("sources", ["order", "inventory"])
    kw.setdefault("output_domains", ["inventory", "shipping"])
    return ProcessManagerHarness(pms.fulfillment_pm, **kw)


def order():
    return E.OrderCreated(order_id="o-1", sku="sku-1", quantity=1)


def command():
    book = T.CommandBook(cover=T.Cover(domain="inventory", root=T.UUID(value=SKU)))
    book.pages.add()
    return book


def delivered():
    h = saga()
    return h, h.deliver(order(), root=ORDER)


# (id, call, error class, text the message must contain: the parameter's name)
CASES = [
    # SagaHarness constructor
    ("profile-unknown", lambda: saga(profile="eventual"), ConfigurationError, "profile"),
    ("profile-none", lambda: saga(profile=None), ConfigurationError, "profile"),
    ("outputs-str", lambda: saga(output_domains="inventory"), ConfigurationError, "output_domains"),
    ("outputs-int", lambda: saga(output_domains=3), ConfigurationError, "output_domains"),
    ("outputs-dict", lambda: saga(output_domains={"a": 1}), ConfigurationError, "output_domains"),
    ("outputs-item", lambda: saga(output_domains=["ok", 5]), UsageError, "output_domains[1]"),
    ("outputs-bad", lambda: saga(output_domains=["Inv"]), InvalidArgumentError, "output_domains"),
    ("source-int", lambda: saga(source_domain=5), InvalidArgumentError, "source_domain"),
    ("source-empty", lambda: saga(source_domain="A B"), InvalidArgumentError, "source_domain"),
    ("retries-neg", lambda: saga(max_retries=-1), ConfigurationError, "max_retries"),
    ("retries-huge", lambda: saga(max_retries=10**18), ConfigurationError, "max_retries"),
    ("retries-float", lambda: saga(max_retries=1.5), ConfigurationError, "max_retries"),
    ("record-int", lambda: saga(record=1), ConfigurationError, "record"),
    ("target", lambda: SagaHarness(42, source_domain="order"), TargetError, "42"),
    # given_destination
    ("dest-domain", lambda: saga().given_destination("Inv", SKU), InvalidArgumentError, "domain"),
    (
        "dest-root",
        lambda: saga().given_destination("inventory", b"x"),
        InvalidArgumentError,
        "root",
    ),
    (
        "dest-root-str",
        lambda: saga().given_destination("inventory", "sku-1"),
        InvalidArgumentError,
        "root",
    ),
    (
        "dest-seq-big",
        lambda: saga().given_destination("inventory", SKU, next_sequence=2**32 + 5),
        InvalidArgumentError,
        "next_sequence",
    ),
    (
        "dest-seq-float",
        lambda: saga().given_destination("inventory", SKU, next_sequence=2.0),
        InvalidArgumentError,
        "next_sequence",
    ),
    (
        "dest-events-msg",
        lambda: saga().given_destination("inventory", SKU, events=order()),
        InvalidArgumentError,
        "events",
    ),
    (
        "dest-events-item",
        lambda: saga().given_destination("inventory", SKU, events=["x"]),
        InvalidArgumentError,
        "events[0]",
    ),
    (
        "dest-edition",
        lambda: saga().given_destination("inventory", SKU, edition=3),
        InvalidArgumentError,
        "edition",
    ),
    # given_aggregate
    (
        "agg-handler",
        lambda: saga().given_aggregate("inventory", handler=3),
        ConfigurationError,
        "handler",
    ),
    (
        "agg-handler-arity",
        lambda: saga().given_aggregate("inventory", handler=lambda a, b: None),
        ConfigurationError,
        "handler",
    ),
    ("agg-merge", lambda: saga().given_aggregate("inventory", merge="always"), UsageError, "merge"),
    (
        "agg-merge-none",
        lambda: saga().given_aggregate("inventory", merge=None),
        UsageError,
        "merge",
    ),
    ("agg-domain", lambda: saga().given_aggregate(None), InvalidArgumentError, "domain"),
    # deliver
    ("event-dict", lambda: saga().deliver({"order_id": "x"}), InvalidArgumentError, "event"),
    ("event-class", lambda: saga().deliver(E.OrderCreated), InvalidArgumentError, "event"),
    ("event-none", lambda: saga().deliver(None), InvalidArgumentError, "event"),
    ("deliver-root", lambda: saga().deliver(order(), root=b"12345"), InvalidArgumentError, "root"),
    (
        "deliver-corr-none",
        lambda: saga().deliver(order(), correlation_id=None),
        InvalidArgumentError,
        "correlation_id",
    ),
    (
        "deliver-seq-big",
        lambda: saga().deliver(order(), sequence=2**32 - 1),
        InvalidArgumentError,
        "sequence",
    ),
    (
        "deliver-seq-neg",
        lambda: saga().deliver(order(), sequence=-1),
        InvalidArgumentError,
        "sequence",
    ),
    (
        "deliver-edition",
        lambda: saga().deliver(order(), edition=1),
        InvalidArgumentError,
        "edition",
    ),
    ("deliver-domain", lambda: saga().deliver(order(), domain="X"), InvalidArgumentError, "domain"),
    (
        "deliver-book-root",
        lambda: saga().deliver(
            T.EventBook(cover=T.Cover(domain="order", root=T.UUID(value=ORDER))), root=ORDER
        ),
        InvalidArgumentError,
        "root",
    ),
    # redeliver / aggregate
    ("redeliver-str", lambda: saga().redeliver("d"), InvalidArgumentError, "Delivery"),
    (
        "redeliver-times",
        lambda: (lambda h, d: h.redeliver(d, times=-1))(*delivered()),
        InvalidArgumentError,
        "times",
    ),
    (
        "redeliver-huge",
        lambda: (lambda h, d: h.redeliver(d, times=10**12))(*delivered()),
        InvalidArgumentError,
        "times",
    ),
    ("aggregate-root", lambda: saga().aggregate("inventory", None), InvalidArgumentError, "root"),
    (
        "aggregate-edition",
        lambda: saga().aggregate("inventory", SKU, edition=b"x"),
        InvalidArgumentError,
        "edition",
    ),
    # ProcessManagerHarness
    ("pm-sources-str", lambda: pm(sources="order"), ConfigurationError, "sources"),
    ("pm-sources-none-item", lambda: pm(sources=[None]), ConfigurationError, "sources[0]"),
    ("pm-domain", lambda: pm(pm_domain="PM"), InvalidArgumentError, "pm_domain"),
    ("pm-prepare", lambda: pm(prepare="yes"), ConfigurationError, "prepare"),
    ("pm-limit-0", lambda: pm(delivery_limit=0), ConfigurationError, "delivery_limit"),
    ("pm-limit-huge", lambda: pm(delivery_limit=10**18), ConfigurationError, "delivery_limit"),
    ("pm-outputs-str", lambda: pm(output_domains="shipping"), ConfigurationError, "output_domains"),
    ("pm-state", lambda: pm().state(None), InvalidArgumentError, "correlation_id"),
    ("pm-deliver-domain", lambda: pm().deliver(order(), domain=7), InvalidArgumentError, "domain"),
    (
        "pm-deliver-corr",
        lambda: pm().deliver(order(), correlation_id=5),
        InvalidArgumentError,
        "correlation_id",
    ),
    # FaultPlan
    ("fault-rate", lambda: FaultPlan(duplicate=1.5), ConfigurationError, "FaultPlan.duplicate"),
    ("fault-nan", lambda: FaultPlan(nack_requeue=math.nan), ConfigurationError, "nack_requeue"),
    ("fault-neg", lambda: FaultPlan(crash_before_ack=-0.1), ConfigurationError, "crash_before_ack"),
    ("fault-str", lambda: FaultPlan(crash_mid_dispatch="0.1"), ConfigurationError, "mid_dispatch"),
    ("fault-bool", lambda: FaultPlan(concurrent_redelivery=True), ConfigurationError, "concurrent"),
    ("fault-reorder", lambda: FaultPlan(reorder=1), ConfigurationError, "reorder"),
    ("fault-limit", lambda: FaultPlan(delivery_limit=10**18), ConfigurationError, "delivery_limit"),
    ("fault-dict", lambda: FaultPlan.from_dict(["duplicate"]), ConfigurationError, "data"),
    ("fault-keys", lambda: FaultPlan.from_dict({1: 0.1}), ConfigurationError, "unknown"),
    ("fault-classes-str", lambda: check_fault_classes("duplicate"), ConfigurationError, "require"),
    ("fault-classes-bad", lambda: check_fault_classes(["crash"]), ConfigurationError, "require[0]"),
    # Destinations
    ("dest-map-list", lambda: Destinations([("a", 1)]), InvalidArgumentError, "mapping"),
    ("dest-map-key", lambda: Destinations({"Bad": 1}), InvalidArgumentError, "sequences key"),
    ("dest-map-value", lambda: Destinations({"a": 2**32}), InvalidArgumentError, "sequences['a']"),
    ("dest-map-none", lambda: Destinations({"a": None}), InvalidArgumentError, "sequences['a']"),
    ("dest-for", lambda: Destinations({}).sequence_for(None), InvalidArgumentError, "domain"),
    ("dest-has", lambda: Destinations({}).has_domain(1), InvalidArgumentError, "domain"),
    (
        "stamp-cmd",
        lambda: Destinations({"a": 1}).stamp_command(T.Cover(), "a"),
        InvalidArgumentError,
        "cmd",
    ),
    (
        "stamp-domain",
        lambda: Destinations({"a": 1}).stamp_command(command(), None),
        InvalidArgumentError,
        "domain",
    ),
    (
        "deferred-seq",
        lambda: Destinations.deferred_header(T.Cover(domain="order"), 2**32),
        InvalidArgumentError,
        "source_seq",
    ),
    (
        "deferred-cover",
        lambda: Destinations.deferred_header(None, 1),
        InvalidArgumentError,
        "Cover",
    ),
    # ids
    ("uuid-none", lambda: uuid_for(None), InvalidArgumentError, "name"),
    ("uuid-ns", lambda: uuid_for("a", "ns"), InvalidArgumentError, "namespace"),
    ("uuid-str", lambda: uuid_str_for(b"a"), InvalidArgumentError, "name"),
]


@pytest.mark.parametrize(
    ("call", "error", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_argument_is_a_usage_error_naming_it(call, error, needle):
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, UsageError)
    assert needle in info.value.message, info.value.message


def test_type_errors_are_also_type_errors():
    for call in (
        lambda: saga(output_domains="inventory"),
        lambda: saga().deliver(order(), correlation_id=None),
        lambda: uuid_for(None),
        lambda: FaultPlan(reorder="yes"),
    ):
        with pytest.raises(TypeError):
            call()


def test_sequence_errors_keep_their_code():
    with pytest.raises(InvalidArgumentError) as info:
        saga().given_destination("inventory", SKU, next_sequence=-1)
    assert info.value.code == codes.SEQUENCE_OUT_OF_RANGE
    with pytest.raises(InvalidArgumentError) as info:
        Destinations.deferred_header(T.Cover(domain="order"), "3")
    assert info.value.code == codes.SEQUENCE_OUT_OF_RANGE
    with pytest.raises(InvalidArgumentError) as info:
        saga().deliver(order(), root=b"short")
    assert info.value.code == codes.INVALID_COVER


def test_the_message_names_value_and_what_is_accepted():
    with pytest.raises(ConfigurationError) as info:
        saga(output_domains="inventory")
    message = info.value.message
    assert "'inventory'" in message and "a list of domain names" in message
    assert "output_domains=['inventory']" in message  # the fix


def test_good_arguments_still_work():
    h = saga(max_retries=0, record=True)
    h.given_destination("inventory", SKU, next_sequence=2, edition="angzarr")
    d = h.deliver(order(), root=ORDER, correlation_id="", sequence=0, edition=None)
    assert d.outcomes[0].status == "applied"
    assert h.redeliver(d, times=0) == []
    assert FaultPlan.from_dict(FaultPlan(duplicate=0, reorder=True).to_dict()).reorder
    assert root_str(None).startswith("<not bytes")


# -- Hypothesis: arbitrary values ----------------------------------------------------------------

garbage = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**32, 2**32 - 1, 2**63, -(2**63) - 1, -1, 0]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=70),
    st.binary(max_size=40),
    st.lists(st.one_of(st.integers(), st.text(max_size=5), st.none()), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.sampled_from(
        [
            object(),
            int,
            str,
            E.OrderCreated,
            uuid.uuid4(),
            T.Cover(),
            T.EventBook(),
            order(),
            b"\x00" * 16,
            "inventory",
            ["inventory"],
            (),
        ]
    ),
)

# (name, fn(value)) -- a fresh object per call, the value in one parameter
PARAMETERS = [
    ("SagaHarness.source_domain", lambda v: saga(source_domain=v)),
    ("SagaHarness.output_domains", lambda v: saga(output_domains=v)),
    ("SagaHarness.profile", lambda v: saga(profile=v)),
    ("SagaHarness.max_retries", lambda v: saga(max_retries=v)),
    ("SagaHarness.record", lambda v: saga(record=v)),
    ("given_destination.domain", lambda v: saga().given_destination(v, SKU)),
    ("given_destination.root", lambda v: saga().given_destination("inventory", v)),
    (
        "given_destination.next_sequence",
        lambda v: saga().given_destination("inventory", SKU, next_sequence=v),
    ),
    ("given_destination.events", lambda v: saga().given_destination("inventory", SKU, events=v)),
    ("given_destination.edition", lambda v: saga().given_destination("inventory", SKU, edition=v)),
    ("given_aggregate.domain", lambda v: saga().given_aggregate(v)),
    ("given_aggregate.handler", lambda v: saga().given_aggregate("inventory", handler=v)),
    ("given_aggregate.merge", lambda v: saga().given_aggregate("inventory", merge=v)),
    ("deliver.event", lambda v: saga().deliver(v, root=ORDER)),
    ("deliver.root", lambda v: saga().deliver(order(), root=v)),
    ("deliver.correlation_id", lambda v: saga().deliver(order(), correlation_id=v)),
    ("deliver.sequence", lambda v: saga().deliver(order(), sequence=v)),
    ("deliver.edition", lambda v: saga().deliver(order(), edition=v)),
    ("deliver.domain", lambda v: saga(output_domains=[]).deliver(order(), domain=v)),
    ("redeliver.delivery", lambda v: saga().redeliver(v)),
    ("aggregate.domain", lambda v: saga().aggregate(v, SKU)),
    ("aggregate.root", lambda v: saga().aggregate("inventory", v)),
    ("aggregate.edition", lambda v: saga().aggregate("inventory", SKU, edition=v)),
    ("PM.pm_domain", lambda v: pm(pm_domain=v)),
    ("PM.sources", lambda v: pm(sources=v)),
    ("PM.output_domains", lambda v: pm(output_domains=v)),
    ("PM.prepare", lambda v: pm(prepare=v)),
    ("PM.delivery_limit", lambda v: pm(delivery_limit=v)),
    ("PM.deliver.domain", lambda v: pm().deliver(order(), domain=v, correlation_id=CORR)),
    (
        "PM.deliver.correlation_id",
        lambda v: pm().deliver(order(), domain="order", correlation_id=v),
    ),
    ("PM.state", lambda v: pm().state(v)),
    *[
        (f"FaultPlan.{f}", lambda v, f=f: FaultPlan(**{f: v}))
        for f in FaultPlan.__dataclass_fields__
    ],
    ("FaultPlan.from_dict", lambda v: FaultPlan.from_dict(v)),
    ("check_fault_classes", lambda v: check_fault_classes(v)),
    ("Destinations", lambda v: Destinations(v)),
    ("Destinations.value", lambda v: Destinations({"inventory": v})),
    ("Destinations.key", lambda v: Destinations({v: 1} if _hashable(v) else {})),
    ("sequence_for", lambda v: Destinations({"a": 1}).sequence_for(v)),
    ("has_domain", lambda v: Destinations({"a": 1}).has_domain(v)),
    ("stamp_command.cmd", lambda v: Destinations({"a": 1}).stamp_command(v, "a")),
    ("stamp_command.domain", lambda v: Destinations({"a": 1}).stamp_command(command(), v)),
    ("deferred_header.source_cover", lambda v: Destinations.deferred_header(v, 1)),
    ("deferred_header.source_seq", lambda v: Destinations.deferred_header(T.Cover(), v)),
    ("uuid_for.name", lambda v: uuid_for(v)),
    ("uuid_for.namespace", lambda v: uuid_for("x", v)),
    ("uuid_str_for.name", lambda v: uuid_str_for(v)),
    ("root_str", lambda v: root_str(v)),
]


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


@pytest.mark.parametrize("call", [p[1] for p in PARAMETERS], ids=[p[0] for p in PARAMETERS])
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=garbage)
def test_any_value_is_accepted_or_a_usage_error(call, value):
    try:
        call(value)
    except UsageError:
        pass
