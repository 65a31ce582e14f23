"""The Destinations contract: stamping commands for sagas and process managers.

The framework hands a saga or process manager a ``destination_sequences`` map
(domain -> next sequence of that domain's destination aggregate). ``Destinations`` wraps it:

* ``stamp_command(cmd, domain)`` writes an explicit ``header.sequence`` on every page;
* ``deferred_header(source_cover, source_seq)`` builds an ``angzarr_deferred`` header instead,
  so the destination dedupes on ``(source.root, source_seq, target.root)``.

This is the newer angzarr_client surface; unlike angzarr_client 0.3.1 (which raises a plain
``ValueError``), a missing domain raises :class:`~angzarr_testkit.errors.InvalidArgumentError`
with code ``MISSING_DESTINATION_SEQUENCE``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import wire
from .errors import InvalidArgumentError, codes
from .validate import UINT32_MAX, check_domain, check_message, check_str, check_uint32, checked

__all__ = ["Destinations", "UINT32_MAX", "cover_proto"]


def _check_uint32(value: object, what: str) -> int:
    """A uint32 sequence (code ``SEQUENCE_OUT_OF_RANGE``, also for a wrong type, as this
    contract always documented): :func:`angzarr_testkit.validate.check_uint32`."""
    try:
        return checked(InvalidArgumentError, check_uint32, value, what)
    except InvalidArgumentError as exc:
        exc.code = codes.SEQUENCE_OUT_OF_RANGE
        exc.details.setdefault("field", what)
        raise


def cover_proto(source_cover: Any) -> Any:
    """Return a fresh copy, in the active wire classes, of the ``Cover`` that
    ``source_cover`` denotes.

    Accepted: a ``Cover`` proto; or any object whose ``proto`` or ``cover`` attribute is a
    ``Cover`` proto (angzarr_client's ``CoverW`` wrapper, an ``EventBook``, a ``CommandBook``).
    The result never aliases the caller's object.
    """
    candidate = source_cover
    for attr in (None, "proto", "cover"):
        if attr is not None:
            candidate = getattr(source_cover, attr, None)
            if callable(candidate):
                candidate = candidate()
        descriptor = getattr(candidate, "DESCRIPTOR", None)
        if getattr(descriptor, "full_name", None) == "angzarr.Cover":
            return wire.types_pb2.Cover.FromString(candidate.SerializeToString())
    raise InvalidArgumentError(
        "source_cover must be an angzarr Cover proto or an object exposing one as its "
        f"`proto` or `cover` attribute (e.g. angzarr_client's CoverW); got "
        f"{type(source_cover).__name__}",
        details={"type": type(source_cover).__name__},
    )


class Destinations:
    """Per-domain next sequences handed to a saga/PM, with the stamping helpers.

    Args:
        sequences: domain -> next sequence. The mapping is copied.
    """

    def __init__(self, sequences: Mapping[str, int]) -> None:
        if not isinstance(sequences, Mapping):
            raise InvalidArgumentError(
                "Destinations() takes a mapping of domain -> next sequence, got "
                f"{type(sequences).__name__}",
                details={"type": type(sequences).__name__},
            )
        valid: dict[str, int] = {}
        for domain, seq in sequences.items():
            checked(InvalidArgumentError, check_domain, domain, "sequences key")
            valid[domain] = _check_uint32(seq, f"sequences[{domain!r}]")
        self._sequences = valid

    @classmethod
    def from_proto(cls, destination_sequences: Mapping[str, int]) -> Destinations:
        """Build from the ``destination_sequences`` map of a ``SagaHandleRequest`` or
        ``ProcessManagerHandleRequest`` (the map is copied; later changes to it are not seen)."""
        return cls(dict(destination_sequences))

    @property
    def sequences(self) -> dict[str, int]:
        """domain -> next sequence (a copy)."""
        return dict(self._sequences)

    @property
    def domains(self) -> list[str]:
        """The domains that have a sequence, in insertion order."""
        return list(self._sequences)

    def sequence_for(self, domain: str) -> int | None:
        """The next sequence for ``domain``, or ``None`` when the map has no entry for it."""
        checked(InvalidArgumentError, check_str, domain, "domain")
        return self._sequences.get(domain)

    def has_domain(self, domain: str) -> bool:
        """Whether the map has a sequence for ``domain``."""
        checked(InvalidArgumentError, check_str, domain, "domain")
        return domain in self._sequences

    def stamp_command(self, cmd: Any, domain: str) -> Any:
        """Set ``header.sequence`` on every page of ``cmd`` (in place) and return ``cmd``.

        Raises:
            InvalidArgumentError: code ``MISSING_DESTINATION_SEQUENCE`` when ``domain`` has no
                sequence in the map; nothing is stamped then.
        """
        checked(InvalidArgumentError, check_str, domain, "domain")
        seq = self._sequences.get(domain)
        if seq is None:
            known = ", ".join(repr(d) for d in self._sequences) or "none"
            raise InvalidArgumentError(
                f"No destination sequence for domain '{domain}' (the map has: {known}); "
                "check the saga's output domains config: declare "
                f"'{domain}' as an output domain so the framework supplies its sequence",
                code=codes.MISSING_DESTINATION_SEQUENCE,
                details={"domain": domain},
            )
        checked(InvalidArgumentError, check_message, cmd, "cmd", full_name="angzarr.CommandBook")
        for page in cmd.pages:
            page.header.sequence = seq
        return cmd

    @staticmethod
    def deferred_header(source_cover: Any, source_seq: int) -> Any:
        """A ``PageHeader`` whose ``angzarr_deferred`` holds a copy of ``source_cover`` and
        ``source_seq``: the destination then dedupes on (source.root, source_seq, target.root).

        ``source_cover`` is a ``Cover`` proto or an object exposing one (see
        :func:`cover_proto`); it is copied, so later changes to the header never touch it.
        """
        seq = _check_uint32(source_seq, "source_seq")
        header = wire.types_pb2.PageHeader()
        header.angzarr_deferred.source.CopyFrom(cover_proto(source_cover))
        header.angzarr_deferred.source_seq = seq
        return header

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Destinations) and other._sequences == self._sequences

    def __repr__(self) -> str:
        return f"Destinations({self._sequences!r})"
