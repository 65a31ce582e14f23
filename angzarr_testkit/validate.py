"""The one place for argument checks at the kit's public entry points.

Every check raises a :class:`~angzarr_testkit.errors.UsageError` (or its ``TypeError``
flavour :class:`~angzarr_testkit.errors.UsageTypeError`) *at the call*, naming the parameter,
the value received and what is accepted, so a bad argument never travels into the kit and
comes back as an internal traceback. Checks return the normalised value.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from .errors import UsageError, UsageTypeError, codes, safe_repr

__all__ = [
    "DOMAIN_PATTERN",
    "DOMAIN_RE",
    "INT64_MAX",
    "UINT32_MAX",
    "call_user",
    "check_bool",
    "check_callable",
    "check_choice",
    "check_domain",
    "check_int",
    "check_names",
    "check_probability",
    "check_root",
    "check_str",
    "check_uint32",
    "usage_error",
]

UINT32_MAX = 2**32 - 1
INT64_MAX = 2**63 - 1
#: angzarr core's domain rule (a lowercase identifier, '-' allowed, at most 64 characters).
DOMAIN_PATTERN = r"[a-z_][a-z0-9_-]{0,63}"
DOMAIN_RE = re.compile(DOMAIN_PATTERN)

T = TypeVar("T")


def usage_error(
    param: str,
    value: object,
    accepted: str,
    *,
    type_error: bool = False,
    code: str | None = None,
    hint: str = "",
) -> UsageError:
    """Build (not raise) the error for ``param=value``: ``"<param>: got <value>; expected
    <accepted>"`` plus an optional hint saying what to write instead."""
    shown = safe_repr(value)
    message = f"{param}: got {shown}"
    if not isinstance(value, (str, int, float, bool, type(None))):
        message += f" ({type(value).__name__})"
    message += f"; expected {accepted}"
    if hint:
        message += f". {hint}"
    cls = UsageTypeError if type_error else UsageError
    return cls(
        message,
        code=code,
        details={"parameter": param, "value": shown, "accepted": accepted},
    )


def check_int(
    value: Any,
    param: str,
    *,
    minimum: int | None = 0,
    maximum: int | None = INT64_MAX,
) -> int:
    """An ``int`` (not a ``bool``) in ``minimum..maximum`` (either bound may be ``None``)."""
    accepted = _int_range(minimum, maximum)
    if isinstance(value, bool) or not isinstance(value, int):
        raise usage_error(param, value, accepted, type_error=True)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise usage_error(param, value, accepted)
    return value


def check_uint32(value: Any, param: str) -> int:
    """A protobuf ``uint32`` (sequences are uint32 on the wire)."""
    try:
        return check_int(value, param, minimum=0, maximum=UINT32_MAX)
    except UsageError as exc:
        exc.code = codes.SEQUENCE_OUT_OF_RANGE if not isinstance(exc, TypeError) else exc.code
        raise


def check_probability(value: Any, param: str) -> float:
    """A number in ``[0, 1]`` (not NaN, not a ``bool``)."""
    accepted = "a probability: a number from 0 to 1"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise usage_error(param, value, accepted, type_error=True)
    number = float(value)
    if math.isnan(number) or not 0.0 <= number <= 1.0:
        raise usage_error(param, value, accepted)
    return number


def check_bool(value: Any, param: str) -> bool:
    """A real ``bool`` (``0``/``"no"`` are refused: they usually mean a mixed-up argument)."""
    if not isinstance(value, bool):
        raise usage_error(param, value, "True or False", type_error=True)
    return value


def check_str(value: Any, param: str, *, allow_empty: bool = True) -> str:
    """A ``str`` (``None`` is refused; pass ``""`` for 'none')."""
    if not isinstance(value, str):
        raise usage_error(param, value, "a str", type_error=True)
    if not allow_empty and not value:
        raise usage_error(param, value, "a non-empty str")
    return value


def check_domain(value: Any, param: str) -> str:
    """An angzarr domain name (core's pattern ``[a-z_][a-z0-9_-]{0,63}``)."""
    accepted = (
        "an angzarr domain name: lowercase letters, digits, '_' and '-', starting with a "
        "letter or '_', at most 64 characters"
    )
    if not isinstance(value, str):
        raise usage_error(param, value, accepted, type_error=True, code=codes.INVALID_ARGUMENT)
    if not DOMAIN_RE.fullmatch(value):
        raise usage_error(param, value, accepted)
    return value


def check_root(value: Any, param: str = "root") -> bytes:
    """16 UUID bytes (``uuid_for('name')`` or ``uuid.UUID(...).bytes``)."""
    accepted = "16 UUID bytes (use uuid_for('name') or uuid.UUID(...).bytes)"
    if not isinstance(value, (bytes, bytearray)):
        raise usage_error(param, value, accepted, type_error=True, code=codes.INVALID_COVER)
    if len(value) != 16:
        raise usage_error(param, f"{len(value)} bytes", accepted, code=codes.INVALID_COVER)
    return bytes(value)


def check_choice(value: Any, param: str, choices: Iterable[str]) -> str:
    """One of ``choices``."""
    options = list(choices)
    accepted = "one of: " + ", ".join(repr(c) for c in options)
    if not isinstance(value, str):
        raise usage_error(param, value, accepted, type_error=True, code=codes.INVALID_OPTION)
    if value not in options:
        raise usage_error(param, value, accepted, code=codes.INVALID_OPTION)
    return value


def check_names(
    value: Any,
    param: str,
    *,
    item: Callable[[Any, str], T] | None = None,
    accepted: str = "a list of names",
) -> list[T]:
    """A sequence of names (a list, tuple, set, ...), each checked by ``item`` (default:
    :func:`check_str`). A lone ``str`` is refused, never iterated character by character."""
    check = item or check_str
    if isinstance(value, (str, bytes)):
        raise usage_error(
            param,
            value,
            accepted,
            type_error=True,
            hint=f"a single name is written as a one-item list: {param}=[{safe_repr(value)}]",
        )
    if value is None or isinstance(value, (int, float, bool)) or not isinstance(value, Iterable):
        raise usage_error(param, value, accepted, type_error=True)
    if isinstance(value, dict):
        raise usage_error(param, value, accepted, type_error=True)
    return [check(v, f"{param}[{i}]") for i, v in enumerate(value)]


def check_callable(value: Any, param: str, *, arity: int, signature: str = "") -> Callable:
    """A callable that accepts ``arity`` positional arguments (``signature`` shows the
    expected form in the message, e.g. ``"fn(rng, i)"``)."""
    shape = signature or f"a callable taking {arity} positional argument(s)"
    if not callable(value):
        raise usage_error(param, value, shape, type_error=True)
    try:
        sig = inspect.signature(value)
    except (TypeError, ValueError):  # builtins without a signature: trust them
        return value
    try:
        sig.bind(*range(arity))
    except TypeError:
        name = getattr(value, "__name__", type(value).__name__)
        raise usage_error(
            param, value, shape, type_error=True, hint=f"its signature is {name}{sig}"
        ) from None
    return value


def call_user(what: str, fn: Callable[..., T], *args: Any) -> T:
    """Call a user callable that sets up a run (not the code under test); if it raises,
    raise :class:`~angzarr_testkit.errors.UserCodeError` naming ``what``, chained to the
    original. ``SystemExit`` from user code is caught too: a helper calling ``sys.exit``
    must not end the test run silently (``KeyboardInterrupt`` still stops the run)."""
    from .errors import UserCodeError, describe_exception

    try:
        return fn(*args)
    except UsageError:
        raise
    except (Exception, SystemExit) as exc:
        name = getattr(fn, "__qualname__", None) or type(fn).__name__
        raise UserCodeError(
            f"{what} {name} raised {describe_exception(exc)}",
            details={"callable": name, "error": type(exc).__name__},
        ) from exc


def _int_range(minimum: int | None, maximum: int | None) -> str:
    if minimum is None and maximum is None:
        return "an int"
    if maximum is None or maximum == INT64_MAX:
        return f"an int >= {minimum}"
    if minimum is None:
        return f"an int <= {maximum}"
    return f"an int in {minimum}..{maximum}"


def recast(
    error: UsageError,
    cls: type[UsageError],
    *,
    details: dict[str, object] | None = None,
) -> UsageError:
    """``error`` (its message, code and details, plus ``details``) as an instance of ``cls``,
    for an entry point that documents a narrower class (``InvalidArgumentError``,
    ``ConfigurationError``) while the check itself lives here. A type error stays a
    ``TypeError``: its class is the ``...TypeError`` flavour of ``cls`` when there is one."""
    from .errors import (
        ConfigurationError,
        ConfigurationTypeError,
        InvalidArgumentError,
        InvalidArgumentTypeError,
    )

    if isinstance(error, TypeError) and not issubclass(cls, TypeError):
        flavours: dict[type, type[UsageError]] = {
            InvalidArgumentError: InvalidArgumentTypeError,
            ConfigurationError: ConfigurationTypeError,
            UsageError: UsageTypeError,
        }
        cls = flavours.get(cls, cls)
    merged: dict[str, object] = dict(error.details)
    merged.update(details or {})
    return cls(error.message, code=error.code, details=merged)


def checked(cls: type[UsageError], check: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``check(*args, **kwargs)``, its error :func:`recast` as ``cls`` (the parameter's name
    is also kept as ``details["param"]``, the key older entry points documented)."""
    try:
        return check(*args, **kwargs)
    except UsageError as exc:
        param = exc.details.get("parameter")
        extra = {"param": param} if param is not None else None
        raise recast(exc, cls, details=extra) from None


def check_message(value: Any, param: str, *, full_name: str | None = None) -> Any:
    """A protobuf message instance (a message class, a dict or ``None`` is refused); with
    ``full_name``, a message of that type (e.g. ``"angzarr.CommandBook"``)."""
    from google.protobuf.message import Message

    accepted = f"a {full_name} message" if full_name else "a protobuf message instance"
    if not isinstance(value, Message):
        hint = (
            "pass an instance, e.g. OrderCreated(...), not the class"
            if isinstance(value, type)
            else ""
        )
        raise usage_error(param, value, accepted, type_error=True, hint=hint)
    if full_name and value.DESCRIPTOR.full_name != full_name:
        raise usage_error(
            param, value, accepted, type_error=True, hint=f"got a {value.DESCRIPTOR.full_name}"
        )
    return value


def check_optional(value: Any, param: str, check: Callable[[Any, str], T]) -> T | None:
    """``None``, or a value ``check`` accepts."""
    return None if value is None else check(value, param)
