"""Hypothesis strategies: envelope invariants, and messages() over every message type."""

from __future__ import annotations

import math

import pytest
from google.protobuf import (
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    duration_pb2,
    message_factory,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from angzarr_testkit import strategies as S
from angzarr_testkit import wire
from angzarr_testkit.errors import InvalidArgumentError
from angzarr_testkit.factories import DOMAIN_PATTERN, pm_root

T = wire.types_pb2
EX = wire.examples_pb2
PREFIX = wire.TYPE_URL_PREFIX

# Hypothesis checks whether a generated object's repr parses as Python; a protobuf repr with
# backslash escapes makes that check emit this warning (harmless, inside a suppress()).
pytestmark = pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning")
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TINY = settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))


def reaches(strategy, condition, max_examples: int = 2000) -> None:
    """``condition`` holds for some generated value (found without shrinking, so it is quick)."""
    find(
        strategy,
        condition,
        settings=settings(max_examples=max_examples, phases=[Phase.generate], database=None),
    )


def assert_valid_cover(cover) -> None:
    assert len(cover.root.value) == 16
    assert DOMAIN_PATTERN.fullmatch(cover.domain)


def assert_consistent_event_book(book) -> None:
    assert_valid_cover(book.cover)
    seqs = [p.header.sequence for p in book.pages]
    assert all(p.header.WhichOneof("sequence_type") == "sequence" for p in book.pages)
    if seqs:
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert book.next_sequence == seqs[-1] + 1
    for page in book.pages:
        assert page.event.type_url.startswith(PREFIX)


# ---------------------------------------------------------------------------------------------
# identities
# ---------------------------------------------------------------------------------------------


@FAST
@given(S.domains())
def test_domains_match_the_domain_pattern(domain):
    assert DOMAIN_PATTERN.fullmatch(domain)


@FAST
@given(S.roots(), S.uuids())
def test_roots_and_uuids_are_16_bytes(root, uuid_message):
    assert len(root) == 16
    assert isinstance(uuid_message, T.UUID) and len(uuid_message.value) == 16


@FAST
@given(S.covers(edition=S.editions()))
def test_covers_are_valid(cover):
    assert isinstance(cover, T.Cover)
    assert_valid_cover(cover)
    assert cover.correlation_id


# ---------------------------------------------------------------------------------------------
# books and requests
# ---------------------------------------------------------------------------------------------


@FAST
@given(S.event_books())
def test_event_books_are_consistent(book):
    assert_consistent_event_book(book)
    assert len(book.pages) <= 5


@FAST
@given(st.data(), st.integers(0, 50), st.integers(0, 3))
def test_event_books_honour_start_domain_and_page_count(data, start, n):
    book = data.draw(S.event_books("payment", start=start, min_pages=n, max_pages=n))
    assert book.cover.domain == "payment"
    assert [p.header.sequence for p in book.pages] == list(range(start, start + n))
    assert book.next_sequence == start + n


@FAST
@given(S.event_books(events=S.messages(EX.OrderShipped), min_pages=1, root=b"\x01" * 16))
def test_event_books_take_event_strategies_and_cover_values(book):
    assert book.cover.root.value == b"\x01" * 16
    assert {p.event.type_url for p in book.pages} == {
        PREFIX + "testkit_examples.order.OrderShipped"
    }


@FAST
@given(S.command_books(stamping=st.sampled_from(S.STAMPINGS)))
def test_command_books_by_stamping(book):
    assert_valid_cover(book.cover)
    assert 1 <= len(book.pages) <= 3
    kinds = {
        p.header.WhichOneof("sequence_type") if p.HasField("header") else None for p in book.pages
    }
    assert len(kinds) == 1
    kind = kinds.pop()
    if kind == "sequence":
        seqs = [p.header.sequence for p in book.pages]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    elif kind == "angzarr_deferred":
        assert len({p.header.SerializeToString() for p in book.pages}) == 1
        assert_valid_cover(book.pages[0].header.angzarr_deferred.source)
    assert all(p.command.type_url.startswith(PREFIX) for p in book.pages)


@FAST
@given(S.deferred_headers(source_seq=7))
def test_deferred_headers(header):
    assert header.WhichOneof("sequence_type") == "angzarr_deferred"
    assert header.angzarr_deferred.source_seq == 7
    assert_valid_cover(header.angzarr_deferred.source)


@FAST
@given(S.destination_sequences())
def test_destination_sequences_keys_are_domains(seqs):
    assert len(seqs) <= 4
    for domain, seq in seqs.items():
        assert DOMAIN_PATTERN.fullmatch(domain)
        assert 0 <= seq <= S.UINT32_MAX


@FAST
@given(S.destination_sequences(["inventory", "payment"], sequences=st.integers(0, 9)))
def test_destination_sequences_for_named_domains(seqs):
    assert set(seqs) == {"inventory", "payment"}
    assert all(0 <= v <= 9 for v in seqs.values())


@FAST
@given(S.saga_handle_requests())
def test_saga_handle_requests(req):
    assert isinstance(req, wire.saga_pb2.SagaHandleRequest)
    assert len(req.source.pages) >= 1
    assert_consistent_event_book(req.source)
    assert all(DOMAIN_PATTERN.fullmatch(d) for d in req.destination_sequences)


@FAST
@given(S.process_manager_handle_requests())
def test_process_manager_requests_are_keyed_by_correlation_id(req):
    assert_consistent_event_book(req.trigger)
    if req.HasField("process_state"):
        state = req.process_state
        assert_consistent_event_book(state)
        assert state.cover.domain == "fulfillment"
        assert state.cover.correlation_id == req.trigger.cover.correlation_id
        assert state.cover.root.value == pm_root(req.trigger.cover.correlation_id)


def test_process_manager_requests_cover_both_workflow_states():
    reaches(S.process_manager_handle_requests(), lambda r: r.HasField("process_state"))
    reaches(S.process_manager_handle_requests(), lambda r: not r.HasField("process_state"))


@pytest.mark.parametrize(
    ("make", "param"),
    [
        (lambda: S.event_books(min_pages=3, max_pages=1), "min_pages"),
        (lambda: S.event_books(max_pages=-1), "max_pages"),
        (lambda: S.event_books(domain="Bad"), "domain"),
        (lambda: S.covers("no spaces"), "domain"),
        (lambda: S.command_books(stamping="sometimes"), "stamping"),
        (lambda: S.destination_sequences(["ok", "NOT OK"]), "domains"),
        (lambda: S.messages(42), "message_type_or_descriptor"),
        (lambda: S.messages("angzarr.NoSuchMessage"), "message_type_or_descriptor"),
        (lambda: S.messages(T.Cover, max_depth=-1), "max_depth"),
        (lambda: S.messages(T.Cover, overrides={"colour": st.just(1)}), "overrides['colour']"),
        (lambda: S.messages(T.Cover, overrides={"angzarr.Nope": 1}), "overrides['angzarr.Nope']"),
    ],
)
def test_bad_strategy_arguments_raise_invalid_argument(make, param):
    with pytest.raises(InvalidArgumentError) as info:
        make()
    assert info.value.details["param"] == param
    assert param in info.value.message


# ---------------------------------------------------------------------------------------------
# messages(): every message type of the wire and example modules
# ---------------------------------------------------------------------------------------------


def _descriptors(*modules):
    found = []

    def walk(d):
        if d.GetOptions().map_entry:
            return
        found.append(d)
        for nested in d.nested_types:
            walk(nested)

    for module in modules:
        for d in module.DESCRIPTOR.message_types_by_name.values():
            walk(d)
    return found


WIRE_MODULES = (
    wire.types_pb2,
    wire.saga_pb2,
    wire.process_manager_pb2,
    wire.command_handler_pb2,
    wire.examples_pb2,
)
ALL_TYPES = _descriptors(*WIRE_MODULES)


def test_every_module_contributes_message_types():
    names = {d.full_name for d in ALL_TYPES}
    assert {
        "angzarr.Cover",
        "angzarr.SagaHandleRequest",
        "angzarr.ProcessManagerHandleRequest",
    } <= names
    assert {"angzarr.BusinessResponse", "testkit_examples.order.LineItems"} <= names
    assert len(names) == len(ALL_TYPES) >= 60


def _assert_round_trips(message) -> None:
    wire_bytes = message.SerializeToString(deterministic=True)
    again = type(message).FromString(wire_bytes)
    assert again.SerializeToString(deterministic=True) == wire_bytes
    assert again == message


def _assert_oneofs_hold_at_most_one(message) -> None:
    for oneof in message.DESCRIPTOR.oneofs:
        set_members = [f.name for f in oneof.fields if message.HasField(f.name)]
        assert len(set_members) <= 1, (oneof.full_name, set_members)
    for field, value in message.ListFields():
        if field.type == FieldDescriptor.TYPE_MESSAGE and not S._is_repeated(field):
            _assert_oneofs_hold_at_most_one(value)


@pytest.mark.parametrize("descriptor", ALL_TYPES, ids=lambda d: d.full_name)
@TINY
@given(data=st.data())
def test_messages_round_trip_for_every_message_type(descriptor, data):
    message = data.draw(S.messages(descriptor))
    assert message.DESCRIPTOR is descriptor
    _assert_round_trips(message)
    _assert_oneofs_hold_at_most_one(message)


def test_messages_strategies_are_decided_once_per_descriptor():
    assert S.messages(T.EventBook) is S.messages(T.EventBook)
    assert S.messages(T.EventBook) is S.messages("angzarr.EventBook")
    assert S.messages(T.EventBook) is S.messages(T.EventBook.DESCRIPTOR)
    assert S.messages(T.EventBook, max_depth=1) is not S.messages(T.EventBook)


@FAST
@given(S.messages(EX.LineItems))
def test_line_items_fields_are_well_formed(items):
    assert items.priority in {v.number for v in EX.Priority.DESCRIPTOR.values}
    assert items.WhichOneof("note") in (None, "text", "blob")
    assert len(items.lines) <= 3 and len(items.tags) <= 3
    _assert_round_trips(items)


@pytest.mark.parametrize(
    "condition",
    [
        lambda m: m.WhichOneof("note") == "text",
        lambda m: m.WhichOneof("note") == "blob",
        lambda m: m.HasField("memo"),
        lambda m: m.HasField("memo") and m.memo == "",
        lambda m: len(m.lines) >= 2,
        lambda m: len(m.tags) >= 1,
        lambda m: m.priority == EX.PRIORITY_HIGH,
    ],
    ids=[
        "oneof-text",
        "oneof-blob",
        "optional-set",
        "optional-set-empty",
        "repeated",
        "map",
        "enum",
    ],
)
def test_messages_reach_every_shape(condition):
    reaches(S.messages(EX.LineItems), condition)


def test_messages_shrink_toward_empty_messages():
    assert find(S.messages(EX.LineItems), lambda m: True) == EX.LineItems()
    smallest = find(S.messages(EX.OrderCreated), lambda m: m.quantity > 0)
    assert smallest == EX.OrderCreated(quantity=1)
    # Shrinking is a heuristic search: it may stop with a present-but-empty cover; what must
    # hold is that everything left is empty.
    book = find(S.messages(T.CommandBook), lambda m: len(m.pages) > 0)
    assert list(book.pages) == [T.CommandPage()]
    assert book.cover.ByteSize() == 0


def test_messages_overrides_by_field_by_field_name_and_by_type():
    strategy = S.messages(
        T.Cover,
        overrides={"domain": S.domains(), "angzarr.UUID": S.uuids(), "edition": None},
    )

    @TINY
    @given(strategy)
    def check(cover):
        assert DOMAIN_PATTERN.fullmatch(cover.domain)
        assert not cover.HasField("edition")
        if cover.HasField("root"):
            assert len(cover.root.value) == 16

    check()
    reaches(
        S.messages(T.EventBook, overrides={"angzarr.Cover.domain": "order"}),
        lambda b: b.HasField("cover") and b.cover.domain == "order",
    )

    @TINY
    @given(S.messages(T.EventBook, overrides={"angzarr.Cover.domain": "order"}))
    def nested(book):
        assert not book.HasField("cover") or book.cover.domain == "order"

    nested()


@FAST
@given(S.messages(T.EventPage, max_depth=0))
def test_max_depth_zero_keeps_only_scalars_and_leaf_types(page):
    assert not page.HasField("header")
    assert not page.HasField("external")


# ---------------------------------------------------------------------------------------------
# messages(): every scalar kind, recursion and well-known types, on a message built here
# ---------------------------------------------------------------------------------------------

_SCALARS = {
    "f_double": FieldDescriptor.TYPE_DOUBLE,
    "f_float": FieldDescriptor.TYPE_FLOAT,
    "f_int64": FieldDescriptor.TYPE_INT64,
    "f_uint64": FieldDescriptor.TYPE_UINT64,
    "f_int32": FieldDescriptor.TYPE_INT32,
    "f_fixed64": FieldDescriptor.TYPE_FIXED64,
    "f_fixed32": FieldDescriptor.TYPE_FIXED32,
    "f_bool": FieldDescriptor.TYPE_BOOL,
    "f_string": FieldDescriptor.TYPE_STRING,
    "f_bytes": FieldDescriptor.TYPE_BYTES,
    "f_uint32": FieldDescriptor.TYPE_UINT32,
    "f_sfixed32": FieldDescriptor.TYPE_SFIXED32,
    "f_sfixed64": FieldDescriptor.TYPE_SFIXED64,
    "f_sint32": FieldDescriptor.TYPE_SINT32,
    "f_sint64": FieldDescriptor.TYPE_SINT64,
}


def _all_kinds_class():
    """``testkit_tests.AllKinds`` in a private pool: every scalar kind (single and repeated),
    an enum with a negative value, a recursive child, a map of messages, a oneof, a proto3
    optional and the well-known Timestamp, Duration, Any and Struct."""
    pool = descriptor_pool.DescriptorPool()
    for module in (any_pb2, duration_pb2, struct_pb2, timestamp_pb2):
        pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
    f = descriptor_pb2.FileDescriptorProto(
        name="testkit_tests/all_kinds.proto",
        package="testkit_tests",
        syntax="proto3",
        dependency=[
            "google/protobuf/any.proto",
            "google/protobuf/duration.proto",
            "google/protobuf/struct.proto",
            "google/protobuf/timestamp.proto",
        ],
    )
    enum = f.enum_type.add(name="Colour")
    for name, number in (("COLOUR_UNSPECIFIED", 0), ("RED", 1), ("BELOW", -2)):
        enum.value.add(name=name, number=number)
    msg = f.message_type.add(name="AllKinds")
    FDP = descriptor_pb2.FieldDescriptorProto
    number = 0

    def add(name, kind, *, repeated=False, type_name=None, oneof_index=None, proto3_optional=False):
        nonlocal number
        number += 1
        field = msg.field.add(
            name=name,
            number=number,
            type=kind,
            label=FDP.LABEL_REPEATED if repeated else FDP.LABEL_OPTIONAL,
        )
        if type_name:
            field.type_name = type_name
        if oneof_index is not None:
            field.oneof_index = oneof_index
        if proto3_optional:
            field.proto3_optional = True

    for name, kind in _SCALARS.items():
        add(name, kind)
        add("r" + name[1:], kind, repeated=True)
    add("colour", FDP.TYPE_ENUM, type_name=".testkit_tests.Colour")
    add("child", FDP.TYPE_MESSAGE, type_name=".testkit_tests.AllKinds")
    add("children", FDP.TYPE_MESSAGE, repeated=True, type_name=".testkit_tests.AllKinds")
    entry = msg.nested_type.add(name="ByIdEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=FDP.TYPE_INT64, label=FDP.LABEL_OPTIONAL)
    entry.field.add(
        name="value",
        number=2,
        type=FDP.TYPE_MESSAGE,
        label=FDP.LABEL_OPTIONAL,
        type_name=".testkit_tests.AllKinds",
    )
    add("by_id", FDP.TYPE_MESSAGE, repeated=True, type_name=".testkit_tests.AllKinds.ByIdEntry")
    add("at", FDP.TYPE_MESSAGE, type_name=".google.protobuf.Timestamp")
    add("took", FDP.TYPE_MESSAGE, type_name=".google.protobuf.Duration")
    add("anything", FDP.TYPE_MESSAGE, type_name=".google.protobuf.Any")
    add("doc", FDP.TYPE_MESSAGE, type_name=".google.protobuf.Struct")
    msg.oneof_decl.add(name="choice")
    add("choice_text", FDP.TYPE_STRING, oneof_index=0)
    add("choice_child", FDP.TYPE_MESSAGE, type_name=".testkit_tests.AllKinds", oneof_index=0)
    add("choice_colour", FDP.TYPE_ENUM, type_name=".testkit_tests.Colour", oneof_index=0)
    msg.oneof_decl.add(name="_maybe")  # synthetic oneofs come after the real ones
    add("maybe", FDP.TYPE_INT32, oneof_index=1, proto3_optional=True)
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("testkit_tests.AllKinds"))


AllKinds = _all_kinds_class()


def _depth(message) -> int:
    nested = [message.child] if message.HasField("child") else []
    nested += list(message.children) + list(message.by_id.values())
    if message.WhichOneof("choice") == "choice_child":
        nested.append(message.choice_child)
    return 1 + max((_depth(m) for m in nested), default=0)


@FAST
@given(S.messages(AllKinds, max_depth=2))
def test_all_kinds_round_trip_within_ranges_and_depth(message):
    _assert_round_trips(message)
    _assert_oneofs_hold_at_most_one(message)
    assert _depth(message) <= 3
    assert message.colour in (0, 1, -2)
    assert math.isfinite(message.f_double) and math.isfinite(message.f_float)
    assert all(math.isfinite(x) for x in list(message.r_double) + list(message.r_float))
    if message.HasField("at"):
        message.at.ToJsonString()  # raises outside 0001..9999
    if message.HasField("took"):
        message.took.ToJsonString()  # raises outside +-10000 years or on mixed signs
    if message.HasField("anything") and message.anything.type_url:
        assert message.anything.type_url.startswith(PREFIX)


SCALAR_REACH = {
    "int64-beyond-int32": lambda m: m.f_int64 < -(2**31),
    "uint64-beyond-uint32": lambda m: m.f_uint64 > 2**32,
    "sint64-negative": lambda m: m.f_sint64 < 0,
    "sfixed32-negative": lambda m: m.f_sfixed32 < 0,
    "fixed64-large": lambda m: m.f_fixed64 > 2**40,
    "uint32-large": lambda m: m.f_uint32 > 2**16,
    "negative-enum": lambda m: m.colour == -2,
    "optional-set-to-zero": lambda m: m.HasField("maybe") and m.maybe == 0,
    "optional-absent": lambda m: not m.HasField("maybe"),
    "timestamp-before-1970": lambda m: m.HasField("at") and m.at.seconds < 0,
    "negative-duration": lambda m: m.HasField("took") and m.took.nanos < 0,
    "any-packed": lambda m: m.anything.type_url.endswith("StringValue"),
    "any-empty": lambda m: m.HasField("anything") and not m.anything.type_url,
    "text-and-bytes": lambda m: m.f_string != "" and m.f_bytes != b"",
    "repeated-scalars": lambda m: len(m.r_sint32) >= 2,
}
SHAPE_REACH = {
    "oneof-message-member": lambda m: m.WhichOneof("choice") == "choice_child",
    "map-of-messages": lambda m: len(m.by_id) > 0,
    "struct": lambda m: len(m.doc.fields) > 0,
    "nested-two-deep": lambda m: m.child.HasField("child"),
}


@pytest.mark.parametrize("condition", SCALAR_REACH.values(), ids=SCALAR_REACH.keys())
def test_all_kinds_scalars_reach_their_ranges(condition):
    reaches(S.messages(AllKinds, max_depth=0), condition)


@pytest.mark.parametrize("condition", SHAPE_REACH.values(), ids=SHAPE_REACH.keys())
def test_all_kinds_reach_every_shape(condition):
    reaches(S.messages(AllKinds, max_depth=2), condition)


def test_non_finite_floats_only_on_request():
    find(S.messages(wrappers_pb2.DoubleValue, allow_nan=True), lambda m: math.isnan(m.value))
    find(S.messages(wrappers_pb2.FloatValue, allow_infinity=True), lambda m: math.isinf(m.value))

    @FAST
    @given(S.messages(wrappers_pb2.DoubleValue), S.messages(wrappers_pb2.FloatValue))
    def check(d, f):
        assert math.isfinite(d.value) and math.isfinite(f.value)

    check()


@TINY
@given(S.messages(AllKinds, allow_nan=True, allow_infinity=True))
def test_nan_messages_still_round_trip_bytewise(message):
    wire_bytes = message.SerializeToString(deterministic=True)
    assert AllKinds.FromString(wire_bytes).SerializeToString(deterministic=True) == wire_bytes
