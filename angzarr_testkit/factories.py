"""factory-boy factories for angzarr envelopes, consistent by construction.

Every factory builds protobuf messages of the active wire classes (see :mod:`angzarr_testkit.wire`).
``build()`` and ``create()`` do the same thing: nothing is persisted.

What "consistent" means here:

* a book has exactly one cover (one root, one domain, one correlation id); pages have none;
* the pages of a book that carry a sequence are numbered ``start, start + 1, ...`` in order, and an
  ``EventBook``'s ``next_sequence`` is the last one + 1 (``start`` when there is none);
* payloads given as messages are packed into ``google.protobuf.Any`` with the
  ``type.googleapis.com/`` prefix (an ``Any`` you pass is kept as it is);
* roots are deterministic: ``uuid_for("root-<n>")``, ``n`` from the one :class:`UUIDFactory`
  counter every cover draws from (``UUIDFactory.reset_sequence()`` restarts it); correlation ids
  are ``uuid_str_for("correlation-<n>")`` (``CoverFactory.reset_sequence()``).

Message and repeated fields are set through the factory like any other field
(``CommandBookFactory(pages=[...])``, ``CoverFactory(root=b"...")``); the factories assemble the
message from constructor arguments, because protobuf refuses assignment to such fields afterwards.
Convenient spellings are accepted wherever a field has that type: 16 raw bytes, a ``uuid.UUID`` or
UUID text for an ``angzarr.UUID``; a name for an ``angzarr.Edition``; a ``datetime`` for a
``Timestamp``; any message for a ``google.protobuf.Any`` (packed); an enum value's name for an enum;
a mapping for a message.

A bad parameter raises :class:`~angzarr_testkit.errors.InvalidArgumentError` whose message and
``details["param"]`` name it. To build a deliberately malformed envelope (for a negative test of
the framework), pass ``validate=False``: values are then taken as given (pages keep the headers you
gave them, ``next_sequence`` is not checked, a cover may have a bad root or domain).
"""

from __future__ import annotations

import datetime as _dt
import math
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import factory
from google.protobuf import any_pb2, timestamp_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from . import wire
from .errors import InvalidArgumentError
from .ids import uuid_for, uuid_str_for
from .validate import DOMAIN_RE, UINT32_MAX, check_domain, check_uint32, checked

__all__ = [
    "AngzarrDeferredSequenceFactory",
    "CommandBookFactory",
    "CommandPageFactory",
    "CoverFactory",
    "DOMAIN_PATTERN",
    "DeferredPageHeaderFactory",
    "EventBookFactory",
    "EventPageFactory",
    "NotificationFactory",
    "ProcessManagerHandleRequestFactory",
    "ProtoFactory",
    "RejectionNotificationFactory",
    "SagaHandleRequestFactory",
    "UUIDFactory",
    "pm_root",
]

M = TypeVar("M", bound=Message)

_T = wire.types_pb2
_EX = wire.examples_pb2

#: The domain names angzarr accepts (a full match is required); the one in validate.py.
DOMAIN_PATTERN = DOMAIN_RE
_UINT32_MAX = UINT32_MAX
_DEFERRED_KINDS = ("external_deferred", "angzarr_deferred")


# --------------------------------------------------------------------------------------------
# validation and coercion
# --------------------------------------------------------------------------------------------


def _bad(param: str, message: str, value: object, code: str | None = None) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"{param}: {message}",
        code=code,
        details={"param": param, "value": repr(value)[:200]},
    )


def _check_uint32(value: object, param: str) -> int:
    """:func:`angzarr_testkit.validate.check_uint32` as this module's error (code
    ``SEQUENCE_OUT_OF_RANGE`` for a value outside uint32)."""
    return checked(InvalidArgumentError, check_uint32, value, param)


def _check_domain(value: object, param: str) -> str:
    """:func:`angzarr_testkit.validate.check_domain` as this module's error."""
    return checked(InvalidArgumentError, check_domain, value, param)


def _root_bytes(value: object, param: str, *, check: bool) -> bytes:
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
            raise _bad(
                param,
                f"{value!r} is not UUID text; pass 16 raw bytes, a uuid.UUID, an angzarr UUID "
                "message or ids.uuid_for(name)",
                value,
            ) from None
    else:
        raise _bad(
            param,
            f"expected 16 raw bytes, a uuid.UUID, UUID text or an angzarr UUID message, got "
            f"{type(value).__name__}",
            value,
        )
    if check and len(raw) != 16:
        raise _bad(
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
            raise _bad(
                param,
                f"{value!r} epoch seconds is outside a Timestamp's range (years 1..9999)",
                value,
            )
        ts = timestamp_pb2.Timestamp()
        ts.FromNanoseconds(int(value * 1_000_000_000))
        return ts
    raise _bad(param, f"expected a Timestamp, a datetime or epoch seconds, got {value!r}", value)


def _enum_value(enum: EnumDescriptor, value: object, param: str) -> int:
    if isinstance(value, str):
        number = enum.values_by_name.get(value)
        if number is None:
            names = ", ".join(enum.values_by_name)
            raise _bad(param, f"{value!r} is not a {enum.full_name} value (one of {names})", value)
        return number.number
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(param, f"expected a {enum.full_name} name or number, got {value!r}", value)
    if not -(2**31) <= value < 2**31:  # enums are int32 on the wire
        raise _bad(param, f"{value} is outside int32, the range of an enum number", value)
    return value


def _message(descriptor: Descriptor, value: object, param: str) -> Any:
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
            return cls(value=_root_bytes(value, param, check=False))
        raise _bad(param, f"expected a {name}, got a {value.DESCRIPTOR.full_name}", value)
    if name == "angzarr.UUID" and isinstance(value, (bytes, bytearray, memoryview, uuid.UUID, str)):
        return cls(value=_root_bytes(value, param, check=False))
    if name == "angzarr.Edition" and isinstance(value, str):
        return cls(name=value)
    if name == "google.protobuf.Timestamp" and not isinstance(value, Mapping):
        return _timestamp(value, param)
    if isinstance(value, Mapping):
        return _construct(cls, dict(value), param)
    raise _bad(param, f"expected a {name} (or a mapping of its fields), got {value!r}", value)


def _class_of(descriptor: Descriptor) -> type[Message]:
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(descriptor)


_is_repeated = wire.is_repeated
_is_map = wire.is_map


def _single(field: FieldDescriptor, value: object, param: str) -> object:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return _message(field.message_type, value, param)
    if field.type == FieldDescriptor.TYPE_ENUM:
        return _enum_value(field.enum_type, value, param)
    return value


def _field_value(field: FieldDescriptor, value: object, param: str) -> object:
    if _is_map(field):
        if not isinstance(value, Mapping):
            raise _bad(param, f"a map field takes a mapping, got {type(value).__name__}", value)
        value_field = field.message_type.fields_by_name["value"]
        return {k: _single(value_field, v, f"{param}[{k!r}]") for k, v in value.items()}
    if _is_repeated(field):
        if isinstance(value, (str, bytes, Mapping, Message)) or not isinstance(value, Iterable):
            raise _bad(param, f"a repeated field takes a list, got {type(value).__name__}", value)
        return [_single(field, v, f"{param}[{i}]") for i, v in enumerate(value)]
    return _single(field, value, param)


def _construct(model: type[M], kwargs: dict[str, Any], where: str) -> M:
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


def _check_cover(cover: Any, param: str) -> None:
    if not cover.HasField("root"):
        raise _bad(f"{param}.root", "a cover needs a root; pass root=ids.uuid_for(name)", None)
    _root_bytes(cover.root, f"{param}.root", check=True)
    _check_domain(cover.domain, f"{param}.domain")


def _header_kind(page: Any) -> str | None:
    if not page.HasField("header"):
        return None
    return page.header.WhichOneof("sequence_type")


def pm_root(correlation_id: str) -> bytes:
    """The root of a process manager's stream for ``correlation_id``: the UUID it spells, or the
    nil UUID when it is not UUID text (what angzarr's coordinator does)."""
    try:
        return uuid.UUID(correlation_id).bytes
    except (ValueError, TypeError, AttributeError):
        return bytes(16)


# --------------------------------------------------------------------------------------------
# default payloads
# --------------------------------------------------------------------------------------------


def _default_events(n: int) -> list[Message]:
    order_id = f"order-{n}"
    return [
        _EX.OrderCreated(
            order_id=order_id,
            customer_id=f"customer-{n}",
            sku="sku-1",
            quantity=2,
            amount_cents=2500,
            shipping_address="1 Test Street",
        ),
        _EX.PaymentCharged(order_id=order_id, amount_cents=2500),
    ]


def _default_commands(n: int) -> list[Message]:
    return [_EX.ReserveInventory(order_id=f"order-{n}", sku="sku-1", quantity=2)]


def _pop(kwargs: dict[str, Any], *names: str) -> list[Any]:
    return [kwargs.pop(name, None) for name in names]


# --------------------------------------------------------------------------------------------
# factories
# --------------------------------------------------------------------------------------------


class ProtoFactory(factory.Factory):
    """Base of the kit's factories: builds a protobuf message from constructor arguments.

    Subclasses refine :meth:`_assemble` to turn their extra parameters (``start``, ``events``,
    shortcuts, ``validate``) into fields. ``build`` and ``create`` are the same.
    """

    class Meta:
        abstract = True

    @classmethod
    def _assemble(cls, model_class: type[M], kwargs: dict[str, Any]) -> M:
        kwargs.pop("validate", None)
        return _construct(model_class, kwargs, cls.__name__)

    @classmethod
    def _build(cls, model_class: type[M], *args: Any, **kwargs: Any) -> M:
        if args:
            raise InvalidArgumentError(
                f"{cls.__name__} takes keyword arguments only",
                details={"param": "args", "value": repr(args)[:200]},
            )
        return cls._assemble(model_class, dict(kwargs))

    @classmethod
    def _create(cls, model_class: type[M], *args: Any, **kwargs: Any) -> M:
        return cls._build(model_class, *args, **kwargs)


class UUIDFactory(ProtoFactory):
    """``angzarr.UUID``; ``value`` defaults to ``uuid_for("root-<n>")``.

    Params: ``value`` (16 bytes, ``uuid.UUID`` or UUID text), ``validate``.
    """

    class Meta:
        model = _T.UUID

    value = factory.Sequence(lambda n: uuid_for(f"root-{n}"))
    validate = True

    @classmethod
    def _assemble(cls, model_class: type[M], kwargs: dict[str, Any]) -> M:
        validate = kwargs.pop("validate", True)
        value = kwargs.pop("value", None)
        if value is None and validate:
            raise _bad("value", "a UUID needs 16 bytes; pass value=ids.uuid_for(name)", None)
        if value is not None:
            kwargs["value"] = _root_bytes(value, "value", check=bool(validate))
        return _construct(model_class, kwargs, cls.__name__)


class CoverFactory(ProtoFactory):
    """``angzarr.Cover``: domain ``"order"``, a fresh deterministic root and correlation id.

    Params: ``root`` (16 bytes, UUID message, ``uuid.UUID`` or UUID text), ``domain``,
    ``correlation_id``, ``edition`` (a name or an ``Edition``; unset = main timeline), ``validate``.
    """

    class Meta:
        model = _T.Cover

    root = factory.SubFactory(UUIDFactory)
    domain = "order"
    correlation_id = factory.Sequence(lambda n: uuid_str_for(f"correlation-{n}"))
    edition = None
    validate = True

    @classmethod
    def _assemble(cls, model_class: type[M], kwargs: dict[str, Any]) -> M:
        validate = kwargs.pop("validate", True)
        if validate:
            if kwargs.get("root") is None:
                raise _bad("root", "a cover needs a root; pass root=ids.uuid_for(name)", None)
            _root_bytes(kwargs["root"], "root", check=True)
            _check_domain(kwargs.get("domain"), "domain")
        cid = kwargs.get("correlation_id")
        if cid is not None and not isinstance(cid, str):
            raise _bad("correlation_id", f"must be a str, got {type(cid).__name__}", cid)
        return _construct(model_class, kwargs, cls.__name__)


def _book_cover(kwargs: dict[str, Any], where: str, *, validate: bool) -> Message | None:
    """Pop ``cover`` and the cover shortcuts from ``kwargs``; return the book's single cover."""
    cover_value = kwargs.pop("cover", None)
    domain, root, correlation_id, edition = _pop(
        kwargs, "domain", "root", "correlation_id", "edition"
    )
    if cover_value is None and not any(
        v is not None for v in (domain, root, correlation_id, edition)
    ):
        if validate:
            raise _bad("cover", f"{where} needs a cover (or domain=/root= shortcuts)", None)
        return None
    cover = (
        _T.Cover() if cover_value is None else _message(_T.Cover.DESCRIPTOR, cover_value, "cover")
    )
    if domain is not None:
        if validate:
            _check_domain(domain, "domain")
        cover.domain = domain
    if root is not None:
        cover.root.CopyFrom(_T.UUID(value=_root_bytes(root, "root", check=validate)))
    if correlation_id is not None:
        if not isinstance(correlation_id, str):
            raise _bad("correlation_id", f"must be a str, got {type(correlation_id).__name__}", 0)
        cover.correlation_id = correlation_id
    if edition is not None:
        cover.edition.CopyFrom(_message(_T.Edition.DESCRIPTOR, edition, "edition"))
    if validate:
        _check_cover(cover, "cover")
    return cover


_NOT_PAYLOADS = frozenset(
    {
        "angzarr.EventBook",
        "angzarr.CommandBook",
        "angzarr.EventPage",
        "angzarr.CommandPage",
        "angzarr.Cover",
        "angzarr.PageHeader",
    }
)


def _pages(page_class: type[Message], payload_field: str, items: object, param: str) -> list[_Page]:
    """Pages from a list of pages, page mappings, payload messages or ``Any``s (all copied).

    Each result remembers whether the caller gave it as a page (its header is then the
    caller's business when ``validate=False``).
    """
    if items is None:
        return []
    if isinstance(items, (str, bytes, Mapping, Message)) or not isinstance(items, Iterable):
        raise _bad(param, f"takes a list, got {type(items).__name__}", items)
    pages: list[_Page] = []
    page_name = page_class.DESCRIPTOR.full_name
    for i, item in enumerate(items):
        where = f"{param}[{i}]"
        if isinstance(item, Message) and item.DESCRIPTOR.full_name == page_name:
            pages.append(_Page(_message(page_class.DESCRIPTOR, item, where), given=True))
        elif isinstance(item, Mapping):
            pages.append(_Page(_construct(page_class, dict(item), where), given=True))
        elif isinstance(item, Message):
            name = item.DESCRIPTOR.full_name
            if name in _NOT_PAYLOADS:
                raise _bad(
                    where,
                    f"a {name} is not a payload; pass domain messages (packed into Any for you) "
                    f"or {page_name} pages",
                    item,
                )
            payload = _message(any_pb2.Any.DESCRIPTOR, item, where)  # packs non-Any messages
            pages.append(_Page(page_class(**{payload_field: payload}), given=False))
        else:
            raise _bad(
                where,
                f"expected a protobuf message or a {page_name}, got {type(item).__name__}",
                item,
            )
    return pages


class _Page:
    __slots__ = ("message", "given")

    def __init__(self, message: Any, *, given: bool) -> None:
        self.message = message
        self.given = given


def _number(pages: list[_Page], start: int, *, renumber_given: bool) -> int | None:
    """Number the pages without a deferred header ``start, start + 1, ...``; return the last.

    With ``renumber_given=False`` a page the caller gave keeps its header, and numbering goes on
    after its sequence.
    """
    last: int | None = None
    for page in pages:
        kind = _header_kind(page.message)
        if kind in _DEFERRED_KINDS:
            continue
        if page.given and not renumber_given:
            if kind == "sequence":
                last = page.message.header.sequence
            continue
        seq = start if last is None else last + 1
        if seq > _UINT32_MAX:
            raise _bad("start", f"pages from {start} run past uint32 ({_UINT32_MAX})", start)
        page.message.header.sequence = seq
        last = seq
    return last


class EventPageFactory(ProtoFactory):
    """``angzarr.EventPage`` with ``header.sequence`` and a packed example event.

    Params: ``sequence`` (default 0; or pass ``header``), ``event`` (any message, packed; or an
    ``Any``), ``external``, ``created_at`` (``Timestamp`` or ``datetime``), ``committed``,
    ``cascade_id``, ``validate``.
    """

    class Meta:
        model = _T.EventPage

    sequence = None
    header = None
    external = None
    event = factory.Maybe(
        factory.LazyAttribute(lambda o: o.external is None),
        yes_declaration=factory.Sequence(lambda n: _default_events(n)[0]),
        no_declaration=None,
    )
    created_at = None
    validate = True

    @classmethod
    def _assemble(cls, model_class: type[M], kwargs: dict[str, Any]) -> M:
        kwargs.pop("validate", None)
        sequence = kwargs.pop("sequence", None)
        if sequence is not None and kwargs.get("header") is not None:
            raise _bad("sequence", "pass either sequence= or header=, not both", sequence)
        if kwargs.get("header") is None:
            kwargs["header"] = _T.PageHeader(
                sequence=_check_uint32(0 if sequence is None else sequence, "sequence")
            )
        if kwargs.get("event") is not None and kwargs.get("external") is not None:
            raise _bad("event", "event and external are a oneof; pass only one", kwargs["event"])
        return _construct(model_class, kwargs, cls.__name__)


class EventBookFactory(ProtoFactory):
    """``angzarr.EventBook``: one cover, contiguous pages from ``start``, ``next_sequence``.

    ``EventBookFactory(events=[OrderCreated(...), ...], start=3, domain="order")``. Defaults: domain
    ``"order"``, two example events (``OrderCreated``, ``PaymentCharged``) at sequences 0 and 1.

    Params:
        events: payload messages (packed), ``Any``s or ``EventPage``s.
        pages: ``EventPage``s (or mappings); the same as ``events``, pass one of the two.
        start: sequence of the first page (default 0, or ``snapshot.sequence + 1``).
        cover, domain, root, correlation_id, edition: the book's single cover.
        snapshot, next_sequence: as on the wire; ``next_sequence`` is computed when omitted.
        validate: check and renumber (default); ``False`` keeps given pages as they are.

    Pages with an ``external_deferred`` or ``angzarr_deferred`` header (facts) keep it and take
    no sequence; every other page is (re)numbered.
    """

    class Meta:
        model = _T.EventBook

    cover = factory.SubFactory(CoverFactory, validate=factory.SelfAttribute("..validate"))
    domain = None
    root = None
    correlation_id = None
    edition = None
    start = None
    pages = None
    events = factory.Maybe(
        factory.LazyAttribute(lambda o: o.pages is None),
        yes_declaration=factory.Sequence(_default_events),
        no_declaration=None,
    )
    snapshot = None
    next_sequence = None
    validate = True

    @classmethod
    def _assemble(cls, model_class: type[M], kwargs: dict[str, Any]) -> M:
        validate = bool(kwargs.pop("validate", True))
        cover = _book_cover(kwargs, cls.__name__, validate=validate)
        start, events, pages = _pop(kwargs, "start", "events", "pages")
        if events is not None and pages is not None:
            raise _bad("events", "pass either events= or pages=, not both", events)
        snapshot = kwargs.pop("snapshot", None)
        if snapshot is not None:
            snapshot = _message(_T.Snapshot.DESCRIPTOR, snapshot, "snapshot")
        if start is None:
            start = snapshot.sequence + 1 if snapshot is not None else 0
        _check_uint32(start, "start")
        if validate and snapshot is not None and start <= snapshot.sequence:
            raise _bad("start", f"pages after a snapshot at {snapshot.sequence} start later", start)
        param = "events" if events is not None else "pages"
        built = _pages(_T.EventPage, "event", events if events is not None else pages, param)
        last = _number(built, start, renumber_given=validate)
        computed = start if last is None else last + 1
        next_sequence = kwargs.pop("next_sequence", None)
        if next_sequence is None:
            next_sequence = computed
        elif _check_uint32(next_sequence, "next_sequence") != computed and validate:
            raise _bad(
                "next_sequence",
                f"{next_sequence} disagrees with the pages (expected {computed}); omit it to "
                "have it computed, or pass validate=False for an inconsistent book",
                next_sequence,
            )
        if next_sequence > _UINT32_MAX:
            raise _bad("start", f"the book runs past uint32 ({_UINT32_MAX})", start)
        kwargs.update(
            cover=cover,
            pages=[p.message for p in built],
            snapshot=snapshot,
            next_sequence=next_sequence,
        )
        return _construct(model_class, kwargs, cls.__name__)


class CommandPageFactory(ProtoFactory):
    """``angzarr.CommandPage`` with ``header.sequence`` and a packed example command.

    Params: ``sequence`` (default 0; or pass ``header``; ``stamped=False`` for no header),
    ``command`` (any message, packed; or an ``Any``), ``external``, ``merge_strategy`` (a
    ``MergeStrategy`` value or name), ``validate``.
    """

    class Meta:
        model = _T.CommandPage

    sequence = None
    header = None
    stamped = True
    merge_strategy = None
    external = None
    command = factory.Maybe(
        factory.LazyAttribute(lambda o: o.external is None),
        yes_declaration=factory.Sequence(lambda n: _default_commands(n)[0]),
        no_declaration=None,
    )
    validate = True

    @classmethod
    def _assemble(cls, model_class: type[M], kwargs: dict[str, Any]) -> M:
        kwargs.pop("validate", None)
        sequence = kwargs.pop("sequence", None)
        stamped = kwargs.pop("stamped", True)
        if sequence is not None and kwargs.get("header") is not None:
            raise _bad("sequence", "pass either sequence= or header=, not both", sequence)
        if kwargs.get("header") is None and stamped:
            kwargs["header"] = _T.PageHeader(
                sequence=_check_uint32(0 if sequence is None else sequence, "sequence")
            )
        if kwargs.get("command") is not None and kwargs.get("external") is not None:
            raise _bad("command", "command and external are a oneof; pass only one", None)
        return _construct(model_class, kwargs, cls.__name__)


def _deferred_header(value: object, param: str) -> Message:
    """A ``PageHeader`` with ``angzarr_deferred`` from a header, a deferred sequence or a cover."""
    if isinstance(value, Message):
        name = value.DESCRIPTOR.full_name
        if name == "angzarr.PageHeader":
            header = _message(_T.PageHeader.DESCRIPTOR, value, param)
            if header.WhichOneof("sequence_type") not in _DEFERRED_KINDS:
                raise _bad(param, "the header must be angzarr_deferred or external_deferred", value)
            return header
        if name == "angzarr.AngzarrDeferredSequence":
            return _T.PageHeader(angzarr_deferred=_message(value.DESCRIPTOR, value, param))
        if name == "angzarr.ExternalDeferredSequence":
            return _T.PageHeader(external_deferred=_message(value.DESCRIPTOR, value, param))
    raise _bad(
        param,
        "expected a deferred PageHeader, an AngzarrDeferredSequence or an "
        f"ExternalDeferredSequence (see DeferredPageHeaderFactory), got {type(value).__name__}",
        value,
    )


class CommandBookFactory(ProtoFactory):
    """``angzarr.CommandBook``: one cover (domain ``"inventory"``), pages numbered from ``start``.

    Default: one example ``ReserveInventory`` page at sequence 0.

    Params:
        commands: payload messages (packed), ``Any``s or ``CommandPage``s.
        pages: ``CommandPage``s (or mappings); the same as ``commands``, pass one of the two.
        start: sequence of page 0 (default 0); later pages follow contiguously.
        deferred: a deferred header (``DeferredPageHeaderFactory()``, an
            ``AngzarrDeferredSequence``...) put on every page instead of a sequence.
        stamped: ``False`` leaves the pages without a header (an unstamped command).
        merge_strategy: set on every page (angzarr reads page 0's).
        cover, domain, root, correlation_id, edition: the book's single cover.
        validate: check and renumber (default); ``False`` keeps given pages as they are.
    """

    class Meta:
        model = _T.CommandBook

    cover = factory.SubFactory(
        CoverFactory, domain="inventory", validate=factory.SelfAttribute("..validate")
    )
    domain = None
    root = None
    correlation_id = None
    edition = None
    start = None
    pages = None
    commands = factory.Maybe(
        factory.LazyAttribute(lambda o: o.pages is None),
        yes_declaration=factory.Sequence(_default_commands),
        no_declaration=None,
    )
    deferred = None
    stamped = True
    merge_strategy = None
    validate = True

    @classmethod
    def _assemble(cls, model_class: type[M], kwargs: dict[str, Any]) -> M:
        validate = bool(kwargs.pop("validate", True))
        cover = _book_cover(kwargs, cls.__name__, validate=validate)
        start, commands, pages, deferred, stamped, merge = _pop(
            kwargs, "start", "commands", "pages", "deferred", "stamped", "merge_strategy"
        )
        if commands is not None and pages is not None:
            raise _bad("commands", "pass either commands= or pages=, not both", commands)
        if deferred is not None and start is not None:
            raise _bad("start", "deferred pages take no sequence; pass start= or deferred=", start)
        start = _check_uint32(0 if start is None else start, "start")
        param = "commands" if commands is not None else "pages"
        built = _pages(
            _T.CommandPage, "command", commands if commands is not None else pages, param
        )
        if deferred is not None:
            header = _deferred_header(deferred, "deferred")
            for page in built:
                if (validate or not page.given) and _header_kind(
                    page.message
                ) not in _DEFERRED_KINDS:
                    page.message.header.CopyFrom(header)
        elif stamped is False:
            for page in built:
                if (validate or not page.given) and _header_kind(
                    page.message
                ) not in _DEFERRED_KINDS:
                    page.message.ClearField("header")
        else:
            _number(built, start, renumber_given=validate)
        if merge is not None:
            value = _enum_value(_T.MergeStrategy.DESCRIPTOR, merge, "merge_strategy")
            for page in built:
                page.message.merge_strategy = value
        kwargs.update(cover=cover, pages=[p.message for p in built])
        return _construct(model_class, kwargs, cls.__name__)


class AngzarrDeferredSequenceFactory(ProtoFactory):
    """``angzarr.AngzarrDeferredSequence``: ``source`` cover (domain ``"order"``) and
    ``source_seq`` (default 0)."""

    class Meta:
        model = _T.AngzarrDeferredSequence

    source = factory.SubFactory(CoverFactory, validate=factory.SelfAttribute("..validate"))
    source_seq = 0
    validate = True

    @classmethod
    def _assemble(cls, model_class: type[M], kwargs: dict[str, Any]) -> M:
        validate = kwargs.pop("validate", True)
        _check_uint32(kwargs.get("source_seq", 0), "source_seq")
        if validate and kwargs.get("source") is not None:
            _check_cover(_message(_T.Cover.DESCRIPTOR, kwargs["source"], "source"), "source")
        return _construct(model_class, kwargs, cls.__name__)


class DeferredPageHeaderFactory(ProtoFactory):
    """``angzarr.PageHeader`` whose ``angzarr_deferred`` names a source cover and sequence.

    Params: ``source`` (a ``Cover``), ``source_seq`` (shortcuts into ``angzarr_deferred``), or
    ``angzarr_deferred`` itself; ``validate``.
    """

    class Meta:
        model = _T.PageHeader

    angzarr_deferred = factory.SubFactory(
        AngzarrDeferredSequenceFactory, validate=factory.SelfAttribute("..validate")
    )
    source = None
    source_seq = None
    validate = True

    @classmethod
    def _assemble(cls, model_class: type[M], kwargs: dict[str, Any]) -> M:
        validate = kwargs.pop("validate", True)
        source, source_seq = _pop(kwargs, "source", "source_seq")
        deferred = _message(
            _T.AngzarrDeferredSequence.DESCRIPTOR,
            kwargs.pop("angzarr_deferred", None) or {},
            "angzarr_deferred",
        )
        if source is not None:
            deferred.source.CopyFrom(_message(_T.Cover.DESCRIPTOR, source, "source"))
        if source_seq is not None:
            deferred.source_seq = _check_uint32(source_seq, "source_seq")
        if validate:
            _check_cover(deferred.source, "source")
        kwargs["angzarr_deferred"] = deferred
        return _construct(model_class, kwargs, cls.__name__)


def _destination_sequences(value: object, *, validate: bool) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _bad(
            "destination_sequences",
            f"takes a mapping of domain -> next sequence, got {type(value).__name__}",
            value,
        )
    out: dict[str, int] = {}
    for domain, seq in value.items():
        if validate:
            _check_domain(domain, f"destination_sequences[{domain!r}]")
        out[domain] = _check_uint32(seq, f"destination_sequences[{domain!r}]")
    return out


class SagaHandleRequestFactory(ProtoFactory):
    """``angzarr.SagaHandleRequest``: a default :class:`EventBookFactory` trigger as ``source``
    and an empty ``destination_sequences`` map.

    Params: ``source`` (an ``EventBook``; ``source__events=[...]`` reaches the sub-factory),
    ``destination_sequences`` (domain -> next sequence), ``sync_mode``, ``cascade_error_mode``
    (values or names), ``validate``.
    """

    class Meta:
        model = wire.saga_pb2.SagaHandleRequest

    source = factory.SubFactory(EventBookFactory, validate=factory.SelfAttribute("..validate"))
    destination_sequences = factory.LazyFunction(dict)
    validate = True

    @classmethod
    def _assemble(cls, model_class: type[M], kwargs: dict[str, Any]) -> M:
        validate = bool(kwargs.pop("validate", True))
        kwargs["destination_sequences"] = _destination_sequences(
            kwargs.get("destination_sequences"), validate=validate
        )
        return _construct(model_class, kwargs, cls.__name__)


class ProcessManagerHandleRequestFactory(ProtoFactory):
    """``angzarr.ProcessManagerHandleRequest``: a default trigger book, no process state (a new
    workflow) and an empty ``destination_sequences`` map.

    Params:
        trigger: an ``EventBook`` (``trigger__events=[...]`` reaches the sub-factory).
        process_state: the PM's own book for the trigger's correlation id.
        process_events: shortcut: build ``process_state`` from these events, in domain
            ``pm_domain`` (default ``"fulfillment"``), rooted at :func:`pm_root` of the
            trigger's correlation id, carrying that correlation id.
        destination_sequences: domain -> next sequence.
        validate: also checks that ``process_state`` has the trigger's correlation id.
    """

    class Meta:
        model = wire.process_manager_pb2.ProcessManagerHandleRequest

    trigger = factory.SubFactory(EventBookFactory, validate=factory.SelfAttribute("..validate"))
    process_state = None
    process_events = None
    pm_domain = "fulfillment"
    destination_sequences = factory.LazyFunction(dict)
    validate = True

    @classmethod
    def _assemble(cls, model_class: type[M], kwargs: dict[str, Any]) -> M:
        validate = bool(kwargs.pop("validate", True))
        process_events, pm_domain = _pop(kwargs, "process_events", "pm_domain")
        trigger = kwargs.get("trigger")
        trigger = None if trigger is None else _message(_T.EventBook.DESCRIPTOR, trigger, "trigger")
        kwargs["trigger"] = trigger
        correlation_id = trigger.cover.correlation_id if trigger is not None else ""
        if process_events is not None:
            if kwargs.get("process_state") is not None:
                raise _bad("process_events", "pass either process_state= or process_events=", None)
            kwargs["process_state"] = EventBookFactory.build(
                domain=pm_domain if pm_domain is not None else "fulfillment",
                root=pm_root(correlation_id),
                correlation_id=correlation_id,
                events=process_events,
                validate=validate,
            )
        state = kwargs.get("process_state")
        if validate and state is not None:
            state = _message(_T.EventBook.DESCRIPTOR, state, "process_state")
            if state.cover.correlation_id != correlation_id:
                raise _bad(
                    "process_state",
                    f"its correlation id {state.cover.correlation_id!r} is not the trigger's "
                    f"{correlation_id!r}; a PM's state is keyed by the trigger's correlation id",
                    state.cover.correlation_id,
                )
        kwargs["destination_sequences"] = _destination_sequences(
            kwargs.get("destination_sequences"), validate=validate
        )
        return _construct(model_class, kwargs, cls.__name__)


class RejectionNotificationFactory(ProtoFactory):
    """``angzarr.RejectionNotification``: a default :class:`CommandBookFactory` command and a
    reason."""

    class Meta:
        model = _T.RejectionNotification

    rejected_command = factory.SubFactory(CommandBookFactory)
    rejection_reason = "rejected by test"


class NotificationFactory(ProtoFactory):
    """``angzarr.Notification``: a cover and, as ``payload``, a packed
    :class:`RejectionNotificationFactory` (any message passed as ``payload`` is packed).

    Params: ``cover``, ``payload``, ``sent_at`` (``Timestamp`` or ``datetime``), ``metadata``.
    """

    class Meta:
        model = _T.Notification

    cover = factory.SubFactory(CoverFactory)
    payload = factory.LazyFunction(lambda: wire.pack(RejectionNotificationFactory.build()))
    sent_at = None
    metadata = factory.LazyFunction(dict)
