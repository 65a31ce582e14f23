"""Identities and covers: roots, UUIDs, domains, correlation ids, editions, sequences, covers."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from .. import wire
from ..factories import DOMAIN_PATTERN
from ..validate import check_bool, check_str, check_uint32
from .params import (
    UINT32_MAX,
    as_strategy,
    check_domain_value,
    check_edition_value,
    check_param,
    check_plain,
    check_root_value,
)

_T = wire.types_pb2

#: Well-known names shown first by :func:`domains`, so shrunk examples read naturally.
_COMMON_DOMAINS = ("order", "inventory", "payment", "shipping", "fulfillment")


def roots() -> SearchStrategy[bytes]:
    """16 raw bytes: an aggregate root (shrinks to the nil UUID)."""
    return st.binary(min_size=16, max_size=16)


def uuids() -> SearchStrategy[Any]:
    """``angzarr.UUID`` messages holding :func:`roots`."""
    return st.builds(lambda raw: _T.UUID(value=raw), roots())


def domains() -> SearchStrategy[str]:
    """Domain names matching ``[a-z_][a-z0-9_-]{0,63}`` (common names first, for shrinking)."""
    return st.one_of(
        st.sampled_from(_COMMON_DOMAINS), st.from_regex(DOMAIN_PATTERN, fullmatch=True)
    )


def correlation_ids(*, allow_empty: bool = False) -> SearchStrategy[str]:
    """Correlation ids as UUID text (what angzarr mints); ``allow_empty`` adds ``""``."""
    check_param(allow_empty, "allow_empty", check_bool)
    text = st.uuids().map(str)
    return st.one_of(st.just(""), text) if allow_empty else text


def editions() -> SearchStrategy[Any]:
    """``angzarr.Edition``: the main timeline (``""``/``"angzarr"``) or a named branch, with up
    to two domain divergences."""
    names = st.one_of(
        st.sampled_from(["", "angzarr"]), st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True)
    )
    divergence = st.builds(
        lambda d, s: _T.DomainDivergence(domain=d, sequence=s), domains(), sequences()
    )
    return st.builds(
        lambda n, ds: _T.Edition(name=n, divergences=ds),
        names,
        st.lists(divergence, max_size=2),
    )


def sequences(max_value: int = UINT32_MAX) -> SearchStrategy[int]:
    """uint32 sequences up to ``max_value``, small ones first."""
    check_param(max_value, "max_value", check_uint32)
    if max_value <= 100:
        return st.integers(0, max_value)
    return st.one_of(st.integers(0, 100), st.integers(0, max_value))


def covers(
    domain: object = None,
    *,
    root: object = None,
    correlation_id: object = None,
    edition: object = None,
) -> SearchStrategy[Any]:
    """``angzarr.Cover`` with a root, a valid domain and a UUID-text correlation id.

    ``edition`` defaults to unset (the main timeline); pass ``editions()`` to vary it.
    """
    check_domain_value(domain, "domain")
    check_root_value(root, "root")
    check_plain(correlation_id, "correlation_id", check_str)
    check_edition_value(edition, "edition")
    return st.builds(
        _cover,
        as_strategy(domain, domains()),
        as_strategy(root, roots()),
        as_strategy(correlation_id, correlation_ids()),
        as_strategy(edition, st.none()),
    )


def _cover(domain: str, root: Any, correlation_id: str, edition: Any) -> Any:
    raw = root.value if isinstance(root, Message) else bytes(root)
    if isinstance(edition, str):
        edition = _T.Edition(name=edition)
    return _T.Cover(
        root=_T.UUID(value=raw), domain=domain, correlation_id=correlation_id, edition=edition
    )
