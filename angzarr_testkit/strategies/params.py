"""How a strategy takes its parameters, and the checks it makes at the call.

Every parameter that shapes a value accepts a plain value (used as it is, and checked when the
strategy is made), a strategy (drawn from, and checked by what draws it) or ``None`` (the default
strategy): :func:`as_strategy` turns any of the three into a strategy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from google.protobuf.message import Message
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from ..errors import InvalidArgumentError
from ..validate import (
    check_domain,
    check_int,
    check_message,
    check_root,
    check_str,
    check_uint32,
    checked,
)

T = TypeVar("T")

UINT32_MAX = 2**32 - 1


def bad_param(param: str, message: str, value: object) -> InvalidArgumentError:
    """An :class:`InvalidArgumentError` for ``param`` (``details["param"]`` names it)."""
    return InvalidArgumentError(
        f"{param}: {message}", details={"param": param, "value": repr(value)[:200]}
    )


def as_strategy(value: object, default: SearchStrategy[T] | None = None) -> SearchStrategy[Any]:
    """A strategy as given, a plain value as ``just(value)``, ``None`` as ``default``."""
    if value is None and default is not None:
        return default
    if isinstance(value, SearchStrategy):
        return value
    return st.just(value)


#: the most pages, map entries or repeated elements a strategy draws: Hypothesis cannot draw
#: a list longer than its buffer (8192 choices), so a larger min_size could never generate
MAX_SIZE = 8_192
#: the deepest nesting :func:`messages` builds
MAX_DEPTH = 32


def check_param(
    value: object, param: str, check: Callable[..., Any], *args: Any, **kwargs: Any
) -> Any:
    """``check`` from :mod:`angzarr_testkit.validate`, raised as ``InvalidArgumentError``
    with ``details["param"]``."""
    return checked(InvalidArgumentError, check, value, param, *args, **kwargs)


def check_size(min_size: int, max_size: int, what: str) -> None:
    """Check a ``min_<what>``/``max_<what>`` pair: each in ``0..MAX_SIZE``, min <= max."""
    for name, v in ((f"min_{what}", min_size), (f"max_{what}", max_size)):
        check_param(v, name, check_int, minimum=0, maximum=MAX_SIZE)
    if min_size > max_size:
        raise bad_param(f"min_{what}", f"{min_size} is more than max_{what} {max_size}", min_size)


def check_plain(
    value: object, param: str, check: Callable[..., Any], *args: Any, **kw: Any
) -> None:
    """Check a parameter given as a plain value at the call (``None`` and strategies are
    drawn later, and checked by what draws them)."""
    if value is None or isinstance(value, SearchStrategy):
        return
    check_param(value, param, check, *args, **kw)


def check_domain_value(value: object, param: str) -> None:
    """Check ``value`` as a domain name when it is given plain."""
    check_plain(value, param, check_domain)


def check_root_value(value: object, param: str) -> None:
    """Check ``value`` as a root (16 bytes, or a UUID message) when it is given plain."""
    if isinstance(value, Message) and value.DESCRIPTOR.full_name == "angzarr.UUID":
        value = getattr(value, "value")  # noqa: B009 - Message has no typed fields
    if value is None or isinstance(value, SearchStrategy):
        return
    check_param(value, param, check_root)


def check_edition_value(value: object, param: str) -> None:
    """Check ``value`` as an ``Edition`` message or an edition name when it is given plain."""
    if isinstance(value, Message):
        check_param(value, param, check_message, full_name="angzarr.Edition")
    else:
        check_plain(value, param, check_str)


def check_enum_value(value: object, param: str, enum: Any) -> None:
    """Check ``value`` as a name or number of ``enum`` when it is given plain."""
    if value is None or isinstance(value, SearchStrategy):
        return
    names = ", ".join(enum.keys())
    if isinstance(value, str):
        if value not in enum.keys():
            raise bad_param(param, f"{value!r} is not one of {names}", value)
    elif isinstance(value, bool) or not isinstance(value, int) or value not in enum.values():
        raise bad_param(
            param, f"expected a {enum.DESCRIPTOR.full_name} name or number ({names})", value
        )


def check_map_value(value: object, param: str) -> None:
    """Check ``value`` as a mapping of domain -> uint32 sequence when it is given plain."""
    if value is None or isinstance(value, SearchStrategy):
        return
    if not isinstance(value, Mapping):
        raise bad_param(param, "expected a mapping of domain -> sequence, or a strategy", value)
    for domain, seq in value.items():
        check_param(domain, f"{param} key", check_domain)
        check_param(seq, f"{param}[{domain!r}]", check_uint32)
