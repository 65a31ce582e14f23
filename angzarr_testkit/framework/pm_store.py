"""Process-event persistence as angzarr core HEAD does it (the ``core`` profile).

Core's process-manager coordinator (``orchestrate_pm``) persists the events a PM returns in
``process_events`` straight into the event store, before it sends any command:

* the stream root is the book's cover root, else the nil UUID (16 zero bytes): a book without
  a cover (angzarr-client 0.3.1's ``ProcessManager`` returns one) goes to the nil-root stream
  that every workflow of the PM domain shares;
* every page keeps its own sequence (0 for a page without a sequence header); the store
  refuses a page below the stream's next sequence (``Sequence conflict: expected {base}, got
  {seq}``) and, in one book, two pages with one sequence (a duplicate key); gaps are accepted;
* a refused book is ``Rejected``: nothing of it is stored, no command is sent, and the trigger
  is nacked and requeued;
* the PM state of a workflow is fetched by correlation id: the stream that holds an event
  written with that correlation id, whole (other workflows' events included).

:class:`CorePMStore` keeps those streams for a :class:`~.pm.ProcessManagerHarness` under
``profile="core"``; the other profiles keep theirs in the harness (one stream per correlation
id, sequences filled in from the head).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import wire
from .aggregate import Stream, edition_name, stream_label

__all__ = ["NIL_ROOT", "CorePMStore", "PersistRejected", "page_sequence", "pm_source_seq"]

NIL_ROOT = bytes(16)
_MAIN = ("", "angzarr")


def page_sequence(page: Any) -> int:
    """A page's own sequence as core reads it: the explicit header sequence, else 0."""
    header = page.header
    return header.sequence if header.WhichOneof("sequence_type") == "sequence" else 0


def pm_source_seq(returned: list[Any], state: Stream | None) -> int:
    """The ``source_seq`` of a PM call's commands: the highest sequence of the returned
    process-event pages (0 for a page without a header), else of the PM state's pages, else
    0."""
    if returned:
        return max(page_sequence(p) for p in returned)
    if state is not None and state.raw_pages:
        return max(page_sequence(p) for p in state.pages)
    return 0


class PersistRejected(Exception):
    """The event store refused a PM's process events (core: ``Rejected`` -> ``Err``).

    Attributes:
        reason: the store's message (``Sequence conflict: expected 1, got 0``, ...).
        cause: ``"sequence-conflict"`` or ``"duplicate-sequence"``.
        stream: the label of the stream written to; ``root`` its root.
        expected, actual: the stream's next sequence and the refused page's sequence.
        headerless: the refused page had no sequence header (it was read as 0).
        others: the other workflows (correlation ids) whose events the stream holds.
    """

    def __init__(
        self,
        reason: str,
        *,
        cause: str,
        stream: str,
        root: bytes,
        expected: int,
        actual: int,
        headerless: bool,
        others: list[str],
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cause = cause
        self.stream = stream
        self.root = root
        self.expected = expected
        self.actual = actual
        self.headerless = headerless
        self.others = others


@dataclass
class CorePMStore:
    """The PM domain's streams in core: keyed by (edition, root), found by correlation id.

    Attributes:
        domain: the PM domain.
        streams: (edition, root) -> the stream; pages are kept as the PM returned them.
        correlations: correlation id -> the key of the first stream an event of that
            workflow was written to (core picks one of the streams holding the correlation id
            in no set order; the kit takes the first written).
        owners: (edition, root) -> the correlation ids that wrote to it, in order.
    """

    domain: str
    streams: dict[tuple[str, bytes], Stream] = field(default_factory=dict)
    correlations: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    owners: dict[tuple[str, bytes], list[str]] = field(default_factory=dict)

    def fetch(self, correlation_id: str) -> Stream | None:
        """The PM state core fetches for ``correlation_id`` (``None``: a new workflow)."""
        key = self.correlations.get(correlation_id)
        return None if key is None else self.streams[key]

    def state_cover(self, stream: Stream, correlation_id: str) -> Any:
        """The cover of a fetched PM state: the stream's, with the correlation id."""
        T = wire.types_pb2
        cover = T.Cover(
            domain=self.domain, root=T.UUID(value=stream.root), correlation_id=correlation_id
        )
        if stream.edition:
            cover.edition.name = stream.edition
        return cover

    def persist(self, book: Any, correlation_id: str) -> tuple[Stream | None, list[Any]]:
        """Write ``book``'s pages as core's event store does (nothing when it has none).

        Returns the stream written to and the pages as stored (as given: a page without a
        header stays so). Raises :class:`PersistRejected` when the store refuses the book
        (then nothing of it is stored)."""
        pages = [wire.types_pb2.EventPage.FromString(p.SerializeToString()) for p in book.pages]
        if not pages:
            return None, []
        root = NIL_ROOT
        edition = ""
        if book.HasField("cover"):
            cover = book.cover
            if len(cover.root.value) == 16:
                root = bytes(cover.root.value)
            name = edition_name(cover)
            edition = "" if name in _MAIN else name
        key = (edition, root)
        stream = self.streams.get(key)
        if stream is None:
            stream = Stream(self.domain, root, edition)
        base = stream.next_sequence
        seen: set[int] = set()
        for page in pages:
            seq = page_sequence(page)
            headerless = not page.header.WhichOneof("sequence_type")
            if seq < base or seq in seen:
                conflict = seq < base
                raise PersistRejected(
                    f"Sequence conflict: expected {base}, got {seq}"
                    if conflict
                    else f"Database error: duplicate key value (sequence {seq} twice in one "
                    f"book for {stream_label(self.domain, root, edition)})",
                    cause="sequence-conflict" if conflict else "duplicate-sequence",
                    stream=stream_label(self.domain, root, edition),
                    root=root,
                    expected=base,
                    actual=seq,
                    headerless=headerless,
                    others=[c for c in self.owners.get(key, []) if c != correlation_id],
                )
            seen.add(seq)
        # Stored by sequence (the store reads a stream back in sequence order); every new page
        # is above every held one, so the book's pages sort among themselves only.
        ordered = sorted(pages, key=page_sequence)
        stream.extend_raw([p.SerializeToString() for p in ordered], max(seen) + 1)
        self.streams[key] = stream
        self.correlations.setdefault(correlation_id, key)
        owners = self.owners.setdefault(key, [])
        if correlation_id not in owners:
            owners.append(correlation_id)
        return stream, ordered
