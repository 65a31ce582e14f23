"""The When step that replays a recorded storm trace."""

from __future__ import annotations

from typing import Any

from .environment import (
    state,
)
from .saga_support import (
    G_ACT,
)
from .vocabulary import step

__all__: list[str] = []


@step(
    "When",
    'the storm in trace "{path}" is replayed',
    group=G_ACT,
    description="Re-execute a recorded storm trace exactly (a path relative to the feature "
    "file), against the declared saga or process manager.",
    example='When the storm in trace "storm-7.jsonl" is replayed',
)
def when_replayed(context: Any, path: str) -> None:
    from pathlib import Path

    from ..simulate import Storm

    s = state(context)
    if s.saga is None:
        raise AssertionError("declare the saga or process manager first")
    trace = Path(path)
    feature = getattr(getattr(context, "feature", None), "filename", None)
    if not trace.is_absolute() and feature:
        trace = Path(feature).resolve().parent / trace
    setups = list(s.storm_setup)
    s.report = Storm.replay(
        trace, saga=s.saga, setup=(lambda h: [fn(h) for fn in setups]) if setups else None
    )
