"""``make bench``: the wire floor next to the storm, the 1M-delivery storm, memory growth.

Figures go to stdout (and to ``benchmarks/results.json``); copy them into the README's
performance section. Targets (DEVELOPERS.md / issue 4): storm/floor ratio <= 10, a
1,000,000-delivery storm over 100,000 roots in < 30 s with peak RSS < 1 GiB, memory linear
in distinct dedupe keys.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from angzarr_testkit import wire

from .workload import sample_messages

HERE = Path(__file__).resolve().parent


def wire_floor(n: int = 200_000) -> float:
    """Deliveries/s of serialize + parse of one SagaHandleRequest and one SagaResponse."""
    request, response = sample_messages()
    parse_req = wire.saga_pb2.SagaHandleRequest.FromString
    parse_resp = wire.saga_pb2.SagaResponse.FromString
    start = time.perf_counter()
    for _ in range(n):
        parse_req(request.SerializeToString())
        parse_resp(response.SerializeToString())
    return n / (time.perf_counter() - start)


def storm(events: int, roots: int) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.storm_run",
            "--events",
            str(events),
            "--roots",
            str(roots),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=HERE.parent,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    from google.protobuf.internal import api_implementation

    print(f"protobuf backend: {api_implementation.Type()}, wire mode: {wire.MODE}")
    floor = wire_floor()
    small = storm(200_000, 10_000)
    rate = small["deliveries"] / small["seconds"]
    print(f"(a) wire floor (serialize+parse request and response): {floor:,.0f} deliveries/s")
    print(
        f"(b) storm, trivial saga, 200,000 events / 10,000 roots: {rate:,.0f} deliveries/s "
        f"(ratio {floor / rate:.1f})"
    )
    big = storm(1_000_000, 100_000)
    print(
        f"(c) storm, 1,000,000 events / 100,000 roots: {big['seconds']:.1f} s, "
        f"{big['deliveries'] / big['seconds']:,.0f} deliveries/s, peak RSS "
        f"{big['peak_rss_mb']:,.0f} MiB"
    )
    growth = [storm(n, max(n // 10, 1)) for n in (100_000, 200_000, 400_000)]
    print("(d) peak RSS by distinct dedupe keys:")
    for g in growth:
        print(f"      {g['dedupe_keys']:>9,} keys: {g['peak_rss_mb']:7,.0f} MiB")
    slope = (growth[-1]["peak_rss_mb"] - growth[0]["peak_rss_mb"]) / (
        growth[-1]["dedupe_keys"] - growth[0]["dedupe_keys"]
    )
    print(f"      ~{slope * 1024 * 1024:,.0f} bytes per additional dedupe key")
    results = {
        "wire_floor": floor,
        "storm_small": small,
        "ratio": floor / rate,
        "storm_1m": big,
        "growth": growth,
        "bytes_per_key": slope * 1024 * 1024,
    }
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
