"""How a destination domain behaves: :class:`AggregateSpec` and merge policies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError, UsageError, UserCodeError, describe_exception, safe_repr
from ..validate import check_callable, usage_error

__all__ = ["DEFAULT_SPEC", "AggregateSpec", "BusinessLogic", "Commutative", "merge_policy"]

BusinessLogic = Callable[[Any], Any]
Commutative = Callable[[Any], bool]


@dataclass
class AggregateSpec:
    """How a destination domain behaves.

    Attributes:
        handler: business logic ``fn(ContextualCommand) -> events``; ``None`` accepts every
            command and records one event per command page (the command itself, repacked).
        commutative: whether the domain declares a command's change commutative (used for
            MERGE_COMMUTATIVE commands whose sequence does not match): ``True`` is core's
            field check finding the changes disjoint, so the command applies.
        overlapping: for a command that is not commutative, whether the field check finds
            the changes overlapping (a final rejection) rather than unavailable (the
            aggregate has no Replay: a retryable mismatch). Set by ``merge="overlapping"``.
    """

    handler: BusinessLogic | None = None
    commutative: Commutative = field(default=lambda command: False)
    overlapping: bool = False


#: the spec of a domain nobody configured: echo business logic, nothing commutative
DEFAULT_SPEC = AggregateSpec()


def merge_policy(merge: str | Commutative) -> Commutative:
    """Turn ``given_aggregate(merge=...)`` into a commutativity predicate.

    Raises (at the ``given_aggregate`` call):
        ConfigurationError: a string other than ``"strict"`` or ``"commutative"``.
        UsageTypeError: neither a string nor a callable taking one argument.

    A user callable is wrapped: when it raises, or returns anything but a ``bool``, the
    predicate raises :class:`~angzarr_testkit.errors.UserCodeError` naming it (the original
    exception chained), out of the ``deliver()`` whose command needed the decision.
    """

    accepted = (
        "'strict' (the domain declares no change commutative), 'commutative' (it declares "
        "every change commutative), 'overlapping' (every change overlaps the history) or a "
        "callable fn(CommandBook) -> bool"
    )
    if isinstance(merge, str):
        if merge in ("strict", "overlapping"):
            return lambda command: False
        if merge == "commutative":
            return lambda command: True
        raise ConfigurationError(
            f"merge: got {safe_repr(merge)}; expected {accepted} (given_aggregate(domain, "
            "merge=...))",
            details={"parameter": "merge", "value": safe_repr(merge), "accepted": accepted},
        )
    if not callable(merge):
        raise usage_error("merge", merge, accepted, type_error=True)
    check_callable(merge, "merge", arity=1, signature="a callable fn(CommandBook) -> bool")
    name = getattr(merge, "__qualname__", None) or type(merge).__name__
    fn = merge

    def commutative(command: Any) -> bool:
        domain = command.cover.domain
        try:
            result = fn(command)
        except UsageError:
            raise
        except (Exception, SystemExit) as exc:  # the user's merge policy, not the code under test
            raise UserCodeError(
                f"merge function {name} (given_aggregate(merge=...)) raised "
                f"{describe_exception(exc)} deciding whether a command to '{domain}' is "
                "commutative",
                details={"callable": name, "error": type(exc).__name__, "domain": domain},
            ) from exc
        if not isinstance(result, bool):
            raise UserCodeError(
                f"merge function {name} (given_aggregate(merge=...)) returned "
                f"{safe_repr(result)} ({type(result).__name__}) for a command to '{domain}'; "
                "it must return True (the change is commutative: apply it despite the "
                "sequence mismatch) or False",
                details={"callable": name, "domain": domain, "returned": type(result).__name__},
            )
        return result

    return commutative
