"""Profile comparisons: compare_profiles (storms), compare_scenario (harnesses), the compare
command; docs/compare.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pms
import pytest
import sagas
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_storm import one_sku

from angzarr_testkit import (
    COMPARED_PROFILES,
    PROFILES,
    FaultPlan,
    ProfileComparison,
    UsageError,
    UserCodeError,
    compare_profiles,
    compare_scenario,
    uuid_for,
    wire,
)
from angzarr_testkit.cli import main

E = wire.examples_pb2
STORM = dict(
    source_domain="order",
    output_domains=["inventory"],
    events=60,
    roots=5,
    seed=4,
    event_source=one_sku,
    faults=FaultPlan(duplicate=0.2),
)
ORDER = E.OrderCreated(order_id="o-1", sku="sku-1", quantity=1)
CLI = [
    "compare",
    "sagas:explicit_saga",
    "--source-domain",
    "order",
    "--output-domain",
    "inventory",
    "--events",
    "40",
    "--roots",
    "4",
    "--seed",
    "4",
    "--duplicate",
    "0.2",
    "--event-source",
    "test_storm:one_sku",
]


def publish_lines(path: str) -> list[str]:
    return [line for line in Path(path).read_text().splitlines() if '"type":"publish"' in line]


# -- storms -------------------------------------------------------------------------------
def test_the_explicit_saga_from_the_map_protocol_to_core(tmp_path):
    c = compare_profiles(sagas.explicit_saga, trace_dir=tmp_path, **STORM)
    assert isinstance(c, ProfileComparison) and c.profiles == list(COMPARED_PROFILES)
    old, new = c.run("sequence-map"), c.run("core")
    # the same seed publishes the same triggers under both profiles
    assert c.same_triggers is True
    assert publish_lines(old.trace) == publish_lines(new.trace) != []
    assert old.counts["published"] == new.counts["published"] == 60
    assert Path(old.trace) == tmp_path / "compare-4-sequence-map.jsonl"
    assert Path(new.trace) == tmp_path / "compare-4-core.jsonl"
    # what changes: the redelivery bug goes, the empty map fails every trigger
    assert not old.ok and old.vacuous is None and old.finding_kinds["double-apply"] > 0
    assert set(new.finding_kinds) == {"missing-destination-sequence", "vacuous-run"}
    assert new.vacuous == "no-output" and new.verdict == "VACUOUS (no-output)"
    assert new.counts["applied"] == 0 and old.counts["applied"] > 0
    assert not c.ok
    changes = {ch.row: ch for ch in c.changes()}
    assert changes["double-apply"].values == {
        "sequence-map": old.finding_kinds["double-apply"],
        "core": 0,
    }
    assert list(changes["double-apply"].explanations) == ["sequence-map"]
    assert (
        "was applied by business logic more than once"
        in (changes["double-apply"].explanations["sequence-map"])
    )
    assert "EMPTY map" in changes["missing-destination-sequence"].explanations["core"]
    assert "published" not in changes  # unchanged rows are not changes

    text = c.render()
    doubles = old.finding_kinds["double-apply"]
    misses = new.finding_kinds["missing-destination-sequence"]
    assert "profile comparison: storm of " in text and "seed 4" in text
    assert "the same 60 triggers under every profile" in text
    assert "what changes (sequence-map -> core):" in text
    assert f"- double-apply {doubles:,} -> 0" in text
    assert f"- missing-destination-sequence 0 -> {misses:,}" in text
    assert "    under core: the handler stamped domain 'inventory'" in text
    assert "- verdict: NOT CLEAN -> VACUOUS (no-output)" in text
    assert "note: under core the run exercised nothing (no-output)" in text
    header = next(line for line in text.splitlines() if "sequence-map" in line)
    assert header.split() == ["sequence-map", "core"]


def test_json_document(tmp_path):
    c = compare_profiles(sagas.explicit_saga, trace_dir=tmp_path, **STORM)
    data = json.loads(json.dumps(c.to_dict()))
    assert set(data) == {
        "subject",
        "target",
        "seed",
        "profiles",
        "ok",
        "same_triggers",
        "runs",
        "changes",
        "notes",
    }
    assert data["subject"] == "storm" and data["seed"] == 4 and data["ok"] is False
    assert data["profiles"] == ["sequence-map", "core"] and data["same_triggers"] is True
    core = data["runs"]["core"]
    assert set(core) == {
        "profile",
        "ok",
        "verdict",
        "vacuous",
        "counts",
        "finding_counts",
        "first_findings",
        "aggregates",
        "trace",
    }
    for name in ("applied", "deduped", "retried_out", "dead_lettered", "rejected"):
        assert name in core["counts"]
    assert core["vacuous"] == "no-output" and core["finding_counts"]["vacuous-run"] == 1
    change = next(ch for ch in data["changes"] if ch["row"] == "double-apply")
    assert change["section"] == "findings" and change["values"]["core"] == 0


def test_a_clean_saga_changes_nothing_and_is_ok():
    c = compare_profiles(sagas.strict_deferred_saga, **STORM)
    assert c.ok and [r.verdict for r in c.runs] == ["CLEAN", "CLEAN"]
    assert c.changes() == []
    assert "- nothing: every profile gives the same verdict, counts and findings" in c.render()


def test_three_profiles_in_the_order_given():
    c = compare_profiles(
        sagas.deferred_saga, profiles=["core", "deferred-rewrite", "sequence-map"], **STORM
    )
    assert c.profiles == ["core", "deferred-rewrite", "sequence-map"]
    assert "what changes (core -> deferred-rewrite -> sequence-map):" in c.render()


def test_a_vacuous_profile_is_never_an_honest_looking_row():
    c = compare_profiles(sagas.silent_saga, **STORM)
    assert [r.verdict for r in c.runs] == ["VACUOUS (no-output)"] * 2 and not c.ok
    allowed = compare_profiles(sagas.silent_saga, allow_vacuous=True, **STORM)
    assert allowed.ok  # as the storms were told, but each row still says it
    assert [r.vacuous for r in allowed.runs] == ["no-output", "no-output"]
    assert allowed.runs[0].verdict == "CLEAN but VACUOUS (no-output, allowed)"
    assert "so its CLEAN proves nothing" in allowed.render()


def test_storms_whose_schedules_part_say_so():
    # crash-mid-dispatch draws among the commands sent: core sends none for the explicit saga
    storm = dict(STORM, faults=FaultPlan(duplicate=0.2, crash_mid_dispatch=0.4))
    c = compare_profiles(sagas.explicit_saga, **storm)
    assert c.same_triggers is False
    assert "did not publish the same triggers" in c.render()
    assert "the same 60 triggers" not in c.render()


# -- harness scenarios ---------------------------------------------------------------------
def redelivered(h):
    h.given_destination("inventory", uuid_for("sku-1"), next_sequence=5)
    d = h.deliver(ORDER, root=uuid_for("order-1"))
    h.redeliver(d, times=2)


def test_scenario_compares_findings_outcomes_and_applied_counts():
    c = compare_scenario(
        redelivered, sagas.explicit_saga, source_domain="order", output_domains=["inventory"]
    )
    assert c.subject == "scenario" and c.seed is None and c.same_triggers is None
    old, new = c.run("sequence-map"), c.run("core")
    label = next(iter(old.aggregates))
    assert label.startswith("inventory/")
    assert old.aggregates[label] == 3 and new.aggregates[label] == 0
    assert old.counts["deliveries"] == new.counts["deliveries"] == 3
    assert old.counts["applied"] == 3 and new.counts["handler_errors"] == 3
    assert set(old.finding_kinds) == {"double-apply"}
    assert new.finding_kinds == {"missing-destination-sequence": 3}
    text = c.render()
    assert "aggregates (applied)" in text and f"- {label} 3 -> 0" in text
    assert "profile comparison: scenario of " in text


def test_scenario_merge_strategy_matters_under_core_only():
    c = compare_scenario(
        redelivered, sagas.deferred_saga, source_domain="order", output_domains=["inventory"]
    )
    assert c.run("sequence-map").ok and not c.run("core").ok
    assert "sequence-mismatch" in c.run("core").finding_kinds
    assert "- verdict: CLEAN -> NOT CLEAN" in c.render()


def test_scenario_of_a_process_manager():
    corr = "6f1c2d3e-0000-4000-8000-000000000001"

    def workflow(h):
        h.deliver(ORDER, domain="order", root=uuid_for("order-1"), correlation_id=corr)

    c = compare_scenario(
        workflow,
        pms.fulfillment_pm,
        pm_domain="fulfillment",
        sources=["order", "inventory"],
        output_domains=["inventory", "shipping"],
        profiles=["deferred-rewrite", "core"],
    )
    assert [r.counts["deliveries"] for r in c.runs] == [1, 1]
    assert all(r.counts["applied"] == 1 for r in c.runs)


@settings(max_examples=25, deadline=None)
@given(
    profiles=st.lists(st.sampled_from(PROFILES), min_size=2, max_size=3, unique=True),
    redeliveries=st.integers(0, 3),
)
def test_a_profile_run_does_not_depend_on_the_others(profiles, redeliveries):
    def scenario(h):
        h.given_destination("inventory", uuid_for("sku-1"), next_sequence=2)
        h.redeliver(h.deliver(ORDER, root=uuid_for("order-1")), times=redeliveries)

    options = dict(source_domain="order", output_domains=["inventory"])
    c = compare_scenario(scenario, sagas.explicit_saga, profiles=profiles, **options)
    assert c.profiles == profiles
    for run in c.runs:  # the same as comparing this profile with any other
        other = next(p for p in PROFILES if p != run.profile)
        alone = compare_scenario(
            scenario, sagas.explicit_saga, profiles=[run.profile, other], **options
        ).run(run.profile)
        assert alone == run
    changed = {(ch.section, ch.row) for ch in c.changes()}
    data = json.loads(json.dumps(c.to_dict()))
    for ch in data["changes"]:
        assert list(ch["values"]) == profiles and len(set(map(str, ch["values"].values()))) > 1
    for run in c.runs:  # a row that is not a change has one value under every profile
        for kind, n in run.finding_kinds.items():
            if ("findings", kind) not in changed:
                assert all(r.finding_kinds.get(kind) == n for r in c.runs)


def test_a_scenario_that_delivers_nothing_is_vacuous_in_every_row():
    c = compare_scenario(lambda h: None, sagas.deferred_saga, source_domain="order")
    assert [r.verdict for r in c.runs] == ["VACUOUS (no-deliveries)"] * 2
    assert all(r.finding_kinds == {"vacuous-run": 1} for r in c.runs) and not c.ok
    allowed = compare_scenario(
        lambda h: None, sagas.deferred_saga, source_domain="order", allow_vacuous=True
    )
    assert allowed.ok and allowed.runs[0].verdict.startswith("CLEAN but VACUOUS")


def test_a_scenario_that_raises_names_itself_and_the_profile():
    def broken(h):
        raise RuntimeError("typo in the test")

    with pytest.raises(UserCodeError, match=r"compare scenario \(profile sequence-map\) "):
        compare_scenario(broken, sagas.deferred_saga, source_domain="order")


# -- bad input (API) -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "profiles, text",
    [
        (["core"], "a comparison needs two profiles or more"),
        (["core", "core"], "profiles[1] repeats 'core'"),
        (["core", "nope"], "profiles[1]: got 'nope'"),
        ("core", "a single name is written as a one-item list"),
        ([], "a comparison needs two profiles or more"),
        (None, "profiles: got None"),
        ([1, "core"], "profiles[0]: got 1"),
    ],
)
def test_bad_profiles(profiles, text):
    for call in (
        lambda: compare_profiles(sagas.deferred_saga, profiles=profiles, **STORM),
        lambda: compare_scenario(
            redelivered, sagas.deferred_saga, profiles=profiles, source_domain="order"
        ),
    ):
        with pytest.raises(UsageError) as info:
            call()
        assert text in str(info.value)
        assert info.value.details["parameter"].startswith("profiles")


@pytest.mark.parametrize(
    "kwargs, parameter",
    [
        (dict(profile="core"), "profile"),
        (dict(trace="x.jsonl"), "trace"),
        (dict(trace_dir="/nonexistent/dir"), "trace_dir"),
        (dict(trace_dir=42), "trace_dir"),
        (dict(events=-1), "events"),
    ],
)
def test_bad_storm_arguments_are_refused_before_any_storm_runs(kwargs, parameter, tmp_path):
    with pytest.raises(UsageError) as info:
        compare_profiles(sagas.deferred_saga, **{**STORM, **kwargs})
    assert info.value.details["parameter"] == parameter
    assert f"{parameter}:" in str(info.value)


@pytest.mark.parametrize(
    "scenario, kwargs, parameter",
    [
        (None, {}, "scenario"),
        ("redelivered", {}, "scenario"),
        (lambda: None, {}, "scenario"),
        (redelivered, dict(profile="core"), "profile"),
        (redelivered, dict(record=False), "record"),
        (redelivered, dict(kind="aggregate"), "kind"),
    ],
)
def test_bad_scenario_arguments(scenario, kwargs, parameter):
    with pytest.raises(UsageError) as info:
        compare_scenario(scenario, sagas.deferred_saga, source_domain="order", **kwargs)
    assert info.value.details["parameter"] == parameter
    assert str(info.value).startswith(f"{parameter}:")


def test_run_names_the_compared_profiles():
    c = compare_profiles(sagas.strict_deferred_saga, **STORM)
    with pytest.raises(KeyError, match="sequence-map"):
        c.run("deferred-rewrite")


# -- the command ---------------------------------------------------------------------------
@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ANGZARR_TESTKIT_DIR", raising=False)
    return tmp_path


def test_cli_text_exit_1_and_traces_in_the_output_folder(capsys, in_tmp):
    assert main(CLI) == 1
    out = capsys.readouterr().out
    assert "profile comparison: storm of sagas:explicit_saga, seed 4" in out
    assert "- missing-destination-sequence 0 -> " in out and "- double-apply " in out
    folder = in_tmp / ".angzarr-testkit"
    assert (folder / "compare-4-sequence-map.jsonl").exists()
    assert (folder / "compare-4-core.jsonl").exists()
    assert f"trace (core): {Path('.angzarr-testkit') / 'compare-4-core.jsonl'}" in out
    assert sorted(p.name for p in in_tmp.iterdir()) == [".angzarr-testkit"]


def test_cli_clean_exit_0_and_output_dir_then_env(capsys, in_tmp, monkeypatch):
    clean = ["compare", "sagas:strict_deferred_saga", *CLI[2:]]
    monkeypatch.setenv("ANGZARR_TESTKIT_DIR", str(in_tmp / "env"))
    assert main(clean) == 0
    assert (in_tmp / "env" / "compare-4-core.jsonl").exists()
    assert (
        main([*clean, "--output-dir", str(in_tmp / "flag"), "--profiles", "core,sequence-map"]) == 0
    )
    assert (in_tmp / "flag" / "compare-4-sequence-map.jsonl").exists()
    assert "what changes (core -> sequence-map):" in capsys.readouterr().out


def test_cli_json(capsys, in_tmp):
    assert main([*CLI, "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["profiles"] == ["sequence-map", "core"] and data["ok"] is False
    assert data["runs"]["core"]["vacuous"] == "no-output"


NOISY = """\
import os, sys

import sagas
from test_storm import one_sku

print("printed while importing")


def source(rng, i):
    print("print from the event source")
    os.write(1, b"fd-level write\\n")
    return one_sku(rng, i)


saga = sagas.strict_deferred_saga
"""


def test_cli_json_stdout_is_only_the_document(tmp_path):
    (tmp_path / "noisy.py").write_text(NOISY)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), env.get("PYTHONPATH", "")])
    argv = ["compare", "noisy:saga", *CLI[2:-1], "noisy:source", "--json"]
    run = subprocess.run(
        [sys.executable, "-m", "angzarr_testkit.cli", *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["ok"] is True
    for noise in ("printed while importing", "print from the event source", "fd-level write"):
        assert noise in run.stderr and noise not in run.stdout


def test_cli_help_shows_the_defaults_and_the_exit_statuses(capsys):
    with pytest.raises(SystemExit) as info:
        main(["compare", "--help"])
    assert info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--profiles P,P" in out and "(default: sequence-map,core:" in out
    assert "0 every profile's storm is clean" in out
    assert "1 the storm of at least one profile is not clean" in out
    assert "ANGZARR_TESTKIT_DIR" in out and "compare-SEED-PROFILE.jsonl" in out


@pytest.mark.parametrize(
    "argv, text",
    [
        ([*CLI, "--profiles", "core"], "'core' names one profile; give two or more"),
        ([*CLI, "--profiles", "core,core"], "'core' is given twice"),
        ([*CLI, "--profiles", "core,nope"], "'nope' is not a profile (choose from core"),
        # --profile abbreviates --profiles (argparse): one profile is still refused
        ([*CLI, "--profile", "core"], "argument --profiles: 'core' names one profile"),
        ([*CLI, "--trace", "x.jsonl"], "unrecognized arguments: --trace"),
        (["compare", "nowhere_xyz:saga"], "cannot import module 'nowhere_xyz'"),
    ],
)
def test_cli_usage_errors_exit_2_with_one_line(argv, text, capsys, in_tmp):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert text in captured.err


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(garbage=st.text(max_size=40))
def test_cli_garbage_profiles_exit_2_with_one_stderr_line(garbage, capsys):
    names = [n.strip() for n in garbage.split(",")]
    valid = len(names) >= 2 and len(set(names)) == len(names) and set(names) <= set(PROFILES)
    if valid:
        return
    capsys.readouterr()
    assert main(["compare", "sagas:explicit_saga", f"--profiles={garbage}"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("angzarr-testkit")
    assert "--profiles" in captured.err
