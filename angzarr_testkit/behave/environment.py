"""Environment hooks for behave: import ``before_scenario`` into ``features/environment.py``.

Every scenario gets a fresh :class:`KitState` at ``context.angzarr``. To let steps name your
own message types (``OrderCreated``), register the generated modules once::

    from angzarr_testkit.behave.environment import before_scenario, register_messages
    import myproject.proto.orders_pb2 as orders
    register_messages(orders)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from .. import wire
from ..errors import InvalidArgumentError
from ..framework.saga import DEFAULT_PROFILE

__all__ = [
    "KitState",
    "before_scenario",
    "cell_bool",
    "cell_float",
    "cell_int",
    "register_messages",
    "resolve_message_type",
    "state",
    "table_rows",
]

_MODULES: list[ModuleType] = [wire.examples_pb2]


def register_messages(*modules: ModuleType) -> None:
    """Make the message types of generated ``*_pb2`` modules nameable in steps."""
    for module in modules:
        if module not in _MODULES:
            _MODULES.insert(0, module)


def resolve_message_type(name: str) -> type:
    """The message class a step names (short PascalCase name or full name)."""
    known: list[str] = []
    for module in _MODULES:
        descriptor = getattr(module, "DESCRIPTOR", None)
        for short, msg in getattr(descriptor, "message_types_by_name", {}).items():
            known.append(short)
            if name in (short, msg.full_name):
                return getattr(module, short)
    raise InvalidArgumentError(
        f"unknown message type {name}: register its module with "
        "angzarr_testkit.behave.environment.register_messages(module) in environment.py; "
        f"known types: {', '.join(sorted(known))}",
        details={"type": name},
    )


@dataclass
class KitState:
    """Per-scenario state shared by the steps.

    The saga harness is built on first use from what the Given steps declared (target,
    domains, profile), so those steps may come in any order before the first destination
    or delivery."""

    destinations: Any = None
    command: Any = None
    command_before: bytes = b""
    error: BaseException | None = None
    trigger_cover: Any = None
    header: Any = None
    saga: Any = None
    source_domain: str | None = None
    output_domains: list[str] | None = None
    profile: str = DEFAULT_PROFILE
    harness: Any = None
    delivery: Any = None
    event_source: Any = None
    storm_setup: list[Any] = field(default_factory=list)
    report: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def table_rows(context: Any, *columns: str) -> list[dict[str, str]]:
    """The step's table as dicts, after checking it has ``columns`` (key column first)."""
    if context.table is None:
        raise AssertionError(f"this step needs a table with columns: {' | '.join(columns)}")
    missing = [c for c in columns if c not in context.table.headings]
    if missing:
        raise AssertionError(
            f"the table lacks column(s) {missing}; it has {list(context.table.headings)}"
        )
    return [{h: row[h] for h in context.table.headings} for row in context.table]


def cell_int(text: str, what: str, *, minimum: int = 0, maximum: int = 2**32 - 1) -> int:
    """A table cell (or step argument) as an int in ``minimum..maximum``; a clear step
    failure naming ``what`` otherwise."""
    try:
        value = int(str(text).strip())
    except ValueError:
        raise AssertionError(
            f"{what}: got {text!r}; expected an int in {minimum}..{maximum}"
        ) from None
    if not minimum <= value <= maximum:
        raise AssertionError(f"{what}: got {value}; expected an int in {minimum}..{maximum}")
    return value


def cell_float(text: str, what: str) -> float:
    """A table cell as a number (range checks are the caller's)."""
    try:
        return float(str(text).strip())
    except ValueError:
        raise AssertionError(f"{what}: got {text!r}; expected a number") from None


_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")


def cell_bool(text: str, what: str) -> bool:
    """A table cell as a bool (true/false, yes/no, 1/0)."""
    word = str(text).strip().lower()
    if word not in _TRUE + _FALSE:
        raise AssertionError(f"{what}: got {text!r}; expected true or false (yes/no, 1/0)")
    return word in _TRUE


def state(context: Any) -> KitState:
    """The scenario's :class:`KitState` (created on first use if the hook is not wired)."""
    current = getattr(context, "angzarr", None)
    if current is None:
        current = KitState()
        context.angzarr = current
    return current


def before_scenario(context: Any, scenario: Any) -> None:
    """Give each scenario a fresh :class:`KitState`."""
    context.angzarr = KitState()
