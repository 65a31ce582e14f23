"""Resolving and calling user saga targets.

A target is one of:

* a plain callable ``fn(request: SagaHandleRequest) -> SagaResponse | list[CommandBook] |
  CommandBook | None``;
* an object with a gRPC-servicer-style ``Handle(request, context)`` method
  (e.g. ``angzarr_client.saga_handler.SagaHandler``);
* an ``angzarr_client.saga.Saga`` subclass (or instance), served through
  ``angzarr_client.saga_handler.SagaHandler`` exactly as angzarr_client serves it;
* a string ``"package.module:attr"`` naming any of the above;
* a string ``"grpc://host:port"``: a saga served over gRPC in any language (resolved through
  :mod:`angzarr_testkit.transports.grpc`, which needs the ``grpc`` extra).

Requests and responses cross every hop as bytes, as on the real wire.
How the resolved target is called is :mod:`.calls`; this module re-exports its names.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from .. import wire
from ..errors import TargetError, codes, describe_exception, safe_repr
from ..validate import usage_error
from .calls import (
    HandlerAborted,
    HandlerExited,
    PMTarget,
    SagaTarget,
    ServicerContext,
    describe_value,
    message_full_name,
    saga_response_bytes,
    status_name,
)
from .responses import HandlerResultError, MalformedResponseError
from .responses import parse_response as parse_response

__all__ = [
    "HandlerAborted",
    "HandlerExited",
    "HandlerResultError",
    "MalformedResponseError",
    "PMTarget",
    "SagaTarget",
    "describe_value",
    "import_target",
    "is_sdk_pm_class",
    "message_full_name",
    "resolve_pm_target",
    "resolve_saga_target",
    "saga_response_bytes",
]


def _is_sdk_saga_class(obj: Any) -> bool:
    # Duck-typed so that bundled mode never imports angzarr_client (its generated modules
    # would clash with the bundled ones in protobuf's default descriptor pool).
    return (
        inspect.isclass(obj)
        and hasattr(obj, "_dispatch_table")
        and callable(getattr(obj, "handle", None))
        and hasattr(obj, "_output_domain")
        and any(base.__module__.startswith("angzarr_client") for base in obj.__mro__)
    )


def import_target(spec: str) -> Any:
    """The object a ``package.module:attr`` string names (``attr`` may be dotted).

    Raises :class:`~angzarr_testkit.errors.TargetError` with a fix-it message when the spec is
    malformed, the module cannot be imported (or fails while importing), or the attribute is
    missing. Used by the harnesses, the storm, the CLI and the behave steps alike.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise TargetError(
            f"target {spec!r} is not of the form 'package.module:attr' "
            "(e.g. 'myproject.sagas:OrderSaga')",
            details={"target": spec},
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = f" (did you mean grpc://{spec}?)" if attr.isdigit() else ""
        raise TargetError(
            f"cannot import module {module_name!r} of target {spec!r}: "
            f"{describe_exception(exc)}. Check the module "
            "path and that the project is on sys.path (run from its root, or pip install -e .)"
            f"{hint}",
            details={"target": spec, "module": module_name},
        ) from exc
    except (Exception, SystemExit) as exc:  # the user's module failed (or exited) at import
        exited = " (it called sys.exit while importing)" if isinstance(exc, SystemExit) else ""
        raise TargetError(
            f"importing module {module_name!r} of target {spec!r} raised "
            f"{describe_exception(exc)}{exited}; fix that module (python -c 'import "
            f"{module_name}' shows the traceback)",
            details={"target": spec, "module": module_name, "error": type(exc).__name__},
        ) from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise TargetError(
                f"module {module_name!r} has no attribute {attr!r} (target {spec!r})",
                details={"target": spec, "attr": attr},
            ) from exc
    return obj


def _sdk_saga_target(cls: type) -> SagaTarget:
    if wire.MODE != "angzarr_client":
        raise TargetError(
            f"{cls.__name__} is an angzarr_client Saga, but the kit runs in the bundled wire "
            "mode; unset ANGZARR_TESTKIT_WIRE (or set it to angzarr_client) so the kit uses the "
            "SDK's classes",
            code=codes.TARGET_UNSUPPORTED,
            details={"target": cls.__name__},
        )
    from angzarr_client.saga_handler import SagaHandler  # client mode only

    servicer = SagaHandler(cls)
    handled = [event_type for _, event_type in getattr(cls, "_dispatch_table", {}).values()]
    output = getattr(cls, "_output_domain", None)
    target = _servicer_target(servicer, getattr(cls, "name", cls.__name__))
    target.source_domain = getattr(cls, "_domain", None)
    target.output_domains = [output] if output else []
    target.handled_types = handled
    return target


def _servicer_target(servicer: Any, name: str) -> SagaTarget:
    def call(request_bytes: bytes) -> Any:
        request = wire.saga_pb2.SagaHandleRequest.FromString(request_bytes)
        context = ServicerContext()
        result = servicer.Handle(request, context)
        if context.code is not None and status_name(context.code) not in ("OK", "0"):
            raise HandlerAborted(status_name(context.code), context.details)
        return result

    return SagaTarget(name=name, call=call)


_GRPC_EXTRA_HINT = "pip install 'angzarr-testkit[grpc]'"


def _network_target(target: str, kind: str) -> Any:
    """Resolve a ``scheme://...`` target string through the matching transport."""
    scheme = target.split("://", 1)[0].lower()
    if scheme != "grpc":
        raise TargetError(
            f"target {target!r} looks like a network address, but only grpc://HOST:PORT "
            "targets are supported (a saga or process manager serving angzarr's SagaService "
            "or ProcessManagerService); otherwise give a 'package.module:attr' string or the "
            "object itself",
            code=codes.TARGET_UNSUPPORTED,
            details={"target": target, "scheme": scheme},
        )
    # transports/ sits above framework/ (DESIGN.md section 2: dependencies flow downward), so
    # it is imported lazily, here, at resolution time: framework never imports it at module
    # level, and grpcio stays an optional extra.
    module = "angzarr_testkit.transports.grpc"
    try:
        transport = importlib.import_module(module)
    except ImportError as exc:
        if exc.name not in (module, "grpc") and not (exc.name or "").startswith("grpc."):
            raise  # a genuine bug inside the transport, not a missing extra
        raise TargetError(
            f"target {target!r} needs grpcio, which is not installed for this Python: "
            f"{_GRPC_EXTRA_HINT}",
            code=codes.TARGET_UNSUPPORTED,
            details={"target": target, "missing": "grpcio"},
        ) from exc
    if kind == "saga":
        return transport.grpc_saga_target(target)
    return transport.grpc_pm_target(target)


_SAGA_SIGNATURE = (
    "fn(request: SagaHandleRequest) -> SagaResponse | list[CommandBook] | CommandBook | None"
)
_PM_SIGNATURE = "fn(request: ProcessManagerHandleRequest) -> ProcessManagerHandleResponse | None"
_SERVICER_SIGNATURE = "Handle(request, context)"


def _check_arity(fn: Any, param: str, arity: int, signature: str) -> None:
    """A user handler that cannot take the arguments the kit passes is refused at harness
    construction (:class:`~angzarr_testkit.errors.UsageTypeError` naming ``param``), not at
    the first delivery as a handler error."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins and C callables without a signature: trust them
        return
    try:
        sig.bind(*range(arity))
    except TypeError:
        name = getattr(fn, "__qualname__", None) or type(fn).__name__
        raise usage_error(
            param,
            fn,
            signature,
            type_error=True,
            code=codes.TARGET_UNSUPPORTED,
            hint=f"its signature is {name}{sig}; the kit calls it with {arity} positional "
            f"argument{'s' if arity != 1 else ''}",
        ) from None


def resolve_saga_target(target: Any, *, param: str = "saga") -> SagaTarget:
    """Resolve any supported target form into a :class:`SagaTarget`.

    Args:
        target: the saga, in any form listed in this module's docstring.
        param: the parameter name to use in error messages.

    Raises:
        TargetError: the target is a bad string, cannot be imported (its module raised or
            called ``sys.exit``), or is not a saga in any supported form (the message lists
            the forms accepted).
        UsageTypeError: a callable (or a servicer's ``Handle``) that cannot take the
            arguments the kit passes (``fn(request)``, ``Handle(request, context)``).
    """
    if isinstance(target, SagaTarget):
        return target
    if isinstance(target, str):
        if "://" in target:
            return _network_target(target, "saga")
        resolved = resolve_saga_target(import_target(target), param=param)
        resolved.name = target
        return resolved
    if _is_sdk_saga_class(target):
        return _sdk_saga_target(target)
    if _is_sdk_saga_class(type(target)):
        return _sdk_saga_target(type(target))
    handle = getattr(target, "Handle", None)
    if callable(handle) and not inspect.isclass(target):
        _check_arity(handle, f"{param}.Handle", 2, _SERVICER_SIGNATURE)
        return _servicer_target(target, type(target).__name__)
    if inspect.isclass(target) and callable(getattr(target, "Handle", None)):
        raise TargetError(
            f"{target.__name__} is a servicer class; pass an instance "
            f"(e.g. {target.__name__}(...)) so the harness can call its Handle method",
            code=codes.TARGET_UNSUPPORTED,
            details={"target": target.__name__},
        )
    if callable(target) and not inspect.isclass(target):
        _check_arity(target, param, 1, _SAGA_SIGNATURE)
        name = getattr(target, "__qualname__", None) or type(target).__name__

        def call(request_bytes: bytes) -> Any:
            return target(wire.saga_pb2.SagaHandleRequest.FromString(request_bytes))

        return SagaTarget(name=name, call=call)
    raise TargetError(
        f"{param}: cannot use {safe_repr(target)} as a saga (it is a "
        f"{type(target).__name__}); give a callable {_SAGA_SIGNATURE}, an object with "
        f"{_SERVICER_SIGNATURE}, an "
        "angzarr_client Saga subclass, a 'package.module:attr' string naming one, or a "
        "'grpc://HOST:PORT' address",
        code=codes.TARGET_UNSUPPORTED,
        details={"parameter": param, "target": safe_repr(target, 80)},
    )


# -- process managers ---------------------------------------------------------------------------


def is_sdk_pm_class(obj: Any) -> bool:
    """Whether ``obj`` is an angzarr_client ``ProcessManager`` subclass (duck-typed, so that
    bundled mode never imports angzarr_client)."""
    return (
        inspect.isclass(obj)
        and hasattr(obj, "_input_domains")
        and callable(getattr(obj, "handle", None))
        and callable(getattr(obj, "prepare_destinations", None))
        and any(base.__module__.startswith("angzarr_client") for base in obj.__mro__)
    )


def _pm_servicer_calls(servicer: Any) -> tuple[Callable[[bytes], Any], Callable | None]:
    PM = wire.process_manager_pb2

    def invoke(method: Any, request: Any) -> Any:
        context = ServicerContext()
        result = method(request, context)
        if context.code is not None and status_name(context.code) not in ("OK", "0"):
            raise HandlerAborted(status_name(context.code), context.details)
        return result

    def handle(data: bytes) -> Any:
        return invoke(servicer.Handle, PM.ProcessManagerHandleRequest.FromString(data))

    prepare_method = getattr(servicer, "Prepare", None)
    prepare = None
    if callable(prepare_method):

        def prepare(data: bytes) -> Any:
            return invoke(prepare_method, PM.ProcessManagerPrepareRequest.FromString(data))

    return handle, prepare


def resolve_pm_target(target: Any, *, param: str = "pm") -> PMTarget:
    """Resolve any supported process-manager target form into a :class:`PMTarget`:
    a callable ``fn(ProcessManagerHandleRequest)``, a servicer with ``Handle`` (and
    ``Prepare``), an ``angzarr_client`` ``ProcessManager`` subclass, a
    ``"package.module:attr"`` string naming one, or a ``"grpc://host:port"`` address of a
    process manager serving angzarr's ``ProcessManagerService``.

    Raises as :func:`resolve_saga_target` does (``param`` names the parameter in messages).
    """
    if isinstance(target, PMTarget):
        return target
    if isinstance(target, str):
        if "://" in target:
            return _network_target(target, "process-manager")
        resolved = resolve_pm_target(import_target(target), param=param)
        resolved.name = target
        return resolved
    if is_sdk_pm_class(target) or is_sdk_pm_class(type(target)):
        cls = target if inspect.isclass(target) else type(target)
        if wire.MODE != "angzarr_client":
            raise TargetError(
                f"{cls.__name__} is an angzarr_client ProcessManager, but the kit runs in the "
                "bundled wire mode; unset ANGZARR_TESTKIT_WIRE so the kit uses the SDK's classes",
                code=codes.TARGET_UNSUPPORTED,
                details={"target": cls.__name__},
            )
        from angzarr_client.process_manager_handler import ProcessManagerHandler

        handle, prepare = _pm_servicer_calls(ProcessManagerHandler(cls))
        table = getattr(cls, "_dispatch_table", {})
        outputs = [entry[3] for entry in table.values() if len(entry) > 3 and entry[3]]
        return PMTarget(
            name=getattr(cls, "name", cls.__name__),
            handle=handle,
            prepare=prepare,
            pm_domain=getattr(cls, "_domain", None) or getattr(cls, "name", None),
            sources=list(getattr(cls, "_input_domains", {})),
            output_domains=list(dict.fromkeys(outputs)),
            handled_types=[entry[1] for entry in table.values()],
        )
    if callable(getattr(target, "Handle", None)) and not inspect.isclass(target):
        _check_arity(target.Handle, f"{param}.Handle", 2, _SERVICER_SIGNATURE)
        if callable(getattr(target, "Prepare", None)):
            _check_arity(target.Prepare, f"{param}.Prepare", 2, "Prepare(request, context)")
        handle, prepare = _pm_servicer_calls(target)
        return PMTarget(name=type(target).__name__, handle=handle, prepare=prepare)
    if callable(target) and not inspect.isclass(target):
        _check_arity(target, param, 1, _PM_SIGNATURE)

        def call(data: bytes) -> Any:
            return target(wire.process_manager_pb2.ProcessManagerHandleRequest.FromString(data))

        return PMTarget(name=getattr(target, "__qualname__", type(target).__name__), handle=call)
    raise TargetError(
        f"{param}: cannot use {safe_repr(target)} as a process manager (it is a "
        f"{type(target).__name__}); give a callable {_PM_SIGNATURE}, an object with "
        f"{_SERVICER_SIGNATURE} (and "
        "Prepare), an angzarr_client ProcessManager subclass, a 'package.module:attr' "
        "string naming one, or a 'grpc://HOST:PORT' address",
        code=codes.TARGET_UNSUPPORTED,
        details={"parameter": param, "target": safe_repr(target, 80)},
    )
