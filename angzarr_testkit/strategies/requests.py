"""What a handler receives: ``destination_sequences`` maps, saga and process-manager requests."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from .. import wire
from ..factories import pm_root
from ..validate import check_bool, check_domain, check_int, check_message, check_uint32
from . import primitives
from .envelopes import event_books
from .params import (
    MAX_SIZE,
    as_strategy,
    bad_param,
    check_domain_value,
    check_map_value,
    check_param,
    check_plain,
    check_size,
)


def destination_sequences(
    domains: object = None,
    *,
    min_size: int = 0,
    max_size: int = 4,
    sequences: object = None,
) -> SearchStrategy[dict[str, int]]:
    """``destination_sequences`` maps: domain -> next sequence.

    ``domains`` given as a collection of names makes a map with exactly those keys; as a strategy
    (default :func:`domains`) it draws ``min_size..max_size`` distinct keys.
    """
    check_plain(sequences, "sequences", check_uint32)
    values = as_strategy(sequences, primitives.sequences())
    if isinstance(domains, Collection) and not isinstance(domains, (str, bytes, Mapping)):
        if len(domains) > MAX_SIZE:
            raise bad_param("domains", f"at most {MAX_SIZE} domains", len(domains))
        for d in domains:
            check_param(d, "domains", check_domain)
        return st.fixed_dictionaries({d: values for d in domains})
    if domains is not None and not isinstance(domains, SearchStrategy):
        raise bad_param("domains", "pass a collection of domain names or a strategy", domains)
    check_size(min_size, max_size, "size")
    keys = domains if domains is not None else primitives.domains()
    return st.dictionaries(keys, values, min_size=min_size, max_size=max_size)


def saga_handle_requests(
    source: object = None,
    *,
    destination_sequences: object = None,
    sync_mode: object = None,
    cascade_error_mode: object = None,
) -> SearchStrategy[Any]:
    """``angzarr.SagaHandleRequest``: a trigger book with at least one page and a
    ``destination_sequences`` map (defaults: :func:`event_books`, :func:`destination_sequences`)."""
    check_plain(source, "source", check_message, full_name="angzarr.EventBook")
    check_map_value(destination_sequences, "destination_sequences")
    check_plain(sync_mode, "sync_mode", check_int, minimum=0, maximum=2**31 - 1)
    check_plain(cascade_error_mode, "cascade_error_mode", check_int, minimum=0, maximum=2**31 - 1)
    return st.builds(
        lambda src, seqs, sync, cascade: wire.saga_pb2.SagaHandleRequest(
            source=src, destination_sequences=seqs, sync_mode=sync, cascade_error_mode=cascade
        ),
        as_strategy(source, event_books(min_pages=1)),
        as_strategy(destination_sequences, _destination_sequences()),
        as_strategy(sync_mode, st.just(0)),
        as_strategy(cascade_error_mode, st.just(0)),
    )


def process_manager_handle_requests(
    trigger: object = None,
    *,
    process_state: object = None,
    destination_sequences: object = None,
    pm_domain: object = "fulfillment",
    new_workflow: object = None,
) -> SearchStrategy[Any]:
    """``angzarr.ProcessManagerHandleRequest`` keyed by the trigger's correlation id.

    By default the process state is either absent (a new workflow; ``new_workflow=True`` forces
    it) or a book in ``pm_domain`` rooted at :func:`~angzarr_testkit.factories.pm_root` of the
    trigger's correlation id and carrying that id (``new_workflow=False`` forces it). A
    ``process_state`` you pass is used as it is.
    """
    check_domain_value(pm_domain, "pm_domain")
    check_plain(trigger, "trigger", check_message, full_name="angzarr.EventBook")
    check_plain(process_state, "process_state", check_message, full_name="angzarr.EventBook")
    check_map_value(destination_sequences, "destination_sequences")
    check_plain(new_workflow, "new_workflow", check_bool)
    trigger_s = as_strategy(trigger, event_books(min_pages=1))
    seqs_s = as_strategy(destination_sequences, _destination_sequences())
    domain_s = as_strategy(pm_domain)

    @st.composite
    def build(draw: Callable[[SearchStrategy[Any]], Any]) -> Any:
        trig = draw(trigger_s)
        if process_state is not None:
            state = draw(as_strategy(process_state))
        else:
            fresh = draw(as_strategy(new_workflow, st.booleans()))
            state = None
            if not fresh:
                cid = trig.cover.correlation_id
                state = draw(
                    event_books(
                        draw(domain_s),
                        min_pages=1,
                        root=pm_root(cid),
                        correlation_id=cid,
                    )
                )
        return wire.process_manager_pb2.ProcessManagerHandleRequest(
            trigger=trig, process_state=state, destination_sequences=draw(seqs_s)
        )

    return build()


# Aliases for parameters that share a strategy's name (``destination_sequences(domains=...)``).
_destination_sequences = destination_sequences
