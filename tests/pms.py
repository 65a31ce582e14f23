"""Example process managers for the kit's own tests (also "pms:NAME" targets).

The fulfilment workflow: OrderCreated (order) -> ReserveInventory; InventoryReserved
(inventory) -> ShipOrder (shipping). Its state is its own events: FulfillmentStarted,
ShipmentRequested.
"""

from __future__ import annotations

from angzarr_testkit import Destinations, uuid_for, wire

T = wire.types_pb2
PM = wire.process_manager_pb2
E = wire.examples_pb2
PREFIX = wire.TYPE_URL_PREFIX


def _unpack(page, cls):
    message = cls()
    return message if page.event.Unpack(message) else None


def _state(request) -> set[str]:
    """What the workflow already did, from its own events."""
    done = set()
    for page in request.process_state.pages:
        done.add(page.event.type_url.rsplit(".", 1)[-1])
    return done


def _book(domain: str, root: bytes, message) -> T.CommandBook:
    book = T.CommandBook(cover=T.Cover(domain=domain, root=T.UUID(value=root)))
    book.pages.add().command.Pack(message, type_url_prefix=PREFIX)
    return book


def _event(message) -> T.EventPage:
    page = T.EventPage()
    page.event.Pack(message, type_url_prefix=PREFIX)
    return page


def _step(page, done: set[str], *, remember: bool = True):
    """One step of the workflow for one trigger page: (process events, commands)."""
    created = _unpack(page, E.OrderCreated)
    if created is not None and (not remember or "FulfillmentStarted" not in done):
        return (
            [_event(E.FulfillmentStarted(order_id=created.order_id))],
            [
                _book(
                    "inventory",
                    uuid_for(created.sku),
                    E.ReserveInventory(
                        order_id=created.order_id, sku=created.sku, quantity=created.quantity
                    ),
                )
            ],
        )
    reserved = _unpack(page, E.InventoryReserved)
    if reserved is not None and (not remember or "ShipmentRequested" not in done):
        return (
            [_event(E.ShipmentRequested(order_id=reserved.order_id))],
            [
                _book(
                    "shipping",
                    uuid_for(reserved.order_id),
                    E.ShipOrder(order_id=reserved.order_id, address="1 Main St"),
                )
            ],
        )
    return [], []


def fulfillment_pm(request):
    """Correct: acts on the newest page only, and not again once its state says so."""
    events, commands = _step(request.trigger.pages[-1], _state(request))
    return PM.ProcessManagerHandleResponse(
        process_events=T.EventBook(pages=events), commands=commands
    )


def forgetful_pm(request):
    """Ignores its state: a redelivered trigger is handled again."""
    events, commands = _step(request.trigger.pages[-1], _state(request), remember=False)
    return PM.ProcessManagerHandleResponse(
        process_events=T.EventBook(pages=events), commands=commands
    )


def history_pm(request):
    """Acts on every page of the trigger book (old ones too), remembering nothing."""
    events, commands = [], []
    for page in request.trigger.pages:
        e, c = _step(page, set(), remember=False)
        events += e
        commands += c
    return PM.ProcessManagerHandleResponse(
        process_events=T.EventBook(pages=events[-1:]), commands=commands
    )


def stateless_pm(request):
    """Sends commands but records no process event: provenance falls back to old state."""
    _, commands = _step(request.trigger.pages[-1], set(), remember=False)
    return PM.ProcessManagerHandleResponse(commands=commands)


def two_to_one_root_pm(request):
    """Sends two commands to the same inventory root in one call."""
    events, commands = _step(request.trigger.pages[-1], _state(request))
    if commands:
        commands.append(
            _book(
                "inventory",
                commands[0].cover.root.value,
                E.ReleaseInventory(order_id="x", sku="y", quantity=1),
            )
        )
    return PM.ProcessManagerHandleResponse(
        process_events=T.EventBook(pages=events), commands=commands
    )


def stamping_pm(request):
    """Stamps its command from the map (sequence-map profile)."""
    events, commands = _step(request.trigger.pages[-1], _state(request))
    destinations = Destinations.from_proto(request.destination_sequences)
    for command in commands:
        destinations.stamp_command(command, command.cover.domain)
    return PM.ProcessManagerHandleResponse(
        process_events=T.EventBook(pages=events), commands=commands
    )


def poison_pm(request):
    raise RuntimeError("cannot parse trigger")


class PreparingPM:
    """The legacy two-phase flow: Prepare names the destination, Handle stamps from the map."""

    def __init__(self) -> None:
        self.prepared = 0

    def Prepare(self, request, context):  # noqa: N802 - gRPC naming
        self.prepared += 1
        created = _unpack(request.trigger.pages[-1], E.OrderCreated)
        if created is None:
            return PM.ProcessManagerPrepareResponse()
        return PM.ProcessManagerPrepareResponse(
            destinations=[T.Cover(domain="inventory", root=T.UUID(value=uuid_for(created.sku)))]
        )

    def Handle(self, request, context):  # noqa: N802 - gRPC naming
        return stamping_pm(request)


def order_events(rng, i):
    """PM storm events: (domain, event) pairs for each workflow root."""
    return "order", E.OrderCreated(order_id=f"o-{i}", sku=f"sku-{i % 3}", quantity=1)
