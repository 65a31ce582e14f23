"""Deliveries/s of the process-manager harness and a PM storm, for a trivial PM."""

from __future__ import annotations

import json
import time

from angzarr_testkit import ProcessManagerHarness, uuid_for, uuid_str_for
from angzarr_testkit.simulate import Storm

from .workload import _EVENT, pm_event, trivial_pm


def main() -> None:
    h = ProcessManagerHarness(
        trivial_pm,
        pm_domain="fulfillment",
        sources=["order"],
        output_domains=["inventory"],
        profile="deferred-rewrite",
        record=False,
    )
    n = 20_000
    roots = [uuid_for(f"o-{i}") for i in range(n)]
    workflows = [uuid_str_for(f"w-{i}") for i in range(n)]
    start = time.perf_counter()
    for i in range(n):
        h.deliver(_EVENT, domain="order", root=roots[i], correlation_id=workflows[i])
    harness_rate = n / (time.perf_counter() - start)
    storm = Storm(
        trivial_pm,
        kind="process-manager",
        pm_domain="fulfillment",
        sources=["order"],
        output_domains=["inventory"],
        profile="deferred-rewrite",
        events=100_000,
        roots=100_000,
        seed=1,
        event_source=pm_event,
        progress=False,
    )
    start = time.perf_counter()
    report = storm.run()
    storm_rate = report.counts["deliveries"] / (time.perf_counter() - start)
    print(json.dumps({"pm_harness_deliver_per_s": harness_rate, "pm_storm_per_s": storm_rate}))


if __name__ == "__main__":
    main()
