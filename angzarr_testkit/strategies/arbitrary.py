"""Arbitrary instances of any protobuf message type, built from its descriptor: :func:`messages`.

Everything is made of ``fixed_dictionaries``/``lists``/``one_of`` so that failing examples shrink
toward empty messages, zero scalars and the first enum value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from google.protobuf import any_pb2, descriptor_pool, duration_pb2, timestamp_pb2, wrappers_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from .. import wire
from ..errors import InvalidArgumentError
from ..validate import check_bool, check_int
from .params import MAX_DEPTH, MAX_SIZE, as_strategy, bad_param, check_param

_INT_RANGES: dict[int, tuple[int, int]] = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
# Timestamp's valid range is 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z.
_TS_MIN, _TS_MAX = -62_135_596_800, 253_402_300_799
_DURATION_MAX_NANOS = 315_576_000_000 * 10**9 + 999_999_999
_ONEOF_KEY = "\x00oneof:"  # cannot clash with a field name
_OMIT = object()


_is_repeated = wire.is_repeated
_is_map = wire.is_map


def _class_of(descriptor: Descriptor) -> type[Message]:
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(descriptor)


def _make(cls: type[Message], drawn: dict[str, Any]) -> Message:
    kwargs: dict[str, Any] = {}
    for key, value in drawn.items():
        if key.startswith(_ONEOF_KEY):
            key, value = value
        if value is _OMIT or value is None:
            continue
        kwargs[key] = value
    return cls(**kwargs)


def _timestamps(cls: type[Message] = timestamp_pb2.Timestamp) -> SearchStrategy[Any]:
    return st.builds(
        lambda s, n: cls(seconds=s, nanos=n),
        st.integers(_TS_MIN, _TS_MAX),
        st.integers(0, 999_999_999),
    )


def _durations(cls: type[Message] = duration_pb2.Duration) -> SearchStrategy[Any]:
    def make(total: int) -> Message:
        # seconds and nanos must carry the same sign: truncate toward zero.
        seconds = total // 10**9 if total >= 0 else -(-total // 10**9)
        return cls(seconds=seconds, nanos=total - seconds * 10**9)

    return st.integers(-_DURATION_MAX_NANOS, _DURATION_MAX_NANOS).map(make)


def _anys(cls: type[Message] = any_pb2.Any) -> SearchStrategy[Any]:
    """An empty ``Any`` or one holding a small well-known message (built as ``cls``, so that
    messages from another descriptor pool get an ``Any`` of their own pool)."""

    def packing(message: Message) -> Message:
        return cls(
            type_url=wire.TYPE_URL_PREFIX + message.DESCRIPTOR.full_name,
            value=message.SerializeToString(deterministic=True),
        )

    return st.one_of(
        st.builds(cls),
        st.text().map(lambda s: packing(wrappers_pb2.StringValue(value=s))),
        _timestamps().map(packing),
    )


_LEAF_TYPES: dict[str, Callable[[type[Message]], SearchStrategy[Any]]] = {
    "google.protobuf.Timestamp": _timestamps,
    "google.protobuf.Duration": _durations,
    "google.protobuf.Any": _anys,
}


class _Builder:
    """Decides, once per (message type, remaining depth), the strategy for that message."""

    def __init__(
        self,
        *,
        max_depth: int,
        max_size: int,
        allow_nan: bool,
        allow_infinity: bool,
        top_overrides: Mapping[str, object],
        field_overrides: Mapping[str, object],
        type_overrides: Mapping[str, object],
    ) -> None:
        self.max_depth = max_depth
        self.max_size = max_size
        self.allow_nan = allow_nan
        self.allow_infinity = allow_infinity
        self.top_overrides = top_overrides
        self.field_overrides = field_overrides
        self.type_overrides = type_overrides
        self._cache: dict[tuple[Descriptor, int, bool], SearchStrategy[Any]] = {}

    def message(
        self, descriptor: Descriptor, depth: int, *, top: bool = False
    ) -> SearchStrategy[Any]:
        key = (descriptor, depth, top)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._message(descriptor, depth, top)
            self._cache[key] = cached
        return cached

    def _message(self, descriptor: Descriptor, depth: int, top: bool) -> SearchStrategy[Any]:
        name = descriptor.full_name
        if name in self.type_overrides:
            return as_strategy(self.type_overrides[name])
        if name in _LEAF_TYPES:
            return _LEAF_TYPES[name](_class_of(descriptor))
        required: dict[str, SearchStrategy[Any]] = {}
        optional: dict[str, SearchStrategy[Any]] = {}
        oneofs: dict[str, list[SearchStrategy[Any]]] = {}
        for field in descriptor.fields:
            override = self._override(field, top)
            if override is _OMIT:
                continue
            strategy = override if override is not None else self._field(field, depth)
            if strategy is None:  # a message field past the depth limit
                continue
            oneof = field.containing_oneof
            if oneof is not None:
                # proto3 `optional` is a one-member (synthetic) oneof: the same rule applies.
                member = st.tuples(st.just(field.name), strategy)
                oneofs.setdefault(oneof.name, []).append(member)
            elif override is not None:
                required[field.name] = strategy
            else:
                optional[field.name] = strategy
        for oneof_name, members in oneofs.items():
            optional[_ONEOF_KEY + oneof_name] = st.one_of(*members)
        cls = _class_of(descriptor)
        return st.fixed_dictionaries(required, optional=optional).map(
            lambda drawn: _make(cls, drawn)
        )

    def _override(self, field: FieldDescriptor, top: bool) -> Any:
        """A strategy for ``field`` from the overrides, ``_OMIT``, or ``None`` (no override)."""
        if top and field.name in self.top_overrides:
            value = self.top_overrides[field.name]
        elif field.full_name in self.field_overrides:
            value = self.field_overrides[field.full_name]
        else:
            return None
        return _OMIT if value is None else as_strategy(value)

    def _field(self, field: FieldDescriptor, depth: int) -> SearchStrategy[Any] | None:
        if _is_map(field):
            entry = field.message_type
            keys = self._single(entry.fields_by_name["key"], depth)
            values = self._single(entry.fields_by_name["value"], depth)
            if keys is None or values is None:
                return None
            return st.dictionaries(keys, values, max_size=self.max_size)
        single = self._single(field, depth)
        if single is None:
            return None
        if _is_repeated(field):
            return st.lists(single, max_size=self.max_size)
        return single

    def _single(self, field: FieldDescriptor, depth: int) -> SearchStrategy[Any] | None:
        kind = field.type
        if kind in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP):
            sub = field.message_type
            if sub.full_name in _LEAF_TYPES and sub.full_name not in self.type_overrides:
                return self.message(sub, depth)
            if depth <= 0 and sub.full_name not in self.type_overrides:
                return None
            return self.message(sub, depth - 1)
        if kind == FieldDescriptor.TYPE_ENUM:
            return st.sampled_from([v.number for v in field.enum_type.values])
        if kind in _INT_RANGES:
            lo, hi = _INT_RANGES[kind]
            return st.integers(lo, hi)
        if kind == FieldDescriptor.TYPE_BOOL:
            return st.booleans()
        if kind == FieldDescriptor.TYPE_STRING:
            return st.text()
        if kind == FieldDescriptor.TYPE_BYTES:
            return st.binary()
        if kind in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
            # width=32 keeps float fields exactly representable, so they round-trip.
            width = 32 if kind == FieldDescriptor.TYPE_FLOAT else 64
            return st.floats(
                allow_nan=self.allow_nan, allow_infinity=self.allow_infinity, width=width
            )
        raise InvalidArgumentError(  # pragma: no cover - every proto type is handled above
            f"messages(): field {field.full_name} has an unsupported type {kind}",
            details={"field": field.full_name},
        )


_DEFAULT_BUILDERS: dict[tuple[int, int, bool, bool], _Builder] = {}


def _descriptor_of(value: object) -> Descriptor:
    if isinstance(value, Descriptor):
        return value
    if isinstance(value, str):
        try:
            return descriptor_pool.Default().FindMessageTypeByName(value)
        except KeyError:
            raise bad_param(
                "message_type_or_descriptor",
                f"no message type {value!r} is loaded; import its _pb2 module (through "
                "angzarr_testkit.wire for angzarr types) or pass the class",
                value,
            ) from None
    descriptor = getattr(value, "DESCRIPTOR", None)
    if isinstance(descriptor, Descriptor):
        return descriptor
    raise bad_param(
        "message_type_or_descriptor",
        f"expected a protobuf message class, a Descriptor or a full name, got "
        f"{type(value).__name__}",
        value,
    )


def _split_overrides(
    descriptor: Descriptor, overrides: Mapping[str, object]
) -> tuple[dict[str, object], dict[str, object], dict[str, object]]:
    pool = descriptor_pool.Default()
    top: dict[str, object] = {}
    fields: dict[str, object] = {}
    types: dict[str, object] = {}
    for key, value in overrides.items():
        if not isinstance(key, str):
            raise bad_param("overrides", f"keys are field or type names, got {key!r}", key)
        if "." not in key:
            if key not in descriptor.fields_by_name:
                known = ", ".join(descriptor.fields_by_name) or "none"
                raise bad_param(
                    f"overrides[{key!r}]",
                    f"{descriptor.full_name} has no field {key!r} (fields: {known})",
                    key,
                )
            top[key] = value
            continue
        try:
            pool.FindMessageTypeByName(key)
            types[key] = value
            continue
        except KeyError:
            pass
        try:
            pool.FindFieldByName(key)
            fields[key] = value
        except KeyError:
            raise bad_param(
                f"overrides[{key!r}]",
                "is neither a loaded message type (e.g. 'angzarr.UUID') nor a field full name "
                "(e.g. 'angzarr.Cover.domain')",
                key,
            ) from None
    return top, fields, types


def messages(
    message_type_or_descriptor: object,
    *,
    max_depth: int = 3,
    overrides: Mapping[str, object] | None = None,
    max_size: int = 3,
    allow_nan: bool = False,
    allow_infinity: bool = False,
) -> SearchStrategy[Any]:
    """Arbitrary instances of any protobuf message type, built from its descriptor.

    Args:
        message_type_or_descriptor: a message class, its ``Descriptor`` or its full name.
        max_depth: levels of nested messages below this one; deeper message fields stay unset
            (recursive types end there). ``Timestamp``, ``Duration`` and ``Any`` are leaves.
        overrides: strategies (or plain values; ``None`` = never set) keyed by a field name of
            this message, a field full name anywhere (``"angzarr.Cover.domain"``) or a message
            type anywhere (``"angzarr.UUID"``). An overridden field outside a oneof is always
            set; a repeated or map field's override yields the whole list or dict.
        max_size: most elements in a repeated or map field.
        allow_nan, allow_infinity: for float and double fields (finite only by default).

    Scalars cover their whole range, enums their declared values, oneofs get at most one member,
    proto3 ``optional`` fields are present or absent, ``Timestamp`` is always valid, ``Any`` is
    empty or packs a small well-known message. Strategies are decided once per message type.
    """
    descriptor = _descriptor_of(message_type_or_descriptor)
    check_param(max_depth, "max_depth", check_int, minimum=0, maximum=MAX_DEPTH)
    check_param(max_size, "max_size", check_int, minimum=0, maximum=MAX_SIZE)
    check_param(allow_nan, "allow_nan", check_bool)
    check_param(allow_infinity, "allow_infinity", check_bool)
    if overrides is not None:
        if not isinstance(overrides, Mapping):
            raise bad_param("overrides", "must be a mapping of name -> strategy", overrides)
        top, fields, types = _split_overrides(descriptor, overrides)
        builder = _Builder(
            max_depth=max_depth,
            max_size=max_size,
            allow_nan=allow_nan,
            allow_infinity=allow_infinity,
            top_overrides=top,
            field_overrides=fields,
            type_overrides=types,
        )
        return builder.message(descriptor, max_depth, top=True)
    key = (max_depth, max_size, bool(allow_nan), bool(allow_infinity))
    builder = _DEFAULT_BUILDERS.get(key)
    if builder is None:
        builder = _Builder(
            max_depth=max_depth,
            max_size=max_size,
            allow_nan=allow_nan,
            allow_infinity=allow_infinity,
            top_overrides={},
            field_overrides={},
            type_overrides={},
        )
        _DEFAULT_BUILDERS[key] = builder
    return builder.message(descriptor, max_depth)
