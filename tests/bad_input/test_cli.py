"""Bad input to the ``angzarr-testkit`` command, table-driven over every subcommand.

Each case asserts the documented outcome: exit status 2, nothing on stdout, exactly one line
on stderr that names the option, the path or the user code at fault. Never a traceback,
never exit 1 (1 means findings), never a hang.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from angzarr_testkit.cli import main

pytestmark = pytest.mark.timeout(30)

STORM = [
    "storm",
    "sagas:explicit_saga",
    "--source-domain",
    "order",
    "--output-domain",
    "inventory",
    "--events",
    "8",
    "--roots",
    "2",
    "--event-source",
    "test_storm:one_sku",
]

USER_CODE = {
    "cli_bad_exits.py": "import sys\nsys.exit(3)\n",
    "cli_bad_raises.py": "raise RuntimeError('broken module')\n",
    "cli_bad_sources.py": """\
import sys


class BadStr(Exception):
    def __str__(self):
        raise RuntimeError("no text")


def boom(rng, i):
    raise ValueError("boom-source")


def one_arg(rng):
    return None


def exits(rng, i):
    sys.exit(4)


def bad_str(rng, i):
    raise BadStr()


def garbage(rng, i):
    return "not an event"
""",
}


@pytest.fixture
def paths(tmp_path, monkeypatch):
    """Files the cases name: recorded traces (failing and clean), damaged copies, user code
    modules, a plain file and a directory. The working directory is ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ANGZARR_TESTKIT_DIR", raising=False)
    for name, text in USER_CODE.items():
        (tmp_path / name).write_text(text)
    good = tmp_path / "good.jsonl"
    assert main([*STORM, "--duplicate", "0.5", "--trace", str(good)]) == 1
    clean = tmp_path / "clean.jsonl"
    assert main(["storm", "sagas:strict_deferred_saga", *STORM[2:], "--trace", str(clean)]) == 0
    data = good.read_bytes()
    (tmp_path / "empty.jsonl").write_bytes(b"")
    (tmp_path / "binary.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    (tmp_path / "garbage.jsonl").write_text("hello world\nnot json\n")
    (tmp_path / "other.jsonl").write_text('{"tool": "someone-else", "event": 1}\n')
    (tmp_path / "v1.jsonl").write_text('{"type":"storm","version":1,"target":"sagas:x"}\n')
    (tmp_path / "cut.jsonl").write_bytes(data[: len(data) * 2 // 3])
    (tmp_path / "nosummary.jsonl").write_bytes(b"\n".join(data.splitlines()[:-1]) + b"\n")
    (tmp_path / "edited.jsonl").write_bytes(
        data.replace(b'"fault":null', b'"fault":"nack-requeue"', 1)
    )
    lines = data.splitlines(keepends=True)
    (tmp_path / "dropped.jsonl").write_bytes(b"".join(lines[:4] + lines[5:]))
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "a-dir").mkdir()
    return tmp_path


# (id, argv, needle): {tmp} is the working directory.
CASES = [
    # top level
    ("unknown-command", ["explode"], "explode"),
    ("unknown-flag", ["--bogus"], "--bogus"),
    # storm: flag values
    ("storm-no-target", ["storm"], "TARGET"),
    ("storm-rate-high", [*STORM, "--duplicate", "2"], "--duplicate"),
    ("storm-rate-nan", [*STORM, "--crash-before-ack", "nan"], "--crash-before-ack"),
    ("storm-rate-text", [*STORM, "--nack-requeue", "lots"], "--nack-requeue"),
    ("storm-events-negative", [*STORM, "--events", "-1"], "--events"),
    ("storm-events-text", [*STORM, "--events", "many"], "--events"),
    ("storm-events-huge", [*STORM, "--events", str(2**70)], "--events"),
    ("storm-roots-zero", [*STORM, "--roots", "0"], "--roots"),
    ("storm-seed-text", [*STORM, "--seed", "x"], "--seed"),
    ("storm-seed-huge", [*STORM, "--seed", str(2**80)], "--seed"),
    ("storm-concurrency-zero", [*STORM, "--concurrency", "0"], "--concurrency"),
    ("storm-delivery-limit-zero", [*STORM, "--delivery-limit", "0"], "--delivery-limit"),
    ("storm-require-unknown", [*STORM, "--require", "meteor"], "--require"),
    ("storm-fail-on-unknown", [*STORM, "--fail-on", "meteor"], "--fail-on"),
    ("storm-budget-zero", [*STORM, "--delivery-budget", "0"], "--delivery-budget"),
    ("storm-max-findings-negative", [*STORM, "--max-findings", "-1"], "--max-findings"),
    ("storm-profile-unknown", [*STORM, "--profile", "fast"], "--profile"),
    ("storm-broker-not-amqp", [*STORM, "--broker", "http://x"], "broker"),
    (
        "storm-concurrent-needs-two",
        [*STORM, "--concurrent-redelivery", "0.5", "--concurrency", "1"],
        "concurrency",
    ),
    # storm: output paths
    ("storm-trace-is-dir", [*STORM, "--trace", "{tmp}/a-dir"], "--trace"),
    ("storm-trace-no-dir", [*STORM, "--trace", "{tmp}/nowhere/t.jsonl"], "--trace"),
    ("storm-trace-under-file", [*STORM, "--trace", "{tmp}/a-file/t.jsonl"], "--trace"),
    ("storm-html-no-dir", [*STORM, "--html", "{tmp}/nowhere/r.html"], "--html"),
    ("storm-html-is-dir", [*STORM, "--html", "{tmp}/a-dir"], "--html"),
    ("storm-output-dir-is-file", [*STORM, "--output-dir", "{tmp}/a-file"], "a-file"),
    # storm: targets and user code
    ("storm-target-missing", ["storm", "nowhere_xyz:saga"], "nowhere_xyz"),
    ("storm-target-no-colon", ["storm", "nocolon"], "nocolon"),
    ("storm-target-no-attr", ["storm", "sagas:nope"], "nope"),
    ("storm-target-raises", ["storm", "cli_bad_raises:saga"], "cli_bad_raises"),
    ("storm-target-exits", ["storm", "cli_bad_exits:saga"], "SystemExit"),
    ("source-no-attr", [*STORM[:-1], "test_storm:nope"], "--event-source"),
    ("source-missing-module", [*STORM[:-1], "nowhere_src:x"], "--event-source"),
    ("source-raises", [*STORM[:-1], "cli_bad_sources:boom"], "boom-source"),
    ("source-arity", [*STORM[:-1], "cli_bad_sources:one_arg"], "one_arg"),
    ("source-exits", [*STORM[:-1], "cli_bad_sources:exits"], "SystemExit"),
    ("source-bad-str", [*STORM[:-1], "cli_bad_sources:bad_str"], "BadStr"),
    ("source-garbage", [*STORM[:-1], "cli_bad_sources:garbage"], "event"),
    # compare: the storm's options, --profiles and the output folder
    ("compare-no-target", ["compare"], "TARGET"),
    ("compare-rate-high", ["compare", *STORM[1:], "--duplicate", "2"], "--duplicate"),
    ("compare-one-profile", ["compare", *STORM[1:], "--profiles", "core"], "--profiles"),
    ("compare-profile-twice", ["compare", *STORM[1:], "--profiles", "core,core"], "twice"),
    ("compare-profile-unknown", ["compare", *STORM[1:], "--profiles", "core,fast"], "'fast'"),
    ("compare-no-trace-option", ["compare", *STORM[1:], "--trace", "t.jsonl"], "--trace"),
    (
        "compare-output-dir-is-file",
        ["compare", *STORM[1:], "--output-dir", "{tmp}/a-file"],
        "a-file",
    ),
    ("compare-target-missing", ["compare", "nowhere_xyz:saga"], "nowhere_xyz"),
    ("compare-source-raises", ["compare", *STORM[1:-1], "cli_bad_sources:boom"], "boom-source"),
    # replay: traces
    ("replay-missing", ["replay", "{tmp}/nope.jsonl"], "nope.jsonl"),
    ("replay-dir", ["replay", "{tmp}/a-dir"], "a-dir"),
    ("replay-empty", ["replay", "{tmp}/empty.jsonl"], "empty"),
    ("replay-binary", ["replay", "{tmp}/binary.jsonl"], "UTF-8"),
    ("replay-garbage", ["replay", "{tmp}/garbage.jsonl"], "JSON"),
    ("replay-other-tool", ["replay", "{tmp}/other.jsonl"], "not an angzarr-testkit"),
    ("replay-version-1", ["replay", "{tmp}/v1.jsonl"], "version 1"),
    ("replay-cut", ["replay", "{tmp}/cut.jsonl"], "truncated"),
    ("replay-no-summary", ["replay", "{tmp}/nosummary.jsonl"], "truncated"),
    ("replay-edited", ["replay", "{tmp}/edited.jsonl"], "edited"),
    ("replay-dropped", ["replay", "{tmp}/dropped.jsonl"], "edited"),
    ("replay-no-trace", ["replay"], "TRACE"),
    # replay: options
    (
        "replay-target-missing",
        ["replay", "{tmp}/good.jsonl", "--target", "nowhere_xyz:s"],
        "nowhere_xyz",
    ),
    (
        "replay-trace-out-dir",
        ["replay", "{tmp}/good.jsonl", "--trace-out", "{tmp}/a-dir"],
        "--trace-out",
    ),
    (
        "replay-trace-out-self",
        ["replay", "{tmp}/good.jsonl", "--trace-out", "{tmp}/good.jsonl"],
        "--trace-out",
    ),
    ("replay-html-no-dir", ["replay", "{tmp}/good.jsonl", "--html", "{tmp}/no/r.html"], "--html"),
    (
        "replay-max-findings-text",
        ["replay", "{tmp}/good.jsonl", "--max-findings", "all"],
        "--max-findings",
    ),
    (
        "replay-output-dir-is-file",
        ["replay", "{tmp}/good.jsonl", "--output-dir", "{tmp}/a-file"],
        "a-file",
    ),
    # shrink
    ("shrink-missing", ["shrink", "{tmp}/nope.jsonl"], "nope.jsonl"),
    ("shrink-dir", ["shrink", "{tmp}/a-dir"], "a-dir"),
    ("shrink-binary", ["shrink", "{tmp}/binary.jsonl"], "UTF-8"),
    ("shrink-cut", ["shrink", "{tmp}/cut.jsonl"], "truncated"),
    ("shrink-edited", ["shrink", "{tmp}/edited.jsonl"], "edited"),
    ("shrink-out-is-file", ["shrink", "{tmp}/good.jsonl", "--out", "{tmp}/a-file"], "--out"),
    ("shrink-out-under-file", ["shrink", "{tmp}/good.jsonl", "--out", "{tmp}/a-file/sub"], "--out"),
    ("shrink-kind-unknown", ["shrink", "{tmp}/good.jsonl", "--kind", "meteor"], "--kind"),
    (
        "shrink-kind-absent",
        ["shrink", "{tmp}/good.jsonl", "--kind", "lost-command"],
        "lost-command",
    ),
    ("shrink-budget-zero", ["shrink", "{tmp}/good.jsonl", "--budget", "0"], "--budget"),
    ("shrink-clean", ["shrink", "{tmp}/clean.jsonl"], "clean"),
    (
        "shrink-target-missing",
        ["shrink", "{tmp}/good.jsonl", "--target", "nowhere_xyz:s"],
        "nowhere_xyz",
    ),
    # steps, demo
    ("steps-unknown-flag", ["steps", "--bogus"], "--bogus"),
    ("demo-zero", ["demo", "--redeliveries", "0"], "--redeliveries"),
    ("demo-text", ["demo", "--redeliveries", "x"], "--redeliveries"),
]


@pytest.mark.parametrize(("argv", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_one_line(paths, capsys, argv, needle):
    argv = [a.replace("{tmp}", str(paths)) for a in argv]
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, captured
    assert captured.out == "", captured.out
    err = captured.err
    assert err.startswith("angzarr-testkit") and err.endswith("\n"), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    assert needle in err, err


def test_every_subcommand_is_covered():
    from angzarr_testkit.cli import build_parser

    parser = build_parser()
    choices = next(a for a in parser._actions if a.dest == "command").choices
    covered = {c[1][0] for c in CASES}
    assert set(choices) <= covered


@pytest.mark.parametrize("command", ["storm", "replay", "shrink"])
def test_debug_shows_the_traceback_instead(paths, capsys, command):
    argv = {
        "storm": [*STORM[:-1], "cli_bad_sources:boom"],
        "replay": ["replay", str(paths / "cut.jsonl")],
        "shrink": ["shrink", str(paths / "edited.jsonl")],
    }[command]
    assert main([*argv, "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err


def test_output_paths_under_a_regular_file(paths, capsys):
    # Unwritable for every user, root included (the read-only case below needs a non-root run).
    blocker = paths / "blocker"
    blocker.write_text("not a directory\n", encoding="utf-8")
    for argv, needle in [
        ([*STORM, "--trace", str(blocker / "t.jsonl")], "--trace"),
        ([*STORM, "--html", str(blocker / "r.html")], "--html"),
        (["shrink", str(paths / "good.jsonl"), "--out", str(blocker / "out")], "--out"),
    ]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and needle in err, err


@pytest.mark.skipif(
    os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root can write anywhere"
)
def test_read_only_output_paths(paths, capsys):
    locked = paths / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        for argv, needle in [
            ([*STORM, "--trace", str(locked / "t.jsonl")], "--trace"),
            ([*STORM, "--html", str(locked / "r.html")], "--html"),
            (["shrink", str(paths / "good.jsonl"), "--out", str(locked / "out")], "--out"),
        ]:
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and needle in err
    finally:
        locked.chmod(0o700)


def test_json_failure_leaves_stdout_empty(paths, capsys):
    assert main(["replay", str(paths / "edited.jsonl"), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "edited" in captured.err


def test_nothing_written_to_the_working_directory_on_failure(paths, capsys):
    before = sorted(p.name for p in Path(paths).iterdir())
    for argv in ([*STORM[:-1], "cli_bad_sources:boom"], ["replay", str(paths / "cut.jsonl")]):
        assert main(argv) == 2
    after = sorted(p.name for p in Path(paths).iterdir() if p.name != "__pycache__")
    assert [n for n in after if n not in before] in ([], [".angzarr-testkit"])
