"""The bad-input suite's own guards (tests/bad_input/__init__.py and conftest.py) do their job:
a case cannot pass on an internal exception, on a normal return, on an error that does not
name the parameter, nor hang past the per-test timeout."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

from angzarr_testkit.errors import ConfigurationError, UsageTypeError
from angzarr_testkit.framework.findings import Finding
from angzarr_testkit.validate import usage_error

from . import TIMEOUT, expect_cli_usage, expect_finding, expect_usage_error, run_cli

HERE = Path(__file__).parent


def fails(fn, *args, **kwargs) -> str:
    """Run ``fn`` and return the message of the pytest failure it must raise."""
    try:
        fn(*args, **kwargs)
    except pytest.fail.Exception as exc:
        return str(exc)
    raise AssertionError(f"{fn.__name__} did not fail the test")


def block(param, raise_, **kw):
    with expect_usage_error(param, **kw):
        raise_()


def boom(exc):
    def raise_():
        raise exc

    return raise_


def test_a_usage_error_naming_the_parameter_passes():
    with expect_usage_error("events") as caught:
        raise usage_error("events", -1, "an int >= 0")
    assert "got -1" in caught.message
    with expect_usage_error("roots", error=UsageTypeError, match="expected"):
        raise usage_error("roots", "x", "an int", type_error=True)


@pytest.mark.parametrize(
    ("raise_", "kw", "says"),
    [
        (lambda: None, {}, "returned normally"),
        (boom(KeyError("x")), {}, "internal KeyError"),
        (boom(TypeError("unhashable")), {}, "Traceback"),
        (boom(usage_error("other", 1, "x")), {}, "does not name the parameter 'events'"),
        (boom(usage_error("events", 1, "x")), {"error": ConfigurationError}, "got UsageError"),
        (boom(usage_error("events", 1, "x")), {"match": "nowhere"}, "does not match"),
    ],
    ids=["no-error", "internal", "traceback-shown", "other-param", "wrong-class", "no-match"],
)
def test_anything_else_fails_the_case(raise_, kw, says):
    assert says in fails(block, "events", raise_, **kw)


def test_pytest_raises_cannot_swallow_an_internal_exception():
    def swallow():
        with pytest.raises(ValueError):
            int("not a number")  # an internal ValueError

    assert "internal ValueError" in fails(swallow)
    with pytest.raises(ValueError, match="events"):  # a UsageError is a ValueError: allowed
        raise usage_error("events", -1, "an int >= 0")
    with pytest.raises(AssertionError):  # a verdict (assert_clean) is allowed
        raise AssertionError("not clean")


@pytest.mark.internal_exception_ok(reason="the opt-out itself")
def test_the_opt_out_marker_restores_plain_pytest_raises():
    with pytest.raises(KeyError):
        {}["missing"]


def test_expect_finding():
    findings = [Finding("double-apply", "twice"), Finding("rejected-command", "refused")]
    assert len(expect_finding(findings, "double-apply")) == 1
    assert "expected a 'lost-command' finding" in fails(expect_finding, findings, "lost-command")
    assert "does not fail the run" in fails(expect_finding, findings, "rejected-command")
    expect_finding(findings, "rejected-command", fails=False)


def test_cli_helpers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_cli(["--version"]).code == 0
    expect_cli_usage(["demo", "--redeliveries", "0"], "--redeliveries")
    assert "exited 0, expected 2" in fails(expect_cli_usage, ["--version"], "--version")


def test_every_case_here_has_the_timeout(request):
    marker = request.node.get_closest_marker("timeout")
    assert marker is not None and marker.args == (TIMEOUT,)


@pytest.mark.timeout(1)
def test_an_explicit_timeout_wins(request):
    assert request.node.get_closest_marker("timeout").args == (1,)
    time.sleep(0)


# The scratch run starts its own interpreter and xdist workers: on a loaded 2-core machine
# that alone can take longer than this package's TIMEOUT, so the outer bound is generous. The
# hanging case sleeps far longer still, so passing proves the inner timeout stopped it.
@pytest.mark.timeout(180)
def test_a_hanging_case_is_stopped_by_the_timeout(pytester, monkeypatch):
    """The guards, copied into a scratch project, stop a sleeping case (in its xdist worker
    where xdist is installed)."""
    xdist = ["-p", "xdist", "-n", "2"] if importlib.util.find_spec("xdist") else []
    package = pytester.mkpydir("bad_input")
    for name in ("__init__.py", "conftest.py"):
        (package / name).write_text((HERE / name).read_text())
    (package / "test_hang.py").write_text(
        "import time\n\ndef test_hangs():\n    time.sleep(900)\n\n"
        "def test_quick():\n    assert True\n"
    )
    monkeypatch.setenv("ANGZARR_TESTKIT_BAD_INPUT_TIMEOUT", "1")
    started = time.monotonic()
    result = pytester.runpytest_subprocess(*xdist, "-p", "no:cacheprovider")
    assert time.monotonic() - started < 150  # far below the 900 s sleep
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*Timeout*"])
