"""Trace integrity: a trace is a versioned document (header, body, closing summary with a
digest); every kind of damage is one clear TraceError, never another exception or a replay;
a replay whose verdict differs from the recorded one says so; the JSON and the HTML say
what they left out; default output goes to the kit's folder, never the working directory."""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import os
from pathlib import Path

import pytest
import sagas
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_storm import one_sku

from angzarr_testkit import TraceError, UsageError, __version__, wire
from angzarr_testkit.errors import codes
from angzarr_testkit.framework.findings import Finding
from angzarr_testkit.report import render_html
from angzarr_testkit.simulate import FaultPlan, Storm, read_schedule, shrink
from angzarr_testkit.simulate.trace import (
    DIR_ENV,
    TRACE_FORMAT,
    TRACE_VERSION,
    config_digest,
    output_dir,
)

pytestmark = pytest.mark.timeout(60)

SETTINGS = settings(
    max_examples=int(os.environ.get("TRACE_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def record(path: Path, target: str = "sagas:explicit_saga", events: int = 12, **faults) -> Path:
    Storm(
        target,
        source_domain="order",
        output_domains=["inventory"],
        events=events,
        roots=3,
        seed=5,
        event_source=one_sku,
        faults=FaultPlan(**(faults or {"duplicate": 0.5, "crash_before_ack": 0.2})),
        trace=path,
        profile="sequence-map",  # the explicit saga's double-apply is the seed protocol's
    ).run()
    return path


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> bytes:
    """The bytes of one valid, failing (double-apply) trace."""
    return record(tmp_path_factory.mktemp("good") / "storm.jsonl").read_bytes()


def write(tmp_path: Path, data: bytes, name: str = "t.jsonl") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def resign(lines: list[bytes]) -> bytes:
    """Recompute the summary's line count and digest over edited lines (what a forger would
    do): the structure checks must still refuse what the digest no longer can."""
    *body, summary = lines
    obj = json.loads(summary)
    obj.pop("digest")
    obj["lines"] = len(body)
    head = json.dumps(obj, separators=(",", ":"))[:-1].encode()
    digest = hashlib.sha256(b"".join(body) + head).hexdigest()
    return b"".join(body) + head + b',"digest":"sha256:' + digest.encode() + b'"}\n'


def refused(path: Path, needle: str) -> TraceError:
    with pytest.raises(TraceError) as info:
        read_schedule(path)
    message = str(info.value)
    assert needle in message and str(path) in message, message
    assert info.value.code == codes.INVALID_TRACE
    return info.value


# -- the document -------------------------------------------------------------------------------


def test_header_and_summary_describe_the_storm(good):
    lines = good.splitlines()
    header, summary = json.loads(lines[0]), json.loads(lines[-1])
    assert header["type"] == "storm" and header["format"] == TRACE_FORMAT
    assert header["version"] == TRACE_VERSION == 2
    assert header["kit_version"] == __version__ and header["wire"] == wire.MODE
    assert header["profile"] == "sequence-map" and header["seed"] == 5
    assert header["config_digest"] == config_digest(header)
    assert summary["type"] == "summary" and summary["lines"] == len(lines) - 1
    assert summary["ok"] is False and summary["finding_kinds"]["double-apply"] >= 1
    assert summary["counts"]["published"] == 12
    mark = lines[-1].rindex(b',"digest":')
    expected = hashlib.sha256(b"\n".join(lines[:-1]) + b"\n" + lines[-1][:mark]).hexdigest()
    assert summary["digest"] == "sha256:" + expected


def test_a_valid_trace_reads_and_keeps_its_summary(tmp_path, good):
    schedule = read_schedule(write(tmp_path, good))
    assert schedule.summary is not None and schedule.summary["ok"] is False
    assert len(schedule.steps) >= 12


def test_config_digest_names_the_configuration_not_the_kit_version(good):
    header = json.loads(good.splitlines()[0])
    assert config_digest(dict(header, kit_version="9.9")) == header["config_digest"]
    assert config_digest(dict(header, seed=6)) != header["config_digest"]


# -- each kind of damage ------------------------------------------------------------------------


def header_of(good: bytes, **changes) -> bytes:
    header = json.loads(good.splitlines()[0])
    header.update(changes)
    header["config_digest"] = config_digest(header)
    return json.dumps(header, separators=(",", ":")).encode() + b"\n"


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        (lambda g: b"", "empty"),
        (lambda g: b"\xff\xfe not utf-8\n" + g, "not UTF-8"),
        (lambda g: g.replace(b'"type":"settle"', b'"type":"settle\xff"', 1), "not UTF-8"),
        (lambda g: b"not json at all\n", "not a JSON line"),
        (lambda g: b"[1, 2, 3]\n", "not an angzarr-testkit storm trace"),
        (lambda g: b'{"tool": "other", "lines": 3}\n{"x": 1}\n', "not an angzarr-testkit"),
        (lambda g: b'{"type":"storm","format":"someone-else","version":2}\n', "format"),
        (lambda g: b'{"type":"storm","version":1,"target":"x"}\n', "version 1"),
        (lambda g: header_of(g, version=3) + b"\n".join(g.splitlines()[1:]), "version 3"),
        (lambda g: b"\n".join(g.splitlines()[:3]) + b"\n", "no summary"),
        (lambda g: g[: len(g) // 2], "truncated"),
        (lambda g: g[:-1], "truncated"),
        (lambda g: g[:-10], "truncated"),
        (lambda g: g.replace(b'"fault":"crash-before-ack"', b'"fault":null', 1), "edited"),
        (lambda g: g.replace(b'"result":"requeue"', b'"result":"ack"', 1), "edited"),
        (lambda g: b"\n".join(_drop(g.splitlines(), 5)) + b"\n", "dropped"),
        (lambda g: g.replace(b'"ok":false', b'"ok":true'), "edited"),
        (lambda g: g + g.splitlines()[1] + b"\n", "after the summary"),
        (lambda g: g.replace(b'"seed":5', b'"seed":6', 1), "header was edited"),
        (lambda g: g.replace(b"\n", b"\r\n"), "edited"),
    ],
    ids=[
        "empty",
        "binary-header",
        "binary-body",
        "garbage",
        "json-not-object",
        "other-tool",
        "other-format",
        "version-1",
        "unknown-version",
        "cut-before-summary",
        "cut-in-the-middle",
        "cut-final-newline",
        "cut-in-summary",
        "fault-renamed",
        "settle-edited",
        "line-dropped",
        "verdict-flipped",
        "line-appended",
        "header-edited",
        "crlf",
    ],
)
def test_damaged_traces_are_one_trace_error(tmp_path, good, damage, needle):
    path = write(tmp_path, damage(good))
    refused(path, needle)
    with pytest.raises(TraceError):
        Storm.replay(path, saga=sagas.explicit_saga)


def _drop(lines: list[bytes], i: int) -> list[bytes]:
    return lines[:i] + lines[i + 1 :]


def test_missing_and_directory_paths(tmp_path):
    refused(tmp_path / "nope.jsonl", "does not exist")
    refused(tmp_path, "is a directory")
    with pytest.raises(TraceError, match="expected a path"):
        read_schedule(12)  # type: ignore[arg-type]


def test_shrink_refuses_a_damaged_trace_before_any_work(tmp_path, good):
    path = write(tmp_path, good[:-5])
    with pytest.raises(TraceError, match="truncated"):
        shrink(path, out_dir=tmp_path / "out")


def test_resigned_structural_edits_are_still_refused(tmp_path, good):
    lines = good.splitlines(keepends=True)
    deliver = next(i for i, x in enumerate(lines) if b'"type":"deliver"' in x)
    cases = {
        "unknown fault": lines[deliver].replace(b'"fault":null', b'"fault":"meteor"'),
        "unknown message": lines[deliver].replace(b'"msg":', b'"msg":9999', 1),
        "negative message": lines[deliver].replace(b'"msg":', b'"msg":-1', 1),
        "unknown line type": b'{"type":"teleport"}\n',
        "consumer": lines[deliver].replace(b'"consumer":0', b'"consumer":7'),
    }
    for name, line in cases.items():
        edited = resign([*lines[:deliver], line, *lines[deliver + 1 :]])
        with pytest.raises(TraceError):
            read_schedule(write(tmp_path, edited, f"{name}.jsonl"))
    publish = next(i for i, x in enumerate(lines) if b'"type":"publish"' in x)
    bad_book = json.loads(lines[publish])
    bad_book["book"] = "!!not base64!!"
    edited = resign(
        [*lines[:publish], json.dumps(bad_book).encode() + b"\n", *lines[publish + 1 :]]
    )
    with pytest.raises(TraceError, match="base64"):
        read_schedule(write(tmp_path, edited, "book.jsonl"))


# -- Hypothesis: garbage, cuts and edits always give TraceError ---------------------------------


@SETTINGS
@given(data=st.binary(max_size=400))
def test_garbage_bytes_are_a_trace_error(tmp_path, data):
    with pytest.raises(TraceError):
        read_schedule(write(tmp_path, data))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)


@SETTINGS
@given(objs=st.lists(json_values, min_size=1, max_size=6), storm_header=st.booleans())
def test_garbage_json_lines_are_a_trace_error(tmp_path, good, objs, storm_header):
    first = good.splitlines(keepends=True)[0] if storm_header else b""
    body = b"".join(json.dumps(o).encode() + b"\n" for o in objs)
    with pytest.raises(TraceError):
        read_schedule(write(tmp_path, first + body))


@SETTINGS
@given(data=st.data())
def test_every_cut_is_a_trace_error(tmp_path, good, data):
    cut = data.draw(st.integers(min_value=0, max_value=len(good) - 1))
    with pytest.raises(TraceError):
        read_schedule(write(tmp_path, good[:cut]))


@SETTINGS
@given(data=st.data())
def test_every_single_byte_edit_is_a_trace_error(tmp_path, good, data):
    at = data.draw(st.integers(min_value=0, max_value=len(good) - 1))
    byte = data.draw(st.integers(min_value=0, max_value=255).filter(lambda b: b != good[at]))
    edited = good[:at] + bytes([byte]) + good[at + 1 :]
    with pytest.raises(TraceError):
        read_schedule(write(tmp_path, edited))


@SETTINGS
@given(data=st.data())
def test_dropped_duplicated_or_swapped_lines_are_a_trace_error(tmp_path, good, data):
    lines = good.splitlines(keepends=True)
    i = data.draw(st.integers(min_value=0, max_value=len(lines) - 1))
    j = data.draw(st.integers(min_value=0, max_value=len(lines) - 1).filter(lambda j: j != i))
    how = data.draw(st.sampled_from(["drop", "duplicate", "swap"]))
    if how == "drop":
        edited = lines[:i] + lines[i + 1 :]
    elif how == "duplicate":
        edited = lines[:i] + [lines[i]] + lines[i:]
    else:
        edited = list(lines)
        edited[i], edited[j] = edited[j], edited[i]
    if edited == lines:  # two identical lines swapped: not an edit
        return
    with pytest.raises(TraceError):
        read_schedule(write(tmp_path, b"".join(edited)))


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_resigned_field_edits_are_refused_or_replay(tmp_path, good, data):
    """A forged trace (digest recomputed) whose body field holds any JSON value is either
    refused as a TraceError or replays; nothing else escapes."""
    lines = good.splitlines(keepends=True)
    i = data.draw(st.integers(min_value=1, max_value=len(lines) - 2))
    obj = json.loads(lines[i])
    key = data.draw(st.sampled_from(sorted(obj)))
    obj[key] = data.draw(json_values)
    edited = resign([*lines[:i], json.dumps(obj).encode() + b"\n", *lines[i + 1 :]])
    path = write(tmp_path, edited)
    try:
        Storm.replay(path, saga=sagas.explicit_saga)
    except TraceError:
        pass


# -- the recorded verdict -----------------------------------------------------------------------


def test_a_faithful_replay_keeps_the_recorded_verdict(tmp_path, good):
    report = Storm.replay(write(tmp_path, good), saga=sagas.explicit_saga)
    assert report.recorded == {"ok": False, "finding_kinds": report.kinds()}
    assert not report.verdict_changed and report.replay_note() is None
    assert report.to_dict()["replay"]["verdict_changed"] is False


def test_a_replay_whose_verdict_differs_says_so(tmp_path, good):
    """The fixed saga (deferred headers) replays the failing trace clean: a report field,
    not a finding (fixing the saga is what a replay is for)."""
    report = Storm.replay(write(tmp_path, good), saga=sagas.deferred_saga)
    assert report.ok and report.verdict_changed
    note = report.replay_note()
    assert note is not None and "recorded NOT CLEAN (double-apply" in note
    assert "replayed CLEAN" in note
    replay = report.to_dict()["replay"]
    assert replay["verdict_changed"] is True and replay["recorded_ok"] is False


def test_a_fresh_storm_has_no_recorded_verdict():
    report = Storm(
        sagas.deferred_saga,
        source_domain="order",
        output_domains=["inventory"],
        events=3,
        event_source=one_sku,
    ).run()
    assert report.recorded is None and not report.verdict_changed
    assert "replay" not in report.to_dict()


# -- what the JSON and the HTML leave out -------------------------------------------------------


@pytest.fixture
def crowded(tmp_path, good):
    report = Storm.replay(write(tmp_path, good), saga=sagas.explicit_saga)
    many = [Finding("double-apply", f"applied twice #{i}") for i in range(7)]
    many += [Finding("lost-command", f"lost #{i}") for i in range(2)]
    return dataclasses.replace(report, findings=many)


def test_to_dict_says_per_kind_what_it_left_out(crowded):
    data = crowded.to_dict(max_findings_per_kind=3)
    assert data["max_findings_per_kind"] == 3
    assert data["truncated"] == {"double-apply": 4}
    assert data["finding_counts"] == {"double-apply": 7, "lost-command": 2}
    assert len(data["findings"]) == 5
    complete = crowded.to_dict(max_findings_per_kind=0)
    assert complete["truncated"] == {} and complete["max_findings_per_kind"] is None
    assert len(complete["findings"]) == 9
    assert crowded.to_dict()["truncated"] == {}  # the default cap (50) is not reached


@pytest.mark.parametrize("bad", [-1, "3", 2.5, True, None])
def test_to_dict_cap_is_checked(crowded, bad):
    with pytest.raises(UsageError, match="max_findings_per_kind"):
        crowded.to_dict(max_findings_per_kind=bad)


def test_html_says_what_it_left_out(crowded):
    page = render_html(crowded, max_findings_per_kind=3)
    assert 'id="findings-truncated"' in page and "left out: 4 double-apply" in page
    assert "findings-truncated" not in render_html(crowded, max_findings_per_kind=50)


# -- where files go -----------------------------------------------------------------------------


def test_output_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(DIR_ENV, raising=False)
    assert output_dir() == Path(".angzarr-testkit")
    assert (tmp_path / ".angzarr-testkit" / ".gitignore").read_text() == "*\n"
    monkeypatch.setenv(DIR_ENV, str(tmp_path / "from-env"))
    assert output_dir() == tmp_path / "from-env" and (tmp_path / "from-env").is_dir()
    assert output_dir(tmp_path / "given") == tmp_path / "given"
    assert output_dir(tmp_path / "lazy", create=False) == tmp_path / "lazy"
    assert not (tmp_path / "lazy").exists()


def test_output_dir_that_cannot_be_made_is_a_usage_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError, match="output directory") as info:
        output_dir(blocker / "sub")
    assert info.value.code == codes.OUTPUT_UNWRITABLE
    monkeypatch.setenv(DIR_ENV, str(blocker))
    with pytest.raises(UsageError, match=DIR_ENV):
        output_dir()


def test_an_unwritable_trace_path_is_a_usage_error_naming_it(tmp_path):
    storm = Storm(
        sagas.deferred_saga,
        source_domain="order",
        output_domains=["inventory"],
        events=2,
        event_source=one_sku,
        trace=tmp_path / "missing-dir" / "t.jsonl",
    )
    with pytest.raises(UsageError, match="missing-dir") as info:
        storm.run()
    assert info.value.code == codes.OUTPUT_UNWRITABLE


def test_temporary_traces_go_away_with_their_report():
    report = Storm(
        sagas.deferred_saga,
        source_domain="order",
        output_domains=["inventory"],
        events=2,
        event_source=one_sku,
    ).run()
    path = report.trace.path
    assert report.trace.temporary and path.exists() and Path.cwd() not in path.parents
    del report
    gc.collect()
    assert not path.exists()


def test_shrink_out_dir_naming_a_file_is_refused_before_any_work(tmp_path, good):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for out in (blocker, blocker / "sub"):
        with pytest.raises(UsageError, match="out_dir") as info:
            shrink(tmp_path / "never-read.jsonl", out_dir=out)
        assert info.value.code == codes.OUTPUT_UNWRITABLE


def test_shrunk_test_carries_a_valid_trace(tmp_path, good):
    result = shrink(write(tmp_path, good), out_dir=tmp_path / "out")
    written = result.test_file.with_suffix(".jsonl")
    schedule = read_schedule(written)
    assert schedule.summary is not None and "double-apply" in schedule.summary["finding_kinds"]
