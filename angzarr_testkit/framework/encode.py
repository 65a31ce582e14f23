"""Hand-built protobuf encodings for the storm's hot path.

Building a ``SagaHandleRequest`` message only to serialize it copies the trigger book twice;
the wire format of these few envelopes is simple enough to assemble from bytes the storm
already has. ``tests/test_encode.py`` proves every function byte-identical to (or, for maps,
parse-equal with) the protobuf library's own serialization.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "echo_page_bytes",
    "event_book_bytes",
    "length_delimited",
    "saga_request_bytes",
    "varint",
]

_SMALL = [bytes([i]) for i in range(128)]
# The encoded head of a destination_sequences entry per domain (key field + the domain),
# and of an Any per type URL: both repeat on every delivery. Bounded: cleared when full.
_ENTRY_HEADS: dict[str, bytes] = {}
_TYPE_HEADS: dict[str, bytes] = {}
_CACHE_LIMIT = 4096


def varint(value: int) -> bytes:
    """Base-128 varint of a non-negative int."""
    if value < 128:
        return _SMALL[value]
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def length_delimited(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: ``tag`` (already the encoded key) + length + payload."""
    n = len(payload)
    return tag + (_SMALL[n] if n < 128 else varint(n)) + payload


def _cached(cache: dict[str, bytes], text: str) -> bytes:
    """``text`` as a length-delimited field 1 (``0x0a``), memoised in ``cache``."""
    head = cache.get(text)
    if head is None:
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        head = cache[text] = length_delimited(b"\x0a", text.encode())
    return head


def saga_request_bytes(book: bytes, sequences: Mapping[str, int]) -> bytes:
    """``SagaHandleRequest{source: book, destination_sequences: sequences}`` on the wire."""
    out = length_delimited(b"\x0a", book)
    for domain, seq in sequences.items():
        entry = _cached(_ENTRY_HEADS, domain) + b"\x10" + varint(seq)
        out += length_delimited(b"\x22", entry)
    return out


def event_book_bytes(cover: bytes, sequence: int, type_url: str, value: bytes) -> bytes:
    """A one-page ``EventBook``: ``cover`` (serialized ``Cover``), a page whose header has an
    explicit ``sequence`` and whose event is ``Any{type_url, value}``, ``next_sequence`` =
    ``sequence + 1``."""
    any_bytes = _cached(_TYPE_HEADS, type_url)
    if value:
        any_bytes += length_delimited(b"\x12", value)
    page = echo_page_bytes(sequence, any_bytes)
    return (
        length_delimited(b"\x0a", cover)
        + length_delimited(b"\x1a", page)
        + b"\x30"
        + varint(sequence + 1)
    )


def echo_page_bytes(sequence: int, event: bytes) -> bytes:
    """An ``EventPage`` with an explicit header ``sequence`` and ``event`` (a serialized
    ``Any``, possibly empty): a trigger's page, and the page the default business logic
    persists per command page."""
    return length_delimited(b"\x0a", b"\x08" + varint(sequence)) + length_delimited(b"\x1a", event)
