"""gRPC targets and a gRPC server for handlers (extra ``grpc``: ``pip install
'angzarr-testkit[grpc]'``).

A target ``grpc://host:port`` is a saga or process manager, written in any language, serving
angzarr's ``SagaService`` (``Handle``) or ``ProcessManagerService`` (``Prepare``, ``Handle``). The
harnesses, storms, Gherkin steps and the CLI resolve such strings through
:func:`grpc_saga_target` / :func:`grpc_pm_target`, so everything works unchanged against a real
server: the kit remains the coordinator and the destination aggregates, only the handler call
crosses the network.

Every call has a deadline (``timeout``, 5 s by default; ``?timeout=SECONDS`` in the address).
A call that fails (server down, deadline passed, handler error, ...) raises
:class:`GrpcCallError` naming the gRPC status code; an answer that does not parse raises
:class:`GrpcResponseError`. The harness turns both into ``handler-error`` findings.

:func:`serve` does the opposite: it puts any Python handler the harness accepts behind a real
gRPC server on loopback (for tests of the transport itself, or to drive a Python handler from
another process).

This module uses grpc's generic API with the method paths, bytes in and out: the bundled
generated code has no gRPC stubs, and ``angzarr_client``'s must not be required.
"""

from __future__ import annotations

import ipaddress
import math
import re
import threading
import traceback
import weakref
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import grpc

from .. import wire
from ..errors import ConfigurationError, TargetError, codes, describe_exception
from ..framework.targets import (
    HandlerAborted,
    HandlerResultError,
    MalformedResponseError,
    PMTarget,
    SagaTarget,
    parse_response,
    resolve_pm_target,
    resolve_saga_target,
    saga_response_bytes,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "PM_HANDLE",
    "PM_PREPARE",
    "PM_SERVICE",
    "SAGA_HANDLE",
    "SAGA_SERVICE",
    "GrpcCallError",
    "GrpcPMTarget",
    "GrpcResponseError",
    "GrpcSagaTarget",
    "GrpcServer",
    "grpc_pm_target",
    "grpc_saga_target",
    "serve",
]

SAGA_SERVICE = "angzarr.SagaService"
PM_SERVICE = "angzarr.ProcessManagerService"
SAGA_HANDLE = f"/{SAGA_SERVICE}/Handle"
PM_HANDLE = f"/{PM_SERVICE}/Handle"
PM_PREPARE = f"/{PM_SERVICE}/Prepare"
#: Seconds a call may take when neither ``timeout=`` nor ``?timeout=`` says otherwise.
DEFAULT_TIMEOUT = 5.0

_KINDS = ("saga", "process-manager")
_EXAMPLE = "grpc://127.0.0.1:50051"
# A DNS name (labels of letters, digits, '-' and '_', not starting or ending with '-').
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_DOTTED_NUMBERS_RE = re.compile(r"[0-9.]+")
# What angzarr_client 0.3.1 (ValueError) and the kit's Destinations (InvalidArgumentError) say
# when a domain has no sequence; matched in status details so that such a failure is the same
# finding over gRPC as in process.
_MISSING_SEQUENCE_RE = re.compile(r"No (?:destination )?sequence for domain '([^']*)'")
_MAX_DETAILS = 2000  # status details travel in a header: keep them well under its limits
_HINTS = {
    "UNAVAILABLE": "is the server running and listening there?",
    "DEADLINE_EXCEEDED": (
        "no answer within the {timeout:g} s deadline; if the handler is just slow, raise "
        "timeout= (or add ?timeout=SECONDS to the address)"
    ),
    "UNIMPLEMENTED": "the server does not implement {method}; is it serving angzarr's {service}?",
}


# -- addresses ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Address:
    host: str
    port: int
    timeout: float | None = None

    @property
    def authority(self) -> str:
        """``host:port`` as grpc wants it (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"grpc://{self.authority}"

    @property
    def loopback(self) -> bool:
        return self.host == "localhost" or self.host.startswith("127.") or self.host == "::1"


def _bad_address(address: Any, why: str, *, code: str = codes.INVALID_ARGUMENT) -> TargetError:
    return TargetError(
        f"gRPC address {address!r} {why}; give grpc://HOST:PORT, e.g. {_EXAMPLE} (optionally "
        "?timeout=SECONDS)",
        code=code,
        details={"address": repr(address)[:200]},
    )


def _check_timeout(timeout: Any, where: str) -> float:
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise TargetError(
            f"{where} must be a positive number of seconds (every gRPC call has a deadline), "
            f"got {timeout!r}",
            code=codes.INVALID_OPTION,
            details={"timeout": repr(timeout)},
        )
    return float(timeout)


def _split_host_port(address: str, netloc: str) -> tuple[str, str | None]:
    """``host`` and the port text (``None`` when there is none) of ``netloc``, the host
    checked: a DNS name, an IPv4 address, or an IPv6 address in brackets."""
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            raise _bad_address(address, "has a malformed IPv6 host ('[' without ']')")
        host, after = netloc[1:end], netloc[end + 1 :]
        if "%" in host:
            raise _bad_address(address, "has an IPv6 zone id (%...), which is not supported")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _bad_address(
                address, f"has {host!r} in brackets, which is not an IPv6 address"
            ) from None
        if after and not after.startswith(":"):
            raise _bad_address(address, f"has {after!r} after the IPv6 host, not :PORT")
        return host, after[1:] if after else None
    if netloc.count(":") > 1:
        raise _bad_address(
            address, "has no valid host (an IPv6 host goes in brackets: grpc://[::1]:50051)"
        )
    host, sep, port = netloc.partition(":")
    valid = bool(host) and _HOSTNAME_RE.fullmatch(host) is not None
    if valid and _DOTTED_NUMBERS_RE.fullmatch(host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            valid = False
    if not valid:
        raise _bad_address(address, "has no valid host (a DNS name, an IPv4 or [IPv6] address)")
    return host, port if sep else None


def _parse_address(address: Any, *, for_serving: bool = False) -> _Address:
    """Parse ``grpc://host:port[?timeout=S]`` (for serving: also ``host:port``, port 0 allowed)."""
    if not isinstance(address, str):
        raise _bad_address(address, f"is a {type(address).__name__}, not a string")
    text = address.strip()
    if for_serving and "://" not in text:
        text = "grpc://" + text
    if "://" not in text:
        raise _bad_address(address, "has no scheme")
    scheme, rest = text.split("://", 1)
    scheme = scheme.lower()
    if scheme != "grpc":
        raise _bad_address(
            address, f"has the scheme {scheme!r}, not grpc", code=codes.TARGET_UNSUPPORTED
        )
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in netloc:
        raise _bad_address(address, "has credentials (user@), which gRPC targets do not take")
    host, port_text = _split_host_port(address, netloc)
    if not port_text:
        raise _bad_address(address, "has no port")
    if not (port_text.isascii() and port_text.isdigit()) or int(port_text) > 65535:
        raise _bad_address(address, "has a port that is not a number in 1..65535")
    port = int(port_text)
    # The rest (path, query, fragment) with the host set aside: urlsplit cannot trip on it.
    parts = urlsplit("grpc://host" + rest[len(netloc) :])
    if port == 0 and not for_serving:
        raise _bad_address(address, "has port 0 (a server listens on a real port)")
    if parts.path not in ("", "/") or parts.fragment:
        raise _bad_address(address, "has a path or fragment; a gRPC target is just host:port")
    timeout = None
    if parts.query:
        try:
            pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            raise _bad_address(address, "has a malformed query") from None
        for key, value in pairs:
            if key != "timeout" or for_serving:
                raise _bad_address(address, f"has the unknown parameter {key!r} (only timeout)")
            try:
                seconds = float(value)
            except ValueError:
                seconds = value  # type: ignore[assignment]  # reported just below
            timeout = _check_timeout(seconds, f"?timeout= in {address!r}")
    return _Address(host, port, timeout)


# -- errors -------------------------------------------------------------------------------------


class GrpcCallError(Exception):
    """A call to a gRPC target ended with a non-OK status: the server is down
    (``UNAVAILABLE``), the deadline passed (``DEADLINE_EXCEEDED``), the handler failed
    (``INTERNAL``, ``UNKNOWN``, or whatever it aborted with), ...

    Attributes:
        status: the gRPC status code's name, e.g. ``"UNAVAILABLE"``.
        status_details: the status details the server (or the channel) gave.
        address: the target's ``grpc://host:port``.
        method: the method path, e.g. ``/angzarr.SagaService/Handle``.
        timeout: the deadline in seconds.
        code: ``MISSING_DESTINATION_SEQUENCE`` when the details say the handler found no
            sequence for a domain (so the harness reports the same finding as in process),
            else ``None``.
        details: string context: status, address, method (and domain).
    """

    def __init__(
        self, status: str, status_details: str, *, address: str, method: str, timeout: float
    ) -> None:
        self.status = status
        self.status_details = status_details
        self.address = address
        self.method = method
        self.timeout = timeout
        self.code: str | None = None
        self.details: dict[str, str] = {"status": status, "address": address, "method": method}
        match = _MISSING_SEQUENCE_RE.search(status_details)
        if match:
            self.code = codes.MISSING_DESTINATION_SEQUENCE
            self.details["domain"] = match.group(1)
        message = f"{status} from {address} calling {method}: {status_details or '(no details)'}"
        hint = _HINTS.get(status)
        if hint:
            service = method.rsplit("/", 1)[0].lstrip("/")
            message += f" ({hint.format(timeout=timeout, method=method, service=service)})"
        super().__init__(message)


class GrpcResponseError(MalformedResponseError):
    """A gRPC target answered bytes that are not the expected response message: they do not
    parse, or parse only with unknown fields (another message type, e.g. the echoed request).
    The harness reports it as a ``malformed-response`` finding.

    Attributes (besides :class:`MalformedResponseError`'s):
        address: the target's ``grpc://host:port``.
        method: the method path that answered.
    """

    def __init__(
        self, cause: MalformedResponseError, *, hint: str, address: str, method: str
    ) -> None:
        super().__init__(
            cause.expected,
            cause.received,
            size=cause.size,
            unknown=cause.unknown,
            looks_like=cause.looks_like,
            hint=hint,
            where=f"{address} answered {method} with a malformed response",
        )
        self.address = address
        self.method = method
        self.details.update(address=address, method=method)


# -- client -------------------------------------------------------------------------------------


def _channel_options(address: _Address) -> list[tuple[str, Any]]:
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", -1),
        ("grpc.max_send_message_length", -1),
        # A server started (or restarted) after the first failed call is found again within
        # a second, instead of after grpc's default backoff of up to two minutes.
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
        # This target's connection is its own: closing the channel closes it.
        ("grpc.use_local_subchannel_pool", 1),
    ]
    if address.loopback:
        options.append(("grpc.enable_http_proxy", 0))  # an http_proxy env var must not apply
    return options


class _Client:
    """One lazily opened channel to a ``grpc://`` address: unary calls, bytes in and out, each
    with a deadline."""

    def __init__(self, address: _Address, timeout: float) -> None:
        self.address = address
        self.timeout = timeout
        self._lock = threading.Lock()
        self._channel: grpc.Channel | None = None
        self._methods: dict[str, Callable[..., bytes]] = {}
        _CLIENTS.add(self)

    def _method(self, path: str) -> Callable[..., bytes]:
        with self._lock:
            method = self._methods.get(path)
            if method is None:
                if self._channel is None:
                    self._channel = grpc.insecure_channel(
                        self.address.authority, options=_channel_options(self.address)
                    )
                # No serializers: grpc hands the request bytes over as they are and returns
                # the response bytes unparsed.
                method = self._methods[path] = self._channel.unary_unary(path)
            return method

    def call(self, path: str, request_bytes: bytes) -> bytes:
        try:
            return self._method(path)(request_bytes, timeout=self.timeout)
        except grpc.RpcError as err:
            status = getattr(err, "code", lambda: None)()
            details = getattr(err, "details", lambda: None)()
            raise GrpcCallError(
                getattr(status, "name", str(status)),
                details or "",
                address=self.address.url,
                method=path,
                timeout=self.timeout,
            ) from None  # grpc's own exception adds only its debug string
        except ValueError as err:  # closed under us (a GrpcServer here stopped): as grpc would
            raise GrpcCallError(
                "CANCELLED",
                str(err),
                address=self.address.url,
                method=path,
                timeout=self.timeout,
            ) from None

    def parse(self, message_class: Any, data: bytes, path: str) -> Any:
        try:
            return parse_response(message_class, data)
        except MalformedResponseError as exc:
            service = path.rsplit("/", 1)[0].lstrip("/")
            raise GrpcResponseError(
                exc,
                hint=exc.hint or f"is it serving {service} with the same wire schema?",
                address=self.address.url,
                method=path,
            ) from None

    def close(self) -> None:
        with self._lock:
            if self._channel is not None:
                self._channel.close()
            self._channel = None
            self._methods.clear()


# Every client channel of this process, so that a GrpcServer stopping here closes the ones
# connected to it first: otherwise grpc logs "Got goaway" on stderr for each of them.
_CLIENTS: weakref.WeakSet[_Client] = weakref.WeakSet()


def _client(address: str, timeout: float | None) -> _Client:
    parsed = _parse_address(address)
    if timeout is None:
        seconds = parsed.timeout if parsed.timeout is not None else DEFAULT_TIMEOUT
    else:
        seconds = _check_timeout(timeout, "timeout")
    return _Client(parsed, seconds)


class GrpcSagaTarget(SagaTarget):
    """A saga served over gRPC (``angzarr.SagaService/Handle``).

    ``handle_bytes`` returns the response bytes exactly as they came off the wire; ``call``
    returns the parsed ``SagaResponse``.

    Attributes:
        address: ``grpc://host:port``.
        timeout: the deadline of each call, in seconds.
    """

    def __init__(self, client: _Client) -> None:
        self._client = client
        super().__init__(name=client.address.url, call=self._call)

    @property
    def address(self) -> str:
        return self._client.address.url

    @property
    def timeout(self) -> float:
        return self._client.timeout

    def _call(self, request_bytes: bytes) -> Any:
        return self.handle_bytes(request_bytes)[0]

    def handle_bytes(self, request_bytes: bytes) -> tuple[Any, bytes]:
        data = self._client.call(SAGA_HANDLE, request_bytes)
        return self._client.parse(wire.saga_pb2.SagaResponse, data, SAGA_HANDLE), data

    def close(self) -> None:
        """Close the channel (a later call opens a new one)."""
        self._client.close()


class GrpcPMTarget(PMTarget):
    """A process manager served over gRPC (``angzarr.ProcessManagerService``: ``Handle``, and
    ``Prepare`` for the legacy two-phase flow; a server without it answers ``UNIMPLEMENTED``).

    Attributes:
        address: ``grpc://host:port``.
        timeout: the deadline of each call, in seconds.
    """

    def __init__(self, client: _Client) -> None:
        self._client = client
        super().__init__(name=client.address.url, handle=self._handle, prepare=self._prepare)

    @property
    def address(self) -> str:
        return self._client.address.url

    @property
    def timeout(self) -> float:
        return self._client.timeout

    def _handle(self, request_bytes: bytes) -> Any:
        return self.handle_bytes(request_bytes)[0]

    def _prepare(self, request_bytes: bytes) -> Any:
        data = self._client.call(PM_PREPARE, request_bytes)
        PM = wire.process_manager_pb2
        return self._client.parse(PM.ProcessManagerPrepareResponse, data, PM_PREPARE)

    def handle_bytes(self, request_bytes: bytes) -> tuple[Any, bytes]:
        data = self._client.call(PM_HANDLE, request_bytes)
        PM = wire.process_manager_pb2
        return self._client.parse(PM.ProcessManagerHandleResponse, data, PM_HANDLE), data

    def prepare_covers(self, request_bytes: bytes) -> list[Any]:
        return list(self._prepare(request_bytes).destinations)

    def close(self) -> None:
        """Close the channel (a later call opens a new one)."""
        self._client.close()


def grpc_saga_target(address: str, *, timeout: float | None = None) -> GrpcSagaTarget:
    """A saga target for a server at ``grpc://host:port`` serving ``angzarr.SagaService``.

    Args:
        address: ``grpc://host:port``, optionally with ``?timeout=SECONDS``.
        timeout: the deadline of every call in seconds (default: the address's
            ``?timeout=``, else :data:`DEFAULT_TIMEOUT`, 5 s).

    Raises:
        TargetError: a malformed address or timeout. Nothing is contacted until the first
            call; a server that is down shows up then, as a ``handler-error`` finding.
    """
    return GrpcSagaTarget(_client(address, timeout))


def grpc_pm_target(address: str, *, timeout: float | None = None) -> GrpcPMTarget:
    """A process-manager target for a server at ``grpc://host:port`` serving
    ``angzarr.ProcessManagerService``; arguments as for :func:`grpc_saga_target`."""
    return GrpcPMTarget(_client(address, timeout))


# -- server -------------------------------------------------------------------------------------


def _status_code(name: str) -> grpc.StatusCode:
    for status in grpc.StatusCode:
        if name in (status.name, str(status.value[0])) and status is not grpc.StatusCode.OK:
            return status
    return grpc.StatusCode.UNKNOWN  # an abort always fails the call


def _describe_failure(exc: BaseException) -> str:
    text = describe_exception(exc)
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        text += f" (at {last.filename}:{last.lineno} in {last.name})"
    if len(text) > _MAX_DETAILS:
        text = text[: _MAX_DETAILS - 3] + "..."
    return text


class GrpcServer:
    """A running gRPC server for one handler (see :func:`serve`); a context manager that
    stops the server on exit.

    Attributes:
        address: ``grpc://host:port``, ready to pass as a target.
        host: the host it listens on.
        port: the bound port (the real one when ``:0`` was asked for).
        kind: ``"saga"`` or ``"process-manager"``.
        target: the resolved handler (a ``SagaTarget`` or ``PMTarget``).
        calls: RPCs received so far (failed ones included).
    """

    def __init__(
        self,
        server: grpc.Server,
        executor: futures.ThreadPoolExecutor,
        address: _Address,
        kind: str,
        target: SagaTarget | PMTarget,
    ) -> None:
        self._server = server
        self._executor = executor
        self.host = address.host
        self.port = address.port
        self.address = address.url
        self.kind = kind
        self.target = target
        self.calls = 0
        self._lock = threading.Lock()
        self._stopped = False

    def _count(self) -> None:
        with self._lock:
            self.calls += 1

    def stop(self, grace: float | None = None) -> None:
        """Stop serving: in-flight calls get ``grace`` seconds (default: none, they are
        cancelled). Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        if not grace:
            for client in list(_CLIENTS):
                there = client.address
                if there.port == self.port and (
                    there.host == self.host or (there.loopback and _Address(self.host, 0).loopback)
                ):
                    client.close()  # reopened by the next call, which then finds no server
        self._server.stop(grace).wait((grace or 0) + 5)
        self._executor.shutdown(wait=False, cancel_futures=True)

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        """Block until the server stops (or ``timeout`` passes); ``True`` if it stopped."""
        return bool(self._server.wait_for_termination(timeout))

    def __enter__(self) -> GrpcServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "serving"
        return f"GrpcServer({self.kind} {self.target.name} at {self.address}, {state})"


def _method_handler(server_ref: list[GrpcServer], fn: Callable[[bytes], bytes]) -> Any:
    def behaviour(request: bytes, context: grpc.ServicerContext) -> bytes:
        server_ref[0]._count()
        try:
            return fn(request)
        except HandlerAborted as exc:  # an in-process servicer's context.abort(...)
            context.abort(_status_code(exc.code), exc.details)
        except (Exception, SystemExit) as exc:  # the handler's failure is the call's, never
            # the server's (a handler calling sys.exit must not take a worker thread down)
            context.abort(grpc.StatusCode.INTERNAL, _describe_failure(exc))
        raise AssertionError("unreachable: context.abort raises")  # pragma: no cover

    # No (de)serializers: the handler functions take and return bytes.
    return grpc.unary_unary_rpc_method_handler(behaviour)


def _pm_prepare_bytes(target: PMTarget) -> Callable[[bytes], bytes]:
    def prepare(data: bytes) -> bytes:
        if target.prepare is None:
            raise HandlerAborted(
                "UNIMPLEMENTED",
                f"{target.name} has no Prepare (it serves the one-phase Handle only)",
            )
        raw = target.prepare(data)
        if raw is None:
            return b""
        name = getattr(getattr(raw, "DESCRIPTOR", None), "full_name", None)
        if name != "angzarr.ProcessManagerPrepareResponse":
            raise HandlerResultError(
                f"Prepare returned {type(raw).__name__}; expected a "
                "ProcessManagerPrepareResponse or None"
            )
        return raw.SerializeToString()

    return prepare


def serve(
    handler: Any,
    *,
    kind: str = "saga",
    address: str = "127.0.0.1:0",
    max_workers: int = 4,
) -> GrpcServer:
    """Serve a Python handler over gRPC and return the running :class:`GrpcServer`.

    Args:
        handler: anything the harness accepts: a callable, a servicer with ``Handle`` (and
            ``Prepare``), an ``angzarr_client`` ``Saga`` / ``ProcessManager`` subclass, or a
            ``"package.module:attr"`` string.
        kind: ``"saga"`` (serves ``angzarr.SagaService``) or ``"process-manager"``
            (``angzarr.ProcessManagerService``).
        address: ``host:port`` or ``grpc://host:port`` to listen on; port 0 picks a free one.
            Loopback by default; there is no TLS.
        max_workers: threads handling calls.

    A handler that raises makes that call fail with ``INTERNAL`` and the exception's text
    (a servicer that aborts keeps its own status); the server keeps serving.

    Raises:
        TargetError: the handler or the address cannot be used.
        ConfigurationError: a bad ``kind`` or ``max_workers``, or the port cannot be bound.
    """
    if kind not in _KINDS:
        raise ConfigurationError(
            f"kind must be 'saga' or 'process-manager', got {kind!r}", details={"kind": kind}
        )
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise ConfigurationError(f"max_workers must be an int >= 1, got {max_workers!r}")
    where = _parse_address(address, for_serving=True)
    server_ref: list[GrpcServer] = []
    if kind == "saga":
        saga = resolve_saga_target(handler)
        target: SagaTarget | PMTarget = saga
        service = SAGA_SERVICE
        methods = {
            "Handle": _method_handler(server_ref, lambda d: saga_response_bytes(saga.call(d)))
        }
    else:
        pm = resolve_pm_target(handler)
        target = pm
        service = PM_SERVICE
        methods = {
            "Handle": _method_handler(server_ref, lambda d: pm.handle_bytes(d)[1]),
            "Prepare": _method_handler(server_ref, _pm_prepare_bytes(pm)),
        }
    executor = futures.ThreadPoolExecutor(
        max_workers=max_workers, thread_name_prefix="angzarr-testkit-grpc"
    )
    server = grpc.server(
        executor,
        handlers=[grpc.method_handlers_generic_handler(service, methods)],
        options=[
            # Without this, grpc binds a port another server already holds (SO_REUSEPORT).
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", -1),
            ("grpc.max_send_message_length", -1),
        ],
    )
    try:
        port = server.add_insecure_port(where.authority)
    except RuntimeError as exc:  # newer grpcio raises instead of returning 0
        port, reason = 0, str(exc)
    else:
        reason = "the address is in use or not local"
    if not port:
        executor.shutdown(wait=False)
        raise ConfigurationError(
            f"cannot listen on {where.authority} ({reason}); pick another port, or port 0 "
            "for a free one",
            details={"address": where.authority},
        )
    running = GrpcServer(server, executor, _Address(where.host, port), kind, target)
    server_ref.append(running)
    server.start()
    return running
