"""``grpc://`` saga and process-manager targets: the harness calls them like any other
target, and only the handler call crosses the network."""

from __future__ import annotations

from typing import Any

from ... import wire
from ...framework.targets import PMTarget, SagaTarget
from .client import Client, open_client
from .endpoints import PM_HANDLE, PM_PREPARE, SAGA_HANDLE

__all__ = ["GrpcPMTarget", "GrpcSagaTarget", "grpc_pm_target", "grpc_saga_target"]


class GrpcSagaTarget(SagaTarget):
    """A saga served over gRPC (``angzarr.SagaService/Handle``).

    ``handle_bytes`` returns the response bytes exactly as they came off the wire; ``call``
    returns the parsed ``SagaResponse``.

    Attributes:
        address: ``grpc://host:port``.
        timeout: the deadline of each call, in seconds.
    """

    def __init__(self, client: Client) -> None:
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

    def __init__(self, client: Client) -> None:
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
    return GrpcSagaTarget(open_client(address, timeout))


def grpc_pm_target(address: str, *, timeout: float | None = None) -> GrpcPMTarget:
    """A process-manager target for a server at ``grpc://host:port`` serving
    ``angzarr.ProcessManagerService``; arguments as for :func:`grpc_saga_target`."""
    return GrpcPMTarget(open_client(address, timeout))
