"""The terminal summary's ``angzarr-testkit`` section: per test, the findings that did not
fail it, carried on its teardown report (so they survive xdist)."""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_SUMMARY_GROUPS", "SUMMARY_ATTR", "write_summary"]

#: Defects listed per test in the terminal summary section (the rest are counted).
MAX_SUMMARY_GROUPS = 10
#: the attribute of a teardown report that holds its test's summary lines
SUMMARY_ATTR = "angzarr_testkit_summary"


def write_summary(terminalreporter: Any) -> None:
    """The ``angzarr-testkit`` section: per test, the findings that did not fail it
    (warnings, notes, allowed errors), one line per defect."""
    by_test: dict[str, list[str]] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            lines = getattr(report, SUMMARY_ATTR, None)
            if lines and getattr(report, "when", None) == "teardown":
                by_test.setdefault(report.nodeid, []).extend(lines)
    if not by_test:
        return
    terminalreporter.section("angzarr-testkit: warnings and notes")
    for nodeid in sorted(by_test):
        lines = by_test[nodeid]
        terminalreporter.write_line(nodeid)
        for line in lines[:MAX_SUMMARY_GROUPS]:
            terminalreporter.write_line("  " + line)
        if len(lines) > MAX_SUMMARY_GROUPS:
            terminalreporter.write_line(
                f"  ... and {len(lines) - MAX_SUMMARY_GROUPS} more (the objects' .findings "
                "have them all)"
            )
    terminalreporter.write_line(
        "(these did not fail the tests; to make a kind fail them: --angzarr-fail-on KIND)"
    )
