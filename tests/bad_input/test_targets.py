"""Bad targets, bad gRPC addresses, and user code that raises: every case is a clear error at
the call (the documented type, naming the parameter or the module) or a specific finding.

- A target that cannot be used is refused when the harness is built (``SagaHarness(saga)``,
  ``ProcessManagerHarness(pm)``), not at the first delivery.
- A handler under test that raises (even ``SystemExit``, even an exception whose ``__str__``
  raises) is a ``handler-error`` finding: angzarr core logs a failed saga call and acks
  (src/orchestration/saga/mod.rs), and nacks a failed PM call; ``KeyboardInterrupt`` still
  stops the run.
- A merge function is the user's setup code, not the code under test: when it raises or
  returns a non-bool, ``deliver()`` raises ``UserCodeError`` naming it, the cause chained.
"""

import functools
import socket
import uuid

import pytest
import sagas

from angzarr_testkit import (
    ConfigurationError,
    ProcessManagerHarness,
    SagaHarness,
    TargetError,
    UsageError,
    UsageTypeError,
    UserCodeError,
    uuid_for,
    wire,
)

pytestmark = pytest.mark.timeout(20)

T, E, S = wire.types_pb2, wire.examples_pb2, wire.saga_pb2
CORR = "6f1c2d3e-0000-4000-8000-000000000001"
ORDER, SKU = uuid_for("order-1"), uuid_for("sku-1")


def make(kind, target):
    if kind == "saga":
        return SagaHarness(target, source_domain="order", output_domains=["inventory"])
    return ProcessManagerHarness(
        target, pm_domain="fulfillment", sources=["order"], output_domains=["inventory"]
    )


def deliver(h):
    if isinstance(h, ProcessManagerHarness):
        return h.deliver(
            E.OrderCreated(order_id="o-1", sku="sku-1", quantity=1),
            domain="order",
            root=ORDER,
            correlation_id=CORR,
        )
    return h.deliver(E.OrderCreated(order_id="o-1", sku="sku-1", quantity=1), root=ORDER)


class BrokenStr(Exception):
    def __str__(self):
        raise RuntimeError("__str__ is broken too")


class BrokenRepr:
    def __repr__(self):
        raise RuntimeError("no repr")


def write_module(tmp_path, monkeypatch, body):
    name = f"user_target_{uuid.uuid4().hex[:12]}"
    (tmp_path / f"{name}.py").write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


KINDS = ["saga", "pm"]

# -- target modules that fail at import ------------------------------------------------------

IMPORT_CASES = [
    ("import sys\nsys.exit(3)\n", SystemExit, "SystemExit: 3"),
    ("raise SystemExit('bye')\n", SystemExit, "it called sys.exit"),
    ("raise RuntimeError('bad config')\n", RuntimeError, "RuntimeError: bad config"),
    (
        "class Bad(Exception):\n    def __str__(self):\n        raise ValueError\nraise Bad()\n",
        Exception,
        "Bad: <its __str__ raised>",
    ),
    ("import no_such_dependency_xyz\n", ImportError, "no_such_dependency_xyz"),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("body", "cause", "needle"), IMPORT_CASES)
def test_a_target_module_failing_at_import_is_a_target_error(
    tmp_path, monkeypatch, kind, body, cause, needle
):
    module = write_module(tmp_path, monkeypatch, body)
    with pytest.raises(TargetError) as info:
        make(kind, f"{module}:handler")
    message = str(info.value)
    assert repr(module) in message and needle in message
    assert isinstance(info.value.__cause__, cause)
    assert info.value.details["module"] == module


# -- callables and servicers of the wrong shape ------------------------------------------------


def no_args():
    return None


def two_args(request, other):
    return None


def keyword_only(*, request):
    return None


class HandleWithoutContext:
    def Handle(self, request):  # noqa: N802 - gRPC naming
        return None


class PrepareWithoutContext:
    def Handle(self, request, context):  # noqa: N802 - gRPC naming
        return None

    def Prepare(self):  # noqa: N802 - gRPC naming
        return None


ARITY_CASES = [
    ("saga", no_args, "saga", "fn(request: SagaHandleRequest)"),
    ("saga", two_args, "saga", "fn(request: SagaHandleRequest)"),
    ("saga", keyword_only, "saga", "its signature is keyword_only(*, request)"),
    ("saga", lambda: None, "saga", "the kit calls it with 1 positional argument"),
    ("saga", HandleWithoutContext(), "saga.Handle", "Handle(request, context)"),
    ("pm", no_args, "pm", "fn(request: ProcessManagerHandleRequest)"),
    ("pm", two_args, "pm", "fn(request: ProcessManagerHandleRequest)"),
    ("pm", HandleWithoutContext(), "pm.Handle", "Handle(request, context)"),
    ("pm", PrepareWithoutContext(), "pm.Prepare", "Prepare(request, context)"),
]


@pytest.mark.parametrize(("kind", "target", "param", "needle"), ARITY_CASES)
def test_a_target_of_the_wrong_arity_is_refused_at_construction(kind, target, param, needle):
    with pytest.raises(UsageTypeError) as info:
        make(kind, target)
    assert isinstance(info.value, TypeError)
    assert str(info.value).startswith(f"{param}: got ")
    assert needle in str(info.value)
    assert info.value.details["parameter"] == param


ACCEPTED_SHAPES = [
    lambda request: None,
    lambda request, context=None: None,
    lambda *args: None,
    lambda request, *, extra=1: None,
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("target", ACCEPTED_SHAPES)
def test_callables_that_take_one_argument_are_accepted(kind, target):
    calls = []

    @functools.wraps(target)  # the signature the kit checks is the shape's own
    def recording(*args, **kwargs):
        calls.append(args)
        return target(*args, **kwargs)

    h = make(kind, recording)
    deliver(h)
    assert not [f for f in h.findings if f.kind == "handler-error"]
    # accepted and really called, with the request (a saga once more by the silent-handler
    # diagnosis, since it returned nothing: docs/findings.md)
    assert len(calls) == (2 if kind == "saga" else 1), calls
    assert calls[0] == calls[-1]
    assert not [f for f in h.findings if f.kind == "silent-handler"]


NOT_TARGETS = [42, None, 3.5, b"bytes", object(), BrokenRepr(), [sagas.deferred_saga], int]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("target", NOT_TARGETS, ids=lambda t: type(t).__name__)
def test_an_object_that_is_not_a_target_lists_what_is_accepted(kind, target):
    with pytest.raises(TargetError) as info:
        make(kind, target)
    message = str(info.value)
    what = "saga" if kind == "saga" else "process manager"
    assert message.startswith(f"{kind}: cannot use ") and f"as a {what}" in message
    for accepted in ("a callable fn(request", "Handle(request, context)", "'package.module:attr'"):
        assert accepted in message
    assert "grpc://HOST:PORT" in message


# -- gRPC addresses ------------------------------------------------------------------------------


BAD_ADDRESSES = [
    ("grpc://[::1", "malformed IPv6 host ('[' without ']')"),
    ("grpc://[::1]", "has no port"),
    ("grpc://[::1]:", "has no port"),
    ("grpc://[::zz]:50051", "'::zz' in brackets, which is not an IPv6 address"),
    ("grpc://[127.0.0.1]:50051", "which is not an IPv6 address"),
    ("grpc://[]:50051", "which is not an IPv6 address"),
    ("grpc://[::1]]:50051", "after the IPv6 host, not :PORT"),
    ("grpc://[::1]x:50051", "after the IPv6 host, not :PORT"),
    ("grpc://[fe80::1%25eth0]:50051", "zone id"),
    ("grpc://::1:50051", "an IPv6 host goes in brackets"),
    ("grpc://127.0.0.1", "has no port"),
    ("grpc://127.0.0.1:", "has no port"),
    ("grpc://127.0.0.1:65536", "not a number in 1..65535"),
    ("grpc://127.0.0.1:99999999999999999999", "not a number in 1..65535"),
    ("grpc://127.0.0.1:-1", "not a number in 1..65535"),
    ("grpc://127.0.0.1:+5", "not a number in 1..65535"),
    ("grpc://127.0.0.1:\u0665", "not a number in 1..65535"),
    ("grpc://127.0.0.1:0", "has port 0"),
    ("grpc://999.1.1.1:50051", "has no valid host"),
    ("grpc://1.2.3.4.5:50051", "has no valid host"),
    ("grpc://-host:50051", "has no valid host"),
    ("grpc://a b:50051", "has no valid host"),
    ("grpc://:50051", "has no valid host"),
    ("grpc://me@127.0.0.1:50051", "credentials"),
    ("grpc://127.0.0.1:50051/x", "has a path"),
    ("grpc://127.0.0.1:50051?timeout=-1", "positive number of seconds"),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("address", "needle"), BAD_ADDRESSES)
def test_a_malformed_grpc_address_is_a_target_error_at_construction(kind, address, needle):
    pytest.importorskip("grpc")
    with pytest.raises(TargetError) as info:
        make(kind, address)
    assert needle in str(info.value)
    assert repr(address) in str(info.value)


GOOD_ADDRESSES = [
    "grpc://[::1]:50051",
    "grpc://localhost:50051",
    "grpc://127.0.0.1:65535",
    "grpc://my_service.internal:50051",
    "grpc://192.0.2.1:50051",  # non-loopback may be given; it is not contacted here
]


@pytest.mark.parametrize("address", GOOD_ADDRESSES)
def test_well_formed_addresses_are_accepted_without_contacting_them(address):
    pytest.importorskip("grpc")
    h = make("saga", address)
    assert h.target.address == address
    h.target.close()


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("kind", KINDS)
def test_an_unreachable_server_is_an_unavailable_handler_error(kind):
    pytest.importorskip("grpc")
    h = make(kind, f"grpc://127.0.0.1:{closed_port()}?timeout=2")
    try:
        deliver(h)
    finally:
        (h.target if kind == "saga" else h.pm_target).close()
    finding = h.findings[0]
    assert finding.kind == "handler-error"
    assert "UNAVAILABLE" in finding.message and "is the server running" in finding.message


# -- handlers under test that raise ------------------------------------------------------------


def raising(exc):
    def handler(request):
        raise exc

    return handler


RAISES = [
    (BrokenStr(), "BrokenStr: <its __str__ raised>", "BrokenStr"),
    (SystemExit(2), "SystemExit(2) (it called sys.exit)", "SystemExit"),
    (SystemExit(), "SystemExit(None)", "SystemExit"),
    (RuntimeError("boom"), "RuntimeError: boom", "RuntimeError"),
    (ValueError(), "ValueError", "ValueError"),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("exc", "needle", "error"), RAISES)
def test_a_raising_handler_is_a_handler_error_finding(kind, exc, needle, error):
    h = make(kind, raising(exc))
    deliver(h)  # returns: the test run goes on, even after sys.exit in the handler
    finding = h.findings[0]
    assert finding.kind == "handler-error"
    assert needle in finding.message
    assert finding.details["error"] == error
    assert not h.clean


@pytest.mark.internal_exception_ok(reason="KeyboardInterrupt must propagate out of the kit")
@pytest.mark.parametrize("kind", KINDS)
def test_keyboard_interrupt_from_a_handler_stops_the_run(kind):
    h = make(kind, raising(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        deliver(h)


@pytest.mark.parametrize("kind", KINDS)
def test_a_served_handler_calling_sys_exit_fails_only_its_call(kind):
    pytest.importorskip("grpc")
    from angzarr_testkit.transports.grpc import serve

    served_kind = "saga" if kind == "saga" else "process-manager"
    with serve(raising(SystemExit(4)), kind=served_kind) as server:
        h = make(kind, server.address)
        deliver(h)
        deliver(h)
        (h.target if kind == "saga" else h.pm_target).close()
    errors = [f for f in h.findings if f.kind == "handler-error"]
    assert len(errors) >= 2 and all("SystemExit" in f.message and "4" in f.message for f in errors)
    assert server.calls >= 2


# -- merge functions (given_aggregate(merge=...)) ------------------------------------------------


def stale_harness():
    h = SagaHarness(
        sagas.stale_saga_with(T.MERGE_COMMUTATIVE),
        source_domain="order",
        output_domains=["inventory"],
    )
    h.given_destination("inventory", SKU, next_sequence=5)
    return h


def merge_two(a, b):
    return True


BAD_MERGES = [
    ("sometimes", ConfigurationError, "merge: got 'sometimes'"),
    ("", ConfigurationError, "merge: got ''"),
    (5, UsageTypeError, "merge: got 5"),
    (None, UsageTypeError, "merge: got None"),
    (["strict"], UsageTypeError, "merge: got ['strict']"),
    (lambda: True, UsageTypeError, "merge: got "),
    (merge_two, UsageTypeError, "its signature is merge_two(a, b)"),
]


@pytest.mark.parametrize(("merge", "error", "needle"), BAD_MERGES)
def test_a_bad_merge_is_refused_at_given_aggregate(merge, error, needle):
    h = stale_harness()
    with pytest.raises(error) as info:
        h.given_aggregate("inventory", merge=merge)
    assert isinstance(info.value, UsageError)
    assert needle in str(info.value)
    assert "fn(CommandBook) -> bool" in str(info.value)


def merge_raises(command):
    raise KeyError("no such rule")


def merge_exits(command):
    raise SystemExit(1)


def merge_broken_str(command):
    raise BrokenStr()


def merge_returns_int(command):
    return 1


def merge_returns_none(command):
    return None


FAILING_MERGES = [
    (merge_raises, KeyError, "merge function merge_raises", "raised KeyError: 'no such rule'"),
    (merge_exits, SystemExit, "merge function merge_exits", "raised SystemExit: 1"),
    (merge_broken_str, BrokenStr, "merge_broken_str", "<its __str__ raised>"),
    (merge_returns_int, None, "merge function merge_returns_int", "returned 1 (int)"),
    (merge_returns_none, None, "merge_returns_none", "returned None (NoneType)"),
]


@pytest.mark.parametrize(("merge", "cause", "name", "needle"), FAILING_MERGES)
def test_a_merge_function_that_fails_is_a_user_code_error_from_deliver(merge, cause, name, needle):
    h = stale_harness()
    h.given_aggregate("inventory", merge=merge)
    with pytest.raises(UserCodeError) as info:
        deliver(h)
    message = str(info.value)
    assert name in message and needle in message and "'inventory'" in message
    assert "given_aggregate(merge=...)" in message
    if cause is None:
        assert info.value.__cause__ is None
    else:
        assert isinstance(info.value.__cause__, cause)


def test_a_merge_function_returning_a_bool_decides():
    h = stale_harness()
    h.given_aggregate("inventory", merge=lambda command: True)
    assert deliver(h).outcomes[0].status == "applied"
    h = stale_harness()
    h.given_aggregate("inventory", merge=lambda command: False)
    assert deliver(h).outcomes[0].status == "retried-out"
