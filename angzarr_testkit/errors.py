"""Errors raised by the kit.

Every error the kit raises on a user mistake is a :class:`ClientError` with a stable
``code`` (a SCREAMING_SNAKE string from :class:`codes`) and a ``details`` dict of strings,
so tests and tools can match on the code instead of parsing the message.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "ClientError",
    "ConfigurationError",
    "InvalidArgumentError",
    "TargetError",
    "WireModeError",
    "codes",
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


class InvalidArgumentError(ClientError):
    """An argument (a domain, a sequence, a cover) is not acceptable."""

    default_code = codes.INVALID_ARGUMENT


class WireModeError(ClientError):
    """The requested wire mode (``ANGZARR_TESTKIT_WIRE``) cannot be honoured."""

    default_code = codes.WIRE_MODE


class TargetError(ClientError):
    """A saga/PM target could not be resolved or called the way it was given."""

    default_code = codes.TARGET_NOT_FOUND


class ConfigurationError(ClientError):
    """A harness or storm option is invalid (unknown profile, unknown domain, ...)."""

    default_code = codes.INVALID_OPTION
