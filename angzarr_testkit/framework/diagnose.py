"""Why a saga handler returned nothing: the ``silent-handler`` diagnosis.

A saga that catches its own exception (or logs it at ERROR) and returns no commands does not
fail: angzarr core acks the empty ``Handle`` reply and the trigger's work is lost without a
trace (docs/findings.md, ``silent-handler``). The coordinator (:mod:`.coordinator`) asks this
module about a delivery whose handler returned no command and no fact for a trigger the
handler declares it handles (:func:`should_diagnose`):

* an ``angzarr_client`` ``Saga`` declares the event types of its ``@handles`` methods
  (``SagaTarget.handled_types``); a trigger with none of them is not its business;
* a plain callable or servicer declares nothing, so every trigger it is given counts as one
  it handles;
* a target that brings its own ``handle_bytes`` (a ``grpc://`` target) runs out of process:
  nothing inside it can be observed, so it is never diagnosed.

:func:`diagnose_call` then calls the handler once more with the SAME request bytes, under a
diagnostic tracer (``sys.settrace``, recording ``exception`` events only, line events off)
and a temporary root-logger handler for ERROR records of this thread. The trade-off, chosen
so that the common path (a delivery that returns commands) costs nothing: the handler's code
runs one more time on the zero-output path, so a handler with hidden state (a counter, a
cache, a call to another service) may behave differently on that call, and whatever it
logs or prints is logged or printed twice. What the second call returns is thrown away.

When a trace function is already set (coverage.py's tracer, a debugger), it is left alone:
exceptions are not traced on that call (only ERROR logs are captured) and the diagnosis says
so (``Diagnosis.traced``), since replacing the tracer would hide that call from coverage or
the debugger and chaining coverage's C tracer re-installs it over the kit's.

An exception counts when it was raised during the call and did not escape it (it was caught),
it is not iteration control flow (``StopIteration``, ``StopAsyncIteration``,
``GeneratorExit``), and at least one frame it passed through is the user's code: not the
standard library, not an installed package (``site-packages``), not the kit itself. So a
library catching its own ``ImportError`` does not count, while angzarr_client's
``stamp_command`` error caught in the user's router does. Only the calling thread is traced.
"""

from __future__ import annotations

import logging
import os
import sys
import sysconfig
import threading
import traceback as tb
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import describe_exception
from .calls import SagaTarget, saga_response_bytes
from .findings import Finding
from .oracle import Oracle, missing_sequence_domain
from .work import DeliveryWork, trigger_label

__all__ = [
    "CaughtException",
    "Diagnosis",
    "ErrorLog",
    "caught_description",
    "diagnose_call",
    "handles_trigger",
    "report_silence",
    "should_diagnose",
]

#: exceptions that are how iteration ends, not errors
_CONTROL_FLOW = (StopIteration, StopAsyncIteration, GeneratorExit)
_KIT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class CaughtException:
    """An exception raised and caught inside the handler call.

    Attributes:
        exc: the exception object.
        raised_at: ``file:line in function`` of the frame it was raised in.
        caught_at: ``file:line in function`` of the last frame it reached, the one that
            caught it (the line is the statement the exception interrupted there).
    """

    exc: BaseException
    raised_at: str
    caught_at: str

    def where(self) -> str:
        """``raised at ... and caught at ...``."""
        if self.caught_at == self.raised_at:
            return f"raised and caught at {self.raised_at}"
        return f"raised at {self.raised_at} and caught at {self.caught_at}"

    def describe(self) -> str:
        """``Type: message, raised at ... and caught at ...`` (one line)."""
        return f"{_short_exception(self.exc)}, {self.where()}"


@dataclass(frozen=True)
class ErrorLog:
    """A log record at ERROR or above emitted during the handler call.

    Attributes:
        logger: the logger's name.
        level: the level name (``ERROR``, ``CRITICAL``).
        message: the formatted message (truncated).
        at: ``file:line in function`` of the logging call.
        exc: the exception the record carries (``log.exception``), if any.
    """

    logger: str
    level: str
    message: str
    at: str
    exc: BaseException | None = None

    def describe(self) -> str:
        """``it logged at ERROR (logger: message) at file:line`` (one line)."""
        return f"it logged at {self.level} ({self.logger}: {self.message}) at {self.at}"


@dataclass
class Diagnosis:
    """What the diagnostic call saw.

    Attributes:
        caught: the exceptions that count (see the module docstring), in raising order.
        logged: the ERROR (or worse) log records of the calling thread.
        traced: whether exceptions were traced (``False``: a trace function was already set).
        escaped: an exception that escaped the diagnostic call although the first call
            returned normally (the handler has hidden state), if any.
        produced: the diagnostic call returned output (commands or a response): the
            handler has hidden state, and nothing is concluded.
    """

    caught: list[CaughtException] = field(default_factory=list)
    logged: list[ErrorLog] = field(default_factory=list)
    traced: bool = True
    escaped: BaseException | None = None
    produced: bool = False

    @property
    def silent(self) -> bool:
        """Whether the handler hid an error: something was caught, logged or escaped."""
        return not self.produced and bool(self.caught or self.logged or self.escaped)


def _short_exception(exc: BaseException) -> str:
    """``Type: message`` with the message truncated."""
    return _shorten(describe_exception(exc))


def _shorten(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def handles_trigger(target: SagaTarget, trigger: Any) -> bool:
    """Whether ``target`` declares it handles ``trigger``: any page's event type is one of
    its ``handled_types``; a target that declares none handles every trigger."""
    handled = target.handled_types
    if not handled:
        return True
    names = {getattr(getattr(t, "DESCRIPTOR", None), "full_name", None) for t in handled}
    for page in trigger.pages:
        if page.HasField("event") and page.event.type_url.rsplit("/", 1)[-1] in names:
            return True
    return False


def should_diagnose(target: SagaTarget, trigger: Any) -> bool:
    """Whether a zero-output delivery of ``trigger`` to ``target`` is diagnosed: an
    in-process target (its ``handle_bytes`` is :class:`SagaTarget`'s) that handles it."""
    return type(target).handle_bytes is SagaTarget.handle_bytes and handles_trigger(target, trigger)


# -- where code lives ---------------------------------------------------------------------

_ELSEWHERE: dict[str, bool] = {}


def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots.add(_KIT_DIR)
    return tuple(os.path.abspath(r) + os.sep for r in roots if r)


_ROOTS = _library_roots()


def _is_user_file(filename: str) -> bool:
    """Whether ``filename`` is the user's code (not the standard library, an installed
    package, the kit, or frozen/generated code)."""
    known = _ELSEWHERE.get(filename)
    if known is None:
        if filename.startswith("<"):
            known = False
        else:
            path = os.path.abspath(filename)
            parts = path.split(os.sep)
            known = not (
                path.startswith(_ROOTS) or "site-packages" in parts or "dist-packages" in parts
            )
        _ELSEWHERE[filename] = known
    return known


def _where(filename: str, lineno: int, function: str) -> str:
    try:
        shown = os.path.relpath(filename)
    except ValueError:  # another drive (Windows)
        shown = filename
    if shown.startswith(".."):
        shown = filename
    return f"{shown}:{lineno} in {function}"


# -- the diagnostic call -------------------------------------------------------------------


class _Tracer:
    """Records every ``exception`` event: per exception object, the frames it reached."""

    def __init__(self) -> None:
        #: id -> [exception, raised_at, caught_at, reached user code]
        self.seen: dict[int, list[Any]] = {}

    def on_call(self, frame: Any, event: str, arg: Any) -> Any:
        frame.f_trace_lines = False
        return self.on_event

    def on_event(self, frame: Any, event: str, arg: Any) -> Any:
        if event == "exception":
            exc = arg[1]
            code = frame.f_code
            at = (code.co_filename, frame.f_lineno, code.co_name)
            user = _is_user_file(code.co_filename)
            entry = self.seen.get(id(exc))
            if entry is None or entry[0] is not exc:
                self.seen[id(exc)] = [exc, at, at, user]
            else:
                entry[2] = at
                entry[3] = entry[3] or user
        return self.on_event

    def caught(self, escaped: BaseException | None) -> list[CaughtException]:
        out = []
        for exc, raised, caught, user in self.seen.values():
            if exc is escaped or not user or isinstance(exc, _CONTROL_FLOW):
                continue
            out.append(CaughtException(exc, _where(*raised), _where(*caught)))
        return out


class _ErrorRecords(logging.Handler):
    """ERROR (and worse) records of one thread."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.thread = threading.get_ident()
        self.found: list[ErrorLog] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread:
            return
        try:
            message = record.getMessage()
        except Exception:  # a bad format string in the user's call: show the template
            message = str(record.msg)
        exc = record.exc_info[1] if record.exc_info else None
        self.found.append(
            ErrorLog(
                record.name,
                record.levelname,
                _shorten(message, 160),
                _where(record.pathname, record.lineno, record.funcName or "?"),
                exc,
            )
        )


def diagnose_call(call: Callable[[bytes], Any], request_bytes: bytes) -> Diagnosis:
    """Call a saga's ``call(request_bytes)`` once more, tracing the exceptions it catches and
    the ERROR records it logs (see the module docstring). Never raises (except
    ``KeyboardInterrupt``)."""
    diagnosis = Diagnosis(traced=sys.gettrace() is None)
    tracer = _Tracer()
    records = _ErrorRecords()
    root = logging.getLogger()
    root.addHandler(records)
    escaped: BaseException | None = None
    try:
        if diagnosis.traced:
            sys.settrace(tracer.on_call)
        try:
            raw = call(request_bytes)
        finally:
            if diagnosis.traced:
                sys.settrace(None)
        try:
            diagnosis.produced = bool(saga_response_bytes(raw))
        except Exception:  # unusable output: the first call's was usable, so hidden state
            diagnosis.produced = True
    except (Exception, SystemExit) as exc:  # the handler's own error on its second call
        escaped = exc
    finally:
        root.removeHandler(records)
    diagnosis.escaped = escaped
    diagnosis.caught = tracer.caught(escaped)
    diagnosis.logged = records.found
    return diagnosis


def caught_description(diagnosis: Diagnosis) -> str:
    """What the handler hid, one clause per kind of evidence (for ``silent-handler``)."""
    parts = []
    if diagnosis.caught:
        first = diagnosis.caught[0]
        more = len(diagnosis.caught) - 1
        extra = f" (and {more} more caught exception{'s' if more > 1 else ''})" if more else ""
        parts.append(f"it caught {first.describe()}{extra}")
    if diagnosis.logged:
        parts.append(diagnosis.logged[0].describe())
    if diagnosis.escaped is not None and not parts:
        parts.append(
            f"called again with the same request it raised "
            f"{_short_exception(diagnosis.escaped)} (it has hidden state)"
        )
    return " and ".join(parts)


def report_silence(oracle: Oracle, work: DeliveryWork, diagnosis: Diagnosis) -> None:
    """The finding of a silent delivery, if the diagnosis found something: a caught (or
    logged) map-stamping error is ``missing-destination-sequence``, the oracle's finding of
    that error with where it was caught; anything else is ``silent-handler``."""
    if not diagnosis.silent:
        return
    for caught in diagnosis.caught:
        if missing_sequence_domain(caught.exc) is not None:
            described = f"{type(caught.exc).__name__} {caught.where()}"
            oracle.handler_failed(work, caught.exc, caught=described)
            return
    for log in diagnosis.logged:
        if log.exc is not None and missing_sequence_domain(log.exc) is not None:
            oracle.handler_failed(work, log.exc, caught=f"logged at {log.level} at {log.at}")
            return
    name = oracle.target.name
    details = {"handler": name}
    exc: BaseException | None = None
    if diagnosis.caught:
        first = diagnosis.caught[0]
        exc = first.exc
        details.update(
            error=type(exc).__name__, raised_at=first.raised_at, caught_at=first.caught_at
        )
        defect = f"{name}: {type(exc).__name__} caught at {first.caught_at}"
    elif diagnosis.logged:
        log = diagnosis.logged[0]
        exc = log.exc
        details.update(logged=f"{log.level} {log.logger} at {log.at}")
        defect = f"{name}: {log.level} logged at {log.at}"
    else:
        exc = diagnosis.escaped
        assert exc is not None
        details.update(error=type(exc).__name__, escaped="on the diagnostic call")
        defect = f"{name}: {type(exc).__name__} on the diagnostic call"
    if diagnosis.logged and diagnosis.caught:
        log = diagnosis.logged[0]
        details["logged"] = f"{log.level} {log.logger} at {log.at}"
    if not diagnosis.traced:
        details["traced"] = (
            "no: a trace function was already set (coverage or a debugger), so only ERROR "
            "logs were captured"
        )
    trace = None
    if exc is not None:
        trace = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
    oracle.add(
        work,
        Finding(
            "silent-handler",
            f"saga {name} returned no commands for a trigger it handles, but "
            f"{caught_description(diagnosis)}: angzarr core acks a Handle that returns no "
            "commands, so the trigger's work is lost silently. Let the exception propagate "
            "(core then logs it, and the kit reports it as handler-error) or fix its cause",
            trigger=trigger_label(work.trigger),
            delivery=work.number,
            details=details,
            traceback=trace,
            defect=defect,
        ),
    )
