"""Storm traces: the full event-level record of a storm, as a versioned JSON-lines document.

Line 1 is the header (``type: storm``, ``format: angzarr-testkit-trace``, ``version``, the
kit's version, the wire mode, the profile, the seed, the storm's options and a
``config_digest`` over them). Then, in order:

* ``publish``: a trigger (``msg`` id, ``root``, ``seq``, base64 ``book`` bytes); a publisher
  duplicate is a second ``publish`` line with ``duplicate: true`` and no book;
* ``deliver``: one delivery (``n`` the delivery number, ``msg``, ``t`` virtual ms,
  ``consumer``, ``redelivered``, ``count``, ``fault`` and its parameter ``k``, the command
  ``outcomes`` and the ``findings`` kinds it raised); a ``concurrent-redelivery`` line covers
  both consumers;
* ``settle``: what became of the message (``ack``, ``requeue`` or ``dead-letter``);
* ``summary``, the last line: the counts, the recorded verdict (``ok``, ``finding_kinds``),
  how many ``lines`` precede it and a ``digest``: ``sha256:`` + the SHA-256 of every byte of
  the file before ``,"digest":`` on that line (so every preceding line and the summary's own
  fields are covered).

:func:`~.trace_read.read_schedule` (in :mod:`.trace_read`) checks all of that (a trace
that is missing, not UTF-8 JSON lines, of another version, cut short or edited is a
:class:`~angzarr_testkit.errors.TraceError`) and returns the publish and deliver lines as the
schedule ``Storm.replay`` re-executes.

Files the kit writes by default go to :func:`output_dir` (``./.angzarr-testkit/`` unless
configured), never to the working directory itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import unwritable

__all__ = [
    "DIGEST_MARK",
    "DIR_ENV",
    "TRACE_FORMAT",
    "TRACE_VERSION",
    "Schedule",
    "Step",
    "Trace",
    "TraceWriter",
    "config_digest",
    "output_dir",
]

#: The ``format`` of a trace header: what tells a storm trace from another tool's JSON lines.
TRACE_FORMAT = "angzarr-testkit-trace"
#: The trace format this kit writes and reads (1: before headers had digests).
TRACE_VERSION = 2
#: The environment variable naming the folder for the files the kit writes by default.
DIR_ENV = "ANGZARR_TESTKIT_DIR"
DEFAULT_DIR = ".angzarr-testkit"

_FLUSH_PARTS = 256  # pre-formatted chunks buffered before one encode + hash + write
#: what precedes the digest on the summary line (the digest covers every byte before it)
DIGEST_MARK = b',"digest":"sha256:'


def output_dir(directory: str | os.PathLike[str] | None = None, *, create: bool = True) -> Path:
    """The folder for the files the kit writes by default (CLI traces, replay and shrink
    output).

    Precedence: ``directory`` (the CLI's ``--output-dir``), else the ``ANGZARR_TESTKIT_DIR``
    environment variable, else ``.angzarr-testkit`` under the working directory. With
    ``create`` the folder is made (with a ``.gitignore`` of ``*`` when the kit creates it).

    Raises:
        UsageError: the folder cannot be created (code ``OUTPUT_UNWRITABLE``).
    """
    chosen = directory if directory is not None else (os.environ.get(DIR_ENV) or DEFAULT_DIR)
    path = Path(chosen)
    if create and not path.is_dir():
        source = "output directory" if directory is not None else f"{DIR_ENV} directory"
        if directory is None and not os.environ.get(DIR_ENV):
            source = "default output directory"
        if path.exists():
            raise unwritable(
                f"the {source} {str(path)!r} is an existing file, not a directory", path
            )
        try:
            path.mkdir(parents=True, exist_ok=True)
            (path / ".gitignore").write_text("*\n", encoding="utf-8")
        except OSError as exc:
            raise unwritable(
                f"cannot create the {source} {str(path)!r}: {exc.strerror or exc}", path
            ) from exc
    return path


def config_digest(header: Mapping[str, Any]) -> str:
    """``sha256:`` + the SHA-256 of a header's options (canonical JSON, the digest itself and
    the kit's version left out): equal digests, equal storm configuration."""
    body = {k: v for k, v in header.items() if k not in ("config_digest", "kit_version")}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


class TraceWriter:
    """Appends trace lines to a file, hashing them as they go (buffered; cheap enough for
    the storm loop: one encode, one hash update and one write per few hundred lines).

    Raises:
        UsageError: the file cannot be opened for writing (code ``OUTPUT_UNWRITABLE``).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._file: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed in finish()
        except OSError as exc:
            raise unwritable(
                f"cannot write the trace to {str(path)!r}: {exc.strerror or exc}", path
            ) from exc
        self._digest = hashlib.sha256()
        self._parts: list[str] = []
        self._lines = 0

    def line(self, obj: dict[str, Any]) -> None:
        self.raw(json.dumps(obj, separators=(",", ":")) + "\n")

    def raw(self, text: str) -> None:
        """Write pre-formatted JSON lines (the hot path formats its own)."""
        parts = self._parts
        parts.append(text)
        if len(parts) >= _FLUSH_PARTS:
            self._flush()

    def _flush(self) -> None:
        if self._parts:
            data = "".join(self._parts).encode("utf-8")
            self._parts.clear()
            self._lines += data.count(b"\n")
            self._digest.update(data)
            self._file.write(data)

    def append_file(self, path: Path) -> None:
        """Stream the lines of ``path`` (a shard's part file) into the trace, hashed."""
        self._flush()
        with open(path, "rb") as part:
            while chunk := part.read(1 << 20):
                self._lines += chunk.count(b"\n")
                self._digest.update(chunk)
                self._file.write(chunk)

    def finish(self, summary: dict[str, Any]) -> None:
        """Write the closing ``summary`` line (with ``lines`` and ``digest`` added) and close."""
        self._flush()
        body = {"type": "summary", **summary, "lines": self._lines}
        head = json.dumps(body, separators=(",", ":"))[:-1].encode("utf-8")
        self._digest.update(head)
        tail = self._digest.hexdigest().encode("ascii")
        self._file.write(head + DIGEST_MARK + tail + b'"}\n')
        self._file.close()

    def close(self) -> None:
        """Close without a summary (an aborted storm: its trace does not replay)."""
        self._flush()
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
    """What a trace says to do: the header, the triggers and the deliveries in order.

    ``summary`` is the trace's closing line (the recorded verdict) when the schedule was read
    from a file; a schedule reduced by the shrinker has none. A sharded storm's schedule
    has one ``parts`` schedule per shard, in shard order (and no steps of its own).
    """

    header: dict[str, Any]
    books: dict[int, bytes] = field(default_factory=dict)
    publishes: list[tuple[int, bool]] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    parts: list[Schedule] = field(default_factory=list)
