"""The business-logic call of the destination pipeline: user business logic over a
``ContextualCommand`` (bytes across, as on the wire), what it may return
(:func:`normalize_events`), and the default echo business logic's pre-serialized pages
(:class:`EchoPages`)."""

from __future__ import annotations

from typing import Any

from google.protobuf import empty_pb2

from .. import wire
from .calls import describe_value, message_full_name
from .encode import echo_page_bytes, length_delimited
from .specs import BusinessLogic
from .store import Stream, pack_any

__all__ = ["BusinessRejected", "EchoPages", "echo_pages", "normalize_events", "run_business_logic"]


class BusinessRejected(Exception):
    """Business logic refused the command: a gRPC-style ``code`` and ``message``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class _Revoked(Exception):
    pass


class _BadResult(Exception):
    pass


def run_business_logic(handler: BusinessLogic, stream: Stream, command: Any) -> list[Any]:
    """Call user business logic with a ``ContextualCommand`` (over bytes); its rejections
    become :class:`BusinessRejected`."""
    T, C = wire.types_pb2, wire.command_handler_pb2
    contextual = T.ContextualCommand.FromString(
        length_delimited(b"\x0a", stream.book_bytes())
        + length_delimited(b"\x12", command.SerializeToString())
    )
    try:
        return normalize_events(handler(contextual), C)
    except _Revoked as revoked:
        raise BusinessRejected("FAILED_PRECONDITION", f"Command revoked: {revoked}") from None
    except _BadResult as bad:
        raise BusinessRejected("INTERNAL", str(bad)) from None
    except Exception as exc:  # business logic rejected the command
        code = getattr(exc, "code", None)
        raise BusinessRejected(
            code if isinstance(code, str) else "FAILED_PRECONDITION", f"{type(exc).__name__}: {exc}"
        ) from None


class EchoPages:
    """The pages of the default business logic, serialized (``raw``): one per command page
    with a payload (its ``command`` Any as the event), or one ``Empty`` event if none has."""

    __slots__ = ("raw",)

    def __init__(self, raw: list[bytes]) -> None:
        self.raw = raw


def echo_pages(command: Any, head: int) -> EchoPages:
    """Default business logic: accept, one event per command page carrying the command, at
    the sequences from ``head`` on."""
    raw: list[bytes] = []
    for page in command.pages:
        if page.HasField("command"):
            raw.append(echo_page_bytes(head + len(raw), page.command.SerializeToString()))
    if not raw:
        raw.append(echo_page_bytes(head, pack_any(empty_pb2.Empty()).SerializeToString()))
    return EchoPages(raw)


def normalize_events(raw: Any, C: Any) -> list[Any]:
    """Business logic's return value -> fresh ``EventPage`` list (sequences maybe unset).

    ``C`` is the generated ``command_handler_pb2`` module of the wire mode in use. Also used
    by the saga harness to normalise a given event list the same way."""
    T = wire.types_pb2
    name = message_full_name(raw)
    if name == "angzarr.BusinessResponse":
        response = C.BusinessResponse.FromString(raw.SerializeToString())
        which = response.WhichOneof("result")
        if which == "revocation":
            raise _Revoked(response.revocation.reason or "no reason given")
        if which == "events":
            raw, name = response.events, "angzarr.EventBook"
        else:
            return []
    if raw is None:
        return []
    if name == "angzarr.EventBook":
        return [T.EventPage.FromString(p.SerializeToString()) for p in raw.pages]
    if name == "angzarr.EventPage":
        return [T.EventPage.FromString(raw.SerializeToString())]
    items = list(raw) if isinstance(raw, (list, tuple)) else [raw]
    pages = []
    for item in items:
        item_name = message_full_name(item)
        if item_name == "angzarr.EventPage":
            pages.append(T.EventPage.FromString(item.SerializeToString()))
        elif item_name == "google.protobuf.Any":
            page = T.EventPage()
            page.event.CopyFrom(item)
            pages.append(page)
        elif item_name:
            page = T.EventPage()
            page.event.CopyFrom(pack_any(item))
            pages.append(page)
        else:
            raise _BadResult(
                f"business logic returned {describe_value(item)}; return events (messages, "
                "EventPages, an EventBook), a BusinessResponse, or None"
            )
    return pages
