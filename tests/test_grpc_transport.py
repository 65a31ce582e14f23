"""gRPC targets and serve(): real servers on 127.0.0.1, no mocks.

The oracle must not care where the handler runs: a storm through a ``grpc://`` target gives
the same trace, counts and findings as the same seeded storm in process. Failures of the
transport (server down, deadline) are ``handler-error`` findings naming the gRPC status,
garbage answers are ``malformed-response`` findings, and nothing hangs.
"""

# No `from __future__ import annotations`: angzarr_client evaluates the handler annotations
# of the SDK saga defined in a test below, and needs them to be real objects.
import importlib
import importlib.util
import json
import re
import sys
import threading
import time
from concurrent import futures
from pathlib import Path

import pms
import pytest
import sagas

from angzarr_testkit import (
    ConfigurationError,
    ProcessManagerHarness,
    SagaHarness,
    TargetError,
    codes,
    uuid_for,
    wire,
)
from angzarr_testkit.cli import main as cli_main
from angzarr_testkit.simulate import FaultPlan, Storm

HAVE_GRPC = importlib.util.find_spec("grpc") is not None
needs_grpc = pytest.mark.skipif(
    not HAVE_GRPC, reason="grpcio is not installed (pip install 'angzarr-testkit[grpc]')"
)
client_mode = pytest.mark.skipif(
    wire.MODE != "angzarr_client", reason="the angzarr_client SDK server needs client wire mode"
)
if HAVE_GRPC:
    import grpc

    from angzarr_testkit.transports.grpc import (
        GrpcCallError,
        GrpcPMTarget,
        GrpcSagaTarget,
        grpc_pm_target,
        grpc_saga_target,
        serve,
    )

T, E = wire.types_pb2, wire.examples_pb2
CORR = "6f1c2d3e-0000-4000-8000-000000000001"
SKU = uuid_for("sku-1")
STORM_FAULTS = FaultPlan(duplicate=0.2, crash_before_ack=0.05)


def order(order_id="o-1"):
    return E.OrderCreated(order_id=order_id, sku="sku-1", quantity=1)


def saga_harness(target, **kw):
    kw.setdefault("profile", "sequence-map")  # transport parity, with the seed protocol's bug
    kw.setdefault("source_domain", "order")
    kw.setdefault("output_domains", ["inventory"])
    return SagaHarness(target, **kw)


def pm_harness(target, **kw):
    kw.setdefault("pm_domain", "fulfillment")
    kw.setdefault("sources", ["order", "inventory"])
    kw.setdefault("output_domains", ["inventory", "shipping"])
    kw.setdefault("profile", "deferred-rewrite")
    return ProcessManagerHarness(target, **kw)


def saga_storm(target, **kw):
    kw.setdefault("events", 300)
    kw.setdefault("faults", STORM_FAULTS)
    kw.setdefault("require", ["duplicate", "crash-before-ack"])
    kw.setdefault("profile", "sequence-map")
    return Storm(
        target,
        source_domain="order",
        output_domains=["inventory"],
        roots=20,
        seed=11,
        event_source=sagas.one_sku,
        **kw,
    )


def pm_storm(target, **kw):
    kw.setdefault("faults", STORM_FAULTS)
    return Storm(
        target,
        kind="process-manager",
        pm_domain="fulfillment",
        sources=["order", "inventory"],
        output_domains=["inventory", "shipping"],
        profile="deferred-rewrite",
        events=kw.pop("events", 200),
        roots=kw.pop("roots", 200),
        seed=5,
        event_source=pms.order_events,
        **kw,
    )


def assert_same_storm(remote, local):
    """Same schedule, same counters, same findings, in the same order."""
    # Line 1 names the target, and the closing summary's digest covers line 1: compare the
    # rest, and the summary without its digest.
    remote_lines, local_lines = remote.trace.lines(), local.trace.lines()
    assert remote_lines[1:-1] == local_lines[1:-1]
    remote_summary, local_summary = json.loads(remote_lines[-1]), json.loads(local_lines[-1])
    assert remote_summary.pop("digest") != local_summary.pop("digest")
    assert remote_summary == local_summary
    assert remote.counts == local.counts
    assert remote.fault_coverage == local.fault_coverage
    assert [f.kind for f in remote.findings] == [f.kind for f in local.findings]
    assert remote.ok == local.ok


def closed_address():
    """The address of a server that has just gone away (its port is closed)."""
    with serve(sagas.deferred_saga) as server:
        return server.address


def raw_server(service, methods):
    """A plain grpc server with generic handlers (bytes in, bytes out)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(behaviour) for name, behaviour in methods.items()
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(service, handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"grpc://127.0.0.1:{port}"


def handler_errors(h):
    return [f for f in h.findings if f.kind == "handler-error"]


def assert_poisoned(pm):
    """A PM whose every call failed: handler errors up to the delivery limit, then dead."""
    kinds = [f.kind for f in pm.findings]
    assert kinds[-1] == "dead-lettered" and len(kinds) > 1
    assert set(kinds[:-1]) == {"handler-error"}


# -- addresses and the optional extra -------------------------------------------------------


@needs_grpc
@pytest.mark.parametrize(
    ("address", "needle"),
    [
        ("127.0.0.1:50051", "did you mean grpc://127.0.0.1:50051"),
        ("http://127.0.0.1:50051", "only grpc://HOST:PORT targets are supported"),
        ("grpc://127.0.0.1", "has no port"),
        ("grpc://127.0.0.1:http", "not a number in 1..65535"),
        ("grpc://127.0.0.1:70000", "not a number in 1..65535"),
        ("grpc://127.0.0.1:0", "has port 0"),
        ("grpc://:50051", "has no valid host"),
        ("grpc://127.0.0.1:50051/angzarr.SagaService", "has a path"),
        ("grpc://me@127.0.0.1:50051", "credentials"),
        ("grpc://127.0.0.1:50051?timeout=0", "positive number of seconds"),
        ("grpc://127.0.0.1:50051?timeout=soon", "positive number of seconds"),
        ("grpc://127.0.0.1:50051?retries=3", "unknown parameter 'retries'"),
    ],
)
def test_bad_addresses_raise_target_error(address, needle):
    with pytest.raises(TargetError, match=needle):
        saga_harness(address)
    with pytest.raises(TargetError, match=needle):
        pm_harness(address)


@needs_grpc
def test_direct_constructors_check_address_and_timeout():
    with pytest.raises(TargetError, match="no scheme") as info:
        grpc_saga_target("127.0.0.1:50051")
    assert info.value.code == codes.INVALID_ARGUMENT
    with pytest.raises(TargetError, match="scheme 'dns', not grpc"):
        grpc_pm_target("dns://127.0.0.1:50051")
    with pytest.raises(TargetError, match="is a int, not a string"):
        grpc_saga_target(50051)
    for bad in (0, -1.0, float("inf"), True, "5"):
        with pytest.raises(TargetError, match="timeout must be a positive number"):
            grpc_saga_target("grpc://127.0.0.1:50051", timeout=bad)
    target = grpc_saga_target("grpc://127.0.0.1:50051?timeout=0.25")
    assert isinstance(target, GrpcSagaTarget)
    assert (target.name, target.timeout) == ("grpc://127.0.0.1:50051", 0.25)
    assert grpc_saga_target("grpc://127.0.0.1:50051?timeout=0.25", timeout=2).timeout == 2.0
    assert grpc_pm_target("grpc://[::1]:50051").address == "grpc://[::1]:50051"
    assert grpc_pm_target("grpc://localhost:1").timeout == 5.0


def test_missing_grpcio_names_the_extra(monkeypatch):
    # As if grpcio were not installed: `import grpc` fails inside the transport.
    monkeypatch.setitem(sys.modules, "grpc", None)
    monkeypatch.delitem(sys.modules, "angzarr_testkit.transports.grpc", raising=False)
    with pytest.raises(TargetError, match=r"needs grpcio.*angzarr-testkit\[grpc\]") as info:
        saga_harness("grpc://127.0.0.1:50051")
    assert info.value.code == codes.TARGET_UNSUPPORTED
    with pytest.raises(TargetError, match="needs grpcio"):
        pm_harness("grpc://127.0.0.1:50051")


# -- sagas over gRPC -----------------------------------------------------------------------


@needs_grpc
def test_saga_served_by_the_kit_behaves_as_in_process():
    local = saga_harness(sagas.deferred_saga)
    with serve(sagas.deferred_saga) as server:
        assert server.address == f"grpc://127.0.0.1:{server.port}" and server.port > 0
        remote = saga_harness(server.address)
        assert isinstance(remote.target, GrpcSagaTarget)
        for h in (local, remote):
            h.given_destination("inventory", SKU, next_sequence=5)
            d = h.deliver(order(), root=uuid_for("order-1"))
            h.redeliver(d, times=3)
            h.assert_clean()
        assert server.calls == 4
    r, lo = remote.deliveries[0], local.deliveries[0]
    assert r.request == lo.request
    assert [c.book for c in r.commands] == [c.book for c in lo.commands]
    assert [o.status for d in remote.deliveries for o in d.outcomes] == [
        "applied",
        "deduped",
        "deduped",
        "deduped",
    ]
    assert remote.aggregate("inventory", SKU).events == local.aggregate("inventory", SKU).events


@needs_grpc
@pytest.mark.parametrize("saga", [sagas.deferred_saga, sagas.explicit_saga])
def test_storm_through_grpc_gives_the_same_findings(saga, tmp_path):
    local = saga_storm(saga).run()
    with serve(saga) as server:
        remote = saga_storm(server.address, trace=tmp_path / "grpc.jsonl").run()
        assert server.calls == remote.counts["handler_calls"] > 300
        if saga is sagas.explicit_saga:  # a trace of a grpc:// storm replays through it
            replayed = Storm.replay(tmp_path / "grpc.jsonl")
            assert replayed.counts == remote.counts
    assert_same_storm(remote, local)
    assert remote.fault_coverage["duplicate"] > 0 and remote.fault_coverage["crash-before-ack"] > 0
    if saga is sagas.explicit_saga:
        assert remote.kinds().get("double-apply", 0) > 0 and not remote.ok
    else:
        assert remote.ok, remote.summary()
    assert json.loads(remote.trace.lines()[0])["target"] == server.address


@needs_grpc
@client_mode
def test_storm_through_the_sdk_own_grpc_server_gives_the_same_findings():
    """The real SDK server: angzarr_client's SagaHandler registered with its generated
    add_SagaServiceServicer_to_server on a plain grpc.server."""
    from angzarr_client.destinations import Destinations as SdkDestinations
    from angzarr_client.proto.angzarr import saga_pb2_grpc
    from angzarr_client.saga import Saga, domain, handles, output_domain
    from angzarr_client.saga_handler import SagaHandler

    @domain("order")
    @output_domain("inventory")
    class ReserveSaga(Saga):
        """Stamps the map's sequence: double-applies on redelivery (a finding to compare)."""

        name = "saga-order-inventory"

        @handles(E.OrderCreated)
        def on_created(self, event: E.OrderCreated, destinations: SdkDestinations):
            cmd = T.CommandBook(cover=T.Cover(domain="inventory", root=T.UUID(value=SKU)))
            cmd.pages.add().command.Pack(
                E.ReserveInventory(order_id=event.order_id, sku=event.sku),
                type_url_prefix=wire.TYPE_URL_PREFIX,
            )
            return destinations.stamp_command(cmd, "inventory")

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    saga_pb2_grpc.add_SagaServiceServicer_to_server(SagaHandler(ReserveSaga), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        remote = saga_storm(f"grpc://127.0.0.1:{port}").run()
    finally:
        server.stop(None).wait(5)
    local = saga_storm(ReserveSaga).run()
    assert_same_storm(remote, local)
    assert remote.kinds().get("double-apply", 0) > 0
    # The kit serves the SDK class as well (resolved the way the harness resolves it).
    with serve(ReserveSaga) as kit_server:
        assert_same_storm(saga_storm(kit_server.address).run(), local)


# -- process managers over gRPC ------------------------------------------------------------


@needs_grpc
def test_pm_over_grpc_threads_state_like_in_process():
    local = pm_harness(pms.fulfillment_pm)
    with serve(pms.fulfillment_pm, kind="process-manager") as server:
        remote = pm_harness(server.address)
        assert isinstance(remote.pm_target, GrpcPMTarget)
        for h in (local, remote):
            d = h.deliver(order(), domain="order", root=uuid_for("o"), correlation_id=CORR)
            h.redeliver(d, times=2)
            h.deliver(
                E.InventoryReserved(order_id="o-1", sku="sku-1", quantity=1),
                domain="inventory",
                root=SKU,
                correlation_id=CORR,
            )
            h.assert_clean()
    assert remote.state(CORR).event_types == local.state(CORR).event_types
    assert [c.book for d in remote.deliveries for c in d.sent] == [
        c.book for d in local.deliveries for c in d.sent
    ]


@needs_grpc
def test_pm_prepare_flow_over_grpc():
    servicer = pms.PreparingPM()
    with serve(servicer, kind="process-manager") as server:
        h = pm_harness(server.address, prepare=True, profile="sequence-map")
        h.given_destination("inventory", SKU, next_sequence=4)
        d = h.deliver(order(), domain="order", root=uuid_for("o"), correlation_id=CORR)
        assert servicer.prepared == 1 and server.calls == 2  # Prepare, then Handle
    assert [c.domain for c in d.prepared] == ["inventory"]
    assert dict(d.request.destination_sequences) == {"inventory": 4}
    assert d.command("inventory").sequence == 4 and d.outcomes[0].status == "applied"
    h.assert_clean()


@needs_grpc
def test_pm_without_prepare_answers_unimplemented():
    with serve(pms.fulfillment_pm, kind="process-manager") as server:
        h = pm_harness(server.address, prepare=True, delivery_limit=1)
        h.deliver(order(), domain="order", root=uuid_for("o"), correlation_id=CORR)
    assert_poisoned(h)
    assert "UNIMPLEMENTED" in h.findings[0].message
    assert "fulfillment_pm has no Prepare" in h.findings[0].message


@needs_grpc
@pytest.mark.parametrize("pm", [pms.forgetful_pm, pms.poison_pm])
def test_pm_storm_through_grpc_gives_the_same_findings(pm):
    kw = {"faults": FaultPlan(delivery_limit=2), "events": 5} if pm is pms.poison_pm else {}
    local = pm_storm(pm, **kw).run()
    with serve(pm, kind="process-manager") as server:
        remote = pm_storm(server.address, **kw).run()
    assert_same_storm(remote, local)
    expected = "handler-error" if pm is pms.poison_pm else "double-apply"
    assert remote.kinds().get(expected, 0) > 0


# -- failures: never a hang, always the status code ---------------------------------------


@needs_grpc
def test_server_down_is_a_quick_unavailable_finding():
    address = closed_address()
    h = saga_harness(grpc_saga_target(address, timeout=2.0))
    started = time.monotonic()
    d = h.deliver(order(), root=uuid_for("o"))
    assert time.monotonic() - started < 1.5
    (finding,) = h.findings
    assert finding.kind == "handler-error"
    assert "UNAVAILABLE" in finding.message and address in finding.message
    assert isinstance(d.error, GrpcCallError) and d.error.status == "UNAVAILABLE"
    # A process manager is requeued to its delivery limit, each time as quickly.
    pm = pm_harness(f"{address}?timeout=2", delivery_limit=2)
    pm.deliver(order(), domain="order", root=uuid_for("o"), correlation_id=CORR)
    assert_poisoned(pm)
    assert all("UNAVAILABLE" in f.message for f in handler_errors(pm))
    assert time.monotonic() - started < 3


@needs_grpc
def test_a_slow_handler_is_a_deadline_exceeded_finding():
    release = threading.Event()

    def slow_saga(request):
        release.wait(10)
        return sagas.deferred_saga(request)

    with serve(slow_saga) as server:
        try:
            h = saga_harness(grpc_saga_target(server.address, timeout=0.3))
            started = time.monotonic()
            h.deliver(order(), root=uuid_for("o"))
            elapsed = time.monotonic() - started
        finally:
            release.set()
    assert 0.25 < elapsed < 2
    (finding,) = h.findings
    assert finding.kind == "handler-error"
    assert "DEADLINE_EXCEEDED" in finding.message and "0.3 s deadline" in finding.message


@needs_grpc
def test_garbage_answers_are_malformed_responses():
    def garbage(request, context):
        return b"\xff\xff\xff"

    saga_server, saga_address = raw_server("angzarr.SagaService", {"Handle": garbage})
    pm_server, pm_address = raw_server("angzarr.ProcessManagerService", {"Handle": garbage})
    h = saga_harness(saga_address)
    pm = pm_harness(pm_address, delivery_limit=1)
    try:
        h.deliver(order(), root=uuid_for("o"))
        pm.deliver(order(), domain="order", root=uuid_for("o"), correlation_id=CORR)
    finally:
        h.target.close()  # before the servers go: no "Got goaway" lines from grpc
        pm.pm_target.close()
        saga_server.stop(None)
        pm_server.stop(None)
    (finding,) = h.findings
    assert finding.kind == "malformed-response"
    assert "expected angzarr.SagaResponse, got 3 bytes that do not parse" in finding.message
    # A reply that does not decode fails the call, as in core: the PM's trigger is requeued.
    kinds = [f.kind for f in pm.findings]
    assert kinds[-1] == "dead-lettered" and set(kinds[:-1]) == {"malformed-response"}
    assert "expected angzarr.ProcessManagerHandleResponse" in pm.findings[0].message


@needs_grpc
def test_a_server_for_another_service_answers_unimplemented():
    with serve(sagas.deferred_saga) as server:
        pm = pm_harness(server.address, delivery_limit=1)
        pm.deliver(order(), domain="order", root=uuid_for("o"), correlation_id=CORR)
    message = pm.findings[0].message
    assert "UNIMPLEMENTED" in message and "angzarr.ProcessManagerService" in message


@needs_grpc
def test_handler_failures_become_statuses_and_the_server_keeps_serving():
    with serve(sagas.exploding_saga) as server:
        h = saga_harness(server.address)
        h.deliver(order(), root=uuid_for("o"))
        h.deliver(order("o-2"), root=uuid_for("o"))
        assert server.calls == 2
    assert [f.kind for f in h.findings] == ["handler-error"] * 2
    assert "INTERNAL" in h.findings[1].message and "RuntimeError: boom" in h.findings[1].message
    with serve(sagas.AbortingServicer()) as server:
        h = saga_harness(server.address)
        h.deliver(order(), root=uuid_for("o"))
    assert "INVALID_ARGUMENT" in h.findings[0].message
    assert "cannot handle this" in h.findings[0].message
    with serve(sagas.wrong_type_saga) as server:
        h = saga_harness(server.address)
        h.deliver(order(), root=uuid_for("o"))
    assert "HandlerResultError" in h.findings[0].message


@needs_grpc
@pytest.mark.parametrize("saga", [sagas.stamps_shipping_saga, sagas.sdk_style_missing_saga])
def test_missing_sequence_over_grpc_is_the_same_finding(saga):
    local = saga_harness(saga)
    local.deliver(order(), root=uuid_for("o"))
    with serve(saga) as server:
        remote = saga_harness(server.address)
        remote.deliver(order(), root=uuid_for("o"))
    assert [f.kind for f in remote.findings] == [f.kind for f in local.findings]
    assert remote.findings[0].kind == "missing-destination-sequence"
    assert remote.findings[0].details["domain"] == "shipping"


# -- serve() -----------------------------------------------------------------------------


@needs_grpc
def test_serve_options_are_checked():
    with pytest.raises(ConfigurationError, match="kind must be"):
        serve(sagas.deferred_saga, kind="projector")
    with pytest.raises(ConfigurationError, match="max_workers"):
        serve(sagas.deferred_saga, max_workers=0)
    with pytest.raises(TargetError, match="has a path"):
        serve(sagas.deferred_saga, address="127.0.0.1:0/x")
    with pytest.raises(TargetError, match="cannot use 42 as a saga"):
        serve(42)
    with serve(sagas.deferred_saga, address="grpc://127.0.0.1:0") as first:
        with pytest.raises(ConfigurationError, match="cannot listen on 127.0.0.1:"):
            serve(sagas.deferred_saga, address=f"127.0.0.1:{first.port}")
    first.stop()  # idempotent
    assert "stopped" in repr(first)


# -- the CLI ------------------------------------------------------------------------------


@needs_grpc
def test_cli_storm_against_a_grpc_target_exits_as_in_process(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)

    def run(target, seed):
        code = cli_main(
            [
                "storm",
                target,
                "--source-domain",
                "order",
                "--output-domain",
                "inventory",
                "--event-source",
                "test_storm:one_sku",
                "--events",
                "200",
                "--seed",
                str(seed),
                "--duplicate",
                "0.2",
                "--crash-before-ack",
                "0.05",
                "--require",
                "duplicate",
                "--profile",
                "sequence-map",
                "--json",
                "--trace",
                str(tmp_path / f"{target.replace('/', '_').replace(':', '_')}.jsonl"),
            ]
        )
        return code, json.loads(capsys.readouterr().out)

    for saga, expected in (("deferred_saga", 0), ("explicit_saga", 1)):
        with serve(f"sagas:{saga}") as server:
            remote = run(server.address, 3)
        local = run(f"sagas:{saga}", 3)
        assert remote[0] == local[0] == expected
        for key in ("ok", "counts", "fault_coverage", "finding_counts"):
            assert remote[1][key] == local[1][key]
    # A server that is down is a storm of handler-error findings, not a hang or a crash.
    code, report = run(closed_address() + "?timeout=1", 3)
    # (and, since nothing was applied, a vacuous run)
    assert code == 1 and set(report["finding_counts"]) == {"handler-error", "vacuous-run"}
    assert "UNAVAILABLE" in report["findings"][0]["message"]
    assert cli_main(["storm", "grpc://127.0.0.1", "--source-domain", "order"]) == 2
    assert "has no port" in capsys.readouterr().err


# -- Gherkin and the docs ----------------------------------------------------------------


@needs_grpc
def test_gherkin_steps_drive_a_grpc_target(tmp_path):
    from test_behave_steps import run_feature

    with serve(sagas.strict_deferred_saga) as server:
        result = run_feature(
            tmp_path,
            f"""
            Feature: a saga served over gRPC
              Scenario: redeliveries dedupe through the transport
                Given the saga "{server.address}" from domain "order" to domains "inventory"
                And destination "inventory" root "sku-1" at sequence 5
                When OrderCreated is delivered from root "order-1"
                  | field | value |
                  | sku   | sku-1 |
                And the trigger is redelivered 3 times
                Then business logic on "inventory" root "sku-1" ran 1 times
                And the harness is clean
            """,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert server.calls == 4


@needs_grpc
def test_docs_example_runs_as_written():
    text = (Path(__file__).resolve().parent.parent / "docs" / "grpc.md").read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S)
    assert block, "docs/grpc.md has no python example"
    namespace: dict = {}
    exec(compile(block.group(1), "docs/grpc.md", "exec"), namespace)
    namespace["test_reservation_survives_redelivery_over_grpc"]()
