"""The shared step library: it fails when it should, and docs/steps.md is current."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from angzarr_testkit.behave import steps  # noqa: F401 - registers the vocabulary
from angzarr_testkit.behave.vocabulary import VOCABULARY, render_markdown
from angzarr_testkit.cli import main

ROOT = Path(__file__).resolve().parent.parent


def run_feature(tmp_path: Path, feature: str) -> subprocess.CompletedProcess:
    """Run one feature with behave, the way a user project would wire the steps."""
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "kit.py").write_text(
        "from angzarr_testkit.behave.steps import *  # noqa\n"
    )
    (tmp_path / "environment.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / 'tests')!r})\n"
        "from angzarr_testkit.behave.environment import before_scenario  # noqa\n"
    )
    (tmp_path / "check.feature").write_text(textwrap.dedent(feature))
    return subprocess.run(
        [sys.executable, "-m", "behave", "--no-capture", "--format", "plain", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )


def test_docs_steps_md_is_current():
    assert (ROOT / "docs" / "steps.md").read_text() == render_markdown(), (
        "docs/steps.md is stale: run `angzarr-testkit steps --markdown > docs/steps.md`"
    )


def test_every_step_documented_with_example():
    assert len(VOCABULARY) >= 30
    for doc in VOCABULARY:
        assert doc.description and doc.example.split()[0] in ("Given", "When", "Then")


def test_steps_command_prints_vocabulary(capsys):
    assert main(["steps"]) == 0
    out = capsys.readouterr().out
    assert 'Then there is a finding of kind "{kind}"' in out
    assert main(["steps", "--markdown"]) == 0
    assert capsys.readouterr().out == render_markdown()


def test_a_clean_claim_about_a_double_apply_fails(tmp_path):
    result = run_feature(
        tmp_path,
        """
        Feature: wrong claim
          Scenario: explicit stamping is not clean
            Given the saga "sagas:explicit_saga" from domain "order" to domains "inventory"
            And the framework profile "sequence-map"
            When OrderCreated is delivered from root "order-1"
            And the trigger is redelivered 1 times
            Then there are no findings
    """,
    )
    assert result.returncode != 0
    assert "[double-apply]" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("step", "needle"),
    [
        ('Then the command to domain "inventory" is stamped with sequence 9', "seq=0"),
        ('Then business logic on "inventory" root "sku-1" ran 2 times', "applied=1"),
        ('Then there is a finding of kind "double-apply"', "findings: none"),
        ('Then there is a finding of kind "twice"', "kind: got 'twice'; expected one of"),
        (
            'Then the saga emits ShipOrder to domain "inventory"',
            "holds testkit_examples.order.ReserveInventory",
        ),
    ],
)
def test_wrong_outcomes_fail_with_a_readable_reason(tmp_path, step, needle):
    result = run_feature(
        tmp_path,
        f"""
        Feature: wrong claim
          Scenario: check
            Given the saga "sagas:explicit_saga" from domain "order" to domains "inventory"
            And the framework profile "sequence-map"
            When OrderCreated is delivered from root "order-1"
              | field | value |
              | sku   | sku-1 |
            {step}
    """,
    )
    assert result.returncode != 0
    assert needle in result.stdout + result.stderr


def test_bad_table_values_are_explained(tmp_path):
    result = run_feature(
        tmp_path,
        """
        Feature: bad table
          Scenario: bad field
            Given the saga "sagas:explicit_saga" from domain "order" to domains "inventory"
            And the framework profile "sequence-map"
            When OrderCreated is delivered from root "order-1"
              | field   | value |
              | widgets | 3     |
    """,
    )
    assert result.returncode != 0
    assert "OrderCreated has no field 'widgets'" in result.stdout + result.stderr
