"""The command line: the argument parser of every subcommand, its value checks, and the
help's epilog (exit statuses, where files go)."""

from __future__ import annotations

import argparse
from typing import NoReturn

from ..version import __version__

__all__ = ["COMPARE_EPILOG", "EPILOG", "ArgumentError", "build_parser"]

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


#: ``compare``'s help epilog: its exit statuses speak of every profile
COMPARE_EPILOG = EPILOG.replace(
    "  0  clean: no error finding, every required fault class occurred\n"
    "  1  findings: the storm (or replay) is not clean\n",
    "  0  every profile's storm is clean\n  1  the storm of at least one profile is not clean\n",
).replace("traces, replay traces", "traces (compare: compare-SEED-PROFILE.jsonl), replay traces")
assert COMPARE_EPILOG != EPILOG


class ArgumentError(Exception):
    """A command-line mistake found by the parser (reported on one line, exit 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse, with each mistake one line on stderr instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        raise ArgumentError(f"{self.prog}: error: {message} (see {self.prog} --help)")


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


def _profiles(text: str) -> list[str]:
    """``--profiles``: two or more distinct profiles, comma-separated."""
    from ..framework.saga import PROFILES

    names = [name.strip() for name in text.split(",")]
    accepted = f"choose from {', '.join(PROFILES)}"
    for name in names:
        if name not in PROFILES:
            raise argparse.ArgumentTypeError(f"{name!r} is not a profile ({accepted})")
    if len(names) < 2:
        raise argparse.ArgumentTypeError(
            f"{text!r} names one profile; give two or more, comma-separated (e.g. "
            "sequence-map,core)"
        )
    for i, name in enumerate(names):
        if name in names[:i]:
            raise argparse.ArgumentTypeError(f"{name!r} is given twice in {text!r}")
    return names


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


def _storm_arguments(storm: argparse.ArgumentParser, *, compare: bool) -> None:
    """The storm's options, shared by ``storm`` and ``compare`` (``compare``: ``--profiles``
    instead of ``--profile``)."""
    from ..framework.findings import KINDS
    from ..framework.saga import DEDUPE_STORES, DEFAULT_PROFILE, PROFILES
    from ..simulate.compare import COMPARED_PROFILES
    from ..simulate.faults import FAULT_CLASSES

    storm.add_argument("target", metavar="TARGET", help="the saga, as package.module:attr")
    storm.add_argument("--source-domain", metavar="D", help="trigger domain (default: declared)")
    storm.add_argument(
        "--output-domain",
        metavar="D",
        action="append",
        dest="output_domains",
        help="an output domain (repeat for several; default: declared)",
    )
    if compare:
        storm.add_argument(
            "--profiles",
            type=_profiles,
            default=list(COMPARED_PROFILES),
            metavar="P,P",
            help="the profiles to compare, comma-separated, the baseline first (default: "
            f"{','.join(COMPARED_PROFILES)}: angzarr-client 0.3's map protocol, then core HEAD)",
        )
    else:
        storm.add_argument(
            "--profile",
            choices=PROFILES,
            default=DEFAULT_PROFILE,
            help="the framework model: core (angzarr core HEAD), sequence-map (the seed protocol, "
            "angzarr-client 0.3's Destinations contract) or deferred-rewrite "
            f"(default: {DEFAULT_PROFILE}; see docs/profiles.md)",
        )
    storm.add_argument(
        "--dedupe-store",
        choices=DEDUPE_STORES,
        default="postgres",
        help="core's storage backend: postgres (core's default) or sqlite, which stores no "
        "dedupe source for an empty source edition (default: postgres)",
    )
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
        "--shards",
        type=_positive,
        default=1,
        metavar="S",
        help="split the storm into S independent sub-storms, 1 to --roots (default: 1); "
        "recorded in the trace",
    )
    storm.add_argument(
        "--workers",
        type=_positive,
        default=1,
        metavar="N",
        help="processes running the shards, 1 to --shards (default: 1); the trace is the same",
    )
    storm.add_argument(
        "--broker",
        metavar="URL",
        help="route deliveries through a real RabbitMQ queue (amqp://127.0.0.1:5672/)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    from ..framework.findings import KINDS

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
    _storm_arguments(storm, compare=False)
    storm.add_argument(
        "--trace",
        metavar="FILE",
        help="write the JSON-lines trace here (default: OUTPUT_DIR/storm-SEED.jsonl)",
    )
    _output_options(storm)

    compare = sub.add_parser(
        "compare",
        help="run the same storm under several profiles and show what changes",
        description="Run the same seeded storm (the storm options, seed included) under "
        "each profile of --profiles and print side by side what changes: the verdict, the "
        "counts and the finding kinds, with the first finding of a kind new in a profile as "
        "the explanation (docs/compare.md). TARGET is package.module:attr.",
        epilog=COMPARE_EPILOG,
        formatter_class=formatter,
    )
    _storm_arguments(compare, compare=True)
    _output_options(compare, html=False)

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
