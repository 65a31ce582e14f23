"""What the saga, storm and process-manager step modules share: the step groups, the
scenario's harness, the last delivery and storm report, and tables turned into messages."""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from .. import wire
from ..errors import InvalidArgumentError
from ..framework.findings import KINDS, render_findings
from ..framework.saga import SagaHarness
from ..validate import check_domain
from .environment import (
    KitState,
    resolve_message_type,
    state,
    table_rows,
)

__all__ = [
    "G_ACT",
    "G_AGG",
    "G_ORACLE",
    "G_OUT",
    "G_SAGA",
    "add_setup",
    "check_kind",
    "command_to",
    "domain_list",
    "findings_report",
    "harness",
    "last_delivery",
    "message_from_table",
    "storm_report",
]

G_SAGA = "Saga under test"
G_ACT = "Deliveries and storms"
G_OUT = "Commands and stamping"
G_ORACLE = "Dedupe and the oracle"
G_AGG = "Destination aggregates"


# -- helpers ---------------------------------------------------------------------------------


def domain_list(text: str, what: str = "domains") -> list[str]:
    """Comma-separated domain names, each checked (a step failure names ``what``)."""
    names = [d.strip() for d in text.split(",") if d.strip()]
    for i, name in enumerate(names):
        check_domain(name, f"{what}[{i}]")
    return names


def check_kind(kind: str) -> None:
    """Fail the step unless ``kind`` is a finding kind the oracle knows."""
    if kind not in KINDS:
        raise AssertionError(f"kind: got {kind!r}; expected one of: {', '.join(KINDS)}")


def harness(context: Any) -> SagaHarness:
    """The scenario's harness, built on first use from the declared saga and options."""
    s = state(context)
    if s.harness is None:
        if s.saga is None:
            raise AssertionError(
                'no saga declared: start the scenario with Given the saga "package.module:attr"'
            )
        pm_options = s.extra.get("pm")
        if pm_options is not None:
            from ..framework.pm import ProcessManagerHarness

            s.harness = ProcessManagerHarness(
                s.saga, output_domains=s.output_domains, profile=s.profile, **pm_options
            )
        else:
            s.harness = SagaHarness(
                s.saga,
                source_domain=s.source_domain,
                output_domains=s.output_domains,
                profile=s.profile,
            )
        for setup in s.storm_setup:
            setup(s.harness)
    return s.harness


def add_setup(context: Any, setup: Any) -> None:
    """Apply ``setup(harness)`` to the scenario's harness (now, or when it is built) and to
    every storm it runs."""
    s = state(context)
    s.storm_setup.append(setup)
    if s.harness is not None:
        setup(s.harness)


def last_delivery(s: KitState) -> Any:
    """The scenario's last delivery record (a step failure when nothing was delivered)."""
    if s.delivery is None:
        raise AssertionError("nothing was delivered yet: add a When ... is delivered step")
    return s.delivery


def _convert(field: FieldDescriptor, text: str) -> Any:
    t = field.type
    if wire.is_repeated(field) or t in (
        FieldDescriptor.TYPE_MESSAGE,
        FieldDescriptor.TYPE_GROUP,
    ):
        raise InvalidArgumentError(
            f"field {field.name} is a message or repeated field; tables set scalar fields only",
            details={"field": field.name},
        )
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return float(text)
    if t == FieldDescriptor.TYPE_BOOL:
        if text.lower() not in ("true", "false", "yes", "no", "1", "0"):
            raise InvalidArgumentError(f"field {field.name} wants true or false, got {text!r}")
        return text.lower() in ("true", "yes", "1")
    if t == FieldDescriptor.TYPE_ENUM:
        return field.enum_type.values_by_name[text].number if not text.isdigit() else int(text)
    if t == FieldDescriptor.TYPE_STRING:
        return text
    if t == FieldDescriptor.TYPE_BYTES:
        return text.encode()
    return int(text)


def message_from_table(context: Any, type_name: str) -> Any:
    """Build a message of ``type_name`` from a ``| field | value |`` table (optional)."""
    cls = resolve_message_type(type_name)
    message = cls()
    if context.table is None:
        return message
    fields = cls.DESCRIPTOR.fields_by_name
    for row in table_rows(context, "field", "value"):
        name = row["field"]
        if name not in fields:
            raise AssertionError(
                f"{type_name} has no field {name!r}; its fields: {', '.join(fields)}"
            )
        try:
            setattr(message, name, _convert(fields[name], row["value"]))
        except (ValueError, KeyError) as exc:
            raise AssertionError(
                f"cannot set {type_name}.{name} to {row['value']!r}: {exc}"
            ) from None
    return message


def findings_report(h: Any) -> str:
    """The harness's findings rendered for a failing assertion's message."""
    return render_findings(h.findings, title="findings")


def command_to(s: KitState, domain: str) -> Any:
    """The single command the last delivery sent to ``domain``."""
    return last_delivery(s).command(domain)


def storm_report(s: KitState) -> Any:
    """The report of the scenario's last storm (a step failure when none ran)."""
    if s.report is None:
        raise AssertionError("no storm ran: add When a storm of N events ... runs with seed S")
    return s.report
