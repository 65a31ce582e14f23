"""Fault plans: which AMQP at-least-once faults a storm injects, and how often."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import ConfigurationError

__all__ = ["FAULT_CLASSES", "FaultPlan"]

#: Every fault class a storm can inject (the names used by ``require=`` and the reports).
FAULT_CLASSES = (
    "duplicate",
    "crash-before-ack",
    "crash-mid-dispatch",
    "nack-requeue",
    "reorder",
    "concurrent-redelivery",
    "delivery-limit",
)

_RATES = (
    "duplicate",
    "crash_before_ack",
    "crash_mid_dispatch",
    "nack_requeue",
    "concurrent_redelivery",
)


@dataclass(frozen=True)
class FaultPlan:
    """Rates (0..1) and switches of the faults a storm injects.

    Attributes:
        duplicate: per published trigger, the chance the publisher retries after a missing
            confirm, so a second copy (NOT marked redelivered) reaches the queue.
        crash_before_ack: per delivery, the chance the consumer ran the handler and sent
            every command, then lost the ack: the message is redelivered.
        crash_mid_dispatch: per delivery, the chance the consumer crashed after sending only
            the first k of the emitted commands (k drawn uniformly below their count).
        nack_requeue: per delivery, the chance of a transient failure before the handler:
            ``basic.nack(requeue=True)``.
        reorder: deliveries interleave across the first messages of the queue (prefetch and
            several publishers) and requeued messages go back near, not at, the head.
        concurrent_redelivery: per delivery, the chance the broker also hands the message to
            a second consumer while the first is still processing (both miss the dedupe
            lookup; the loser sees ``Sequence conflict``, retries and then dedupes).
        delivery_limit: quorum-queue ``x-delivery-limit`` (RabbitMQ 4 default 20): how many
            times a message may come back; returned once more, after ``delivery_limit + 1``
            deliveries, it is dead-lettered instead (as the real broker does).

    The four per-delivery rates are mutually exclusive draws, so their sum must be <= 1.
    """

    duplicate: float = 0.0
    crash_before_ack: float = 0.0
    crash_mid_dispatch: float = 0.0
    nack_requeue: float = 0.0
    reorder: bool = False
    concurrent_redelivery: float = 0.0
    delivery_limit: int = 20

    def __post_init__(self) -> None:
        for name in _RATES:
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not (0.0 <= value <= 1.0)
            ):
                raise ConfigurationError(
                    f"FaultPlan.{name} must be a rate between 0 and 1, got {value!r}",
                    details={"fault": name, "value": repr(value)},
                )
        per_delivery = (
            self.crash_before_ack
            + self.crash_mid_dispatch
            + self.nack_requeue
            + self.concurrent_redelivery
        )
        if per_delivery > 1.0 + 1e-9:
            raise ConfigurationError(
                "the per-delivery fault rates (crash_before_ack + crash_mid_dispatch + "
                f"nack_requeue + concurrent_redelivery) add up to {per_delivery:g}; they are "
                "exclusive draws, so keep their sum at most 1",
                details={"sum": f"{per_delivery:g}"},
            )
        if not isinstance(self.reorder, bool):
            raise ConfigurationError(
                f"FaultPlan.reorder must be True or False, got {self.reorder!r}",
                details={"fault": "reorder"},
            )
        if (
            isinstance(self.delivery_limit, bool)
            or not isinstance(self.delivery_limit, int)
            or (self.delivery_limit < 1)
        ):
            raise ConfigurationError(
                f"FaultPlan.delivery_limit must be an int >= 1, got {self.delivery_limit!r}",
                details={"fault": "delivery_limit"},
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the trace header keeps it)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultPlan:
        """Inverse of :meth:`to_dict` (unknown keys are refused with a clear error)."""
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigurationError(
                f"unknown fault option(s) {sorted(unknown)}; known: "
                f"{sorted(cls.__dataclass_fields__)}",
                details={"unknown": ", ".join(sorted(unknown))},
            )
        return cls(**data)
