"""The server side: :func:`serve` puts a Python handler behind a real gRPC server, a
handler's failure failing the call, never the server."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc

from ...errors import ConfigurationError, describe_exception
from ...framework.targets import (
    HandlerAborted,
    HandlerResultError,
    PMTarget,
    SagaTarget,
    resolve_pm_target,
    resolve_saga_target,
    saga_response_bytes,
)
from .client import close_clients_of
from .endpoints import PM_SERVICE, SAGA_SERVICE, Address, parse_address

__all__ = ["GrpcServer", "serve"]

_KINDS = ("saga", "process-manager")
_MAX_DETAILS = 2000  # status details travel in a header: keep them well under its limits


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
        address: Address,
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
            close_clients_of(self.host, self.port)
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
    where = parse_address(address, for_serving=True)
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
    running = GrpcServer(server, executor, Address(where.host, port), kind, target)
    server_ref.append(running)
    server.start()
    return running
