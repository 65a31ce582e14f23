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

:func:`read_schedule` checks all of that (a trace that is missing, not UTF-8 JSON lines, of
another version, cut short or edited is a :class:`~angzarr_testkit.errors.TraceError`) and
returns the publish and deliver lines as the schedule ``Storm.replay`` re-executes.

Files the kit writes by default go to :func:`output_dir` (``./.angzarr-testkit/`` unless
configured), never to the working directory itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import TraceError, safe_repr, unwritable

__all__ = [
    "DIR_ENV",
    "TRACE_FORMAT",
    "TRACE_VERSION",
    "Schedule",
    "Step",
    "Trace",
    "TraceWriter",
    "config_digest",
    "output_dir",
    "read_schedule",
]

#: The ``format`` of a trace header: what tells a storm trace from another tool's JSON lines.
TRACE_FORMAT = "angzarr-testkit-trace"
#: The trace format this kit writes and reads (1: before headers had digests).
TRACE_VERSION = 2
#: The environment variable naming the folder for the files the kit writes by default.
DIR_ENV = "ANGZARR_TESTKIT_DIR"
DEFAULT_DIR = ".angzarr-testkit"

_FLUSH_PARTS = 256  # pre-formatted chunks buffered before one encode + hash + write
_DIGEST_MARK = b',"digest":"sha256:'
_DIGEST_TAIL = re.compile(rb'[0-9a-f]{64}"\}\n')
_DELIVER_FAULTS = frozenset(
    {"crash-before-ack", "crash-mid-dispatch", "nack-requeue", "concurrent-redelivery"}
)
_SETTLE_RESULTS = frozenset({"ack", "requeue", "dead-letter"})


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
        self._file.write(head + _DIGEST_MARK + tail + b'"}\n')
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


def _fail(file: Path, problem: str, number: int | None = None) -> TraceError:
    where = f"{file}:{number}" if number is not None else str(file)
    details = {"path": str(file)}
    if number is not None:
        details["line"] = str(number)
    return TraceError(f"trace {where}: {problem}", details=details)


def _int(obj: dict[str, Any], key: str, *, minimum: int = 0, default: Any = ...) -> int:
    value = obj.get(key, default) if default is not ... else obj[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{key!r} must be an int >= {minimum}, got {value!r}")
    return value


def _check_header(obj: dict[str, Any]) -> None:
    """Types of the options a replay rebuilds the storm from (values are the Storm's to
    check; a wrong type would otherwise surface deep inside it)."""
    for key in ("events", "roots", "seed", "concurrency", "max_retries"):
        _int(obj, key, minimum=-(2**63) if key == "seed" else 0)
    for key in ("profile", "kind"):
        if not isinstance(obj.get(key), str):
            raise ValueError(f"{key!r} must be a string, got {obj.get(key)!r}")
    for key in ("source_domain", "pm_domain"):
        if obj.get(key) is not None and not isinstance(obj[key], str):
            raise ValueError(f"{key!r} must be a string or null, got {obj[key]!r}")
    for key in ("output_domains", "sources", "require"):
        value = obj.get(key)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            raise ValueError(f"{key!r} must be a list of strings, got {value!r}")
    if not isinstance(obj.get("faults"), dict):
        raise ValueError(f"'faults' must be an object, got {obj.get('faults')!r}")
    _int(obj, "shards", minimum=2, default=2)  # recorded only for a sharded storm
    if not isinstance(obj.get("prepare", False), bool):
        raise ValueError(f"'prepare' must be true or false, got {obj.get('prepare')!r}")


def _header(file: Path, obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict) or obj.get("type") != "storm":
        raise _fail(file, "not an angzarr-testkit storm trace (line 1 is not its header)", 1)
    version = obj.get("version")
    if "format" not in obj and version == 1:
        raise _fail(
            file,
            "trace format version 1 has no integrity digest and is no longer replayed; "
            "re-record the storm with this kit",
            1,
        )
    if obj.get("format") != TRACE_FORMAT:
        raise _fail(
            file,
            f"not an angzarr-testkit storm trace (line 1 has format {safe_repr(obj.get('format'))}"
            f", expected {TRACE_FORMAT!r})",
            1,
        )
    if version != TRACE_VERSION:
        raise _fail(
            file,
            f"unknown trace format version {safe_repr(version)} (this kit reads version "
            f"{TRACE_VERSION}; a newer kit wrote it, or it was edited)",
            1,
        )
    if obj.get("config_digest") != config_digest(obj):
        raise _fail(file, "the header was edited (its config_digest does not match)", 1)
    try:
        _check_header(obj)
    except (KeyError, ValueError) as exc:
        raise _fail(file, f"the header is not valid ({exc})", 1) from None
    return obj


def _body_line(obj: dict[str, Any], top: Schedule, seen: set[tuple[int, int]]) -> None:
    kind = obj["type"]
    shards = top.header.get("shards")
    schedule = top.parts[-1] if top.parts else top
    if kind == "shard":
        if shards is None:
            raise ValueError("a shard marker in the trace of an unsharded storm")
        if obj.get("index") != len(top.parts) or obj.get("shards") != shards:
            raise ValueError(f"shard marker out of order (expected shard {len(top.parts)})")
        top.parts.append(Schedule(header=top.header))
        seen.clear()
    elif shards is not None and not top.parts:
        raise ValueError("a sharded trace's first body line is not its shard 0 marker")
    elif kind == "publish":
        msg = _int(obj, "msg")
        duplicate = obj.get("duplicate", False)
        if not isinstance(duplicate, bool):
            raise ValueError(f"'duplicate' must be true or false, got {duplicate!r}")
        if duplicate:
            if (msg, 0) not in seen or (msg, 1) in seen:
                raise ValueError(f"duplicate of message {msg} without one original publish")
            seen.add((msg, 1))
        else:
            if (msg, 0) in seen:
                raise ValueError(f"message {msg} is published twice")
            book = obj["book"]
            if not isinstance(book, str):
                raise ValueError(f"'book' must be base64 text, got {book!r}")
            try:
                schedule.books[msg] = base64.b64decode(book, validate=True)
            except binascii.Error as exc:
                raise ValueError(f"'book' is not base64 ({exc})") from None
            seen.add((msg, 0))
        schedule.publishes.append((msg, duplicate))
    elif kind == "deliver":
        msg = _int(obj, "msg")
        copy = _int(obj, "copy", default=0)
        if (msg, copy) not in seen:
            raise ValueError(f"delivers message {msg} (copy {copy}) before it is published")
        fault = obj.get("fault")
        if fault is not None and fault not in _DELIVER_FAULTS:
            raise ValueError(f"unknown fault {fault!r}")
        k = obj.get("k")
        if k is not None and (isinstance(k, bool) or not isinstance(k, int)):
            raise ValueError(f"'k' must be an int or null, got {k!r}")
        consumer = _int(obj, "consumer", default=0)
        if consumer >= schedule.header["concurrency"]:
            raise ValueError(f"consumer {consumer} but the storm has fewer consumers")
        schedule.steps.append(Step(msg, copy, fault, k, consumer))
    elif kind == "settle":
        if obj.get("result") not in _SETTLE_RESULTS:
            raise ValueError(f"unknown settle result {obj.get('result')!r}")
    else:
        raise ValueError(f"unknown line type {kind!r}")


def _summary(file: Path, raw: bytes, obj: dict[str, Any], digest: Any, lines: int, n: int) -> None:
    mark = raw.rfind(_DIGEST_MARK)
    if mark < 0 or not _DIGEST_TAIL.fullmatch(raw, mark + len(_DIGEST_MARK)):
        raise _fail(file, "the summary line has no digest (the trace was edited)", n)
    if obj.get("lines") != lines:
        raise _fail(
            file,
            f"the summary counts {safe_repr(obj.get('lines'))} lines before it but the file "
            f"has {lines}: lines were dropped or added (the trace was edited)",
            n,
        )
    digest.update(raw[:mark])
    recorded = raw[mark + len(_DIGEST_MARK) : mark + len(_DIGEST_MARK) + 64].decode("ascii")
    if digest.hexdigest() != recorded:
        raise _fail(file, "the digest does not match its content: the trace was edited", n)
    if not isinstance(obj.get("ok"), bool) or not isinstance(obj.get("finding_kinds"), dict):
        raise _fail(file, "the summary has no recorded verdict (ok, finding_kinds)", n)


def read_schedule(path: str | os.PathLike[str]) -> Schedule:
    """Check a trace file and parse it into the schedule a replay executes.

    Raises:
        TraceError: the path is missing or a directory, the file is empty, not UTF-8, not
            JSON lines, not a storm trace, of an unknown format version, truncated (no
            summary, or cut anywhere) or edited (its digest or line count does not match);
            the message names the file and the line.
    """
    try:
        file = Path(path)
    except TypeError:
        raise TraceError(
            f"trace: got {safe_repr(path)}; expected a path to a trace file",
            details={"path": safe_repr(path)},
        ) from None
    if not file.exists():
        raise _fail(file, "the file does not exist")
    if file.is_dir():
        raise _fail(file, "is a directory, not a trace file")
    try:
        handle = open(file, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise _fail(file, f"cannot be read ({exc.strerror or exc})") from None
    with handle:
        return _read(file, handle)


def _read(file: Path, handle: IO[bytes]) -> Schedule:
    """One pass: hash every line, parse the header at once, and keep the first damaged body
    line until the end, where the summary's digest says whether the file was edited (the
    clearest message) or merely cut short."""
    digest = hashlib.sha256()
    schedule: Schedule | None = None
    seen: set[tuple[int, int]] = set()
    problem: TraceError | None = None
    n = 0
    for raw in handle:
        n += 1
        if schedule is None:
            schedule = Schedule(header=_header(file, _parse(file, raw, n)))
            digest.update(raw)
            continue
        if schedule.summary is not None:
            raise _fail(file, "content after the summary line (the trace was edited)", n)
        try:
            obj = _parse(file, raw, n)
            if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
                raise _fail(file, "is not a trace line (a JSON object with a type)", n)
        except TraceError as exc:
            digest.update(raw)
            problem = problem or exc
            continue
        if obj["type"] == "summary":
            if not raw.endswith(b"\n"):
                raise _fail(file, "the trace is truncated (its summary line is cut)", n)
            try:
                _summary(file, raw, obj, digest, n - 1, n)
            except TraceError as exc:
                if problem is not None:
                    first = problem.message.split(": ", 1)[-1]
                    exc.message += f"; the first damaged line is {problem.details['line']}: {first}"
                    exc.args = (exc.message,)
                raise
            schedule.summary = obj
            continue
        digest.update(raw)
        if problem is None:
            try:
                _body_line(obj, schedule, seen)
            except (KeyError, ValueError, TypeError) as exc:
                problem = _fail(file, f"not a valid trace line ({exc})", n)
    if schedule is None:
        raise _fail(file, "the file is empty")
    if schedule.summary is None:
        if problem is not None and "truncated" not in problem.message:
            raise problem
        raise _fail(
            file,
            f"the trace is truncated: no summary line after line {n} (the storm did not "
            "finish writing it, or the file was cut)",
        )
    if problem is None and len(schedule.parts) != schedule.header.get("shards", 0):
        problem = _fail(file, f"shard {len(schedule.parts)} is missing (the trace was edited)")
    if problem is not None:  # a digest that matches damaged content: forged, not cut
        raise problem
    return schedule


def _parse(file: Path, raw: bytes, n: int) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _fail(file, "is not UTF-8 text", n) from None
    try:
        return json.loads(text)
    except ValueError:
        if not raw.endswith(b"\n"):
            raise _fail(file, "the trace is truncated (its last line is cut)", n) from None
        raise _fail(file, "is not a JSON line", n) from None
