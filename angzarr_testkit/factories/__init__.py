"""factory-boy factories for angzarr envelopes, consistent by construction.

Every factory builds protobuf messages of the active wire classes (see :mod:`angzarr_testkit.wire`).
``build()`` and ``create()`` do the same thing: nothing is persisted.

What "consistent" means here:

* a book has exactly one cover (one root, one domain, one correlation id); pages have none;
* the pages of a book that carry a sequence are numbered ``start, start + 1, ...`` in order, and an
  ``EventBook``'s ``next_sequence`` is the last one + 1 (``start`` when there is none);
* payloads given as messages are packed into ``google.protobuf.Any`` with the
  ``type.googleapis.com/`` prefix (an ``Any`` you pass is kept as it is);
* roots are deterministic: ``uuid_for("root-<n>")``, ``n`` from the one :class:`UUIDFactory`
  counter every cover draws from (``UUIDFactory.reset_sequence()`` restarts it); correlation ids
  are ``uuid_str_for("correlation-<n>")`` (``CoverFactory.reset_sequence()``).

Message and repeated fields are set through the factory like any other field
(``CommandBookFactory(pages=[...])``, ``CoverFactory(root=b"...")``); the factories assemble the
message from constructor arguments, because protobuf refuses assignment to such fields afterwards.
Convenient spellings are accepted wherever a field has that type: 16 raw bytes, a ``uuid.UUID`` or
UUID text for an ``angzarr.UUID``; a name for an ``angzarr.Edition``; a ``datetime`` for a
``Timestamp``; any message for a ``google.protobuf.Any`` (packed); an enum value's name for an enum;
a mapping for a message.

A bad parameter raises :class:`~angzarr_testkit.errors.InvalidArgumentError` whose message and
``details["param"]`` name it. To build a deliberately malformed envelope (for a negative test of
the framework), pass ``validate=False``: values are then taken as given (pages keep the headers you
gave them, ``next_sequence`` is not checked, a cover may have a bad root or domain).
"""

from .base import ProtoFactory
from .coerce import DOMAIN_PATTERN
from .commands import (
    AngzarrDeferredSequenceFactory,
    CommandBookFactory,
    CommandPageFactory,
    DeferredPageHeaderFactory,
)
from .covers import CoverFactory, UUIDFactory, pm_root
from .events import EventBookFactory, EventPageFactory
from .requests import (
    NotificationFactory,
    ProcessManagerHandleRequestFactory,
    RejectionNotificationFactory,
    SagaHandleRequestFactory,
)

__all__ = [
    "AngzarrDeferredSequenceFactory",
    "CommandBookFactory",
    "CommandPageFactory",
    "CoverFactory",
    "DOMAIN_PATTERN",
    "DeferredPageHeaderFactory",
    "EventBookFactory",
    "EventPageFactory",
    "NotificationFactory",
    "ProcessManagerHandleRequestFactory",
    "ProtoFactory",
    "RejectionNotificationFactory",
    "SagaHandleRequestFactory",
    "UUIDFactory",
    "pm_root",
]
