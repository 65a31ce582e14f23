"""Given steps: the saga under test, its profile, and its destination aggregates."""

from __future__ import annotations

from typing import Any

from ..framework.targets import import_target
from ..ids import uuid_for
from ..validate import check_choice, check_domain
from .environment import (
    state,
)
from .saga_support import (
    G_AGG,
    G_SAGA,
    add_setup,
    domain_list,
    harness,
)
from .vocabulary import step

__all__: list[str] = []

# -- the saga under test ------------------------------------------------------------------------


@step(
    "Given",
    'the saga "{target}"',
    group=G_SAGA,
    description="The saga under test, as `package.module:attr` (any target the harness "
    "accepts); its declared `@domain`/`@output_domain` are used.",
    example='Given the saga "myproject.sagas:OrderFulfillmentSaga"',
)
def given_saga(context: Any, target: str) -> None:
    s = state(context)
    s.saga = target
    s.harness = None


@step(
    "Given",
    'the saga "{target}" from domain "{source}" to domains "{outputs}"',
    group=G_SAGA,
    description="The saga under test with its trigger domain and output domains "
    "(comma-separated) given explicitly.",
    example='Given the saga "myproject.sagas:reserve" from domain "order" to domains '
    '"inventory, payment"',
)
def given_saga_with_domains(context: Any, target: str, source: str, outputs: str) -> None:
    check_domain(source, "source")
    outputs_list = domain_list(outputs, "outputs")
    given_saga(context, target)
    s = state(context)
    s.source_domain = source
    s.output_domains = outputs_list


@step(
    "Given",
    'the framework profile "{profile}"',
    group=G_SAGA,
    description=(
        "`core` (default: angzarr core HEAD), `sequence-map` (the seed protocol) or "
        "`deferred-rewrite` (see [profiles.md](profiles.md))."
    ),
    example='Given the framework profile "sequence-map"',
)
def given_profile(context: Any, profile: str) -> None:
    s = state(context)
    if s.harness is not None:
        raise AssertionError("declare the profile before destinations and deliveries")
    from ..framework.saga import PROFILES

    s.profile = check_choice(profile, "profile", PROFILES)


@step(
    "Given",
    'destination "{domain}" root "{root}" at sequence {seq:d}',
    group=G_AGG,
    description="A destination aggregate (root by name, via `uuid_for`) whose next "
    "sequence is `seq`. The first one per domain is what the sequence map "
    "reports.",
    example='Given destination "inventory" root "sku-1" at sequence 5',
)
def given_destination(context: Any, domain: str, root: str, seq: int) -> None:
    harness(context).given_destination(domain, uuid_for(root), next_sequence=seq)


@step(
    "Given",
    'aggregate "{domain}" runs business logic "{target}"',
    group=G_AGG,
    description="Business logic for a destination domain: `package.module:attr` naming "
    "`fn(ContextualCommand) -> events` (raise to reject).",
    example='Given aggregate "inventory" runs business logic "myproject.inventory:handle"',
)
def given_business_logic(context: Any, domain: str, target: str) -> None:
    check_domain(domain, "domain")
    fn = import_target(target)
    add_setup(context, lambda h: h.given_aggregate(domain, handler=fn))


@step(
    "Given",
    'the setup "{target}"',
    group=G_AGG,
    description="`package.module:attr` naming `fn(harness)` that gives destinations "
    "business logic and history; applied to the harness and to every storm.",
    example='Given the setup "myproject.testing:stocked"',
)
def given_setup(context: Any, target: str) -> None:
    add_setup(context, import_target(target))


@step(
    "Given",
    'aggregate "{domain}" declares its changes "{merge}"',
    group=G_AGG,
    description="The destination's merge policy: `strict` or `commutative` (for "
    "MERGE_COMMUTATIVE commands whose sequence does not match).",
    example='Given aggregate "inventory" declares its changes "commutative"',
)
def given_merge(context: Any, domain: str, merge: str) -> None:
    harness(context).given_aggregate(domain, merge=merge)
