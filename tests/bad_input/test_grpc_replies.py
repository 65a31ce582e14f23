"""Hypothesis-generated reply bytes: the kit reads every reply as either a valid response or a
``malformed-response`` finding (or, for a reply that parses but carries commands the kit's
checks refuse, those findings), and no exception ever comes out of the kit.

The replies are random bytes, arbitrary messages of every angzarr request/response type,
valid responses, and valid responses with bytes appended, cut or flipped. They cross a fake
wire in process (a target whose ``handle_bytes`` returns the bytes, parsed as the gRPC
transport parses them) and, for fewer examples, a real loopback gRPC server.

The expectation is computed independently of the kit: the bytes parse as the expected type
(``FromString``) and no message in the parsed tree has unknown fields
(``UnknownFieldSet`` of every node is empty).
"""

import importlib.util
from concurrent import futures

import pytest
from google.protobuf.message import DecodeError
from google.protobuf.unknown_fields import UnknownFieldSet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from angzarr_testkit import ProcessManagerHarness, SagaHarness, strategies, uuid_for, wire
from angzarr_testkit.framework.responses import parse_response
from angzarr_testkit.framework.targets import PMTarget, SagaTarget

pytestmark = pytest.mark.timeout(120)

HAVE_GRPC = importlib.util.find_spec("grpc") is not None
needs_grpc = pytest.mark.skipif(not HAVE_GRPC, reason="grpcio is not installed")

T, E, S, PM = wire.types_pb2, wire.examples_pb2, wire.saga_pb2, wire.process_manager_pb2
CORR = "6f1c2d3e-0000-4000-8000-000000000001"
ORDER = uuid_for("order-1")
SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
MESSAGE_TYPES = [
    S.SagaHandleRequest,
    S.SagaResponse,
    PM.ProcessManagerHandleRequest,
    PM.ProcessManagerHandleResponse,
    PM.ProcessManagerPrepareResponse,
    T.EventBook,
    T.CommandBook,
    T.Cover,
]


def is_valid(message_class, data: bytes) -> bool:
    """The oracle: ``data`` parses as ``message_class`` with no unknown field anywhere."""
    try:
        message = message_class.FromString(data)
    except DecodeError:
        return False
    return not has_unknown(message)


def has_unknown(message) -> bool:
    if len(UnknownFieldSet(message)):
        return True
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            items = (
                value.values() if field.message_type.fields_by_name["value"].message_type else []
            )
        elif wire.is_repeated(field):
            items = value
        else:
            items = [value]
        if any(has_unknown(item) for item in items):
            return True
    return False


@st.composite
def mutated(draw, base):
    data = bytearray(draw(base))
    how = draw(st.sampled_from(["append", "cut", "flip", "none"]))
    if how == "append":
        data += draw(st.binary(min_size=1, max_size=12))
    elif how == "cut" and data:
        del data[draw(st.integers(0, len(data) - 1)) :]
    elif how == "flip" and data:
        i = draw(st.integers(0, len(data) - 1))
        data[i] ^= draw(st.integers(1, 255))
    return bytes(data)


def serialized(message_type):
    return strategies.messages(message_type, max_depth=4, max_size=2).map(
        lambda m: m.SerializeToString()
    )


def replies(expected):
    return st.one_of(
        st.binary(max_size=200),
        serialized(expected),
        st.sampled_from(MESSAGE_TYPES).flatmap(serialized),
        mutated(serialized(expected)),
        mutated(st.sampled_from(MESSAGE_TYPES).flatmap(serialized)),
    )


class FakeWireSaga(SagaTarget):
    """A saga 'server' whose reply is whatever bytes the test sets, read as the gRPC
    transport reads a reply."""

    def __init__(self):
        super().__init__(name="fake-wire", call=lambda data: None)
        self.reply = b""

    def handle_bytes(self, request_bytes):
        return parse_response(S.SagaResponse, self.reply), self.reply


class FakeWirePM(PMTarget):
    def __init__(self):
        super().__init__(name="fake-wire", handle=lambda data: None)
        self.reply = b""

    def handle_bytes(self, request_bytes):
        return parse_response(PM.ProcessManagerHandleResponse, self.reply), self.reply


def saga_harness(target):
    return SagaHarness(target, source_domain="order", output_domains=["inventory"])


def pm_harness(target):
    return ProcessManagerHarness(
        target,
        pm_domain="fulfillment",
        sources=["order"],
        output_domains=["inventory"],
        delivery_limit=1,
    )


def check_outcome(h, valid: bool):
    kinds = [f.kind for f in h.findings]
    if valid:
        # Parsed: what it carries goes on to the kit's other checks (a PM's process events
        # at a wrong sequence are a handler-error, a bad cover is refused, ...).
        assert "malformed-response" not in kinds, h.findings
    else:
        assert "malformed-response" in kinds, kinds
        # a PM trigger that keeps failing: dead-lettered (seed profiles) or, under core
        # (no delivery limit), the kit's bounded requeue-loop
        assert set(kinds) <= {"malformed-response", "dead-lettered", "requeue-loop"}, kinds
        assert not h.clean


@given(reply=replies(S.SagaResponse))
@SETTINGS
def test_any_saga_reply_is_a_valid_response_or_malformed(reply):
    target = FakeWireSaga()
    target.reply = reply
    h = saga_harness(target)
    h.deliver(E.OrderCreated(order_id="o-1", sku="sku-1", quantity=1), root=ORDER)
    check_outcome(h, is_valid(S.SagaResponse, reply))


@given(reply=replies(PM.ProcessManagerHandleResponse))
@SETTINGS
def test_any_pm_reply_is_a_valid_response_or_malformed(reply):
    target = FakeWirePM()
    target.reply = reply
    pm = pm_harness(target)
    pm.deliver(
        E.OrderCreated(order_id="o-1", sku="sku-1", quantity=1),
        domain="order",
        root=ORDER,
        correlation_id=CORR,
    )
    check_outcome(pm, is_valid(PM.ProcessManagerHandleResponse, reply))


@given(reply=replies(S.SagaResponse))
@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_parse_response_agrees_with_the_oracle(reply):
    """The fast path (re-encoded size) never lets unknown fields through and never refuses
    a reply the oracle accepts."""
    try:
        parse_response(S.SagaResponse, reply)
        accepted = True
    except Exception as exc:  # only MalformedResponseError may come out
        assert type(exc).__name__ == "MalformedResponseError", exc
        accepted = False
    assert accepted == is_valid(S.SagaResponse, reply)


@pytest.fixture(scope="module")
def loopback():
    """One real gRPC server for the saga service whose reply the test sets."""
    if not HAVE_GRPC:
        pytest.skip("grpcio is not installed")
    import grpc

    state = {"reply": b""}
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: state["reply"])
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("angzarr.SagaService", {"Handle": handler})]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    h = saga_harness(f"grpc://127.0.0.1:{port}")
    yield state, h.target
    h.target.close()
    server.stop(None)


@needs_grpc
@given(reply=replies(S.SagaResponse))
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_any_reply_over_real_grpc_is_a_valid_response_or_malformed(loopback, reply):
    state, target = loopback
    state["reply"] = reply
    h = saga_harness(target)
    h.deliver(E.OrderCreated(order_id="o-1", sku="sku-1", quantity=1), root=ORDER)
    check_outcome(h, is_valid(S.SagaResponse, reply))
