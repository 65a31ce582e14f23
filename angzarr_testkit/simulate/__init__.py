"""The at-least-once bus model: fault plans, storms, traces, replay, shrinking and profile
comparisons."""

from .compare import COMPARED_PROFILES, compare_profiles, compare_scenario
from .comparison import Change, ProfileComparison, ProfileRun
from .faults import FAULT_CLASSES, FaultPlan
from .shrink import ShrinkResult, shrink
from .storm import COUNT_NAMES, Storm, StormReport
from .trace import Trace
from .trace_read import read_schedule

__all__ = [
    "COMPARED_PROFILES",
    "COUNT_NAMES",
    "FAULT_CLASSES",
    "Change",
    "FaultPlan",
    "ProfileComparison",
    "ProfileRun",
    "ShrinkResult",
    "Storm",
    "StormReport",
    "Trace",
    "compare_profiles",
    "compare_scenario",
    "read_schedule",
    "shrink",
]
