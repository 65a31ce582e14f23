"""The angzarr-testkit command."""

from __future__ import annotations

import json
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


def test_demo_reports_double_apply_and_clean_deferred(capsys):
    assert main(["demo", "--redeliveries", "2"]) == 0
    out = capsys.readouterr().out
    assert "[double-apply]" in out
    assert "outcomes over 3 deliveries: ['applied', 'deduped', 'deduped']" in out
    assert "oracle: none" in out


def test_bad_option_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["demo", "--redeliveries", "0"])
    assert info.value.code == 2
    assert "--redeliveries must be at least 1" in capsys.readouterr().err


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
    "--event-source",
    "test_storm:one_sku",
]


def test_storm_clean_exits_0_with_summary(capsys, tmp_path):
    assert main(STORM + ["--duplicate", "0.2", "--require", "duplicate"]) == 0
    out = capsys.readouterr().out
    assert "storm seed 4: CLEAN" in out and "deliveries" in out
    assert "trace: storm-4.jsonl" in out and (tmp_path / "storm-4.jsonl").exists()


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
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


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
