"""Bad arguments to ``Storm`` and bad user code in storms: a clear error at the call (or, for
what an event source yields, at the event), naming the parameter, the value and what is
accepted; user code that raises is a ``UserCodeError`` naming it, the original chained.

Triggers from a domain the handler does not subscribe to are refused: angzarr core filters
them out before the handler (``src/handlers/core/process_manager.rs``,
``ProcessManagerEventHandler::handle`` with ``src/bus/traits.rs``, ``any_target_matches``).
"""

from __future__ import annotations

import sys

import pms
import pytest
import sagas
from hypothesis import strategies as st

from angzarr_testkit import (
    ConfigurationError,
    FaultPlan,
    Storm,
    UsageError,
    UserCodeError,
    uuid_for,
    wire,
)
from angzarr_testkit.errors import UsageTypeError

pytestmark = pytest.mark.timeout(30)

T, E = wire.types_pb2, wire.examples_pb2
INT64_MAX = 2**63 - 1


def storm(saga=sagas.deferred_saga, **kw):
    kw.setdefault("source_domain", "order")
    kw.setdefault("output_domains", ["inventory"])
    kw.setdefault("event_source", sagas.one_sku)
    kw.setdefault("events", 5)
    return Storm(saga, **kw)


def pm_storm(**kw):
    kw.setdefault("pm_domain", "fulfillment")
    kw.setdefault("sources", ["order", "inventory"])
    kw.setdefault("output_domains", ["inventory", "shipping"])
    kw.setdefault("event_source", pms.order_events)
    kw.setdefault("events", 5)
    return Storm(pms.fulfillment_pm, **kw)


def raises(kind, param, call):
    """``call()`` raises ``kind`` and its message starts by naming ``param``."""
    with pytest.raises(kind) as info:
        call()
    assert str(info.value).startswith(param), str(info.value)
    return info.value


# -- constructor arguments ---------------------------------------------------------------------

ARGS = [
    # (kwargs, error type, parameter the message names first)
    ({"events": -1}, UsageError, "events"),
    ({"events": 1.5}, UsageTypeError, "events"),
    ({"events": "10"}, UsageTypeError, "events"),
    ({"events": True}, UsageTypeError, "events"),
    ({"events": None}, UsageTypeError, "events"),
    ({"events": INT64_MAX + 1}, UsageError, "events"),
    ({"roots": 0}, UsageError, "roots"),
    ({"roots": "3"}, UsageTypeError, "roots"),
    ({"roots": None}, UsageTypeError, "roots"),
    ({"seed": INT64_MAX + 1}, UsageError, "seed"),
    ({"seed": -INT64_MAX - 2}, UsageError, "seed"),
    ({"seed": 1.0}, UsageTypeError, "seed"),
    ({"seed": "7"}, UsageTypeError, "seed"),
    ({"seed": None}, UsageTypeError, "seed"),
    ({"concurrency": 0}, UsageError, "concurrency"),
    ({"concurrency": "2"}, UsageTypeError, "concurrency"),
    ({"max_retries": -1}, UsageError, "max_retries"),
    ({"max_retries": 1001}, UsageError, "max_retries"),
    ({"max_retries": None}, UsageTypeError, "max_retries"),
    ({"require": "duplicate"}, UsageTypeError, "require"),
    ({"require": ["crash"]}, UsageError, "require[0]"),
    ({"require": [1]}, UsageTypeError, "require[0]"),
    ({"require": None}, UsageTypeError, "require"),
    ({"require": 5}, UsageTypeError, "require"),
    ({"kind": "workflow"}, UsageError, "kind"),
    ({"kind": 3}, UsageTypeError, "kind"),
    ({"kind": "saga", "pm_domain": "fulfillment"}, UsageError, "kind"),
    ({"profile": "strict"}, UsageError, "profile"),
    ({"profile": None}, UsageTypeError, "profile"),
    ({"progress": "yes"}, UsageTypeError, "progress"),
    ({"progress": 1}, UsageTypeError, "progress"),
    ({"trace": 5}, UsageTypeError, "trace"),
    ({"trace": b"t.jsonl"}, UsageTypeError, "trace"),
    ({"trace": ""}, UsageError, "trace"),
    ({"trace": ["t.jsonl"]}, UsageTypeError, "trace"),
    ({"broker": "http://127.0.0.1:5672"}, ConfigurationError, "broker"),
    ({"broker": 5672}, ConfigurationError, "broker"),
    ({"source_domain": "Order"}, UsageError, "source_domain"),
    ({"source_domain": 3}, UsageTypeError, "source_domain"),
    ({"output_domains": "inventory"}, UsageTypeError, "output_domains"),
    ({"output_domains": ["Inventory"]}, UsageError, "output_domains[0]"),
    ({"output_domains": 5}, UsageTypeError, "output_domains"),
    ({"pm_domain": "Bad Domain"}, UsageError, "pm_domain"),
    ({"sources": "order"}, UsageTypeError, "sources"),
    ({"prepare": "yes"}, UsageTypeError, "prepare"),
    ({"faults": "lots"}, UsageTypeError, "faults"),
    ({"faults": {"duplicate": 0.1}}, UsageTypeError, "faults"),
    ({"event_source": 42}, UsageTypeError, "event_source"),
    ({"event_source": "events"}, UsageTypeError, "event_source"),
    ({"event_source": {"a": 1}}, UsageTypeError, "event_source"),
    ({"event_source": []}, UsageError, "event_source"),
    ({"event_source": lambda: None}, UsageTypeError, "event_source"),
    ({"event_source": lambda rng, i, extra: None}, UsageTypeError, "event_source"),
    ({"setup": 5}, UsageTypeError, "setup"),
    ({"setup": lambda: None}, UsageTypeError, "setup"),
    ({"setup": lambda h, extra: None}, UsageTypeError, "setup"),
    ({"delivery_budget": 0}, UsageError, "delivery_budget"),
    ({"delivery_budget": "100"}, UsageTypeError, "delivery_budget"),
    ({"allow_vacuous": "yes"}, UsageTypeError, "allow_vacuous"),
    ({"allow_vacuous": None}, UsageTypeError, "allow_vacuous"),
    ({"fail_on": "rejected-command"}, UsageTypeError, "fail_on"),
    ({"fail_on": ["nope"]}, UsageError, "fail_on[0]"),
    ({"fail_on": None}, UsageTypeError, "fail_on"),
]


def _case_id(kwargs):
    # callables have no stable repr (xdist workers must collect the same ids)
    return ",".join(
        f"{k}={v.__code__.co_argcount}-arg-callable" if callable(v) else f"{k}={v!r}"
        for k, v in kwargs.items()
    )


@pytest.mark.parametrize(("kwargs", "error", "param"), ARGS, ids=[_case_id(a[0]) for a in ARGS])
def test_bad_storm_argument(kwargs, error, param):
    err = raises(error, param, lambda: storm(**kwargs))
    if isinstance(err, UsageError) and "parameter" in err.details:
        assert err.details["parameter"] == param


@pytest.mark.parametrize(
    ("kwargs", "error", "param"),
    [
        ({"source_domain": "payment"}, UsageError, "source_domain"),
        ({"kind": "saga"}, UsageError, "kind"),
        ({"sources": "order"}, UsageTypeError, "sources"),
        ({"sources": ["order", "Bad"]}, UsageError, "sources[1]"),
    ],
)
def test_bad_pm_storm_argument(kwargs, error, param):
    raises(error, param, lambda: pm_storm(**kwargs))


def test_concurrent_redelivery_without_a_second_consumer_names_concurrency():
    with pytest.raises(ConfigurationError, match="concurrency=2") as info:
        storm(faults=FaultPlan(concurrent_redelivery=0.1))
    assert info.value.details["parameter"] == "concurrency"


# -- what an event source yields ---------------------------------------------------------------


def book(domain="order", root=None, pages=1, correlation_id=""):
    b = T.EventBook(
        cover=T.Cover(
            domain=domain,
            root=T.UUID(value=uuid_for("o") if root is None else root),
            correlation_id=correlation_id,
        )
    )
    for i in range(pages):
        page = b.pages.add()
        page.header.sequence = i
        page.event.Pack(E.OrderCreated(order_id="o", sku="s"), wire.TYPE_URL_PREFIX)
    return b


def yields(value, at=0):
    """An event source that yields good events, then ``value`` at index ``at``."""

    def source(rng, i):
        return value if i == at else sagas.one_sku(rng, i)

    return source


YIELDS = [
    # (yielded value, error type, text the message must contain)
    (42, UsageTypeError, "event_source[2]: got 42"),
    (None, UsageTypeError, "event_source[2]: got None"),
    ("OrderCreated", UsageTypeError, "event_source[2]: got 'OrderCreated'"),
    (("order",), UsageTypeError, "event_source[2]"),
    (("Order", E.OrderCreated()), UsageError, "event_source[2] domain"),
    ((3, E.OrderCreated()), UsageTypeError, "event_source[2] domain"),
    (("payment", E.OrderCreated()), UsageError, "event_source[2]"),
    (book(root=b"\x01" * 8), UsageError, "16-byte UUID, got 8 bytes"),
    (book(root=b""), UsageError, "root is missing"),
    (book(domain="Bad"), UsageError, "is not a valid domain name"),
    (book(pages=0), UsageError, "It has no pages"),
    (book(domain="payment"), UsageError, "comes from domain 'payment'"),
]


@pytest.mark.parametrize(("value", "error", "text"), YIELDS, ids=[repr(y[0])[:40] for y in YIELDS])
def test_event_source_yields_something_unpublishable(value, error, text):
    with pytest.raises(error) as info:
        storm(event_source=yields(value, at=2)).run()
    message = str(info.value)
    assert message.startswith("event_source[2]"), message
    assert text in message
    assert "yields.<locals>.source" in message  # names the event source


def test_pm_storm_with_several_sources_needs_each_events_domain():
    with pytest.raises(UsageError, match=r"event_source\[0\].*order, inventory"):
        pm_storm(event_source=[E.OrderCreated(order_id="o", sku="s")]).run()
    with pytest.raises(UsageError, match=r"event_source\[0\].*comes from domain 'payment'"):
        pm_storm(event_source=[("payment", E.OrderCreated(order_id="o"))]).run()


# -- user code that raises ------------------------------------------------------------------------


class BrokenStr(Exception):
    def __str__(self):
        raise RuntimeError("no")


def raising(exc, at=3):
    def my_events(rng, i):
        if i == at:
            raise exc
        return sagas.one_sku(rng, i)

    return my_events


@pytest.mark.parametrize(
    ("exc", "shown"),
    [
        (ValueError("no more orders"), "ValueError: no more orders"),
        (BrokenStr(), "BrokenStr: <its __str__ raised>"),
        (SystemExit(3), "SystemExit: 3"),
        (KeyError("sku"), "KeyError: 'sku'"),
    ],
)
def test_event_source_that_raises_is_a_user_code_error(exc, shown):
    with pytest.raises(UserCodeError) as info:
        storm(event_source=raising(exc)).run()
    message = str(info.value)
    assert "event_source raising.<locals>.my_events" in message and "event 3" in message
    assert shown in message
    assert info.value.__cause__ is exc
    assert info.value.details["index"] == "3"


def test_strategy_that_raises_is_a_user_code_error():
    def boom(_):
        raise ValueError("bad strategy")

    strategy = st.integers().map(boom)
    with pytest.raises(UserCodeError, match=r"Hypothesis strategy.*event 0") as info:
        storm(event_source=strategy).run()
    assert isinstance(info.value.__cause__, ValueError)


def test_setup_that_raises_is_a_user_code_error():
    def stock_up(h):
        raise RuntimeError("database down")

    with pytest.raises(UserCodeError, match="storm setup.*stock_up.*database down") as info:
        storm(setup=stock_up)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_setup_calling_sys_exit_does_not_end_the_run():
    with pytest.raises(UserCodeError, match="SystemExit"):
        storm(setup=lambda h: sys.exit(0))
