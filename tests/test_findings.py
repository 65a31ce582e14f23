"""The finding vocabulary and its rendering."""

from __future__ import annotations

import re
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
# Added by issue 13 (the core profile: a PM trigger core requeues forever; facts deduped on a
# reused id; commands to a likely wrong root; a handler that hides its own error).
CORE_KINDS = {"requeue-loop", "fact-collision", "unknown-target", "silent-handler"}
WARNING_KINDS = {"rejected-command", "unknown-target"}


def test_kinds_are_the_design_vocabulary():
    assert set(KINDS) == DESIGN_KINDS | VERDICT_KINDS | CORE_KINDS
    assert error_kinds() == (DESIGN_KINDS | VERDICT_KINDS | CORE_KINDS) - WARNING_KINDS
    assert all(KINDS[k].severity == "warning" for k in WARNING_KINDS)


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


def _table(text: str) -> list[tuple[str, str, str]]:
    """The rows of docs/findings.md's kind table: (kind, severity, meaning)."""
    rows = []
    for line in text.splitlines():
        match = re.fullmatch(r"\| `([a-z-]+)` \| (error|warning|note) \| (.+) \|", line)
        if match:
            rows.append(match.groups())
    return rows


def _sections(text: str) -> dict[str, str]:
    """``## `kind``` heading -> the section's text (up to the next heading)."""
    parts = re.split(r"^## `([a-z-]+)`\s*$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _doc_problems(text: str) -> list[str]:
    """What docs/findings.md lacks: the table must be KINDS row for row (name, severity,
    summary) in cause order, and every kind needs a section, in the same order, with
    **Severity:** (its severity), **Means:**, **Example:**, **Fix:** and a **Core source:**
    naming a core file (or saying it is the kit's oracle)."""
    problems = []
    if _table(text) != [(k.name, k.severity, k.summary) for k in KINDS.values()]:
        problems.append("table")
    sections = _sections(text)
    if list(sections) != [k for k in KINDS if k in sections]:
        problems.append("section order")
    for kind in KINDS.values():
        body = sections.get(kind.name)
        if body is None:
            problems.append(f"{kind.name}: no section")
            continue
        if not re.search(rf"^\*\*Severity:\*\* {kind.severity}\.$", body, re.M):
            problems.append(f"{kind.name}: severity")
        for label in ("Means", "Example", "Fix", "Core source"):
            found = re.search(rf"^\*\*{label}:\*\*(.*)$", body, re.M)
            if not found or not found.group(1).strip():
                problems.append(f"{kind.name}: {label}")
        core = re.search(r"^\*\*Core source:\*\*(.*?)(?:\n\n|\Z)", body, re.M | re.S)
        if core and "src/" not in core.group(1) and "kit's oracle" not in core.group(1):
            problems.append(f"{kind.name}: core source names no file")
    return problems


def test_every_kind_is_documented_with_severity_example_fix_and_core_source():
    assert _doc_problems(DOCS.read_text()) == []


def test_a_broken_findings_doc_fails_the_check():
    """The doc check can fail: a missing section, severity or core source line is caught."""
    text = DOCS.read_text()
    head, _, rest = text.partition("## `lost-command`")
    no_section = head + "## `budget-exhausted`" + rest.partition("## `budget-exhausted`")[2]
    assert _doc_problems(no_section) == ["lost-command: no section"]
    wrong_severity = text.replace("**Severity:** warning.", "**Severity:** note.")
    assert _doc_problems(wrong_severity) == [f"{k}: severity" for k in KINDS if k in WARNING_KINDS]
    no_core = text.replace("**Core source:** the kit's oracle.", "Core: the kit's oracle.")
    assert _doc_problems(no_core) == ["vacuous-run: Core source"]
    table_row = text.replace("| `dead-lettered` | error |", "| `dead-lettered` | note |")
    assert _doc_problems(table_row) == ["table"]


def test_every_invalid_command_rule_is_documented():
    from angzarr_testkit.framework.commands import RULES

    text = DOCS.read_text()
    for name in RULES:
        assert f"`{name}`" in text, f"docs/findings.md does not list the rule {name}"
