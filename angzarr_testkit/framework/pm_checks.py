"""The process manager's oracle and command checks: the saga ones plus what a PM adds.

:class:`PMOracle` raises a trigger whose process events are persisted twice (PM state
double-apply), commands that repeat one already applied for an earlier trigger of the same
workflow (history re-triggering), process events out of sequence, poison triggers, and
handler failures as a PM sees them (nacked and requeued); under ``profile="core"``, process
events the event store refuses (:mod:`.pm_store`) and the requeue loop core never ends.
:class:`PMCommandChecks` accepts the PM's own provenance (``angzarr_deferred{source = the PM
cover}``).
"""

from __future__ import annotations

import traceback as tb
from typing import Any

from ..errors import codes, describe_exception
from .aggregate import Stream, stream_label
from .checks import CommandChecks
from .findings import Finding
from .oracle import Oracle
from .pm_store import NIL_ROOT, PersistRejected
from .records import RecordedCommand
from .targets import HandlerAborted, HandlerExited, HandlerResultError, MalformedResponseError
from .work import DeliveryWork, trigger_label

__all__ = ["PMCommandChecks", "PMOracle"]


class PMCommandChecks(CommandChecks):
    """The command checks of a process-manager harness."""

    def provenance_ok(self, work: DeliveryWork, deferred: Any) -> bool:
        """The PM's own provenance (its cover, any ``source_seq``), else the trigger's.

        Any ``source_seq`` under the PM's cover is the PM's: the coordinator stamps its highest
        process-event sequence, and a handler that sets ``angzarr_deferred{source_seq}``
        without a source keeps its own number (core fills in only the source), which is how
        a PM gives two commands to one root their own dedupe keys."""
        source = work.pm_source[0]
        src = deferred.source
        if src.domain == source.domain and src.root.value == source.root.value:
            return True
        return super().provenance_ok(work, deferred)


class PMOracle(Oracle):
    """The oracle of a process-manager harness.

    Attributes:
        state_applied: trigger id -> the delivery that persisted its process events.
        workflow_commands: (correlation id, command content) -> the trigger that applied it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state_applied: dict[int, int] = {}
        self.workflow_commands: dict[tuple[str, int], int] = {}

    def poisoned(self, work: DeliveryWork, attempts: int) -> None:
        """A trigger dead-lettered after ``attempts`` deliveries that all raised."""
        self.add(
            work,
            Finding(
                "dead-lettered",
                f"the trigger was dead-lettered after {attempts} deliveries: the process "
                "manager raised every time (a poison message); nothing it would have done "
                "happened",
                trigger=trigger_label(work.trigger),
                delivery=work.number,
                details={"deliveries": str(attempts)},
            ),
        )

    def requeue_loop(self, work: DeliveryWork, attempts: int, limit: int) -> None:
        """Under ``core``: a trigger that failed on every delivery the kit made. Core sets no
        delivery limit, so it would be requeued forever; the kit stopped at its own cap."""
        self.add(
            work,
            Finding(
                "requeue-loop",
                f"the trigger failed on all {attempts} deliveries the kit made and would be "
                "requeued forever: angzarr core nacks a failed process-manager trigger with "
                "requeue and sets no delivery limit, so it is never dead-lettered, nothing it "
                "would have done happens, and it keeps coming back (the kit stopped at its "
                f"own cap, delivery_limit={limit})",
                trigger=trigger_label(work.trigger),
                delivery=work.number,
                details={"deliveries": str(attempts), "kit_delivery_limit": str(limit)},
            ),
        )

    def persist_rejected(self, work: DeliveryWork, exc: PersistRejected, commands: int) -> None:
        """Under ``core``: the event store refused the PM's process events, so none of its
        ``commands`` was sent and the trigger is nacked and requeued."""
        if exc.cause == "duplicate-sequence":
            advice = (
                f"Two of its pages have sequence {exc.actual} (a page without a sequence "
                "header is sequence 0): give each page its own sequence header, continuing "
                "from process_state's next sequence"
            )
        elif exc.headerless:
            advice = (
                "The refused page has no sequence header, so the store reads it as sequence 0 "
                "(angzarr-client 0.3.1's ProcessManager returns its process events so): stamp "
                "header.sequence on each page, continuing from process_state's next sequence"
            )
        else:
            advice = (
                f"Its sequence {exc.actual} is below the stream's next sequence "
                f"{exc.expected}: continue from process_state's next sequence"
            )
        if exc.root == NIL_ROOT:
            shared = (
                f" (it already holds events of {len(exc.others)} other workflow(s))"
                if exc.others
                else ""
            )
            advice += (
                f". The book has no cover with a root, so core wrote it to the nil-root "
                f"stream {exc.stream} that every workflow of the PM domain shares{shared}: "
                "give process_events a cover whose root is the workflow's (the correlation "
                "id's UUID)"
            )
        self.add(
            work,
            Finding(
                "handler-error",
                f"the event store refused process manager {self.target.name}'s process "
                f"events ({exc.reason}): angzarr core persists them before it sends any "
                f"command, so none of its {commands} command(s) was sent and the trigger is "
                f"nacked and requeued; it fails the same way on every redelivery. {advice}",
                trigger=trigger_label(work.trigger),
                target=exc.stream,
                delivery=work.number,
                sequences={"expected": exc.expected, "actual": exc.actual},
                details={
                    "error": exc.reason,
                    "cause": exc.cause,
                    "commands_not_sent": str(commands),
                },
            ),
        )

    # a dedupe collision's fix as a process manager can apply it: its commands carry the PM's
    # cover and the highest sequence of the process events it returned
    COLLISION_CALL = "PM call"
    COLLISION_FIX_ONE_CALL = (
        "Send one command per target root per PM call, merge them into one multi-page command, "
        "or give each its own source_seq: set angzarr_deferred{source_seq} without a source on "
        "its pages (angzarr fills in the PM's cover and keeps the number)"
    )
    COLLISION_FIX_TWO_TRIGGERS = (
        "A PM's commands carry the highest sequence of the process events its call returned (0 "
        "for a page without a sequence header), else of its state: emit a process event with an "
        "explicit sequence header (process_state's next sequence) so each command has its own "
        "source_seq"
    )

    def process_events_conflict(self, work: DeliveryWork, state: Stream, pages: list[Any]) -> None:
        """Process events that do not start at the PM stream's head (nothing is persisted)."""
        head = state.next_sequence
        self.add(
            work,
            Finding(
                "handler-error",
                f"process events start at sequence {pages[0].header.sequence} but the PM "
                f"stream is at {head} (Sequence conflict): leave sequences unset or "
                "continue from process_state",
                trigger=trigger_label(work.trigger),
                target=stream_label(state.domain, state.root),
                delivery=work.number,
                sequences={"expected": head, "actual": pages[0].header.sequence},
            ),
        )

    def state_persisted(self, work: DeliveryWork, state: Stream) -> None:
        """The process events of ``work``'s trigger were persisted: a second time is a PM
        state double-apply."""
        first = self.state_applied.setdefault(work.trigger_id, work.number)
        if first != work.number:
            self.add(
                work,
                Finding(
                    "double-apply",
                    f"the PM persisted process events for the same trigger again (deliveries "
                    f"#{first}, #{work.number}): its state now holds the trigger twice. A PM "
                    "must see in process_state that it already handled the trigger and emit "
                    "nothing",
                    trigger=trigger_label(work.trigger),
                    target=stream_label(state.domain, state.root),
                    delivery=work.number,
                    details={"correlation_id": work.trigger.cover.correlation_id},
                ),
            )

    def applied(self, work: DeliveryWork, index: int) -> None:
        """The saga check, plus history re-triggering."""
        super().applied(work, index)
        # History re-triggering: the same command content applied for two different triggers
        # of one workflow (e.g. a PM acting on every page of a multi-page trigger).
        command = work.sent[index]
        content = hash(
            (
                command.cover.domain,
                command.cover.root.value,
                tuple(p.command.SerializeToString() for p in command.pages),
            )
        )
        key = (work.trigger.cover.correlation_id, content)
        first = self.workflow_commands.setdefault(key, work.trigger_id)
        if first != work.trigger_id:
            rc = RecordedCommand(command)
            self.add(
                work,
                Finding(
                    "nondeterministic-output",
                    f"{rc.type_name} to {stream_label(rc.domain, rc.root)} repeats a command "
                    "already applied for an earlier trigger of this workflow: the PM acted on "
                    "replayed history (older pages of a multi-page trigger, or events it had "
                    "already handled). Act on the newest page only and record progress in "
                    "process events",
                    trigger=trigger_label(work.trigger),
                    target=stream_label(rc.domain, rc.root),
                    delivery=work.number,
                    details={"correlation_id": work.trigger.cover.correlation_id},
                    defect=f"replayed history: {rc.domain} {rc.type_name}",
                ),
            )

    def handler_failed(self, work: DeliveryWork, exc: BaseException) -> None:
        """A PM handler failure: nacked and requeued (a missing sequence as for sagas)."""
        code = getattr(exc, "code", None)
        described = describe_exception(exc)
        if code == codes.MISSING_DESTINATION_SEQUENCE or "No sequence for domain" in described:
            super().handler_failed(work, exc)
            return
        if isinstance(exc, MalformedResponseError):
            self.add(
                work,
                Finding(
                    "malformed-response",
                    f"process manager {self.target.name} answered with a malformed "
                    f"response: {exc.summary}. Nothing could be read from it, so the trigger "
                    "is nacked and requeued as after a failed call; return a "
                    "ProcessManagerHandleResponse (same angzarr schema)",
                    trigger=trigger_label(work.trigger),
                    delivery=work.number,
                    details={"handler": self.target.name, **exc.details},
                ),
            )
            return
        trace = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
        error = type(exc).__name__
        if isinstance(exc, HandlerAborted):
            what = f"the servicer aborted with {exc.code}: {exc.details}"
        elif isinstance(exc, (HandlerResultError, HandlerExited)):
            what = str(exc)
            error = "SystemExit" if isinstance(exc, HandlerExited) else error
        else:
            what = described
        self.add(
            work,
            Finding(
                "handler-error",
                f"process manager {self.target.name} failed on the trigger ({what}); angzarr "
                "nacks and requeues it ("
                + (
                    "core sets no delivery limit: a poison message loops forever)"
                    if self.profile == "core"
                    else "a poison message loops until the delivery limit)"
                ),
                trigger=trigger_label(work.trigger),
                delivery=work.number,
                details={"error": error},
                traceback=trace,
            ),
        )
