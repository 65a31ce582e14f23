"""Where a storm's trigger events come from.

``event_source`` may be a list (cycled), a callable ``(rng, i) -> message | EventBook`` (``rng``
is the storm's seeded ``random.Random``), a Hypothesis strategy (drawn from with the storm's
seeded randomness), or ``None``: random instances of the event types the saga declares it
handles (``strategies.messages``), drawn once into a pool and picked from by the rng.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ConfigurationError

__all__ = ["EventSource", "draw", "make_event_source"]

EventSource = Callable[[random.Random, int], Any]

#: How many distinct random instances a default source draws (drawing is slow; picking is not)
POOL_SIZE = 256


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


def make_event_source(
    event_source: Any, handled_types: Sequence[type], target_name: str
) -> EventSource:
    """Normalise ``event_source`` to ``fn(rng, i) -> message | EventBook``.

    Raises:
        ConfigurationError: no source and nothing declared, or an unusable source.
    """
    if event_source is None:
        if not handled_types:
            raise ConfigurationError(
                f"the storm needs trigger events, but {target_name} declares no event types "
                "(a plain callable or servicer declares nothing): pass event_source= (a list "
                "of events, a callable (rng, i) -> event, or a Hypothesis strategy), or "
                "--event-source MODULE:ATTR on the command line",
                details={"target": target_name},
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
    if _is_strategy(event_source):
        return lambda rng, i: draw(event_source, rng)
    if isinstance(event_source, (list, tuple)):
        if not event_source:
            raise ConfigurationError("event_source is an empty list; give at least one event")
        items = list(event_source)
        return lambda rng, i: items[i % len(items)]
    if callable(event_source):
        return event_source
    raise ConfigurationError(
        f"event_source must be a list, a callable (rng, i) -> event, or a Hypothesis "
        f"strategy; got {type(event_source).__name__}",
        details={"type": type(event_source).__name__},
    )
