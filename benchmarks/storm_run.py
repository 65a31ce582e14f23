"""One storm in its own process, for a clean peak-RSS reading: prints a JSON line."""

from __future__ import annotations

import argparse
import json
import resource
import time

from angzarr_testkit.simulate import Storm

from .workload import same_event, trivial_saga


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--roots", type=int, required=True)
    args = parser.parse_args()
    storm = Storm(
        trivial_saga,
        source_domain="order",
        output_domains=["inventory"],
        events=args.events,
        roots=args.roots,
        seed=1,
        event_source=same_event,
        progress=False,
    )
    start = time.perf_counter()
    report = storm.run()
    seconds = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "events": args.events,
                "roots": args.roots,
                "seconds": seconds,
                "deliveries": report.counts["deliveries"],
                "ok": report.ok,
                "dedupe_keys": report.counts["applied"],
                "peak_rss_mb": rss_mb,
            }
        )
    )


if __name__ == "__main__":
    main()
