"""A reply that is not a response of the expected type is a ``malformed-response`` finding.

Protobuf is not self-describing: the echoed ``SagaHandleRequest``, a
``ProcessManagerHandleResponse`` sent to a saga, or random bytes often *parse* as a
``SagaResponse``, with the fields it does not declare kept as unknown fields. Angzarr core's
saga/PM gRPC clients (src/orchestration/saga/grpc/mod.rs, src/orchestration/process_manager/
grpc/mod.rs, prost decoding) fail the call on bytes that do not decode and silently skip
unknown fields; either way the trigger's work is lost. The kit reports both, naming the target,
what was expected and what came, and never calls such a run clean. A legitimate empty reply
(zero bytes) and a valid but non-canonically encoded one stay clean.

In process and over real loopback gRPC servers (no mocks).
"""

# No `from __future__ import annotations`: the kit resolves handler annotations at runtime.
import importlib.util
from concurrent import futures

import pms
import pytest
import sagas

from angzarr_testkit import ProcessManagerHarness, SagaHarness, uuid_for, wire
from angzarr_testkit.framework.encode import length_delimited
from angzarr_testkit.framework.responses import MalformedResponseError, parse_response
from angzarr_testkit.simulate import Storm

pytestmark = pytest.mark.timeout(20)

HAVE_GRPC = importlib.util.find_spec("grpc") is not None
needs_grpc = pytest.mark.skipif(not HAVE_GRPC, reason="grpcio is not installed")
if HAVE_GRPC:
    import grpc

T, E, S, PM = wire.types_pb2, wire.examples_pb2, wire.saga_pb2, wire.process_manager_pb2
CORR = "6f1c2d3e-0000-4000-8000-000000000001"
ORDER = uuid_for("order-1")


def order(order_id="o-1"):
    return E.OrderCreated(order_id=order_id, sku="sku-1", quantity=1)


def saga_harness(target):
    return SagaHarness(target, source_domain="order", output_domains=["inventory"])


def pm_harness(target):
    return ProcessManagerHarness(
        target,
        pm_domain="fulfillment",
        sources=["order", "inventory"],
        output_domains=["inventory", "shipping"],
        profile="deferred-rewrite",
        delivery_limit=1,
    )


def deliver_saga(target):
    h = saga_harness(target)
    h.deliver(order(), root=ORDER)
    return h


def deliver_pm(target):
    pm = pm_harness(target)
    pm.deliver(order(), domain="order", root=ORDER, correlation_id=CORR)
    return pm


def only_malformed(h):
    """The one malformed-response finding of a harness, after checking it is not clean."""
    assert not h.clean
    with pytest.raises(AssertionError, match="malformed-response"):
        h.assert_clean()
    kinds = [f.kind for f in h.findings]
    if isinstance(h, ProcessManagerHarness):
        # As after any failed PM call, the trigger is requeued until the delivery limit.
        assert kinds[-1] == "dead-lettered" and set(kinds[:-1]) == {"malformed-response"}
    else:
        assert kinds == ["malformed-response"]
    return h.findings[0]


def with_unknown(message, raw: bytes):
    """``message`` carrying the extra (unknown to its type) encoded fields ``raw``."""
    copy = type(message)()
    copy.MergeFromString(message.SerializeToString() + raw)
    return copy


def good_response(request):
    return S.SagaResponse(commands=sagas.deferred_saga(request))


def pm_response_for(request):
    """What a process manager would answer (commands in field 2) to a saga's request."""
    return PM.ProcessManagerHandleResponse(commands=sagas.deferred_saga(request))


def saga_response_for(request):
    """What a saga would answer (commands in field 1) to a process manager's request."""
    saga_request = S.SagaHandleRequest(source=request.trigger)
    return S.SagaResponse(commands=sagas.deferred_saga(saga_request))


# -- in process -----------------------------------------------------------------------------


def test_a_saga_returning_its_request_is_malformed():
    h = deliver_saga(lambda request: request)
    finding = only_malformed(h)
    assert "saga" in finding.message and "lambda" in finding.message
    assert "expected angzarr.SagaResponse" in finding.message
    assert "a message of type angzarr.SagaHandleRequest" in finding.message
    assert finding.details["expected"] == "angzarr.SagaResponse"
    assert int(finding.details["size"]) > 0
    assert finding.delivery == 1


def test_a_saga_returning_a_pm_response_is_malformed():
    def saga(request):
        return PM.ProcessManagerHandleResponse(commands=sagas.deferred_saga(request))

    finding = only_malformed(deliver_saga(saga))
    assert "a message of type angzarr.ProcessManagerHandleResponse" in finding.message


def test_a_saga_response_carrying_unknown_fields_is_malformed():
    def saga(request):
        return with_unknown(good_response(request), b"\x18\x07")  # field 3, varint

    finding = only_malformed(deliver_saga(saga))
    assert "field 3 (varint) at the top level" in finding.message
    assert finding.details["unknown_fields"] == "field 3 (varint) at the top level"


def test_unknown_fields_deep_in_a_command_are_found_and_located():
    def saga(request):
        (command,) = sagas.deferred_saga(request)
        command.pages[0].header.MergeFromString(b"\x28\x01")  # PageHeader field 5
        return [command]

    finding = only_malformed(deliver_saga(saga))
    assert "field 5 (varint) in commands[0].pages[0].header" in finding.message


def test_a_pm_returning_a_saga_response_or_its_request_is_malformed():
    for pm in (saga_response_for, lambda request: request):
        finding = only_malformed(deliver_pm(pm))
        assert "process manager" in finding.message
        assert "expected angzarr.ProcessManagerHandleResponse" in finding.message


def test_empty_and_legitimate_responses_stay_clean():
    for saga in (lambda r: None, lambda r: S.SagaResponse(), lambda r: []):
        h = deliver_saga(saga)
        assert h.findings == [] and h.clean
    h = deliver_saga(good_response)
    assert h.clean and h.deliveries[0].outcomes[0].status == "applied"
    pm = deliver_pm(pms.fulfillment_pm)
    assert pm.clean, pm.findings


def test_a_storm_of_an_echoing_saga_is_not_clean():
    storm = Storm(
        lambda request: request,
        source_domain="order",
        output_domains=["inventory"],
        events=20,
        roots=5,
        seed=3,
        event_source=sagas.one_sku,
        progress=False,
    )
    report = storm.run()
    assert not report.ok
    assert "malformed-response" in {f.kind for f in report.findings}


# -- over gRPC ------------------------------------------------------------------------------


def raw_server(service, behaviour):
    """A plain grpc server answering ``behaviour(request_bytes) -> bytes`` to Handle."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: behaviour(request))
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(service, {"Handle": handler})]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"grpc://127.0.0.1:{port}"


def over_grpc(service, behaviour, make, deliver):
    server, address = raw_server(service, behaviour)
    h = make(address)
    try:
        deliver(h)
    finally:
        (h.pm_target if isinstance(h, ProcessManagerHarness) else h.target).close()
        server.stop(None)  # after the channel closed: no "Got goaway" lines from grpc
    return h


def saga_over_grpc(behaviour):
    return over_grpc(
        "angzarr.SagaService", behaviour, saga_harness, lambda h: h.deliver(order(), root=ORDER)
    )


def pm_over_grpc(behaviour):
    return over_grpc(
        "angzarr.ProcessManagerService",
        behaviour,
        pm_harness,
        lambda h: h.deliver(order(), domain="order", root=ORDER, correlation_id=CORR),
    )


def answer(handler, request_class):
    """A server behaviour running an in-process handler on the parsed request."""

    def behaviour(data):
        return handler(request_class.FromString(data)).SerializeToString()

    return behaviour


@needs_grpc
def test_an_echo_server_is_malformed_and_named():
    h = saga_over_grpc(lambda data: data)
    finding = only_malformed(h)
    assert h.target.name in finding.message
    assert finding.details["method"] == "/angzarr.SagaService/Handle"
    assert "unknown fields" in finding.message
    assert "angzarr.SagaHandleRequest" in finding.details["looks_like"]
    assert "echoing the request" in finding.message
    assert finding.details["address"] == h.target.name


@needs_grpc
def test_a_pm_response_server_behind_a_saga_target_is_malformed():
    h = saga_over_grpc(answer(pm_response_for, S.SagaHandleRequest))
    finding = only_malformed(h)
    assert "expected angzarr.SagaResponse" in finding.message
    assert "unknown fields" in finding.message


@needs_grpc
@pytest.mark.parametrize(
    "garbage", [b"\xff\xff\xff", b"\x0a\x05abc", bytes(range(256)), b"\x0a\x03\x0a\x01\xff"]
)
def test_a_garbage_bytes_server_is_malformed(garbage):
    finding = only_malformed(saga_over_grpc(lambda data: garbage))
    assert f"got {len(garbage)} bytes" in finding.message


@needs_grpc
@pytest.mark.parametrize(
    ("reply", "needle"),
    [
        (b"\x18\x01", "field 3 (varint) at the top level"),
        (b"\x2a\x00\x30\x05", "field 5 (length-delimited) at the top level"),
        (b"\x10\x01", "field 2 (varint) at the top level"),  # a declared number, wrong type
    ],
)
def test_an_unknown_fields_only_server_is_malformed(reply, needle):
    finding = only_malformed(saga_over_grpc(lambda data: reply))
    assert "unknown fields only" in finding.message and needle in finding.message


@needs_grpc
def test_a_pm_answered_with_a_saga_response_or_garbage_is_malformed():
    for behaviour in (
        answer(saga_response_for, PM.ProcessManagerHandleRequest),
        lambda data: data,
        lambda data: b"\x20\x01",
    ):
        finding = only_malformed(pm_over_grpc(behaviour))
        assert "expected angzarr.ProcessManagerHandleResponse" in finding.message


@needs_grpc
def test_legitimate_replies_over_grpc_stay_clean():
    h = saga_over_grpc(lambda data: b"")  # an empty SagaResponse is zero bytes
    assert h.findings == [] and h.clean
    h = saga_over_grpc(answer(good_response, S.SagaHandleRequest))
    assert h.clean and h.deliveries[0].outcomes[0].status == "applied"
    pm = pm_over_grpc(answer(pms.fulfillment_pm, PM.ProcessManagerHandleRequest))
    assert pm.clean, pm.findings


@needs_grpc
def test_a_valid_non_canonical_encoding_is_not_malformed():
    """Fields out of order and an explicitly encoded default are valid protobuf (another
    language's encoder may write them): only unknown fields make a reply malformed."""

    def behaviour(data):
        request = S.SagaHandleRequest.FromString(data)
        (command,) = sagas.deferred_saga(request)
        pages = b"".join(
            length_delimited(b"\x12", page.SerializeToString() + b"\x10\x00")  # merge 0
            for page in command.pages
        )
        book = pages + length_delimited(b"\x0a", command.cover.SerializeToString())
        return length_delimited(b"\x0a", book)

    h = saga_over_grpc(behaviour)
    assert h.clean, h.findings
    assert h.deliveries[0].outcomes[0].status == "applied"


def test_an_unknown_field_offset_by_a_longer_reencoding_is_still_found():
    # Found by Hypothesis (tests/bad_input/test_grpc_replies.py): a command page whose
    # merge_strategy is -2**31 sent in 5 bytes (re-encoded in 10) and a 5-byte unknown field
    # (field 1 as a varint, where CommandBook's field 1 is the cover) in the same command.
    # Without the unknown field the message re-encodes to the same SIZE, not the same bytes.
    data = b"\x12\r\x12\x06\x10\x80\x80\x80\x80\x08\x08\x80\x80\x80\x00"
    with pytest.raises(MalformedResponseError, match=r"field 1 \(varint\) in commands\[0\]"):
        parse_response(PM.ProcessManagerHandleResponse, data)
