"""Bad step arguments (quoted names, numbers, table cells) fail the step with a message naming
the argument and what is accepted, never with an internal traceback. Each case runs one small
generated feature with the behave runner, the way a user project wires the steps."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(60)

SAGA = 'Given the saga "sagas:explicit_saga" from domain "order" to domains "inventory"'
DELIVER = 'When OrderCreated is delivered from root "order-1"'


def run(tmp_path: Path, *steps: str) -> str:
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "kit.py").write_text(
        "from angzarr_testkit.behave.steps import *  # noqa\n"
    )
    (tmp_path / "environment.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / 'tests')!r})\n"
        "from angzarr_testkit.behave.environment import before_scenario  # noqa\n"
    )
    body = "\n".join("    " + line for step in steps for line in step.splitlines())
    (tmp_path / "bad.feature").write_text(f"Feature: bad\n  Scenario: bad\n{body}\n")
    result = subprocess.run(
        [sys.executable, "-m", "behave", "--no-capture", "--format", "plain", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        timeout=50,
    )
    assert result.returncode != 0, result.stdout
    return result.stdout + result.stderr


def table(*rows: str) -> str:
    return "\n".join("  " + textwrap.dedent(r) for r in rows)


CASES = [
    ("profile", ['Given the framework profile "eventually"', SAGA], "profile: got 'eventually'"),
    (
        "source-domain",
        ['Given the saga "sagas:explicit_saga" from domain "Order" to domains "inventory"'],
        "source: got 'Order'",
    ),
    (
        "output-domain",
        ['Given the saga "sagas:explicit_saga" from domain "order" to domains "in ventory"'],
        "outputs[0]: got 'in ventory'",
    ),
    (
        "destination-domain",
        [SAGA, 'Given destination "Inventory" root "sku-1" at sequence 5'],
        "domain: got 'Inventory'",
    ),
    (
        "destination-sequence",
        [SAGA, 'Given destination "inventory" root "sku-1" at sequence 4294967301'],
        "next_sequence: got 4294967301",
    ),
    (
        "destination-negative",
        [SAGA, 'Given destination "inventory" root "sku-1" at sequence -3'],
        "next_sequence: got -3",
    ),
    ("merge", [SAGA, 'Given aggregate "inventory" declares its changes "often"'], "merge: got"),
    (
        "business-logic-domain",
        [SAGA, 'Given aggregate "Inv" runs business logic "sagas:explicit_saga"'],
        "domain: got 'Inv'",
    ),
    (
        "message-type",
        [SAGA, 'When Nonsense is delivered from root "order-1"'],
        "unknown message type Nonsense",
    ),
    (
        "field-value",
        [SAGA, DELIVER + "\n" + table("| field | value |", "| quantity | many |")],
        "cannot set OrderCreated.quantity to 'many'",
    ),
    ("redeliver", [SAGA, DELIVER, "When the trigger is redelivered -1 times"], "times: got -1"),
    (
        "kind",
        [SAGA, DELIVER, 'Then the only findings are of kind "oops"'],
        "kind: got 'oops'",
    ),
    (
        "fault-name",
        [
            SAGA,
            "When a storm of 3 events over 1 roots runs with seed 1\n"
            + table("| fault | value |", "| explode | 0.1 |"),
        ],
        "fault: got 'explode'",
    ),
    (
        "fault-rate",
        [
            SAGA,
            "When a storm of 3 events over 1 roots runs with seed 1\n"
            + table("| fault | value |", "| duplicate | lots |"),
        ],
        "fault 'duplicate': got 'lots'",
    ),
    (
        "fault-nan",
        [
            SAGA,
            "When a storm of 3 events over 1 roots runs with seed 1\n"
            + table("| fault | value |", "| duplicate | nan |"),
        ],
        "FaultPlan.duplicate: got nan",
    ),
    (
        "fault-limit",
        [
            SAGA,
            "When a storm of 3 events over 1 roots runs with seed 1\n"
            + table("| fault | value |", "| delivery-limit | 10000000000 |"),
        ],
        "fault 'delivery-limit': got 10000000000",
    ),
    (
        "fault-reorder",
        [
            SAGA,
            "When a storm of 3 events over 1 roots runs with seed 1\n"
            + table("| fault | value |", "| reorder | sometimes |"),
        ],
        "fault 'reorder': got 'sometimes'",
    ),
    ("fault-class", [SAGA, 'Then fault "meteor" occurred'], "fault: got 'meteor'"),
    (
        "events-sequence",
        [
            SAGA,
            DELIVER,
            'Then aggregate "inventory" root "sku-1" has events:\n'
            + table("| sequence | type |", "| first | ReserveInventory |"),
        ],
        "sequence: got 'first'",
    ),
    (
        "destination-table",
        [
            "Given the destination sequences:\n"
            + table("| domain | next_sequence |", "| inventory | five |")
        ],
        "next_sequence of domain 'inventory': got 'five'",
    ),
    (
        "destination-table-domain",
        [
            "Given the destination sequences:\n"
            + table("| domain | next_sequence |", "| Bad Domain | 1 |")
        ],
        "sequences key: got 'Bad Domain'",
    ),
    (
        "trigger-domain",
        ['Given a trigger from domain "Order" root "order-1"'],
        "domain: got 'Order'",
    ),
    (
        "stamp-pages",
        ['When the saga stamps a ReserveInventory command of 0 pages for domain "inventory"'],
        "pages: got 0",
    ),
    (
        "pm-domain",
        [
            'Given the process manager "pms:fulfillment_pm" in domain "Fulfil" from domains '
            '"order" to domains "inventory"'
        ],
        "pm_domain: got 'Fulfil'",
    ),
    (
        "pm-state-sequence",
        [
            'Given the process manager "pms:fulfillment_pm" in domain "fulfillment" from domains '
            '"order" to domains "inventory"',
            'Then the process manager state for workflow "w-1" has events:\n'
            + table("| sequence | type |", "| x | FulfillmentStarted |"),
        ],
        "sequence: got 'x'",
    ),
]


@pytest.mark.parametrize(("steps", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_step_argument_is_a_clear_failure(tmp_path, steps, needle):
    out = run(tmp_path, *steps)
    assert needle in out, out
    assert "Traceback" not in out, out
    assert "ASSERT FAILED" in out, out


def test_a_step_function_called_directly_raises_an_assertion_naming_the_argument():
    """The steps are plain functions: a fake context is enough to see the failure class."""
    from angzarr_testkit.behave import saga_steps
    from angzarr_testkit.behave.environment import KitState
    from angzarr_testkit.behave.vocabulary import StepArgumentError

    class Context:
        table = None
        angzarr = KitState()

    with pytest.raises(StepArgumentError, match="profile: got 'x'"):
        saga_steps.given_profile(Context(), profile="x")
