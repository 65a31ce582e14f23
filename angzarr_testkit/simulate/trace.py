"""Storm traces: the full event-level record of a storm, as JSON lines on disk.

Line 1 is the header (``type: storm``: seed, options, target). Then, in order:

* ``publish``: a trigger (``msg`` id, ``root``, ``seq``, base64 ``book`` bytes); a publisher
  duplicate is a second ``publish`` line with ``duplicate: true`` and no book;
* ``deliver``: one delivery (``n`` the delivery number, ``msg``, ``t`` virtual ms,
  ``consumer``, ``redelivered``, ``count``, ``fault`` and its parameter ``k``, the command
  ``outcomes`` and the ``findings`` kinds it raised); a ``concurrent-redelivery`` line covers
  both consumers;
* ``settle``: what became of the message (``ack``, ``requeue`` or ``dead-letter``);
* ``summary``: the counts at the end.

The publish and deliver lines are the schedule: :func:`read_schedule` returns them so that
``Storm.replay`` can re-execute a storm exactly.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import ConfigurationError

__all__ = ["Schedule", "Step", "Trace", "TraceWriter", "read_schedule"]

TRACE_VERSION = 1


class TraceWriter:
    """Appends trace lines to a file (buffered; cheap enough for the storm loop)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._write = self._file.write

    def line(self, obj: dict[str, Any]) -> None:
        self._write(json.dumps(obj, separators=(",", ":")) + "\n")

    def raw(self, text: str) -> None:
        """Write a pre-formatted JSON line (the hot path formats its own)."""
        self._write(text)

    def close(self) -> None:
        self._file.close()


class Trace:
    """A storm's trace: iterate it for dicts, or ``save`` it elsewhere.

    The file is a temporary one (removed when this object goes away) unless the storm was
    given ``trace=PATH``.
    """

    def __init__(self, path: Path, *, temporary: bool) -> None:
        self.path = Path(path)
        self.temporary = temporary
        if temporary:
            # A temporary trace lives as long as this object (or the process): save() it
            # to keep it.
            weakref.finalize(self, _unlink, str(self.path))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)

    def lines(self) -> list[str]:
        """The raw JSON lines (for byte-for-byte comparisons)."""
        return self.path.read_text(encoding="utf-8").splitlines()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Copy the trace to ``path`` and return it."""
        target = Path(path)
        shutil.copyfile(self.path, target)
        return target

    def __repr__(self) -> str:
        return f"<Trace {self.path}>"

    @staticmethod
    def temporary_path() -> Path:
        fd, name = tempfile.mkstemp(prefix="angzarr-storm-", suffix=".jsonl")
        os.close(fd)
        return Path(name)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


@dataclass
class Step:
    """One scheduled delivery."""

    msg: int
    copy: int = 0
    fault: str | None = None
    k: int | None = None
    consumer: int = 0


@dataclass
class Schedule:
    """What a trace says to do: the header, the triggers and the deliveries in order."""

    header: dict[str, Any]
    books: dict[int, bytes] = field(default_factory=dict)
    publishes: list[tuple[int, bool]] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)


def read_schedule(path: str | os.PathLike[str]) -> Schedule:
    """Parse a trace file into the schedule a replay executes.

    Raises:
        ConfigurationError: the file is missing, not a storm trace, or malformed (the message
            names the line).
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigurationError(
            f"trace file {str(file)!r} does not exist", details={"path": str(file)}
        )
    schedule: Schedule | None = None
    with open(file, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                kind = obj["type"]
                if schedule is None:
                    if kind != "storm" or obj.get("version") != TRACE_VERSION:
                        raise ValueError(
                            f"the first line is not a storm trace header (version {TRACE_VERSION})"
                        )
                    schedule = Schedule(header=obj)
                elif kind == "publish":
                    msg = int(obj["msg"])
                    duplicate = bool(obj.get("duplicate", False))
                    if not duplicate:
                        schedule.books[msg] = base64.b64decode(obj["book"])
                    schedule.publishes.append((msg, duplicate))
                elif kind == "deliver":
                    schedule.steps.append(
                        Step(
                            int(obj["msg"]),
                            int(obj.get("copy", 0)),
                            obj.get("fault"),
                            obj.get("k"),
                            int(obj.get("consumer", 0)),
                        )
                    )
            except (ValueError, KeyError, TypeError) as exc:
                raise ConfigurationError(
                    f"{file}:{number}: not a valid storm trace line ({exc})",
                    details={"path": str(file), "line": str(number)},
                ) from exc
    if schedule is None:
        raise ConfigurationError(f"trace file {str(file)!r} is empty", details={"path": str(file)})
    return schedule
