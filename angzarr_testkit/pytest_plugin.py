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

from typing import Any

import pytest

from .pytest_support.fixtures import angzarr_seed as angzarr_seed
from .pytest_support.fixtures import angzarr_session_seed as angzarr_session_seed
from .pytest_support.fixtures import angzarr_state as angzarr_state
from .pytest_support.fixtures import destinations as destinations
from .pytest_support.fixtures import pm_harness as pm_harness
from .pytest_support.fixtures import saga_harness as saga_harness
from .pytest_support.fixtures import storm as storm
from .pytest_support.markers import check_items, fail_on_marker_error, register_markers
from .pytest_support.options import add_options, report_header, settings_from
from .pytest_support.settings import SETTINGS, WORKER_KEY, Settings, derive_seed
from .pytest_support.summary import MAX_SUMMARY_GROUPS as MAX_SUMMARY_GROUPS
from .pytest_support.summary import write_summary
from .pytest_support.verdict import MAX_SHOWN_PER_KIND as MAX_SHOWN_PER_KIND
from .pytest_support.verdict import annotate_report, judge_call

__all__ = ["SETTINGS", "Settings", "derive_seed"]

# pytest finds the fixtures imported above as attributes of this module (the plugin it
# loads), and the hooks below; each hook hands its work to its pytest_support module.


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    register_markers(config)
    config.stash[SETTINGS] = settings_from(config)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: hand the session seed to every worker."""
    node.workerinput[WORKER_KEY] = node.config.stash[SETTINGS].seed


def pytest_report_header(config: pytest.Config) -> str:
    return report_header(config.stash[SETTINGS])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    check_items(config, items)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    fail_on_marker_error(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    result = yield  # a test that raised has failed already: its exception propagates
    judge_call(item)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    annotate_report(item, call, report)
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    write_summary(terminalreporter)
