"""The kit's bundled protos and angzarr_client's are the same schema, on the wire and by name.

Both copies register ``angzarr/*.proto`` in protobuf's default descriptor pool, so they cannot
load in one process. Each side therefore runs in its own subprocess (this file doubles as the
worker script: ``python test_wire_compat.py <command> ...``) and they exchange bytes and
descriptions through JSON files:

* every message type of the four wire files is built generically from its descriptor, fully
  populated (each oneof member in turn, maps, repeated fields, proto3 ``optional`` set to zero
  values, nested messages, ``Any`` and ``Timestamp``), serialized by one side, parsed by the
  other, and compared field for field;
* the descriptors themselves (names, numbers, types, labels, oneofs, presence, enums, services)
  are compared.

Skipped only when angzarr_client is not installed (there is nothing to compare against).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import any_pb2, descriptor_pb2, json_format, message_factory, timestamp_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, FileDescriptor
from google.protobuf.message import Message

from angzarr_testkit import wire

CLIENT_INSTALLED = importlib.util.find_spec("angzarr_client") is not None
needs_client = pytest.mark.skipif(not CLIENT_INSTALLED, reason="angzarr_client is not installed")

WIRE_MODULES = ("types_pb2", "saga_pb2", "process_manager_pb2", "command_handler_pb2")
#: The SDK's files also import google/api/annotations.proto for HTTP options; ours do not.
HTTP_ANNOTATIONS = "google/api/annotations.proto"
MAX_DEPTH = 6

# ---- generic, deterministic population of any message -------------------------------------------


def wire_files() -> list[FileDescriptor]:
    return [getattr(wire, name).DESCRIPTOR for name in WIRE_MODULES]


def all_messages(files: list[FileDescriptor]) -> Iterator[Descriptor]:
    """Every message in the files, nested ones included (map entries too: they are messages)."""

    def walk(descriptor: Descriptor) -> Iterator[Descriptor]:
        yield descriptor
        for nested in descriptor.nested_types:
            yield from walk(nested)

    for file in files:
        for descriptor in file.message_types_by_name.values():
            yield from walk(descriptor)


def message_class(descriptor: Descriptor) -> type[Message]:
    return message_factory.GetMessageClass(descriptor)


def is_repeated(field: FieldDescriptor) -> bool:
    # FieldDescriptor.label is gone in protobuf 7; is_repeated is missing before 6.x.
    flag = getattr(field, "is_repeated", None)
    if flag is not None:
        return bool(flag)
    return field.label == FieldDescriptor.LABEL_REPEATED


def real_oneofs(descriptor: Descriptor) -> list[Any]:
    """Oneofs declared in the .proto (not the synthetic ones of proto3 ``optional``)."""
    return [o for o in descriptor.oneofs if not _synthetic(o)]


def _synthetic(oneof: Any) -> bool:
    return len(oneof.fields) == 1 and oneof.fields[0].name in _proto3_optional(
        oneof.containing_type
    )


def _proto3_optional(descriptor: Descriptor) -> set[str]:
    proto = descriptor_pb2.DescriptorProto()
    descriptor.CopyToProto(proto)
    return {f.name for f in proto.field if f.proto3_optional}


def variant_count(descriptor: Descriptor) -> int:
    return max([len(o.fields) for o in real_oneofs(descriptor)] + [1])


def scalar_value(field: FieldDescriptor, variant: int, *, zero: bool = False) -> Any:
    """A value of the field's scalar type; large and non-ASCII where that tests the encoding."""
    t = field.type
    if t == FieldDescriptor.TYPE_ENUM:
        values = field.enum_type.values
        return values[0].number if zero else values[-1 - variant % max(len(values) - 1, 1)].number
    if zero:
        return field.default_value
    if t == FieldDescriptor.TYPE_STRING:
        return f"{field.name}-{variant}-ünïcode-✓"
    if t == FieldDescriptor.TYPE_BYTES:
        return bytes([0, 255, 128, variant % 256]) + field.name.encode()
    if t == FieldDescriptor.TYPE_BOOL:
        return True
    if t in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
        return 2**32 - 1 - variant
    if t in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
        return 2**64 - 1 - variant
    if t in (
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SFIXED32,
    ):
        return -(2**31) + variant
    if t in (
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_SFIXED64,
    ):
        return -(2**63) + variant
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return 1.5 + variant
    raise AssertionError(f"unhandled field type {t} of {field.full_name}")


def fill(msg: Message, variant: int, depth: int = 0) -> Message:
    """Set every field of ``msg`` (one member per oneof, chosen by ``variant``); returns ``msg``."""
    descriptor = msg.DESCRIPTOR
    if descriptor.full_name == "google.protobuf.Timestamp":
        msg.CopyFrom(timestamp_pb2.Timestamp(seconds=1_767_225_600 + variant, nanos=123_456_789))
        return msg
    if descriptor.full_name == "google.protobuf.Any":
        payload = fill(wire.examples_pb2.LineItems(), variant, depth + 1)
        msg.CopyFrom(wire.pack(payload))
        return msg
    chosen = {o.name: o.fields[variant % len(o.fields)].name for o in real_oneofs(descriptor)}
    for field in descriptor.fields:
        oneof = field.containing_oneof
        if oneof is not None and oneof.name in chosen and chosen[oneof.name] != field.name:
            continue
        is_message = field.type == FieldDescriptor.TYPE_MESSAGE
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            _fill_map(getattr(msg, field.name), field, variant, depth)
        elif is_repeated(field):
            container = getattr(msg, field.name)
            for i in range(2):
                if is_message:
                    if depth < MAX_DEPTH:
                        fill(container.add(), variant + i, depth + 1)
                else:
                    container.append(scalar_value(field, variant + i))
        elif is_message:
            if depth < MAX_DEPTH:
                fill(getattr(msg, field.name), variant, depth + 1)
        else:
            setattr(msg, field.name, scalar_value(field, variant))
    return msg


def _fill_map(container: Any, field: FieldDescriptor, variant: int, depth: int) -> None:
    key_field = field.message_type.fields_by_name["key"]
    value_field = field.message_type.fields_by_name["value"]
    for i in range(2):
        key = scalar_value(key_field, variant + i)
        if value_field.type == FieldDescriptor.TYPE_MESSAGE:
            fill(container[key], variant + i, depth + 1)
        else:
            container[key] = scalar_value(value_field, variant + i)


def presence_only(msg: Message) -> Message:
    """Zero values that still count as present: proto3 ``optional`` fields and oneof members."""
    descriptor = msg.DESCRIPTOR
    for name in _proto3_optional(descriptor):
        setattr(msg, name, scalar_value(descriptor.fields_by_name[name], 0, zero=True))
    for oneof in real_oneofs(descriptor):
        member = oneof.fields[0]
        if member.type == FieldDescriptor.TYPE_MESSAGE:
            getattr(msg, member.name).SetInParent()
        else:
            setattr(msg, member.name, scalar_value(member, 0, zero=True))
    return msg


def samples() -> Iterator[tuple[str, Message]]:
    """(sample id, message) for every non-map-entry message of the wire files."""
    for descriptor in all_messages(wire_files()):
        if descriptor.GetOptions().map_entry:
            continue  # covered through the map fields that use them
        cls = message_class(descriptor)
        for variant in range(variant_count(descriptor)):
            yield f"{descriptor.full_name}#full{variant}", fill(cls(), variant)
        yield f"{descriptor.full_name}#presence", presence_only(cls())
        yield f"{descriptor.full_name}#empty", cls()


# ---- comparable views ---------------------------------------------------------------------------


def tree(msg: Message) -> dict[str, Any]:
    """A JSON-able, class-independent view of everything set in ``msg`` (ListFields recursion)."""
    fields = []
    for field, value in msg.ListFields():
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            rendered: Any = sorted(
                (
                    [_single(field.message_type.fields_by_name["key"], k), _single(value_field, v)]
                    for k, v in value.items()
                ),
                key=repr,
            )
        elif is_repeated(field):
            rendered = [_single(field, v) for v in value]
        else:
            rendered = _single(field, value)
        fields.append([field.name, field.number, rendered])
    oneofs = {o.name: msg.WhichOneof(o.name) for o in msg.DESCRIPTOR.oneofs}
    return {"type": msg.DESCRIPTOR.full_name, "fields": fields, "oneofs": oneofs}


def _single(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return tree(value)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return "hex:" + bytes(value).hex()
    return value


def view(msg: Message) -> dict[str, Any]:
    return {
        "bytes": msg.SerializeToString(deterministic=True).hex(),
        "dict": json_format.MessageToDict(msg, preserving_proto_field_name=True),
        "tree": tree(msg),
    }


# ---- descriptor description ---------------------------------------------------------------------


def describe_files(files: list[FileDescriptor]) -> dict[str, Any]:
    described: dict[str, Any] = {}
    for file in files:
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        described[file.name] = {
            "package": file.package,
            "syntax": proto.syntax or "proto2",
            "dependencies": [d for d in proto.dependency if d != HTTP_ANNOTATIONS],
            "enums": {e.full_name: _enum(e) for e in file.enum_types_by_name.values()},
            "messages": {d.full_name: _message(d) for d in all_messages([file])},
            "services": {
                s.full_name: [
                    [
                        m.name,
                        m.input_type.full_name,
                        m.output_type.full_name,
                        bool(getattr(m, "client_streaming", False)),
                        bool(getattr(m, "server_streaming", False)),
                    ]
                    for m in s.methods
                ]
                for s in file.services_by_name.values()
            },
        }
    return described


def _enum(enum: Any) -> list[list[Any]]:
    return [[v.name, v.number] for v in enum.values]


def _message(descriptor: Descriptor) -> dict[str, Any]:
    proto = descriptor_pb2.DescriptorProto()
    descriptor.CopyToProto(proto)
    labels = {f.name: f.label for f in proto.field}  # from the proto: portable across runtimes
    optional = _proto3_optional(descriptor)
    return {
        "map_entry": descriptor.GetOptions().map_entry,
        "oneofs": [[o.name, [f.name for f in o.fields]] for o in descriptor.oneofs],
        "nested_enums": {e.full_name: _enum(e) for e in descriptor.enum_types},
        # Declaration order matters too: it is the order of DESCRIPTOR.fields and of JSON keys.
        "fields": [
            {
                "name": f.name,
                "number": f.number,
                "type": f.type,
                "label": labels[f.name],
                "type_name": (f.message_type or f.enum_type).full_name
                if (f.message_type or f.enum_type)
                else "",
                "oneof": f.containing_oneof.name if f.containing_oneof else None,
                "proto3_optional": f.name in optional,
                "has_presence": f.has_presence,
                "json_name": f.json_name,
                "packed": f.is_packed if is_repeated(f) else None,
            }
            for f in descriptor.fields
        ],
    }


# ---- worker entry point (runs in a subprocess, in the mode its environment forces) -------------


def _worker(argv: list[str]) -> None:
    command, *paths = argv
    header = {"mode": wire.MODE, "types_module": wire.types_pb2.__name__}
    if command == "build":
        out = {"header": header, "samples": {sid: view(m) for sid, m in samples()}}
    elif command == "parse":
        produced = json.loads(Path(paths[0]).read_text(encoding="utf-8"))
        pool = wire.types_pb2.DESCRIPTOR.pool
        parsed = {}
        for sample_id, sample in produced["samples"].items():
            full_name = sample_id.split("#", 1)[0]
            cls = message_class(pool.FindMessageTypeByName(full_name))
            parsed[sample_id] = view(cls.FromString(bytes.fromhex(sample["bytes"])))
        out = {"header": header, "samples": parsed}
    elif command == "describe":
        out = {"header": header, "files": describe_files(wire_files())}
    else:
        raise SystemExit(f"unknown command {command!r}")
    Path(paths[-1]).write_text(json.dumps(out, sort_keys=True), encoding="utf-8")


# ---- the tests ----------------------------------------------------------------------------------

MODES = ("bundled", "angzarr_client")


def run_worker(mode: str, *args: str | Path) -> dict[str, Any]:
    env = {**os.environ, wire.ENV_VAR: mode}
    result = subprocess.run(
        [sys.executable, __file__, *(str(a) for a in args)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, f"worker ({mode}) failed:\n{result.stderr}"
    data = json.loads(Path(args[-1]).read_text(encoding="utf-8"))
    assert data["header"]["mode"] == mode
    return data


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Samples built by each mode, and the other mode's parse of them."""
    if not CLIENT_INSTALLED:
        pytest.skip("angzarr_client is not installed")
    tmp = tmp_path_factory.mktemp("wire-compat")
    result: dict[str, Any] = {}
    for producer, consumer in (MODES, tuple(reversed(MODES))):
        built = run_worker(producer, "build", tmp / f"{producer}-built.json")
        parsed = run_worker(
            consumer, "parse", tmp / f"{producer}-built.json", tmp / f"{consumer}-parsed.json"
        )
        result[producer] = {"built": built["samples"], "parsed": parsed["samples"]}
    return result


@pytest.fixture(scope="module")
def descriptions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not CLIENT_INSTALLED:
        pytest.skip("angzarr_client is not installed")
    tmp = tmp_path_factory.mktemp("wire-describe")
    return {mode: run_worker(mode, "describe", tmp / f"{mode}.json")["files"] for mode in MODES}


MESSAGE_NAMES = sorted(
    d.full_name for d in all_messages(wire_files()) if not d.GetOptions().map_entry
)


@needs_client
@pytest.mark.parametrize("producer", MODES)
@pytest.mark.parametrize("full_name", MESSAGE_NAMES)
def test_bytes_cross_between_bundled_and_angzarr_client(
    exchange: dict[str, Any], producer: str, full_name: str
) -> None:
    built = exchange[producer]["built"]
    parsed = exchange[producer]["parsed"]
    ids = [sid for sid in built if sid.split("#", 1)[0] == full_name]
    assert any(sid.endswith("#full0") for sid in ids), f"no sample of {full_name}"
    for sample_id in ids:
        original, echoed = built[sample_id], parsed[sample_id]
        assert echoed["tree"] == original["tree"], sample_id
        assert echoed["dict"] == original["dict"], sample_id
        # Re-serializing on the other side gives the very same bytes: nothing unknown or lost.
        assert echoed["bytes"] == original["bytes"], sample_id


@needs_client
def test_both_modes_built_the_same_samples(exchange: dict[str, Any]) -> None:
    bundled, client = exchange["bundled"]["built"], exchange["angzarr_client"]["built"]
    assert sorted(bundled) == sorted(client)
    for sample_id in bundled:
        assert bundled[sample_id] == client[sample_id], sample_id


@needs_client
def test_descriptors_match_angzarr_client(descriptions: dict[str, Any]) -> None:
    ours, theirs = descriptions["bundled"], descriptions["angzarr_client"]
    assert sorted(ours) == sorted(theirs)
    for file_name in theirs:
        mine, sdk = ours[file_name], theirs[file_name]
        for key in ("package", "syntax", "dependencies", "enums", "services"):
            assert mine[key] == sdk[key], f"{file_name}: {key}"
        assert sorted(mine["messages"]) == sorted(sdk["messages"]), file_name
        for name, message in sdk["messages"].items():
            assert mine["messages"][name] == message, name


def test_population_sets_every_field_and_oneof_member() -> None:
    """The generic builder really fills everything (checked in this process's own mode)."""
    seen: dict[str, set[str]] = {}
    for sample_id, msg in samples():
        if "#full" in sample_id:
            seen.setdefault(msg.DESCRIPTOR.full_name, set()).update(
                f.name for f, _ in msg.ListFields()
            )
    for descriptor in all_messages(wire_files()):
        if descriptor.GetOptions().map_entry:
            continue
        expected = {f.name for f in descriptor.fields}
        assert seen.get(descriptor.full_name, set()) == expected, descriptor.full_name


def test_presence_samples_keep_zero_values_present() -> None:
    for sample_id, msg in samples():
        if not sample_id.endswith("#presence"):
            continue
        again = type(msg).FromString(msg.SerializeToString())
        for name in _proto3_optional(msg.DESCRIPTOR):
            assert again.HasField(name), (sample_id, name)
        for oneof in real_oneofs(msg.DESCRIPTOR):
            assert again.WhichOneof(oneof.name) == oneof.fields[0].name, (sample_id, oneof.name)


def test_every_wire_file_message_is_sampled() -> None:
    names = {sid.split("#", 1)[0] for sid, _ in samples()}
    assert names == set(MESSAGE_NAMES)
    # Sanity: the schema's headline messages are there.
    assert {
        "angzarr.CommandBook",
        "angzarr.SagaHandleRequest",
        "angzarr.BusinessResponse",
        "angzarr.ProcessManagerHandleRequest",
        "angzarr.AngzarrDeadLetter",
    } <= names


def test_any_payloads_in_samples_resolve() -> None:
    packed = fill(any_pb2.Any(), 0)
    assert packed.type_url == "type.googleapis.com/testkit_examples.order.LineItems"


if __name__ == "__main__":
    _worker(sys.argv[1:])
