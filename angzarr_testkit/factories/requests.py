"""What a handler receives: saga and process-manager requests, and notifications."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import factory
from google.protobuf.message import Message

from .. import wire
from .base import ProtoFactory, pop_params
from .coerce import as_message, bad_param, check_domain_param, check_uint32_param, construct
from .commands import CommandBookFactory
from .covers import CoverFactory, pm_root
from .events import EventBookFactory

M = TypeVar("M", bound=Message)

_T = wire.types_pb2


def _destination_sequences(value: object, *, validate: bool) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise bad_param(
            "destination_sequences",
            f"takes a mapping of domain -> next sequence, got {type(value).__name__}",
            value,
        )
    out: dict[str, int] = {}
    for domain, seq in value.items():
        if validate:
            check_domain_param(domain, f"destination_sequences[{domain!r}]")
        out[domain] = check_uint32_param(seq, f"destination_sequences[{domain!r}]")
    return out


class SagaHandleRequestFactory(ProtoFactory):
    """``angzarr.SagaHandleRequest``: a default :class:`EventBookFactory` trigger as ``source``
    and an empty ``destination_sequences`` map.

    Params: ``source`` (an ``EventBook``; ``source__events=[...]`` reaches the sub-factory),
    ``destination_sequences`` (domain -> next sequence), ``sync_mode``, ``cascade_error_mode``
    (values or names), ``validate``.
    """

    class Meta:
        model = wire.saga_pb2.SagaHandleRequest

    source = factory.SubFactory(EventBookFactory, validate=factory.SelfAttribute("..validate"))
    destination_sequences = factory.LazyFunction(dict)
    validate = True

    @classmethod
    def _assemble(cls, model_class: type[M], kwargs: dict[str, Any]) -> M:
        validate = bool(kwargs.pop("validate", True))
        kwargs["destination_sequences"] = _destination_sequences(
            kwargs.get("destination_sequences"), validate=validate
        )
        return construct(model_class, kwargs, cls.__name__)


class ProcessManagerHandleRequestFactory(ProtoFactory):
    """``angzarr.ProcessManagerHandleRequest``: a default trigger book, no process state (a new
    workflow) and an empty ``destination_sequences`` map.

    Params:
        trigger: an ``EventBook`` (``trigger__events=[...]`` reaches the sub-factory).
        process_state: the PM's own book for the trigger's correlation id.
        process_events: shortcut: build ``process_state`` from these events, in domain
            ``pm_domain`` (default ``"fulfillment"``), rooted at :func:`pm_root` of the
            trigger's correlation id, carrying that correlation id.
        destination_sequences: domain -> next sequence.
        validate: also checks that ``process_state`` has the trigger's correlation id.
    """

    class Meta:
        model = wire.process_manager_pb2.ProcessManagerHandleRequest

    trigger = factory.SubFactory(EventBookFactory, validate=factory.SelfAttribute("..validate"))
    process_state = None
    process_events = None
    pm_domain = "fulfillment"
    destination_sequences = factory.LazyFunction(dict)
    validate = True

    @classmethod
    def _assemble(cls, model_class: type[M], kwargs: dict[str, Any]) -> M:
        validate = bool(kwargs.pop("validate", True))
        process_events, pm_domain = pop_params(kwargs, "process_events", "pm_domain")
        trigger = kwargs.get("trigger")
        trigger = (
            None if trigger is None else as_message(_T.EventBook.DESCRIPTOR, trigger, "trigger")
        )
        kwargs["trigger"] = trigger
        correlation_id = trigger.cover.correlation_id if trigger is not None else ""
        if process_events is not None:
            if kwargs.get("process_state") is not None:
                raise bad_param(
                    "process_events", "pass either process_state= or process_events=", None
                )
            kwargs["process_state"] = EventBookFactory.build(
                domain=pm_domain if pm_domain is not None else "fulfillment",
                root=pm_root(correlation_id),
                correlation_id=correlation_id,
                events=process_events,
                validate=validate,
            )
        state = kwargs.get("process_state")
        if validate and state is not None:
            state = as_message(_T.EventBook.DESCRIPTOR, state, "process_state")
            if state.cover.correlation_id != correlation_id:
                raise bad_param(
                    "process_state",
                    f"its correlation id {state.cover.correlation_id!r} is not the trigger's "
                    f"{correlation_id!r}; a PM's state is keyed by the trigger's correlation id",
                    state.cover.correlation_id,
                )
        kwargs["destination_sequences"] = _destination_sequences(
            kwargs.get("destination_sequences"), validate=validate
        )
        return construct(model_class, kwargs, cls.__name__)


class RejectionNotificationFactory(ProtoFactory):
    """``angzarr.RejectionNotification``: a default :class:`CommandBookFactory` command and a
    reason."""

    class Meta:
        model = _T.RejectionNotification

    rejected_command = factory.SubFactory(CommandBookFactory)
    rejection_reason = "rejected by test"


class NotificationFactory(ProtoFactory):
    """``angzarr.Notification``: a cover and, as ``payload``, a packed
    :class:`RejectionNotificationFactory` (any message passed as ``payload`` is packed).

    Params: ``cover``, ``payload``, ``sent_at`` (``Timestamp`` or ``datetime``), ``metadata``.
    """

    class Meta:
        model = _T.Notification

    cover = factory.SubFactory(CoverFactory)
    payload = factory.LazyFunction(lambda: wire.pack(RejectionNotificationFactory.build()))
    sent_at = None
    metadata = factory.LazyFunction(dict)
