"""Trace bytes are a contract: the storm's hot path may change how it computes, never what it
records. Each storm below (a saga or process manager, a profile, every fault class) has its
trace body pinned (the header and the digest are left out: they name the kit's version and the
wire mode). The digests were recorded from the kit before issue 12's hot-path changes
(5f99f91; the ``core`` rows when that profile was added, and again when core's H-18 merge
check of deferred commands was modelled: five of them then meet a destination with history
under MERGE_COMMUTATIVE) and are the same in every wire mode and under any PYTHONHASHSEED.

A digest that changes is a decision, not an accident: a behaviour change (a new profile rule, a
new trace field) updates the digest in the same commit and says why; a performance change never
does.
"""

from __future__ import annotations

import hashlib

import pms
import pytest
import sagas

from angzarr_testkit.simulate import FaultPlan, Storm

FAULTS = FaultPlan(
    duplicate=0.15,
    crash_before_ack=0.05,
    crash_mid_dispatch=0.05,
    nack_requeue=0.05,
    reorder=True,
    concurrent_redelivery=0.05,
)

DIGESTS = {
    "deferred_saga/sequence-map": "487711742c5272468166d1d71a499d0c",
    "deferred_saga/deferred-rewrite": "487711742c5272468166d1d71a499d0c",
    "deferred_saga/core": "cfca5fc1a8fbf5635ba9a9102882435b",
    "explicit_saga/sequence-map": "8bff9ebcf215ca7bdccb8ea4080ea460",
    "explicit_saga/deferred-rewrite": "487711742c5272468166d1d71a499d0c",
    "explicit_saga/core": "250f237418a701ec71fd45d6c64da5d4",
    "colliding_saga/sequence-map": "06f02fe0ce3c39fb84c82a7ef341062e",
    "colliding_saga/deferred-rewrite": "06f02fe0ce3c39fb84c82a7ef341062e",
    "colliding_saga/core": "13308a1534071fc464f15a1c521c00fe",
    "random_id_saga/sequence-map": "65e6a13f61e4455f2a72cb8e79a2156b",
    "random_id_saga/deferred-rewrite": "65e6a13f61e4455f2a72cb8e79a2156b",
    "random_id_saga/core": "95813c8ea26ebe9c5132b003e9270892",
    "bad_cover_saga/sequence-map": "68271522c1be6e3e47367bb47b253f89",
    "bad_cover_saga/deferred-rewrite": "68271522c1be6e3e47367bb47b253f89",
    "bad_cover_saga/core": "68271522c1be6e3e47367bb47b253f89",
    "unstamped_saga/sequence-map": "d04211122510f622a9d54161e4358626",
    "unstamped_saga/deferred-rewrite": "487711742c5272468166d1d71a499d0c",
    "unstamped_saga/core": "cfca5fc1a8fbf5635ba9a9102882435b",
    "two_domain_saga/sequence-map": "9aa2bcb5265b4f402459087944041420",
    "two_domain_saga/deferred-rewrite": "34debc7cd2ea73f3d63c9cdb30929a17",
    "two_domain_saga/core": "250f237418a701ec71fd45d6c64da5d4",
    "echo_saga/sequence-map": "edf05f538784189c65c82652162c793a",
    "echo_saga/deferred-rewrite": "edf05f538784189c65c82652162c793a",
    "echo_saga/core": "edf05f538784189c65c82652162c793a",
    "wrong_provenance_saga/sequence-map": "bbb801ba5b77b9c60f6a136f4d2a09c9",
    "wrong_provenance_saga/deferred-rewrite": "bbb801ba5b77b9c60f6a136f4d2a09c9",
    "wrong_provenance_saga/core": "9278f674579d1004dff6a583c9f84565",
    "deferred_saga/refusing": "aa0625e2d32c8464b4609037bcc113d8",
    "pm/fulfillment_pm": "c5299c07cc2c776ec59ffd3fb2d16909",
}


def body_digest(lines: list[str]) -> str:
    summary = lines[-1].split(',"digest":')[0]
    # the first 128 bits of the SHA-256: plenty to tell two traces apart
    return hashlib.sha256("\n".join(lines[1:-1] + [summary]).encode()).hexdigest()[:32]


def _refusing(harness):
    harness.given_aggregate("inventory", sagas.refusing_inventory)


def _storm(name: str) -> Storm:
    common = dict(events=120, roots=6, seed=5, faults=FAULTS, concurrency=2, progress=False)
    if name == "pm/fulfillment_pm":
        return Storm(
            pms.fulfillment_pm,
            pm_domain="fulfillment",
            sources=["order"],
            output_domains=["inventory"],
            profile="deferred-rewrite",
            event_source=pms.order_events,
            **{**common, "events": 80, "roots": 5},
        )
    saga, variant = name.split("/")
    return Storm(
        getattr(sagas, saga),
        source_domain="order",
        output_domains=["inventory", "payment"],
        profile="sequence-map" if variant == "refusing" else variant,
        event_source=sagas.one_sku,
        setup=_refusing if variant == "refusing" else None,
        **common,
    )


@pytest.mark.parametrize("name", sorted(DIGESTS))
def test_the_trace_of_a_storm_is_pinned(name):
    report = _storm(name).run()
    assert report.counts["deliveries"] > 0
    assert body_digest(report.trace.lines()) == DIGESTS[name]
