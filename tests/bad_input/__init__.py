"""The bad-input suite: every public entry point and CLI command fed wrong arguments, garbage
envelopes, handler return values, traces and gRPC reply bytes.

A case ends in one of two outcomes, never anything else: a :class:`ClientError` (the documented
``UsageError``/``UsageTypeError``/``TraceError``/``UserCodeError``...) whose message names the
parameter, or a specific finding. The shared guards below (also offered as fixtures of the same
name by ``tests/bad_input/conftest.py``) make the other outcomes fail loudly:

* :func:`expect_usage_error` -- ``with expect_usage_error("events"): Storm(..., events=-1)``:
  the block must raise a ``ClientError`` (or the narrower ``error=``) whose message names
  ``param``; no exception, another ``ClientError`` subclass, or an internal exception
  (``KeyError``, a plain ``TypeError`` ...) fails the test and shows its traceback.
* :func:`expect_finding` -- ``expect_finding(report, "invalid-command")``: the run (anything with
  ``.findings``, or an iterable of findings) has a finding of that kind, which fails the run.
* :func:`run_cli` / :func:`expect_cli_usage` -- ``cli.main(argv)`` with stdout/stderr captured;
  a usage failure is exit status 2 with one line on stderr naming the parameter, no traceback.

The conftest also gives every test here a per-test timeout (:data:`TIMEOUT` seconds, signal
method, which works under xdist; an explicit ``@pytest.mark.timeout(...)`` wins) and guards
``pytest.raises``: inside this suite it may only catch a ``ClientError``, an ``AssertionError``
(a verdict such as ``assert_clean()``) or a ``SystemExit`` (argparse). Catching an internal
exception fails the test with its traceback, so ``pytest.raises(ValueError)`` cannot pass on
an internal ``ValueError``. Mark a test ``@pytest.mark.internal_exception_ok(reason=...)`` to
opt out (rare: e.g. asserting what a test double itself raises).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import traceback
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from angzarr_testkit.errors import ClientError, describe_exception
from angzarr_testkit.framework.findings import KINDS, Finding, render_findings

__all__ = [
    "ALLOWED_RAISES",
    "TIMEOUT",
    "CliResult",
    "Caught",
    "expect_cli_usage",
    "expect_finding",
    "expect_usage_error",
    "fail_internal",
    "run_cli",
]

#: Seconds a bad-input case may take (pytest-timeout; an explicit timeout marker wins;
#: the environment variable ANGZARR_TESTKIT_BAD_INPUT_TIMEOUT overrides it).
TIMEOUT = float(os.environ.get("ANGZARR_TESTKIT_BAD_INPUT_TIMEOUT", "20"))
#: What ``pytest.raises`` may catch in this suite (see the module docstring).
ALLOWED_RAISES: tuple[type[BaseException], ...] = (ClientError, AssertionError, SystemExit)


def fail_internal(exc: BaseException, what: str) -> None:
    """Fail the current test: ``exc`` is an internal exception where ``what`` was expected;
    the message carries its full traceback."""
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    pytest.fail(
        f"{what}, but the kit raised an internal {describe_exception(exc)} "
        f"(a bad input must end in a ClientError or a finding, never a traceback):\n{tb}",
        pytrace=False,
    )


@dataclass
class Caught:
    """What :func:`expect_usage_error` caught (filled in when the block ends)."""

    value: ClientError | None = None

    @property
    def message(self) -> str:
        """The caught error's message."""
        assert self.value is not None, "read Caught.message after the with-block"
        return self.value.message


def _names(exc: ClientError, param: str) -> bool:
    return param in exc.message or exc.details.get("parameter") == param


@contextlib.contextmanager
def expect_usage_error(
    param: str,
    *,
    error: type[ClientError] | tuple[type[ClientError], ...] = ClientError,
    match: str | None = None,
) -> Iterator[Caught]:
    """Assert the block raises ``error`` (a :class:`ClientError` subclass, default any) whose
    message names ``param`` (and matches the regex ``match`` if given).

    Fails the test when the block returns normally, raises another ``ClientError`` subclass
    or a message that does not name ``param``, or raises anything else (shown with its
    traceback: an internal error is never an acceptable answer to a bad input).
    """
    errors = error if isinstance(error, tuple) else (error,)
    if not errors or not all(isinstance(e, type) and issubclass(e, ClientError) for e in errors):
        raise TypeError(f"expect_usage_error(error=...) takes ClientError subclasses: {error!r}")
    wanted = " or ".join(e.__name__ for e in errors)
    caught = Caught()
    try:
        yield caught
    except ClientError as exc:
        if not isinstance(exc, errors):
            pytest.fail(
                f"expected a {wanted} naming {param!r}, got {type(exc).__name__}: {exc.message}",
                pytrace=False,
            )
        if not _names(exc, param):
            pytest.fail(
                f"the {type(exc).__name__} does not name the parameter {param!r}: {exc.message}",
                pytrace=False,
            )
        if match is not None and not re.search(match, exc.message):
            pytest.fail(
                f"the {type(exc).__name__} message does not match {match!r}: {exc.message}",
                pytrace=False,
            )
        caught.value = exc
    except (pytest.fail.Exception, pytest.skip.Exception, KeyboardInterrupt):
        raise
    except BaseException as exc:  # noqa: BLE001 - the point: anything else fails the case
        fail_internal(exc, f"expected a {wanted} naming {param!r}")
    else:
        pytest.fail(
            f"expected a {wanted} naming {param!r}; the call returned normally", pytrace=False
        )


def _findings_of(result: Any) -> list[Finding]:
    findings = getattr(result, "findings", result)
    if not isinstance(findings, Iterable):
        raise TypeError(f"expect_finding takes a run or findings, got {type(result).__name__}")
    return list(findings)


def expect_finding(result: Any, kind: str, *, fails: bool = True) -> list[Finding]:
    """Assert ``result`` (a harness, a storm report, anything with ``.findings``, or an
    iterable of findings) has at least one finding of ``kind``; with ``fails`` (default)
    the kind must also be one that fails the run by default (error severity). Returns the
    findings of that kind."""
    if kind not in KINDS:
        raise ValueError(f"unknown finding kind {kind!r}; known: {', '.join(KINDS)}")
    findings = _findings_of(result)
    found = [f for f in findings if f.kind == kind]
    if not found:
        pytest.fail(f"expected a {kind!r} finding; got {render_findings(findings)}", pytrace=False)
    if fails and not found[0].is_error:
        pytest.fail(f"{kind!r} is a {found[0].severity}: it does not fail the run", pytrace=False)
    return found


@dataclass(frozen=True)
class CliResult:
    """One CLI run: exit status and what it wrote."""

    code: int
    out: str
    err: str


def run_cli(argv: Sequence[str]) -> CliResult:
    """``angzarr_testkit.cli.main(argv)`` with stdout and stderr captured; a ``SystemExit``
    (argparse) becomes its status. Any other exception escaping ``main`` fails the test with
    its traceback (the CLI must turn every failure into exit status 2)."""
    from angzarr_testkit.cli import main

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(argv))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except (pytest.fail.Exception, pytest.skip.Exception, KeyboardInterrupt):
        raise
    except BaseException as exc:  # noqa: BLE001 - an escaping exception is the failure
        fail_internal(exc, f"angzarr-testkit {' '.join(argv)} should exit with a status")
    return CliResult(code, out.getvalue(), err.getvalue())


def expect_cli_usage(argv: Sequence[str], param: str) -> CliResult:
    """Assert ``angzarr-testkit argv`` exits 2 with a message on stderr naming ``param``
    (a flag such as ``--events`` or the thing it is about) and no Python traceback."""
    result = run_cli(argv)
    shown = f"angzarr-testkit {' '.join(argv)}"
    if "Traceback (most recent call last)" in result.err + result.out:
        pytest.fail(f"{shown} printed a traceback:\n{result.err}{result.out}", pytrace=False)
    if result.code != 2:
        pytest.fail(
            f"{shown} exited {result.code}, expected 2 (usage)\nstderr: {result.err}",
            pytrace=False,
        )
    if param not in result.err:
        pytest.fail(f"{shown}: stderr does not name {param!r}: {result.err}", pytrace=False)
    return result
