"""The finding vocabulary and its rendering."""

from __future__ import annotations

from pathlib import Path

import pytest

from angzarr_testkit import KINDS, Finding, UsageError, error_kinds, failing, render_findings
from angzarr_testkit.framework.findings import check_kinds, sort_findings

DOCS = Path(__file__).resolve().parent.parent / "docs" / "findings.md"

DESIGN_KINDS = {
    "double-apply",
    "lost-command",
    "dedupe-collision",
    "nondeterministic-output",
    "unstamped-command",
    "sequence-mismatch",
    "missing-destination-sequence",
    "handler-error",
    "rejected-command",
    "dead-lettered",
    "invalid-provenance",
}
# Added by issue 11 (a verdict you can trust).
VERDICT_KINDS = {"invalid-command", "malformed-response", "budget-exhausted", "vacuous-run"}


def test_kinds_are_the_design_vocabulary():
    assert set(KINDS) == DESIGN_KINDS | VERDICT_KINDS
    assert error_kinds() == (DESIGN_KINDS | VERDICT_KINDS) - {"rejected-command"}
    assert KINDS["rejected-command"].severity == "warning"


def test_cause_order_puts_root_causes_before_consequences():
    order = list(KINDS)
    for cause, consequence in (
        ("invalid-command", "lost-command"),
        ("sequence-mismatch", "lost-command"),
        ("unstamped-command", "double-apply"),
        ("handler-error", "vacuous-run"),
    ):
        assert order.index(cause) < order.index(consequence)
    found = [Finding("lost-command", "l"), Finding("sequence-mismatch", "s")]
    assert [f.kind for f in sort_findings(found)] == ["sequence-mismatch", "lost-command"]
    assert render_findings(found).index("[sequence-mismatch]") < render_findings(found).index(
        "[lost-command]"
    )


def test_failing_applies_allow_and_fail_on():
    found = [Finding("rejected-command", "r"), Finding("lost-command", "l")]
    assert [f.kind for f in failing(found)] == ["lost-command"]
    assert [f.kind for f in failing(found, allow=["lost-command"])] == []
    assert [f.kind for f in failing(found, fail_on=["rejected-command"])] == [
        "lost-command",
        "rejected-command",
    ]


@pytest.mark.parametrize("bad", ["lost-command", ["no-such-kind"], None, 3, [3]])
def test_check_kinds_refuses_strings_and_unknown_kinds(bad):
    with pytest.raises(UsageError, match="allow"):
        check_kinds(bad, "allow")


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown finding kind 'double-applied'"):
        Finding("double-applied", "x")


def test_render_and_dict():
    f = Finding(
        "sequence-mismatch",
        "stale",
        trigger="order/x@0",
        target="inventory/y",
        delivery=2,
        sequences={"expected": 2, "actual": 5},
        dedupe_key="k",
        details={"code": "FAILED_PRECONDITION"},
        traceback="Traceback\n  line",
    )
    text = f.render()
    for needle in (
        "[sequence-mismatch] stale",
        "delivery:   #2",
        "trigger:    order/x@0",
        "target:     inventory/y",
        "expected=2, actual=5",
        "dedupe key: k",
        "code: FAILED_PRECONDITION",
        "traceback:",
    ):
        assert needle in text
    assert "traceback" not in str(f)
    assert f.to_dict()["severity"] == "error" and f.to_dict()["sequences"]["actual"] == 5


def test_render_findings_orders_errors_first_and_counts():
    note = Finding("rejected-command", "refused")
    err = Finding("double-apply", "twice")
    report = render_findings([note, err, err])
    assert report.startswith("findings: 2 double-apply, 1 rejected-command")
    assert report.index("[double-apply]") < report.index("[rejected-command]")
    assert render_findings([]) == "findings: none"


def test_every_kind_is_documented_with_severity():
    text = DOCS.read_text()
    for kind in KINDS.values():
        assert f"## `{kind.name}`" in text, f"docs/findings.md lacks a section for {kind.name}"
        assert f"| `{kind.name}` | {kind.severity} |" in text
