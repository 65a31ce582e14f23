"""Identities: ``UUID`` and ``Cover`` factories, a book's single cover, a PM's root.

Roots are deterministic: ``uuid_for("root-<n>")``, ``n`` from the one :class:`UUIDFactory`
counter every cover draws from; correlation ids are ``uuid_str_for("correlation-<n>")``.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

import factory
from google.protobuf.message import Message

from .. import wire
from ..ids import uuid_for, uuid_str_for
from .base import ProtoFactory, pop_params
from .coerce import as_message, bad_param, check_domain_param, construct, root_bytes

M = TypeVar("M", bound=Message)

_T = wire.types_pb2


def check_cover(cover: Any, param: str) -> None:
    """Check that ``cover`` has a 16-byte root and a valid domain."""
    if not cover.HasField("root"):
        raise bad_param(f"{param}.root", "a cover needs a root; pass root=ids.uuid_for(name)", None)
    root_bytes(cover.root, f"{param}.root", check=True)
    check_domain_param(cover.domain, f"{param}.domain")


def pm_root(correlation_id: str) -> bytes:
    """The root of a process manager's stream for ``correlation_id``: the UUID it spells, or the
    nil UUID when it is not UUID text (what angzarr's coordinator does)."""
    try:
        return uuid.UUID(correlation_id).bytes
    except (ValueError, TypeError, AttributeError):
        return bytes(16)


class UUIDFactory(ProtoFactory):
    """``angzarr.UUID``; ``value`` defaults to ``uuid_for("root-<n>")``.

    Params: ``value`` (16 bytes, ``uuid.UUID`` or UUID text), ``validate``.
    """

    class Meta:
        model = _T.UUID

    value = factory.Sequence(lambda n: uuid_for(f"root-{n}"))
    validate = True

    @classmethod
    def _assemble(cls, model_class: type[M], kwargs: dict[str, Any]) -> M:
        validate = kwargs.pop("validate", True)
        value = kwargs.pop("value", None)
        if value is None and validate:
            raise bad_param("value", "a UUID needs 16 bytes; pass value=ids.uuid_for(name)", None)
        if value is not None:
            kwargs["value"] = root_bytes(value, "value", check=bool(validate))
        return construct(model_class, kwargs, cls.__name__)


class CoverFactory(ProtoFactory):
    """``angzarr.Cover``: domain ``"order"``, a fresh deterministic root and correlation id.

    Params: ``root`` (16 bytes, UUID message, ``uuid.UUID`` or UUID text), ``domain``,
    ``correlation_id``, ``edition`` (a name or an ``Edition``; unset = main timeline), ``validate``.
    """

    class Meta:
        model = _T.Cover

    root = factory.SubFactory(UUIDFactory)
    domain = "order"
    correlation_id = factory.Sequence(lambda n: uuid_str_for(f"correlation-{n}"))
    edition = None
    validate = True

    @classmethod
    def _assemble(cls, model_class: type[M], kwargs: dict[str, Any]) -> M:
        validate = kwargs.pop("validate", True)
        if validate:
            if kwargs.get("root") is None:
                raise bad_param("root", "a cover needs a root; pass root=ids.uuid_for(name)", None)
            root_bytes(kwargs["root"], "root", check=True)
            check_domain_param(kwargs.get("domain"), "domain")
        cid = kwargs.get("correlation_id")
        if cid is not None and not isinstance(cid, str):
            raise bad_param("correlation_id", f"must be a str, got {type(cid).__name__}", cid)
        return construct(model_class, kwargs, cls.__name__)


def book_cover(kwargs: dict[str, Any], where: str, *, validate: bool) -> Message | None:
    """Pop ``cover`` and the cover shortcuts from ``kwargs``; return the book's single cover."""
    cover_value = kwargs.pop("cover", None)
    domain, root, correlation_id, edition = pop_params(
        kwargs, "domain", "root", "correlation_id", "edition"
    )
    if cover_value is None and not any(
        v is not None for v in (domain, root, correlation_id, edition)
    ):
        if validate:
            raise bad_param("cover", f"{where} needs a cover (or domain=/root= shortcuts)", None)
        return None
    cover = (
        _T.Cover() if cover_value is None else as_message(_T.Cover.DESCRIPTOR, cover_value, "cover")
    )
    if domain is not None:
        if validate:
            check_domain_param(domain, "domain")
        cover.domain = domain
    if root is not None:
        cover.root.CopyFrom(_T.UUID(value=root_bytes(root, "root", check=validate)))
    if correlation_id is not None:
        if not isinstance(correlation_id, str):
            raise bad_param(
                "correlation_id", f"must be a str, got {type(correlation_id).__name__}", 0
            )
        cover.correlation_id = correlation_id
    if edition is not None:
        cover.edition.CopyFrom(as_message(_T.Edition.DESCRIPTOR, edition, "edition"))
    if validate:
        check_cover(cover, "cover")
    return cover
