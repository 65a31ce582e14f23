"""``CommandPage`` and ``CommandBook`` factories, and the deferred headers a command may carry."""

from __future__ import annotations

from typing import Any, TypeVar

import factory
from google.protobuf.message import Message

from .. import wire
from .base import ProtoFactory, pop_params
from .coerce import as_message, bad_param, check_uint32_param, construct, enum_value
from .covers import CoverFactory, book_cover, check_cover
from .pages import DEFERRED_KINDS, build_pages, default_commands, header_kind, number_pages

M = TypeVar("M", bound=Message)

_T = wire.types_pb2


class CommandPageFactory(ProtoFactory):
    """``angzarr.CommandPage`` with ``header.sequence`` and a packed example command.

    Params: ``sequence`` (default 0; or pass ``header``; ``stamped=False`` for no header),
    ``command`` (any message, packed; or an ``Any``), ``external``, ``merge_strategy`` (a
    ``MergeStrategy`` value or name), ``validate``.
    """

    class Meta:
        model = _T.CommandPage

    sequence = None
    header = None
    stamped = True
    merge_strategy = None
    external = None
    command = factory.Maybe(
        factory.LazyAttribute(lambda o: o.external is None),
        yes_declaration=factory.Sequence(lambda n: default_commands(n)[0]),
        no_declaration=None,
    )
    validate = True

    @classmethod
    def _assemble(cls, model_class: type[M], kwargs: dict[str, Any]) -> M:
        kwargs.pop("validate", None)
        sequence = kwargs.pop("sequence", None)
        stamped = kwargs.pop("stamped", True)
        if sequence is not None and kwargs.get("header") is not None:
            raise bad_param("sequence", "pass either sequence= or header=, not both", sequence)
        if kwargs.get("header") is None and stamped:
            kwargs["header"] = _T.PageHeader(
                sequence=check_uint32_param(0 if sequence is None else sequence, "sequence")
            )
        if kwargs.get("command") is not None and kwargs.get("external") is not None:
            raise bad_param("command", "command and external are a oneof; pass only one", None)
        return construct(model_class, kwargs, cls.__name__)


def deferred_header(value: object, param: str) -> Message:
    """A ``PageHeader`` with ``angzarr_deferred`` from a header, a deferred sequence or a cover."""
    if isinstance(value, Message):
        name = value.DESCRIPTOR.full_name
        if name == "angzarr.PageHeader":
            header = as_message(_T.PageHeader.DESCRIPTOR, value, param)
            if header.WhichOneof("sequence_type") not in DEFERRED_KINDS:
                raise bad_param(
                    param, "the header must be angzarr_deferred or external_deferred", value
                )
            return header
        if name == "angzarr.AngzarrDeferredSequence":
            return _T.PageHeader(angzarr_deferred=as_message(value.DESCRIPTOR, value, param))
        if name == "angzarr.ExternalDeferredSequence":
            return _T.PageHeader(external_deferred=as_message(value.DESCRIPTOR, value, param))
    raise bad_param(
        param,
        "expected a deferred PageHeader, an AngzarrDeferredSequence or an "
        f"ExternalDeferredSequence (see DeferredPageHeaderFactory), got {type(value).__name__}",
        value,
    )


class CommandBookFactory(ProtoFactory):
    """``angzarr.CommandBook``: one cover (domain ``"inventory"``), pages numbered from ``start``.

    Default: one example ``ReserveInventory`` page at sequence 0.

    Params:
        commands: payload messages (packed), ``Any``s or ``CommandPage``s.
        pages: ``CommandPage``s (or mappings); the same as ``commands``, pass one of the two.
        start: sequence of page 0 (default 0); later pages follow contiguously.
        deferred: a deferred header (``DeferredPageHeaderFactory()``, an
            ``AngzarrDeferredSequence``...) put on every page instead of a sequence.
        stamped: ``False`` leaves the pages without a header (an unstamped command).
        merge_strategy: set on every page (angzarr reads page 0's).
        cover, domain, root, correlation_id, edition: the book's single cover.
        validate: check and renumber (default); ``False`` keeps given pages as they are.
    """

    class Meta:
        model = _T.CommandBook

    cover = factory.SubFactory(
        CoverFactory, domain="inventory", validate=factory.SelfAttribute("..validate")
    )
    domain = None
    root = None
    correlation_id = None
    edition = None
    start = None
    pages = None
    commands = factory.Maybe(
        factory.LazyAttribute(lambda o: o.pages is None),
        yes_declaration=factory.Sequence(default_commands),
        no_declaration=None,
    )
    deferred = None
    stamped = True
    merge_strategy = None
    validate = True

    @classmethod
    def _assemble(cls, model_class: type[M], kwargs: dict[str, Any]) -> M:
        validate = bool(kwargs.pop("validate", True))
        cover = book_cover(kwargs, cls.__name__, validate=validate)
        start, commands, pages, deferred, stamped, merge = pop_params(
            kwargs, "start", "commands", "pages", "deferred", "stamped", "merge_strategy"
        )
        if commands is not None and pages is not None:
            raise bad_param("commands", "pass either commands= or pages=, not both", commands)
        if deferred is not None and start is not None:
            raise bad_param(
                "start", "deferred pages take no sequence; pass start= or deferred=", start
            )
        start = check_uint32_param(0 if start is None else start, "start")
        param = "commands" if commands is not None else "pages"
        built = build_pages(
            _T.CommandPage, "command", commands if commands is not None else pages, param
        )
        if deferred is not None:
            header = deferred_header(deferred, "deferred")
            for page in built:
                if (validate or not page.given) and header_kind(page.message) not in DEFERRED_KINDS:
                    page.message.header.CopyFrom(header)
        elif stamped is False:
            for page in built:
                if (validate or not page.given) and header_kind(page.message) not in DEFERRED_KINDS:
                    page.message.ClearField("header")
        else:
            number_pages(built, start, renumber_given=validate)
        if merge is not None:
            value = enum_value(_T.MergeStrategy.DESCRIPTOR, merge, "merge_strategy")
            for page in built:
                page.message.merge_strategy = value
        kwargs.update(cover=cover, pages=[p.message for p in built])
        return construct(model_class, kwargs, cls.__name__)


class AngzarrDeferredSequenceFactory(ProtoFactory):
    """``angzarr.AngzarrDeferredSequence``: ``source`` cover (domain ``"order"``) and
    ``source_seq`` (default 0)."""

    class Meta:
        model = _T.AngzarrDeferredSequence

    source = factory.SubFactory(CoverFactory, validate=factory.SelfAttribute("..validate"))
    source_seq = 0
    validate = True

    @classmethod
    def _assemble(cls, model_class: type[M], kwargs: dict[str, Any]) -> M:
        validate = kwargs.pop("validate", True)
        check_uint32_param(kwargs.get("source_seq", 0), "source_seq")
        if validate and kwargs.get("source") is not None:
            check_cover(as_message(_T.Cover.DESCRIPTOR, kwargs["source"], "source"), "source")
        return construct(model_class, kwargs, cls.__name__)


class DeferredPageHeaderFactory(ProtoFactory):
    """``angzarr.PageHeader`` whose ``angzarr_deferred`` names a source cover and sequence.

    Params: ``source`` (a ``Cover``), ``source_seq`` (shortcuts into ``angzarr_deferred``), or
    ``angzarr_deferred`` itself; ``validate``.
    """

    class Meta:
        model = _T.PageHeader

    angzarr_deferred = factory.SubFactory(
        AngzarrDeferredSequenceFactory, validate=factory.SelfAttribute("..validate")
    )
    source = None
    source_seq = None
    validate = True

    @classmethod
    def _assemble(cls, model_class: type[M], kwargs: dict[str, Any]) -> M:
        validate = kwargs.pop("validate", True)
        source, source_seq = pop_params(kwargs, "source", "source_seq")
        deferred = as_message(
            _T.AngzarrDeferredSequence.DESCRIPTOR,
            kwargs.pop("angzarr_deferred", None) or {},
            "angzarr_deferred",
        )
        if source is not None:
            deferred.source.CopyFrom(as_message(_T.Cover.DESCRIPTOR, source, "source"))
        if source_seq is not None:
            deferred.source_seq = check_uint32_param(source_seq, "source_seq")
        if validate:
            check_cover(deferred.source, "source")
        kwargs["angzarr_deferred"] = deferred
        return construct(model_class, kwargs, cls.__name__)
