import sys
from pathlib import Path

from angzarr_testkit.behave.environment import before_scenario  # noqa: F401

# The kit's features drive the example sagas of its own test suite ("sagas:NAME" targets).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
