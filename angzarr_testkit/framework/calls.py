"""Calling resolved user handlers: :class:`SagaTarget` and :class:`PMTarget`.

Requests and responses cross every hop as bytes, as on the real wire: a target takes the
serialized request, and what the handler returned is serialized (:func:`saga_response_bytes`)
and parsed back into the active wire classes. A handler's ``sys.exit`` becomes
:class:`HandlerExited`; an in-process servicer gets a :class:`ServicerContext`, and its abort
becomes :class:`HandlerAborted`. How a user's object becomes a target is :mod:`.targets`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import wire
from ..errors import TargetError, codes, safe_repr
from .encode import length_delimited
from .responses import HandlerResultError, MalformedResponseError, parse_response

__all__ = [
    "HandlerAborted",
    "HandlerExited",
    "PMTarget",
    "SagaTarget",
    "ServicerContext",
    "call_handler",
    "describe_value",
    "message_full_name",
    "saga_response_bytes",
    "status_name",
]


class HandlerAborted(Exception):
    """A servicer aborted the call (``context.abort``) or set a non-OK status."""

    def __init__(self, code: str, details: str) -> None:
        super().__init__(f"{code}: {details}")
        self.code = code
        self.details = details


class HandlerExited(Exception):
    """The handler under test raised ``SystemExit`` (it called ``sys.exit``): reported as a
    ``handler-error`` finding instead of ending the test run. The ``SystemExit`` is the
    ``__cause__``; ``KeyboardInterrupt`` is never caught."""

    def __init__(self, exit_exc: SystemExit) -> None:
        self.exit_code = exit_exc.code
        super().__init__(
            f"the handler raised SystemExit({safe_repr(exit_exc.code)}) (it called sys.exit)"
        )


def call_handler(fn: Callable[[bytes], Any], request_bytes: bytes) -> Any:
    """``fn(request_bytes)``, a ``SystemExit`` out of it raised as :class:`HandlerExited`."""
    try:
        return fn(request_bytes)
    except SystemExit as exc:  # a handler under test must not end the test run
        raise HandlerExited(exc) from exc


class ServicerContext:
    """Just enough of ``grpc.ServicerContext`` for in-process servicers."""

    def __init__(self) -> None:
        self.code: Any = None
        self.details: str = ""

    def abort(self, code: Any, details: str) -> None:
        raise HandlerAborted(status_name(code), details)

    def abort_with_status(self, status: Any) -> None:
        raise HandlerAborted(status_name(getattr(status, "code", status)), str(status))

    def set_code(self, code: Any) -> None:
        self.code = code

    def set_details(self, details: str) -> None:
        self.details = details

    def invocation_metadata(self) -> tuple[()]:
        return ()

    def peer(self) -> str:
        return "angzarr-testkit"

    def is_active(self) -> bool:
        return True

    def time_remaining(self) -> None:
        return None

    def add_callback(self, callback: Callable[[], None]) -> bool:
        return False

    def send_initial_metadata(self, metadata: Any) -> None:
        return None

    def set_trailing_metadata(self, metadata: Any) -> None:
        return None


def status_name(code: Any) -> str:
    """A gRPC status code (enum member or plain value) by name, e.g. ``"NOT_FOUND"``."""
    name = getattr(code, "name", None)
    return str(name if name is not None else code)


def message_full_name(obj: Any) -> str | None:
    """The protobuf full name of ``obj``'s message type (``"angzarr.CommandBook"``), or
    ``None`` when ``obj`` is not a protobuf message (or message class)."""
    return getattr(getattr(obj, "DESCRIPTOR", None), "full_name", None)


@dataclass
class SagaTarget:
    """A resolved saga: how to call it and what it declares.

    Attributes:
        name: a readable name for reports.
        call: takes request bytes, returns the handler's raw return value.
        source_domain: the declared input domain, if the target declares one.
        output_domains: the declared output domains (may be empty).
        handled_types: message classes the target declares it handles (for storms).
    """

    name: str
    call: Callable[[bytes], Any]
    source_domain: str | None = None
    output_domains: list[str] = field(default_factory=list)
    handled_types: list[type] = field(default_factory=list)

    def handle(self, request: Any) -> Any:
        """Call the handler with ``request`` and return its response in the active wire
        classes, round-tripped through bytes (see :meth:`handle_bytes`)."""
        return self.handle_bytes(request.SerializeToString())[0]

    def handle_bytes(self, request_bytes: bytes) -> tuple[Any, bytes]:
        """Call the handler with a serialized request; return the parsed ``SagaResponse``
        (active wire classes) and its bytes, as they crossed the wire.

        Raises whatever the handler raises; :class:`HandlerResultError` for an unusable
        return value; :class:`HandlerAborted` for a servicer that aborted.
        """
        try:  # (call_handler, inlined: this is the storm's hot path)
            raw = self.call(request_bytes)
        except SystemExit as exc:  # a handler under test must not end the test run
            raise HandlerExited(exc) from exc
        response_bytes = saga_response_bytes(raw)
        return parse_response(wire.saga_pb2.SagaResponse, response_bytes), response_bytes


def saga_response_bytes(raw: Any) -> bytes:
    """Serialize what a saga handler returned as a ``SagaResponse`` on the wire.

    A list of ``CommandBook``s is encoded as the repeated ``commands`` field (number 1)
    directly, without building an intermediate message.

    Raises:
        MalformedResponseError: the handler returned a message of another type.
        HandlerResultError: the handler returned something else that is not a response.
    """
    if raw is None:
        return b""
    if type(raw) is not list:  # a list of CommandBooks is the usual in-process return
        name = message_full_name(raw)
        if name == "angzarr.SagaResponse":
            return raw.SerializeToString()
        if name == "angzarr.CommandBook":
            raw = [raw]
        elif not isinstance(raw, (list, tuple)):
            if name is not None:
                raise _wrong_message(raw, "angzarr.SagaResponse")
            raise HandlerResultError(
                f"handler returned {describe_value(raw)}; expected a SagaResponse, a list of "
                "CommandBooks, a CommandBook or None"
            )
    book_class = wire.types_pb2.CommandBook
    chunks = []
    for i, item in enumerate(raw):
        # (the type test first: the active class is the common case and the cheaper check)
        if type(item) is not book_class and message_full_name(item) != "angzarr.CommandBook":
            raise HandlerResultError(
                f"handler returned a list whose item {i} is {describe_value(item)}; every item "
                "must be an angzarr CommandBook"
            )
        chunks.append(length_delimited(b"\n", item.SerializeToString()))
    return b"".join(chunks)


def _wrong_message(raw: Any, expected: str) -> MalformedResponseError:
    try:
        size = raw.ByteSize()
    except Exception:  # a message-like object of the user's that is not really one
        size = None
    shown = f"a message of type {message_full_name(raw)}"
    shown += f" ({size} bytes)" if size is not None else ""
    return MalformedResponseError(expected, shown, size=size)


def describe_value(value: Any) -> str:
    """A short description of what a handler returned, for error messages: ``a <full name>
    message`` for a protobuf message, else its type and a truncated repr."""
    name = message_full_name(value)
    if name:
        return f"a {name} message"
    return f"{type(value).__name__} {safe_repr(value, 60)}"


@dataclass
class PMTarget:
    """A resolved process manager: how to call it and what it declares.

    Attributes:
        name: a readable name for reports.
        handle: takes ``ProcessManagerHandleRequest`` bytes, returns the raw response.
        prepare: takes ``ProcessManagerPrepareRequest`` bytes, returns the raw response, or
            ``None`` when the target has no ``Prepare`` (the legacy two-phase flow).
        pm_domain: the declared PM domain, if any.
        sources: declared input domains.
        output_domains: declared output domains.
        handled_types: event classes it declares it handles (for storms).
    """

    name: str
    handle: Callable[[bytes], Any]
    prepare: Callable[[bytes], Any] | None = None
    pm_domain: str | None = None
    sources: list[str] = field(default_factory=list)
    output_domains: list[str] = field(default_factory=list)
    handled_types: list[type] = field(default_factory=list)

    def handle_bytes(self, request_bytes: bytes) -> tuple[Any, bytes]:
        """Call ``Handle``; return the parsed response (active wire classes) and its bytes."""
        raw = call_handler(self.handle, request_bytes)
        name = message_full_name(raw)
        if raw is None:
            data = b""
        elif name == "angzarr.ProcessManagerHandleResponse":
            data = raw.SerializeToString()
        elif name is not None:
            raise _wrong_message(raw, "angzarr.ProcessManagerHandleResponse")
        else:
            raise HandlerResultError(
                f"process manager returned {describe_value(raw)}; expected a "
                "ProcessManagerHandleResponse or None"
            )
        PM = wire.process_manager_pb2
        return parse_response(PM.ProcessManagerHandleResponse, data), data

    def prepare_covers(self, request_bytes: bytes) -> list[Any]:
        """Call ``Prepare``; return the destination covers (active wire classes)."""
        if self.prepare is None:
            raise TargetError(
                f"{self.name} has no Prepare: the legacy two-phase flow (prepare=True) needs a "
                "servicer with Prepare(request, context) or an angzarr_client ProcessManager",
                code=codes.TARGET_UNSUPPORTED,
            )
        raw = call_handler(self.prepare, request_bytes)
        if raw is None:
            return []
        name = message_full_name(raw)
        if name is not None and name != "angzarr.ProcessManagerPrepareResponse":
            raise _wrong_message(raw, "angzarr.ProcessManagerPrepareResponse")
        if name is None:
            raise HandlerResultError(
                f"Prepare returned {describe_value(raw)}; expected a ProcessManagerPrepareResponse"
            )
        PM = wire.process_manager_pb2
        parsed = parse_response(PM.ProcessManagerPrepareResponse, raw.SerializeToString())
        return list(parsed.destinations)
