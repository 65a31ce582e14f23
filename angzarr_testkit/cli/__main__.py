"""``python -m angzarr_testkit.cli``: the ``angzarr-testkit`` command."""

import sys

from .entry import console_main

sys.exit(console_main())
