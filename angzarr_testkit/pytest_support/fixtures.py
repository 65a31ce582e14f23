"""The plugin's fixtures: seeds, and factories of harnesses, storms and destinations whose
findings the test's verdict judges."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pytest

from ..destinations import Destinations
from ..framework.saga import SagaHarness
from ..simulate.faults import FaultPlan
from ..simulate.storm import Storm, StormReport
from .markers import storm_defaults
from .settings import SETTINGS
from .verdict import PluginState, state_for

__all__ = [
    "angzarr_seed",
    "angzarr_session_seed",
    "angzarr_state",
    "destinations",
    "pm_harness",
    "saga_harness",
    "storm",
]

_DEFAULT_EVENTS = inspect.signature(Storm.__init__).parameters["events"].default


@pytest.fixture(scope="session")
def angzarr_session_seed(pytestconfig: pytest.Config) -> int:
    """The session seed (``--angzarr-seed``, or random and shown in the header)."""
    return pytestconfig.stash[SETTINGS].seed


@pytest.fixture
def angzarr_seed(request: pytest.FixtureRequest) -> int:
    """This test's seed: ``derive_seed(session_seed, nodeid)``. The same session seed gives
    every test the same seed on every run, worker and machine; different tests get
    different seeds. Rerun one test with ``pytest --angzarr-seed N <nodeid>``."""
    return state_for(request).seed


@pytest.fixture(name="_angzarr_state")
def angzarr_state(request: pytest.FixtureRequest) -> Iterable[PluginState]:
    """The test's :class:`PluginState`; its verdict on what the test made ends the test."""
    state = state_for(request)
    yield state
    # Findings made after the call phase (e.g. in a fixture's teardown) end up here.
    text = state.verdict()
    state.harnesses.clear()
    state.storms.clear()  # lets the storms' temporary traces go
    if text:
        pytest.fail(text, pytrace=False)


@pytest.fixture
def saga_harness(_angzarr_state: PluginState) -> Callable[..., SagaHarness]:
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
def pm_harness(_angzarr_state: PluginState) -> Callable[..., Any]:
    """Factory: ``pm_harness(pm, pm_domain=..., sources=[...], **kwargs)`` returns a
    :class:`~angzarr_testkit.ProcessManagerHarness` (profile: the session's unless given),
    checked like ``saga_harness``'s at the end of the test."""
    from ..framework.pm import ProcessManagerHarness

    def make(pm: Any, **kwargs: Any) -> ProcessManagerHarness:
        kwargs.setdefault("profile", _angzarr_state.settings.profile)
        harness = ProcessManagerHarness(pm, **kwargs)
        _angzarr_state.harnesses.append(harness)
        return harness

    return make


class _TrackedStorm(Storm):
    """A :class:`Storm` whose reports the plugin sees."""

    _angzarr_state: PluginState | None = None
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
def storm(_angzarr_state: PluginState, request: pytest.FixtureRequest) -> Callable[..., Storm]:
    """Factory: ``storm(saga, **kwargs)`` returns a :class:`Storm` with ``seed=angzarr_seed``,
    the session profile, the ``@pytest.mark.angzarr_storm`` defaults, and ``events``
    multiplied by ``--angzarr-storm-scale`` (at least 1). Explicit keyword arguments override
    the marker; ``faults`` may be a :class:`FaultPlan` or a dict of its fields. The test
    fails if a run was not clean: error findings or findings of a ``--angzarr-fail-on`` kind
    (``findings.failing``) not accepted by ``angzarr_allow``, or missing required coverage."""
    state = _angzarr_state
    defaults = storm_defaults(request.node)

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
