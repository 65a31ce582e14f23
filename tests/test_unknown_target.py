"""``unknown-target``: a command to the trigger's own root in another domain, or to a root
with no history in a domain declared ``must_exist`` (docs/findings.md)."""

from __future__ import annotations

import pytest
import sagas
from hypothesis import given, settings
from hypothesis import strategies as st

from angzarr_testkit import ConfigurationError, SagaHarness
from angzarr_testkit.framework.findings import group_findings
from angzarr_testkit.ids import uuid_for
from angzarr_testkit.simulate import FaultPlan, Storm

T, E = sagas.T, sagas.E
ORDER = uuid_for("order-1")
IO = dict(source_domain="order", output_domains=["inventory"])


def order(i: int = 1, sku: str = "sku-1") -> E.OrderCreated:
    return E.OrderCreated(order_id=f"o-{i}", sku=sku, quantity=1)


def trigger_root_saga(request):
    """Reserves on the ORDER's root: the bug."""
    commands = sagas.strict_deferred_saga(request)
    commands[0].cover.root.value = request.source.cover.root.value
    return commands


def kinds(h) -> list[str]:
    return [f.kind for f in h.findings]


def test_a_command_to_the_triggers_own_root_in_another_domain_is_a_warning():
    h = SagaHarness(trigger_root_saga, **IO)
    d = h.deliver(order(), root=ORDER)
    assert [o.status for o in d.outcomes] == ["applied"]  # core accepts it
    (finding,) = h.findings
    assert finding.kind == "unknown-target" and finding.severity == "warning"
    assert finding.details["reason"] == "trigger-root"
    assert "the trigger's own root" in finding.message and "uuid5" in finding.message
    assert h.clean  # a warning: shown, not failing
    with pytest.raises(AssertionError, match="unknown-target"):
        h.assert_clean(fail_on=["unknown-target"])
    ok = SagaHarness(sagas.strict_deferred_saga, **IO)  # the SKU's root: fine
    ok.deliver(order(), root=ORDER)
    assert ok.findings == []


def test_must_exist_flags_a_root_without_history():
    h = SagaHarness(sagas.strict_deferred_saga, **IO)
    h.given_aggregate("inventory", must_exist=True)
    h.given_destination("inventory", uuid_for("sku-1"), next_sequence=3)
    h.deliver(order(1, "sku-1"), root=ORDER)
    assert h.findings == []  # stocked: it exists
    h.deliver(order(2, "sku-typo"), root=ORDER)
    (finding,) = h.findings
    assert finding.kind == "unknown-target" and finding.details["reason"] == "no-history"
    assert "must_exist" in finding.message
    h.given_aggregate("inventory", must_exist=False)  # declared again: no longer checked
    h.deliver(order(3, "sku-other"), root=ORDER)
    assert kinds(h) == ["unknown-target"]


@pytest.mark.parametrize("value", [None, 1, "yes", [True]])
def test_must_exist_takes_a_bool(value):
    h = SagaHarness(sagas.strict_deferred_saga, **IO)
    with pytest.raises(ConfigurationError, match="must_exist"):
        h.given_aggregate("inventory", must_exist=value)


def test_storms_group_the_warning_into_one_defect():
    report = Storm(
        trigger_root_saga,
        events=60,
        roots=6,
        seed=1,
        event_source=sagas.one_sku,
        faults=FaultPlan(duplicate=0.3),
        **IO,
    ).run()
    assert report.ok  # warnings only
    assert report.kinds()["unknown-target"] >= 60
    groups = group_findings(report.findings)
    assert [(g.kind, g.count) for g in groups] == [
        ("unknown-target", report.kinds()["unknown-target"])
    ]


@settings(max_examples=40, deadline=None)
@given(
    same_root=st.booleans(),
    same_domain=st.booleans(),
    declared=st.booleans(),
    history=st.booleans(),
)
def test_unknown_target_iff_one_of_the_two_rules(same_root, same_domain, declared, history):
    target_domain = "order" if same_domain else "inventory"
    trigger_root = uuid_for("order-1")
    target_root = trigger_root if same_root else uuid_for("sku-1")

    def saga(request):
        cmd = sagas.strict_deferred_saga(request)[0]
        cmd.cover.domain = target_domain
        cmd.cover.root.value = target_root
        return [cmd]

    h = SagaHarness(saga, source_domain="order", output_domains=[target_domain])
    if declared:
        h.given_aggregate(target_domain, must_exist=True)
    if history:
        h.given_destination(target_domain, target_root, next_sequence=2)
    h.deliver(order(), root=trigger_root)
    expected = (same_root and not same_domain) or (declared and not history)
    assert ("unknown-target" in kinds(h)) is expected
