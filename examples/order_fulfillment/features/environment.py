import sys
from pathlib import Path

from angzarr_testkit.behave.environment import before_scenario  # noqa: F401

# Run from anywhere: make the project's package importable (or `pip install -e .` it).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
