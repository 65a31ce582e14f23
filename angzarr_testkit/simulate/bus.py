"""Where a storm's trigger messages wait between deliveries: the message, the bus protocol, the
in-memory bus, and the seam a broker transport plugs into.

The storm's engine talks to a :class:`Bus` only. :class:`MemoryBus` models a RabbitMQ queue with
manual acks in memory; :mod:`angzarr_testkit.transports.rabbitmq` implements the same protocol
on a real broker and registers itself with :func:`register_broker`, so this module (and the
storm) never import a transport: transports sit above the simulation and import only this
module from it.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from ..errors import ConfigurationError
from .faults import FaultPlan

__all__ = [
    "REORDER_WINDOW",
    "Bus",
    "BusFactory",
    "BusHost",
    "MemoryBus",
    "Message",
    "open_bus",
    "register_broker",
]

#: how far into the queue a reordering consumer may reach (both buses draw alike)
REORDER_WINDOW = 16


class Message:
    """A trigger in the queue (each publish, duplicates included, is its own entry).

    ``id`` is the storm's message id, ``copy`` 0 for the first publish and 1 for a duplicate;
    ``book`` the serialized trigger EventBook and ``trigger`` the parsed one. ``count`` and
    ``redelivered`` are the delivery count and flag (set by the engine, or by the broker when
    the bus :attr:`Bus.counts_deliveries`); ``twin``: another copy was published (a publisher
    retry). Messages hash by identity.
    """

    __slots__ = ("book", "copy", "count", "id", "redelivered", "trigger", "twin")

    def __init__(self, msg_id: int, book: bytes, trigger: Any, copy: int = 0) -> None:
        self.id = msg_id
        self.copy = copy
        self.book = book
        self.trigger = trigger
        self.redelivered = False
        self.count = 0
        #: another copy of this trigger was published (a publisher retry)
        self.twin = False


class BusHost(Protocol):
    """What a bus may read from the storm run that owns it: the fault plan (reorder, the
    delivery limit), the run's random generator (reorder draws) and the fault coverage
    counters (a bus counts the reorders it makes)."""

    faults: FaultPlan
    rng: random.Random
    coverage: dict[str, int]


class Bus(Protocol):
    """Where a storm's trigger messages wait between deliveries."""

    #: whether the bus sets ``count`` and ``redelivered`` itself (a real broker does)
    counts_deliveries: bool

    def publish(self, message: Message) -> None: ...

    def has_room(self) -> bool: ...

    def pending(self) -> bool: ...

    def take(self) -> Message | None: ...

    def ack(self, message: Message) -> None: ...

    def requeue(self, message: Message, how: str) -> None: ...

    def redeliver_to_rival(self, message: Message) -> Message: ...

    def close(self) -> list[Message]: ...


#: makes the bus of a broker URL for one storm run: ``factory(host, url)``
BusFactory = Callable[[BusHost, str], Bus]

_broker_factories: list[BusFactory] = []


def register_broker(factory: BusFactory) -> None:
    """Install the bus factory :func:`open_bus` uses for a broker URL (the RabbitMQ
    transport registers itself when imported; the package facade imports it)."""
    _broker_factories[:] = [factory]


def open_bus(host: BusHost, broker: str | None) -> Bus:
    """The bus of one storm run: in memory without a broker, else the registered broker's."""
    if broker is None:
        return MemoryBus(host)
    if not _broker_factories:
        raise ConfigurationError(
            f"no broker transport is registered for {broker}; import "
            "angzarr_testkit.transports.rabbitmq",
            details={"broker": broker},
        )
    return _broker_factories[0](host, broker)


class MemoryBus:
    """The in-memory model of a RabbitMQ queue with manual acks:
    FIFO, or reordered within a window; requeued messages go back to the head (near it
    with reorder); the engine counts deliveries and applies the delivery limit."""

    counts_deliveries = False

    def __init__(self, engine: BusHost) -> None:
        self.engine = engine
        self.queue: deque[Message] = deque()

    def publish(self, message: Message) -> None:
        self.queue.append(message)

    def has_room(self) -> bool:
        return len(self.queue) < REORDER_WINDOW

    def pending(self) -> bool:
        return bool(self.queue)

    def take(self) -> Message:
        queue, engine = self.queue, self.engine
        if engine.faults.reorder and len(queue) > 1:
            j = engine.rng.randrange(min(len(queue), REORDER_WINDOW))
            if j:
                engine.coverage["reorder"] += 1
                message = queue[j]
                del queue[j]
                return message
        return queue.popleft()

    def ack(self, message: Message) -> None:
        return None

    def requeue(self, message: Message, how: str) -> None:
        if self.engine.faults.reorder and self.queue:
            self.queue.insert(self.engine.rng.randrange(min(len(self.queue), 3) + 1), message)
        else:
            self.queue.appendleft(message)

    def redeliver_to_rival(self, message: Message) -> Message:
        # The first consumer's channel is gone; the broker hands the same message to the
        # second consumer, marked redelivered.
        message.count += 1
        message.redelivered = True
        return message

    def close(self) -> list[Message]:
        return []
