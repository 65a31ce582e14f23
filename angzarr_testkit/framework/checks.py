"""The command checks: what the coordinator checks of each command (and fact) the handler
emitted, before anything is sent.

Per sent command, :meth:`CommandChecks.check_sent` computes its logical key (target cover and
payloads, headers left out: a redelivery's command has the same key), tracks it as
unresolved in the oracle until applied or rejected, and raises ``invalid-command`` (what
angzarr core refuses outright, :mod:`.commands`), ``unstamped-command`` and
``invalid-provenance``. A process-manager harness holds a subclass (:mod:`.pm_checks`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..ids import root_str
from .aggregate import edition_name, stream_label
from .commands import MAX_PAGES_PER_BOOK, MAX_PAYLOAD_BYTES, Problem, check_command
from .findings import Finding
from .oracle import Oracle
from .records import RecordedCommand
from .work import DeliveryWork, trigger_label

__all__ = ["CommandChecks"]

# Serialized covers check_command found valid (a pure function of the bytes), so the common
# case skips the field checks; bounded: cleared when full.
_VALID_COVERS: set[bytes] = set()
_VALID_COVERS_LIMIT = 65_536


class CommandChecks:
    """The checks on one harness's emitted commands and facts; findings go to ``oracle``.

    Args:
        oracle: the harness's oracle (its ``unresolved`` and ``applied_in`` maps, its log).
        profile: the framework profile (``sequence-map`` requires a sequence header).

    Attributes:
        invalid_reported: logical keys of the invalid commands (ints) and facts (tuples)
            seen so far: each is reported once as ``invalid-command``, and the destination
            checks (and refuses) only these again.
        unresolved, applied_in: the oracle's maps of the same names (the same objects).
    """

    def __init__(self, oracle: Oracle, profile: str) -> None:
        self.oracle = oracle
        self.profile = profile
        self.unresolved = oracle.unresolved
        self.applied_in = oracle.applied_in
        self.invalid_reported: set[int | tuple] = set()
        #: domains declared with ``given_aggregate(..., must_exist=True)``, and how to tell
        #: whether a target root has history (set by the coordinator)
        self.must_exist: set[str] = set()
        self.has_history: Any = None

    def check_sent(self, work: DeliveryWork) -> None:
        """Per sent command: its logical key, and the unstamped / provenance checks."""
        trigger = work.trigger
        keys = []
        seen: dict[int, int] = {}
        unresolved = self.unresolved
        resolved = self.applied_in
        valid_covers = _VALID_COVERS
        t_cover = trigger.cover
        t_root, t_domain = t_cover.root.value, t_cover.domain
        must_exist = self.must_exist
        for i, command in enumerate(work.sent):
            pages = command.pages
            # The logical command: target cover and payloads, headers left out.
            if len(pages) == 1:
                body: Any = pages[0].command.SerializeToString()
                largest = len(body)
            else:
                body = tuple(p.command.SerializeToString() for p in pages)
                largest = max(map(len, body), default=0)
            cover_bytes = command.cover.SerializeToString()
            content = hash((cover_bytes, body))
            occurrence = seen.get(content, 0)
            seen[content] = occurrence + 1
            key = hash((work.trigger_id, content, occurrence))
            keys.append(key)
            if not pages or not pages[0].HasField("header"):
                kind = None
            else:
                kind = pages[0].header.WhichOneof("sequence_type")
            provenance_ok = True
            if kind == "angzarr_deferred":
                deferred = pages[0].header.angzarr_deferred
                provenance_ok = self.provenance_ok(work, deferred)
            # What core refuses outright (commands.check_command). Fast path: a cover already
            # found valid, page count and payload sizes in core's limits, and a deferred
            # source that is the trigger's (so its root is a valid UUID).
            if not (
                cover_bytes in valid_covers
                and 0 < len(pages) <= MAX_PAGES_PER_BOOK
                and largest <= MAX_PAYLOAD_BYTES
                and provenance_ok
            ):
                problems = check_command(command)
                if problems:  # core refuses it outright: never pending, never lost
                    self._invalid_command(work, i, key, problems)
                    continue
                if len(valid_covers) >= _VALID_COVERS_LIMIT:
                    valid_covers.clear()
                valid_covers.add(cover_bytes)
            cover = command.cover
            if cover.root.value == t_root and cover.domain != t_domain:
                self._unknown_target(work, i, None)
            elif must_exist and cover.domain in must_exist and not self.has_history(cover):
                self._unknown_target(work, i, cover.domain)
            entry = unresolved.get(key)
            if entry is None:
                if key not in resolved:  # applied or resolved by an earlier delivery
                    unresolved[key] = (command, trigger, work.number)
            else:
                numbers = entry[2] if isinstance(entry[2], list) else [entry[2]]
                unresolved[key] = (command, trigger, [*numbers, work.number])
            if kind is None and self.profile == "sequence-map":
                self._unstamped(work, i)
            elif not provenance_ok:
                self._invalid_provenance(work, i, deferred)
        work.keys = keys

    def provenance_ok(self, work: DeliveryWork, deferred: Any) -> bool:
        """Whether a deferred header identifies the trigger (source cover and a page seq)."""
        identity = work.trigger_identity
        if identity is None:
            t_cover = work.trigger.cover
            pages = work.trigger.pages
            identity = work.trigger_identity = (
                t_cover.SerializeToString(),
                t_cover.domain,
                t_cover.root.value,
                edition_name(t_cover),
                (pages[0].header.sequence,)
                if len(pages) == 1
                else frozenset(p.header.sequence for p in pages),
            )
        if deferred.source_seq not in identity[4]:
            return False
        src = deferred.source
        # Fast path: the saga copied the trigger's cover as it came (the usual case).
        if src.SerializeToString() == identity[0]:
            return True
        return (
            src.domain == identity[1]
            and src.root.value == identity[2]
            and edition_name(src) == identity[3]
        )

    def _invalid_command(
        self, work: DeliveryWork, index: int, key: int, problems: Sequence[Problem]
    ) -> None:
        """One ``invalid-command`` finding per logical command (redeliveries of the same
        trigger emit it again; core refuses it each time, the report says it once)."""
        if key in self.invalid_reported:
            return
        self.invalid_reported.add(key)
        command = work.sent[index]
        rc = RecordedCommand(command)
        what = f"command #{index} ({rc.type_name or 'no payload'})"
        self.oracle.add(work, self._invalid_finding(work, what, command, problems))

    def invalid_fact(self, work: DeliveryWork, index: int, problems: Sequence[Problem]) -> None:
        """Fact ``index``, refused by core (``problems``: :func:`.commands.check_fact`): one
        ``invalid-command`` finding per logical fact."""
        fact = work.facts[index]
        # a tuple: never equal to a command's int key in the same set
        key = (work.trigger_id, index, fact.SerializeToString(deterministic=True))
        if key in self.invalid_reported:
            return
        self.invalid_reported.add(key)
        rest = len(work.facts) - index - 1
        finding = self._invalid_finding(
            work,
            f"fact #{index}",
            fact,
            problems,
            tail=f"; the {rest} fact(s) after it were not injected (core stops at the first "
            "failed injection)"
            if rest
            else "",
        )
        self.oracle.add(work, finding)

    def _invalid_finding(
        self, work: DeliveryWork, what: str, book: Any, problems: Sequence[Problem], tail: str = ""
    ) -> Finding:
        first = problems[0]
        target = self._book_label(book)
        rule = first.rule
        message = (
            f"{what} to {target} is refused by angzarr core before any "
            f"business logic runs: {first.field} is {first.value}, but {rule.text} "
            f"(INVALID_ARGUMENT: {first.status}). Core logs it and moves on, so this work is "
            f"lost{tail}. Fix: {rule.fix}"
        )
        details = {
            "field": first.field,
            "value": first.value,
            "rule": rule.name,
            "core_source": rule.source,
            "code": "INVALID_ARGUMENT",
        }
        if len(problems) > 1:
            details["also"] = "; ".join(p.describe() for p in problems[1:])
        return Finding(
            "invalid-command",
            message,
            trigger=trigger_label(work.trigger),
            target=target,
            delivery=work.number,
            details=details,
        )

    @staticmethod
    def _book_label(book: Any) -> str:
        """``domain/root`` of a command or fact book for reports, whatever its cover holds."""
        if not book.HasField("cover"):
            return "<no cover>"
        cover = book.cover
        domain = cover.domain or "<no domain>"
        if not cover.HasField("root"):
            return f"{domain}/<no root>"
        return stream_label(domain, cover.root.value, edition_name(cover))

    def _unstamped(self, work: DeliveryWork, index: int) -> None:
        rc = RecordedCommand(work.sent[index])
        self.oracle.add(
            work,
            Finding(
                "unstamped-command",
                f"command #{index} ({rc.type_name}) to {rc.domain} has no sequence header; "
                "the destination reads it as sequence 0. Stamp it with "
                "Destinations.stamp_command(cmd, domain) or a deferred header",
                trigger=trigger_label(work.trigger),
                target=stream_label(rc.domain, rc.root),
                delivery=work.number,
            ),
        )

    def _unknown_target(self, work: DeliveryWork, index: int, declared: str | None) -> None:
        """A command to the trigger's own root in another domain (``declared`` None), or to a
        root with no history in a domain declared ``must_exist``: likely the wrong root."""
        rc = RecordedCommand(work.sent[index])
        target = stream_label(rc.domain, rc.root, edition_name(work.sent[index].cover))
        if declared is None:
            why = (
                f"goes to the trigger's own root ({root_str(rc.root)}) in another domain "
                f"('{rc.domain}', the trigger is '{work.trigger.cover.domain}'): a root is an "
                "aggregate's id within its domain, so this is usually the wrong id (the "
                "trigger's instead of the target's, e.g. the order's root for its SKU or "
                "customer). Take the target's root from the event's payload, or from a "
                "deterministic id of it (uuid5 of the business key)"
            )
            reason = "trigger-root"
        else:
            why = (
                f"goes to a root of '{declared}' that has no history, and '{declared}' was "
                "declared must_exist (given_aggregate(..., must_exist=True)): the aggregate "
                "would be created by this command. Check how the saga derives the root, or "
                "give the harness that aggregate's history (given_destination)"
            )
            reason = "no-history"
        self.oracle.add(
            work,
            Finding(
                "unknown-target",
                f"{rc.type_name or 'command'} to {target} {why}",
                trigger=trigger_label(work.trigger),
                target=target,
                delivery=work.number,
                details={"reason": reason},
                defect=f"unknown-target {reason} {rc.domain} {rc.type_name}",
            ),
        )

    def _invalid_provenance(self, work: DeliveryWork, index: int, deferred: Any) -> None:
        t_cover = work.trigger.cover
        t_seqs = {p.header.sequence for p in work.trigger.pages}
        rc = RecordedCommand(work.sent[index])
        src = deferred.source
        problems = []
        if not src.domain:
            problems.append("the source cover is missing (no source domain: no dedupe)")
        else:
            if src.domain != t_cover.domain:
                problems.append(
                    f"source domain '{src.domain}' is not the trigger's '{t_cover.domain}'"
                )
            if src.root.value != t_cover.root.value:
                problems.append(
                    f"source root {root_str(src.root.value)} is not the trigger's "
                    f"{root_str(t_cover.root.value)}"
                )
            if edition_name(src) != edition_name(t_cover):
                problems.append(
                    f"source edition '{edition_name(src)}' is not the trigger's "
                    f"'{edition_name(t_cover)}'"
                )
        if deferred.source_seq not in t_seqs:
            problems.append(
                f"source_seq {deferred.source_seq} is not a sequence of the trigger "
                f"(pages {sorted(t_seqs)})"
            )
        self.oracle.add(
            work,
            Finding(
                "invalid-provenance",
                f"command #{index} ({rc.type_name}) to {rc.domain} carries a deferred header "
                f"that does not identify the trigger: {'; '.join(problems)}. Build it with "
                "Destinations.deferred_header(request.source.cover, <trigger page seq>)",
                trigger=trigger_label(work.trigger),
                target=stream_label(rc.domain, rc.root),
                delivery=work.number,
                sequences={"source_seq": deferred.source_seq},
            ),
        )
