"""Broker mode: storms through a real RabbitMQ on loopback, calibrated against the in-memory bus.

`make test` starts the suite's own private broker (scripts/rabbitmq: its own node name, ports and
data directory, never a broker already running) and sets ANGZARR_TESTKIT_AMQP_URL. In CI a
missing or dead broker fails these tests with the reason; locally they are skipped when the
variable is unset (or deselect them with -m "not rabbitmq").
"""

from __future__ import annotations

import json
import os

import pms
import pytest
import sagas

from angzarr_testkit import ConfigurationError
from angzarr_testkit.cli import main
from angzarr_testkit.simulate import FaultPlan, Storm

pytestmark = pytest.mark.rabbitmq

CALIBRATED = ("deliveries", "redeliveries", "applied", "deduped", "dead_lettered", "duplicates")


@pytest.fixture(scope="module")
def broker() -> str:
    url = os.environ.get("ANGZARR_TESTKIT_AMQP_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail(
                "ANGZARR_TESTKIT_AMQP_URL is not set: CI must run the broker tests "
                "(make test starts RabbitMQ with scripts/rabbitmq)"
            )
        pytest.skip("no broker: set ANGZARR_TESTKIT_AMQP_URL (make test starts RabbitMQ)")
    pytest.importorskip("pika")
    from angzarr_testkit.transports.rabbitmq import broker_available

    reason = broker_available(url)
    if reason is not None:
        pytest.fail(f"the RabbitMQ broker is not usable: {reason}")
    return url


def storm(saga=sagas.deferred_saga, **kw):
    kw.setdefault("profile", "sequence-map")  # broker parity, with the seed protocol's bug
    kw.setdefault("source_domain", "order")
    kw.setdefault("output_domains", ["inventory"])
    kw.setdefault("event_source", sagas.one_sku)
    kw.setdefault("events", 200)
    kw.setdefault("roots", 10)
    kw.setdefault("seed", 11)
    return Storm(saga, **kw)


def deliver_lines(report):
    return [json.loads(x) for x in report.trace.lines() if '"type":"deliver"' in x]


def test_calibration_same_seed_same_counts(broker):
    faults = FaultPlan(
        duplicate=0.1,
        crash_before_ack=0.05,
        crash_mid_dispatch=0.05,
        nack_requeue=0.05,
        concurrent_redelivery=0.05,
    )
    memory = storm(faults=faults, concurrency=2).run()
    real = storm(faults=faults, concurrency=2, broker=broker).run()
    assert {k: real.counts[k] for k in CALIBRATED} == {k: memory.counts[k] for k in CALIBRATED}
    assert real.fault_coverage == memory.fault_coverage
    assert real.ok and memory.ok
    assert real.counts["applied"] == 200


def test_redelivered_flags_and_counts_come_from_the_broker(broker):
    real = storm(
        faults=FaultPlan(crash_before_ack=1.0, delivery_limit=3), events=10, broker=broker
    ).run()
    lines = deliver_lines(real)
    by_msg: dict[int, list] = {}
    for line in lines:
        by_msg.setdefault(line["msg"], []).append((line["count"], line["redelivered"]))
    assert all(v == [(1, False), (2, True), (3, True), (4, True)] for v in by_msg.values())
    assert real.counts["dead_lettered"] == 10  # the quorum queue's x-delivery-limit
    assert real.kinds() == {"dead-lettered": 10}


def test_reorder_through_the_broker_keeps_the_oracle_clean(broker):
    real = storm(
        faults=FaultPlan(reorder=True, crash_before_ack=0.1, duplicate=0.1), broker=broker
    ).run()
    assert real.fault_coverage["reorder"] > 0
    assert real.ok and real.counts["applied"] == 200


def test_explicit_saga_double_applies_through_the_broker(broker):
    real = storm(sagas.explicit_saga, faults=FaultPlan(duplicate=0.2), broker=broker).run()
    memory = storm(sagas.explicit_saga, faults=FaultPlan(duplicate=0.2)).run()
    assert real.kinds() == memory.kinds() and "double-apply" in real.kinds()


@pytest.mark.parametrize(
    ("profile", "at_the_limit"), [("sequence-map", "dead-lettered"), ("core", "requeue-loop")]
)
def test_process_manager_poison_trigger_dead_lettered_by_the_broker(broker, profile, at_the_limit):
    # the kit's queue has an x-delivery-limit; core declares none, so under core a message the
    # broker dead-letters is reported as the loop it would be in production
    real = Storm(
        pms.poison_pm,
        kind="process-manager",
        pm_domain="fulfillment",
        sources=["order"],
        output_domains=["inventory"],
        events=3,
        roots=3,
        seed=1,
        event_source=pms.order_events,
        faults=FaultPlan(delivery_limit=2),
        broker=broker,
        profile=profile,
    ).run()
    # every delivery failed: nothing was applied, so the storm is also vacuous
    assert real.counts["deliveries"] == 9 and real.kinds() == {
        "handler-error": 9,
        at_the_limit: 3,
        "vacuous-run": 1,
    }


def test_cli_broker_option(broker, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(
        [
            "storm",
            "sagas:strict_deferred_saga",
            "--source-domain",
            "order",
            "--output-domain",
            "inventory",
            "--event-source",
            "sagas:one_sku",
            "--events",
            "50",
            "--duplicate",
            "0.2",
            "--broker",
            broker,
            "--json",
        ]
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out)["counts"]["duplicates"] > 0


def test_unreachable_broker_is_a_clear_error():
    pytest.importorskip("pika")
    with pytest.raises(ConfigurationError, match="cannot connect to the RabbitMQ broker"):
        storm(events=1, broker="amqp://guest:guest@127.0.0.1:1/%2F").run()
    with pytest.raises(ConfigurationError, match="AMQP URL"):
        storm(broker="http://127.0.0.1:5672")


SCRIPT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts", "rabbitmq"
)


def run_script(*args):
    import subprocess

    return subprocess.run(
        ["bash", SCRIPT, *args], capture_output=True, text=True, timeout=30, check=False
    )


def test_script_stop_refuses_what_it_did_not_start(tmp_path):
    """scripts/rabbitmq stop only touches a state directory its own start created."""
    (tmp_path / "env").write_text("NODE=rabbit@localhost\n")
    result = run_script("stop", str(tmp_path))
    assert result.returncode == 1
    assert "refusing to touch it" in result.stderr
    assert (tmp_path / "env").exists()
    assert run_script("stop").returncode == 1  # no directory: usage
    assert run_script("stop", str(tmp_path / "gone")).returncode == 0  # already stopped
    bad = run_script("restart")
    assert bad.returncode == 2 and "usage" in bad.stderr
