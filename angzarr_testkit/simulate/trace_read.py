"""Reading a storm trace back: :func:`read_schedule` checks a trace file line by line (the
format of :mod:`.trace`: header, body, shard markers, the summary and its digest) and returns
the :class:`~.trace.Schedule` a replay re-executes. A trace that is missing, not UTF-8 JSON
lines, of another version, cut short or edited is a :class:`~angzarr_testkit.errors.TraceError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from pathlib import Path
from typing import IO, Any

from ..errors import ClientError, TraceError, safe_repr
from .faults import FaultPlan
from .trace import DIGEST_MARK, TRACE_FORMAT, TRACE_VERSION, Schedule, Step, config_digest

__all__ = ["read_schedule", "storm_options"]

_DIGEST_TAIL = re.compile(rb'[0-9a-f]{64}"\}\n')
_DELIVER_FAULTS = frozenset(
    {"crash-before-ack", "crash-mid-dispatch", "nack-requeue", "concurrent-redelivery"}
)
_SETTLE_RESULTS = frozenset({"ack", "requeue", "dead-letter"})


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
    mark = raw.rfind(DIGEST_MARK)
    if mark < 0 or not _DIGEST_TAIL.fullmatch(raw, mark + len(DIGEST_MARK)):
        raise _fail(file, "the summary line has no digest (the trace was edited)", n)
    if obj.get("lines") != lines:
        raise _fail(
            file,
            f"the summary counts {safe_repr(obj.get('lines'))} lines before it but the file "
            f"has {lines}: lines were dropped or added (the trace was edited)",
            n,
        )
    digest.update(raw[:mark])
    recorded = raw[mark + len(DIGEST_MARK) : mark + len(DIGEST_MARK) + 64].decode("ascii")
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


def storm_options(header: dict[str, Any]) -> dict[str, Any]:
    """The ``Storm`` keyword arguments a trace header records (the verdict options such as
    ``fail_on`` are the caller's to add).

    Raises:
        TraceError: a field is missing or of the wrong type: the header was not written by
            this kit's storms.
    """
    try:
        return dict(
            source_domain=header["source_domain"],
            output_domains=header["output_domains"],
            profile=header["profile"],
            dedupe_store=header.get("dedupe_store", "postgres"),
            events=header["events"],
            roots=header["roots"],
            seed=header["seed"],
            faults=FaultPlan.from_dict(header["faults"]),
            require=header.get("require", ()),
            concurrency=header["concurrency"],
            max_retries=header.get("max_retries", 10),
            kind=header.get("kind", "saga"),
            pm_domain=header.get("pm_domain"),
            sources=header.get("sources"),
            prepare=header.get("prepare", False),
            delivery_budget=header.get("delivery_budget"),
            allow_vacuous=header.get("allow_vacuous", False),
            fail_on=header.get("fail_on", ()),
            shards=header.get("shards", 1),
        )
    except ClientError as exc:
        raise TraceError(f"the trace header is not valid: {exc.message}") from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise TraceError(
            f"the trace header is not valid ({type(exc).__name__}: {exc}); it was not "
            "written by this kit's storms",
            details={"error": type(exc).__name__},
        ) from exc
