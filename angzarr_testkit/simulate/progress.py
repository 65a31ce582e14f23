"""The progress bar of a long storm (tqdm), fed the number of events published so far."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["progress_bar"]


def progress_bar(show: bool | None, total: int) -> Callable[[int], None] | None:
    """A progress callback ``update(published)`` for a storm of ``total`` events, or ``None``.

    ``show``: the storm's ``progress`` option (``None``: on a terminal, for storms of at
    least 20,000 events)."""
    if show is False or (show is None and total < 20_000):
        return None
    from tqdm import tqdm

    # disable=None: tqdm shows the bar on a terminal only, never when piped.
    bar = tqdm(
        total=total,
        unit="event",
        desc="storm",
        disable=None if show is None else False,
        mininterval=0.5,
        leave=True,
    )
    state = {"done": 0}

    def update(done: int) -> None:
        if done != state["done"]:
            bar.update(done - state["done"])
            state["done"] = done
            if done == total:
                bar.close()

    return update
