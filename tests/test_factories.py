"""factory-boy factories: consistent envelopes, settable fields, clear errors on bad input."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from angzarr_testkit import wire
from angzarr_testkit.errors import InvalidArgumentError, codes
from angzarr_testkit.factories import (
    DOMAIN_PATTERN,
    AngzarrDeferredSequenceFactory,
    CommandBookFactory,
    CommandPageFactory,
    CoverFactory,
    DeferredPageHeaderFactory,
    EventBookFactory,
    EventPageFactory,
    NotificationFactory,
    ProcessManagerHandleRequestFactory,
    RejectionNotificationFactory,
    SagaHandleRequestFactory,
    UUIDFactory,
    pm_root,
)
from angzarr_testkit.ids import uuid_for
from angzarr_testkit.strategies import example_commands, example_events

T = wire.types_pb2
EX = wire.examples_pb2
PREFIX = wire.TYPE_URL_PREFIX

# Hypothesis checks whether a generated object's repr parses as Python; a protobuf repr with
# backslash escapes makes that check emit this warning (harmless, inside a suppress()).
pytestmark = pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning")
FAST = settings(max_examples=30, deadline=None)

ALL_FACTORIES = [
    UUIDFactory,
    CoverFactory,
    EventPageFactory,
    EventBookFactory,
    CommandPageFactory,
    CommandBookFactory,
    AngzarrDeferredSequenceFactory,
    DeferredPageHeaderFactory,
    SagaHandleRequestFactory,
    ProcessManagerHandleRequestFactory,
    NotificationFactory,
    RejectionNotificationFactory,
]


def sequences_of(book) -> list[int]:
    return [p.header.sequence for p in book.pages]


def assert_contiguous_book(book, start: int) -> None:
    seqs = sequences_of(book)
    assert seqs == list(range(start, start + len(seqs)))
    assert all(p.header.WhichOneof("sequence_type") == "sequence" for p in book.pages)
    if hasattr(book, "next_sequence"):
        assert book.next_sequence == (seqs[-1] + 1 if seqs else start)


# ---------------------------------------------------------------------------------------------
# defaults
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("factory_class", ALL_FACTORIES, ids=lambda f: f.__name__)
def test_every_factory_builds_its_model_in_the_active_wire_classes(factory_class):
    built = factory_class()
    assert isinstance(built, factory_class._meta.model)
    assert factory_class.create().DESCRIPTOR is built.DESCRIPTOR
    # Everything built survives the wire.
    again = type(built).FromString(built.SerializeToString())
    assert again == built


def test_model_classes_are_the_wire_modules_classes():
    assert CoverFactory._meta.model is wire.types_pb2.Cover
    assert SagaHandleRequestFactory._meta.model is wire.saga_pb2.SagaHandleRequest
    assert (
        ProcessManagerHandleRequestFactory._meta.model
        is wire.process_manager_pb2.ProcessManagerHandleRequest
    )


def test_default_event_book_is_two_example_events_from_zero():
    book = EventBookFactory()
    assert book.cover.domain == "order"
    assert len(book.cover.root.value) == 16
    assert book.cover.correlation_id
    assert_contiguous_book(book, 0)
    assert [p.event.type_url for p in book.pages] == [
        PREFIX + "testkit_examples.order.OrderCreated",
        PREFIX + "testkit_examples.order.PaymentCharged",
    ]
    assert book.next_sequence == 2


def test_default_command_book_is_one_reserve_inventory_at_zero():
    book = CommandBookFactory()
    assert book.cover.domain == "inventory"
    assert_contiguous_book(book, 0)
    assert [p.command.type_url for p in book.pages] == [
        PREFIX + "testkit_examples.order.ReserveInventory"
    ]


def test_roots_are_deterministic_and_distinct():
    UUIDFactory.reset_sequence()
    first = [CoverFactory().root.value for _ in range(3)]
    UUIDFactory.reset_sequence()
    again = [EventBookFactory().cover.root.value for _ in range(3)]
    assert first == again == [uuid_for(f"root-{n}") for n in range(3)]
    assert len(set(first)) == 3


def test_every_cover_draws_from_one_root_counter():
    roots = [
        CoverFactory().root.value,
        EventBookFactory().cover.root.value,
        CommandBookFactory().cover.root.value,
        UUIDFactory().value,
    ]
    assert len(set(roots)) == len(roots)


# ---------------------------------------------------------------------------------------------
# invariants, as properties
# ---------------------------------------------------------------------------------------------


@FAST
@given(
    start=st.integers(0, 10_000),
    events=st.lists(example_events(), max_size=6),
    domain=st.sampled_from(["order", "inventory", "_x-1"]),
)
def test_event_book_pages_are_contiguous_from_start(start, events, domain):
    book = EventBookFactory(events=events, start=start, domain=domain)
    assert_contiguous_book(book, start)
    assert book.cover.domain == domain
    assert len(book.pages) == len(events)
    for page, event in zip(book.pages, events, strict=True):
        assert page.event.type_url == PREFIX + event.DESCRIPTOR.full_name
        assert wire.unpack(page.event, type(event)) == event
        # pages carry no cover: the book's is the only one.
        assert "cover" not in page.DESCRIPTOR.fields_by_name


@FAST
@given(
    start=st.integers(0, 10_000),
    commands=st.lists(example_commands(), min_size=1, max_size=4),
)
def test_command_book_pages_are_contiguous_from_start(start, commands):
    book = CommandBookFactory(commands=commands, start=start)
    assert_contiguous_book(book, start)
    assert all(p.command.type_url.startswith(PREFIX) for p in book.pages)


@FAST
@given(start=st.integers(0, 100), n=st.integers(0, 4))
def test_given_pages_are_renumbered_by_the_book(start, n):
    pages = [EventPageFactory(sequence=7) for _ in range(n)]
    book = EventBookFactory(pages=pages, start=start)
    assert_contiguous_book(book, start)
    assert all(p.header.sequence == 7 for p in pages), "the caller's pages are not mutated"


def test_one_root_and_one_correlation_id_per_book():
    root = uuid_for("order-42")
    book = EventBookFactory(root=root, correlation_id="corr-1", domain="order")
    assert book.cover.root.value == root
    assert book.cover.correlation_id == "corr-1"
    assert [f.name for f, _ in book.ListFields()].count("cover") == 1


def test_deferred_pages_keep_their_header_and_take_no_sequence():
    fact = T.EventPage(
        header=T.PageHeader(external_deferred=T.ExternalDeferredSequence(external_id="x-1")),
        event=wire.pack(EX.InventoryRestocked(sku="s", quantity=1)),
    )
    book = EventBookFactory(pages=[fact, EventPageFactory()], start=5)
    assert book.pages[0].header.external_deferred.external_id == "x-1"
    assert book.pages[1].header.sequence == 5
    assert book.next_sequence == 6
    facts_only = EventBookFactory(pages=[fact], start=3)
    assert facts_only.next_sequence == 3


def test_empty_book_next_sequence_is_start():
    assert EventBookFactory(events=[], start=4).next_sequence == 4
    assert EventBookFactory(pages=[]).next_sequence == 0


def test_snapshot_moves_the_default_start():
    snap = T.Snapshot(sequence=9, state=wire.pack(EX.OrderCreated(order_id="s")))
    book = EventBookFactory(snapshot=snap, events=[EX.OrderShipped(order_id="s")])
    assert book.snapshot.sequence == 9
    assert sequences_of(book) == [10]
    assert book.next_sequence == 11


# ---------------------------------------------------------------------------------------------
# message and repeated fields are settable
# ---------------------------------------------------------------------------------------------


def test_cover_root_accepts_bytes_uuid_message_uuid_and_text():
    raw = uuid_for("sku-1")
    for given_root in (
        raw,
        bytearray(raw),
        T.UUID(value=raw),
        uuid.UUID(bytes=raw),
        str(uuid.UUID(bytes=raw)),
    ):
        assert CoverFactory(root=given_root).root.value == raw


def test_cover_edition_accepts_a_name_or_a_message():
    assert CoverFactory(edition="v2").edition.name == "v2"
    ed = T.Edition(name="b", divergences=[T.DomainDivergence(domain="order", sequence=3)])
    assert CoverFactory(edition=ed).edition == ed
    assert not CoverFactory().HasField("edition")


def test_command_book_pages_are_settable_and_copied():
    pages = [CommandPageFactory(command=EX.ShipOrder(order_id="o")), CommandPageFactory()]
    book = CommandBookFactory(pages=pages, start=2, merge_strategy="MERGE_STRICT")
    assert sequences_of(book) == [2, 3]
    assert {p.merge_strategy for p in book.pages} == {T.MERGE_STRICT}
    assert wire.unpack(book.pages[0].command, EX.ShipOrder).order_id == "o"
    book.pages[0].header.sequence = 99
    assert pages[0].header.sequence == 0


def test_command_book_deferred_and_unstamped():
    source = CoverFactory(domain="order")
    deferred = DeferredPageHeaderFactory(source=source, source_seq=3)
    book = CommandBookFactory(
        commands=[EX.ReserveInventory(), EX.ChargePayment()], deferred=deferred
    )
    for page in book.pages:
        assert page.header.angzarr_deferred.source == source
        assert page.header.angzarr_deferred.source_seq == 3
    seq = T.AngzarrDeferredSequence(source=source, source_seq=1)
    assert CommandBookFactory(deferred=seq).pages[0].header.angzarr_deferred == seq
    unstamped = CommandBookFactory(stamped=False)
    assert not unstamped.pages[0].HasField("header")


def test_saga_request_destination_sequences_and_sub_factory_fields():
    req = SagaHandleRequestFactory(
        destination_sequences={"inventory": 4},
        source__events=[EX.OrderCreated(order_id="o-1")],
        source__domain="order",
        sync_mode="SYNC_MODE_SIMPLE",
    )
    assert dict(req.destination_sequences) == {"inventory": 4}
    assert len(req.source.pages) == 1
    assert req.sync_mode == T.SYNC_MODE_SIMPLE
    book = EventBookFactory(start=7)
    assert SagaHandleRequestFactory(source=book).source == book


def test_pm_request_process_events_build_a_consistent_state():
    trigger = EventBookFactory(correlation_id=str(uuid.UUID(bytes=uuid_for("wf-1"))))
    req = ProcessManagerHandleRequestFactory(
        trigger=trigger,
        process_events=[EX.OrderCreated(order_id="o")],
        pm_domain="fulfillment",
        destination_sequences={"inventory": 0, "payment": 2},
    )
    state = req.process_state
    assert state.cover.domain == "fulfillment"
    assert state.cover.correlation_id == trigger.cover.correlation_id
    assert state.cover.root.value == uuid_for("wf-1") == pm_root(trigger.cover.correlation_id)
    assert sequences_of(state) == [0]
    assert not ProcessManagerHandleRequestFactory().HasField("process_state")
    assert pm_root("not-a-uuid") == bytes(16)


def test_notification_fields_are_settable():
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    note = NotificationFactory(
        metadata={"k": "v"}, sent_at=when, payload=EX.OrderShipped(order_id="o")
    )
    assert dict(note.metadata) == {"k": "v"}
    assert note.sent_at.ToDatetime(tzinfo=dt.timezone.utc) == when
    assert note.payload.type_url == PREFIX + "testkit_examples.order.OrderShipped"
    default = NotificationFactory()
    assert default.payload.type_url == PREFIX + "angzarr.RejectionNotification"
    rejection = RejectionNotificationFactory(rejected_command=CommandBookFactory(domain="payment"))
    assert rejection.rejected_command.cover.domain == "payment"


def test_page_mappings_and_any_payloads():
    packed = wire.pack(EX.OrderShipped(order_id="x"))
    book = EventBookFactory(events=[packed, {"event": EX.OrderCancelled(order_id="x")}])
    assert book.pages[0].event == packed
    assert book.pages[1].event.type_url.endswith("OrderCancelled")
    assert sequences_of(book) == [0, 1]


def test_validate_false_builds_malformed_envelopes():
    cover = CoverFactory(root=b"short", domain="Not A Domain", validate=False)
    assert cover.root.value == b"short" and cover.domain == "Not A Domain"
    gap = EventBookFactory(
        pages=[EventPageFactory(sequence=3), EventPageFactory(sequence=9)],
        next_sequence=1,
        validate=False,
    )
    assert sequences_of(gap) == [3, 9] and gap.next_sequence == 1
    no_cover = EventBookFactory(cover=None, validate=False)
    assert not no_cover.HasField("cover")


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------

BAD = [
    ("root-length", lambda: CoverFactory(root=b"short"), "root"),
    ("root-type", lambda: CoverFactory(root=12), "root"),
    ("root-text", lambda: CoverFactory(root="not-a-uuid"), "root"),
    ("uuid-length", lambda: UUIDFactory(value=b"x" * 15), "value"),
    ("uuid-missing", lambda: UUIDFactory(value=None), "value"),
    ("wrong-scalar", lambda: CoverFactory(correlation_id=5), "correlation_id"),
    ("wrong-scalar-unvalidated", lambda: CoverFactory(domain=5, validate=False), "domain"),
    ("page-field", lambda: EventPageFactory(committed="yes"), "committed"),
    ("domain", lambda: CoverFactory(domain="Order"), "domain"),
    ("book-domain", lambda: EventBookFactory(domain="has space"), "domain"),
    ("book-root", lambda: CommandBookFactory(root=b"\x00" * 17), "root"),
    ("negative-start", lambda: EventBookFactory(start=-1), "start"),
    ("command-start", lambda: CommandBookFactory(start=-3), "start"),
    ("start-overflow", lambda: EventBookFactory(start=2**32 - 1), "start"),
    ("next-sequence", lambda: EventBookFactory(next_sequence=99), "next_sequence"),
    ("events-and-pages", lambda: EventBookFactory(events=[], pages=[]), "events"),
    ("not-a-list", lambda: EventBookFactory(events=EX.OrderCreated()), "events"),
    ("not-a-payload", lambda: EventBookFactory(events=[T.Cover()]), "events[0]"),
    ("not-a-message", lambda: CommandBookFactory(commands=["x"]), "commands[0]"),
    ("page-sequence", lambda: EventPageFactory(sequence=2**32), "sequence"),
    ("merge", lambda: CommandBookFactory(merge_strategy="MERGE_NOPE"), "merge_strategy"),
    ("deferred", lambda: CommandBookFactory(deferred=T.PageHeader(sequence=1)), "deferred"),
    ("source-seq", lambda: DeferredPageHeaderFactory(source_seq=-1), "source_seq"),
    ("unknown", lambda: CoverFactory(colour="red"), "colour"),
    (
        "destination-value",
        lambda: SagaHandleRequestFactory(destination_sequences={"inventory": -1}),
        "destination_sequences['inventory']",
    ),
    (
        "destination-domain",
        lambda: SagaHandleRequestFactory(destination_sequences={"Bad Domain": 1}),
        "destination_sequences['Bad Domain']",
    ),
    (
        "destination-type",
        lambda: SagaHandleRequestFactory(destination_sequences=[1]),
        "destination_sequences",
    ),
    (
        "pm-state",
        lambda: ProcessManagerHandleRequestFactory(process_state=EventBookFactory()),
        "process_state",
    ),
    ("wrong-message", lambda: EventBookFactory(cover=T.UUID()), "cover"),
]


@pytest.mark.parametrize(("case", "make", "param"), BAD, ids=[b[0] for b in BAD])
def test_bad_params_raise_invalid_argument_naming_the_param(case, make, param):
    with pytest.raises(InvalidArgumentError) as info:
        make()
    err = info.value
    assert err.details["param"] == param
    assert param in err.message
    assert err.code in (codes.INVALID_ARGUMENT, codes.SEQUENCE_OUT_OF_RANGE)


def test_sequence_out_of_range_has_its_code():
    with pytest.raises(InvalidArgumentError) as info:
        EventPageFactory(sequence=-1)
    assert info.value.code == codes.SEQUENCE_OUT_OF_RANGE


def test_domain_pattern_is_the_documented_one():
    assert DOMAIN_PATTERN.fullmatch("order")
    assert DOMAIN_PATTERN.fullmatch("_a-1")
    assert not DOMAIN_PATTERN.fullmatch("1abc")
    assert not DOMAIN_PATTERN.fullmatch("a" * 65)
