"""A saga that hides its own error: ``silent-handler`` and the swallowed map-stamping error.

angzarr core acks a Handle reply with no commands (``src/handlers/core/saga.rs``
``SagaEventHandler::handle``), so a router that catches the exception and returns nothing loses
the trigger's work without a failure anywhere. The kit calls such a handler once more under a
diagnostic tracer (angzarr_testkit/framework/diagnose.py); these tests drive that through the
public harness and storm, the way a user meets it.
"""

import logging
import os
import sys

import pytest
import sagas
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from angzarr_testkit import Destinations, SagaHarness, uuid_for, wire
from angzarr_testkit.framework.findings import group_findings
from angzarr_testkit.framework.targets import SagaTarget
from angzarr_testkit.simulate import Storm

T, S, E = wire.types_pb2, wire.saga_pb2, wire.examples_pb2
HERE = os.path.basename(__file__)
log = logging.getLogger("tests.silent_router")


def harness(saga, **kw):
    kw.setdefault("source_domain", "order")
    kw.setdefault("output_domains", ["inventory"])
    return SagaHarness(saga, **kw)


def deliver(h, order_id="o-1"):
    return h.deliver(E.OrderCreated(order_id=order_id, sku="sku-1"), root=uuid_for(order_id))


def stamping(request):
    """Stamps inventory from the map (empty under core)."""
    destinations = Destinations.from_proto(request.destination_sequences)
    return [destinations.stamp_command(sagas.reserve(sagas.order_of(request)), "inventory")]


def failing_business(request):
    raise RuntimeError(f"no stock for {sagas.order_of(request).order_id}")


class ExamplesRouter:
    """Like the public examples' ``SagaRouter.route``: catches every exception, logs it with
    ``logging`` and returns no commands."""

    def __init__(self, handle):
        self.handle = handle
        self.calls = 0

    def Handle(self, request, context):  # noqa: N802 - gRPC naming
        self.calls += 1
        try:
            return self.handle(request)
        except Exception as exc:
            log.error("saga_failed: %s", exc)
            return []


class PrintingLogger:
    """structlog's default configuration: prints, never reaches ``logging``."""

    def __init__(self):
        self.lines = []

    def error(self, event, **kw):
        self.lines.append((event, kw))
        print(event, kw)


# -- SagaEventHandler::handle acks an empty reply: the swallowed error is reported --------------


def test_saga_event_handler_handle_acks_an_empty_reply_so_a_swallowed_error_is_silent_handler():
    router = ExamplesRouter(failing_business)
    h = harness(router)
    d = deliver(h)
    assert d.sent == []
    (finding,) = d.findings
    assert finding.kind == "silent-handler" and finding.is_error
    assert "RuntimeError: no stock for o-1" in finding.message
    assert "angzarr core acks a Handle that returns no commands" in finding.message
    assert "Let the exception propagate" in finding.message
    assert finding.details["error"] == "RuntimeError"
    assert f"{HERE}:" in finding.details["raised_at"]
    assert "failing_business" in finding.details["raised_at"]
    assert "in Handle" in finding.details["caught_at"]
    assert "ERROR tests.silent_router" in finding.details["logged"]
    assert "raise RuntimeError" in finding.traceback
    assert router.calls == 2  # the delivery, then the diagnostic call with the same request
    with pytest.raises(AssertionError, match="silent-handler"):
        h.assert_clean()


def test_swallowed_kit_stamp_error_is_missing_destination_sequence_with_the_core_fix():
    h = harness(ExamplesRouter(stamping))  # the default profile: core, an empty map
    (finding,) = deliver(h).findings
    assert finding.kind == "missing-destination-sequence"
    assert finding.details["domain"] == "inventory"
    assert "the handler caught the error itself" in finding.message
    assert "returned no commands" in finding.message
    assert "Destinations.deferred_header" in finding.message  # oracle.py's core fix
    assert "MERGE_STRICT" in finding.message
    assert "InvalidArgumentError raised at" in finding.details["caught"]
    assert "in Handle" in finding.details["caught"]


def test_swallowed_stamp_error_under_sequence_map_says_declare_the_domain():
    def stamps_shipping(request):
        try:
            return sagas.stamps_shipping_saga(request)
        except Exception:
            return []

    h = harness(stamps_shipping, profile="sequence-map")
    (finding,) = deliver(h).findings
    assert finding.kind == "missing-destination-sequence"
    assert "declare 'shipping' as an output domain" in finding.message


def logging_stamper(request):
    try:
        return stamping(request)
    except Exception:
        log.exception("saga_failed")  # the record carries the exception
        return []


def test_a_swallowed_stamp_error_logged_with_its_exception_is_missing_destination_sequence():
    (finding,) = deliver(harness(logging_stamper)).findings
    assert finding.kind == "missing-destination-sequence"
    assert "caught the error itself" in finding.message


def test_sdk_style_value_error_caught_is_missing_destination_sequence():
    def saga(request):
        try:
            sagas.sdk_style_missing_saga(request)
        except ValueError:
            pass
        return None

    (finding,) = deliver(harness(saga)).findings
    assert finding.kind == "missing-destination-sequence"
    assert finding.details["domain"] == "shipping"
    assert "ValueError raised at" in finding.details["caught"]


def test_a_printing_logger_is_not_seen_but_the_exception_is(capsys):
    printer = PrintingLogger()

    def saga(request):
        try:
            return failing_business(request)
        except Exception as exc:
            printer.error("saga_failed", error=str(exc))
            return []

    (finding,) = deliver(harness(saga)).findings
    assert finding.kind == "silent-handler"
    assert finding.details["error"] == "RuntimeError"
    assert "logged" not in finding.details
    assert len(printer.lines) == 2  # printed twice: by the delivery and the diagnostic call
    assert "saga_failed" in capsys.readouterr().out


def test_an_error_log_without_an_exception_is_silent_handler():
    def saga(request):
        log.error("cannot route %s", sagas.order_of(request).order_id)

    (finding,) = deliver(harness(saga)).findings
    assert finding.kind == "silent-handler"
    assert "it logged at ERROR (tests.silent_router: cannot route o-1)" in finding.message
    assert finding.traceback is None


def test_a_warning_log_is_not_an_error():
    def saga(request):
        log.warning("nothing to do")
        return []

    assert deliver(harness(saga)).findings == []


# -- honest empty replies stay clean --------------------------------------------------------


def test_an_honest_empty_reply_has_no_finding():
    h = harness(sagas.silent_saga)
    assert deliver(h).findings == []
    h.assert_clean()


def test_a_trigger_the_saga_does_not_handle_is_not_diagnosed():
    calls = []

    def call(request_bytes):
        calls.append(request_bytes)
        try:
            raise KeyError("not mine")
        except KeyError:
            return None

    declares_other = SagaTarget(name="other-type", call=call, handled_types=[E.InventoryReserved])
    assert deliver(harness(declares_other)).findings == []
    assert len(calls) == 1  # not called again
    declares_it = SagaTarget(name="order-type", call=call, handled_types=[E.OrderCreated])
    (finding,) = deliver(harness(declares_it)).findings
    assert finding.kind == "silent-handler" and "KeyError" in finding.message


class OutOfProcessTarget(SagaTarget):
    """A target with its own handle_bytes, as grpc:// targets have: nothing inside it runs in
    this process, so it is never called again to be diagnosed."""

    def __init__(self):
        super().__init__(name="remote", call=self.handle_bytes)
        self.calls = 0

    def handle_bytes(self, request_bytes):
        self.calls += 1
        try:
            raise RuntimeError("swallowed on the other side")
        except RuntimeError:
            return S.SagaResponse(), b""


def test_a_target_with_its_own_handle_bytes_like_grpc_is_not_diagnosed():
    target = OutOfProcessTarget()
    assert deliver(harness(target)).findings == []
    assert target.calls == 1


def test_exceptions_the_standard_library_catches_itself_do_not_count():
    def saga(request):
        os.environ.get("ANGZARR_TESTKIT_SURELY_UNSET")  # KeyError raised and caught in os.py
        return []

    assert deliver(harness(saga)).findings == []


def test_stop_iteration_is_control_flow():
    def saga(request):
        it = iter(())
        try:
            next(it)
        except StopIteration:
            return []

    assert deliver(harness(saga)).findings == []


def test_a_handler_that_emits_after_catching_is_not_silent():
    def saga(request):
        try:
            raise LookupError("fallback")
        except LookupError:
            return sagas.strict_deferred_saga(request)

    d = deliver(harness(saga))
    assert len(d.sent) == 1
    assert [f.kind for f in d.findings] == []


def test_a_fact_is_output():
    def saga(request):
        try:
            raise LookupError("fallback")
        except LookupError:
            pass
        fact = T.EventBook(cover=T.Cover(domain="inventory", root=T.UUID(value=uuid_for("s"))))
        page = fact.pages.add()
        page.header.external_deferred.external_id = "x-1"
        page.event.Pack(E.InventoryReserved(order_id="o-1"), type_url_prefix=wire.TYPE_URL_PREFIX)
        return S.SagaResponse(events=[fact])

    assert "silent-handler" not in [f.kind for f in deliver(harness(saga)).findings]


# -- hidden state: the trade-off of calling the handler again -------------------------------


def test_a_handler_that_raises_on_the_diagnostic_call_is_reported_as_having_hidden_state():
    calls = []

    def saga(request):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("second time")
        return []

    (finding,) = deliver(harness(saga)).findings
    assert finding.kind == "silent-handler"
    assert "hidden state" in finding.message and "RuntimeError: second time" in finding.message


def test_a_handler_that_produces_on_the_diagnostic_call_is_not_concluded_on():
    calls = []

    def saga(request):
        calls.append(1)
        try:
            raise RuntimeError("only the first time")
        except RuntimeError:
            pass
        return [] if len(calls) == 1 else sagas.strict_deferred_saga(request)

    d = deliver(harness(saga))
    assert d.sent == [] and d.findings == []


# -- the tracer is the user's -----------------------------------------------------------------


@pytest.mark.skipif(sys.gettrace() is not None, reason="a tracer (coverage, a debugger) is set")
def test_an_existing_trace_function_is_left_alone_and_the_finding_says_so():
    events = []

    def user_tracer(frame, event, arg):
        events.append(event)
        return None

    def saga(request):
        try:
            return failing_business(request)
        except Exception as exc:
            log.error("saga_failed: %s", exc)
            return []

    def quiet(request):
        try:
            return failing_business(request)
        except Exception:
            return []

    h = harness(saga)
    sys.settrace(user_tracer)
    try:
        (finding,) = deliver(h).findings
        quiet_findings = deliver(harness(quiet)).findings
        (stamp_finding,) = deliver(harness(logging_stamper)).findings
        still = sys.gettrace()
    finally:
        sys.settrace(None)
    assert still is user_tracer
    assert events  # the user's tracer kept running
    assert finding.kind == "silent-handler"
    assert "error" not in finding.details  # exceptions were not traced on that call
    assert finding.details["traced"].startswith("no: a trace function was already set")
    assert quiet_findings == []  # a caught exception alone is not seen under a tracer
    # the ERROR record's exception is: the swallowed stamp error is still reported
    assert stamp_finding.kind == "missing-destination-sequence"
    assert "logged at ERROR at" in stamp_finding.details["caught"]


def test_the_diagnosis_restores_no_tracer():
    deliver(harness(ExamplesRouter(failing_business)))
    assert sys.gettrace() is None


# -- storms --------------------------------------------------------------------------------


def storm(saga, **kw):
    return Storm(
        saga,
        source_domain="order",
        output_domains=["inventory"],
        event_source=sagas.one_sku,
        events=30,
        roots=3,
        seed=2,
        progress=False,
        **kw,
    )


def test_a_storm_over_a_swallowing_router_reports_one_silent_handler_defect():
    report = storm("sagas:swallowing_saga").run()
    assert not report.ok
    kinds = report.kinds()
    assert kinds["silent-handler"] == report.counts["handler_calls"] == 30
    groups = [g for g in group_findings(report.findings) if g.kind == "silent-handler"]
    assert len(groups) == 1 and groups[0].count == 30
    summary = report.to_dict()
    assert summary["finding_counts"]["silent-handler"] == 30
    assert report.counts["handler_errors"] == 0  # nothing escaped the handler


def test_a_storm_over_a_router_swallowing_the_stamp_error_fails_under_core():
    report = storm("sagas:swallowing_stamp_saga").run()
    assert not report.ok
    groups = [g for g in group_findings(report.findings) if g.kind != "vacuous-run"]
    assert [(g.kind, g.count) for g in groups] == [("missing-destination-sequence", 30)]
    assert "caught the error itself" in groups[0].first.message


def test_a_storm_over_an_honest_empty_saga_has_no_silent_handler():
    report = storm(sagas.silent_saga, allow_vacuous=True).run()
    assert "silent-handler" not in report.kinds()


# -- property: a finding iff an error was hidden and nothing came out ----------------------

BEHAVIOURS = ("emit", "catch", "log", "catch-log", "nothing", "catch-emit", "warn")


def behaving_saga(plan):
    def saga(request):
        what = plan[sagas.order_of(request).order_id]
        caught = False
        if "catch" in what:
            try:
                {}[what]
            except KeyError:
                caught = True
        if what.endswith("log"):
            log.error("saga_failed")
        if what == "warn":
            log.warning("odd")
        if "emit" in what:
            return sagas.strict_deferred_saga(request)
        assert caught or "catch" not in what
        return []

    return saga


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(BEHAVIOURS), min_size=1, max_size=6))
def test_a_finding_iff_an_exception_was_caught_or_an_error_logged_and_nothing_came_out(choices):
    plan = {f"o-{i}": what for i, what in enumerate(choices)}
    h = harness(behaving_saga(plan))
    for order_id, what in plan.items():
        d = deliver(h, order_id)
        hid = what in ("catch", "log", "catch-log")
        kinds = [f.kind for f in d.findings]
        assert kinds == (["silent-handler"] if hid else []), (what, kinds)
        if hid:
            finding = d.findings[0]
            assert ("error" in finding.details) == ("catch" in what)
            assert ("logged" in finding.details) == what.endswith("log")


# -- angzarr_client ------------------------------------------------------------------------


@pytest.mark.skipif(wire.MODE != "angzarr_client", reason="needs the client wire mode")
def test_sdk_destinations_error_swallowed_by_a_router_is_missing_destination_sequence():
    from angzarr_client.destinations import Destinations as SdkDestinations

    def handle(request):
        destinations = SdkDestinations(request.destination_sequences)
        return [destinations.stamp_command(sagas.reserve(sagas.order_of(request)), "inventory")]

    (finding,) = deliver(harness(ExamplesRouter(handle))).findings
    assert finding.kind == "missing-destination-sequence"
    assert "ValueError raised at" in finding.details["caught"]
    assert "destinations.py" in finding.details["caught"]
    assert "deferred_header" in finding.message


@pytest.mark.skipif(wire.MODE != "angzarr_client", reason="needs the client wire mode")
def test_sdk_saga_that_swallows_is_reported_only_for_the_types_it_handles():
    from angzarr_client.destinations import Destinations as SdkDestinations
    from angzarr_client.saga import Saga, domain, handles, output_domain

    @domain("order")
    @output_domain("inventory")
    class SwallowingSaga(Saga):
        name = "saga-order-swallowing"

        @handles(E.OrderCreated)
        def on_created(self, event: E.OrderCreated, destinations: SdkDestinations):
            try:
                cmd = sagas.reserve(event)
                return destinations.stamp_command(cmd, "inventory")
            except ValueError as exc:
                log.error("saga_failed: %s", exc)
                return None

    h = SagaHarness(SwallowingSaga)
    (finding,) = deliver(h).findings
    assert finding.kind == "missing-destination-sequence"
    d = h.deliver(E.InventoryReserved(order_id="o-2", sku="sku-1"), root=uuid_for("o-2"))
    assert d.findings == []  # not a type it handles
