"""What the commands print and return: exit codes, the report as text or JSON, checked
output paths, and stdout kept for the JSON document while user code runs."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "EXIT_CLEAN",
    "EXIT_FINDINGS",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "emit",
    "one_line",
    "output_file",
    "stdout_to_stderr",
]

#: the exit statuses: clean, findings, the run could not be done (see the help's epilog)
EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
#: the exit status after Ctrl-C
EXIT_INTERRUPTED = 130


def one_line(text: str) -> str:
    """``text`` on one line (runs of whitespace, newlines included, made one space)."""
    return " ".join(text.split())


def output_file(path: str, option: str) -> Path:
    """An output path named on the command line, checked before any work is done."""
    from ..errors import UsageError, unwritable

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
def stdout_to_stderr(enabled: bool) -> Iterator[None]:
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


def emit(report: Any, args: argparse.Namespace) -> int:
    """Print the report (a summary, or ``--json``; ``--html`` writes the page too) and
    return the exit status its verdict gives."""
    cap = args.max_findings
    if args.html:
        from ..report import write_html

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
