"""What a profile comparison found: :class:`ProfileRun` (one profile's run) and
:class:`ProfileComparison` (the runs side by side, what changes, the text table, the JSON).

The runs themselves are made by :mod:`.compare` (a storm, or a harness scenario, per
profile); this module only reads their results back. docs/compare.md explains the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..framework.findings import KINDS

__all__ = ["Change", "ProfileComparison", "ProfileRun"]

#: explanations in the text table are cut to this many characters (``to_dict`` has them whole)
EXPLANATION_WIDTH = 240


@dataclass(frozen=True)
class ProfileRun:
    """One profile's run of the compared storm or scenario.

    Attributes:
        profile: the framework profile (``angzarr_testkit.PROFILES``).
        ok: the run's own verdict (a storm's ``report.ok``, a harness's ``clean``).
        vacuous: why the run exercised nothing (a ``vacuous-run`` reason such as
            ``"no-output"``), or ``None`` when it did real work. Set even when the run was
            allowed to be vacuous: a comparison never shows such a row as a plain clean one.
        counts: the run's counters (a storm's ``COUNT_NAMES``; a harness's deliveries,
            commands and outcomes by status).
        finding_kinds: finding kind -> how many, in cause order.
        first_messages: finding kind -> the message of its first finding.
        aggregates: for a harness scenario, each destination stream (``domain/root``) ->
            how many commands its business logic applied; empty for a storm.
        trace: the storm's trace file (``None`` for a harness scenario).
        triggers_digest: for a storm, a digest of the triggers it published (the trace's
            ``publish`` lines): equal digests, the same triggers.
    """

    profile: str
    ok: bool
    vacuous: str | None
    counts: dict[str, int]
    finding_kinds: dict[str, int]
    first_messages: dict[str, str]
    aggregates: dict[str, int] = field(default_factory=dict)
    trace: str | None = None
    triggers_digest: str | None = None

    @property
    def verdict(self) -> str:
        """``CLEAN``, ``NOT CLEAN``, ``VACUOUS (<reason>)``, or ``CLEAN but VACUOUS
        (<reason>, allowed)`` for a run told to accept vacuity."""
        if self.vacuous is not None:
            if self.ok:
                return f"CLEAN but VACUOUS ({self.vacuous}, allowed)"
            return f"VACUOUS ({self.vacuous})"
        return "CLEAN" if self.ok else "NOT CLEAN"

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "ok": self.ok,
            "verdict": self.verdict,
            "vacuous": self.vacuous,
            "counts": dict(self.counts),
            "finding_counts": dict(self.finding_kinds),
            "first_findings": dict(self.first_messages),
            "aggregates": dict(self.aggregates),
            "trace": self.trace,
        }


@dataclass(frozen=True)
class Change:
    """One row whose value is not the same under every profile.

    Attributes:
        section: ``"verdict"``, ``"counts"``, ``"findings"`` or ``"aggregates"``.
        row: the count, finding kind or aggregate the row is about.
        values: profile -> its value, in the comparison's profile order.
        explanations: for a finding kind found under some profiles but not all: each
            profile that has it -> the message of its first finding there.
    """

    section: str
    row: str
    values: dict[str, Any]
    explanations: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        """``double-apply 199 -> 0`` (``verdict: CLEAN -> NOT CLEAN``)."""
        shown = " -> ".join(_number(v) for v in self.values.values())
        sep = ": " if self.section == "verdict" else " "
        return f"{self.row}{sep}{shown}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "row": self.row,
            "values": dict(self.values),
            "explanations": dict(self.explanations),
        }


@dataclass
class ProfileComparison:
    """The same storm (or harness scenario) run under several profiles, side by side.

    Attributes:
        subject: ``"storm"`` or ``"scenario"``.
        target: the target's name.
        runs: one :class:`ProfileRun` per profile, in the order the profiles were given
            (the first is the baseline the others are read against).
        seed: the storm's seed (``None`` for a scenario).
        notes: what a reader must know to trust the table (vacuous runs, triggers that
            differ between the profiles' storms).
    """

    subject: str
    target: str
    runs: list[ProfileRun]
    seed: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def profiles(self) -> list[str]:
        return [r.profile for r in self.runs]

    @property
    def ok(self) -> bool:
        """Every profile's run is clean (the CLI exits 0 only then)."""
        return all(r.ok for r in self.runs)

    @property
    def same_triggers(self) -> bool | None:
        """For storms: whether every profile's storm published the same triggers; ``None``
        for a scenario (the scenario itself decides what it delivers)."""
        digests = {r.triggers_digest for r in self.runs}
        if None in digests:
            return None
        return len(digests) == 1

    def run(self, profile: str) -> ProfileRun:
        """The run of ``profile`` (``KeyError`` naming the compared ones if it was not)."""
        for r in self.runs:
            if r.profile == profile:
                return r
        raise KeyError(f"{profile!r} was not compared; the profiles are {self.profiles}")

    def changes(self) -> list[Change]:
        """Every row whose value differs between the profiles: the verdict, the counts, the
        finding kinds (with the first message of a kind some profiles do not have) and, for
        a scenario, each aggregate's applied count."""
        out: list[Change] = []
        for section, row, values in self._rows():
            if len(set(values.values())) <= 1:
                continue
            explanations: dict[str, str] = {}
            if section == "findings":
                explanations = {
                    r.profile: r.first_messages[row]
                    for r in self.runs
                    if values[r.profile] and row in r.first_messages
                }
            out.append(Change(section, row, values, explanations))
        return out

    def _rows(self) -> list[tuple[str, str, dict[str, Any]]]:
        runs = self.runs
        rows: list[tuple[str, str, dict[str, Any]]] = [
            ("verdict", "verdict", {r.profile: r.verdict for r in runs})
        ]
        for name in _union(r.counts for r in runs):
            rows.append(("counts", name, {r.profile: r.counts.get(name, 0) for r in runs}))
        kinds = _union(r.finding_kinds for r in runs)
        order = list(KINDS)
        kinds.sort(key=lambda k: order.index(k) if k in order else len(order))
        for kind in kinds:
            rows.append(("findings", kind, {r.profile: r.finding_kinds.get(kind, 0) for r in runs}))
        for name in _union(r.aggregates for r in runs):
            rows.append(("aggregates", name, {r.profile: r.aggregates.get(name, 0) for r in runs}))
        return rows

    def render(self) -> str:
        """A readable side-by-side table, then the "what changes" list and the notes."""
        profiles = self.profiles
        head = f"profile comparison: {self.subject} of {self.target}"
        if self.seed is not None:
            head += f", seed {self.seed}"
        cells = {
            (section, row): {p: _number(v) for p, v in values.items()}
            for section, row, values in self._rows()
        }
        label_width = max(len("  " + row) for _, row in cells) + 2
        widths = {p: max(len(p), *(len(c[p]) for c in cells.values())) + 2 for p in profiles}
        if self.same_triggers:
            published = self.runs[0].counts.get("published", 0)
            head += f" (the same {published:,} triggers under every profile)"
        lines = [head, ""]
        lines.append(" " * label_width + "".join(f"{p:<{widths[p]}}" for p in profiles).rstrip())
        current = None
        for (section, row), values in cells.items():
            if section != current and section != "verdict":
                lines.append(section + ("" if section != "aggregates" else " (applied)"))
            current = section
            label = row if section == "verdict" else "  " + row
            body = "".join(f"{values[p]:<{widths[p]}}" for p in profiles).rstrip()
            lines.append(f"{label:<{label_width}}{body}")
        if not any(s == "findings" for s, _ in cells):
            lines += ["findings", "  none"]
        lines += ["", f"what changes ({' -> '.join(profiles)}):"]
        changes = self.changes()
        for change in changes:
            lines.append(f"- {change.line()}")
            for profile, message in change.explanations.items():
                lines.append(f"    under {profile}: {_cut(message)}")
        if not changes:
            lines.append("- nothing: every profile gives the same verdict, counts and findings")
        for note in self.notes:
            lines += ["", f"note: {note}"]
        traces = [(r.profile, r.trace) for r in self.runs if r.trace]
        if traces:
            lines.append("")
            lines += [f"trace ({profile}): {path}" for profile, path in traces]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready document: the verdict, each profile's run, the changes, the notes."""
        return {
            "subject": self.subject,
            "target": self.target,
            "seed": self.seed,
            "profiles": self.profiles,
            "ok": self.ok,
            "same_triggers": self.same_triggers,
            "runs": {r.profile: r.to_dict() for r in self.runs},
            "changes": [c.to_dict() for c in self.changes()],
            "notes": list(self.notes),
        }

    def __repr__(self) -> str:
        verdicts = ", ".join(f"{r.profile}: {r.verdict}" for r in self.runs)
        return f"<ProfileComparison {self.subject} of {self.target} ({verdicts})>"


def vacuity_notes(runs: Sequence[ProfileRun]) -> list[str]:
    """One note per vacuous run: its row describes a run that exercised nothing."""
    notes = []
    for r in runs:
        if r.vacuous is None:
            continue
        note = f"under {r.profile} the run exercised nothing ({r.vacuous})"
        if r.ok:
            note += ": it was allowed to be vacuous, so its CLEAN proves nothing"
        else:
            note += ": its counts say what never happened, not what the destinations did"
        notes.append(note)
    return notes


def _union(mappings: Any) -> list[str]:
    names: list[str] = []
    for mapping in mappings:
        names += [n for n in mapping if n not in names]
    return names


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXPLANATION_WIDTH else text[: EXPLANATION_WIDTH - 3] + "..."
