"""The entry points: :func:`main` (parse, run, and turn every failure into one line on
stderr and an exit status) and :func:`console_main`, the console script."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence

from ..errors import ClientError, describe_exception
from .commands import dispatch
from .output import EXIT_CLEAN, EXIT_INTERRUPTED, EXIT_USAGE, one_line
from .parser import ArgumentError, build_parser

__all__ = ["console_main", "main"]


def _fail(message: str, debug: bool) -> int:
    if debug:
        traceback.print_exc(file=sys.stderr)
    else:
        print(one_line(message), file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (``--help`` and ``--version`` exit 0)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except ArgumentError as exc:
        print(one_line(str(exc)), file=sys.stderr)
        return EXIT_USAGE
    debug = bool(getattr(args, "debug", False))
    # Targets are named relative to the project the command runs in, as with `python -m`.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    prefix = "angzarr-testkit: error: "
    hint = " (rerun with --debug for the traceback)"
    try:
        return dispatch(args, parser)
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
        return EXIT_INTERRUPTED
    except Exception as exc:  # the last line of defence: never a bare traceback
        return _fail(f"{prefix}the run stopped on {describe_exception(exc)}{hint}", debug)


def console_main() -> int:  # pragma: no cover - the console script
    """``angzarr-testkit``: :func:`main`, quiet when its output pipe closes early."""
    try:
        return main()
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - let interpreter exit cleanly
        return EXIT_CLEAN
