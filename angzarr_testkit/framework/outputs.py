"""Comparing a handler's outputs across deliveries of one trigger (the determinism check).

angzarr redelivers a trigger with a fresh ``destination_sequences`` map (the coordinator reads
each destination's head again), so a correct saga's explicit sequences may move between
deliveries; a saga that reuses what it stamped the first time (a cache) keeps them. Neither is
nondeterminism. What the oracle compares is everything else a handler returns: covers,
payloads (unpacked when their type is known, so field order and map order do not matter),
deferred headers, merge strategies, facts and process events; plus each explicit command-page
sequence, which must either be the same number or be derived from the map the same way (the
same offset from that delivery's map value for the command's domain).

:func:`fingerprint` is the per-delivery fast path (one digest and the sequences);
:func:`first_difference` is the slow path, run only when fingerprints differ, which decides
whether the outputs really differ and names the first field that does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import symbol_database, text_format

from ..ids import root_str

__all__ = [
    "Difference",
    "SeqInfo",
    "describe_sequence",
    "explicit_page",
    "field_pattern",
    "fingerprint",
    "first_difference",
    "pack_seqs",
    "sequences_differ",
    "unpack_seqs",
]

_MASK64 = (1 << 64) - 1
_MASK66 = (1 << 66) - 1
_COMMAND_SEQUENCE_RE = re.compile(r"commands\[\d+\]\.pages\[\d+\]\.header\.sequence")
#: Per explicit command page, in (command, page) order: (sequence, sequence - map value of
#: the command's domain, or ``None`` when the map has no value for it).
SeqInfo = tuple[tuple[int, int | None], ...]


@dataclass(frozen=True)
class Difference:
    """The first field in which two outputs of one trigger differ.

    Attributes:
        path: where, e.g. ``commands[0].pages[0].command<ReserveInventory>.quantity``.
        first: the value in the first delivery's output (rendered).
        this: the value in this delivery's output (rendered).
    """

    path: str
    first: str
    this: str

    def __str__(self) -> str:
        return f"{self.path}: {self.first} vs {self.this}"


def fingerprint(
    response: Any, response_bytes: bytes, seqs: Mapping[str, int]
) -> tuple[int, SeqInfo]:
    """A 64-bit digest of the output with every explicit command-page sequence set to 0,
    and those sequences (:data:`SeqInfo`).

    An output with explicit pages is always re-serialized (even when its sequences are 0
    already) and one without never is, so two outputs of one shape are digested alike. The
    envelope (``SagaResponse``, ``CommandBook``, ``EventBook``) has no map fields, so its
    serialization is canonical either way; payloads stay as the handler packed them, and the
    slow path (:func:`first_difference`) unpacks them.
    """
    # Fast path: most outputs have no explicit command-page sequence (deferred headers, or
    # a saga that emits nothing), and one cheap scan says so.
    for command in response.commands:
        for page in command.pages:
            if page.header.WhichOneof("sequence_type") == "sequence":
                return _explicit_fingerprint(response, response_bytes, seqs)
    return hash(response_bytes) & _MASK64, ()


def _explicit_fingerprint(
    response: Any, response_bytes: bytes, seqs: Mapping[str, int]
) -> tuple[int, SeqInfo]:
    """:func:`fingerprint` of an output with at least one explicit command-page sequence."""
    info: list[tuple[int, int | None]] = []
    normalized = type(response).FromString(response_bytes)
    for c_index, command in enumerate(response.commands):
        base = None
        for p_index, page in enumerate(command.pages):
            header = page.header
            if header.WhichOneof("sequence_type") != "sequence":
                continue
            if base is None:
                base = seqs.get(command.cover.domain)
            raw = header.sequence
            info.append((raw, None if base is None else raw - base))
            if raw:
                normalized.commands[c_index].pages[p_index].header.sequence = 0
    return hash(normalized.SerializeToString()) & _MASK64, tuple(info)


def sequences_differ(first: SeqInfo, this: SeqInfo) -> int | None:
    """The index of the first explicit page whose sequences really differ (not the same
    number, nor the same offset from each delivery's map), or ``None``. Both come from
    outputs with equal digests, hence the same pages."""
    for i, ((raw_a, delta_a), (raw_b, delta_b)) in enumerate(zip(first, this, strict=False)):
        if raw_a != raw_b and (delta_a is None or delta_a != delta_b):
            return i
    return None


def explicit_page(response: Any, index: int) -> tuple[int, int]:
    """(command index, page index) of the ``index``-th explicit command page."""
    n = 0
    for c_index, command in enumerate(response.commands):
        for p_index, page in enumerate(command.pages):
            if page.HasField("header") and page.header.WhichOneof("sequence_type") == "sequence":
                if n == index:
                    return c_index, p_index
                n += 1
    return -1, -1


def describe_sequence(raw: int, delta: int | None) -> str:
    """A sequence as the saga stamped it, with its relation to the map."""
    if delta is None:
        return f"{raw} (domain not in the map)"
    if delta == 0:
        return f"{raw} (the map's value)"
    return f"{raw} (map {'+' if delta > 0 else '-'} {abs(delta)})"


def first_difference(
    first: Any, this: Any, first_seqs: SeqInfo, this_seqs: SeqInfo
) -> Difference | None:
    """The first field (in field-number order, commands first) in which ``this`` output
    really differs from ``first``; ``None`` when they differ only in how they were
    serialized or in explicit sequences that follow the map the same way."""
    walker = _Walker(first_seqs, this_seqs)
    return walker.message(first, this, "")


def pack_seqs(info: SeqInfo) -> int:
    """Explicit sequences as one int, 66 bits a page: the sequence (32) and the offset from
    the map (34: 0 for none, else offset + 2**33)."""
    packed = 0
    for raw, delta in reversed(info):
        packed = (
            packed << 66 | (raw & 0xFFFFFFFF) << 34 | (0 if delta is None else delta + (1 << 33))
        )
    return packed


def unpack_seqs(packed: int, count: int) -> SeqInfo:
    out = []
    for _ in range(count):
        chunk, packed = packed & _MASK66, packed >> 66
        enc = chunk & ((1 << 34) - 1)
        out.append((chunk >> 34, None if enc == 0 else enc - (1 << 33)))
    return tuple(out)


def field_pattern(path: str) -> str:
    """A field path with its indices masked (``commands[N].pages[N].header``): the defect."""
    return re.sub(r"\[[^\]]*\]", "[N]", path)


class _Walker:
    def __init__(self, first_seqs: SeqInfo, this_seqs: SeqInfo) -> None:
        self.first_seqs = first_seqs
        self.this_seqs = this_seqs
        self.explicit = 0  # explicit command pages seen so far (both sides in step)

    def message(self, a: Any, b: Any, path: str) -> Difference | None:
        if a.DESCRIPTOR.full_name == "google.protobuf.Any":
            return self.any(a, b, path)
        fields = {fd.number: fd for fd, _ in a.ListFields()}
        fields.update({fd.number: fd for fd, _ in b.ListFields()})
        for number in sorted(fields):
            fd = fields[number]
            where = f"{path}.{fd.name}" if path else fd.name
            found = self.field(a, b, fd, where)
            if found is not None:
                return found
        return None

    def field(self, a: Any, b: Any, fd: Any, where: str) -> Difference | None:
        va, vb = getattr(a, fd.name), getattr(b, fd.name)
        if _is_map(fd):
            return self.map(va, vb, fd, where)
        if _is_repeated(fd):
            if len(va) != len(vb):
                return Difference(f"{where} (count)", str(len(va)), str(len(vb)))
            for i, (x, y) in enumerate(zip(va, vb, strict=True)):
                found = self.value(x, y, fd, f"{where}[{i}]")
                if found is not None:
                    return found
            return None
        if fd.has_presence and a.HasField(fd.name) != b.HasField(fd.name):
            shown = [
                _render(v, fd) if m.HasField(fd.name) else "(unset)" for m, v in ((a, va), (b, vb))
            ]
            return Difference(where, shown[0], shown[1])
        if fd.name == "sequence" and _COMMAND_SEQUENCE_RE.fullmatch(where):
            index = self.explicit
            self.explicit += 1
            if index < len(self.first_seqs) and index < len(self.this_seqs):
                raw_a, delta_a = self.first_seqs[index]
                raw_b, delta_b = self.this_seqs[index]
                if raw_a == raw_b or (delta_a is not None and delta_a == delta_b):
                    return None
                return Difference(
                    where, describe_sequence(raw_a, delta_a), describe_sequence(raw_b, delta_b)
                )
        return self.value(va, vb, fd, where)

    def value(self, x: Any, y: Any, fd: Any, where: str) -> Difference | None:
        if fd.message_type is not None:
            return self.message(x, y, where)
        if x != y:
            return Difference(where, _render(x, fd), _render(y, fd))
        return None

    def map(self, va: Any, vb: Any, fd: Any, where: str) -> Difference | None:
        value_fd = fd.message_type.fields_by_name["value"]
        for key in sorted(set(va) | set(vb), key=repr):
            at = f"{where}[{key!r}]"
            if key not in va or key not in vb:
                shown = [_render(m[key], value_fd) if key in m else "(absent)" for m in (va, vb)]
                return Difference(at, shown[0], shown[1])
            found = self.value(va[key], vb[key], value_fd, at)
            if found is not None:
                return found
        return None

    def any(self, a: Any, b: Any, path: str) -> Difference | None:
        if a.type_url != b.type_url:
            return Difference(f"{path}.type_url", a.type_url or "(empty)", b.type_url or "(empty)")
        name = a.type_url.rsplit("/", 1)[-1]
        try:
            cls = symbol_database.Default().GetSymbol(name)
            ma, mb = cls(), cls()
            ma.ParseFromString(a.value)
            mb.ParseFromString(b.value)
        except Exception:  # an unknown type (or bytes that do not parse): compare the bytes
            if a.value != b.value:
                return Difference(
                    f"{path}<{name}>", f"{len(a.value)} bytes", f"{len(b.value)} bytes (other)"
                )
            return None
        return self.message(ma, mb, f"{path}<{name.rsplit('.', 1)[-1]}>")


def _is_repeated(fd: Any) -> bool:
    is_repeated = getattr(fd, "is_repeated", None)
    if is_repeated is not None:
        return bool(is_repeated)
    return fd.label == fd.LABEL_REPEATED


def _is_map(fd: Any) -> bool:
    return (
        fd.message_type is not None and fd.message_type.GetOptions().map_entry and _is_repeated(fd)
    )


def _render(value: Any, fd: Any) -> str:
    if fd.message_type is not None:
        text = text_format.MessageToString(value, as_one_line=True)
        text = f"{{{text}}}" if text else "{}"
    elif fd.enum_type is not None:
        enum_value = fd.enum_type.values_by_number.get(value)
        text = enum_value.name if enum_value is not None else str(value)
    elif isinstance(value, bytes):
        text = (
            root_str(value)
            if len(value) == 16
            else f"0x{value[:16].hex()}" + ("..." if len(value) > 16 else "")
        )
    else:
        text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
