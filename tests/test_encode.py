"""The hand-built encodings equal the protobuf library's."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from angzarr_testkit import wire
from angzarr_testkit.framework.encode import (
    echo_page_bytes,
    event_book_bytes,
    saga_request_bytes,
    varint,
)
from angzarr_testkit.strategies import covers, domains, messages

T, S, E = wire.types_pb2, wire.saga_pb2, wire.examples_pb2
UINT32 = st.integers(0, 2**32 - 2)


@given(st.integers(1, 2**64 - 1))
def test_varint_matches_protobuf(value):
    # PayloadReference.original_size is uint64 field 4: key 0x20, then the varint.
    assert T.PayloadReference(original_size=value).SerializeToString() == b"\x20" + varint(value)


@given(covers(), UINT32, messages(E.OrderCreated))
def test_event_book_bytes(cover, seq, event):
    book = T.EventBook(cover=cover, next_sequence=seq + 1)
    page = book.pages.add()
    page.header.sequence = seq
    page.event.Pack(event, type_url_prefix=wire.TYPE_URL_PREFIX)
    built = event_book_bytes(
        cover.SerializeToString(), seq, page.event.type_url, event.SerializeToString()
    )
    assert built == book.SerializeToString()


@given(covers(), st.dictionaries(domains(), UINT32, max_size=4))
def test_saga_request_bytes(cover, seqs):
    book = T.EventBook(cover=cover)
    expected = S.SagaHandleRequest(source=book, destination_sequences=seqs)
    parsed = S.SagaHandleRequest.FromString(saga_request_bytes(book.SerializeToString(), seqs))
    assert parsed == expected


@given(st.lists(messages(E.InventoryRestocked), max_size=5), st.booleans())
def test_stream_book_bytes_equal_the_book(events, edition):
    from angzarr_testkit.framework.aggregate import Stream

    stream = Stream("inventory", bytes(16), "v2" if edition else "")
    pages = []
    for i, event in enumerate(events):
        page = T.EventPage()
        page.header.sequence = i
        page.event.Pack(event)
        pages.append(page)
    stream.extend(pages[:2])
    stream.book_bytes()  # the encoding is extended incrementally
    stream.extend(pages[2:])
    assert T.EventBook.FromString(stream.book_bytes()) == stream.book()


@given(UINT32, st.one_of(st.just(None), messages(E.ReserveInventory)))
def test_echo_page_bytes(seq, command):
    from google.protobuf import any_pb2

    event = any_pb2.Any()
    if command is not None:
        event.Pack(command, type_url_prefix=wire.TYPE_URL_PREFIX)
    page = T.EventPage(event=event)
    page.header.sequence = seq
    assert echo_page_bytes(seq, event.SerializeToString()) == page.SerializeToString()


@given(
    st.integers(0, 2**33),
    st.integers(0, 2**17),
    st.integers(0, 2**41),
    st.integers(0, 2**17),
    st.integers(0, 2**20),
)
def test_dedupe_entries_pack_and_unpack(first, count, delivery, index, trigger):
    from angzarr_testkit.framework.store import DedupeEntry, pack_entry

    entry = DedupeEntry(first, count, delivery, index, trigger)
    assert DedupeEntry.unpack(pack_entry(first, count, delivery, index, trigger)) == entry
    assert DedupeEntry.unpack(entry.pack()) == entry
