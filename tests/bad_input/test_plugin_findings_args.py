"""Bad input to the pytest plugin's finding options and markers, and to the grouping API.

Each case asserts a pytest usage error (exit status 4) whose message names the option or
marker and the value, or the documented error type.
"""

from __future__ import annotations

import re

import pytest

from angzarr_testkit import Finding, render_findings
from angzarr_testkit.errors import UsageTypeError
from angzarr_testkit.framework.findings import group_findings

pytestmark = pytest.mark.timeout(30)

TEST = "def test_x():\n    pass\n"
QUIET = ("-p", "no:hypothesispytest", "-rN")


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        (
            ("--angzarr-fail-on", "rejected"),
            None,
            "--angzarr-fail-on got unknown finding kind(s) 'rejected'; known kinds: "
            "invalid-command,",
        ),
        (
            ("--angzarr-fail-on", "lost-command,dubble-apply"),
            None,
            "--angzarr-fail-on got unknown finding kind(s) 'dubble-apply'",
        ),
        (("--angzarr-fail-on", ""), None, "--angzarr-fail-on takes a finding kind"),
        (("--angzarr-fail-on", " , "), None, "--angzarr-fail-on takes a finding kind"),
        (
            (),
            "angzarr_fail_on = rejected-command Lost-Command",
            "ini option angzarr_fail_on got unknown finding kind(s) 'Lost-Command'",
        ),
    ],
    ids=["unknown", "one-unknown-in-a-list", "empty", "only-commas", "ini-unknown"],
)
def test_bad_fail_on_is_a_usage_error(pytester, args, ini, message):
    pytester.makepyfile(test_project=TEST)
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    result = pytester.runpytest(*QUIET, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ('angzarr_allow("vacuous_run")', "angzarr_allow got unknown finding kind(s) 'vacuous_run'"),
        ("angzarr_allow(None)", "angzarr_allow got unknown finding kind(s) None"),
        ('angzarr_allow(["lost-command", 7])', "angzarr_allow got unknown finding kind(s) 7"),
        ('angzarr_storm(require="crash-before-ack")', "require takes a list of names"),
        ("angzarr_storm(require=3)", "angzarr_storm require got 3; it takes a list of fault"),
        ('angzarr_storm(sources="order")', "angzarr_storm sources takes a list of names"),
    ],
)
def test_bad_marker_arguments_are_usage_errors(pytester, marker, message):
    pytester.makepyfile(test_project=f"import pytest\n\n@pytest.mark.{marker}\n{TEST}")
    result = pytester.runpytest(*QUIET)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


@pytest.mark.parametrize(
    ("bad", "param"),
    [
        ("lost-command", "findings"),
        (3, "findings"),
        (None, "findings"),
        ([object()], "findings[0]"),
    ],
)
def test_grouping_takes_findings(bad, param):
    for fn in (group_findings, render_findings):
        with pytest.raises(UsageTypeError, match=rf"^{re.escape(param)}: got "):
            fn(bad)


def test_an_unknown_kind_is_refused_with_or_without_a_defect():
    with pytest.raises(ValueError, match="unknown finding kind 'lost'"):
        Finding("lost", "m", defect="d")
