"""Is a storm's verdict worth anything? Vacuity and the delivery budget.

A storm is *vacuous* when it exercised nothing: it delivered nothing, every trigger was
skipped, no trigger produced a command or fact although the handler declares output
domains, every command was rejected / skipped / not applied, or a required fault class never
happened. :func:`vacuity` makes ONE ``vacuous-run`` finding (an error) of it, naming the
reason and the numbers, so a vacuous storm is never reported clean.

A storm also has a total *delivery budget* (:func:`default_delivery_budget`): a redelivery
loop (``nack_requeue=1.0`` with a huge ``delivery_limit``) must end with a
``budget-exhausted`` finding (:func:`budget_finding`) and a normal report, never hang.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..framework.findings import Finding
from .faults import FaultPlan

__all__ = [
    "BUDGET_SLACK",
    "LOOP_LIMIT",
    "VACUITY_REASONS",
    "budget_finding",
    "default_delivery_budget",
    "delivery_limit_finding",
    "vacuity",
]

#: A message returned more often than this is a loop, whatever ``delivery_limit`` says: the
#: default budget counts at most this many returns per message.
LOOP_LIMIT = 100
#: Deliveries added to the default budget on top of the per-message bound.
BUDGET_SLACK = 1000

#: The ``details["reason"]`` of a ``vacuous-run`` finding, in the order they are checked.
VACUITY_REASONS = (
    "no-deliveries",
    "all-skipped",
    "handler-never-called",
    "no-output",
    "nothing-applied",
    "missing-coverage",
)


def default_delivery_budget(events: int, faults: FaultPlan) -> int:
    """The delivery budget of a storm that was given none::

        events x copies x (min(delivery_limit, LOOP_LIMIT) + 2) + BUDGET_SLACK

    ``copies`` is 2 when the plan duplicates publishes (each event is published at most
    twice), else 1. A message is delivered at most ``delivery_limit + 1`` times before the
    queue dead-letters it, plus once more when a concurrent redelivery hands it to a second
    consumer; so for ``delivery_limit <= LOOP_LIMIT`` (RabbitMQ's default is 20) no storm that
    terminates on its own reaches the default budget. Above ``LOOP_LIMIT`` returns per
    message the storm is treated as a redelivery loop.
    """
    copies = 2 if faults.duplicate > 0 else 1
    return events * copies * (min(faults.delivery_limit, LOOP_LIMIT) + 2) + BUDGET_SLACK


def delivery_limit_finding(
    message_id: int, deliveries: int, limit: int, trigger: str, *, core: bool
) -> Finding:
    """A message that came back more often than the storm's ``delivery_limit``: the
    broker dead-letters it (``dead-lettered``), except under ``core``, whose queues declare no
    x-delivery-limit: there it would come back forever and the limit is only the kit's cap on
    the loop (``requeue-loop``; docs/profiles.md)."""
    details = {"deliveries": str(deliveries), "message": str(message_id)}
    if core:
        return Finding(
            "requeue-loop",
            f"trigger message {message_id} came back on all {deliveries} deliveries (consumer "
            "crashes, nacks or handler errors) and would be requeued forever: angzarr core "
            "declares its queues with no x-delivery-limit, so it is never dead-lettered and "
            f"keeps a consumer busy (the kit stopped at its own cap, delivery_limit={limit})",
            trigger=trigger,
            details={**details, "kit_delivery_limit": str(limit)},
        )
    return Finding(
        "dead-lettered",
        f"trigger message {message_id} was dead-lettered after {deliveries} deliveries "
        f"(x-delivery-limit {limit}); whatever it had not yet done is lost",
        trigger=trigger,
        details=details,
    )


def budget_finding(
    budget: int,
    queued: Sequence[Any],
    unpublished: int,
    delivery_limit: int,
    label: Callable[[Any], str] | None = None,
) -> Finding:
    """The ``budget-exhausted`` finding: the budget, the messages still cycling (delivered
    and back in the queue: id and how often each was delivered, the first ten named), the
    ones waiting behind them and the events never published. ``queued`` holds the storm's
    unsettled messages (``.id``, ``.copy``, ``.count``, ``.trigger``); ``label`` renders the
    trigger of the most-delivered one for the finding's ``trigger``."""
    cycling = sorted((m for m in queued if m.count), key=lambda m: (-m.count, m.id, m.copy))
    waiting = len(queued) - len(cycling)
    shown = ", ".join(
        f"message {m.id}{' (duplicate copy)' if m.copy else ''} delivered {m.count:,} times"
        for m in cycling[:10]
    )
    more = f" and {len(cycling) - 10} more" if len(cycling) > 10 else ""
    message = (
        f"the storm stopped after its delivery budget of {budget:,} deliveries ran out with "
        f"{len(cycling)} message(s) still cycling ({shown or 'none'}{more})"
    )
    if waiting:
        message += f", {waiting} waiting behind them"
    if unpublished:
        message += f" and {unpublished} event(s) never published"
    message += (
        f". A redelivery loop: a message that keeps coming back (nack-requeue, crashes) is "
        f"only dead-lettered after x-delivery-limit {delivery_limit} returns. Lower "
        "delivery_limit or the fault rates, or raise delivery_budget= if the storm is "
        "legitimately this long"
    )
    return Finding(
        "budget-exhausted",
        message,
        trigger=label(cycling[0].trigger) if (label and cycling) else None,
        details={
            "budget": str(budget),
            "cycling": str(len(cycling)),
            "messages": ", ".join(str(m.id) for m in cycling[:10]),
            "waiting": str(waiting),
            "unpublished": str(unpublished),
        },
    )


def vacuity(
    counts: dict[str, int],
    *,
    produced: int,
    facts_persisted: int,
    output_domains: Sequence[str],
    missing: Iterable[str],
    allow_vacuous: bool,
) -> Finding | None:
    """ONE ``vacuous-run`` finding when the storm exercised nothing, else ``None``.

    Args:
        counts: the storm's counters (``COUNT_NAMES``).
        produced: commands and facts the handler returned, over every call.
        facts_persisted: facts the destinations stored (not refused).
        output_domains: the handler's declared output domains.
        missing: required fault classes that never happened.
        allow_vacuous: the user opted out of the work-based reasons (a required fault that
            never happened is still reported: drop it from ``require=`` instead).
    """
    missing = list(missing)
    reasons: list[tuple[str, str]] = []
    deliveries = counts["deliveries"]
    calls = counts["handler_calls"]
    if not allow_vacuous:
        if deliveries == 0:
            reasons.append(
                (
                    "no-deliveries",
                    f"the storm delivered nothing ({counts['published']} events published): "
                    "give events >= 1",
                )
            )
        elif calls == 0 and counts["skipped"]:
            reasons.append(
                (
                    "all-skipped",
                    f"every trigger was skipped ({counts['skipped']} of {deliveries} "
                    "deliveries): angzarr runs a process manager only for triggers with a "
                    "correlation id; give the event source's EventBooks a "
                    "cover.correlation_id",
                )
            )
        elif calls == 0:
            reasons.append(
                (
                    "handler-never-called",
                    f"the handler was never called in {deliveries} deliveries (every one "
                    "was nacked or crashed before it ran)",
                )
            )
        elif produced == 0 and output_domains:
            errors = counts["handler_errors"]
            raised = f", {errors} of them raised" if errors else ""
            reasons.append(
                (
                    "no-output",
                    f"no trigger produced a command or fact in {calls} handler calls{raised}, "
                    f"although the handler declares output domains {', '.join(output_domains)}: "
                    "the event source does not give it anything it acts on",
                )
            )
        elif produced and counts["applied"] == 0 and facts_persisted == 0:
            not_sent = max(
                0,
                counts["commands_sent"]
                - counts["applied"]
                - counts["deduped"]
                - counts["rejected"]
                - counts["retried_out"],
            )
            reasons.append(
                (
                    "nothing-applied",
                    f"no command or fact was applied: {counts['commands_sent']} commands "
                    f"({counts['rejected']} rejected, {counts['retried_out']} retried out, "
                    f"{not_sent} not sent or refused) and {counts['facts']} facts "
                    "(none stored)",
                )
            )
    if missing:
        reasons.append(
            (
                "missing-coverage",
                "required fault classes never occurred (a storm that injected nothing proves "
                f"nothing: raise the fault rates or the events): {', '.join(missing)}",
            )
        )
    if not reasons:
        return None
    (reason, text), *also = reasons
    message = f"vacuous run: {text}"
    if also:
        message += "; also: " + "; ".join(t for _, t in also)
    details = {
        "reason": reason,
        "deliveries": str(deliveries),
        "handler_calls": str(calls),
        "produced": str(produced),
        "applied": str(counts["applied"]),
        "facts": str(counts["facts"]),
    }
    if also:
        details["also"] = ", ".join(r for r, _ in also)
    if missing:
        details["missing_coverage"] = ", ".join(missing)
    return Finding("vacuous-run", message, details=details)
