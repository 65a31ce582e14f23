"""Values into protobuf fields: the checks and coercions every factory builds with.

A factory parameter may be given in a convenient spelling (16 raw bytes, a ``uuid.UUID`` or UUID
text for an ``angzarr.UUID``; a name for an ``Edition``; a ``datetime`` for a ``Timestamp``; any
message for an ``Any``; an enum value's name; a mapping for a message). :func:`construct` turns
field kwargs into a message of the active wire classes, raising
:class:`~angzarr_testkit.errors.InvalidArgumentError` naming the bad parameter.
"""

from __future__ import annotations

import datetime as _dt
import math
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from google.protobuf import timestamp_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from .. import wire
from ..errors import InvalidArgumentError
from ..validate import DOMAIN_RE, check_domain, check_uint32, checked

M = TypeVar("M", bound=Message)

#: The domain names angzarr accepts (a full match is required); the one in validate.py.
DOMAIN_PATTERN = DOMAIN_RE


def bad_param(
    param: str, message: str, value: object, code: str | None = None
) -> InvalidArgumentError:
    """An :class:`InvalidArgumentError` for ``param`` (``details["param"]`` names it)."""
    return InvalidArgumentError(
        f"{param}: {message}",
        code=code,
        details={"param": param, "value": repr(value)[:200]},
    )


def check_uint32_param(value: object, param: str) -> int:
    """:func:`angzarr_testkit.validate.check_uint32` as this module's error (code
    ``SEQUENCE_OUT_OF_RANGE`` for a value outside uint32)."""
    return checked(InvalidArgumentError, check_uint32, value, param)


def check_domain_param(value: object, param: str) -> str:
    """:func:`angzarr_testkit.validate.check_domain` as this module's error."""
    return checked(InvalidArgumentError, check_domain, value, param)


def root_bytes(value: object, param: str, *, check: bool) -> bytes:
    """The bytes of a root given as bytes, a UUID message, a ``uuid.UUID`` or UUID text."""
    raw: bytes
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
    elif isinstance(value, uuid.UUID):
        raw = value.bytes
    elif isinstance(value, Message) and value.DESCRIPTOR.full_name == "angzarr.UUID":
        raw = bytes(getattr(value, "value"))  # noqa: B009 - Message has no typed fields
    elif isinstance(value, str):
        try:
            raw = uuid.UUID(value).bytes
        except ValueError:
            raise bad_param(
                param,
                f"{value!r} is not UUID text; pass 16 raw bytes, a uuid.UUID, an angzarr UUID "
                "message or ids.uuid_for(name)",
                value,
            ) from None
    else:
        raise bad_param(
            param,
            f"expected 16 raw bytes, a uuid.UUID, UUID text or an angzarr UUID message, got "
            f"{type(value).__name__}",
            value,
        )
    if check and len(raw) != 16:
        raise bad_param(
            param,
            f"a root is 16 bytes (a UUID), got {len(raw)}; use ids.uuid_for(name) for a stable one",
            value,
        )
    return raw


def _timestamp(value: object, param: str) -> timestamp_pb2.Timestamp:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        ts = timestamp_pb2.Timestamp()
        ts.FromDatetime(value)
        return ts
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # Timestamp's valid range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z
        if not (math.isfinite(value) and -62_135_596_800 <= value <= 253_402_300_799):
            raise bad_param(
                param,
                f"{value!r} epoch seconds is outside a Timestamp's range (years 1..9999)",
                value,
            )
        ts = timestamp_pb2.Timestamp()
        ts.FromNanoseconds(int(value * 1_000_000_000))
        return ts
    raise bad_param(
        param, f"expected a Timestamp, a datetime or epoch seconds, got {value!r}", value
    )


def enum_value(enum: EnumDescriptor, value: object, param: str) -> int:
    """``value`` (a name or an int32 number) as a number of ``enum``."""
    if isinstance(value, str):
        number = enum.values_by_name.get(value)
        if number is None:
            names = ", ".join(enum.values_by_name)
            raise bad_param(
                param, f"{value!r} is not a {enum.full_name} value (one of {names})", value
            )
        return number.number
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_param(param, f"expected a {enum.full_name} name or number, got {value!r}", value)
    if not -(2**31) <= value < 2**31:  # enums are int32 on the wire
        raise bad_param(param, f"{value} is outside int32, the range of an enum number", value)
    return value


def as_message(descriptor: Descriptor, value: object, param: str) -> Any:
    """``value`` as a message of ``descriptor``'s active class (copied when already one)."""
    cls = _class_of(descriptor)
    name = descriptor.full_name
    if isinstance(value, Message):
        if value.DESCRIPTOR.full_name == name:
            copy = cls()
            if isinstance(value, cls):
                copy.CopyFrom(value)
            else:  # same schema, another generated copy: go through the wire format
                copy.ParseFromString(value.SerializeToString())
            return copy
        if name == "google.protobuf.Any":
            return wire.pack(value)
        if name == "angzarr.UUID":
            return cls(value=root_bytes(value, param, check=False))
        raise bad_param(param, f"expected a {name}, got a {value.DESCRIPTOR.full_name}", value)
    if name == "angzarr.UUID" and isinstance(value, (bytes, bytearray, memoryview, uuid.UUID, str)):
        return cls(value=root_bytes(value, param, check=False))
    if name == "angzarr.Edition" and isinstance(value, str):
        return cls(name=value)
    if name == "google.protobuf.Timestamp" and not isinstance(value, Mapping):
        return _timestamp(value, param)
    if isinstance(value, Mapping):
        return construct(cls, dict(value), param)
    raise bad_param(param, f"expected a {name} (or a mapping of its fields), got {value!r}", value)


def _class_of(descriptor: Descriptor) -> type[Message]:
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(descriptor)


_is_repeated = wire.is_repeated
_is_map = wire.is_map


def _single(field: FieldDescriptor, value: object, param: str) -> object:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return as_message(field.message_type, value, param)
    if field.type == FieldDescriptor.TYPE_ENUM:
        return enum_value(field.enum_type, value, param)
    return value


def _field_value(field: FieldDescriptor, value: object, param: str) -> object:
    if _is_map(field):
        if not isinstance(value, Mapping):
            raise bad_param(
                param, f"a map field takes a mapping, got {type(value).__name__}", value
            )
        value_field = field.message_type.fields_by_name["value"]
        return {k: _single(value_field, v, f"{param}[{k!r}]") for k, v in value.items()}
    if _is_repeated(field):
        if isinstance(value, (str, bytes, Mapping, Message)) or not isinstance(value, Iterable):
            raise bad_param(
                param, f"a repeated field takes a list, got {type(value).__name__}", value
            )
        return [_single(field, v, f"{param}[{i}]") for i, v in enumerate(value)]
    return _single(field, value, param)


def construct(model: type[M], kwargs: dict[str, Any], where: str) -> M:
    """Build ``model`` from field kwargs, coercing each value; ``None`` leaves a field unset."""
    descriptor = model.DESCRIPTOR
    coerced: dict[str, object] = {}
    for key, value in kwargs.items():
        field = descriptor.fields_by_name.get(key)
        if field is None:
            known = ", ".join(descriptor.fields_by_name) or "none"
            raise InvalidArgumentError(
                f"{where}: unknown parameter {key!r}; {descriptor.full_name} fields are: {known}",
                details={"param": key, "message": descriptor.full_name},
            )
        if value is None:
            continue
        coerced[key] = _field_value(field, value, key)
    try:
        return model(**coerced)
    except (TypeError, ValueError) as exc:
        culprit = where
        for key, value in coerced.items():  # rare path: find the field protobuf refused
            try:
                model(**{key: value})
            except (TypeError, ValueError):
                culprit = key
                break
        raise InvalidArgumentError(
            f"{culprit}: cannot build {descriptor.full_name} in {where}: {exc}",
            details={"param": culprit, "message": descriptor.full_name, "error": str(exc)},
        ) from exc
