"""The simulated event store: streams (pages, snapshot, dedupe index) and dedupe keys.

A :class:`Stream` is one destination aggregate's history; the :class:`EventStore` holds them
all. Deferred dedupe entries (:class:`DedupeEntry`) are filed under :func:`source_key`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from google.protobuf import empty_pb2

from .. import wire
from ..errors import InvalidArgumentError
from ..validate import check_uint32, checked
from .covers import edition_name, stream_label
from .encode import length_delimited, varint

__all__ = [
    "DedupeEntry",
    "EventStore",
    "Stream",
    "check_sequence_arg",
    "full_key",
    "pack_entry",
    "pack_any",
    "prior_pages",
    "render_key",
    "source_key",
]


class DedupeEntry(NamedTuple):
    """Where the events stored under one deferred dedupe key sit, and who stored them.

    Streams keep entries packed into one int (:meth:`pack`): a storm keeps millions."""

    first: int
    count: int
    delivery: int
    index: int
    trigger: int = 0

    def pack(self) -> int | DedupeEntry:
        return pack_entry(self.first, self.count, self.delivery, self.index, self.trigger)

    @classmethod
    def unpack(cls, value: int | DedupeEntry) -> DedupeEntry:
        if isinstance(value, DedupeEntry):
            return value
        return cls(
            value & 0xFFFFFFFF,
            value >> 32 & 0xFFFF,
            value >> 64 & (1 << 40) - 1,
            value >> 48 & 0xFFFF,
            value >> 104,
        )


def pack_entry(
    first: int, count: int, delivery: int, index: int, trigger: int = 0
) -> int | DedupeEntry:
    """A :class:`DedupeEntry`'s fields packed into one int (what streams keep); an entry too
    wide to pack is kept as a :class:`DedupeEntry`. :meth:`DedupeEntry.unpack` reverses it."""
    if first >= 1 << 32 or count >= 1 << 16 or index >= 1 << 16 or delivery >= 1 << 40:
        return DedupeEntry(first, count, delivery, index, trigger)
    return first | count << 32 | index << 48 | delivery << 64 | trigger << 104


@dataclass
class Stream:
    """One simulated aggregate: its pages and the bookkeeping the oracle reads.

    Pages are kept serialized (a parsed ``EventPage`` costs ~10x its bytes in memory, and a
    storm keeps millions); :attr:`pages` parses them on demand. Append with :meth:`extend`
    only: it keeps ``next_sequence``, which the pipeline reads on every command.

    A history may start from a snapshot (:meth:`start_at`): ``given_destination(
    next_sequence=N)`` is modelled as an angzarr snapshot at ``N - 1`` with no pages, so a
    long history costs nothing. As in angzarr core (``EventBookRepository::get`` in
    ``src/repository/event_book/mod.rs`` loads the events after ``snapshot.sequence``, and
    ``calculate_next_sequence`` in ``src/proto_ext/books.rs`` gives last page + 1, else
    snapshot sequence + 1, else 0), the pages held are those after the snapshot."""

    domain: str
    root: bytes
    edition: str = ""
    raw_pages: list[bytes] = field(default_factory=list)
    applied: int = 0
    deduped: int = 0
    dedupe: dict[bytes, int | DedupeEntry] = field(default_factory=dict)
    external_ids: set[str] = field(default_factory=set)
    next_sequence: int = 0
    #: the sequence of the snapshot the history starts from, or ``None`` (no snapshot)
    snapshot_sequence: int | None = None
    _encoded: bytearray | None = field(default=None, repr=False)
    _encoded_count: int = field(default=0, repr=False)

    def start_at(self, next_sequence: int) -> None:
        """Give an empty stream a history of ``next_sequence`` events, held as a snapshot at
        ``next_sequence - 1`` (O(1) in ``next_sequence``; nothing when it is 0)."""
        if self.raw_pages or self.snapshot_sequence is not None:
            raise ValueError("start_at() needs an empty stream")  # an internal misuse
        if next_sequence:
            self.snapshot_sequence = next_sequence - 1
            self.next_sequence = next_sequence

    @property
    def has_history(self) -> bool:
        """Whether the stream holds any page or a snapshot."""
        return bool(self.raw_pages) or self.snapshot_sequence is not None

    @property
    def base(self) -> int:
        """The sequence of the first page held (the one after the snapshot, else 0)."""
        return 0 if self.snapshot_sequence is None else self.snapshot_sequence + 1

    def snapshot(self) -> Any:
        """The snapshot as an ``angzarr.Snapshot`` (its state an empty placeholder: the kit
        has no aggregate state to snapshot), or ``None``."""
        if self.snapshot_sequence is None:
            return None
        T = wire.types_pb2
        return T.Snapshot(sequence=self.snapshot_sequence, state=pack_any(empty_pb2.Empty()))

    def extend(self, pages: list[Any]) -> None:
        """Append persisted pages (their header sequences are final)."""
        if pages:
            self.raw_pages += [page.SerializeToString() for page in pages]
            self.next_sequence = pages[-1].header.sequence + 1

    def extend_raw(self, raw: list[bytes], next_sequence: int) -> None:
        """Append persisted pages already serialized; ``next_sequence`` is the one after the
        last of them."""
        self.raw_pages += raw
        self.next_sequence = next_sequence

    @property
    def pages(self) -> list[Any]:
        """Every page held (after the snapshot, if any), parsed (fresh objects)."""
        parse = wire.types_pb2.EventPage.FromString
        return [parse(raw) for raw in self.raw_pages]

    def page_range(self, first: int, count: int) -> list[Any]:
        """The ``count`` pages from sequence ``first`` on, parsed."""
        parse = wire.types_pb2.EventPage.FromString
        start = max(first - self.base, 0)
        return [parse(raw) for raw in self.raw_pages[start : start + count]]

    @property
    def label(self) -> str:
        return stream_label(self.domain, self.root, self.edition)

    def book(self, cover: Any | None = None) -> Any:
        """The stream as an ``EventBook`` (cover from ``cover`` or rebuilt; the snapshot,
        if any, and the pages after it)."""
        T = wire.types_pb2
        if cover is None:
            cover = T.Cover(domain=self.domain, root=T.UUID(value=self.root))
            if self.edition:
                cover.edition.name = self.edition
        return T.EventBook(
            cover=cover,
            snapshot=self.snapshot(),
            pages=self.pages,
            next_sequence=self.next_sequence,
        )

    def book_bytes(self) -> bytes:
        """The stream as a serialized ``EventBook`` (rebuilt cover, the snapshot if any),
        built from the stored page bytes without parsing them; the encoded pages are kept
        and extended incrementally, so business logic over a long history stays cheap."""
        if self._encoded is None:
            self._encoded, self._encoded_count = bytearray(), 0
        for raw in self.raw_pages[self._encoded_count :]:
            self._encoded += length_delimited(b"\x1a", raw)
        self._encoded_count = len(self.raw_pages)
        T = wire.types_pb2
        cover = T.Cover(domain=self.domain, root=T.UUID(value=self.root))
        if self.edition:
            cover.edition.name = self.edition
        snapshot = self.snapshot()
        head = length_delimited(b"\x0a", cover.SerializeToString())
        if snapshot is not None:
            head += length_delimited(b"\x12", snapshot.SerializeToString())
        tail = b"\x30" + varint(self.next_sequence) if self.next_sequence else b""
        return head + bytes(self._encoded) + tail


class EventStore:
    """All simulated streams, keyed by (domain, edition, root)."""

    def __init__(self) -> None:
        self.streams: dict[tuple[str, str, bytes], Stream] = {}
        #: the first main-timeline stream created in each domain
        self.first_in_domain: dict[str, Stream] = {}

    def stream(self, domain: str, root: bytes, edition: str = "") -> Stream:
        key = (domain, edition, root)
        found = self.streams.get(key)
        if found is None:
            found = self.streams[key] = Stream(domain, bytes(root), edition)
            if not edition:
                self.first_in_domain.setdefault(domain, found)
        return found

    def find(self, domain: str, root: bytes, edition: str = "") -> Stream | None:
        return self.streams.get((domain, edition, bytes(root)))


def source_key(deferred: Any) -> bytes:
    """A stream's dedupe key for an ``angzarr_deferred`` header: source (edition, domain,
    root) and source_seq (the target is the stream itself), packed into one bytes object
    (a storm keeps millions): 4-byte seq, edition, NUL, domain, NUL, root."""
    src = deferred.source
    return b"".join(
        (
            deferred.source_seq.to_bytes(4, "big"),
            edition_name(src).encode(),
            b"\x00",
            src.domain.encode(),
            b"\x00",
            src.root.value,
        )
    )


def full_key(stream: Stream, key: bytes) -> tuple:
    """The full dedupe key for reports: target (domain, edition, root), source (edition,
    domain, root) and source_seq."""
    s_edition, _, rest = key[4:].partition(b"\x00")
    s_domain, _, s_root = rest.partition(b"\x00")
    return (
        stream.domain,
        stream.edition,
        stream.root,
        s_edition.decode(),
        s_domain.decode(),
        s_root,
        int.from_bytes(key[:4], "big"),
    )


def render_key(key: tuple) -> str:
    """A dedupe key for reports."""
    t_domain, t_edition, t_root, s_edition, s_domain, s_root, seq = key
    return (
        f"source {stream_label(s_domain, s_root, s_edition)} seq {seq} -> target "
        f"{stream_label(t_domain, t_root, t_edition)}"
    )


def prior_pages(n: int) -> list[Any]:
    """Deprecated: ``n`` placeholder pages. A history of ``n`` events is a snapshot now
    (:meth:`Stream.start_at`); this stays for callers of the old name and refuses more
    pages than a test would ever write out (it allocates one page per event)."""
    n = check_sequence_arg(n, "n")
    if n > _MAX_PLACEHOLDER_PAGES:
        raise InvalidArgumentError(
            f"n: got {n}; expected at most {_MAX_PLACEHOLDER_PAGES} placeholder pages. Give "
            "the history as a snapshot instead: Stream.start_at(n)",
            details={"parameter": "n", "value": str(n)},
        )
    T = wire.types_pb2
    pages = []
    for i in range(n):
        page = T.EventPage()
        page.header.sequence = i
        page.event.CopyFrom(pack_any(empty_pb2.Empty()))
        pages.append(page)
    return pages


_MAX_PLACEHOLDER_PAGES = 10_000


def check_sequence_arg(value: Any, what: str) -> int:
    """A uint32 sequence argument (``what`` names the parameter); the check is
    :func:`angzarr_testkit.validate.check_uint32`, raised as ``InvalidArgumentError``."""
    return checked(InvalidArgumentError, check_uint32, value, what)


def pack_any(message: Any) -> Any:
    """``message`` packed into a ``google.protobuf.Any`` under the wire's type URL prefix."""
    from google.protobuf import any_pb2

    packed = any_pb2.Any()
    packed.Pack(message, type_url_prefix=wire.TYPE_URL_PREFIX)
    return packed
