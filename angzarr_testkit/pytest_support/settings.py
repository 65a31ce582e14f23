"""The session's settings (seed, storm scale, profile, kinds that fail tests) and the seeds
derived from them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest

__all__ = ["SEED_BOUND", "SETTINGS", "WORKER_KEY", "Settings", "derive_seed"]

#: a random session seed is below this bound (32 bits)
SEED_BOUND = 2**32
#: the key of the session seed in an xdist worker's ``workerinput``
WORKER_KEY = "angzarr_testkit_seed"


@dataclass(frozen=True)
class Settings:
    """The session's settings (``config.stash[angzarr_testkit.pytest_plugin.SETTINGS]``).

    Attributes:
        seed: the session seed (``--angzarr-seed``; random once per session otherwise).
        storm_scale: the factor storm ``events`` are multiplied by.
        profile: the default profile of fixture-made harnesses and storms.
        fail_on: finding kinds raised to errors for the plugin's verdict
            (``--angzarr-fail-on``, ini ``angzarr_fail_on``).
    """

    seed: int
    storm_scale: float
    profile: str
    fail_on: frozenset[str] = frozenset()

    def replay_line(self, nodeid: str) -> str:
        """The line every failure carries: how to rerun ``nodeid`` with this seed."""
        return (
            f"angzarr-testkit seed: {self.seed} "
            f"(replay: pytest --angzarr-seed {self.seed} {nodeid})"
        )


#: where the session's :class:`Settings` live: ``config.stash[SETTINGS]``
SETTINGS = pytest.StashKey[Settings]()


def derive_seed(session_seed: int, *parts: object) -> int:
    """A 32-bit seed derived from ``session_seed`` and ``parts`` (stable across runs, processes
    and machines; independent of test order). ``angzarr_seed`` is
    ``derive_seed(session_seed, nodeid)``."""
    text = "\x1f".join(str(p) for p in (session_seed, *parts))
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big")
