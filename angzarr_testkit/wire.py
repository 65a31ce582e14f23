"""Which generated protobuf classes the kit uses: the ONE place that decides.

A user's saga builds ``CommandBook``s with the classes of the SDK it imports. When the
``angzarr_client`` package is installed, the kit therefore uses *its* generated modules
(``angzarr_client.proto.angzarr.*_pb2``), so the user's objects and the kit's are the same
classes. Otherwise it uses its own generated copy of the same schema
(``angzarr_testkit._generated``, built from ``proto/angzarr/*.proto`` by ``scripts/genproto.py``).

Both copies register the same file names (``angzarr/types.proto``, ...) in protobuf's default
descriptor pool, so only one of them can ever be loaded in a process. The choice is made once, when
this module is first imported, and every other part of the kit reaches generated classes through
the attributes below; nothing else imports generated code.

Forcing a mode: set ``ANGZARR_TESTKIT_WIRE`` to ``bundled`` or ``angzarr_client`` before the kit is
imported. A request that cannot be honoured raises :class:`~angzarr_testkit.errors.WireModeError`
saying what to change.

Attributes:
    MODE: ``"angzarr_client"`` or ``"bundled"``.
    types_pb2, saga_pb2, process_manager_pb2, command_handler_pb2: the angzarr wire modules.
    examples_pb2: the kit's order-fulfilment example domain (package ``testkit_examples.order``),
        always the bundled module; it does not depend on the angzarr protos, so it loads in
        either mode.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

from google.protobuf import any_pb2, descriptor_pool
from google.protobuf.message import Message

from .errors import InvalidArgumentError, WireModeError, codes

__all__ = [
    "ENV_VAR",
    "MODE",
    "MODES",
    "TYPE_URL_PREFIX",
    "command_handler_pb2",
    "examples_pb2",
    "is_map",
    "is_repeated",
    "pack",
    "process_manager_pb2",
    "saga_pb2",
    "type_name",
    "type_url",
    "types_pb2",
    "unpack",
]

WireMode = Literal["angzarr_client", "bundled"]
_MessageT = TypeVar("_MessageT", bound=Message)

#: Environment variable that forces a mode (read once, at first import of the kit).
ENV_VAR: Final = "ANGZARR_TESTKIT_WIRE"
#: The accepted values of :data:`ENV_VAR`.
MODES: Final[tuple[WireMode, ...]] = ("angzarr_client", "bundled")
#: Prefix of every type URL the kit writes into ``google.protobuf.Any``.
TYPE_URL_PREFIX: Final = "type.googleapis.com/"

_CLIENT_MODULE = "angzarr_client"
_PACKAGES: Final[dict[WireMode, str]] = {
    "angzarr_client": "angzarr_client.proto.angzarr",
    "bundled": "angzarr_testkit._generated.angzarr",
}
_WIRE_FILES: Final = ("types", "saga", "process_manager", "command_handler")
_EXAMPLES_MODULE: Final = "angzarr_testkit._generated.testkit_examples.order_fulfillment_pb2"
_INSTALL_HINT: Final = "pip install 'angzarr-testkit[client]', which brings angzarr-client 0.3.x"


def _client_installed() -> bool:
    """Whether ``angzarr_client`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(_CLIENT_MODULE) is not None
    except (ImportError, ValueError):  # a broken install or a __spec__-less stub module
        return False


def _owner_of(proto_file: str) -> str:
    """Name the already-imported module that registered ``proto_file`` (for error messages)."""
    for name, module in list(sys.modules.items()):
        if not name.endswith("_pb2"):
            continue
        descriptor = getattr(module, "DESCRIPTOR", None)
        if getattr(descriptor, "name", None) == proto_file:
            return name
    return "an unknown module"


def _requested_mode() -> WireMode | None:
    raw = os.environ.get(ENV_VAR)
    if raw is None or not raw.strip():
        return None
    value = raw.strip().lower()
    for mode in MODES:
        if value == mode:
            return mode
    raise WireModeError(
        f"{ENV_VAR}={raw!r} is not a wire mode; set it to 'bundled' (the kit's own generated "
        "classes) or 'angzarr_client' (the SDK's), or unset it to choose automatically "
        "(angzarr_client when installed).",
        code=codes.WIRE_MODE,
        details={"env_var": ENV_VAR, "value": raw, "allowed": ", ".join(MODES)},
    )


def _select_mode() -> WireMode:
    requested = _requested_mode()
    installed = _client_installed()
    if requested == "angzarr_client" and not installed:
        raise WireModeError(
            f"{ENV_VAR}=angzarr_client, but the angzarr_client package is not installed for "
            f"{sys.executable}. Install it ({_INSTALL_HINT}) or set {ENV_VAR}=bundled (or unset "
            "it) to use the kit's own generated classes.",
            code=codes.WIRE_MODE,
            details={"env_var": ENV_VAR, "value": "angzarr_client", "python": sys.executable},
        )
    mode: WireMode = requested or ("angzarr_client" if installed else "bundled")
    _check_pool_free(mode, forced=requested is not None)
    return mode


def _check_pool_free(mode: WireMode, *, forced: bool) -> None:
    """Refuse a mode whose proto files another module already put in the default pool.

    Importing the chosen modules would otherwise die inside protobuf with a "duplicate file
    name" TypeError that does not say which wire mode to pick.
    """
    pool = descriptor_pool.Default()
    package = _PACKAGES[mode]
    for stem in _WIRE_FILES:
        proto_file = f"angzarr/{stem}.proto"
        if f"{package}.{stem}_pb2" in sys.modules:
            continue
        try:
            pool.FindFileByName(proto_file)
        except KeyError:
            continue
        owner = _owner_of(proto_file)
        how = f"{ENV_VAR}={mode}" if forced else f"wire mode {mode} (chosen automatically)"
        other: WireMode = "bundled" if mode == "angzarr_client" else "angzarr_client"
        if owner.startswith(_PACKAGES[other] + "."):
            # The other copy won the race; that copy is the only one this process can use.
            fix = f"Set {ENV_VAR}={other} to use the classes already loaded"
            if mode == "bundled":
                fix += " (or unset it), or do not import angzarr_client in a bundled-mode process"
            fix += "."
        else:
            fix = (
                f"Do not import {owner} in a process that uses the kit: the kit can share "
                "the pool only with angzarr_client's generated classes or its own."
            )
        raise WireModeError(
            f"{how} needs to load {proto_file}, but {owner} already registered that file in "
            f"protobuf's default descriptor pool, and two copies cannot coexist. {fix}",
            code=codes.WIRE_MODE,
            details={"mode": mode, "proto_file": proto_file, "loaded_by": owner},
        )


def _load(mode: WireMode) -> dict[str, ModuleType]:
    package = _PACKAGES[mode]
    loaded: dict[str, ModuleType] = {}
    for stem in _WIRE_FILES:
        name = f"{package}.{stem}_pb2"
        try:
            loaded[stem] = importlib.import_module(name)
        except (ImportError, TypeError) as exc:
            # TypeError is protobuf's report of a descriptor-pool clash.
            other = "bundled" if mode == "angzarr_client" else "angzarr_client"
            raise WireModeError(
                f"wire mode {mode}: importing {name} failed ({type(exc).__name__}: {exc}). "
                f"Repair the installation, or run this process with {ENV_VAR}={other} "
                "(in a fresh process: the two copies of the protos cannot share one).",
                code=codes.WIRE_MODE,
                details={"mode": mode, "module": name, "error": str(exc)},
            ) from exc
    return loaded


MODE: WireMode = _select_mode()
_modules = _load(MODE)

if TYPE_CHECKING:
    # Type checkers see the bundled stubs; both modes describe the same messages.
    from ._generated.angzarr import command_handler_pb2, process_manager_pb2, saga_pb2, types_pb2
    from ._generated.testkit_examples import order_fulfillment_pb2 as examples_pb2
else:
    types_pb2 = _modules["types"]
    saga_pb2 = _modules["saga"]
    process_manager_pb2 = _modules["process_manager"]
    command_handler_pb2 = _modules["command_handler"]
    examples_pb2 = importlib.import_module(_EXAMPLES_MODULE)


def type_url(message: Message | type[Message]) -> str:
    """The type URL the kit uses for a message (instance or class): prefix + full name."""
    return TYPE_URL_PREFIX + message.DESCRIPTOR.full_name


def type_name(type_url_or_any: str | any_pb2.Any) -> str:
    """The fully-qualified message name in a type URL (or an ``Any``): text after the last ``/``."""
    url = type_url_or_any if isinstance(type_url_or_any, str) else type_url_or_any.type_url
    return url.rsplit("/", 1)[-1]


def pack(message: Message) -> any_pb2.Any:
    """Wrap ``message`` in a ``google.protobuf.Any`` with a :data:`TYPE_URL_PREFIX` type URL.

    The value is serialized deterministically (map entries in key order), so packing equal
    messages always gives equal bytes; the kit compares payloads byte-wise.
    """
    if not isinstance(message, Message):
        raise InvalidArgumentError(
            f"pack() takes a protobuf message, got {type(message).__name__}",
            details={"value": repr(message)[:200]},
        )
    packed = any_pb2.Any()
    packed.Pack(message, type_url_prefix=TYPE_URL_PREFIX, deterministic=True)
    return packed


def unpack(packed: any_pb2.Any, message_class: type[_MessageT]) -> _MessageT:
    """Decode ``packed`` as ``message_class``; a different payload type is an error, not a guess."""
    expected = message_class.DESCRIPTOR.full_name
    if type_name(packed) != expected:
        raise InvalidArgumentError(
            f"Any holds {type_name(packed) or '<empty type_url>'}, not {expected}; unpack it "
            "with the class its type URL names",
            details={"type_url": packed.type_url, "expected": expected},
        )
    message = message_class()
    if not packed.Unpack(message):
        raise InvalidArgumentError(
            f"Any with type URL {packed.type_url!r} could not be unpacked as {expected}",
            details={"type_url": packed.type_url, "expected": expected},
        )
    return message


def is_repeated(field: Any) -> bool:
    """Whether a ``FieldDescriptor`` is repeated (maps included), on every supported runtime:
    protobuf 7 removed ``FieldDescriptor.label`` in favour of ``is_repeated``."""
    flag = getattr(field, "is_repeated", None)
    if flag is not None:
        return bool(flag)
    return field.label == field.LABEL_REPEATED


def is_map(field: Any) -> bool:
    """Whether a ``FieldDescriptor`` is a map field (a repeated ``*Entry`` message)."""
    return (
        field.type == field.TYPE_MESSAGE
        and field.message_type.GetOptions().map_entry
        and is_repeated(field)
    )
