"""Fault plans: which AMQP at-least-once faults a storm injects, and how often."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import ConfigurationError
from ..validate import (
    check_bool,
    check_choice,
    check_int,
    check_names,
    check_probability,
    checked,
    recast,
    usage_error,
)

__all__ = ["FAULT_CLASSES", "MAX_DELIVERY_LIMIT", "FaultPlan", "check_fault_classes"]

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

#: the highest ``delivery_limit`` accepted (a message is delivered at most that often + 1)
MAX_DELIVERY_LIMIT = 10_000


def check_fault_classes(value: Any, param: str = "require") -> list[str]:
    """A list of fault class names from :data:`FAULT_CLASSES` (a lone ``str`` is refused,
    never iterated), as a :class:`~angzarr_testkit.errors.ConfigurationError`."""
    return checked(
        ConfigurationError,
        check_names,
        value,
        param,
        item=lambda v, p: check_choice(v, p, FAULT_CLASSES),
        accepted="a list of fault class names (" + ", ".join(FAULT_CLASSES) + ")",
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
            # a probability: a number in [0, 1], not NaN, not a bool
            checked(ConfigurationError, check_probability, getattr(self, name), f"FaultPlan.{name}")
        checked(ConfigurationError, check_bool, self.reorder, "FaultPlan.reorder")
        checked(
            ConfigurationError,
            check_int,
            self.delivery_limit,
            "FaultPlan.delivery_limit",
            minimum=1,
            maximum=MAX_DELIVERY_LIMIT,
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

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the trace header keeps it)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultPlan:
        """Inverse of :meth:`to_dict` (unknown keys are refused with a clear error)."""
        if not isinstance(data, dict):
            raise recast(
                usage_error("data", data, "a dict of FaultPlan fields", type_error=True),
                ConfigurationError,
            )
        unknown = {str(k) for k in data} - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigurationError(
                f"unknown fault option(s) {sorted(unknown)}; known: "
                f"{sorted(cls.__dataclass_fields__)}",
                details={"unknown": ", ".join(sorted(unknown))},
            )
        return cls(**data)
