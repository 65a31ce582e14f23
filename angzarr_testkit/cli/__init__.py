"""The ``angzarr-testkit`` command.

Exit status: 0 clean, 1 findings (or a required fault class that never happened), 2 the run
could not be done (a bad option, target, event source or trace, user code that raised or
called ``sys.exit``, an unwritable output path), with a one-line reason on stderr
(``--debug`` prints the traceback instead).

The command is a package of one job a module: ``parser`` (the command line), ``commands``
(storm, replay, shrink, steps, demo), ``output`` (text or JSON, exit codes, output paths)
and ``entry`` (:func:`main`, :func:`console_main`); ``python -m angzarr_testkit.cli`` runs it.
"""

from __future__ import annotations

from .entry import console_main as console_main
from .entry import main as main
from .output import EXIT_CLEAN as EXIT_CLEAN
from .output import EXIT_FINDINGS as EXIT_FINDINGS
from .output import EXIT_USAGE as EXIT_USAGE
from .parser import EPILOG as EPILOG
from .parser import build_parser as build_parser

__all__ = ["EXIT_CLEAN", "EXIT_FINDINGS", "EXIT_USAGE", "build_parser", "main"]
