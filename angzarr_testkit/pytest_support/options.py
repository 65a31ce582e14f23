"""The plugin's command-line options and ini keys, and the session :class:`Settings` read
from them (a bad value is a usage error naming the option)."""

from __future__ import annotations

import math
import random

import pytest

from ..framework.findings import KINDS
from ..framework.saga import DEFAULT_PROFILE, PROFILES
from .settings import SEED_BOUND, WORKER_KEY, Settings

__all__ = ["add_options", "report_header", "settings_from"]


def add_options(parser: pytest.Parser) -> None:
    """Register the ``--angzarr-*`` options and their ini keys."""
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
        f"(default: {DEFAULT_PROFILE})",
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
        return DEFAULT_PROFILE
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


def settings_from(config: pytest.Config) -> Settings:
    """The session's settings from the options (the command line wins over the ini); on an
    xdist worker without ``--angzarr-seed``, the controller's seed; else a random one."""
    seed = _parse_seed(_raw(config, "angzarr_seed"))
    scale = _parse_scale(_raw(config, "angzarr_storm_scale"))
    profile = _parse_profile(_raw(config, "angzarr_profile"))
    fail_on = _parse_fail_on(config)
    workerinput = getattr(config, "workerinput", None)
    if seed is None and workerinput is not None and WORKER_KEY in workerinput:
        seed = int(workerinput[WORKER_KEY])  # xdist: the controller's choice
    if seed is None:
        seed = random.SystemRandom().randrange(SEED_BOUND)
    return Settings(seed=seed, storm_scale=scale, profile=profile, fail_on=fail_on)


def report_header(s: Settings) -> str:
    """The header line: the session seed (and how to replay it), profile, scale, kinds."""
    fail_on = (
        f", fail on {', '.join(sorted(s.fail_on, key=list(KINDS).index))}" if s.fail_on else ""
    )
    return (
        f"angzarr-testkit: seed {s.seed} (replay with --angzarr-seed {s.seed}), "
        f"profile {s.profile}, storm scale {s.storm_scale:g}{fail_on}"
    )
