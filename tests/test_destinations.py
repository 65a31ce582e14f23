"""The Destinations contract (the seed API), driven the way a saga uses it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from angzarr_testkit import wire
from angzarr_testkit.destinations import UINT32_MAX, Destinations
from angzarr_testkit.errors import ClientError, InvalidArgumentError, codes
from angzarr_testkit.ids import uuid_for

T = wire.types_pb2


def command(n_pages: int = 2, with_headers: bool = False) -> T.CommandBook:
    book = T.CommandBook(cover=T.Cover(domain="inventory", root=T.UUID(value=uuid_for("sku-1"))))
    for i in range(n_pages):
        page = book.pages.add()
        page.command.Pack(T.UUID(value=bytes([i]) * 16))
        if with_headers:
            page.header.external_deferred.external_id = f"ext-{i}"
    return book


def test_sequences_domains_and_lookup():
    d = Destinations({"inventory": 5, "payment": 0})
    assert d.sequences == {"inventory": 5, "payment": 0}
    assert d.domains == ["inventory", "payment"]
    assert d.sequence_for("inventory") == 5
    assert d.sequence_for("payment") == 0
    assert d.sequence_for("shipping") is None
    assert d.has_domain("payment") and not d.has_domain("shipping")


def test_from_proto_copies_the_map():
    req = wire.saga_pb2.SagaHandleRequest(destination_sequences={"inventory": 7})
    d = Destinations.from_proto(req.destination_sequences)
    req.destination_sequences["inventory"] = 9
    req.destination_sequences["shipping"] = 1
    assert d.sequences == {"inventory": 7}


def test_from_proto_of_pm_request():
    req = wire.process_manager_pb2.ProcessManagerHandleRequest(destination_sequences={"a": 1})
    assert Destinations.from_proto(req.destination_sequences).sequence_for("a") == 1


def test_sequences_property_is_a_copy():
    d = Destinations({"inventory": 1})
    d.sequences["inventory"] = 99
    assert d.sequence_for("inventory") == 1


def test_stamp_command_stamps_every_page_in_place_and_chains():
    cmd = command(3)
    assert not cmd.pages[0].HasField("header")
    out = Destinations({"inventory": 12}).stamp_command(cmd, "inventory")
    assert out is cmd
    assert [p.header.WhichOneof("sequence_type") for p in cmd.pages] == ["sequence"] * 3
    assert [p.header.sequence for p in cmd.pages] == [12, 12, 12]


def test_stamp_command_replaces_another_header_kind():
    cmd = command(2, with_headers=True)
    Destinations({"inventory": 3}).stamp_command(cmd, "inventory")
    assert [p.header.WhichOneof("sequence_type") for p in cmd.pages] == ["sequence", "sequence"]


def test_stamp_command_sequence_zero_is_explicit():
    cmd = command(1)
    Destinations({"inventory": 0}).stamp_command(cmd, "inventory")
    assert cmd.pages[0].HasField("header")
    assert cmd.pages[0].header.WhichOneof("sequence_type") == "sequence"


def test_missing_domain_raises_coded_error_and_stamps_nothing():
    cmd = command(2)
    before = cmd.SerializeToString()
    with pytest.raises(InvalidArgumentError) as info:
        Destinations({"inventory": 1}).stamp_command(cmd, "shipping")
    err = info.value
    assert isinstance(err, ClientError)
    assert err.code == codes.MISSING_DESTINATION_SEQUENCE == "MISSING_DESTINATION_SEQUENCE"
    assert err.details["domain"] == "shipping"
    assert "output domain" in err.message
    assert "shipping" in str(err)
    assert cmd.SerializeToString() == before


def test_stamp_command_rejects_non_command():
    with pytest.raises(InvalidArgumentError, match="CommandBook"):
        Destinations({"inventory": 1}).stamp_command("not a book", "inventory")


def test_deferred_header_copies_cover():
    cover = T.Cover(domain="order", root=T.UUID(value=uuid_for("order-1")), correlation_id="c-1")
    header = Destinations.deferred_header(cover, 4)
    assert isinstance(header, T.PageHeader)
    assert header.WhichOneof("sequence_type") == "angzarr_deferred"
    assert header.angzarr_deferred.source == cover
    assert header.angzarr_deferred.source_seq == 4
    header.angzarr_deferred.source.domain = "changed"
    assert cover.domain == "order"
    cover.correlation_id = "c-2"
    assert header.angzarr_deferred.source.correlation_id == "c-1"


class _Wrapper:
    def __init__(self, proto):
        self.proto = proto


def test_deferred_header_accepts_wrappers_and_books():
    cover = T.Cover(domain="order", root=T.UUID(value=uuid_for("o")))
    assert Destinations.deferred_header(_Wrapper(cover), 1).angzarr_deferred.source == cover
    book = T.EventBook(cover=cover)
    assert Destinations.deferred_header(book, 2).angzarr_deferred.source == cover


@pytest.mark.parametrize("bad", [-1, UINT32_MAX + 1, 2**40, 1.5, "3", True])
def test_deferred_header_rejects_non_uint32(bad):
    with pytest.raises(InvalidArgumentError) as info:
        Destinations.deferred_header(T.Cover(domain="order"), bad)
    assert info.value.code == codes.SEQUENCE_OUT_OF_RANGE


def test_deferred_header_rejects_non_cover():
    with pytest.raises(InvalidArgumentError, match="Cover"):
        Destinations.deferred_header({"domain": "order"}, 1)


@pytest.mark.parametrize("bad", [{"inventory": -1}, {"inventory": 2**32}, {"": 1}, [("a", 1)]])
def test_constructor_rejects_bad_maps(bad):
    with pytest.raises(InvalidArgumentError):
        Destinations(bad)


@given(
    st.dictionaries(
        st.from_regex(r"[a-z_][a-z0-9_-]{0,10}", fullmatch=True),
        st.integers(0, UINT32_MAX),
        max_size=5,
    ),
    st.integers(1, 4),
)
def test_stamp_is_total_over_declared_domains(seqs, n_pages):
    d = Destinations(seqs)
    for domain, seq in seqs.items():
        cmd = command(n_pages)
        d.stamp_command(cmd, domain)
        assert {p.header.sequence for p in cmd.pages} == {seq}
        assert T.CommandBook.FromString(cmd.SerializeToString()) == cmd
