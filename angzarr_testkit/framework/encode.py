"""Hand-built protobuf encodings for the storm's hot path.

Building a ``SagaHandleRequest`` message only to serialize it copies the trigger book twice;
the wire format of these few envelopes is simple enough to assemble from bytes the storm
already has. ``tests/test_encode.py`` proves every function byte-identical to (or, for maps,
parse-equal with) the protobuf library's own serialization.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["event_book_bytes", "length_delimited", "saga_request_bytes", "varint"]

_SMALL = [bytes([i]) for i in range(128)]


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
    return tag + varint(len(payload)) + payload


def saga_request_bytes(book: bytes, sequences: Mapping[str, int]) -> bytes:
    """``SagaHandleRequest{source: book, destination_sequences: sequences}`` on the wire."""
    parts = [length_delimited(b"\x0a", book)]
    for domain, seq in sequences.items():
        entry = length_delimited(b"\x0a", domain.encode()) + b"\x10" + varint(seq)
        parts.append(length_delimited(b"\x22", entry))
    return b"".join(parts)


def event_book_bytes(cover: bytes, sequence: int, type_url: str, value: bytes) -> bytes:
    """A one-page ``EventBook``: ``cover`` (serialized ``Cover``), a page whose header has an
    explicit ``sequence`` and whose event is ``Any{type_url, value}``, ``next_sequence`` =
    ``sequence + 1``."""
    any_bytes = length_delimited(b"\x0a", type_url.encode())
    if value:
        any_bytes += length_delimited(b"\x12", value)
    header = length_delimited(b"\x0a", b"\x08" + varint(sequence))
    page = header + length_delimited(b"\x1a", any_bytes)
    return (
        length_delimited(b"\x0a", cover)
        + length_delimited(b"\x1a", page)
        + b"\x30"
        + varint(sequence + 1)
    )
