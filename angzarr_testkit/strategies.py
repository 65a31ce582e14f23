"""Hypothesis strategies for angzarr envelopes, and for any protobuf message.

The envelope strategies keep the invariants of :mod:`angzarr_testkit.factories`: one cover per
book, sequences contiguous from a start, ``next_sequence`` = last + 1 (or the start when there are
no pages), payloads packed with the ``type.googleapis.com/`` prefix, domains matching
``[a-z_][a-z0-9_-]{0,63}``. Every parameter that shapes a value accepts a plain value (used as
it is), a strategy (drawn from) or ``None`` (the default strategy).

:func:`messages` builds arbitrary instances of any protobuf message type from its descriptor.
Everything is made of ``fixed_dictionaries``/``lists``/``one_of`` so that failing examples shrink
toward empty messages, zero scalars and the first enum value.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

from google.protobuf import any_pb2, descriptor_pool, duration_pb2, timestamp_pb2, wrappers_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from . import wire
from .errors import InvalidArgumentError
from .factories import DOMAIN_PATTERN, pm_root
from .validate import (
    check_bool,
    check_domain,
    check_int,
    check_message,
    check_str,
    check_uint32,
    checked,
)

__all__ = [
    "STAMPINGS",
    "UINT32_MAX",
    "command_books",
    "correlation_ids",
    "covers",
    "deferred_headers",
    "destination_sequences",
    "domains",
    "editions",
    "event_books",
    "event_pages",
    "example_commands",
    "example_events",
    "messages",
    "process_manager_handle_requests",
    "roots",
    "saga_handle_requests",
    "sequences",
    "uuids",
]

T = TypeVar("T")

UINT32_MAX = 2**32 - 1
_T = wire.types_pb2
_EX = wire.examples_pb2

_EVENT_TYPES = (
    "OrderCreated",
    "OrderCancelled",
    "InventoryReserved",
    "InventoryRestocked",
    "ReservationRefused",
    "PaymentCharged",
    "OrderShipped",
)
_COMMAND_TYPES = (
    "ReserveInventory",
    "ReleaseInventory",
    "ChargePayment",
    "ShipOrder",
    "RestockInventory",
)
#: Well-known names shown first by :func:`domains`, so shrunk examples read naturally.
_COMMON_DOMAINS = ("order", "inventory", "payment", "shipping", "fulfillment")
#: The values of `command_books(stamping=...)`.
STAMPINGS = ("sequence", "angzarr_deferred", "unstamped")


def _bad(param: str, message: str, value: object) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"{param}: {message}", details={"param": param, "value": repr(value)[:200]}
    )


def _strategy(value: object, default: SearchStrategy[T] | None = None) -> SearchStrategy[Any]:
    """A strategy as given, a plain value as ``just(value)``, ``None`` as ``default``."""
    if value is None and default is not None:
        return default
    if isinstance(value, SearchStrategy):
        return value
    return st.just(value)


#: the most pages, map entries or repeated elements a strategy draws: Hypothesis cannot draw
#: a list longer than its buffer (8192 choices), so a larger min_size could never generate
MAX_SIZE = 8_192
#: the deepest nesting :func:`messages` builds
MAX_DEPTH = 32


def _check(value: object, param: str, check: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``check`` from :mod:`angzarr_testkit.validate`, raised as ``InvalidArgumentError``
    with ``details["param"]``."""
    return checked(InvalidArgumentError, check, value, param, *args, **kwargs)


def _check_size(min_size: int, max_size: int, what: str) -> None:
    for name, v in ((f"min_{what}", min_size), (f"max_{what}", max_size)):
        _check(v, name, check_int, minimum=0, maximum=MAX_SIZE)
    if min_size > max_size:
        raise _bad(f"min_{what}", f"{min_size} is more than max_{what} {max_size}", min_size)


def _plain(value: object, param: str, check: Callable[..., Any], *args: Any, **kw: Any) -> None:
    """Check a parameter given as a plain value at the call (``None`` and strategies are
    drawn later, and checked by what draws them)."""
    if value is None or isinstance(value, SearchStrategy):
        return
    _check(value, param, check, *args, **kw)


def _check_domain_value(value: object, param: str) -> None:
    _plain(value, param, check_domain)


def _check_root_value(value: object, param: str) -> None:
    if isinstance(value, Message) and value.DESCRIPTOR.full_name == "angzarr.UUID":
        value = getattr(value, "value")  # noqa: B009 - Message has no typed fields
    if value is None or isinstance(value, SearchStrategy):
        return
    from .validate import check_root

    _check(value, param, check_root)


def _check_edition_value(value: object, param: str) -> None:
    if isinstance(value, Message):
        _check(value, param, check_message, full_name="angzarr.Edition")
    else:
        _plain(value, param, check_str)


def _check_enum_value(value: object, param: str, enum: Any) -> None:
    if value is None or isinstance(value, SearchStrategy):
        return
    names = ", ".join(enum.keys())
    if isinstance(value, str):
        if value not in enum.keys():
            raise _bad(param, f"{value!r} is not one of {names}", value)
    elif isinstance(value, bool) or not isinstance(value, int) or value not in enum.values():
        raise _bad(param, f"expected a {enum.DESCRIPTOR.full_name} name or number ({names})", value)


# --------------------------------------------------------------------------------------------
# identities and covers
# --------------------------------------------------------------------------------------------


def roots() -> SearchStrategy[bytes]:
    """16 raw bytes: an aggregate root (shrinks to the nil UUID)."""
    return st.binary(min_size=16, max_size=16)


def uuids() -> SearchStrategy[Any]:
    """``angzarr.UUID`` messages holding :func:`roots`."""
    return st.builds(lambda raw: _T.UUID(value=raw), roots())


def domains() -> SearchStrategy[str]:
    """Domain names matching ``[a-z_][a-z0-9_-]{0,63}`` (common names first, for shrinking)."""
    return st.one_of(
        st.sampled_from(_COMMON_DOMAINS), st.from_regex(DOMAIN_PATTERN, fullmatch=True)
    )


def correlation_ids(*, allow_empty: bool = False) -> SearchStrategy[str]:
    """Correlation ids as UUID text (what angzarr mints); ``allow_empty`` adds ``""``."""
    _check(allow_empty, "allow_empty", check_bool)
    text = st.uuids().map(str)
    return st.one_of(st.just(""), text) if allow_empty else text


def editions() -> SearchStrategy[Any]:
    """``angzarr.Edition``: the main timeline (``""``/``"angzarr"``) or a named branch, with up
    to two domain divergences."""
    names = st.one_of(
        st.sampled_from(["", "angzarr"]), st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True)
    )
    divergence = st.builds(
        lambda d, s: _T.DomainDivergence(domain=d, sequence=s), domains(), sequences()
    )
    return st.builds(
        lambda n, ds: _T.Edition(name=n, divergences=ds),
        names,
        st.lists(divergence, max_size=2),
    )


def sequences(max_value: int = UINT32_MAX) -> SearchStrategy[int]:
    """uint32 sequences up to ``max_value``, small ones first."""
    _check(max_value, "max_value", check_uint32)
    if max_value <= 100:
        return st.integers(0, max_value)
    return st.one_of(st.integers(0, 100), st.integers(0, max_value))


def covers(
    domain: object = None,
    *,
    root: object = None,
    correlation_id: object = None,
    edition: object = None,
) -> SearchStrategy[Any]:
    """``angzarr.Cover`` with a root, a valid domain and a UUID-text correlation id.

    ``edition`` defaults to unset (the main timeline); pass ``editions()`` to vary it.
    """
    _check_domain_value(domain, "domain")
    _check_root_value(root, "root")
    _plain(correlation_id, "correlation_id", check_str)
    _check_edition_value(edition, "edition")
    return st.builds(
        _cover,
        _strategy(domain, domains()),
        _strategy(root, roots()),
        _strategy(correlation_id, correlation_ids()),
        _strategy(edition, st.none()),
    )


def _cover(domain: str, root: Any, correlation_id: str, edition: Any) -> Any:
    raw = root.value if isinstance(root, Message) else bytes(root)
    if isinstance(edition, str):
        edition = _T.Edition(name=edition)
    return _T.Cover(
        root=_T.UUID(value=raw), domain=domain, correlation_id=correlation_id, edition=edition
    )


# --------------------------------------------------------------------------------------------
# payloads and pages
# --------------------------------------------------------------------------------------------


def example_events() -> SearchStrategy[Message]:
    """Any of the example domain's events (``OrderCreated``, ``InventoryReserved``, ...)."""
    return st.one_of(*(messages(getattr(_EX, name)) for name in _EVENT_TYPES))


def example_commands() -> SearchStrategy[Message]:
    """Any of the example domain's commands (``ReserveInventory``, ``ChargePayment``, ...)."""
    return st.one_of(*(messages(getattr(_EX, name)) for name in _COMMAND_TYPES))


def _packed(message: Message) -> any_pb2.Any:
    if message.DESCRIPTOR.full_name == "google.protobuf.Any":
        copy = any_pb2.Any()
        copy.ParseFromString(message.SerializeToString())
        return copy
    return wire.pack(message)


def event_pages(sequence: object = None, *, events: object = None) -> SearchStrategy[Any]:
    """``angzarr.EventPage`` with ``header.sequence`` and a packed payload from ``events``
    (default :func:`example_events`)."""
    _plain(sequence, "sequence", check_uint32)
    _plain(events, "events", check_message)
    return st.builds(
        lambda seq, payload: _T.EventPage(
            header=_T.PageHeader(sequence=seq), event=_packed(payload)
        ),
        _strategy(sequence, sequences()),
        _strategy(events, example_events()),
    )


def deferred_headers(source: object = None, *, source_seq: object = None) -> SearchStrategy[Any]:
    """``angzarr.PageHeader`` with ``angzarr_deferred{source, source_seq}`` (default: any cover,
    any uint32)."""
    _plain(source, "source", check_message, full_name="angzarr.Cover")
    _plain(source_seq, "source_seq", check_uint32)
    return st.builds(
        lambda src, seq: _T.PageHeader(
            angzarr_deferred=_T.AngzarrDeferredSequence(source=src, source_seq=seq)
        ),
        _strategy(source, covers()),
        _strategy(source_seq, sequences()),
    )


def _book_cover_strategy(
    cover: object, domain: object, root: object, correlation_id: object, edition: object
) -> SearchStrategy[Any]:
    if cover is not None:
        if any(v is not None for v in (domain, root, correlation_id, edition)):
            raise _bad("cover", "pass either cover= or domain=/root=/... shortcuts", cover)
        _plain(cover, "cover", check_message, full_name="angzarr.Cover")
        return _strategy(cover)
    return covers(domain, root=root, correlation_id=correlation_id, edition=edition)


def event_books(
    domain: object = None,
    *,
    min_pages: int = 0,
    max_pages: int = 5,
    events: object = None,
    start: object = None,
    cover: object = None,
    root: object = None,
    correlation_id: object = None,
    edition: object = None,
) -> SearchStrategy[Any]:
    """``angzarr.EventBook``: one cover, ``min_pages..max_pages`` pages numbered contiguously
    from ``start`` (default: any uint32 that leaves room), ``next_sequence`` = last + 1 or start.

    ``events`` is a strategy of payload messages (default :func:`example_events`).
    """
    _check_size(min_pages, max_pages, "pages")
    _check_domain_value(domain, "domain")
    _plain(events, "events", check_message)
    _plain(start, "start", check_uint32)
    cover_s = _book_cover_strategy(cover, domain, root, correlation_id, edition)
    start_s = _strategy(start, sequences(UINT32_MAX - max_pages))
    payloads = st.lists(_strategy(events, example_events()), min_size=min_pages, max_size=max_pages)
    return st.builds(_event_book, cover_s, start_s, payloads)


def _event_book(cover: Any, start: int, payloads: list[Message]) -> Any:
    if start + len(payloads) > UINT32_MAX:
        raise _bad("start", f"{start} leaves no room for {len(payloads)} pages in uint32", start)
    pages = [
        _T.EventPage(header=_T.PageHeader(sequence=start + i), event=_packed(p))
        for i, p in enumerate(payloads)
    ]
    return _T.EventBook(cover=cover, pages=pages, next_sequence=start + len(pages))


def command_books(
    domain: object = None,
    *,
    min_pages: int = 1,
    max_pages: int = 3,
    commands: object = None,
    start: object = None,
    stamping: object = "sequence",
    deferred: object = None,
    merge_strategy: object = None,
    cover: object = None,
    root: object = None,
    correlation_id: object = None,
    edition: object = None,
) -> SearchStrategy[Any]:
    """``angzarr.CommandBook``: one cover and ``min_pages..max_pages`` pages of ``commands``
    (default :func:`example_commands`).

    ``stamping`` (a value or a strategy of them): ``"sequence"`` numbers the pages from ``start``;
    ``"angzarr_deferred"`` puts one ``deferred`` header (default :func:`deferred_headers`) on
    every page; ``"unstamped"`` leaves them without a header. ``merge_strategy`` (default
    ``MERGE_COMMUTATIVE``) is set on every page.
    """
    _check_size(min_pages, max_pages, "pages")
    _check_domain_value(domain, "domain")
    _plain(commands, "commands", check_message)
    _plain(start, "start", check_uint32)
    _plain(deferred, "deferred", check_message, full_name="angzarr.PageHeader")
    _check_enum_value(merge_strategy, "merge_strategy", _T.MergeStrategy)
    if isinstance(stamping, (list, dict, set)) or (
        not isinstance(stamping, SearchStrategy) and stamping not in STAMPINGS
    ):
        raise _bad("stamping", f"{stamping!r} is not one of {', '.join(STAMPINGS)}", stamping)
    return st.builds(
        _command_book,
        _book_cover_strategy(cover, domain, root, correlation_id, edition),
        _strategy(start, sequences(UINT32_MAX - max_pages)),
        st.lists(_strategy(commands, example_commands()), min_size=min_pages, max_size=max_pages),
        _strategy(stamping),
        _strategy(deferred, deferred_headers()),
        _strategy(merge_strategy, st.just(0)),
    )


def _command_book(
    cover: Any, start: int, payloads: list[Message], stamping: str, deferred: Any, merge: Any
) -> Any:
    if stamping not in STAMPINGS:
        raise _bad("stamping", f"{stamping!r} is not one of {', '.join(STAMPINGS)}", stamping)
    if isinstance(merge, str):
        merge = _T.MergeStrategy.Value(merge)
    pages = []
    for i, payload in enumerate(payloads):
        page = _T.CommandPage(command=_packed(payload), merge_strategy=merge)
        if stamping == "sequence":
            page.header.sequence = start + i
        elif stamping == "angzarr_deferred":
            page.header.CopyFrom(deferred)
        pages.append(page)
    return _T.CommandBook(cover=cover, pages=pages)


def destination_sequences(
    domains: object = None,
    *,
    min_size: int = 0,
    max_size: int = 4,
    sequences: object = None,
) -> SearchStrategy[dict[str, int]]:
    """``destination_sequences`` maps: domain -> next sequence.

    ``domains`` given as a collection of names makes a map with exactly those keys; as a strategy
    (default :func:`domains`) it draws ``min_size..max_size`` distinct keys.
    """
    _plain(sequences, "sequences", check_uint32)
    values = _strategy(sequences, _sequences())
    if isinstance(domains, Collection) and not isinstance(domains, (str, bytes, Mapping)):
        if len(domains) > MAX_SIZE:
            raise _bad("domains", f"at most {MAX_SIZE} domains", len(domains))
        for d in domains:
            _check(d, "domains", check_domain)
        return st.fixed_dictionaries({d: values for d in domains})
    if domains is not None and not isinstance(domains, SearchStrategy):
        raise _bad("domains", "pass a collection of domain names or a strategy", domains)
    _check_size(min_size, max_size, "size")
    keys = domains if domains is not None else _domains()
    return st.dictionaries(keys, values, min_size=min_size, max_size=max_size)


def _check_map_value(value: object, param: str) -> None:
    if value is None or isinstance(value, SearchStrategy):
        return
    if not isinstance(value, Mapping):
        raise _bad(param, "expected a mapping of domain -> sequence, or a strategy", value)
    for domain, seq in value.items():
        _check(domain, f"{param} key", check_domain)
        _check(seq, f"{param}[{domain!r}]", check_uint32)


def saga_handle_requests(
    source: object = None,
    *,
    destination_sequences: object = None,
    sync_mode: object = None,
    cascade_error_mode: object = None,
) -> SearchStrategy[Any]:
    """``angzarr.SagaHandleRequest``: a trigger book with at least one page and a
    ``destination_sequences`` map (defaults: :func:`event_books`, :func:`destination_sequences`)."""
    _plain(source, "source", check_message, full_name="angzarr.EventBook")
    _check_map_value(destination_sequences, "destination_sequences")
    _plain(sync_mode, "sync_mode", check_int, minimum=0, maximum=2**31 - 1)
    _plain(cascade_error_mode, "cascade_error_mode", check_int, minimum=0, maximum=2**31 - 1)
    return st.builds(
        lambda src, seqs, sync, cascade: wire.saga_pb2.SagaHandleRequest(
            source=src, destination_sequences=seqs, sync_mode=sync, cascade_error_mode=cascade
        ),
        _strategy(source, event_books(min_pages=1)),
        _strategy(destination_sequences, _destination_sequences()),
        _strategy(sync_mode, st.just(0)),
        _strategy(cascade_error_mode, st.just(0)),
    )


def process_manager_handle_requests(
    trigger: object = None,
    *,
    process_state: object = None,
    destination_sequences: object = None,
    pm_domain: object = "fulfillment",
    new_workflow: object = None,
) -> SearchStrategy[Any]:
    """``angzarr.ProcessManagerHandleRequest`` keyed by the trigger's correlation id.

    By default the process state is either absent (a new workflow; ``new_workflow=True`` forces
    it) or a book in ``pm_domain`` rooted at :func:`~angzarr_testkit.factories.pm_root` of the
    trigger's correlation id and carrying that id (``new_workflow=False`` forces it). A
    ``process_state`` you pass is used as it is.
    """
    _check_domain_value(pm_domain, "pm_domain")
    _plain(trigger, "trigger", check_message, full_name="angzarr.EventBook")
    _plain(process_state, "process_state", check_message, full_name="angzarr.EventBook")
    _check_map_value(destination_sequences, "destination_sequences")
    _plain(new_workflow, "new_workflow", check_bool)
    trigger_s = _strategy(trigger, event_books(min_pages=1))
    seqs_s = _strategy(destination_sequences, _destination_sequences())
    domain_s = _strategy(pm_domain)

    @st.composite
    def build(draw: Callable[[SearchStrategy[Any]], Any]) -> Any:
        trig = draw(trigger_s)
        if process_state is not None:
            state = draw(_strategy(process_state))
        else:
            fresh = draw(_strategy(new_workflow, st.booleans()))
            state = None
            if not fresh:
                cid = trig.cover.correlation_id
                state = draw(
                    event_books(
                        draw(domain_s),
                        min_pages=1,
                        root=pm_root(cid),
                        correlation_id=cid,
                    )
                )
        return wire.process_manager_pb2.ProcessManagerHandleRequest(
            trigger=trig, process_state=state, destination_sequences=draw(seqs_s)
        )

    return build()


# --------------------------------------------------------------------------------------------
# messages(): any protobuf message type, from its descriptor
# --------------------------------------------------------------------------------------------

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
            return _strategy(self.type_overrides[name])
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
        return _OMIT if value is None else _strategy(value)

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
            raise _bad(
                "message_type_or_descriptor",
                f"no message type {value!r} is loaded; import its _pb2 module (through "
                "angzarr_testkit.wire for angzarr types) or pass the class",
                value,
            ) from None
    descriptor = getattr(value, "DESCRIPTOR", None)
    if isinstance(descriptor, Descriptor):
        return descriptor
    raise _bad(
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
            raise _bad("overrides", f"keys are field or type names, got {key!r}", key)
        if "." not in key:
            if key not in descriptor.fields_by_name:
                known = ", ".join(descriptor.fields_by_name) or "none"
                raise _bad(
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
            raise _bad(
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
    _check(max_depth, "max_depth", check_int, minimum=0, maximum=MAX_DEPTH)
    _check(max_size, "max_size", check_int, minimum=0, maximum=MAX_SIZE)
    _check(allow_nan, "allow_nan", check_bool)
    _check(allow_infinity, "allow_infinity", check_bool)
    if overrides is not None:
        if not isinstance(overrides, Mapping):
            raise _bad("overrides", "must be a mapping of name -> strategy", overrides)
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


# Aliases for parameters that share a strategy's name (``destination_sequences(domains=...)``).
_domains = domains
_sequences = sequences
_destination_sequences = destination_sequences
