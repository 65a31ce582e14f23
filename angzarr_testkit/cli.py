"""The ``angzarr-testkit`` command.

Exit status: 0 clean, 1 findings (or a required fault class that never happened), 2 usage
or target errors (with a one-line reason on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__
from .errors import ClientError

__all__ = ["build_parser", "main"]

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a rate between 0 and 1")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object (ok, seed, counts, fault_coverage, findings)",
    )
    parser.add_argument(
        "--html", metavar="FILE", help="write a self-contained HTML report with a per-root timeline"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    from .framework.saga import PROFILES
    from .simulate.faults import FAULT_CLASSES

    parser = argparse.ArgumentParser(
        prog="angzarr-testkit",
        description=(
            "A fake angzarr for tests: drive real sagas with sequence maps, redeliveries and "
            "redelivery storms, and check the destination dedupe as an oracle."
        ),
        epilog="Exit status: 0 clean, 1 findings, 2 usage or target errors.",
    )
    parser.add_argument("--version", action="version", version=f"angzarr-testkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    storm = sub.add_parser(
        "storm",
        help="run a seeded redelivery storm against a saga",
        description="Run a seeded redelivery storm against a saga and report the oracle's "
        "findings. TARGET is package.module:attr (run from your project's root).",
    )
    storm.add_argument("target", metavar="TARGET", help="the saga, as package.module:attr")
    storm.add_argument("--source-domain", metavar="D", help="trigger domain (default: declared)")
    storm.add_argument(
        "--output-domain",
        metavar="D",
        action="append",
        dest="output_domains",
        help="an output domain (repeat for several; default: declared)",
    )
    storm.add_argument("--profile", choices=PROFILES, default="sequence-map")
    storm.add_argument("--events", type=_count, default=1000, metavar="N")
    storm.add_argument("--roots", type=_count, default=10, metavar="N")
    storm.add_argument("--seed", type=int, default=0, metavar="S")
    storm.add_argument(
        "--event-source",
        metavar="MODULE:ATTR",
        help="a list, a callable (rng, i) -> event, or a Hypothesis strategy",
    )
    storm.add_argument("--duplicate", type=_rate, default=0.0, metavar="R")
    storm.add_argument("--crash-before-ack", type=_rate, default=0.0, metavar="R")
    storm.add_argument("--crash-mid-dispatch", type=_rate, default=0.0, metavar="R")
    storm.add_argument("--nack-requeue", type=_rate, default=0.0, metavar="R")
    storm.add_argument("--concurrent-redelivery", type=_rate, default=0.0, metavar="R")
    storm.add_argument("--reorder", action="store_true")
    storm.add_argument(
        "--concurrency",
        type=_count,
        default=None,
        metavar="N",
        help="consumers (default 1, or 2 with --concurrent-redelivery)",
    )
    storm.add_argument("--delivery-limit", type=_count, default=20, metavar="N")
    storm.add_argument(
        "--require",
        action="append",
        default=[],
        metavar="KIND",
        choices=FAULT_CLASSES,
        help="a fault class that must occur (repeatable)",
    )
    storm.add_argument(
        "--broker",
        metavar="URL",
        help="route deliveries through a real RabbitMQ queue (amqp://127.0.0.1:5672/)",
    )
    storm.add_argument(
        "--trace",
        metavar="FILE",
        help="write the JSON-lines trace here (default: storm-SEED.jsonl)",
    )
    _add_output_options(storm)

    replay = sub.add_parser("replay", help="re-execute a recorded storm trace exactly")
    replay.add_argument("trace", metavar="TRACE")
    replay.add_argument(
        "--target", metavar="MODULE:ATTR", help="the saga (default: the one recorded in the trace)"
    )
    _add_output_options(replay)

    shrink = sub.add_parser(
        "shrink", help="reduce a failing storm trace to a minimal failing pytest file"
    )
    shrink.add_argument("trace", metavar="TRACE")
    shrink.add_argument("--out", metavar="DIR", required=True, help="where to write the test")
    shrink.add_argument("--kind", metavar="KIND", help="the finding kind to keep (default: first)")
    shrink.add_argument(
        "--target", metavar="MODULE:ATTR", help="the saga (default: the one recorded in the trace)"
    )

    steps = sub.add_parser("steps", help="print the shared Gherkin step vocabulary")
    steps.add_argument(
        "--markdown",
        action="store_true",
        help="print docs/steps.md (the generated reference) instead",
    )

    demo = sub.add_parser(
        "demo",
        help="run the built-in demo: the redelivery bug the kit exists to expose",
    )
    demo.add_argument(
        "--redeliveries",
        type=int,
        default=3,
        metavar="N",
        help="how many times to redeliver the trigger (default 3)",
    )
    return parser


def _import(spec: str, what: str) -> Any:
    from .framework.targets import _import_target

    try:
        return _import_target(spec)
    except ClientError as exc:
        raise ClientError(f"{what}: {exc.message}", code=exc.code, details=exc.details) from None


def _emit(report: Any, args: argparse.Namespace) -> int:
    if args.html:
        from .simulate.report_html import write_html

        write_html(report, args.html)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.summary())
        errors = [f for f in report.findings if f.is_error]
        for finding in errors[:5]:
            print()
            print(finding.render(with_traceback=False))
        if len(errors) > 5:
            print(f"\n... and {len(errors) - 5} more error finding(s); see --json or --html")
        print(f"\ntrace: {report.trace.path}")
        if args.html:
            print(f"html report: {args.html}")
    return EXIT_CLEAN if report.ok else EXIT_FINDINGS


def _storm(args: argparse.Namespace) -> int:
    from .simulate import FaultPlan, Storm

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
    source = _import(args.event_source, "--event-source") if args.event_source else None
    report = Storm(
        args.target,
        source_domain=args.source_domain,
        output_domains=args.output_domains,
        profile=args.profile,
        events=args.events,
        roots=args.roots,
        seed=args.seed,
        event_source=source,
        faults=faults,
        require=args.require,
        concurrency=concurrency,
        trace=args.trace or f"storm-{args.seed}.jsonl",
        broker=args.broker,
        progress=None,
    ).run()
    return _emit(report, args)


def _replay(args: argparse.Namespace) -> int:
    from .simulate import Storm

    stem = os.path.splitext(os.path.basename(args.trace))[0]
    return _emit(Storm.replay(args.trace, saga=args.target, trace=f"{stem}.replay.jsonl"), args)


def _shrink(args: argparse.Namespace) -> int:
    from .simulate import shrink

    result = shrink(args.trace, args.target, kind=args.kind, out_dir=args.out, target=args.target)
    print(result.describe())
    print(f"wrote {result.test_file} (run it with pytest: it fails with {result.kind})")
    print(f"wrote {result.feature_file} (the same as a Gherkin scenario for behave)")
    return EXIT_CLEAN


def _steps(args: argparse.Namespace) -> int:
    from .behave import steps  # noqa: F401 - registers the vocabulary
    from .behave.vocabulary import VOCABULARY, render_markdown

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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # Targets are named relative to the project the command runs in, as with `python -m`.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        if args.command == "storm":
            return _storm(args)
        if args.command == "replay":
            return _replay(args)
        if args.command == "shrink":
            return _shrink(args)
        if args.command == "steps":
            return _steps(args)
        if args.command == "demo":
            from .demo import run

            if args.redeliveries < 1:
                parser.error("--redeliveries must be at least 1")
            return run(redeliveries=args.redeliveries)
    except ClientError as exc:
        print(f"angzarr-testkit: error: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    parser.print_help()
    return EXIT_CLEAN


def console_main() -> int:  # pragma: no cover - the console script
    """``angzarr-testkit``: :func:`main`, quiet when its output pipe closes early."""
    try:
        return main()
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - let interpreter exit cleanly
        return EXIT_CLEAN


if __name__ == "__main__":  # pragma: no cover
    sys.exit(console_main())
