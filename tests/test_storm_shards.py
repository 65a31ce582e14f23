"""Sharded storms: validation, identical bytes for any workers, findings, replay, damage."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import sagas

from angzarr_testkit import TraceError, UsageError, UserCodeError
from angzarr_testkit.simulate import FaultPlan, Storm, read_schedule, shrink

ALL_FAULTS = FaultPlan(
    duplicate=0.1,
    crash_before_ack=0.05,
    crash_mid_dispatch=0.05,
    nack_requeue=0.05,
    reorder=True,
    concurrent_redelivery=0.05,
)

#: Recorded with main's code before shards existed: trace body (header and digest left out,
#: as they name the wire mode) of the storms below, which shards=1 must reproduce exactly.
UNSHARDED_DIGESTS = {
    "explicit_saga": "113f2f3b9c979bc06810c108b71f28545e75e33bf6ea87f62b63d33e44f7377a",
    "deferred_saga": "7474f853620460e98dc58f8ce046fdadd54cc6216ae3a41163018361803e390d",
}


def storm(saga=sagas.explicit_saga, **kw):
    kw.setdefault("profile", "sequence-map")  # these tests pin the seed protocol
    kw.setdefault("source_domain", "order")
    kw.setdefault("output_domains", ["inventory"])
    kw.setdefault("event_source", sagas.one_sku)
    kw.setdefault("events", 300)
    kw.setdefault("roots", 10)
    kw.setdefault("seed", 7)
    kw.setdefault("faults", ALL_FAULTS)
    kw.setdefault("concurrency", 2)
    return Storm(saga, **kw)


def body_digest(lines):
    summary = lines[-1].split(',"digest":')[0]
    return hashlib.sha256("\n".join(lines[1:-1] + [summary]).encode()).hexdigest()


@pytest.mark.parametrize("name", sorted(UNSHARDED_DIGESTS))
def test_shards_1_is_exactly_the_storm_of_before(name):
    report = storm(getattr(sagas, name), shards=1).run()
    lines = report.trace.lines()
    assert body_digest(lines) == UNSHARDED_DIGESTS[name]
    assert '"shards"' not in lines[0]


@pytest.mark.parametrize(
    ("kw", "param"),
    [
        ({"shards": 0}, "shards"),
        ({"shards": -1}, "shards"),
        ({"shards": True}, "shards"),
        ({"shards": "2"}, "shards"),
        ({"shards": 11}, "shards"),
        ({"workers": 0}, "workers"),
        ({"workers": -1}, "workers"),
        ({"workers": True}, "workers"),
        ({"workers": "2"}, "workers"),
        ({"shards": 2, "workers": 3}, "workers"),
        ({"shards": 2, "workers": 2, "broker": "amqp://127.0.0.1:5672/"}, "workers"),
        ({"shards": 3, "delivery_budget": 2}, "delivery_budget"),
    ],
)
def test_bad_shards_and_workers_are_usage_errors(kw, param):
    with pytest.raises(UsageError) as info:
        storm(**kw)
    assert param in str(info.value)


def test_workers_above_shards_says_to_raise_shards():
    with pytest.raises(UsageError, match="raise shards"):
        storm(shards=2, workers=3)


def test_trace_bytes_and_findings_are_identical_for_any_workers(tmp_path):
    reports = [storm(shards=3, workers=w, trace=tmp_path / f"w{w}.jsonl").run() for w in (1, 2, 3)]
    data = [r.trace.path.read_bytes() for r in reports]
    assert data[0] == data[1] == data[2]
    findings = [[f.to_dict() for f in r.findings] for r in reports]
    assert findings[0] == findings[1] == findings[2]
    assert reports[0].counts == reports[2].counts
    assert not list(tmp_path.glob("*.shard-*"))  # the part files are gone
    lines = reports[0].trace.lines()
    assert json.loads(lines[0])["shards"] == 3
    markers = [json.loads(x) for x in lines if '"type":"shard"' in x]
    assert [m["index"] for m in markers] == [0, 1, 2]


def test_shards_split_roots_and_event_indexes():
    report = storm(sagas.deferred_saga, shards=3, faults=FaultPlan()).run()
    shard = -1
    for line in report.trace:
        if line["type"] == "shard":
            shard = line["index"]
        elif line["type"] == "publish" and not line.get("duplicate"):
            assert line["msg"] % 3 == shard
    assert report.counts["published"] == 300 and report.ok


_HASHSEED_SCRIPT = """
import hashlib, sys
sys.path.insert(0, {tests!r})
import test_storm_shards as t
r = t.storm(shards=3, workers={workers}).run()
print(hashlib.sha256(r.trace.path.read_bytes()).hexdigest())
"""


def test_sharded_trace_is_identical_across_hash_seeds_and_workers():
    tests = str(Path(__file__).parent)
    digests = set()
    for seed, workers in (("1", 1), ("2", 2), ("3", 3)):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", _HASHSEED_SCRIPT.format(tests=tests, workers=workers)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=300,
        )
        digests.add(out.stdout.strip())
    assert len(digests) == 1


def test_a_buggy_saga_is_found_sharded_and_findings_name_their_shard():
    report = storm(sagas.explicit_saga, shards=2, workers=2, faults=FaultPlan(duplicate=0.2)).run()
    assert not report.ok
    doubles = [f for f in report.findings if f.kind == "double-apply"]
    assert doubles and {f.details["shard"] for f in doubles} == {"0", "1"}


def test_replay_of_a_sharded_trace_reproduces_the_verdict(tmp_path):
    report = storm(shards=3, workers=2, trace=tmp_path / "t.jsonl").run()
    replay = Storm.replay(report.trace.path, sagas.explicit_saga)
    assert not replay.verdict_changed
    assert replay.kinds() == report.kinds() and replay.counts == report.counts
    fixed = Storm.replay(report.trace.path, sagas.deferred_saga)
    assert fixed.verdict_changed  # the fixed saga replays clean


def test_budget_exhausted_names_the_shard():
    report = storm(
        sagas.deferred_saga,
        events=20,
        shards=2,
        faults=FaultPlan(nack_requeue=1.0, delivery_limit=10_000),
        concurrency=1,
        delivery_budget=50,
    ).run()
    budget = [f for f in report.findings if f.kind == "budget-exhausted"]
    assert [f.details["shard"] for f in budget] == ["0", "1"]
    assert budget[0].message.startswith("shard 0 of 2:")
    assert report.counts["deliveries"] == 50


def _rewrite(path: Path, edit) -> Path:
    lines = path.read_text().splitlines(keepends=True)
    out = path.with_name("damaged.jsonl")
    out.write_text("".join(edit(lines)))
    return out


def _resign(lines):
    """Re-seal a trace after an edit (a forged digest): the reader must still refuse it."""
    body = "".join(lines[:-1]).encode()
    summary = json.loads(lines[-1])
    summary.pop("digest")
    summary["lines"] = len(lines) - 1
    head = json.dumps(summary, separators=(",", ":"))[:-1].encode()
    digest = hashlib.sha256(body + head).hexdigest()
    return [*lines[:-1], head.decode() + ',"digest":"sha256:' + digest + '"}\n']


def test_damaged_sharded_traces_are_refused(tmp_path):
    path = storm(shards=3, trace=tmp_path / "t.jsonl").run().trace.path
    assert len(read_schedule(path).parts) == 3
    markers = [i for i, x in enumerate(path.read_text().splitlines()) if '"type":"shard"' in x]

    def swap(lines):
        lines = list(lines)
        a, b = markers[1], markers[2]
        lines[a], lines[b] = lines[b], lines[a]
        return _resign(lines)

    def drop_last_shard(lines):
        return _resign(lines[: markers[2]] + lines[-1:])

    def edited(lines):
        lines = list(lines)
        lines[markers[1] + 1] = lines[markers[1] + 1].replace('"msg":', '"msg": ')
        return lines

    for edit, match in (
        (swap, "out of order"),
        (drop_last_shard, "shard 2 is missing"),
        (edited, "edited"),
    ):
        with pytest.raises(TraceError, match=match):
            read_schedule(_rewrite(path, edit))
        with pytest.raises(TraceError):
            Storm.replay(_rewrite(path, edit), sagas.explicit_saga)


def test_a_shard_marker_in_an_unsharded_trace_is_refused(tmp_path):
    path = storm(trace=tmp_path / "t.jsonl").run().trace.path

    def insert(lines):
        return _resign([lines[0], '{"type":"shard","index":0,"shards":2}\n', *lines[1:]])

    with pytest.raises(TraceError, match="unsharded"):
        read_schedule(_rewrite(path, insert))


def _failing_setup(harness):
    raise RuntimeError("no inventory today")


@pytest.mark.parametrize("workers", [1, 2])
def test_user_errors_reach_the_caller_the_same_from_a_worker(workers):
    made = storm(shards=2, workers=workers)
    made.setup = _failing_setup  # after construction: the shards' harnesses call it
    with pytest.raises(UserCodeError) as info:
        made.run()
    assert "storm setup" in str(info.value) and "no inventory today" in str(info.value)


def _exiting_saga(request):
    os._exit(3)  # ends the worker process without an exception


def test_a_worker_that_dies_abruptly_is_a_user_code_error_naming_workers():
    made = Storm(
        _exiting_saga,
        source_domain="order",
        output_domains=["inventory"],
        events=6,
        roots=2,
        event_source=sagas.one_sku,
        shards=2,
        workers=2,
    )
    with pytest.raises(UserCodeError) as info:
        made.run()
    assert "died abruptly" in info.value.message and "workers=1" in info.value.message
    assert info.value.details["parameter"] == "workers"


def test_the_kits_exceptions_pickle_with_class_message_and_details():
    for exc in (
        UserCodeError("boom", details={"callable": "x"}),
        UsageError("bad", details={"parameter": "p"}),
        TraceError("damaged"),
    ):
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc) and str(back) == str(exc)
        assert back.details == exc.details and back.code == exc.code


def test_a_sharded_trace_shrinks_to_an_unsharded_storm_of_its_failing_shard(tmp_path):
    path = storm(shards=2, events=60, faults=FaultPlan(duplicate=0.3), trace=tmp_path / "t").run()
    result = shrink(path.trace.path, sagas.explicit_saga, kind="double-apply")
    assert result.kind == "double-apply" and result.deliveries <= 4
    header = json.loads(result.report.trace.lines()[0])
    assert "shards" not in header


def test_destinations_several_shards_reached_are_reported_not_hidden():
    # one_sku sends every command to one inventory root: both shards reach it
    shared = storm(sagas.deferred_saga, shards=2, faults=FaultPlan()).run()
    assert len(shared.shared_destinations) == 1
    assert shared.shared_destinations[0].startswith("inventory/")
    assert shared.to_dict()["shared_destinations"] == shared.shared_destinations
    assert "interleavings across shards" in shared.summary()
    assert "shards=1" in shared.summary()
    unsharded = storm(sagas.deferred_saga, faults=FaultPlan()).run()
    assert unsharded.shared_destinations == []
    assert "interleavings across shards" not in unsharded.summary()
