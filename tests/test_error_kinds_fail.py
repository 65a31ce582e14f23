"""Every error-severity finding kind fails a run, by each route a user meets it.

One table, :data:`RECIPES`, says how to produce each error kind with a small storm of a saga
from ``tests/sagas.py`` (the same sagas features/findings.feature uses). For each kind the
same storm is run three ways, and each must fail:

* ``StormReport.assert_clean(allow=<every other kind>)`` raises ``AssertionError`` naming it
  (so the kind fails a run on its own, not only in company);
* the pytest plugin: a test using the ``storm`` fixture with
  ``@pytest.mark.angzarr_allow(<every other kind>)`` fails and names it (pytester);
* the CLI: ``angzarr-testkit storm sagas:NAME ... --json`` exits 1 and lists it as an error.

:data:`PENDING` holds the error kinds that cannot be produced by a storm (none today);
:func:`test_the_table_covers_every_error_kind` keeps the table honest: every
error kind of ``KINDS`` is either in the table or pending, so a new kind without a case fails.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sagas

from angzarr_testkit.cli import main
from angzarr_testkit.framework.findings import KINDS, error_kinds
from angzarr_testkit.simulate import FaultPlan, Storm

TESTS = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Recipe:
    """A storm that produces a kind: ``saga`` (a name in tests/sagas.py) over ``events``
    orders for one SKU, with the fault plan fields ``faults`` (CLI flags of the same names)."""

    saga: str
    faults: dict[str, float | int] = field(default_factory=dict)
    events: int = 4
    #: Storm options beyond the fault plan (e.g. ``delivery_budget``), CLI flags of the same names.
    options: dict[str, int] = field(default_factory=dict)

    def storm_kwargs(self) -> dict[str, object]:
        return {
            "source_domain": "order",
            "output_domains": ["inventory"],
            "event_source": sagas.one_sku,
            "events": self.events,
            "roots": 2,
            "seed": 1,
            "faults": FaultPlan(**self.faults),
            **self.options,
        }

    def argv(self, trace: Path) -> list[str]:
        argv = ["storm", f"sagas:{self.saga}", "--source-domain", "order"]
        argv += ["--output-domain", "inventory", "--event-source", "sagas:one_sku"]
        argv += ["--events", str(self.events), "--roots", "2", "--seed", "1"]
        for name, value in {**self.faults, **self.options}.items():
            argv += ["--" + name.replace("_", "-"), str(value)]
        return [*argv, "--trace", str(trace), "--json"]


#: the seed protocol (angzarr-client 0.3's map), for the kinds only it produces
SEED = {"profile": "sequence-map"}

#: error kind -> a storm that produces it (duplicates at rate 1.0: every seed shows them).
RECIPES: dict[str, Recipe] = {
    "handler-error": Recipe("exploding_saga"),
    # a router that catches and logs the error and returns nothing (core acks it)
    "silent-handler": Recipe("swallowing_saga"),
    "missing-destination-sequence": Recipe("stamps_shipping_saga"),
    "unstamped-command": Recipe("unstamped_saga", options=SEED),
    "invalid-provenance": Recipe("wrong_provenance_saga"),
    # core's H-18: a deferred MERGE_COMMUTATIVE command against history (the default profile)
    "sequence-mismatch": Recipe("deferred_saga"),
    "nondeterministic-output": Recipe("random_id_saga", {"duplicate": 1.0}),
    "dedupe-collision": Recipe("colliding_saga"),
    "fact-collision": Recipe("constant_fact_id_saga"),
    "double-apply": Recipe("explicit_saga", {"duplicate": 1.0}, options=SEED),
    "dead-lettered": Recipe("stale_manual_saga"),
    # core's queues have no x-delivery-limit: a message at the storm's limit is the kit's cap
    "requeue-loop": Recipe("strict_deferred_saga", {"nack_requeue": 1.0, "delivery_limit": 2}),
    "lost-command": Recipe("stale_saga", options=SEED),
    "invalid-command": Recipe("bad_cover_saga"),
    "malformed-response": Recipe("echo_saga"),
    "vacuous-run": Recipe("silent_saga"),
    # Every delivery crashes before its ack and comes back: 3 deliveries cannot finish 4 events.
    "budget-exhausted": Recipe(
        "deferred_saga", {"crash_before_ack": 1.0}, options={"delivery_budget": 3}
    ),
}

#: Error kinds with no recipe (none today: every error kind can be produced by a storm).
PENDING: frozenset[str] = frozenset()

CASES = [pytest.param(kind, RECIPES[kind], id=kind) for kind in KINDS if kind in RECIPES]


def others(kind: str) -> list[str]:
    return [k for k in KINDS if k != kind]


def test_the_table_covers_every_error_kind():
    errors = error_kinds()
    assert not set(RECIPES) - errors, "RECIPES has kinds that are not error kinds"
    assert not PENDING - errors, "PENDING has kinds that are not error kinds"
    assert not set(RECIPES) & PENDING, "a kind with a recipe is no longer pending"
    assert errors == set(RECIPES) | PENDING, (
        f"error kinds with neither a recipe nor a PENDING entry: "
        f"{sorted(errors - set(RECIPES) - PENDING)}"
    )


@pytest.mark.parametrize(("kind", "recipe"), CASES)
def test_kind_fails_assert_clean(kind, recipe):
    report = Storm(getattr(sagas, recipe.saga), **recipe.storm_kwargs()).run()
    assert kind in report.kinds(), f"the recipe no longer produces {kind}: {report.kinds()}"
    assert not report.ok
    with pytest.raises(AssertionError, match=f"\\[{kind}\\]") as info:
        report.assert_clean(allow=others(kind))
    assert "is not clean" in str(info.value)
    report.assert_clean(allow=list(KINDS))  # and nothing else made it fail


@pytest.mark.parametrize(("kind", "recipe"), CASES)
def test_kind_fails_a_test_using_the_pytest_plugin(kind, recipe, pytester):
    pytester.syspathinsert(TESTS)  # tests/sagas.py
    pytester.makepyfile(
        test_kind=textwrap.dedent(
            f"""
            import pytest
            import sagas
            from angzarr_testkit import FaultPlan

            @pytest.mark.angzarr_allow(*{others(kind)!r})
            def test_storm(storm):
                storm(
                    sagas.{recipe.saga},
                    source_domain="order",
                    output_domains=["inventory"],
                    event_source=sagas.one_sku,
                    events={recipe.events},
                    roots=2,
                    seed=1,
                    faults=FaultPlan(**{recipe.faults!r}),
                    **{recipe.options!r},
                ).run()
            """
        )
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [f"*[[]{kind}[]]*", f'*if these are expected: @pytest.mark.angzarr_allow("{kind}")*']
    )


@pytest.mark.parametrize(("kind", "recipe"), CASES)
def test_kind_makes_the_cli_exit_1(kind, recipe, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(recipe.argv(tmp_path / "storm.jsonl"))
    out = capsys.readouterr().out
    assert code == 1, out
    document = json.loads(out)
    assert document["ok"] is False
    assert document["finding_counts"].get(kind, 0) > 0
    assert any(f["kind"] == kind and f["severity"] == "error" for f in document["findings"])
