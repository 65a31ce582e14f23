"""The ``angzarr-testkit`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (subcommands are added as the kit grows)."""
    parser = argparse.ArgumentParser(
        prog="angzarr-testkit",
        description=(
            "A fake angzarr for tests: drive real sagas with sequence maps and redeliveries, "
            "and check the destination dedupe as an oracle."
        ),
    )
    parser.add_argument("--version", action="version", version=f"angzarr-testkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="run the built-in demo: an explicitly stamped saga double-applies on redelivery, "
        "a deferred-header saga dedupes",
    )
    demo.add_argument(
        "--redeliveries",
        type=int,
        default=3,
        metavar="N",
        help="how many times to redeliver the trigger (default 3)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run

        if args.redeliveries < 1:
            parser.error("--redeliveries must be at least 1")
        return run(redeliveries=args.redeliveries)
    parser.print_help()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
