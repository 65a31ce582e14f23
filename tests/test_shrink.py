"""Shrinking a failing storm to a minimal schedule, written out as a failing pytest file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sagas
from test_storm import one_sku

from angzarr_testkit import ConfigurationError
from angzarr_testkit.simulate import FaultPlan, Storm, read_schedule, shrink

TESTS = Path(__file__).resolve().parent


def failing_storm(path: Path, target="sagas:explicit_saga", **faults) -> None:
    plan = FaultPlan(**(faults or {"duplicate": 0.05, "crash_before_ack": 0.05, "reorder": True}))
    Storm(
        target,
        source_domain="order",
        output_domains=["inventory"],
        events=300,
        roots=10,
        seed=3,
        event_source=one_sku,
        faults=plan,
        trace=path,
        profile="sequence-map",  # the explicit saga's double-apply is a seed-protocol bug
    ).run()


def test_shrinks_to_a_minimal_schedule_that_still_fails(tmp_path):
    trace = tmp_path / "storm.jsonl"
    failing_storm(trace)
    original = read_schedule(trace)
    result = shrink(trace, out_dir=tmp_path / "out")
    assert result.kind == "double-apply"
    assert result.original_deliveries == len(original.steps) > 300
    assert result.deliveries == 2 and result.messages == 1
    assert "double-apply" in result.report.kinds()
    assert result.test_file is not None and result.test_file.exists()


def test_written_test_fails_for_the_same_finding(tmp_path):
    trace = tmp_path / "storm.jsonl"
    failing_storm(trace, crash_before_ack=0.1)
    result = shrink(trace, out_dir=tmp_path / "out")
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(result.test_file)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "[double-apply]" in run.stdout
    assert "1 failed" in run.stdout
    # the Gherkin scenario, with the shared steps, fails for the same finding
    out = result.feature_file.parent
    (out / "steps").mkdir()
    (out / "steps" / "kit.py").write_text("from angzarr_testkit.behave.steps import *  # noqa\n")
    (out / "environment.py").write_text(
        "from angzarr_testkit.behave.environment import before_scenario  # noqa\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "behave", "--no-capture", "--format", "plain", str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "double-apply" in run.stdout + run.stderr
    assert "1 failed" in run.stdout


def test_shrinking_a_given_kind_and_an_object_target(tmp_path):
    trace = tmp_path / "storm.jsonl"
    failing_storm(trace, target=sagas.explicit_saga)
    with pytest.raises(ConfigurationError, match="target="):
        shrink(trace, sagas.explicit_saga, out_dir=tmp_path / "out")
    result = shrink(
        trace,
        sagas.explicit_saga,
        kind="double-apply",
        target="sagas:explicit_saga",
        out_dir=tmp_path / "out",
    )
    assert result.test_file.name == "test_storm_double_apply.py"


def test_nothing_to_shrink(tmp_path):
    trace = tmp_path / "clean.jsonl"
    failing_storm(trace, target="sagas:deferred_saga")
    with pytest.raises(ConfigurationError, match="clean"):
        shrink(trace)
    failing = tmp_path / "failing.jsonl"
    failing_storm(failing)
    with pytest.raises(ConfigurationError, match="no lost-command finding"):
        shrink(failing, kind="lost-command")
    with pytest.raises(ConfigurationError, match="unknown finding kind"):
        shrink(failing, kind="oops")
