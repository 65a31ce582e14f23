"""Where a storm's trigger events come from.

``event_source`` may be a list (cycled), a callable ``(rng, i) -> message | EventBook`` (``rng``
is the storm's seeded ``random.Random``), a Hypothesis strategy (drawn from with the storm's
seeded randomness), or ``None``: random instances of the event types the saga declares it
handles (``strategies.messages``), drawn once into a pool and picked from by the rng.

The shape of a source is checked when the storm is built (:func:`check_event_source`); a
source that raises while the storm runs is a :class:`~angzarr_testkit.errors.UserCodeError`
naming the source and the event index, with the original exception chained.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ConfigurationError, UsageError, UserCodeError, describe_exception
from ..validate import check_callable, usage_error

__all__ = [
    "EventSource",
    "check_event_source",
    "describe_source",
    "draw",
    "make_event_source",
    "refuse_event",
]

EventSource = Callable[[random.Random, int], Any]

#: How many distinct random instances a default source draws (drawing is slow; picking is not)
POOL_SIZE = 256

_ACCEPTED = (
    "a list of events, a callable fn(rng, i) -> event, a Hypothesis strategy, or None (random "
    "instances of the event types the target declares)"
)


def draw(strategy: Any, rng: random.Random) -> Any:
    """One value of a Hypothesis strategy, drawn with ``rng`` (deterministic per seed)."""
    try:
        from hypothesis.control import BuildContext
        from hypothesis.internal.conjecture.data import ConjectureData
    except ImportError as exc:  # pragma: no cover - guarded by the pinned hypothesis range
        raise ConfigurationError(
            "this Hypothesis version cannot be drawn from outside a test; give the storm a "
            "callable event_source instead",
            details={"error": str(exc)},
        ) from exc
    data = ConjectureData(random=rng, max_choices=100_000)
    with BuildContext(data, wrapped_test=None):
        return data.draw(strategy)


def _is_strategy(obj: Any) -> bool:
    try:
        from hypothesis.strategies import SearchStrategy
    except ImportError:  # pragma: no cover
        return False
    return isinstance(obj, SearchStrategy)


def check_event_source(event_source: Any) -> None:
    """Refuse, at the call, an ``event_source`` of a shape a storm cannot use: not a list,
    callable or strategy; an empty list; a callable that does not take ``(rng, i)``.

    Raises:
        UsageError: naming ``event_source`` (a ``TypeError`` flavour for a wrong type/arity).
    """
    if event_source is None or _is_strategy(event_source):
        return
    if isinstance(event_source, (list, tuple)):
        if not event_source:
            raise usage_error("event_source", event_source, "at least one event (a list)")
        return
    if isinstance(event_source, (str, bytes, dict, set, frozenset)) or not callable(event_source):
        raise usage_error("event_source", event_source, _ACCEPTED, type_error=True)
    check_callable(event_source, "event_source", arity=2, signature="a callable fn(rng, i)")


def describe_source(event_source: Any) -> str:
    """A readable name for an event source, for messages (``event_source my_events``)."""
    if event_source is None:
        return "the default event source"
    if isinstance(event_source, (list, tuple)):
        return f"event_source (a list of {len(event_source)})"
    if _is_strategy(event_source):
        return "event_source (a Hypothesis strategy)"
    name = getattr(event_source, "__qualname__", None) or type(event_source).__name__
    return f"event_source {name}"


def _user_failed(what: str, i: int, exc: BaseException) -> UserCodeError:
    return UserCodeError(
        f"{what} raised {describe_exception(exc)} while making event {i} (i={i})",
        details={"callable": what, "index": str(i), "error": type(exc).__name__},
    )


def make_event_source(
    event_source: Any, handled_types: Sequence[type], target_name: str
) -> EventSource:
    """Normalise ``event_source`` to ``fn(rng, i) -> message | EventBook``; what a user
    source raises comes out as a :class:`~angzarr_testkit.errors.UserCodeError`.

    Raises:
        ConfigurationError: no source and nothing declared.
        UsageError: an unusable source (see :func:`check_event_source`).
    """
    if event_source is None:
        if not handled_types:
            raise ConfigurationError(
                f"the storm needs trigger events, but {target_name} declares no event types "
                "(a plain callable or servicer declares nothing): pass event_source= (a list "
                "of events, a callable (rng, i) -> event, or a Hypothesis strategy), or "
                "--event-source MODULE:ATTR on the command line",
                details={"target": target_name, "parameter": "event_source"},
            )
        from hypothesis import strategies as st

        from ..strategies import messages

        strategy = st.one_of(*[messages(t) for t in handled_types])
        pool: list[Any] = []

        def from_pool(rng: random.Random, i: int) -> Any:
            if len(pool) < POOL_SIZE:
                pool.append(draw(strategy, rng))
                return pool[-1]
            return pool[rng.randrange(len(pool))]

        return from_pool
    check_event_source(event_source)
    what = describe_source(event_source)
    if _is_strategy(event_source):

        def from_strategy(rng: random.Random, i: int) -> Any:
            try:
                return draw(event_source, rng)
            except (Exception, SystemExit) as exc:
                raise _user_failed(what, i, exc) from exc

        return from_strategy
    if isinstance(event_source, (list, tuple)):
        items = list(event_source)
        return lambda rng, i: items[i % len(items)]

    def from_callable(rng: random.Random, i: int) -> Any:
        try:
            return event_source(rng, i)
        except (Exception, SystemExit) as exc:
            raise _user_failed(what, i, exc) from exc

    return from_callable


def refuse_event(
    what: str,
    i: int,
    value: Any,
    accepted: str,
    *,
    hint: str = "",
    type_error: bool | None = None,
    param: str = "",
) -> UsageError:
    """The error for an event a source yielded that a storm cannot publish: names the
    source and the event index (``event_source[i]``); a ``TypeError`` flavour unless the
    value is a protobuf message (or ``type_error`` says otherwise). ``param`` follows the
    index (``" domain"``)."""
    name = getattr(getattr(value, "DESCRIPTOR", None), "full_name", None)
    if type_error is None:
        type_error = name is None
    shown: Any = (f"an {name}" if name[:1] in "aeiou" else f"a {name}") if name else value
    text = f"{hint[:1].upper()}{hint[1:]}. " if hint else ""
    return usage_error(
        f"event_source[{i}]{param}",
        shown,
        accepted,
        type_error=type_error,
        hint=text + f"It came from {what}",
    )
