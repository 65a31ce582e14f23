"""What a storm publishes: the trigger EventBook of each event its source gives.

:class:`TriggerMaker` decides the domain an event is published from (a ``(domain, event)``
pair's, an EventBook's own, the input domain an SDK process manager declares for the type, or
the trigger domain), refuses an event the handler would never receive, and builds the trigger's
serialized EventBook on its root (:func:`root_cover`) at the root's next sequence. A replay
reads the books back from the trace with :func:`parse_trace_book`.
"""

from __future__ import annotations

from typing import Any

from .. import wire
from ..errors import TraceError
from ..framework.aggregate import validate_cover
from ..framework.encode import event_book_bytes
from ..framework.saga import SagaHarness
from ..ids import root_str, uuid_for
from ..validate import DOMAIN_RE
from .sources import refuse_event

__all__ = ["EVENT_SHAPES", "TriggerMaker", "input_domains", "parse_trace_book", "root_cover"]

#: The shapes an event source may give (the words of its refusals).
EVENT_SHAPES = "a protobuf event message, a (domain, event) pair or an angzarr EventBook"


def root_cover(domain: str, r: int) -> tuple[bytes, str]:
    """The serialized ``Cover`` of the storm's root ``r`` of ``domain`` and the root's text.

    Every root ``r`` of every domain shares one correlation id (a UUID, so a process
    manager's state root is the workflow's): root ``r`` is one workflow."""
    T = wire.types_pb2
    root = uuid_for(f"{domain}-root-{r}")
    correlation_id = root_str(uuid_for(f"storm-workflow-{r}"))
    cover = T.Cover(domain=domain, root=T.UUID(value=root), correlation_id=correlation_id)
    return cover.SerializeToString(), root_str(root)


def input_domains(pm_class: type | None) -> dict[str, str]:
    """Event full name -> the input domain an SDK process manager declares for it
    (``@handles(Event, input_domain=...)``)."""
    out: dict[str, str] = {}
    for entry in getattr(pm_class, "_dispatch_table", {}).values():
        if len(entry) > 2 and entry[2]:
            name = getattr(getattr(entry[1], "DESCRIPTOR", None), "full_name", None)
            if name:
                out[name] = entry[2]
    return out


def parse_trace_book(msg_id: int, book: bytes) -> Any:
    """The parsed EventBook of a trace's message ``msg_id``, or a :class:`TraceError`."""
    from google.protobuf.message import DecodeError

    try:
        return wire.types_pb2.EventBook.FromString(book)
    except DecodeError as exc:
        raise TraceError(
            f"the trace's book of message {msg_id} is not an angzarr EventBook ({exc})"
        ) from exc


class TriggerMaker:
    """Turns a source's events into the trigger books one storm run publishes.

    Args:
        kind: ``"saga"`` or ``"process-manager"``.
        harness: the run's harness (its ``source_domain``, and a process manager's
            ``sources``).
        type_domains: event full name -> the input domain an SDK process manager declares
            (see :func:`input_domains`).
        source_name: how refusals name the event source.
    """

    def __init__(
        self, kind: str, harness: SagaHarness, type_domains: dict[str, str], source_name: str
    ) -> None:
        self.kind = kind
        self.h = harness
        self.type_domains = type_domains
        self.source_name = source_name

    def event_domain(self, event: Any, i: int, default: str) -> tuple[str, Any]:
        """Which domain the storm publishes ``event`` (the source's ``i``-th) from: a
        ``(domain, event)`` pair's, an EventBook's own (checked in :meth:`book`), the input
        domain an SDK process manager declares for the type, else the trigger domain. A
        process manager with several sources needs one of the first three."""
        if isinstance(event, tuple):
            if len(event) != 2:
                raise refuse_event(self.source_name, i, event, EVENT_SHAPES)
            domain, event = event
            if not isinstance(domain, str) or not DOMAIN_RE.fullmatch(domain):
                raise refuse_event(
                    self.source_name,
                    i,
                    domain,
                    "an angzarr domain name (lowercase, [a-z_][a-z0-9_-]{0,63})",
                    type_error=not isinstance(domain, str),
                    param=" domain",
                )
            self.check_from(domain, i, event)
            return domain, event
        if self.kind == "saga":
            return default, event
        name = getattr(getattr(event, "DESCRIPTOR", None), "full_name", None)
        declared = self.type_domains.get(name) if name else None
        if declared is not None:
            return declared, event
        sources = self.h.sources  # type: ignore[attr-defined]
        if len(sources) > 1 and name not in (None, "angzarr.EventBook"):
            raise refuse_event(
                self.source_name,
                i,
                event,
                "a (domain, event) pair or an EventBook",
                hint=(
                    f"the process manager takes triggers from {', '.join(sources)}, and nothing "
                    f"says which one {name} comes from"
                ),
            )
        return default, event

    def check_from(self, domain: str, i: int, event: Any) -> None:
        """A trigger from a domain the handler does not subscribe to never reaches it."""
        h = self.h
        allowed = h.sources if self.kind == "process-manager" else [h.source_domain]  # type: ignore[attr-defined]
        if domain not in allowed:
            raise refuse_event(
                self.source_name,
                i,
                event,
                f"an event from {'one of ' if len(allowed) > 1 else ''}"
                f"{', '.join(str(d) for d in allowed)}",
                hint=(
                    f"it comes from domain {domain!r}, and angzarr only delivers the "
                    f"{self.kind}'s subscribed domains"
                ),
            )

    def book(
        self,
        event: Any,
        cover: bytes,
        heads: dict[tuple[str, int], int],
        key: tuple[str, int],
        i: int,
    ) -> bytes:
        """The serialized trigger EventBook of ``event`` on the root ``cover`` (``key``'s),
        at the root's next sequence (``heads``); an EventBook event is published as it is."""
        descriptor = getattr(event, "DESCRIPTOR", None)
        name = getattr(descriptor, "full_name", None)
        if name == "angzarr.EventBook":
            problem = validate_cover(event.cover) if event.HasField("cover") else "no cover"
            if problem is None and not event.pages:
                problem = "it has no pages"
            if problem:
                raise refuse_event(
                    self.source_name,
                    i,
                    event,
                    "an EventBook angzarr would publish (a valid cover, at least one page)",
                    hint=(
                        f"its cover {problem}"
                        if problem.startswith(("root", "domain"))
                        else problem
                    ),
                )
            self.check_from(event.cover.domain, i, event)
            return event.SerializeToString()
        if name is None or not hasattr(event, "SerializeToString"):
            raise refuse_event(self.source_name, i, event, EVENT_SHAPES)
        seq = heads.get(key, 0)
        heads[key] = seq + 1
        return event_book_bytes(cover, seq, wire.TYPE_URL_PREFIX + name, event.SerializeToString())
