"""Wire mode selection (angzarr_testkit.wire) and its small helpers.

The mode is decided once per process, at import, so every selection scenario runs in a fresh
subprocess with its own ``ANGZARR_TESTKIT_WIRE``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from angzarr_testkit import wire
from angzarr_testkit.errors import ClientError, InvalidArgumentError, WireModeError

CLIENT_INSTALLED = importlib.util.find_spec("angzarr_client") is not None
AUTO_MODE = "angzarr_client" if CLIENT_INSTALLED else "bundled"
needs_client = pytest.mark.skipif(not CLIENT_INSTALLED, reason="angzarr_client is not installed")

BUNDLED_TYPES = "angzarr_testkit._generated.angzarr.types_pb2"
CLIENT_TYPES = "angzarr_client.proto.angzarr.types_pb2"

# Runs `prelude`, then imports the kit and reports the outcome as one JSON line.
PROBE = textwrap.dedent(
    """
    import json, sys
    {prelude}
    try:
        from angzarr_testkit import wire
    except Exception as exc:
        print(json.dumps({{"error": type(exc).__name__, "code": getattr(exc, "code", None),
                          "message": str(exc), "details": getattr(exc, "details", None)}}))
    else:
        print(json.dumps({{
            "mode": wire.MODE,
            "modules": {{n: getattr(wire, n).__name__ for n in
                        ("types_pb2", "saga_pb2", "process_manager_pb2", "command_handler_pb2",
                         "examples_pb2")}},
            "files": [getattr(wire, n).DESCRIPTOR.name for n in
                      ("types_pb2", "saga_pb2", "process_manager_pb2", "command_handler_pb2",
                       "examples_pb2")],
            "client_imported": "angzarr_client" in sys.modules,
        }}))
    """
)


def probe(env_value: str | None, prelude: str = "") -> dict[str, Any]:
    """Import the kit in a fresh interpreter with ``ANGZARR_TESTKIT_WIRE=env_value``."""
    env = dict(os.environ)
    env.pop(wire.ENV_VAR, None)
    if env_value is not None:
        env[wire.ENV_VAR] = env_value
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(prelude=prelude)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_wire_error(outcome: dict[str, Any], *fragments: str) -> None:
    assert outcome.get("error") == "WireModeError", outcome
    assert outcome["code"] == "WIRE_MODE"
    for fragment in fragments:
        assert fragment in outcome["message"], (fragment, outcome["message"])


# ---- selection ---------------------------------------------------------------------------------


def test_bundled_forced_uses_the_kits_own_classes() -> None:
    outcome = probe("bundled")
    assert outcome["mode"] == "bundled"
    assert outcome["modules"]["types_pb2"] == BUNDLED_TYPES
    assert outcome["modules"]["saga_pb2"] == "angzarr_testkit._generated.angzarr.saga_pb2"
    # Forcing bundled must not even import the SDK when it is installed.
    assert outcome["client_imported"] is False


def test_registered_proto_file_names_are_the_sdks() -> None:
    outcome = probe("bundled")
    assert outcome["files"] == [
        "angzarr/types.proto",
        "angzarr/saga.proto",
        "angzarr/process_manager.proto",
        "angzarr/command_handler.proto",
        "testkit_examples/order_fulfillment.proto",
    ]


def test_angzarr_client_forced() -> None:
    outcome = probe("angzarr_client")
    if CLIENT_INSTALLED:
        assert outcome["mode"] == "angzarr_client"
        assert outcome["modules"]["types_pb2"] == CLIENT_TYPES
        assert outcome["modules"]["command_handler_pb2"] == (
            "angzarr_client.proto.angzarr.command_handler_pb2"
        )
    else:
        assert_wire_error(
            outcome, "angzarr_client package is not installed", "ANGZARR_TESTKIT_WIRE=bundled"
        )


def test_examples_module_is_always_bundled() -> None:
    for value in ("bundled", None):
        outcome = probe(value)
        assert outcome["modules"]["examples_pb2"] == (
            "angzarr_testkit._generated.testkit_examples.order_fulfillment_pb2"
        )


@pytest.mark.parametrize("env_value", [None, "", "  "])
def test_automatic_choice_prefers_angzarr_client_when_installed(env_value: str | None) -> None:
    outcome = probe(env_value)
    if CLIENT_INSTALLED:
        assert outcome["mode"] == "angzarr_client"
        assert outcome["modules"]["types_pb2"] == CLIENT_TYPES
    else:
        assert outcome["mode"] == "bundled"
        assert outcome["modules"]["types_pb2"] == BUNDLED_TYPES


def test_mode_value_is_case_and_space_insensitive() -> None:
    assert probe(" Bundled\n")["mode"] == "bundled"


@pytest.mark.parametrize("bogus", ["bogus", "client", "angzarr-client", "auto"])
def test_unknown_mode_is_a_clear_error(bogus: str) -> None:
    outcome = probe(bogus)
    assert_wire_error(outcome, f"ANGZARR_TESTKIT_WIRE={bogus!r}", "'bundled'", "'angzarr_client'")
    assert outcome["details"]["value"] == bogus


@needs_client
def test_bundled_refused_after_angzarr_client_protos_were_imported() -> None:
    outcome = probe("bundled", prelude=f"import {CLIENT_TYPES}")
    assert_wire_error(
        outcome,
        "ANGZARR_TESTKIT_WIRE=bundled",
        CLIENT_TYPES,
        "Set ANGZARR_TESTKIT_WIRE=angzarr_client",
    )
    assert outcome["details"]["proto_file"] == "angzarr/types.proto"
    assert outcome["details"]["loaded_by"] == CLIENT_TYPES


FOREIGN_COPY = textwrap.dedent(
    """
    from google.protobuf import descriptor_pb2, descriptor_pool
    descriptor_pool.Default().Add(descriptor_pb2.FileDescriptorProto(
        name="angzarr/types.proto", package="someone_else", syntax="proto3"))
    """
)


@pytest.mark.parametrize("env_value", ["bundled", None])
def test_refused_when_another_copy_registered_the_files(env_value: str | None) -> None:
    # Any other owner of angzarr/types.proto in the default pool is a clash, in every mode.
    outcome = probe(env_value, prelude=FOREIGN_COPY)
    assert_wire_error(outcome, "angzarr/types.proto", "default descriptor pool", "Do not import")
    assert outcome["details"]["loaded_by"] == "an unknown module"
    assert outcome["details"]["mode"] == (env_value or AUTO_MODE)


@needs_client
def test_importing_the_sdk_after_the_kit_shares_classes() -> None:
    outcome = probe(None, prelude="")
    assert outcome["mode"] == "angzarr_client"
    code = textwrap.dedent(
        """
        from angzarr_testkit import wire
        from angzarr_client.proto.angzarr import types_pb2
        assert wire.types_pb2.CommandBook is types_pb2.CommandBook
        """
    )
    env = {k: v for k, v in os.environ.items() if k != wire.ENV_VAR}
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


def test_this_process_honours_the_environment() -> None:
    requested = os.environ.get(wire.ENV_VAR, "").strip().lower()
    expected = requested or AUTO_MODE
    assert wire.MODE == expected
    assert wire.MODE in wire.MODES
    package = {"bundled": BUNDLED_TYPES, "angzarr_client": CLIENT_TYPES}[wire.MODE]
    assert wire.types_pb2.__name__ == package


def test_wire_mode_error_is_a_client_error() -> None:
    assert issubclass(WireModeError, ClientError)


# ---- helpers -----------------------------------------------------------------------------------


def test_pack_uses_the_type_url_prefix() -> None:
    cover = wire.types_pb2.Cover(domain="inventory", correlation_id="c-1")
    packed = wire.pack(cover)
    assert wire.TYPE_URL_PREFIX == "type.googleapis.com/"
    assert packed.type_url == "type.googleapis.com/angzarr.Cover"
    assert packed.type_url == wire.type_url(cover) == wire.type_url(wire.types_pb2.Cover)
    assert wire.type_name(packed) == "angzarr.Cover"
    assert wire.unpack(packed, wire.types_pb2.Cover) == cover


def test_pack_is_deterministic_for_maps() -> None:
    forward = wire.examples_pb2.LineItems(tags={f"k{i}": i for i in range(50)})
    backward = wire.examples_pb2.LineItems(tags={f"k{i}": i for i in reversed(range(50))})
    assert wire.pack(forward).value == wire.pack(backward).value


def test_pack_example_domain_message() -> None:
    created = wire.examples_pb2.OrderCreated(order_id="o-1", sku="sku-1", quantity=2)
    packed = wire.pack(created)
    assert packed.type_url == "type.googleapis.com/testkit_examples.order.OrderCreated"
    assert wire.unpack(packed, wire.examples_pb2.OrderCreated).quantity == 2


def test_unpack_of_the_wrong_type_is_an_error() -> None:
    packed = wire.pack(wire.examples_pb2.OrderCancelled(order_id="o-1"))
    with pytest.raises(InvalidArgumentError, match="testkit_examples.order.OrderCancelled"):
        wire.unpack(packed, wire.examples_pb2.OrderShipped)


def test_pack_rejects_non_messages() -> None:
    with pytest.raises(InvalidArgumentError, match="protobuf message"):
        wire.pack({"order_id": "o-1"})  # type: ignore[arg-type]
