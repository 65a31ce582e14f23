"""``make bench``: the figures of issue 12's benchmark list, printed and kept in results.json.

(a) storm vs wire floor for the trivial saga, 50,000 events: both rates and their ratio, from
    one run in one process;
(b) a 1,000,000-delivery storm: wall time, peak RSS and trace bytes (one process), then the
    same storm with ``shards=2`` at ``workers=1`` and ``workers=2`` (equal trace digests; peak
    RSS counts the workers; the speedup per worker);
(c) how time and memory grow from 10,000 to 1,000,000 deliveries.

Every storm runs in its own process (a clean peak-RSS reading). Targets (issue 12): ratio <= 10;
1M deliveries < 30 s in one process; peak RSS < 1 GiB at 1M. Figures go to stdout and to
``benchmarks/results.json``; copy them into the README's performance section. These are
measurements, not tests: nothing here asserts a time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from angzarr_testkit import wire

HERE = Path(__file__).resolve().parent
GROWTH = (10_000, 30_000, 100_000, 300_000, 1_000_000)


def storm(
    events: int, roots: int, *, floor: bool = False, shards: int = 1, workers: int = 1
) -> dict[str, Any]:
    """One storm of the trivial saga in a fresh interpreter (see benchmarks/storm_run.py)."""
    argv = [sys.executable, "-m", "benchmarks.storm_run", "--events", str(events)]
    argv += ["--roots", str(roots)] + (["--floor"] if floor else [])
    argv += ["--shards", str(shards), "--workers", str(workers)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=HERE.parent)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    from google.protobuf.internal import api_implementation

    print(f"protobuf backend: {api_implementation.Type()}, wire mode: {wire.MODE}")
    small = storm(50_000, 5_000, floor=True)
    ratio = small["wire_floor"] / small["rate"]
    print(
        f"(a) trivial saga, 50,000 events, one process: wire floor "
        f"{small['wire_floor']:,.0f} deliveries/s, storm {small['rate']:,.0f} deliveries/s, "
        f"ratio {ratio:.1f} (target <= 10)"
    )
    growth = [storm(n, max(n // 10, 1)) for n in GROWTH]
    big = growth[-1]
    print(
        f"(b) 1,000,000 deliveries, one process: {big['seconds']:.1f} s "
        f"({big['rate']:,.0f}/s), peak RSS {big['peak_rss_mb']:,.0f} MiB, trace "
        f"{big['trace_bytes'] / 2**20:,.0f} MiB (targets: < 30 s, < 1 GiB)"
    )
    sharded = [storm(1_000_000, 100_000, shards=2, workers=w) for w in (1, 2)]
    speedup = sharded[0]["seconds"] / sharded[1]["seconds"]
    same = sharded[0]["trace_sha256"] == sharded[1]["trace_sha256"]
    for s in sharded:
        rss = max(s["peak_rss_mb"], s["peak_rss_children_mb"])
        print(
            f"    shards=2 workers={s['workers']}: {s['seconds']:.1f} s, peak RSS {rss:,.0f} MiB "
            f"(largest process), trace sha256 {s['trace_sha256'][:16]}"
        )
    print(
        f"    speedup workers=2 vs 1: {speedup:.2f}x ({speedup / 2:.2f} per worker; target "
        f">= 1.8x); trace digests {'equal' if same else 'DIFFER'}"
    )
    print("(c) growth (events = deliveries = dedupe keys; roots = events / 10):")
    print(f"    {'deliveries':>10}  {'seconds':>8}  {'per second':>10}  {'peak RSS':>9}  trace")
    for g in growth:
        print(
            f"    {g['deliveries']:>10,}  {g['seconds']:>8.2f}  {g['rate']:>10,.0f}  "
            f"{g['peak_rss_mb']:>5,.0f} MiB  {g['trace_bytes'] / 2**20:,.1f} MiB"
        )
    first, last = growth[0], growth[-1]
    per_key = (last["peak_rss_mb"] - first["peak_rss_mb"]) * 2**20
    per_key /= last["dedupe_keys"] - first["dedupe_keys"]
    print(f"    ~{per_key:,.0f} bytes of peak RSS per additional delivery")
    results = {
        "a_floor_vs_storm": {**small, "ratio": ratio},
        "b_one_million": big,
        "b_sharded": {"runs": sharded, "speedup": speedup, "digests_equal": same},
        "c_growth": growth,
        "c_bytes_per_delivery": per_key,
    }
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
