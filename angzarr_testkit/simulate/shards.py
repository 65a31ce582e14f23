"""Sharded storms: S independent sub-storms, run one after another or on worker processes.

Shard ``s`` of ``S`` owns the global source roots and event indexes ``i % S == s``, its own
RNG (:func:`shard_rng`), harness, bus, destinations and oracle, and its share of the delivery
budget (:func:`shard_budgets`). The split is part of the storm's definition; ``workers``
only says how many processes run the shards, and never changes a byte of the trace or the
verdict. Workers are forked (``concurrent.futures.ProcessPoolExecutor`` on the ``fork``
context): targets and event sources need not pickle, because only the shard index crosses
to a worker (the job reaches it by fork, through :data:`_JOB`) and only a picklable
:class:`~.verdict.ShardResult` comes back. Each shard writes its part of the trace to a part
file beside the trace; the parent concatenates them in shard order, streaming, between the
header and the summary.
"""

from __future__ import annotations

import multiprocessing
import os
import random
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import UserCodeError
from ..framework.saga import SagaHarness
from .engine import DeliveryEngine, StormPlan
from .sources import make_event_source
from .storm_report import StormReport
from .trace import Schedule, Trace, TraceWriter
from .vacuity import default_delivery_budget
from .verdict import ShardPart, ShardResult, conclude, shard_share

__all__ = ["ShardJob", "run_shards", "shard_budgets", "shard_rng", "shard_schedule"]


def shard_rng(seed: int, index: int, count: int) -> random.Random:
    """Shard ``index`` of ``count``'s RNG (a str seed is hashed with SHA-512 by ``random``:
    the same for any ``PYTHONHASHSEED``). An unsharded storm uses ``random.Random(seed)``."""
    return random.Random(f"angzarr-testkit/shard/{seed}/{index}/{count}")


def shard_budgets(storm: StormPlan, count: int, explicit: int | None) -> list[int]:
    """Each shard's delivery budget: the default for its own events, or ``explicit`` split
    as evenly as the events are."""
    if explicit is None:
        return [
            default_delivery_budget(shard_share(storm.events, s, count), storm.faults)
            for s in range(count)
        ]
    return [shard_share(explicit, s, count) for s in range(count)]


@dataclass
class ShardJob:
    """One sharded run (or replay): the storm, a fresh harness per shard (``setup`` runs in
    each), the trigger ``domain``, the budgets, the final trace ``path`` and, for a replay,
    each shard's recorded schedule."""

    storm: StormPlan
    new_harness: Callable[[], SagaHarness]
    domain: str | None
    budgets: list[int]
    path: Path
    schedules: Sequence[Schedule] | None = None
    progress: bool | None = False

    def part_path(self, index: int) -> Path:
        """Where shard ``index`` writes its part of the trace."""
        return self.path.with_name(f"{self.path.name}.shard-{index}")

    def run(self, index: int) -> ShardResult:
        """Run shard ``index`` (in this process) and return its result."""
        count = len(self.budgets)
        harness = self.new_harness()
        part = ShardPart(index, count, self.budgets[index], self.part_path(index), self.progress)
        storm = self.storm
        engine = DeliveryEngine(storm, harness, shard_rng(storm.seed, index, count), part=part)
        try:
            if self.schedules is not None:
                engine.deliver_schedule(self.schedules[index])
            else:
                target = harness.target
                source = make_event_source(storm.event_source, target.handled_types, target.name)
                assert self.domain is not None
                engine.deliver_random(source, self.domain)
            return engine.shard_result()
        finally:
            engine.writer.close()


#: The job the forked workers run (set by :func:`run_shards` before the pool starts).
_JOB: ShardJob | None = None


def _run_in_worker(index: int) -> ShardResult:
    assert _JOB is not None, "a shard worker without its job (workers are forked)"
    return _JOB.run(index)


def run_shards(
    job: ShardJob,
    workers: int,
    *,
    header: dict[str, Any],
    output_domains: Sequence[str],
    temporary: bool,
) -> StormReport:
    """Run every shard of ``job`` on ``workers`` processes (1: in this one, in order), then
    write the trace (``header``, each shard's part, the summary) and merge the verdict."""
    global _JOB
    count = len(job.budgets)
    try:
        if workers == 1:
            results = [job.run(s) for s in range(count)]
        else:
            _JOB = job
            context = multiprocessing.get_context("fork")
            try:
                with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                    results = list(pool.map(_run_in_worker, range(count)))
            except BrokenProcessPool as exc:
                raise UserCodeError(
                    f"a storm worker process died abruptly while running the shards (workers="
                    f"{workers}): the handler, its business logic or setup ended the process "
                    "without an exception (os._exit, a crash in native code, or the kernel's "
                    "out-of-memory killer). Re-run with workers=1 to see it in this process",
                    details={"parameter": "workers", "workers": workers},
                ) from exc
        writer = TraceWriter(job.path)
        writer.line(header)
        for s in range(count):
            writer.append_file(job.part_path(s))
    finally:
        _JOB = None
        for s in range(count):
            try:
                os.unlink(job.part_path(s))
            except OSError:
                pass
    return conclude(
        job.storm,
        results,
        output_domains=output_domains,
        writer=writer,
        trace=Trace(job.path, temporary=temporary),
        options=header,
    )


def shard_schedule(schedule: Schedule, index: int) -> Schedule:
    """Shard ``index`` of a sharded ``schedule`` as the schedule of an unsharded storm (its
    header without ``shards``, with the shard's events and delivery budget): what the
    shrinker reduces."""
    header = dict(schedule.header)
    count = header.pop("shards")
    explicit = header.get("delivery_budget")
    header["events"] = shard_share(header["events"], index, count)
    if explicit is not None:
        header["delivery_budget"] = shard_share(explicit, index, count)
    return replace(schedule.parts[index], header=header)
