"""The subcommands (storm, compare, replay, shrink, steps, demo): each runs from the parsed
arguments and returns its exit status."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import ClientError
from .output import EXIT_CLEAN, EXIT_FINDINGS, emit, output_file, stdout_to_stderr

__all__ = [
    "dispatch",
    "import_option",
    "run_compare",
    "run_replay",
    "run_shrink",
    "run_steps",
    "run_storm",
]


def import_option(spec: str, what: str) -> Any:
    """The object an option names (``package.module:attr``); a failure names the option."""
    from ..framework.targets import import_target

    try:
        return import_target(spec)
    except ClientError as exc:
        raise type(exc)(f"{what}: {exc.message}", code=exc.code, details=exc.details) from exc


def _storm_options(args: argparse.Namespace) -> dict[str, Any]:
    """The verdict flags, passed to Storm only when given (Storm's defaults otherwise)."""
    given = {
        "allow_vacuous": args.allow_vacuous,
        "fail_on": args.fail_on,
        "delivery_budget": args.delivery_budget,
    }
    return {name: value for name, value in given.items() if value is not None}


def _storm_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The Storm arguments of the storm options (all but ``--profile`` and ``--trace``);
    imports the event source, so call it with user output already redirected."""
    from ..simulate import FaultPlan

    faults = FaultPlan(
        duplicate=args.duplicate,
        crash_before_ack=args.crash_before_ack,
        crash_mid_dispatch=args.crash_mid_dispatch,
        nack_requeue=args.nack_requeue,
        reorder=args.reorder,
        concurrent_redelivery=args.concurrent_redelivery,
        delivery_limit=args.delivery_limit,
    )
    concurrency = args.concurrency
    if concurrency is None:
        concurrency = 2 if args.concurrent_redelivery else 1
    source = import_option(args.event_source, "--event-source") if args.event_source else None
    return dict(
        source_domain=args.source_domain,
        output_domains=args.output_domains,
        events=args.events,
        roots=args.roots,
        seed=args.seed,
        event_source=source,
        faults=faults,
        require=args.require,
        concurrency=concurrency,
        broker=args.broker,
        shards=args.shards,
        workers=args.workers,
        progress=None if not args.json else False,
        dedupe_store=args.dedupe_store,
        **_storm_options(args),
    )


def run_storm(args: argparse.Namespace) -> int:
    """``angzarr-testkit storm``: a seeded redelivery storm against a saga."""
    from ..simulate import Storm
    from ..simulate.trace import output_dir

    if args.html:
        output_file(args.html, "--html")
    if args.trace:
        trace = output_file(args.trace, "--trace")
    else:
        trace = output_dir(args.output_dir) / f"storm-{args.seed}.jsonl"
    with stdout_to_stderr(args.json):
        report = Storm(
            args.target, profile=args.profile, trace=trace, **_storm_arguments(args)
        ).run()
    return emit(report, args)


def run_compare(args: argparse.Namespace) -> int:
    """``angzarr-testkit compare``: the same storm under each of ``--profiles``."""
    from ..simulate import compare_profiles
    from ..simulate.trace import output_dir

    folder = output_dir(args.output_dir)
    with stdout_to_stderr(args.json):
        comparison = compare_profiles(
            args.target, profiles=args.profiles, trace_dir=folder, **_storm_arguments(args)
        )
    if args.json:
        print(json.dumps(comparison.to_dict(), indent=2))
    else:
        print(comparison.render())
    return EXIT_CLEAN if comparison.ok else EXIT_FINDINGS


def run_replay(args: argparse.Namespace) -> int:
    """``angzarr-testkit replay``: re-execute a recorded trace exactly."""
    from ..simulate import Storm
    from ..simulate.trace import output_dir
    from ..simulate.trace_read import read_schedule

    if args.html:
        output_file(args.html, "--html")
    schedule = read_schedule(args.trace)  # refuse a damaged trace before creating anything
    if args.trace_out:
        out = output_file(args.trace_out, "--trace-out")
    else:
        stem = Path(args.trace).name.removesuffix(".jsonl")
        out = output_dir(args.output_dir) / f"{stem}.replay.jsonl"
    if out.resolve() == Path(args.trace).resolve():
        from ..errors import UsageError

        raise UsageError(
            f"--trace-out: {str(out)!r} is the trace being replayed; name another file",
            details={"parameter": "--trace-out", "value": str(out)},
        )
    with stdout_to_stderr(args.json):
        report = Storm.replay_schedule(schedule, saga=args.target, trace=out)
    return emit(report, args)


def run_shrink(args: argparse.Namespace) -> int:
    """``angzarr-testkit shrink``: the smallest trace with the same finding, as a test."""
    from ..simulate import shrink
    from ..simulate.trace import output_dir

    if args.out is not None:
        out = Path(args.out)
    else:
        out = output_dir(args.output_dir) / f"shrink-{Path(args.trace).name.removesuffix('.jsonl')}"
    with stdout_to_stderr(args.json):
        try:
            result = shrink(
                args.trace,
                args.target,
                kind=args.kind,
                out_dir=out,
                target=args.target,
                budget=args.budget,
            )
        except ClientError as exc:
            if exc.details.get("parameter") == "out_dir":
                raise type(exc)(
                    exc.message.replace("out_dir:", "--out:", 1),
                    code=exc.code,
                    details=exc.details,
                ) from exc
            raise
    if args.json:
        data = {
            "kind": result.kind,
            "deliveries": result.deliveries,
            "messages": result.messages,
            "original_deliveries": result.original_deliveries,
            "original_messages": result.original_messages,
            "replays": result.replays,
            "test_file": str(result.test_file),
            "feature_file": str(result.feature_file),
        }
        print(json.dumps(data, indent=2))
        return EXIT_CLEAN
    print(result.describe())
    print(f"wrote {result.test_file} (run it with pytest: it fails with {result.kind})")
    print(f"wrote {result.feature_file} (the same as a Gherkin scenario for behave)")
    return EXIT_CLEAN


def run_steps(args: argparse.Namespace) -> int:
    """``angzarr-testkit steps``: the Gherkin step vocabulary (``--markdown``: docs/steps.md)."""
    from ..behave import steps  # noqa: F401 - registers the vocabulary
    from ..behave.vocabulary import VOCABULARY, render_markdown

    if args.markdown:
        sys.stdout.write(render_markdown())
        return EXIT_CLEAN
    group = None
    for doc in VOCABULARY:
        if doc.group != group:
            group = doc.group
            print(f"\n{group}")
        print(f"  {doc.keyword} {doc.pattern}")
        print(f"      {doc.description}")
        for line in doc.example.splitlines():
            print(f"      | {line}")
    return EXIT_CLEAN


def dispatch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run the parsed command (none: print the help)."""
    if args.command == "storm":
        return run_storm(args)
    if args.command == "compare":
        return run_compare(args)
    if args.command == "replay":
        return run_replay(args)
    if args.command == "shrink":
        return run_shrink(args)
    if args.command == "steps":
        return run_steps(args)
    if args.command == "demo":
        from ..demo import run

        return run(redeliveries=args.redeliveries)
    parser.print_help()
    return EXIT_CLEAN
