"""Guards shared by every test under tests/bad_input (see the package docstring for the rules).

* a per-test timeout (pytest-timeout, ``TIMEOUT`` seconds, signal method where the platform has
  SIGALRM, which interrupts the test in its own xdist worker; an explicit timeout marker wins);
* ``pytest.raises`` may only catch a ``ClientError``, an ``AssertionError`` or a ``SystemExit``
  here (opt out per test with ``@pytest.mark.internal_exception_ok(reason=...)``);
* a failing case whose test raised an internal exception gets a report section saying so;
* fixtures ``expect_usage_error``, ``expect_finding``, ``run_cli`` and ``expect_cli_usage``
  hand out the helpers of :mod:`bad_input` (importable directly too).
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from angzarr_testkit.errors import ClientError, describe_exception

from . import ALLOWED_RAISES, TIMEOUT, fail_internal
from . import expect_cli_usage as _expect_cli_usage
from . import expect_finding as _expect_finding
from . import expect_usage_error as _expect_usage_error
from . import run_cli as _run_cli

HERE = Path(__file__).parent
METHOD = "signal" if hasattr(signal, "SIGALRM") else "thread"
_real_raises = pytest.raises


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "internal_exception_ok(reason): in tests/bad_input, let pytest.raises catch an "
        "exception that is not a ClientError/AssertionError/SystemExit",
    )


def _here(item: pytest.Item) -> bool:
    return HERE in Path(str(item.path)).parents


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Called with every collected item (not only this directory's): filter by path.
    for item in items:
        if _here(item) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TIMEOUT, method=METHOD))


class _GuardedRaises:
    """``pytest.raises(...)`` as a context manager that refuses to swallow internal errors."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __enter__(self) -> Any:
        return self.inner.__enter__()

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        swallowed = self.inner.__exit__(exc_type, exc, tb)
        if swallowed and exc is not None and not isinstance(exc, ALLOWED_RAISES):
            fail_internal(exc, "pytest.raises caught it as if it were the expected error")
        return swallowed


def _guarded_raises(expected: Any, *args: Any, **kwargs: Any) -> Any:
    if args:  # the callable form: pytest.raises(E, func, *args, **kwargs)
        func, rest = args[0], args[1:]
        with _GuardedRaises(_real_raises(expected)) as info:
            func(*rest, **kwargs)
        return info
    return _GuardedRaises(_real_raises(expected, **kwargs))


@pytest.fixture(autouse=True)
def _no_internal_exception_passes(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if request.node.get_closest_marker("internal_exception_ok") is None:
        monkeypatch.setattr(pytest, "raises", _guarded_raises)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if call.when != "call" or not report.failed or call.excinfo is None or not _here(item):
        return
    exc = call.excinfo.value
    if not isinstance(exc, (*ALLOWED_RAISES, ClientError)) and isinstance(exc, Exception):
        report.sections.append(
            (
                "bad-input guard",
                f"the test ended in an internal {describe_exception(exc)}: a bad input must "
                "end in a ClientError naming the parameter, or a finding",
            )
        )


@pytest.fixture
def expect_usage_error() -> Any:
    """:func:`bad_input.expect_usage_error` (``with expect_usage_error("param"): ...``)."""
    return _expect_usage_error


@pytest.fixture
def expect_finding() -> Any:
    """:func:`bad_input.expect_finding` (``expect_finding(report, "kind")``)."""
    return _expect_finding


@pytest.fixture
def run_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """:func:`bad_input.run_cli`, run in a fresh working directory (the CLI writes files)."""
    monkeypatch.chdir(tmp_path)
    return _run_cli


@pytest.fixture
def expect_cli_usage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """:func:`bad_input.expect_cli_usage`, run in a fresh working directory."""
    monkeypatch.chdir(tmp_path)
    return _expect_cli_usage
