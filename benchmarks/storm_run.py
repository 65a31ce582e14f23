"""One storm in its own process, for a clean peak-RSS reading: prints a JSON line.

``--floor`` also measures the wire floor in the same process, just before the storm, so the
ratio of the two rates compares like with like (same interpreter, same moment).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import tempfile
import time
from pathlib import Path

from angzarr_testkit.simulate import Storm

from .workload import same_event, trivial_saga, wire_floor


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--roots", type=int, required=True)
    parser.add_argument("--floor", action="store_true", help="measure the wire floor first")
    parser.add_argument("--shards", type=int, default=1, help="sub-storms (default: 1)")
    parser.add_argument("--workers", type=int, default=1, help="processes (default: 1)")
    args = parser.parse_args()
    floor = wire_floor() if args.floor else None
    with tempfile.TemporaryDirectory(prefix="angzarr-bench-") as tmp:
        trace = Path(tmp) / "storm.jsonl"
        storm = Storm(
            trivial_saga,
            source_domain="order",
            output_domains=["inventory"],
            events=args.events,
            roots=args.roots,
            seed=1,
            event_source=same_event,
            progress=False,
            trace=trace,
            shards=args.shards,
            workers=args.workers,
        )
        start = time.perf_counter()
        report = storm.run()
        seconds = time.perf_counter() - start
        trace_bytes = trace.stat().st_size
        with open(trace, "rb") as handle:  # streamed: the RSS reading stays the storm's
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "events": args.events,
                "roots": args.roots,
                "seconds": seconds,
                "deliveries": report.counts["deliveries"],
                "rate": report.counts["deliveries"] / seconds,
                "ok": report.ok,
                "dedupe_keys": report.counts["applied"],
                "peak_rss_mb": rss_mb,
                "peak_rss_children_mb": children_mb,
                "shards": args.shards,
                "workers": args.workers,
                "trace_sha256": digest,
                "trace_bytes": trace_bytes,
                "wire_floor": floor,
            }
        )
    )


if __name__ == "__main__":
    main()
