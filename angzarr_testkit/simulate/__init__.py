"""The at-least-once bus model: fault plans, storms, traces, replay and shrinking."""

from .faults import FAULT_CLASSES, FaultPlan
from .shrink import ShrinkResult, shrink
from .storm import COUNT_NAMES, Storm, StormReport
from .trace import Trace
from .trace_read import read_schedule

__all__ = [
    "COUNT_NAMES",
    "FAULT_CLASSES",
    "FaultPlan",
    "ShrinkResult",
    "Storm",
    "StormReport",
    "Trace",
    "read_schedule",
    "shrink",
]
