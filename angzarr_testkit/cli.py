"""The ``angzarr-testkit`` command.

Exit status: 0 clean, 1 findings (or a required fault class that never happened), 2 the run
could not be done (a bad option, target, event source or trace, user code that raised or
called ``sys.exit``, an unwritable output path), with a one-line reason on stderr
(``--debug`` prints the traceback instead).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from .errors import ClientError, describe_exception
from .version import __version__

__all__ = ["EXIT_CLEAN", "EXIT_FINDINGS", "EXIT_USAGE", "build_parser", "main"]

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
_EXIT_INTERRUPTED = 130

EPILOG = """\
exit status:
  0  clean: no error finding, every required fault class occurred
  1  findings: the storm (or replay) is not clean
  2  the run could not be done: a bad option, target, event source or trace, user code
     that raised or called sys.exit, an unwritable output path (one line on stderr;
     --debug prints the traceback instead)

files: traces, replay traces and shrunk tests go to --output-dir, else $ANGZARR_TESTKIT_DIR,
else ./.angzarr-testkit/ (never the working directory itself); --trace, --html and --out
name a path explicitly.
"""


class _ArgumentError(Exception):
    """A command-line mistake found by the parser (reported on one line, exit 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse, with each mistake one line on stderr instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        raise _ArgumentError(f"{self.prog}: error: {message} (see {self.prog} --help)")


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise argparse.ArgumentTypeError(f"{text} is not a rate between 0 and 1")
    return value


def _int(text: str, minimum: int | None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise argparse.ArgumentTypeError(f"{text} is not an integer >= {minimum}")
    if abs(value) >= 2**63:
        raise argparse.ArgumentTypeError(f"{text} is out of range (a 64-bit integer)")
    return value


def _count(text: str) -> int:
    return _int(text, 0)


def _positive(text: str) -> int:
    return _int(text, 1)


def _seed(text: str) -> int:
    return _int(text, None)


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="on an error, print the traceback instead of the one-line reason",
    )


def _output_options(parser: argparse.ArgumentParser, *, html: bool = True) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help="print only one JSON document on stdout (the user code's own output goes to "
        "stderr while it runs)",
    )
    if html:
        parser.add_argument(
            "--html",
            metavar="FILE",
            help="write a self-contained HTML report with a per-root timeline",
        )
        parser.add_argument(
            "--max-findings",
            type=_count,
            default=50,
            metavar="N",
            help="most findings of each kind in --json and --html (default 50; 0: all); the "
            "JSON's 'truncated' says per kind how many were left out",
        )
    parser.add_argument(
        "--output-dir",
        metavar="DIR",
        help="where default output files go (default: $ANGZARR_TESTKIT_DIR, else "
        "./.angzarr-testkit)",
    )
    _common_options(parser)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    from .framework.findings import KINDS
    from .framework.saga import PROFILES
    from .simulate.faults import FAULT_CLASSES

    parser = _Parser(
        prog="angzarr-testkit",
        description=(
            "A fake angzarr for tests: drive real sagas with sequence maps, redeliveries and "
            "redelivery storms, and check the destination dedupe as an oracle."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"angzarr-testkit {__version__}")
    parser.add_argument("--debug", action="store_true", help="print tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    formatter = argparse.RawDescriptionHelpFormatter

    storm = sub.add_parser(
        "storm",
        help="run a seeded redelivery storm against a saga",
        description="Run a seeded redelivery storm against a saga and report the oracle's "
        "findings. TARGET is package.module:attr (run from your project's root).",
        epilog=EPILOG,
        formatter_class=formatter,
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
    storm.add_argument("--roots", type=_positive, default=10, metavar="N")
    storm.add_argument("--seed", type=_seed, default=0, metavar="S")
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
        type=_positive,
        default=None,
        metavar="N",
        help="consumers (default 1, or 2 with --concurrent-redelivery)",
    )
    storm.add_argument("--delivery-limit", type=_positive, default=20, metavar="N")
    storm.add_argument(
        "--require",
        action="append",
        default=[],
        metavar="KIND",
        choices=FAULT_CLASSES,
        help="a fault class that must occur (repeatable)",
    )
    storm.add_argument(
        "--allow-vacuous",
        action="store_true",
        default=None,
        help="a storm that did no work (vacuous-run) is not a failure",
    )
    storm.add_argument(
        "--fail-on",
        action="append",
        metavar="KIND",
        choices=list(KINDS),
        help="a finding kind that fails the run even if it is a warning or note (repeatable)",
    )
    storm.add_argument(
        "--delivery-budget",
        type=_positive,
        metavar="N",
        help="most deliveries in all (default: from events and the delivery limit)",
    )
    storm.add_argument(
        "--broker",
        metavar="URL",
        help="route deliveries through a real RabbitMQ queue (amqp://127.0.0.1:5672/)",
    )
    storm.add_argument(
        "--trace",
        metavar="FILE",
        help="write the JSON-lines trace here (default: OUTPUT_DIR/storm-SEED.jsonl)",
    )
    _output_options(storm)

    replay = sub.add_parser(
        "replay",
        help="re-execute a recorded storm trace exactly",
        description="Re-execute a recorded storm trace exactly. The trace is checked first "
        "(version, completeness, digest); a replay whose verdict differs from the recorded "
        "one says so. The exit status is the replay's verdict.",
        epilog=EPILOG,
        formatter_class=formatter,
    )
    replay.add_argument("trace", metavar="TRACE")
    replay.add_argument(
        "--target", metavar="MODULE:ATTR", help="the saga (default: the one recorded in the trace)"
    )
    replay.add_argument(
        "--trace-out",
        metavar="FILE",
        help="write the replay's trace here (default: OUTPUT_DIR/<TRACE stem>.replay.jsonl)",
    )
    _output_options(replay)

    shrink = sub.add_parser(
        "shrink",
        help="reduce a failing storm trace to a minimal failing pytest file",
        epilog=EPILOG,
        formatter_class=formatter,
    )
    shrink.add_argument("trace", metavar="TRACE")
    shrink.add_argument(
        "--out",
        metavar="DIR",
        help="the directory to write the test into (created; default: "
        "OUTPUT_DIR/shrink-<TRACE stem>)",
    )
    shrink.add_argument(
        "--kind",
        metavar="KIND",
        choices=list(KINDS),
        help="the finding kind to keep (default: the first error kind)",
    )
    shrink.add_argument(
        "--target", metavar="MODULE:ATTR", help="the saga (default: the one recorded in the trace)"
    )
    shrink.add_argument("--budget", type=_positive, default=400, metavar="N", help="most replays")
    _output_options(shrink, html=False)

    steps = sub.add_parser("steps", help="print the shared Gherkin step vocabulary")
    steps.add_argument(
        "--markdown",
        action="store_true",
        help="print docs/steps.md (the generated reference) instead",
    )
    _common_options(steps)

    demo = sub.add_parser(
        "demo",
        help="run the built-in demo: the redelivery bug the kit exists to expose",
    )
    demo.add_argument(
        "--redeliveries",
        type=_positive,
        default=3,
        metavar="N",
        help="how many times to redeliver the trigger (default 3)",
    )
    _common_options(demo)
    return parser


# -- helpers ------------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _import(spec: str, what: str) -> Any:
    from .framework.targets import import_target

    try:
        return import_target(spec)
    except ClientError as exc:
        raise type(exc)(f"{what}: {exc.message}", code=exc.code, details=exc.details) from exc


def _output_file(path: str, option: str) -> Path:
    """An output path named on the command line, checked before any work is done."""
    from .errors import UsageError, unwritable

    file = Path(path)
    parent = file.parent if str(file.parent) else Path(".")

    def refuse(problem: str) -> UsageError:
        return unwritable(f"{option}: cannot write {path!r}: {problem}", path, option)

    if file.is_dir():
        raise refuse("it is a directory")
    if parent.exists() and not parent.is_dir():
        raise refuse(f"{str(parent)!r} is a file, not a directory")
    if not parent.is_dir():
        raise refuse(f"the directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK) or (file.exists() and not os.access(file, os.W_OK)):
        raise refuse("permission denied")
    return file


@contextlib.contextmanager
def _stdout_to_stderr(enabled: bool) -> Iterator[None]:
    """While user code runs under ``--json``: everything written to stdout (Python's
    ``sys.stdout``, loggers holding the original stream, C-level writes to fd 1) goes to
    stderr, so stdout holds only the JSON document."""
    if not enabled:
        yield
        return
    _flush_all()
    saved: int | None = None
    try:
        saved = os.dup(1)
        os.dup2(2, 1)
    except OSError:  # no usable fd 1 (closed, or an embedded interpreter): Python level only
        saved = None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _flush_all()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


def _flush_all() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()
    with contextlib.suppress(Exception):  # C stdio buffers (printf from an extension)
        import ctypes

        ctypes.CDLL(None).fflush(None)


# -- commands -----------------------------------------------------------------------------------


def _emit(report: Any, args: argparse.Namespace) -> int:
    cap = args.max_findings
    if args.html:
        from .report import write_html

        write_html(report, args.html, max_findings_per_kind=cap or max(len(report.findings), 1))
    note = report.replay_note()
    if args.json:
        print(json.dumps(report.to_dict(max_findings_per_kind=cap), indent=2))
    else:
        print(report.summary())
        errors = [f for f in report.findings if f.is_error]
        for finding in errors[:5]:
            print()
            print(finding.render(with_traceback=False))
        if len(errors) > 5:
            print(f"\n... and {len(errors) - 5} more error finding(s); see --json or --html")
        if note:
            print(f"\n{note}")
        print(f"\ntrace: {report.trace.path}")
        if args.html:
            print(f"html report: {args.html}")
    return EXIT_CLEAN if report.ok else EXIT_FINDINGS


def _storm_options(args: argparse.Namespace) -> dict[str, Any]:
    """The verdict flags, passed to Storm only when given (Storm's defaults otherwise)."""
    given = {
        "allow_vacuous": args.allow_vacuous,
        "fail_on": args.fail_on,
        "delivery_budget": args.delivery_budget,
    }
    return {name: value for name, value in given.items() if value is not None}


def _storm(args: argparse.Namespace) -> int:
    from .simulate import FaultPlan, Storm
    from .simulate.trace import output_dir

    if args.html:
        _output_file(args.html, "--html")
    if args.trace:
        trace = _output_file(args.trace, "--trace")
    else:
        trace = output_dir(args.output_dir) / f"storm-{args.seed}.jsonl"
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
    options = _storm_options(args)
    with _stdout_to_stderr(args.json):
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
            trace=trace,
            broker=args.broker,
            progress=None if not args.json else False,
            **options,
        ).run()
    return _emit(report, args)


def _replay(args: argparse.Namespace) -> int:
    from .simulate import Storm
    from .simulate.trace import output_dir, read_schedule

    if args.html:
        _output_file(args.html, "--html")
    schedule = read_schedule(args.trace)  # refuse a damaged trace before creating anything
    if args.trace_out:
        out = _output_file(args.trace_out, "--trace-out")
    else:
        stem = Path(args.trace).name.removesuffix(".jsonl")
        out = output_dir(args.output_dir) / f"{stem}.replay.jsonl"
    if out.resolve() == Path(args.trace).resolve():
        from .errors import UsageError

        raise UsageError(
            f"--trace-out: {str(out)!r} is the trace being replayed; name another file",
            details={"parameter": "--trace-out", "value": str(out)},
        )
    with _stdout_to_stderr(args.json):
        report = Storm.replay_schedule(schedule, saga=args.target, trace=out)
    return _emit(report, args)


def _shrink(args: argparse.Namespace) -> int:
    from .simulate import shrink
    from .simulate.trace import output_dir

    if args.out is not None:
        out = Path(args.out)
    else:
        out = output_dir(args.output_dir) / f"shrink-{Path(args.trace).name.removesuffix('.jsonl')}"
    with _stdout_to_stderr(args.json):
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


def _dispatch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
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

        return run(redeliveries=args.redeliveries)
    parser.print_help()
    return EXIT_CLEAN


def _fail(message: str, debug: bool) -> int:
    if debug:
        traceback.print_exc(file=sys.stderr)
    else:
        print(_one_line(message), file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (``--help`` and ``--version`` exit 0)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _ArgumentError as exc:
        print(_one_line(str(exc)), file=sys.stderr)
        return EXIT_USAGE
    debug = bool(getattr(args, "debug", False))
    # Targets are named relative to the project the command runs in, as with `python -m`.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    prefix = "angzarr-testkit: error: "
    hint = " (rerun with --debug for the traceback)"
    try:
        return _dispatch(args, parser)
    except ClientError as exc:
        return _fail(prefix + exc.message, debug)
    except BrokenPipeError:
        raise  # the reader went away (| head): console_main ends quietly
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(f"{prefix}{where}{exc.strerror or describe_exception(exc)}{hint}", debug)
    except SystemExit as exc:  # only user code (a target, an event source) exits in here
        return _fail(
            f"{prefix}user code called sys.exit({exc.code!r}) (SystemExit) during the run{hint}",
            debug,
        )
    except KeyboardInterrupt:
        print("angzarr-testkit: interrupted", file=sys.stderr)
        return _EXIT_INTERRUPTED
    except Exception as exc:  # the last line of defence: never a bare traceback
        return _fail(f"{prefix}the run stopped on {describe_exception(exc)}{hint}", debug)


def console_main() -> int:  # pragma: no cover - the console script
    """``angzarr-testkit``: :func:`main`, quiet when its output pipe closes early."""
    try:
        return main()
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - let interpreter exit cleanly
        return EXIT_CLEAN


if __name__ == "__main__":  # pragma: no cover
    sys.exit(console_main())
