"""The benchmark workload: a trivial saga (one pre-built deferred command) and its events."""

from __future__ import annotations

import random
from typing import Any

from angzarr_testkit import uuid_for, wire

T, E = wire.types_pb2, wire.examples_pb2

_COMMAND = T.CommandBook(cover=T.Cover(domain="inventory", root=T.UUID(value=uuid_for("sku-1"))))
_COMMAND.pages.add().command.Pack(E.ReserveInventory(order_id="o", sku="sku-1", quantity=1))
# STRICT: under the default profile (core) a deferred command against history is let through
# only under STRICT or AGGREGATE_HANDLES (docs/profiles.md)
_COMMAND.pages[0].merge_strategy = T.MERGE_STRICT
_EVENT = E.OrderCreated(order_id="o-1", sku="sku-1", quantity=1)


def trivial_saga(request: Any) -> list[Any]:
    """Returns one pre-built command, its deferred header pointed at the trigger."""
    deferred = _COMMAND.pages[0].header.angzarr_deferred
    deferred.source.CopyFrom(request.source.cover)
    deferred.source_seq = request.source.pages[-1].header.sequence
    return [_COMMAND]


def same_event(rng: random.Random, i: int) -> Any:
    return _EVENT


def sample_messages() -> tuple[Any, Any]:
    """A request and a response of the sizes the storm moves per delivery."""
    book = T.EventBook(
        cover=T.Cover(domain="order", root=T.UUID(value=uuid_for("r")), correlation_id="storm-1"),
        next_sequence=4,
    )
    page = book.pages.add()
    page.header.sequence = 3
    page.event.Pack(_EVENT)
    request = wire.saga_pb2.SagaHandleRequest(source=book, destination_sequences={"inventory": 5})
    response = wire.saga_pb2.SagaResponse(commands=trivial_saga(request))
    return request, response


def wire_floor(n: int = 200_000) -> float:
    """Deliveries/s of serialize + parse of one SagaHandleRequest and one SagaResponse: what
    every delivery must cost at least (the bytes cross the hop both ways)."""
    import time

    request, response = sample_messages()
    parse_req = wire.saga_pb2.SagaHandleRequest.FromString
    parse_resp = wire.saga_pb2.SagaResponse.FromString
    start = time.perf_counter()
    for _ in range(n):
        parse_req(request.SerializeToString())
        parse_resp(response.SerializeToString())
    return n / (time.perf_counter() - start)


_PM = wire.process_manager_pb2
_PM_EVENT = T.EventPage()
_PM_EVENT.event.Pack(E.FulfillmentStarted(order_id="o"))


def trivial_pm(request: Any) -> Any:
    """A trivial process manager: one process event and one pre-built command."""
    return _PM.ProcessManagerHandleResponse(
        process_events=T.EventBook(pages=[_PM_EVENT]), commands=[_COMMAND]
    )


def pm_event(rng: random.Random, i: int) -> Any:
    return "order", _EVENT
