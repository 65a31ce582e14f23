"""pytest plugin: seeded fixtures for saga harnesses and redelivery storms.

Registered through the ``pytest11`` entry point, so it loads in every pytest run of a project
that has the kit installed (disable it with ``-p no:angzarr_testkit``). See ``docs/pytest.md``.

Fixtures:

* ``angzarr_seed``: this test's seed, derived from the session seed and the test's node id
  (stable under xdist, replayable alone); ``angzarr_session_seed``: the session seed.
* ``saga_harness``: ``saga_harness(saga, **kwargs)`` makes a :class:`SagaHarness` (session
  profile by default); the test fails if any of them ends with error findings.
* ``storm``: ``storm(saga, **kwargs)`` makes a :class:`Storm` (seeded, events scaled,
  ``angzarr_storm`` marker defaults); the test fails if a run was not clean.
* ``destinations``: ``destinations({"inventory": 5})`` makes a :class:`Destinations`.

Options (command line, or ini keys of the same name with underscores): ``--angzarr-seed``,
``--angzarr-storm-scale``, ``--angzarr-profile``, ``--angzarr-fail-on KIND`` (repeatable).
Markers: ``angzarr_allow(*kinds)``, ``angzarr_storm(**storm_kwargs)``.

Warnings and notes (and findings ``angzarr_allow`` accepted) of the harnesses and storms a
test made are listed, grouped, in an ``angzarr-testkit`` section of the terminal summary.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from .destinations import Destinations
from .errors import ClientError
from .framework.findings import KINDS, Finding, check_kinds, failing, group_findings
from .framework.saga import PROFILES, SagaHarness
from .simulate.faults import FAULT_CLASSES, FaultPlan
from .simulate.storm import Storm, StormReport

__all__ = ["SETTINGS", "Settings", "derive_seed"]

#: Defects (groups of findings, see ``group_findings``) of one kind shown in full in a failure
#: (the rest are counted).
MAX_SHOWN_PER_KIND = 5
#: Defects listed per test in the terminal summary section (the rest are counted).
MAX_SUMMARY_GROUPS = 10

_SEED_BOUND = 2**32
_WORKER_KEY = "angzarr_testkit_seed"
_STORM_OPTIONS = tuple(p for p in inspect.signature(Storm.__init__).parameters if p != "self")
_MARKER_STORM_OPTIONS = tuple(p for p in _STORM_OPTIONS if p != "saga")
_DEFAULT_EVENTS = inspect.signature(Storm.__init__).parameters["events"].default


@dataclass(frozen=True)
class Settings:
    """The session's settings (``config.stash[angzarr_testkit.pytest_plugin.SETTINGS]``).

    Attributes:
        seed: the session seed (``--angzarr-seed``; random once per session otherwise).
        storm_scale: the factor storm ``events`` are multiplied by.
        profile: the default profile of fixture-made harnesses and storms.
        fail_on: finding kinds raised to errors for the plugin's verdict
            (``--angzarr-fail-on``, ini ``angzarr_fail_on``).
    """

    seed: int
    storm_scale: float
    profile: str
    fail_on: frozenset[str] = frozenset()

    def replay_line(self, nodeid: str) -> str:
        """The line every failure carries: how to rerun ``nodeid`` with this seed."""
        return (
            f"angzarr-testkit seed: {self.seed} "
            f"(replay: pytest --angzarr-seed {self.seed} {nodeid})"
        )


SETTINGS = pytest.StashKey[Settings]()
_STATE = pytest.StashKey["_TestState"]()
_MARKER_ERROR = pytest.StashKey[str]()
_SUMMARY_ATTR = "angzarr_testkit_summary"  # on teardown reports (survives xdist)
# Storm options that take a list of names: a lone string there is a mistake, never iterated.
_LIST_OPTIONS = ("require", "output_domains", "sources", "fail_on", "allow")
_KIND_OPTIONS = ("fail_on", "allow")


def derive_seed(session_seed: int, *parts: object) -> int:
    """A 32-bit seed derived from ``session_seed`` and ``parts`` (stable across runs, processes
    and machines; independent of test order). ``angzarr_seed`` is
    ``derive_seed(session_seed, nodeid)``."""
    text = "\x1f".join(str(p) for p in (session_seed, *parts))
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big")


# -- options ----------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("angzarr", "angzarr-testkit")
    group.addoption(
        "--angzarr-seed",
        dest="angzarr_seed",
        metavar="N",
        default=None,
        help="session seed (a non-negative int; default: random, shown in the header); each "
        "test's seed derives from it and the test's node id",
    )
    group.addoption(
        "--angzarr-storm-scale",
        dest="angzarr_storm_scale",
        metavar="F",
        default=None,
        help="multiply the events of fixture-made storms by F > 0 (at least 1 event), e.g. "
        "0.1 locally, 10 in nightly CI (default: 1)",
    )
    group.addoption(
        "--angzarr-profile",
        dest="angzarr_profile",
        metavar="P",
        default=None,
        help=f"default profile of fixture-made harnesses and storms: {' or '.join(PROFILES)} "
        f"(default: {PROFILES[0]})",
    )
    group.addoption(
        "--angzarr-fail-on",
        dest="angzarr_fail_on",
        metavar="KIND",
        action="append",
        default=None,
        help="fail tests whose harnesses or storms have findings of KIND even when it is a "
        "warning or a note (e.g. rejected-command); repeat it or separate kinds with commas",
    )
    parser.addini("angzarr_seed", "angzarr-testkit session seed (see --angzarr-seed)", default="")
    parser.addini(
        "angzarr_storm_scale",
        "angzarr-testkit storm events factor (see --angzarr-storm-scale)",
        default="",
    )
    parser.addini(
        "angzarr_profile",
        "angzarr-testkit default profile (see --angzarr-profile)",
        default="",
    )
    parser.addini(
        "angzarr_fail_on",
        "angzarr-testkit finding kinds that fail tests (see --angzarr-fail-on)",
        type="args",
        default=[],
    )


def _raw(config: pytest.Config, name: str) -> tuple[str, str] | None:
    """The value of an option and where it came from (the command line wins over the ini)."""
    value = config.getoption(name)
    if value is not None:
        return str(value).strip(), "--" + name.replace("_", "-")
    value = config.getini(name)
    if isinstance(value, str) and value.strip():
        return value.strip(), f"ini option {name}"
    return None


def _parse_seed(raw: tuple[str, str] | None) -> int | None:
    if raw is None:
        return None
    value, source = raw
    try:
        seed = int(value, 10)
    except ValueError:
        seed = -1
    if not 0 <= seed < 2**63:
        raise pytest.UsageError(f"{source} must be a non-negative integer seed, got {value!r}")
    return seed


def _parse_scale(raw: tuple[str, str] | None) -> float:
    if raw is None:
        return 1.0
    value, source = raw
    try:
        scale = float(value)
    except ValueError:
        scale = math.nan
    if not (math.isfinite(scale) and scale > 0):
        raise pytest.UsageError(
            f"{source} must be a number greater than 0 (e.g. 0.1 or 10), got {value!r}"
        )
    return scale


def _parse_profile(raw: tuple[str, str] | None) -> str:
    if raw is None:
        return PROFILES[0]
    value, source = raw
    if value not in PROFILES:
        raise pytest.UsageError(f"{source} must be one of {', '.join(PROFILES)}; got {value!r}")
    return value


def _parse_fail_on(config: pytest.Config) -> frozenset[str]:
    """``--angzarr-fail-on`` (all of them; the command line replaces the ini's list)."""
    values = config.getoption("angzarr_fail_on")
    source = "--angzarr-fail-on"
    if not values:
        values, source = config.getini("angzarr_fail_on"), "ini option angzarr_fail_on"
    kinds = []
    for value in values or ():
        parts = [k.strip() for k in str(value).split(",") if k.strip()]
        if not parts:
            raise pytest.UsageError(
                f"{source} takes a finding kind (e.g. rejected-command), got {value!r}; known "
                f"kinds: {', '.join(KINDS)}"
            )
        kinds.extend(parts)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise pytest.UsageError(
            f"{source} got unknown finding kind(s) {', '.join(repr(k) for k in unknown)}; "
            f"known kinds: {', '.join(KINDS)}"
        )
    return frozenset(kinds)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "angzarr_allow(*kinds): accept these finding kinds (e.g. 'double-apply') in the "
        "harnesses and storms this test makes with the saga_harness/storm fixtures; with no "
        "kinds, accept every kind (missing required storm coverage still fails); "
        "e.g. angzarr_allow('vacuous-run') for a run meant to exercise nothing.",
    )
    config.addinivalue_line(
        "markers",
        "angzarr_storm(**storm_kwargs): defaults for storms made with the storm fixture "
        "(events, roots, faults (a FaultPlan or a dict), require, concurrency, ...); the "
        "factory's own keyword arguments override them.",
    )
    seed = _parse_seed(_raw(config, "angzarr_seed"))
    scale = _parse_scale(_raw(config, "angzarr_storm_scale"))
    profile = _parse_profile(_raw(config, "angzarr_profile"))
    fail_on = _parse_fail_on(config)
    workerinput = getattr(config, "workerinput", None)
    if seed is None and workerinput is not None and _WORKER_KEY in workerinput:
        seed = int(workerinput[_WORKER_KEY])  # xdist: the controller's choice
    if seed is None:
        seed = random.SystemRandom().randrange(_SEED_BOUND)
    config.stash[SETTINGS] = Settings(
        seed=seed, storm_scale=scale, profile=profile, fail_on=fail_on
    )


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: hand the session seed to every worker."""
    node.workerinput[_WORKER_KEY] = node.config.stash[SETTINGS].seed


def pytest_report_header(config: pytest.Config) -> str:
    s = config.stash[SETTINGS]
    fail_on = (
        f", fail on {', '.join(sorted(s.fail_on, key=list(KINDS).index))}" if s.fail_on else ""
    )
    return (
        f"angzarr-testkit: seed {s.seed} (replay with --angzarr-seed {s.seed}), "
        f"profile {s.profile}, storm scale {s.storm_scale:g}{fail_on}"
    )


# -- markers ---------------------------------------------------------------------------------


def _check_markers(item: pytest.Item) -> None:
    for mark in item.iter_markers("angzarr_allow"):
        if mark.kwargs:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.angzarr_allow takes finding kinds as positional "
                f"strings, not keywords ({', '.join(mark.kwargs)})"
            )
        unknown = [k for k in _marker_kinds(mark.args) if not isinstance(k, str) or k not in KINDS]
        if unknown:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.angzarr_allow got unknown finding kind(s) "
                f"{', '.join(repr(k) for k in unknown)}; known kinds: {', '.join(KINDS)}"
            )
    for mark in item.iter_markers("angzarr_storm"):
        if mark.args:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.angzarr_storm takes keyword arguments only "
                "(events=..., faults=..., ...)"
            )
        unknown = sorted(set(mark.kwargs) - set(_MARKER_STORM_OPTIONS))
        if unknown:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.angzarr_storm got unknown option(s) "
                f"{', '.join(unknown)}; Storm options: {', '.join(_MARKER_STORM_OPTIONS)}"
            )
        for name in _LIST_OPTIONS:
            value = mark.kwargs.get(name)
            if isinstance(value, str):
                raise pytest.UsageError(
                    f"{item.nodeid}: @pytest.mark.angzarr_storm {name} takes a list of names, "
                    f"got the string {value!r}; write {name}=[{value!r}]"
                )
        for name in _KIND_OPTIONS:
            if mark.kwargs.get(name) is not None:
                try:
                    check_kinds(mark.kwargs[name], name)
                except (ClientError, TypeError) as exc:
                    raise pytest.UsageError(
                        f"{item.nodeid}: @pytest.mark.angzarr_storm {name}: {exc}"
                    ) from None
        require = mark.kwargs.get("require")
        if require is not None:
            bad = (
                [require]
                if not isinstance(require, (list, tuple, set, frozenset))
                else [r for r in require if r not in FAULT_CLASSES]
            )
            if bad:
                raise pytest.UsageError(
                    f"{item.nodeid}: @pytest.mark.angzarr_storm require got "
                    f"{', '.join(repr(r) for r in bad)}; it takes a list of fault classes: "
                    f"{', '.join(FAULT_CLASSES)}"
                )
        faults = mark.kwargs.get("faults")
        if isinstance(faults, Mapping):
            try:
                FaultPlan.from_dict(dict(faults))
            except (ClientError, TypeError) as exc:
                raise pytest.UsageError(
                    f"{item.nodeid}: @pytest.mark.angzarr_storm faults: {exc}"
                ) from None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_worker = hasattr(config, "workerinput")
    for item in items:
        try:
            _check_markers(item)
        except pytest.UsageError as exc:
            if not on_worker:
                raise
            # A usage error raised on an xdist worker crashes the session with its message
            # lost; there, the test errors at setup with the same message instead.
            item.stash[_MARKER_ERROR] = str(exc)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    message = item.stash.get(_MARKER_ERROR, None)
    if message is not None:
        pytest.fail(f"angzarr-testkit usage error: {message}", pytrace=False)


def _marker_kinds(args: tuple[Any, ...]) -> list[Any]:
    """An ``angzarr_allow`` marker's kinds: positional strings, or one list/tuple of them."""
    out: list[Any] = []
    for arg in args:
        if isinstance(arg, (list, tuple, set, frozenset)):
            out.extend(arg)
        else:
            out.append(arg)
    return out


def _allowed(item: pytest.Item) -> frozenset[str]:
    """Kinds the test's ``angzarr_allow`` markers accept (a marker without kinds: all)."""
    allowed: set[str] = set()
    for mark in item.iter_markers("angzarr_allow"):
        if not mark.args:
            return frozenset(KINDS)
        allowed.update(_marker_kinds(mark.args))
    return frozenset(allowed)


def _storm_defaults(item: pytest.Item) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    # iter_markers yields the closest first (function, class, module): apply it last.
    for mark in reversed(list(item.iter_markers("angzarr_storm"))):
        defaults.update(mark.kwargs)
    return defaults


# -- per-test state and the verdict -------------------------------------------------------------


@dataclass
class _TestState:
    """What one test made with the fixtures, and what has been reported already."""

    item: pytest.Item
    settings: Settings
    harnesses: list[SagaHarness] = field(default_factory=list)
    storms: list[tuple[str, Storm, StormReport]] = field(default_factory=list)  # (label, ...)
    storm_count: int = 0
    #: terminal-summary lines: the findings that did not fail the test, grouped
    summary: list[str] = field(default_factory=list)
    _seen: set[tuple[int, str]] = field(default_factory=set)  # (harness, rendered finding)
    _reports_seen: int = 0  # storm reports are final: judged once each, in order

    @property
    def seed(self) -> int:
        return derive_seed(self.settings.seed, self.item.nodeid)

    def verdict(self) -> str | None:
        """A failure report for what was not reported yet (``None`` when all is clean);
        marks it reported, and notes in :attr:`summary` what did not fail."""
        allowed = _allowed(self.item)
        fail_on = self.settings.fail_on
        blocks: list[str] = []
        kinds: set[str] = set()
        for n, harness in enumerate(self.harnesses, 1):
            fresh = self._fresh(n, harness.findings)
            errors = failing(fresh, allow=allowed, fail_on=fail_on)
            self._note(f"saga harness #{n}", fresh, errors, allowed)
            if errors:
                kinds.update(f.kind for f in errors)
                title = (
                    f"saga harness #{n} ({harness.target.name}, profile {harness.profile}) "
                    "is not clean"
                )
                blocks.append(_render(title, errors))
        reports, self._reports_seen = self.storms[self._reports_seen :], len(self.storms)
        for label, storm, report in reports:
            # The storm's own fail_on / allow_vacuous add to the test's.
            storm_allowed = allowed | ({"vacuous-run"} if storm.allow_vacuous else set())
            storm_fail_on = fail_on | storm.fail_on
            errors = failing(report.findings, allow=storm_allowed, fail_on=storm_fail_on)
            self._note(label, report.findings, errors, storm_allowed)
            # A required fault class that never happened is a vacuous-run finding (one
            # verdict with assert_clean: waived only by allowing vacuous-run).
            if not errors:
                continue
            kinds.update(f.kind for f in errors)
            title = (
                f"{label} ({report.options.get('target', '?')}, seed {report.seed}, "
                f"{storm.events} events, profile {report.options.get('profile', '?')}) "
                "is not clean"
            )
            notes = []
            if not report.trace.temporary:
                notes.append(f"  trace: {report.trace.path}")
            blocks.append(_render(title, errors, notes))
        if not blocks:
            return None
        lines = ["angzarr-testkit: " + blocks[0], *blocks[1:]]
        if kinds:
            listed = ", ".join(f'"{k}"' for k in sorted(kinds, key=list(KINDS).index))
            lines.append(f"(if these are expected: @pytest.mark.angzarr_allow({listed}))")
        lines.append(self.replay_line())
        return "\n\n".join(lines)

    def consume(self) -> None:
        """Mark everything so far as reported (the test failed or was skipped on its own);
        what did not fail still goes to the summary."""
        allowed = _allowed(self.item)
        for n, harness in enumerate(self.harnesses, 1):
            fresh = self._fresh(n, harness.findings)
            errors = failing(fresh, allow=allowed, fail_on=self.settings.fail_on)
            self._note(f"saga harness #{n}", fresh, errors, allowed)
        for label, _storm, report in self.storms[self._reports_seen :]:
            errors = failing(report.findings, allow=allowed, fail_on=self.settings.fail_on)
            self._note(label, report.findings, errors, allowed)
        self._reports_seen = len(self.storms)

    def _note(
        self,
        label: str,
        findings: Iterable[Finding],
        errors: list[Finding],
        allowed: frozenset[str],
    ) -> None:
        """Summary lines for the findings that did not fail: warnings, notes, and errors
        accepted by ``angzarr_allow``, one line per defect."""
        failed = {id(f) for f in errors}
        rest = [f for f in findings if id(f) not in failed]
        for group in group_findings(rest):
            how = group.severity
            if group.is_error or group.kind in allowed:
                how += ", allowed"
            times = f" x{group.count}" if group.count > 1 else ""
            message = " ".join(group.first.message.split())
            if len(message) > 160:
                message = message[:157] + "..."
            self.summary.append(f"{label}: [{group.kind}]{times} ({how}): {message}")

    def _fresh(self, harness: int, findings: Iterable[Finding]) -> list[Finding]:
        # A harness may deliver again after a check (in a fixture's teardown), and its
        # lost-command findings are recomputed on every read: identify findings by content.
        fresh = []
        for f in findings:
            key = (harness, f.render())
            if key not in self._seen:
                self._seen.add(key)
                fresh.append(f)
        return fresh

    def replay_line(self) -> str:
        return (
            self.settings.replay_line(self.item.nodeid) + f"\nthis test's angzarr_seed: {self.seed}"
        )


def _render(title: str, errors: list[Finding], notes: Iterable[str] = ()) -> str:
    """A title with the count of each kind, ``notes`` lines, then each defect (findings
    grouped by ``group_findings``, in cause order) rendered once with its count and a few
    examples; at most :data:`MAX_SHOWN_PER_KIND` defects of each kind."""
    groups = group_findings(errors)
    counts: dict[str, int] = {}
    shown_per_kind: dict[str, int] = {}
    shown = []
    hidden: dict[str, int] = {}
    for g in groups:
        counts[g.kind] = counts.get(g.kind, 0) + g.count
        if shown_per_kind.get(g.kind, 0) < MAX_SHOWN_PER_KIND:
            shown_per_kind[g.kind] = shown_per_kind.get(g.kind, 0) + 1
            shown.append(g)
        else:
            hidden[g.kind] = hidden.get(g.kind, 0) + g.count
    if counts:
        title += ": " + ", ".join(f"{n} {k}" for k, n in counts.items())
        if len(groups) < len(errors):
            title += f" ({len(groups)} distinct)"
    parts = ["\n".join([title, *notes]), *(g.render() for g in shown)]
    if hidden:
        more = ", ".join(f"{n} more {k}" for k, n in hidden.items())
        parts.append(f"(not shown: {more}; the object's .findings has them all)")
    return "\n\n".join(parts)


def _state(request: pytest.FixtureRequest) -> _TestState:
    item = request.node
    state = item.stash.get(_STATE, None)
    if state is None:
        state = item.stash[_STATE] = _TestState(item, request.config.stash[SETTINGS])
    return state


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    result = yield  # a test that raised has failed already: its exception propagates
    state = item.stash.get(_STATE, None)
    if state is not None:
        text = state.verdict()
        if text:
            pytest.fail(text, pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    state = item.stash.get(_STATE, None)
    if state is not None:
        if not report.passed:
            state.consume()  # never pile a second failure on a failed or skipped phase
        if report.failed and "angzarr-testkit seed:" not in report.longreprtext:
            report.sections.append(("angzarr-testkit", state.replay_line()))
        if call.when == "teardown" and state.summary:
            # A plain attribute of the report: xdist carries it to the controller.
            setattr(report, _SUMMARY_ATTR, list(state.summary))
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The ``angzarr-testkit`` section: per test, the findings that did not fail it
    (warnings, notes, allowed errors), one line per defect."""
    by_test: dict[str, list[str]] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            lines = getattr(report, _SUMMARY_ATTR, None)
            if lines and getattr(report, "when", None) == "teardown":
                by_test.setdefault(report.nodeid, []).extend(lines)
    if not by_test:
        return
    terminalreporter.section("angzarr-testkit: warnings and notes")
    for nodeid in sorted(by_test):
        lines = by_test[nodeid]
        terminalreporter.write_line(nodeid)
        for line in lines[:MAX_SUMMARY_GROUPS]:
            terminalreporter.write_line("  " + line)
        if len(lines) > MAX_SUMMARY_GROUPS:
            terminalreporter.write_line(
                f"  ... and {len(lines) - MAX_SUMMARY_GROUPS} more (the objects' .findings "
                "have them all)"
            )
    terminalreporter.write_line(
        "(these did not fail the tests; to make a kind fail them: --angzarr-fail-on KIND)"
    )


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def angzarr_session_seed(pytestconfig: pytest.Config) -> int:
    """The session seed (``--angzarr-seed``, or random and shown in the header)."""
    return pytestconfig.stash[SETTINGS].seed


@pytest.fixture
def angzarr_seed(request: pytest.FixtureRequest) -> int:
    """This test's seed: ``derive_seed(session_seed, nodeid)``. The same session seed gives
    every test the same seed on every run, worker and machine; different tests get
    different seeds. Rerun one test with ``pytest --angzarr-seed N <nodeid>``."""
    return _state(request).seed


@pytest.fixture
def _angzarr_state(request: pytest.FixtureRequest) -> Iterable[_TestState]:
    state = _state(request)
    yield state
    # Findings made after the call phase (e.g. in a fixture's teardown) end up here.
    text = state.verdict()
    state.harnesses.clear()
    state.storms.clear()  # lets the storms' temporary traces go
    if text:
        pytest.fail(text, pytrace=False)


@pytest.fixture
def saga_harness(_angzarr_state: _TestState) -> Callable[..., SagaHarness]:
    """Factory: ``saga_harness(saga, **kwargs)`` returns a :class:`SagaHarness` (profile:
    the session's ``--angzarr-profile`` unless given). The test fails if any harness it made
    has error findings (or findings of a ``--angzarr-fail-on`` kind) not accepted by
    ``@pytest.mark.angzarr_allow``."""

    def make(saga: Any, **kwargs: Any) -> SagaHarness:
        kwargs.setdefault("profile", _angzarr_state.settings.profile)
        harness = SagaHarness(saga, **kwargs)
        _angzarr_state.harnesses.append(harness)
        return harness

    return make


@pytest.fixture
def pm_harness(_angzarr_state: _TestState) -> Callable[..., Any]:
    """Factory: ``pm_harness(pm, pm_domain=..., sources=[...], **kwargs)`` returns a
    :class:`~angzarr_testkit.ProcessManagerHarness` (profile: the session's unless given),
    checked like ``saga_harness``'s at the end of the test."""
    from .framework.pm import ProcessManagerHarness

    def make(pm: Any, **kwargs: Any) -> ProcessManagerHarness:
        kwargs.setdefault("profile", _angzarr_state.settings.profile)
        harness = ProcessManagerHarness(pm, **kwargs)
        _angzarr_state.harnesses.append(harness)
        return harness

    return make


class _TrackedStorm(Storm):
    """A :class:`Storm` whose reports the plugin sees."""

    _angzarr_state: _TestState | None = None
    _angzarr_number = 0
    _angzarr_runs = 0

    def run(self) -> StormReport:
        report = super().run()
        if self._angzarr_state is not None:
            self._angzarr_runs += 1
            label = f"storm #{self._angzarr_number}"
            if self._angzarr_runs > 1:
                label += f" run {self._angzarr_runs}"
            self._angzarr_state.storms.append((label, self, report))
        return report


@pytest.fixture
def storm(_angzarr_state: _TestState, request: pytest.FixtureRequest) -> Callable[..., Storm]:
    """Factory: ``storm(saga, **kwargs)`` returns a :class:`Storm` with ``seed=angzarr_seed``,
    the session profile, the ``@pytest.mark.angzarr_storm`` defaults, and ``events``
    multiplied by ``--angzarr-storm-scale`` (at least 1). Explicit keyword arguments override
    the marker; ``faults`` may be a :class:`FaultPlan` or a dict of its fields. The test
    fails if a run was not clean: error findings or findings of a ``--angzarr-fail-on`` kind
    (``findings.failing``) not accepted by ``angzarr_allow``, or missing required coverage."""
    state = _angzarr_state
    defaults = _storm_defaults(request.node)

    def make(saga: Any, **kwargs: Any) -> Storm:
        options = {**defaults, **kwargs}
        options.setdefault("seed", state.seed)
        options.setdefault("profile", state.settings.profile)
        faults = options.get("faults")
        if isinstance(faults, Mapping):
            options["faults"] = FaultPlan.from_dict(dict(faults))
        events = options.get("events", _DEFAULT_EVENTS)
        if isinstance(events, int) and not isinstance(events, bool) and events > 0:
            options["events"] = max(1, round(events * state.settings.storm_scale))
        made = _TrackedStorm(saga, **options)
        state.storm_count += 1
        made._angzarr_state = state
        made._angzarr_number = state.storm_count
        return made

    return make


@pytest.fixture
def destinations() -> Callable[..., Destinations]:
    """Factory: ``destinations({"inventory": 5})`` (or ``destinations(inventory=5)``) returns
    a :class:`Destinations`."""

    def make(sequences: Mapping[str, int] | None = None, /, **by_domain: int) -> Destinations:
        return Destinations({**(sequences or {}), **by_domain})

    return make
