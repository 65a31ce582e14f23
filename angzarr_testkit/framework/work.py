"""One delivery in flight, and what the coordinator does to every emitted cover.

``DeliveryWork`` is the work object the coordinator's steps pass along (handle, check,
execute, settle); ``trigger_key`` and ``trigger_label`` identify and name a trigger;
``copy_edition`` and ``facts_of`` are shared by sagas and process managers.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from .aggregate import Outcome, edition_name, stream_label
from .findings import Finding
from .records import Delivery, type_name_of

__all__ = ["DeliveryWork", "copy_edition", "facts_of", "trigger_key", "trigger_label"]


class DeliveryWork:
    """One delivery in flight: what the coordinator knows about it (lean; the storm makes
    millions). ``delivery`` is the public record when the harness keeps records.

    :meth:`SagaHarness.handle_delivery` makes one (request built, handler called, commands
    stamped and checked) and :meth:`SagaHarness.execute_delivery` completes it (sends, records
    outcomes). The process-manager harness and the storm pass it between those steps; they
    read its fields and never build one themselves."""

    __slots__ = (
        "delivery",
        "error",
        "facts",
        "findings",
        "keys",
        "number",
        "outcomes",
        "pm_source",
        "seqs",
        "sent",
        "skipped",
        "trigger",
        "trigger_id",
        "trigger_identity",
        "virtual_time",
    )

    def __init__(self, number: int, trigger: Any, trigger_id: int, seqs: dict[str, int]) -> None:
        self.number = number
        self.trigger = trigger
        self.trigger_id = trigger_id
        self.seqs = seqs
        self.delivery: Delivery | None = None
        self.error: BaseException | None = None
        self.sent: list[Any] = []
        self.facts: list[Any] = []
        self.keys: list[int] = []
        self.outcomes: list[Outcome] = []
        self.findings: list[Finding] = []
        self.virtual_time = 0.0
        self.skipped = False
        self.pm_source: tuple[Any, int] | None = None
        #: (cover bytes, domain, root, edition, the trigger's page sequences)
        self.trigger_identity: tuple[bytes, str, bytes, str, Container[int]] | None = None


def trigger_key(trigger: Any) -> tuple:
    """A trigger's identity (two deliveries of one trigger share it): cover domain,
    edition, root and page sequences."""
    cover = trigger.cover
    return (
        cover.domain,
        edition_name(cover),
        bytes(cover.root.value),
        tuple(p.header.sequence for p in trigger.pages),
    )


def trigger_label(trigger: Any) -> str:
    """How findings name a trigger: ``domain/root@seq Type`` (a page range for several)."""
    seqs = [p.header.sequence for p in trigger.pages]
    if not seqs:
        at = "(no pages)"
    elif len(seqs) == 1:
        at = f"@{seqs[0]}"
    else:
        at = f"@{seqs[0]}..{seqs[-1]}"
    types = ",".join(type_name_of(p.event.type_url) for p in trigger.pages)
    label = stream_label(
        trigger.cover.domain, trigger.cover.root.value, edition_name(trigger.cover)
    )
    return f"{label}{at} {types}".rstrip()


def facts_of(response: Any) -> Any:
    """The facts of a ``SagaResponse`` (``events``) or a PM response (``facts``)."""
    if response.DESCRIPTOR.name == "ProcessManagerHandleResponse":
        return response.facts
    return response.events


def copy_edition(cover: Any, trigger_cover: Any) -> None:
    """What the coordinator does to every emitted cover (commands, facts; sagas and process
    managers alike): overwrite ``cover``'s edition with the trigger's (clear it when the
    trigger has none)."""
    if trigger_cover.HasField("edition"):
        cover.edition.CopyFrom(trigger_cover.edition)
    elif cover.HasField("edition"):
        cover.ClearField("edition")
