"""The angzarr-testkit command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from angzarr_testkit import __version__
from angzarr_testkit.cli import main


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """The CLI writes storm-SEED.jsonl into the working directory."""
    monkeypatch.chdir(tmp_path)


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"angzarr-testkit {__version__}"


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "usage: angzarr-testkit" in out and "demo" in out


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "usage: angzarr-testkit" in capsys.readouterr().out


def test_demo_reports_each_bug_under_its_profile_and_passes_the_fixed_saga(capsys):
    assert main(["demo", "--redeliveries", "2"]) == 0
    out = capsys.readouterr().out
    assert "[missing-destination-sequence] x3" in out and "EMPTY map" in out  # core
    assert "(Sequence mismatch: command expects 0, aggregate at 5) on all 11 attempts" in out
    assert "outcomes over 3 deliveries: ['applied', 'deduped', 'deduped']" in out
    assert "oracle: none" in out
    assert "(profile sequence-map)" in out and "[double-apply]" in out
    assert "deferred MERGE_STRICT saga (profile core)\n   storm seed 7: CLEAN" in out


def test_bad_option_is_a_usage_error(capsys):
    assert main(["demo", "--redeliveries", "0"]) == 2
    err = capsys.readouterr().err
    assert "argument --redeliveries: 0 is not an integer >= 1" in err and err.count("\n") == 1


def test_help_documents_exit_codes_and_the_output_folder(capsys):
    for argv in (["--help"], ["storm", "--help"], ["replay", "--help"], ["shrink", "--help"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0
        out = capsys.readouterr().out
        assert "0  clean" in out and "1  findings" in out and "2  the run could not be done" in out
        assert "ANGZARR_TESTKIT_DIR" in out and ".angzarr-testkit" in out


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("angzarr-testkit")
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert __version__ in result.stdout


# -- storm / replay / shrink ------------------------------------------------------------------

STORM = [
    "storm",
    "sagas:deferred_saga",
    "--source-domain",
    "order",
    "--output-domain",
    "inventory",
    "--events",
    "100",
    "--roots",
    "5",
    "--seed",
    "4",
    "--profile",
    "sequence-map",  # these tests pin the seed protocol (the explicit saga's double-apply)
    "--event-source",
    "test_storm:one_sku",
]


def test_storm_clean_exits_0_with_summary(capsys, tmp_path):
    assert main(STORM + ["--duplicate", "0.2", "--require", "duplicate"]) == 0
    out = capsys.readouterr().out
    assert "storm seed 4: CLEAN" in out and "deliveries" in out
    assert "trace: .angzarr-testkit/storm-4.jsonl" in out
    assert (tmp_path / ".angzarr-testkit" / "storm-4.jsonl").exists()
    # nothing lands in the working directory itself
    assert sorted(p.name for p in tmp_path.iterdir()) == [".angzarr-testkit"]
    assert (tmp_path / ".angzarr-testkit" / ".gitignore").read_text() == "*\n"


def test_output_folder_precedence_flag_then_env(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ANGZARR_TESTKIT_DIR", str(tmp_path / "env"))
    assert main(STORM) == 0
    assert (tmp_path / "env" / "storm-4.jsonl").exists()
    assert main(STORM + ["--output-dir", str(tmp_path / "flag")]) == 0
    assert (tmp_path / "flag" / "storm-4.jsonl").exists()
    assert main(["replay", str(tmp_path / "env" / "storm-4.jsonl")]) == 0
    assert (tmp_path / "env" / "storm-4.replay.jsonl").exists()
    assert not (tmp_path / ".angzarr-testkit").exists()


def test_storm_json_has_the_documented_keys(capsys):
    code = main(["storm", "sagas:explicit_saga", *STORM[2:], "--duplicate", "0.3", "--json"])
    assert code == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["seed"] == 4
    for key in ("deliveries", "redeliveries", "applied", "deduped", "dead_lettered"):
        assert key in data["counts"]
    assert data["fault_coverage"]["duplicate"] > 0
    assert data["findings"][0]["kind"] == "double-apply"
    assert {"kind", "message", "trigger", "target", "sequences"} <= set(data["findings"][0])


def test_storm_missing_required_fault_exits_1(capsys):
    assert main(STORM + ["--require", "crash-before-ack"]) == 1
    assert "required but never occurred: crash-before-ack" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["storm", "nowhere_xyz:saga"], "cannot import module 'nowhere_xyz'"),
        (["storm", "sagas:explicit_saga", "--source-domain", "order"], "event_source"),
        (STORM[:-1] + ["test_storm:nope"], "--event-source: module 'test_storm' has no attribute"),
        (["replay", "/nonexistent/trace.jsonl"], "does not exist"),
    ],
)
def test_target_and_input_errors_exit_2_with_one_line(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("angzarr-testkit: error: ") and needle in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "argv",
    [
        STORM + ["--duplicate", "2"],
        STORM + ["--events", "x"],
        STORM + ["--require", "nope"],
        ["storm"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1


def test_replay_and_shrink_commands(tmp_path, capsys):
    trace = tmp_path / "t.jsonl"
    argv = [
        "storm",
        "sagas:explicit_saga",
        *STORM[2:],
        "--duplicate",
        "0.3",
        "--trace",
        str(trace),
        "--json",
    ]
    assert main(argv) == 1
    first = json.loads(capsys.readouterr().out)
    assert main(["replay", str(trace), "--json"]) == 1
    again = json.loads(capsys.readouterr().out)
    assert again["counts"] == first["counts"] and again["findings"] == first["findings"]
    assert main(["shrink", str(trace), "--out", str(tmp_path / "min")]) == 0
    out = capsys.readouterr().out
    assert "to 2 deliveries of 1 trigger(s) still producing double-apply" in out
    assert (tmp_path / "min" / "test_storm_double_apply.py").exists()


def test_storm_html_report(tmp_path, capsys):
    html = tmp_path / "report.html"
    assert main(STORM + ["--duplicate", "0.2", "--html", str(html)]) == 0
    text = html.read_text()
    assert "<svg" in text and "CLEAN" in text
    assert f"html report: {html}" in capsys.readouterr().out


def test_replay_whose_verdict_differs_says_so(tmp_path, capsys):
    trace = tmp_path / "t.jsonl"
    failing = ["storm", "sagas:explicit_saga", *STORM[2:], "--duplicate", "0.3"]
    assert main([*failing, "--trace", str(trace)]) == 1
    capsys.readouterr()
    # the fixed saga replays the failing schedule clean: exit 0, and it says so
    assert main(["replay", str(trace), "--target", "sagas:deferred_saga"]) == 0
    out = capsys.readouterr().out
    assert "replay verdict differs from the recorded one: recorded NOT CLEAN (double-apply" in out
    assert main(["replay", str(trace), "--target", "sagas:deferred_saga", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["replay"]["verdict_changed"] is True and data["replay"]["recorded_ok"] is False
    assert main(["replay", str(trace), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["replay"]["verdict_changed"] is False


def test_json_says_what_it_truncated(tmp_path, capsys):
    failing = ["storm", "sagas:explicit_saga", *STORM[2:], "--duplicate", "0.5", "--json"]
    assert main([*failing, "--max-findings", "0"]) == 1
    full = json.loads(capsys.readouterr().out)
    total = full["finding_counts"]["double-apply"]
    assert full["truncated"] == {} and full["max_findings_per_kind"] is None
    assert len(full["findings"]) == sum(full["finding_counts"].values())
    assert main([*failing, "--max-findings", "1"]) == 1
    capped = json.loads(capsys.readouterr().out)
    assert capped["max_findings_per_kind"] == 1
    assert total > 1  # the fixed seed has several: the cap really cuts
    assert capped["truncated"]["double-apply"] == total - 1


def test_debug_prints_the_traceback(tmp_path, capsys):
    argv = ["replay", str(tmp_path / "missing.jsonl")]
    assert main(argv) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert main([*argv, "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "TraceError" in err
    assert main(["--debug", *argv]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_shrink_defaults_to_the_output_folder_and_speaks_json(tmp_path, capsys):
    trace = tmp_path / "t.jsonl"
    assert (
        main(
            [
                "storm",
                "sagas:explicit_saga",
                *STORM[2:],
                "--duplicate",
                "0.3",
                "--trace",
                str(trace),
            ]
        )
        == 1
    )
    capsys.readouterr()
    assert main(["shrink", str(trace), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "double-apply" and data["deliveries"] == 2
    assert Path(data["test_file"]).parent == Path(".angzarr-testkit/shrink-t")
    assert (tmp_path / data["test_file"]).exists()


def test_allow_vacuous_waives_only_the_vacuous_run(capsys):
    silent = ["storm", "sagas:silent_saga", *STORM[2:], "--json"]
    assert main(silent) == 1
    assert "vacuous-run" in json.loads(capsys.readouterr().out)["finding_counts"]
    assert main([*silent, "--allow-vacuous"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True
    # a real finding still fails a storm allowed to be vacuous
    assert main(["storm", "sagas:exploding_saga", *STORM[2:], "--allow-vacuous"]) == 1


def test_fail_on_makes_rejections_fail_and_replays_keep_it(tmp_path, capsys):
    trace = tmp_path / "t.jsonl"
    argv = ["storm", "sagas:bad_cover_saga", *STORM[2:], "--json", "--trace", str(trace)]
    assert main([*argv, "--fail-on", "rejected-command"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert {"rejected-command", "invalid-command"} & set(data["finding_counts"])
    assert main(["replay", str(trace), "--json"]) == 1  # the header keeps fail_on
    assert json.loads(capsys.readouterr().out)["replay"]["verdict_changed"] is False


def test_delivery_budget_stops_the_storm(capsys):
    code = main(STORM + ["--delivery-budget", "3", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and "budget-exhausted" in data["finding_counts"]


# -- with --json, stdout holds only the document ----------------------------------------------

NOISY = """\
import os, sys

import sagas
from test_storm import one_sku

print("printed while importing")
HELD = sys.stdout  # a logger that keeps the stream it was given (structlog's PrintLogger)
ORIGINAL = sys.__stdout__  # ... or the process's own stdout


def source(rng, i):
    print("print from the event source")
    HELD.write("held stream\\n")
    HELD.flush()
    ORIGINAL.write("original stream\\n")
    ORIGINAL.flush()
    os.write(1, b"fd-level write\\n")
    return one_sku(rng, i)


saga = sagas.strict_deferred_saga
"""


def test_json_stdout_is_only_the_document(tmp_path):
    (tmp_path / "noisy.py").write_text(NOISY)
    tests = Path(__file__).resolve().parent
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tests), env.get("PYTHONPATH", "")])
    argv = [
        "storm",
        "noisy:saga",
        "--source-domain",
        "order",
        "--output-domain",
        "inventory",
        "--events",
        "3",
        "--event-source",
        "noisy:source",
        "--json",
    ]
    run = subprocess.run(
        [sys.executable, "-m", "angzarr_testkit.cli", *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)  # nothing else on stdout
    assert data["ok"] is True
    for noise in (
        "printed while importing",
        "print from the event source",
        "held stream",
        "original stream",
        "fd-level write",
    ):
        assert noise in run.stderr and noise not in run.stdout


def test_storm_shards_and_workers_give_one_trace(capsys, tmp_path):
    traces = []
    for workers in ("1", "2"):
        trace = tmp_path / f"w{workers}.jsonl"
        args = ["--shards", "2", "--workers", workers, "--duplicate", "0.2", "--json"]
        assert main(STORM + args + ["--trace", str(trace)]) == 0
        traces.append(trace.read_bytes())
    assert traces[0] == traces[1]
    assert json.loads(traces[0].splitlines()[0])["shards"] == 2
    assert main(["replay", str(tmp_path / "w2.jsonl")]) == 0


@pytest.mark.parametrize(
    "args", [["--shards", "0"], ["--workers", "x"], ["--shards", "2", "--workers", "3"]]
)
def test_storm_bad_shards_or_workers_exit_2(capsys, args):
    assert main(STORM + args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("shards" in err or "--workers" in err)
