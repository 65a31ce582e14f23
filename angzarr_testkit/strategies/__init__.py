"""Hypothesis strategies for angzarr envelopes, and for any protobuf message.

The envelope strategies keep the invariants of :mod:`angzarr_testkit.factories`: one cover per
book, sequences contiguous from a start, ``next_sequence`` = last + 1 (or the start when there are
no pages), payloads packed with the ``type.googleapis.com/`` prefix, domains matching
``[a-z_][a-z0-9_-]{0,63}``. Every parameter that shapes a value accepts a plain value (used as
it is), a strategy (drawn from) or ``None`` (the default strategy).

:func:`messages` builds arbitrary instances of any protobuf message type from its descriptor.
Everything is made of ``fixed_dictionaries``/``lists``/``one_of`` so that failing examples shrink
toward empty messages, zero scalars and the first enum value.
"""

from .. import wire
from .arbitrary import messages
from .envelopes import (
    STAMPINGS,
    command_books,
    deferred_headers,
    event_books,
    event_pages,
    example_commands,
    example_events,
)
from .params import MAX_DEPTH as MAX_DEPTH  # public, outside __all__ as before
from .params import MAX_SIZE as MAX_SIZE
from .params import UINT32_MAX
from .primitives import correlation_ids, covers, domains, editions, roots, sequences, uuids
from .requests import (
    destination_sequences,
    process_manager_handle_requests,
    saga_handle_requests,
)

__all__ = [
    "STAMPINGS",
    "UINT32_MAX",
    "command_books",
    "correlation_ids",
    "covers",
    "deferred_headers",
    "destination_sequences",
    "domains",
    "editions",
    "event_books",
    "event_pages",
    "example_commands",
    "example_events",
    "messages",
    "process_manager_handle_requests",
    "roots",
    "saga_handle_requests",
    "sequences",
    "uuids",
]


#: :func:`angzarr_testkit.wire.is_repeated`, under the name tests/test_strategies.py reads
_is_repeated = wire.is_repeated
