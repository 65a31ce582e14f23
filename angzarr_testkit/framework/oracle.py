"""The oracle of a saga run: the finding log, and the findings that follow a delivery's
handler call and its outcomes, with what it keeps across deliveries to raise them.

An :class:`Oracle` owns the finding log, the first output of each trigger (the determinism
check), the logical commands not yet applied or rejected (``lost-command``) and those applied
(``double-apply``). The harness holds one (``SagaHarness.oracle``) and calls it at each step:
the handler's output and failures, each outcome of the destination pipeline. The command
checks (:mod:`.checks`) add their findings to its log. A process-manager harness holds a
subclass (:mod:`.pm_checks`).
"""

from __future__ import annotations

import re
import traceback as tb
from typing import Any

from ..errors import codes, describe_exception
from .aggregate import DEAD_LETTERED, RETRIED_OUT, Outcome, edition_name, render_key, stream_label
from .findings import Finding
from .outcomes import REJECTED, SEQUENCE_MISMATCH_OVERLAP
from .outputs import (
    Difference,
    SeqInfo,
    describe_sequence,
    explicit_page,
    field_pattern,
    fingerprint,
    first_difference,
    pack_seqs,
    sequences_differ,
    unpack_seqs,
)
from .records import RecordedCommand
from .targets import (
    HandlerAborted,
    HandlerExited,
    HandlerResultError,
    MalformedResponseError,
    SagaTarget,
)
from .work import DeliveryWork, facts_of, trigger_label

__all__ = ["Oracle", "missing_sequence_domain", "missing_sequence_fix"]

_MASK40 = (1 << 40) - 1
_MASK64 = (1 << 64) - 1
_SDK_MISSING_RE = re.compile(r"No sequence for domain '([^']*)'")
#: how to get a saga's deferred command past core's merge check (docs/profiles.md, H-18)
_DEFERRED_MERGE_FIX = (
    "set merge_strategy = MERGE_STRICT (or MERGE_AGGREGATE_HANDLES) on the command's pages: "
    "core skips the check for those deferred commands, and the deferred header still dedupes "
    "redeliveries"
)


def missing_sequence_domain(exc: BaseException) -> str | None:
    """The domain a map-stamping error names, or ``None`` when ``exc`` is not one: the kit's
    :class:`~angzarr_testkit.destinations.Destinations` raises code
    ``MISSING_DESTINATION_SEQUENCE`` (the domain in its details), angzarr_client 0.3.1's a
    ``ValueError("No sequence for domain '<d>' ...")``."""
    if getattr(exc, "code", None) == codes.MISSING_DESTINATION_SEQUENCE:
        return (getattr(exc, "details", None) or {}).get("domain")
    if isinstance(exc, ValueError):
        match = _SDK_MISSING_RE.search(describe_exception(exc))
        return match.group(1) if match else None
    return None


def missing_sequence_fix(profile: str, domain: str) -> str:
    """How to fix stamping ``domain`` from a map that lacks it, under ``profile``."""
    if profile == "core":
        return (
            "angzarr core HEAD always sends an EMPTY map (no production saga or "
            "process-manager context declares output domains), so this fails on every "
            "trigger in production and core acks it: the trigger's work is lost. Stamp "
            "Destinations.deferred_header(request.source.cover, <trigger page seq>) "
            "instead (core rewrites every command to a deferred header anyway), with "
            "merge_strategy = MERGE_STRICT on its pages so that core's merge check of a "
            "deferred command lets it through a destination with history"
        )
    return f"declare '{domain}' as an output domain, or use a deferred header"


class Oracle:
    """The findings of one harness, and the state across deliveries they need.

    Args:
        target: the saga or process manager (findings name it).
        profile: the framework profile (a missing sequence's finding names it).
        keep_all: keep every trigger's first output (record mode), so that a
            ``nondeterministic-output`` finding can name the differing field; otherwise
            keep the first ``keep_outputs`` (each at most ``keep_output_bytes``) and, beyond,
            digests only (storms).

    Attributes:
        finding_log: every finding in the order it was raised (unsorted, without lost
            commands: :meth:`lost_commands` adds those).
        applied_in: logical command key -> the first delivery that applied it (negated:
            resolved without applying: deduped, rejected).
        reapplied: logical command keys already reported as ``double-apply``.
        unresolved: logical command key -> (command, trigger, delivery number or numbers)
            until it is applied or rejected.
        outputs: trigger id -> (first delivery number, output digest, sequences, output
            bytes), or those packed into one int (beyond ``keep_outputs``).
    """

    def __init__(
        self,
        target: SagaTarget,
        profile: str,
        *,
        keep_all: bool,
        keep_outputs: int,
        keep_output_bytes: int,
    ) -> None:
        self.target = target
        self.profile = profile
        self.keep_all = keep_all
        self.keep_outputs = keep_outputs
        self.keep_output_bytes = keep_output_bytes
        self.finding_log: list[Finding] = []
        self.applied_in: dict[int, int] = {}
        self.reapplied: set[int] = set()
        self.unresolved: dict[int, tuple[Any, Any, int | list[int]]] = {}
        self.outputs: dict[int, tuple[int, int, SeqInfo, bytes] | int] = {}

    def add(self, work: DeliveryWork, finding: Finding) -> None:
        """Raise ``finding`` for the delivery ``work``."""
        work.findings.append(finding)
        self.finding_log.append(finding)

    @staticmethod
    def vacuous_run() -> Finding:
        """The ``vacuous-run`` finding of a harness asserted clean without a delivery."""
        return Finding(
            "vacuous-run",
            "vacuous run: the harness was asserted clean without a single delivery, "
            "so it tested nothing: deliver() a trigger first (or pass "
            "allow_vacuous=True)",
            details={"reason": "no-deliveries", "deliveries": "0"},
        )

    def fact_collision(self, work: DeliveryWork, fact: Any, outcome: Outcome) -> None:
        """A fact deduped on an ``external_id`` that a fact with other events stored: core
        answers ``already_processed`` and the new events are silently dropped."""
        target = stream_label(fact.cover.domain, fact.cover.root.value, edition_name(fact.cover))
        first = outcome.collided_delivery
        self.add(
            work,
            Finding(
                "fact-collision",
                f"a fact to {target} was dropped as already processed: its {outcome.message} "
                f"(delivery #{first}), so angzarr returns the stored events and never persists "
                "these. Derive external_id from what makes the fact unique (the trigger's cover "
                "and page sequence, or the business key and version), not from a value that "
                "repeats, such as a player or order id alone",
                trigger=trigger_label(work.trigger),
                target=target,
                delivery=work.number,
                details={"first_delivery": str(first)},
                defect=f"fact-collision {fact.cover.domain}",
            ),
        )

    def rejected_fact(self, work: DeliveryWork, fact: Any, outcome: Outcome) -> None:
        """A fact the destination refused."""
        self.add(
            work,
            Finding(
                "rejected-command",
                f"fact to {stream_label(fact.cover.domain, fact.cover.root.value)} was "
                f"refused: {outcome.code} {outcome.message}",
                trigger=trigger_label(work.trigger),
                delivery=work.number,
                details={"code": outcome.code},
            ),
        )

    def report_outcome(self, work: DeliveryWork, index: int, outcome: Outcome) -> None:
        command = work.sent[index]
        target = stream_label(
            command.cover.domain, command.cover.root.value, edition_name(command.cover)
        )
        type_name = RecordedCommand(command).type_name
        seqs = {
            k: v
            for k, v in (("expected", outcome.expected), ("actual", outcome.actual))
            if v is not None
        }
        common = dict(
            trigger=trigger_label(work.trigger),
            target=target,
            delivery=work.number,
            sequences=seqs,
            details={"code": outcome.code},
        )
        deferred = command.pages[0].header.WhichOneof("sequence_type") == "angzarr_deferred"
        if outcome.status == RETRIED_OUT:
            if not outcome.message.startswith("Sequence mismatch"):
                return  # a conflict that never cleared: the lost-command check reports it
            kind = "sequence-mismatch"
            if deferred:
                why = (
                    "angzarr core checks a deferred command against the destination's history "
                    "as expecting sequence 0 (H-18), and under MERGE_COMMUTATIVE (the default "
                    "when merge_strategy is unset) only a Replay proving the changed fields "
                    "disjoint lets it through, so it is retried until it is dropped; "
                    + _DEFERRED_MERGE_FIX
                )
            else:
                why = (
                    "it was stamped with a stale explicit sequence; stamp from the request's "
                    "destination_sequences or use a deferred header"
                )
            message = (
                f"{type_name} to {target} was refused ({outcome.message}) on all "
                f"{outcome.attempts} attempts: {why}"
            )
        elif outcome.status == REJECTED and outcome.message.startswith(SEQUENCE_MISMATCH_OVERLAP):
            kind = "sequence-mismatch"
            message = (
                f"{type_name} to {target} was refused ({outcome.code}: {outcome.message}): "
                "under MERGE_COMMUTATIVE the fields it changes overlap what the history "
                "changed, which angzarr core does not retry, so the command is dropped; "
                + _DEFERRED_MERGE_FIX
            )
        elif outcome.status == DEAD_LETTERED:
            kind = "dead-lettered"
            message = (
                f"{type_name} to {target} was dead-lettered ({outcome.code}: "
                f"{outcome.message}) under MERGE_MANUAL"
            )
            common["details"]["merge_strategy"] = "MERGE_MANUAL"
        else:
            kind = "rejected-command"
            message = f"{type_name} to {target} was rejected: {outcome.code} {outcome.message}"
        self.add(work, Finding(kind, message, **common))

    def applied(self, work: DeliveryWork, index: int) -> None:
        """Business logic applied sent command ``index``: a second application of the same
        logical command (redelivery, duplicate publish or a whole-list re-send) is a
        double-apply, reported once per logical command."""
        key = work.keys[index]
        first = self.applied_in.get(key)
        if first is None or first < 0:  # negative: resolved earlier without applying
            self.applied_in[key] = work.number
            return
        if key in self.reapplied:
            return
        self.reapplied.add(key)
        command = work.sent[index]
        rc = RecordedCommand(command)
        target = stream_label(rc.domain, rc.root, edition_name(command.cover))
        if rc.sequence is not None or not rc.stamped:
            advice = (
                "the repeated trigger (a redelivery or a duplicate publish) was stamped with a "
                "fresh explicit sequence, so the destination could not tell it was a duplicate: "
                "stamp "
                "Destinations.deferred_header(trigger cover, trigger seq) instead"
            )
        else:
            advice = (
                "each application carried a different dedupe key: derive the deferred header "
                "from the trigger (its cover and page sequence), not from per-delivery data"
            )
        self.add(
            work,
            Finding(
                "double-apply",
                f"{rc.type_name or 'command'} to {target} was applied by business logic more "
                f"than once (deliveries #{first}, #{work.number}); {advice}",
                trigger=trigger_label(work.trigger),
                target=target,
                delivery=work.number,
                sequences={"sequence": rc.sequence} if rc.sequence is not None else {},
                defect=f"{rc.domain} {rc.type_name} {'deferred' if rc.deferred else 'explicit'}",
            ),
        )

    #: a dedupe collision's wording: what one handler call is, and the fix for two commands
    #: of one call and for commands of two triggers (:class:`PMOracle` has a PM's)
    COLLISION_CALL = "delivery"
    COLLISION_FIX_ONE_CALL = (
        "Send one command per target root per trigger, or merge them into one multi-page command"
    )
    COLLISION_FIX_TWO_TRIGGERS = "Give each trigger its own source_seq (derive it from the trigger)"

    def collision(self, work: DeliveryWork, index: int, outcome: Outcome) -> None:
        second = RecordedCommand(work.sent[index])
        if outcome.collided_delivery == work.number:
            first = RecordedCommand(work.sent[outcome.collided_with or 0])
            what = (
                f"commands #{outcome.collided_with} ({first.type_name}) and #{index} "
                f"({second.type_name}) of one {self.COLLISION_CALL} went to the same target "
                "root with the same deferred source and source_seq"
            )
            fix = self.COLLISION_FIX_ONE_CALL
        else:
            what = (
                f"command #{index} ({second.type_name}) carried the same deferred source and "
                f"source_seq as command #{outcome.collided_with} of delivery "
                f"#{outcome.collided_delivery}, which served another trigger"
            )
            fix = self.COLLISION_FIX_TWO_TRIGGERS
        self.add(
            work,
            Finding(
                "dedupe-collision",
                f"{what}: angzarr returned the earlier command's events for this one, whose "
                f"business logic never ran. {fix}",
                trigger=trigger_label(work.trigger),
                target=stream_label(second.domain, second.root),
                delivery=work.number,
                dedupe_key=render_key(outcome.dedupe_key) if outcome.dedupe_key else None,
            ),
        )

    def check_determinism(
        self, work: DeliveryWork, response: Any, response_bytes: bytes, key: int | None = None
    ) -> None:
        """Compare this delivery's output with the first delivery of the same trigger (and,
        for process managers, the same state: ``key``). Explicit sequences count as the same
        when they are the same number or the same offset from each delivery's (fresh) map;
        everything else is compared by content (see :mod:`.outputs`)."""
        digest, info = fingerprint(response, response_bytes, work.seqs)
        key = work.trigger_id if key is None else key
        outputs = self.outputs
        first = outputs.get(key)
        if first is None:
            # Storms keep the first output of the first triggers (to name the differing field)
            # and, beyond that, one int per trigger: digest, sequences, delivery number.
            if self.keep_all or (
                len(outputs) < self.keep_outputs and len(response_bytes) <= self.keep_output_bytes
            ):
                outputs[key] = (work.number, digest, info, response_bytes)
            else:
                packed = pack_seqs(info) << 64 | digest if info else digest
                outputs[key] = packed << 40 | work.number
            return
        if isinstance(first, int):
            first_number, first_digest = first & _MASK40, (first >> 40) & _MASK64
            first_info = unpack_seqs(first >> 104, len(info))
            first_bytes = None
        else:
            first_number, first_digest, first_info, first_bytes = first
        if first_digest == digest:
            index = sequences_differ(first_info, info)
            if index is None:
                return
            c_index, p_index = explicit_page(response, index)
            raw_a, delta_a = first_info[index]
            raw_b, delta_b = info[index]
            difference: Difference | None = Difference(
                f"commands[{c_index}].pages[{p_index}].header.sequence",
                describe_sequence(raw_a, delta_a),
                describe_sequence(raw_b, delta_b),
            )
        elif first_bytes is not None:
            difference = first_difference(
                type(response).FromString(first_bytes), response, first_info, info
            )
            if difference is None:
                return  # only the serialization differed (field or map order)
        else:
            difference = None
        if difference is not None:
            what = difference.path
            match = re.match(r"commands\[(\d+)\]", what)
            if match and int(match.group(1)) < len(response.commands):
                rc = RecordedCommand(response.commands[int(match.group(1))])
                what = (
                    f"command #{match.group(1)} differs at {what} ({rc.type_name or 'no pages'} "
                    f"to {stream_label(rc.domain, rc.root)})"
                )
            else:
                what += " differs"
            where = (
                f"{what}: delivery #{first_number} had {difference.first}, "
                f"delivery #{work.number} has {difference.this}"
            )
            details = {"field": difference.path}
            defect = field_pattern(difference.path)
        else:
            mine = [RecordedCommand(c).describe() for c in response.commands]
            mine += [
                f"fact to {stream_label(f.cover.domain, f.cover.root.value)}"
                for f in facts_of(response)
            ]
            where = (
                f"delivery #{work.number} emitted {'; '.join(mine) or 'nothing'}, unlike "
                f"delivery #{first_number} (whose output this storm did not keep: only its "
                "digest)"
            )
            details = {}
            defect = "content"
        self.add(
            work,
            Finding(
                "nondeterministic-output",
                f"the same trigger produced different output on redelivery: {where}. A saga must "
                "be a pure function of the trigger and the request (no random ids, clocks or "
                "counters)",
                trigger=trigger_label(work.trigger),
                delivery=work.number,
                details=details,
                defect=f"{self.target.name}: {defect}",
            ),
        )

    def handler_failed(
        self, work: DeliveryWork, exc: BaseException, *, caught: str | None = None
    ) -> None:
        """The handler raised ``exc``; ``caught``: it did not, but ``exc`` is a map-stamping
        error it caught itself (where, for the message: :mod:`.diagnose`)."""
        label = trigger_label(work.trigger)
        trace = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
        if isinstance(exc, MalformedResponseError):
            self.add(
                work,
                Finding(
                    "malformed-response",
                    f"saga {self.target.name} answered with a malformed response: "
                    f"{exc.summary}. No command or fact could be read from it, so the "
                    "trigger's work is lost; return a SagaResponse (same angzarr schema)",
                    trigger=label,
                    delivery=work.number,
                    details={"handler": self.target.name, **exc.details},
                ),
            )
            return
        domain = missing_sequence_domain(exc)
        if domain is not None:
            have = sorted(work.seqs)
            fix = missing_sequence_fix(self.profile, domain)
            if caught is not None:
                fix = (
                    f"the handler caught the error itself ({caught}) and returned no "
                    f"commands, so its Handle call succeeded with nothing to send; {fix}"
                )
            self.add(
                work,
                Finding(
                    "missing-destination-sequence",
                    f"the handler stamped domain '{domain}', but the request's "
                    f"destination_sequences has {have or 'no domains'} "
                    f"(profile {self.profile}); {fix}",
                    trigger=label,
                    target=domain,
                    delivery=work.number,
                    details={
                        "domain": domain,
                        "code": codes.MISSING_DESTINATION_SEQUENCE,
                        **({"caught": caught} if caught is not None else {}),
                    },
                    traceback=trace,
                ),
            )
            return
        error = type(exc).__name__
        if isinstance(exc, (HandlerResultError, HandlerExited)):
            what = str(exc)
            error = "SystemExit" if isinstance(exc, HandlerExited) else error
        elif isinstance(exc, HandlerAborted):
            what = f"the servicer aborted with {exc.code}: {exc.details}"
        else:
            what = describe_exception(exc)
        self.add(
            work,
            Finding(
                "handler-error",
                f"saga {self.target.name} failed on the trigger ({what}); angzarr logs this and "
                "acks the message, so the trigger's work is lost",
                trigger=label,
                delivery=work.number,
                details={"error": error},
                traceback=trace,
            ),
        )

    def lost_commands(self) -> list[Finding]:
        lost = []
        for command, trigger, numbers in self.unresolved.values():
            deliveries = numbers if isinstance(numbers, list) else [numbers]
            rc = RecordedCommand(command)
            target = stream_label(rc.domain, rc.root, edition_name(command.cover))
            lost.append(
                Finding(
                    "lost-command",
                    f"{rc.type_name or 'command'} to {target} was emitted (deliveries "
                    f"{', '.join('#' + str(n) for n in deliveries)}) but never applied nor "
                    "rejected: every send ran out of retries or was cut short",
                    trigger=trigger_label(trigger),
                    target=target,
                    delivery=deliveries[-1],
                    defect=f"{rc.domain} {rc.type_name}",
                )
            )
        return lost
