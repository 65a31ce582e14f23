"""The ``angzarr_allow`` and ``angzarr_storm`` markers: their registration, their checks at
collection time, and what they ask of a test (allowed kinds, storm defaults)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import pytest

from ..errors import ClientError
from ..framework.findings import KINDS, check_kinds
from ..simulate.faults import FAULT_CLASSES, FaultPlan
from ..simulate.storm import Storm

__all__ = [
    "KIND_OPTIONS",
    "LIST_OPTIONS",
    "MARKER_ERROR",
    "MARKER_STORM_OPTIONS",
    "STORM_OPTIONS",
    "allowed_kinds",
    "check_items",
    "check_markers",
    "fail_on_marker_error",
    "marker_kinds",
    "register_markers",
    "storm_defaults",
]

#: the keyword arguments of :class:`Storm`
STORM_OPTIONS = tuple(p for p in inspect.signature(Storm.__init__).parameters if p != "self")
#: the options an ``angzarr_storm`` marker may set (all but the saga)
MARKER_STORM_OPTIONS = tuple(p for p in STORM_OPTIONS if p != "saga")
#: a marker's usage error, kept on an xdist worker's item until its setup
MARKER_ERROR = pytest.StashKey[str]()
#: Storm options that take a list of names: a lone string there is a mistake, never iterated.
LIST_OPTIONS = ("require", "output_domains", "sources", "fail_on", "allow")
#: Storm options that take finding kinds
KIND_OPTIONS = ("fail_on", "allow")


def register_markers(config: pytest.Config) -> None:
    """Declare the two markers (``pytest --markers`` lists them)."""
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


def check_markers(item: pytest.Item) -> None:
    """Fail with a usage error naming the test on a marker with bad arguments."""
    for mark in item.iter_markers("angzarr_allow"):
        if mark.kwargs:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.angzarr_allow takes finding kinds as positional "
                f"strings, not keywords ({', '.join(mark.kwargs)})"
            )
        unknown = [k for k in marker_kinds(mark.args) if not isinstance(k, str) or k not in KINDS]
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
        unknown = sorted(set(mark.kwargs) - set(MARKER_STORM_OPTIONS))
        if unknown:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.angzarr_storm got unknown option(s) "
                f"{', '.join(unknown)}; Storm options: {', '.join(MARKER_STORM_OPTIONS)}"
            )
        for name in LIST_OPTIONS:
            value = mark.kwargs.get(name)
            if isinstance(value, str):
                raise pytest.UsageError(
                    f"{item.nodeid}: @pytest.mark.angzarr_storm {name} takes a list of names, "
                    f"got the string {value!r}; write {name}=[{value!r}]"
                )
        for name in KIND_OPTIONS:
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


def check_items(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Check every collected test's markers (on an xdist worker, a bad one is kept for
    :func:`fail_on_marker_error`)."""
    on_worker = hasattr(config, "workerinput")
    for item in items:
        try:
            check_markers(item)
        except pytest.UsageError as exc:
            if not on_worker:
                raise
            # A usage error raised on an xdist worker crashes the session with its message
            # lost; there, the test errors at setup with the same message instead.
            item.stash[MARKER_ERROR] = str(exc)


def fail_on_marker_error(item: pytest.Item) -> None:
    """Error the test at setup with its marker's usage error, if it has one."""
    message = item.stash.get(MARKER_ERROR, None)
    if message is not None:
        pytest.fail(f"angzarr-testkit usage error: {message}", pytrace=False)


def marker_kinds(args: tuple[Any, ...]) -> list[Any]:
    """An ``angzarr_allow`` marker's kinds: positional strings, or one list/tuple of them."""
    out: list[Any] = []
    for arg in args:
        if isinstance(arg, (list, tuple, set, frozenset)):
            out.extend(arg)
        else:
            out.append(arg)
    return out


def allowed_kinds(item: pytest.Item) -> frozenset[str]:
    """Kinds the test's ``angzarr_allow`` markers accept (a marker without kinds: all)."""
    allowed: set[str] = set()
    for mark in item.iter_markers("angzarr_allow"):
        if not mark.args:
            return frozenset(KINDS)
        allowed.update(marker_kinds(mark.args))
    return frozenset(allowed)


def storm_defaults(item: pytest.Item) -> dict[str, Any]:
    """The ``angzarr_storm`` markers' options merged, the closest marker winning."""
    defaults: dict[str, Any] = {}
    # iter_markers yields the closest first (function, class, module): apply it last.
    for mark in reversed(list(item.iter_markers("angzarr_storm"))):
        defaults.update(mark.kwargs)
    return defaults
