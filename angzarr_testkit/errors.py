"""Errors raised by the kit.

Every error the kit raises on a user mistake is a :class:`ClientError` with a stable
``code`` (a SCREAMING_SNAKE string from :class:`codes`) and a ``details`` dict of strings,
so tests and tools can match on the code instead of parsing the message.

The tree::

    ClientError
      UsageError (also ValueError)      a bad argument, option, target or file: fix the call
        UsageTypeError (also TypeError)   ... of the wrong type
        InvalidArgumentError, ConfigurationError, TargetError, WireModeError, TraceError
        (InvalidArgumentTypeError, ConfigurationTypeError: their TypeError flavours)
      UserCodeError                     a callable the user gave the kit (not the code under
                                        test) raised; the original exception is chained

A handler under test that raises is not an error of the kit: it is a ``handler-error``
finding. The CLI maps every :class:`ClientError` to exit status 2.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "ClientError",
    "ConfigurationError",
    "ConfigurationTypeError",
    "InvalidArgumentError",
    "InvalidArgumentTypeError",
    "TargetError",
    "TraceError",
    "UsageError",
    "UsageTypeError",
    "UserCodeError",
    "WireModeError",
    "codes",
    "describe_exception",
    "safe_repr",
]


class codes:  # noqa: N801 - a namespace of constants, read as ``codes.X``
    """Stable error codes carried by :attr:`ClientError.code`."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    MISSING_DESTINATION_SEQUENCE = "MISSING_DESTINATION_SEQUENCE"
    SEQUENCE_OUT_OF_RANGE = "SEQUENCE_OUT_OF_RANGE"
    INVALID_COVER = "INVALID_COVER"
    WIRE_MODE = "WIRE_MODE"
    TARGET_NOT_FOUND = "TARGET_NOT_FOUND"
    TARGET_UNSUPPORTED = "TARGET_UNSUPPORTED"
    UNKNOWN_DOMAIN = "UNKNOWN_DOMAIN"
    INVALID_OPTION = "INVALID_OPTION"
    INVALID_TYPE = "INVALID_TYPE"
    INVALID_TRACE = "INVALID_TRACE"
    USER_CODE_FAILED = "USER_CODE_FAILED"
    OUTPUT_UNWRITABLE = "OUTPUT_UNWRITABLE"


def safe_repr(value: object, limit: int = 120) -> str:
    """``repr(value)``, shortened to ``limit`` characters, that never raises (a user object
    whose ``__repr__`` raises is shown by its type)."""
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real problem
        text = f"<{type(value).__name__} object (its __repr__ raised)>"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def describe_exception(exc: BaseException) -> str:
    """``"TypeName: message"`` for any exception, even one whose ``__str__`` raises."""
    name = type(exc).__name__
    try:
        text = str(exc)
    except Exception:  # the user's exception class is broken; say so instead of crashing
        text = "<its __str__ raised>"
    return f"{name}: {text}" if text else name


class ClientError(Exception):
    """Base of every error the kit raises on a user mistake.

    Attributes:
        message: human-readable text that says what to change.
        code: stable SCREAMING_SNAKE identifier (see :class:`codes`).
        details: string-to-string context (the domain, the value, ...).
    """

    default_code = codes.INVALID_ARGUMENT

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details: dict[str, str] = {str(k): str(v) for k, v in (details or {}).items()}

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class UsageError(ClientError, ValueError):
    """A call the kit cannot honour: the message names the parameter, the value received
    and what is accepted (``details`` has ``parameter``, ``value`` and ``accepted`` when
    the error was built by :func:`angzarr_testkit.validate.usage_error`)."""

    default_code = codes.INVALID_ARGUMENT


def unwritable(message: str, path: object, parameter: str | None = None) -> UsageError:
    """The :class:`UsageError` for an output path the kit cannot write (code
    ``OUTPUT_UNWRITABLE``; ``details`` has ``path``, or ``parameter`` and ``value``)."""
    details = {"path": str(path)} if parameter is None else {"parameter": parameter}
    if parameter is not None:
        details["value"] = str(path)
    return UsageError(message, code=codes.OUTPUT_UNWRITABLE, details=details)


class UsageTypeError(UsageError, TypeError):
    """A :class:`UsageError` for a value of the wrong type (also a ``TypeError``)."""

    default_code = codes.INVALID_TYPE


class InvalidArgumentError(UsageError):
    """An argument (a domain, a sequence, a cover) is not acceptable."""

    default_code = codes.INVALID_ARGUMENT


class WireModeError(UsageError):
    """The requested wire mode (``ANGZARR_TESTKIT_WIRE``) cannot be honoured."""

    default_code = codes.WIRE_MODE


class TargetError(UsageError):
    """A saga/PM target could not be resolved or called the way it was given."""

    default_code = codes.TARGET_NOT_FOUND


class ConfigurationError(UsageError):
    """A harness or storm option is invalid (unknown profile, unknown domain, ...)."""

    default_code = codes.INVALID_OPTION


class TraceError(UsageError):
    """A trace file that cannot be replayed: missing, not a file, not UTF-8 JSON lines, of
    an unknown version, truncated or edited (its digest does not match)."""

    default_code = codes.INVALID_TRACE


class UserCodeError(ClientError):
    """A callable the user handed the kit to set up a run (an event source, a setup
    function, a merge policy) raised. The message names the
    callable; the original exception is the ``__cause__``."""

    default_code = codes.USER_CODE_FAILED


class InvalidArgumentTypeError(InvalidArgumentError, UsageTypeError):
    """An :class:`InvalidArgumentError` for a value of the wrong type (also a ``TypeError``)."""

    default_code = codes.INVALID_TYPE


class ConfigurationTypeError(ConfigurationError, UsageTypeError):
    """A :class:`ConfigurationError` for an option of the wrong type (also a ``TypeError``)."""

    default_code = codes.INVALID_TYPE
