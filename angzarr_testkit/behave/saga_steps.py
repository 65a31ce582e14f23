"""Steps that drive a saga through the fake angzarr: harness, redelivery, storms, the oracle.

Importing this module registers them all with behave, in the order of the modules below
(the order behave matches them in and ``docs/steps.md`` lists them in). Each step
function stays importable from here, as do the shared helpers (:func:`harness`,
:func:`message_from_table`) of :mod:`.saga_support`.
"""

from __future__ import annotations

# isort: off
# The order of these imports is the order the steps register in: keep it.
from .saga_support import (
    G_ACT as G_ACT,
    G_AGG as G_AGG,
    G_ORACLE as G_ORACLE,
    G_OUT as G_OUT,
    G_SAGA as G_SAGA,
    harness as harness,
    message_from_table as message_from_table,
)
from .saga_givens import (
    given_saga as given_saga,
    given_saga_with_domains as given_saga_with_domains,
    given_profile as given_profile,
    given_destination as given_destination,
    given_business_logic as given_business_logic,
    given_setup as given_setup,
    given_merge as given_merge,
)
from .saga_deliveries import (
    when_delivered as when_delivered,
    when_redelivered as when_redelivered,
    given_event_source as given_event_source,
    when_storm as when_storm,
)
from .saga_thens import (
    then_emits_count as then_emits_count,
    then_emits_none as then_emits_none,
    then_emits as then_emits,
    then_stamped as then_stamped,
    then_deferred as then_deferred,
    then_stamp_failed as then_stamp_failed,
    then_no_findings as then_no_findings,
    then_clean as then_clean,
    then_finding as then_finding,
    then_only_findings as then_only_findings,
    then_applied as then_applied,
    then_deduped as then_deduped,
    then_at_sequence as then_at_sequence,
    then_has_events as then_has_events,
)
from .storm_thens import (
    then_storm_clean as then_storm_clean,
    then_storm_finding as then_storm_finding,
    then_fault_occurred as then_fault_occurred,
    then_once_per_event as then_once_per_event,
)
from .pm_steps import (
    given_pm as given_pm,
    given_prepare as given_prepare,
    when_delivered_in_workflow as when_delivered_in_workflow,
    when_delivered_uncorrelated as when_delivered_uncorrelated,
    then_pm_state as then_pm_state,
    then_skipped as then_skipped,
    then_poisoned as then_poisoned,
)
from .replay_steps import (
    when_replayed as when_replayed,
)
# isort: on

__all__: list[str] = []  # steps register themselves with behave on import
