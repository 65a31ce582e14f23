"""Broker mode: storm deliveries through a real RabbitMQ queue (``Storm(..., broker=URL)``).

The storm's trigger messages are published to a fresh quorum queue (``x-delivery-limit`` from
the fault plan, dead-lettered to a sibling queue) and fetched with manual acks. The faults are
real broker operations:

* ``duplicate``: the message is published twice (the copy is not marked redelivered);
* ``crash-before-ack`` / ``crash-mid-dispatch``: the consumer's channel is closed with the
  message unacked, so the broker requeues it (and everything else that channel had fetched);
* ``nack-requeue``: ``basic.nack(requeue=True)``;
* ``concurrent-redelivery``: the first consumer's channel dies while it works, and the broker
  hands the message to a second consumer (another channel);
* ``reorder``: the consumer fetches a window of messages and handles them out of order;
* ``delivery-limit``: the quorum queue dead-letters; the storm reads the dead-letter queue.

``redelivered`` and the delivery count come from the broker (``x-delivery-count``). The oracle
is the same as in memory. Needs ``pika`` (extra ``rabbitmq``).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from ..errors import ConfigurationError
from ..simulate.bus import REORDER_WINDOW, BusHost, Message, register_broker

__all__ = ["RabbitBus", "broker_available"]

_IN_FLIGHT = 16  # published but not yet settled: the in-memory bus's window, so both draw alike
_STALL_SECONDS = 15.0


def _pika() -> Any:
    try:
        import pika
    except ImportError as exc:
        raise ConfigurationError(
            "broker mode needs pika: pip install 'angzarr-testkit[rabbitmq]'",
            details={"error": str(exc)},
        ) from exc
    return pika


def _connect(url: str) -> Any:
    pika = _pika()
    params = pika.URLParameters(url)
    params.connection_attempts = 1
    params.socket_timeout = 5
    params.blocked_connection_timeout = 30
    try:
        return pika.BlockingConnection(params)
    except Exception as exc:  # pika raises several AMQP/socket errors here
        raise ConfigurationError(
            f"cannot connect to the RabbitMQ broker at {url} ({type(exc).__name__}: {exc}); "
            "start one on loopback (e.g. RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 rabbitmq-server) "
            "or run the storm without broker=",
            details={"broker": url},
        ) from exc


def broker_available(url: str) -> str | None:
    """``None`` when a broker answers at ``url``, else the reason it does not."""
    try:
        _connect(url).close()
    except ConfigurationError as exc:
        return exc.message
    return None


class RabbitBus:
    """A storm bus backed by a real RabbitMQ quorum queue."""

    counts_deliveries = True

    def __init__(self, engine: BusHost, url: str) -> None:
        pika = _pika()
        self.pika = pika
        self.engine = engine
        self.url = url
        self.connection = _connect(url)
        self.queue = f"angzarr-testkit.storm.{uuid.uuid4().hex[:12]}"
        self.dead_queue = self.queue + ".dead"
        admin = self.connection.channel()
        admin.queue_declare(self.dead_queue, durable=True, arguments={"x-queue-type": "quorum"})
        admin.queue_declare(
            self.queue,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-delivery-limit": engine.faults.delivery_limit,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": self.dead_queue,
            },
        )
        self.admin = admin
        self.publisher = self.connection.channel()
        # No publisher confirms: one connection keeps publishes in order, and a confirm per
        # message would cost a round trip each.
        self.consumer = self.connection.channel()
        self.rival = self.connection.channel()
        self.messages: dict[tuple[int, int], Message] = {}
        self.buffer: list[tuple[Any, int, Message]] = []  # (channel, tag, message)
        self.tags: dict[int, tuple[Any, int]] = {}  # id(message) -> (channel, tag)
        self.published = 0
        self.acked = 0
        self.dead: int = 0
        self.last_progress = time.monotonic()

    # -- the Bus protocol -------------------------------------------------------------------
    def publish(self, message: Message) -> None:
        self.messages[(message.id, message.copy)] = message
        self.publisher.basic_publish(
            exchange="",
            routing_key=self.queue,
            body=message.book,
            properties=self.pika.BasicProperties(
                message_id=str(message.id), headers={"copy": message.copy}, delivery_mode=2
            ),
        )
        self.published += 1

    def has_room(self) -> bool:
        return self.published - self.acked - self.dead < _IN_FLIGHT

    def pending(self) -> bool:
        return self.acked + self.dead < self.published

    def take(self) -> Message | None:
        engine = self.engine
        want = REORDER_WINDOW if engine.faults.reorder else 1
        while len(self.buffer) < want:
            fetched = self._fetch(self.consumer)
            if fetched is None:
                break
            self.buffer.append(fetched)
        if not self.buffer:
            self._wait_for_progress()
            return None
        j = 0
        if engine.faults.reorder and len(self.buffer) > 1:
            j = engine.rng.randrange(len(self.buffer))
            if j:
                engine.coverage["reorder"] += 1
        channel, tag, message = self.buffer.pop(j)
        self.tags[id(message)] = (channel, tag)
        return message

    def ack(self, message: Message) -> None:
        channel, tag = self.tags.pop(id(message))
        channel.basic_ack(tag)
        self.acked += 1
        self.last_progress = time.monotonic()

    def requeue(self, message: Message, how: str) -> None:
        channel, tag = self.tags.pop(id(message))
        if how == "nack":
            channel.basic_nack(tag, requeue=True)
        else:  # a consumer crash: its channel dies with everything it had not acked
            self._crash(channel)

    def redeliver_to_rival(self, message: Message) -> Message:
        channel, _ = self.tags.pop(id(message))
        self._crash(channel)
        deadline = time.monotonic() + _STALL_SECONDS
        while time.monotonic() < deadline:
            fetched = self._fetch(self.rival)
            if fetched is None:
                time.sleep(0.002)
                continue
            rival_channel, tag, again = fetched
            if (again.id, again.copy) == (message.id, message.copy):
                self.tags[id(again)] = (rival_channel, tag)
                return again
            self.buffer.append(fetched)  # another message: handled later
        raise ConfigurationError(
            f"the broker did not redeliver message {message.id} to the second consumer within "
            f"{_STALL_SECONDS:.0f} s"
        )

    def close(self) -> list[Message]:
        """Read the dead-letter queue (what the broker dead-lettered), then clean up."""
        dead: list[Message] = []
        while True:
            method, properties, _ = self.admin.basic_get(self.dead_queue, auto_ack=True)
            if method is None:
                break
            message = self._message(properties)
            message.count = self._delivery_count(properties, default=message.count)
            dead.append(message)
        for name in (self.queue, self.dead_queue):
            try:
                self.admin.queue_delete(name)
            except Exception:  # best effort: the queue is unique to this run anyway
                pass
        self.connection.close()
        return dead

    # -- internals --------------------------------------------------------------------------
    def _fetch(self, channel: Any) -> tuple[Any, int, Message] | None:
        method, properties, _ = channel.basic_get(self.queue, auto_ack=False)
        if method is None:
            return None
        message = self._message(properties)
        message.redelivered = bool(method.redelivered)
        message.count = self._delivery_count(properties, default=0) + 1
        self.last_progress = time.monotonic()
        if message.count > 1 and not message.redelivered:
            message.redelivered = True
        return channel, method.delivery_tag, message

    def _message(self, properties: Any) -> Message:
        headers = properties.headers or {}
        key = (int(properties.message_id), int(headers.get("copy", 0)))
        return self.messages[key]

    @staticmethod
    def _delivery_count(properties: Any, default: int) -> int:
        headers = properties.headers or {}
        value = headers.get("x-delivery-count")
        return int(value) if value is not None else default

    def _crash(self, channel: Any) -> None:
        """Close a consumer channel with unacked messages (the broker requeues them) and open
        a fresh one in its place; drop what that channel had buffered."""
        self.buffer = [entry for entry in self.buffer if entry[0] is not channel]
        self.tags = {k: v for k, v in self.tags.items() if v[0] is not channel}
        channel.close()
        fresh = self.connection.channel()
        if channel is self.consumer:
            self.consumer = fresh
        else:
            self.rival = fresh

    def _wait_for_progress(self) -> None:
        dead = self.admin.queue_declare(self.dead_queue, passive=True).method.message_count
        if dead != self.dead:
            self.dead = dead
            self.last_progress = time.monotonic()
        if not self.pending():
            return
        if time.monotonic() - self.last_progress > _STALL_SECONDS:
            raise ConfigurationError(
                f"the broker at {self.url} delivered nothing for {_STALL_SECONDS:.0f} s with "
                f"{self.published - self.acked - self.dead} message(s) unsettled"
            )
        time.sleep(0.002)


# Storm(..., broker=URL) opens its bus through simulate.bus; the package facade imports this
# module, so the broker is registered whenever the kit is imported.
register_broker(RabbitBus)
