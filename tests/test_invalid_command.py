"""invalid-command: what angzarr core refuses with INVALID_ARGUMENT before business logic.

Each case breaks one rule in one command of a delivery that also sends a valid command, and
asserts: exactly one ``invalid-command`` finding naming the field, the value and the rule;
``assert_clean()`` fails; the invalid command is refused (not applied) and the valid one after
it still is; no ``rejected-command``/``lost-command``/``unstamped-command`` for the same command.
"""

from __future__ import annotations

import pytest

from angzarr_testkit import ProcessManagerHarness, SagaHarness, uuid_for, wire
from angzarr_testkit.framework.commands import (
    COMMAND_RULES,
    FACT_RULES,
    MAX_PAGES_PER_BOOK,
    MAX_PAYLOAD_BYTES,
    check_command,
    check_fact,
)
from angzarr_testkit.simulate import Storm

pytestmark = pytest.mark.timeout(30)

T = wire.types_pb2
S = wire.saga_pb2
PM = wire.process_manager_pb2
E = wire.examples_pb2
PREFIX = wire.TYPE_URL_PREFIX
ORDER = uuid_for("order-1")
GOOD_SKU = uuid_for("sku-good")
CORR = "6f1c2d3e-0000-4000-8000-000000000001"


def command(request, sku: str = "sku-bad", root: bytes | None = None) -> T.CommandBook:
    """A valid ReserveInventory with a deferred header identifying the trigger."""
    book = T.CommandBook(
        cover=T.Cover(domain="inventory", root=T.UUID(value=root or uuid_for(sku)))
    )
    book.pages.add().command.Pack(
        E.ReserveInventory(order_id="o-1", sku=sku, quantity=1), type_url_prefix=PREFIX
    )
    deferred = book.pages[0].header.angzarr_deferred
    deferred.source.CopyFrom(request.source.cover)
    deferred.source_seq = request.source.pages[-1].header.sequence
    return book


def _no_cover(b):
    b.ClearField("cover")


def _no_root(b):
    b.cover.ClearField("root")


def _root(n):
    def breaker(b):
        b.cover.root.value = bytes(range(n))
        b.cover.root.SetInParent()

    return breaker


def _domain(name):
    def breaker(b):
        b.cover.domain = name

    return breaker


def _correlation(cid):
    def breaker(b):
        b.cover.correlation_id = cid

    return breaker


def _deferred_source_root(b):
    b.pages[0].header.angzarr_deferred.source.root.value = b"12345678"


def _no_pages(b):
    b.ClearField("pages")


def _many_pages(b):
    for _ in range(MAX_PAGES_PER_BOOK):
        b.pages.add().CopyFrom(b.pages[0])


def _big_payload(b):
    b.pages[0].command.Pack(
        E.ReserveInventory(order_id="x" * (MAX_PAYLOAD_BYTES + 1)), type_url_prefix=PREFIX
    )


# (case id, breaker, field, rule, value shown, core source fragment)
CASES = [
    ("no-cover", _no_cover, "cover", "cover-present", "missing", "parse_command_cover"),
    ("no-root", _no_root, "cover.root", "cover-root-present", "missing", "parse_command_cover"),
    ("root-8-bytes", _root(8), "cover.root", "cover-root-uuid", "8 bytes", "parsing.rs"),
    ("root-empty", _root(0), "cover.root", "cover-root-uuid", "0 bytes", "parsing.rs"),
    ("domain-empty", _domain(""), "cover.domain", "cover-domain", "''", "validate_domain"),
    ("domain-upper", _domain("Inventory"), "cover.domain", "cover-domain", "'Inventory'", "mod.rs"),
    ("domain-space", _domain("inv entory"), "cover.domain", "cover-domain", "'inv entory'", "rs"),
    ("domain-long", _domain("a" * 65), "cover.domain", "cover-domain", "'aaa", "validate_domain"),
    (
        "correlation-chars",
        _correlation("order 1"),
        "cover.correlation_id",
        "cover-correlation-id",
        "'order 1'",
        "validate_correlation_id",
    ),
    (
        "correlation-long",
        _correlation("c" * 129),
        "cover.correlation_id",
        "cover-correlation-id",
        "129 characters",
        "validate_correlation_id",
    ),
    (
        "deferred-source-root",
        _deferred_source_root,
        "pages[0].header.angzarr_deferred.source.root",
        "deferred-source-root",
        "8 bytes",
        "deferred_to_source_info",
    ),
    ("no-pages", _no_pages, "pages", "pages-empty", "empty", "angzarr_client"),
    ("101-pages", _many_pages, "pages", "pages-limit", "101 pages", "validate_command_book"),
    (
        "payload-256k",
        _big_payload,
        "pages[0].command",
        "payload-limit",
        "bytes",
        "validate_command_book",
    ),
]


def saga_breaking(breaker):
    def saga(request):
        bad = command(request)
        breaker(bad)
        return [bad, command(request, "sku-good")]

    return saga


def harness(saga, **kw) -> SagaHarness:
    kw.setdefault("source_domain", "order")
    kw.setdefault("output_domains", ["inventory"])
    return SagaHarness(saga, **kw)


def order(order_id: str = "o-1") -> E.OrderCreated:
    return E.OrderCreated(order_id=order_id, sku="sku-good", quantity=1)


@pytest.mark.parametrize(
    ("breaker", "field", "rule", "value", "source"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_each_rule_gives_one_invalid_command_and_the_next_command_still_runs(
    breaker, field, rule, value, source
):
    """Core refuses the command in the aggregate coordinator before any business logic
    (src/services/aggregate.rs handle_command -> validation::validate_command_book;
    src/orchestration/aggregate/pipeline.rs execute_mode -> parsing.rs parse_command_cover,
    extract_edition, correlation.rs extract_correlation_id, check_deferred_idempotency), and
    the saga coordinator logs the rejection and goes on with the next command
    (src/orchestration/saga/mod.rs SagaOperation::try_execute, CommandOutcome::Rejected)."""
    h = harness(saga_breaking(breaker))
    d = h.deliver(order(), root=ORDER, correlation_id="corr-1")
    (finding,) = h.findings
    assert finding.kind == "invalid-command" and finding.is_error
    assert finding.details["field"] == field
    assert finding.details["rule"] == rule
    assert value in finding.details["value"] and value in finding.message
    assert source in finding.details["core_source"]
    assert COMMAND_RULES[rule].text in finding.message
    assert [o.status for o in d.outcomes] == ["rejected", "applied"]
    assert d.outcomes[0].code == "INVALID_ARGUMENT"
    assert h.aggregate("inventory", GOOD_SKU).applied == 1
    with pytest.raises(AssertionError, match="invalid-command"):
        h.assert_clean()
    # A redelivery is refused again but reported once: no lost-command, no second finding.
    h.redeliver(d)
    assert [f.kind for f in h.findings] == ["invalid-command"]


def test_an_invalid_edition_comes_from_the_trigger():
    """The coordinator copies the trigger's edition onto every command; core refuses an
    edition that does not start with a lowercase letter (src/validation/mod.rs
    validate_edition, from src/orchestration/aggregate/parsing.rs extract_edition), even one
    a domain could have ('_x')."""
    h = harness(lambda r: [command(r, "sku-good")])
    h.deliver(order(), root=ORDER, edition="_x")
    (finding,) = h.findings
    assert finding.kind == "invalid-command" and finding.details["field"] == "cover.edition.name"
    assert "edition name must start with lowercase letter" in finding.message
    h.deliver(order("o-2"), root=ORDER)  # the main timeline: applied
    assert h.aggregate("inventory", GOOD_SKU).applied == 1
    assert [f.kind for f in h.findings] == ["invalid-command"]


def test_several_problems_are_one_finding_in_core_order():
    """Core answers with the first failed check (parse_command_cover: cover, then domain,
    then root): the finding names it and lists the others."""

    def saga(request):
        bad = command(request)
        bad.cover.domain = "Inventory"
        bad.cover.root.value = b"short"
        return [bad]

    h = harness(saga)
    d = h.deliver(order(), root=ORDER)
    (finding,) = h.findings
    assert finding.details["field"] == "cover.domain"
    assert "cover.root is 5 bytes" in finding.details["also"]
    assert d.outcomes[0].message == "domain name must start with lowercase letter"


def test_a_business_rejection_with_invalid_argument_stays_rejected_command():
    """A destination handler's own INVALID_ARGUMENT (the SDK maps ValueError to it,
    angzarr_client aggregate_handler.py) is a business rejection, not invalid-command."""

    class Refused(Exception):
        code = "INVALID_ARGUMENT"

    def logic(ctx):
        raise Refused("quantity must be positive")

    h = harness(lambda r: [command(r, "sku-good")])
    h.given_aggregate("inventory", handler=logic)
    d = h.deliver(order(), root=ORDER)
    assert d.outcomes[0].code == "INVALID_ARGUMENT"
    assert [f.kind for f in h.findings] == ["rejected-command"]
    h.assert_clean()


def test_valid_commands_pass_the_check():
    """Covers built the way Destinations and uuid_for build them are accepted by core."""
    book = T.CommandBook(cover=T.Cover(domain="_angzarr", root=T.UUID(value=ORDER)))
    book.cover.correlation_id = "Order_1-abc"
    book.cover.edition.name = "v2-branch"
    book.pages.add().header.sequence = 3
    assert check_command(book) == ()
    book.cover.domain = "a" * 64
    book.cover.correlation_id = "c" * 128
    assert check_command(book) == ()


# -- facts ----------------------------------------------------------------------------------


def fact(root: bytes = GOOD_SKU, external_id: str | None = "ext-1", **cover) -> T.EventBook:
    book = T.EventBook(cover=T.Cover(domain="inventory", root=T.UUID(value=root), **cover))
    page = book.pages.add()
    page.event.Pack(E.InventoryRestocked(sku="sku-good", quantity=3), type_url_prefix=PREFIX)
    if external_id is not None:
        page.header.external_deferred.external_id = external_id
    return book


def test_a_fact_without_external_deferred_is_invalid_and_stops_the_later_facts():
    """Core's fact pipeline needs an external_deferred page (src/orchestration/aggregate/
    pipeline.rs execute_fact_pipeline, FACT_EVENTS_MISSING_MARKER), and
    src/orchestration/saga/mod.rs orchestrate_saga stops at the first failed injection
    (`?`): the facts after it are not injected; the commands before them ran."""

    def saga(request):
        return S.SagaResponse(
            commands=[command(request, "sku-good")],
            events=[fact(external_id=None), fact(uuid_for("sku-2"), "ext-2")],
        )

    h = harness(saga)
    d = h.deliver(order(), root=ORDER)
    (finding,) = h.findings
    assert finding.kind == "invalid-command"
    assert finding.details["rule"] == "fact-external-deferred"
    assert "external_deferred" in finding.message and "1 fact(s) after it" in finding.message
    assert FACT_RULES["fact-external-deferred"].source in finding.details["core_source"]
    assert [o.status for o in d.fact_outcomes] == ["rejected", "not-sent"]
    assert [o.status for o in d.outcomes] == ["applied"]
    with pytest.raises(AssertionError, match="invalid-command"):
        h.assert_clean()


def test_a_fact_with_a_bad_cover_is_invalid():
    """parse_event_cover (src/orchestration/aggregate/parsing.rs) refuses the fact's cover."""
    h = harness(lambda r: S.SagaResponse(events=[fact(b"12345678")]))
    h.deliver(order(), root=ORDER)
    (finding,) = h.findings
    assert finding.details["rule"] == "fact-cover-root-uuid"
    assert finding.details["value"] == "8 bytes"


def test_one_marker_page_is_enough_for_a_fact():
    """Core checks that ANY page is external_deferred (execute_fact_pipeline `iter().any`)."""
    book = fact(external_id=None)
    book.pages.add().header.external_deferred.external_id = "ext-9"
    assert check_fact(book) == ()
    h = harness(lambda r: S.SagaResponse(events=[book]))
    d = h.deliver(order(), root=ORDER)
    assert [o.status for o in d.fact_outcomes] == ["applied"]
    h.assert_clean()


# -- process managers ---------------------------------------------------------------------------


def bad_pm(request):
    """Emits a command with an 8-byte root, a valid one, and a fact without its marker."""
    bad = T.CommandBook(cover=T.Cover(domain="inventory", root=T.UUID(value=b"12345678")))
    bad.pages.add().command.Pack(E.ReserveInventory(order_id="o-1"), type_url_prefix=PREFIX)
    good = T.CommandBook(cover=T.Cover(domain="inventory", root=T.UUID(value=GOOD_SKU)))
    good.pages.add().command.Pack(E.ReserveInventory(order_id="o-1"), type_url_prefix=PREFIX)
    started = T.EventPage()
    started.event.Pack(E.FulfillmentStarted(order_id="o-1"), type_url_prefix=PREFIX)
    return PM.ProcessManagerHandleResponse(
        process_events=T.EventBook(pages=[started]),
        commands=[bad, good],
        facts=[fact(external_id=None)],
    )


def test_pm_commands_and_facts_are_checked_too():
    """PM commands go through the same executor (src/orchestration/process_manager/mod.rs
    execute_pm_commands: Rejected -> logged, next command) and PM facts through the same fact
    pipeline (orchestrate_pm injects after the commands)."""
    h = ProcessManagerHarness(
        bad_pm,
        pm_domain="fulfillment",
        sources=["order"],
        output_domains=["inventory"],
        profile="deferred-rewrite",
    )
    d = h.deliver(order(), domain="order", root=ORDER, correlation_id=CORR)
    found = [(f.kind, f.details["rule"]) for f in h.findings]
    assert found == [
        ("invalid-command", "cover-root-uuid"),
        ("invalid-command", "fact-external-deferred"),
    ]
    assert [o.status for o in d.outcomes] == ["rejected", "applied"]
    assert h.aggregate("inventory", GOOD_SKU).applied == 1
    with pytest.raises(AssertionError, match="invalid-command"):
        h.assert_clean()


# -- storms ---------------------------------------------------------------------------------------


def short_root_saga(request):
    """Every command addresses an 8-byte root (as an SDK event source with 8-byte ids does)."""
    book = command(request, root=b"sku-0001")
    return [book]


def test_a_storm_whose_every_command_has_an_8_byte_root_is_not_ok():
    """In production every command is refused with INVALID_ARGUMENT (parse_command_cover) and
    the work is lost: the storm must not be clean."""
    report = Storm(
        short_root_saga,
        source_domain="order",
        output_domains=["inventory"],
        event_source=lambda rng, i: order(f"o-{i}"),
        events=40,
        roots=4,
        seed=3,
    ).run()
    assert not report.ok
    kinds = report.kinds()
    assert kinds.get("invalid-command", 0) >= 1
    assert "rejected-command" not in kinds and "lost-command" not in kinds
    assert report.counts["applied"] == 0 and report.counts["rejected"] >= 40
