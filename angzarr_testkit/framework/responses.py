"""Checking that a handler's reply really is a response of the expected type.

Protobuf is not self-describing: any message's bytes are *some* parse of any other type, with
the fields the expected type does not declare (or declares with another wire type) kept as
*unknown fields*. A saga server that echoes its ``SagaHandleRequest``, or answers a
``ProcessManagerHandleResponse``, or random bytes that happen to parse, therefore reads as a
``SagaResponse`` with few or no commands, and a run would be called clean on work that never
happened. :func:`parse_response` refuses such replies with a :class:`MalformedResponseError`
(the harness reports it as a ``malformed-response`` finding):

* bytes that do not parse as the expected type;
* bytes that parse with unknown fields anywhere in the message tree (a field number the
  expected type does not declare, or a declared number with another wire type): the
  signature of another message type on the wire, or of a server built from another schema.

Zero bytes are a legitimate empty response (a saga that emits nothing), and so is any
valid, merely non-canonical encoding (fields out of order, unpacked repeated scalars).

The check is cheap on the hot path (well under a microsecond): one ``DiscardUnknownFields``
(recursive, in the protobuf runtime) and one re-serialization compared with what came. Only
when they differ (unknown fields were dropped, or the encoding was non-canonical) does a Python
walk of the message tree look for the unknown fields, to decide and to name them.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import DecodeError
from google.protobuf.unknown_fields import UnknownFieldSet

from .. import wire

__all__ = ["HandlerResultError", "MalformedResponseError", "parse_response"]

_MAX_LISTED = 8
_WIRE_TYPES = {0: "varint", 1: "64-bit", 2: "length-delimited", 3: "group", 4: "group", 5: "32-bit"}


class HandlerResultError(Exception):
    """The handler returned a value the framework cannot use."""


class MalformedResponseError(HandlerResultError):
    """The handler's reply is not a response of the expected type (``malformed-response``).

    Attributes:
        expected: the full name of the expected message, e.g. ``angzarr.SagaResponse``.
        received: what came instead, in words (a message type, or "N bytes ...").
        size: the reply's size in bytes, when known.
        unknown: where unknown fields were found, e.g. ``["field 3 (length-delimited) in
            commands[0]"]`` (at most a few).
        hint: a question pointing at the likely cause, or ``""``.
        summary: the message without its ``where`` prefix (what the findings quote).
        looks_like: full names of the angzarr messages the bytes parse as cleanly (no
            unknown fields, canonical encoding), a hint at what the server really sent.
        details: string context for the finding.
    """

    def __init__(
        self,
        expected: str,
        received: str,
        *,
        size: int | None = None,
        unknown: list[str] | None = None,
        looks_like: list[str] | None = None,
        hint: str = "",
        where: str = "",
    ) -> None:
        self.expected = expected
        self.received = received
        self.size = size
        self.unknown = list(unknown or [])
        self.looks_like = list(looks_like or [])
        self.hint = hint
        summary = f"expected {expected}, got {received}"
        if self.looks_like:
            summary += f"; the bytes parse cleanly as {' or '.join(self.looks_like)}"
        if hint:
            summary += f" ({hint})"
        self.summary = summary
        super().__init__(f"{where}: {summary}" if where else summary)
        self.details: dict[str, str] = {"expected": expected, "received": received}
        if size is not None:
            self.details["size"] = str(size)
        if self.unknown:
            self.details["unknown_fields"] = "; ".join(self.unknown)
        if self.looks_like:
            self.details["looks_like"] = ", ".join(self.looks_like)


def parse_response(message_class: Any, data: bytes) -> Any:
    """Parse ``data`` as ``message_class`` and check that it really is one.

    Raises:
        MalformedResponseError: the bytes do not parse, or parse with unknown fields.
    """
    try:
        message = message_class.FromString(data)
    except DecodeError as exc:
        received = f"{len(data)} bytes that do not parse as one ({exc})"
        raise _malformed(message_class, data, received) from None
    if not data:
        return message
    # Fast path: without its unknown fields the message re-encodes to exactly the bytes that
    # came, so there were none (equal sizes alone are not proof: a dropped unknown field can
    # be offset by a known one that re-encodes longer, e.g. a negative enum sent in 5 bytes).
    message.DiscardUnknownFields()
    if message.SerializeToString() == data:
        return message
    unknown = _unknown_fields(message_class.FromString(data))
    if not unknown:
        return message  # valid, only not canonically encoded
    listed = unknown[:_MAX_LISTED]
    if len(unknown) > _MAX_LISTED:
        listed.append(f"... {len(unknown) - _MAX_LISTED} more")
    only = " only" if message.ByteSize() == 0 else ""
    received = f"{len(data)} bytes carrying unknown fields{only}: {', '.join(listed)}"
    raise _malformed(message_class, data, received, unknown=listed)


def _malformed(
    message_class: Any, data: bytes, received: str, *, unknown: list[str] | None = None
) -> MalformedResponseError:
    expected = message_class.DESCRIPTOR.full_name
    looks_like = _looks_like(expected, data)
    hint = ""
    if any(name.endswith("Request") for name in looks_like):
        hint = "is the server echoing the request, or answering for another service?"
    elif looks_like:
        hint = "is it answering for another service?"
    return MalformedResponseError(
        expected, received, size=len(data), unknown=unknown, looks_like=looks_like, hint=hint
    )


def _unknown_fields(message: Any, path: str = "") -> list[str]:
    """Every unknown field in ``message``'s tree, as ``"field N (wire type) in PATH"``."""
    found = []
    where = f" in {path}" if path else " at the top level"
    for item in UnknownFieldSet(message):
        kind = _WIRE_TYPES.get(item.wire_type, f"wire type {item.wire_type}")
        found.append(f"field {item.field_number} ({kind}){where}")
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        name = f"{path}.{field.name}" if path else field.name
        if wire.is_map(field):
            if field.message_type.fields_by_name["value"].message_type is not None:
                for key, item in value.items():
                    found += _unknown_fields(item, f"{name}[{key!r}]")
        elif wire.is_repeated(field):
            for i, item in enumerate(value):
                found += _unknown_fields(item, f"{name}[{i}]")
        else:
            found += _unknown_fields(value, name)
    return found


def _candidates() -> list[Any]:
    S, PM, T = wire.saga_pb2, wire.process_manager_pb2, wire.types_pb2
    return [
        S.SagaHandleRequest,
        PM.ProcessManagerHandleRequest,
        S.SagaResponse,
        PM.ProcessManagerHandleResponse,
        PM.ProcessManagerPrepareRequest,
        PM.ProcessManagerPrepareResponse,
        T.EventBook,
        T.CommandBook,
    ]


def _looks_like(expected: str, data: bytes) -> list[str]:
    """The angzarr message types (not ``expected``) that ``data`` parses as exactly: no
    unknown fields and a canonical re-encoding. Slow path only."""
    names: list[str] = []
    if not data:
        return names
    for cls in _candidates():
        name = cls.DESCRIPTOR.full_name
        if name == expected:
            continue
        try:
            message = cls.FromString(data)
        except DecodeError:
            continue
        message.DiscardUnknownFields()
        # An exact parse with a message field set: small coincidences (a lone enum) are not
        # worth a guess.
        if message.SerializeToString() == data and any(
            field.message_type is not None for field, _ in message.ListFields()
        ):
            names.append(name)
    return names[:3]
