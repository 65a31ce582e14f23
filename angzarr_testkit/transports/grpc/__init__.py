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

The package uses grpc's generic API with the method paths, bytes in and out: the bundled
generated code has no gRPC stubs, and ``angzarr_client``'s must not be required.

Its modules: ``endpoints`` (service paths, addresses), ``failures`` (call errors),
``client`` (channels and calls), ``targets`` (the ``grpc://`` targets) and ``server``
(:func:`serve`).
"""

from __future__ import annotations

# Imported first, so that a missing grpcio fails this import by its own name (``grpc``)
# even when the submodules below were imported already (framework/targets.py then names
# the extra to install).
import grpc  # noqa: F401

from .endpoints import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT
from .endpoints import PM_HANDLE as PM_HANDLE
from .endpoints import PM_PREPARE as PM_PREPARE
from .endpoints import PM_SERVICE as PM_SERVICE
from .endpoints import SAGA_HANDLE as SAGA_HANDLE
from .endpoints import SAGA_SERVICE as SAGA_SERVICE
from .failures import GrpcCallError as GrpcCallError
from .failures import GrpcResponseError as GrpcResponseError
from .server import GrpcServer as GrpcServer
from .server import serve as serve
from .targets import GrpcPMTarget as GrpcPMTarget
from .targets import GrpcSagaTarget as GrpcSagaTarget
from .targets import grpc_pm_target as grpc_pm_target
from .targets import grpc_saga_target as grpc_saga_target

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
