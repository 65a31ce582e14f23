"""Simulated destination aggregates: a facade over the modules that model them.

The destination side lives in :mod:`.covers` (editions, labels, cover validation),
:mod:`.store` (streams, the event store, dedupe keys and entries), :mod:`.outcomes`
(statuses, :class:`Outcome`, :class:`Pending`), :mod:`.specs` (:class:`AggregateSpec`,
merge policies) and :mod:`.pipeline` (angzarr's per-command pipeline, business logic).
Every name this module exported before the split is importable from it still.
"""

from __future__ import annotations

from .covers import MAIN_EDITIONS as MAIN_EDITIONS
from .covers import edition_name, stream_label
from .covers import validate_cover as validate_cover
from .outcomes import ALREADY_PROCESSED as ALREADY_PROCESSED
from .outcomes import APPLIED as APPLIED
from .outcomes import DEAD_LETTERED as DEAD_LETTERED
from .outcomes import DEDUPED as DEDUPED
from .outcomes import NOT_SENT as NOT_SENT
from .outcomes import REJECTED as REJECTED
from .outcomes import RETRIED_OUT as RETRIED_OUT
from .outcomes import RETRYABLE as RETRYABLE
from .outcomes import SUCCESS_STATUSES as SUCCESS_STATUSES
from .outcomes import Outcome
from .outcomes import Pending as Pending
from .pipeline import Pipeline, normalize_events
from .specs import AggregateSpec
from .specs import BusinessLogic as BusinessLogic
from .specs import Commutative as Commutative
from .specs import merge_policy as merge_policy
from .store import DedupeEntry, EventStore, Stream
from .store import check_sequence_arg as check_sequence_arg
from .store import full_key as full_key
from .store import prior_pages as prior_pages
from .store import render_key as render_key
from .store import source_key as source_key

__all__ = [
    "AggregateSpec",
    "DedupeEntry",
    "EventStore",
    "Outcome",
    "Pipeline",
    "Stream",
    "edition_name",
    "normalize_events",
    "stream_label",
]
