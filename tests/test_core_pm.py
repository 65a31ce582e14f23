"""Process-manager persistence and provenance under ``profile="core"`` (angzarr core HEAD f97af362).

Each test names the core function it models (files under ``src/`` of core at f97af362):

* ``orchestration/process_manager/mod.rs`` ``orchestrate_pm``: handle, persist the process
  events, only then send the commands; a refused persist sends nothing and is an ``Err``;
  ``pm_source_seq`` is the highest sequence of the returned process-event pages (0 for a page
  without a header), else of the PM state's pages;
* ``orchestration/process_manager/mod.rs`` ``execute_pm_commands``: the PM cover as deferred
  source; a handler's deferred header without a source gets the source only;
* ``orchestration/process_manager/grpc/mod.rs`` ``GrpcPMContext::persist_pm_events``: the
  stream root is the book's cover root, else the nil UUID; any store error is ``Rejected``;
* ``storage/helpers/mod.rs`` ``resolve_sequence``: a page keeps its own sequence (0 without a
  header), "Sequence conflict: expected {base}, got {seq}" only below the base, gaps accepted;
* ``handlers/core/process_manager.rs`` (``propagate_errors: true``) and ``bus/amqp/mod.rs``
  ``process_delivery``: the failed trigger is nacked with requeue, with no delivery limit.
"""

from __future__ import annotations

import uuid

import pms
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from angzarr_testkit import ProcessManagerHarness, uuid_for, wire
from angzarr_testkit.framework.pm import NIL_ROOT

T, E, PM = wire.types_pb2, wire.examples_pb2, wire.process_manager_pb2
PREFIX = wire.TYPE_URL_PREFIX
CORR = "6f1c2d3e-0000-4000-8000-000000000001"
CORR2 = "6f1c2d3e-0000-4000-8000-000000000002"
ORDER = uuid_for("order-1")
SKU = uuid_for("sku-1")


def harness(pm=pms.fulfillment_pm, **kw):
    kw.setdefault("pm_domain", "fulfillment")
    kw.setdefault("sources", ["order", "inventory"])
    kw.setdefault("output_domains", ["inventory", "shipping"])
    kw.setdefault("profile", "core")
    return ProcessManagerHarness(pm, **kw)


def kinds(h):
    return [f.kind for f in h.findings]


def created(order_id="o-1"):
    return E.OrderCreated(order_id=order_id, sku="sku-1", quantity=2)


def reserved(order_id="o-1"):
    return E.InventoryReserved(order_id=order_id, sku="sku-1", quantity=2)


def command(domain, root, message, header=None):
    book = T.CommandBook(cover=T.Cover(domain=domain, root=T.UUID(value=root)))
    page = book.pages.add()
    page.command.Pack(message, type_url_prefix=PREFIX)
    if header is not None:
        page.header.CopyFrom(header)
    return book


def event(message, sequence=None):
    page = T.EventPage()
    page.event.Pack(message, type_url_prefix=PREFIX)
    if sequence is not None:
        page.header.sequence = sequence
    return page


def response(events=(), commands=(), cover=None):
    book = T.EventBook(pages=list(events))
    if cover is not None:
        book.cover.CopyFrom(cover)
    return PM.ProcessManagerHandleResponse(process_events=book, commands=list(commands))


# -- execute_pm_commands: provenance -------------------------------------------------------------


@pytest.mark.parametrize("profile", ["deferred-rewrite", "core"])
def test_execute_pm_commands_fills_source_keeps_source_seq(profile):
    """core ``process_manager/mod.rs`` ``execute_pm_commands`` @f97af362: a handler's
    ``angzarr_deferred`` header without a source gets the PM cover and keeps its own
    ``source_seq``; a page without a deferred header gets the PM cover and the PM's
    ``source_seq``; a deferred header with a source is left alone (every rewriting
    profile: this was a kit bug that overwrote the handler's ``source_seq``)."""
    foreign = T.Cover(domain="order", root=T.UUID(value=ORDER), correlation_id=CORR)

    def pm(request):
        own = T.PageHeader()
        own.angzarr_deferred.source_seq = 7
        full = T.PageHeader()
        full.angzarr_deferred.source.CopyFrom(foreign)
        full.angzarr_deferred.source_seq = 0  # the trigger page: valid provenance
        return response(
            [event(E.FulfillmentStarted(order_id="o-1"))],
            [
                command("inventory", SKU, E.ReserveInventory(order_id="o-1"), own),
                command("inventory", uuid_for("sku-2"), E.ReserveInventory(order_id="o-2"), full),
                command("shipping", ORDER, E.ShipOrder(order_id="o-1")),
            ],
        )

    h = harness(pm, profile=profile)
    d = h.deliver(created(), domain="order", root=ORDER, correlation_id=CORR)
    own, full, plain = (c.deferred for c in d.sent)
    assert (own.domain, own.root, own.source_seq) == ("fulfillment", uuid.UUID(CORR).bytes, 7)
    assert own.source.correlation_id == CORR
    assert (full.domain, full.root, full.source_seq) == ("order", ORDER, 0)
    assert (plain.domain, plain.root, plain.source_seq) == ("fulfillment", uuid.UUID(CORR).bytes, 0)
    assert [o.status for o in d.outcomes] == ["applied"] * 3
    assert "invalid-provenance" not in kinds(h)  # source_seq 7 under the PM cover is the PM's
    h.assert_clean()


def stamped(pm):
    """``pm`` made a good citizen under core: its process events get a cover with the
    workflow's root and explicit sequences from ``process_state``."""

    def stamped_pm(request):
        out = pm(request)
        root = uuid.UUID(request.trigger.cover.correlation_id).bytes
        out.process_events.cover.CopyFrom(T.Cover(domain="fulfillment", root=T.UUID(value=root)))
        for i, page in enumerate(out.process_events.pages):
            page.header.sequence = request.process_state.next_sequence + i
        return out

    return stamped_pm


def rejected(h):
    return [f for f in h.findings if f.kind == "handler-error"]


# -- orchestrate_pm: persist, then send ------------------------------------------------------


def test_orchestrate_pm_persist_failure_sends_no_commands():
    """core ``process_manager/mod.rs`` ``orchestrate_pm`` and ``process_manager/grpc/mod.rs``
    ``GrpcPMContext::persist_pm_events`` @f97af362: the events are persisted before any
    command; a refused persist (any store error is ``Rejected``) returns ``Err`` before
    ``execute_pm_commands``, so the returned command is never sent, and the trigger is
    requeued (nothing changes on a redelivery)."""
    h = harness(delivery_limit=2)
    h.deliver(created(), domain="order", root=ORDER, correlation_id=CORR)
    d = h.deliver(reserved(), domain="inventory", root=SKU, correlation_id=CORR)
    assert [c.type_name for c in d.commands] == ["testkit_examples.order.ShipOrder"]  # returned
    assert d.sent == [] and d.outcomes == [] and d.process_events == []  # ... but not sent
    assert d.attempts == 3 and str(d.error) == "Sequence conflict: expected 1, got 0"
    assert h.aggregate("shipping", uuid_for("o-1")).applied == 0
    assert h.state(CORR).next_sequence == 1  # the refused book left nothing behind
    assert kinds(h) == ["handler-error"] * 3 + ["requeue-loop"]
    first = rejected(h)[0]
    assert "none of its 1 command(s) was sent" in first.message
    assert first.details["cause"] == "sequence-conflict"
    assert first.sequences == {"expected": 1, "actual": 0}


def test_orchestrate_pm_persist_failure_of_an_explicit_sequence_below_the_head():
    """core ``storage/helpers/mod.rs`` ``resolve_sequence`` @f97af362 (via
    ``persist_pm_events``): a stamped page below the stream's next sequence is a
    ``Sequence conflict:`` too, with the advice for an explicit sequence (not the header-less
    one)."""

    def stale(request):
        out = stamped(pms.forgetful_pm)(request)
        for page in out.process_events.pages:
            page.header.sequence = 0  # always 0: stale from the second call on
        return out

    h = harness(stale, delivery_limit=1)
    d = h.deliver(created(), domain="order", root=ORDER, correlation_id=CORR)
    assert d.outcomes[0].status == "applied"
    h.redeliver(d)
    (finding,) = rejected(h)[:1]
    assert "Sequence conflict: expected 1, got 0" in finding.message
    assert "Its sequence 0 is below the stream's next sequence 1" in finding.message
    assert "no sequence header" not in finding.message and "nil-root" not in finding.message


def test_orchestrate_pm_old_profiles_number_the_pages_and_send():
    """The contrast: ``sequence-map``/``deferred-rewrite`` keep the kit's earlier model (a
    header-less page numbered from the workflow's own stream head, the commands sent)."""
    h = harness(profile="deferred-rewrite")
    h.deliver(created(), domain="order", root=ORDER, correlation_id=CORR)
    d = h.deliver(reserved(), domain="inventory", root=SKU, correlation_id=CORR)
    assert [p.header.sequence for p in d.process_events] == [1]
    assert d.outcomes[0].status == "applied"
    h.assert_clean()


# -- persist_pm_events / resolve_sequence -----------------------------------------------------


def test_persist_pm_events_headerless_second_event_conflicts():
    """core ``process_manager/grpc/mod.rs`` ``GrpcPMContext::persist_pm_events`` and
    ``storage/helpers/mod.rs`` ``resolve_sequence`` @f97af362: a page without a header is
    sequence 0; the first event of the stream is stored at 0, every later one is "Sequence
    conflict: expected 1, got 0" (the store's exact text, the prefix core's retry classifier
    reads)."""
    h = harness(delivery_limit=1)
    first = h.deliver(created(), domain="order", root=ORDER, correlation_id=CORR)
    assert first.outcomes[0].status == "applied"
    stored = first.process_events[0]
    assert not stored.header.WhichOneof("sequence_type")  # stored as given
    h.deliver(reserved(), domain="inventory", root=SKU, correlation_id=CORR)
    message = rejected(h)[0].message
    assert "(Sequence conflict: expected 1, got 0)" in message
    assert "has no sequence header, so the store reads it as sequence 0" in message
    assert "angzarr-client 0.3.1's ProcessManager" in message
    assert rejected(h)[0].details["error"].startswith("Sequence conflict: ")


def test_persist_pm_events_coverless_book_uses_nil_root():
    """core ``process_manager/grpc/mod.rs`` ``GrpcPMContext::persist_pm_events`` @f97af362:
    the stream root is ``process_events.cover.root``, else the nil UUID. A coverless book
    (0.3.1) of one workflow lands on the nil-root stream, and another workflow's first event
    then conflicts with it: the workflows share one stream."""
    h = harness(delivery_limit=0 + 1)
    h.deliver(created(), domain="order", root=ORDER, correlation_id=CORR)
    assert h.state(CORR).root == NIL_ROOT
    d = h.deliver(created("o-2"), domain="order", root=uuid_for("order-2"), correlation_id=CORR2)
    assert d.outcomes == [] and str(d.error) == "Sequence conflict: expected 1, got 0"
    message = rejected(h)[0].message
    assert "nil-root stream fulfillment/00000000-0000-0000-0000-000000000000" in message
    assert "already holds events of 1 other workflow(s)" in message
    assert h.state(CORR2).root == uuid.UUID(CORR2).bytes  # never written: an empty view
    assert h.state(CORR2).next_sequence == 0


def test_persist_pm_events_cover_root_keeps_workflows_apart():
    """core ``GrpcPMContext::persist_pm_events`` @f97af362, the good path: a book with a cover
    root and explicit sequences writes each workflow to its own stream; both workflows run
    clean under core."""
    h = harness(stamped(pms.fulfillment_pm))
    # the destinations prove the PM's MERGE_COMMUTATIVE commands disjoint from their history
    # (else core's H-18 check retries them: tests/test_core_merge.py)
    for domain in ("inventory", "shipping"):
        h.given_aggregate(domain, merge="commutative")
    for corr, order_id in ((CORR, "o-1"), (CORR2, "o-2")):
        h.deliver(created(order_id), domain="order", root=ORDER, correlation_id=corr)
        d = h.deliver(reserved(order_id), domain="inventory", root=SKU, correlation_id=corr)
        assert d.command("shipping").type_name == "testkit_examples.order.ShipOrder"
        assert [p.header.sequence for p in d.process_events] == [1]
        assert h.state(corr).root == uuid.UUID(corr).bytes and h.state(corr).next_sequence == 2
    h.assert_clean()


@pytest.mark.parametrize("root", [b"", b"short", bytes(17)])
def test_persist_pm_events_cover_without_a_valid_root_uses_nil_root(root):
    """core ``GrpcPMContext::persist_pm_events`` @f97af362: a cover whose root is missing or
    not 16 bytes (``Uuid::from_slice`` fails) also means the nil root."""

    def pm(request):
        out = pms.fulfillment_pm(request)
        out.process_events.cover.CopyFrom(T.Cover(domain="fulfillment", root=T.UUID(value=root)))
        return out

    h = harness(pm)
    h.deliver(created(), domain="order", root=ORDER, correlation_id=CORR)
    assert h.state(CORR).root == NIL_ROOT


def test_persist_pm_events_state_is_fetched_by_correlation_id():
    """core ``orchestrate_pm`` @f97af362 fetches the state with ``fetch_by_correlation``: a
    new workflow gets no ``process_state`` at all; a later trigger gets the stream that holds
    the workflow's events (here the nil-root one), with the correlation id on its cover."""
    seen = []

    def pm(request):
        seen.append(request)
        return pms.fulfillment_pm(request)

    h = harness(pm)
    h.deliver(created(), domain="order", root=ORDER, correlation_id=CORR)
    assert not seen[0].HasField("process_state")
    h.deliver(reserved(), domain="inventory", root=SKU, correlation_id=CORR)
    state = seen[1].process_state
    assert state.cover.root.value == NIL_ROOT and state.cover.correlation_id == CORR
    assert len(state.pages) == 1 and state.next_sequence == 1


def test_resolve_sequence_accepts_gaps():
    """core ``storage/helpers/mod.rs`` ``resolve_sequence`` @f97af362: a page at or above the
    base keeps its sequence, gaps included; the commands carry it as ``source_seq``."""

    def gap(request):
        out = stamped(pms.fulfillment_pm)(request)
        for page in out.process_events.pages:
            page.header.sequence += 5
        return out

    h = harness(gap)
    d = h.deliver(created(), domain="order", root=ORDER, correlation_id=CORR)
    assert h.state(CORR).next_sequence == 6
    assert d.sent[0].deferred.source_seq == 5
    h.assert_clean()


def test_persist_pm_events_two_headerless_pages_in_one_book_are_refused():
    """core postgres ``event_store.rs`` ``add`` (one base for the book, via
    ``resolve_sequence``) @f97af362: two header-less pages on an empty stream are two rows at
    sequence 0, a duplicate key; the whole book is refused (``Database error: ``), nothing is
    stored and no command is sent."""

    def two(request):
        out = pms.fulfillment_pm(request)
        out.process_events.pages.append(event(E.ShipmentRequested(order_id="o-1")))
        return out

    h = harness(two, delivery_limit=1)
    d = h.deliver(created(), domain="order", root=ORDER, correlation_id=CORR)
    assert d.outcomes == [] and str(d.error).startswith("Database error: duplicate key value")
    assert h.state(CORR).next_sequence == 0
    finding = rejected(h)[0]
    assert finding.details["cause"] == "duplicate-sequence"
    assert "Two of its pages have sequence 0" in finding.message
    assert kinds(h)[-1] == "requeue-loop"


@settings(max_examples=60, deadline=None)
@given(
    calls=st.lists(
        st.tuples(st.integers(0, 3), st.sampled_from([CORR, CORR2, "wf-plain"])),
        min_size=1,
        max_size=8,
    )
)
def test_persist_pm_events_headerless_events_at_most_one_persists(calls):
    """core ``persist_pm_events`` + ``resolve_sequence`` @f97af362, as a property: whatever
    sequence of calls of a 0.3.1-style PM (any number of header-less events, no cover, any
    workflows), at most one event is ever stored in the PM domain, and a call fails exactly
    when it returns events and (the stream already holds one, or it returns two or more)."""
    counts = {f"o-{i}": n for i, (n, _) in enumerate(calls)}

    def pm(request):  # the trigger's order id says how many events this call returns
        created_ = E.OrderCreated()
        request.trigger.pages[-1].event.Unpack(created_)
        n = counts[created_.order_id]
        return response([event(E.FulfillmentStarted(order_id=f"e-{k}")) for k in range(n)])

    h = harness(pm, delivery_limit=1)
    stored, failures, writer = 0, 0, None
    for i, (n, corr) in enumerate(calls):
        d = h.deliver(created(f"o-{i}"), domain="order", root=ORDER, correlation_id=corr)
        should_fail = n > 0 and (stored > 0 or n > 1)
        assert (d.error is not None) == should_fail
        assert d.attempts == (2 if should_fail else 1)
        failures += should_fail
        if n and not should_fail:
            stored, writer = n, corr
    assert stored <= 1
    assert kinds(h).count("requeue-loop") == failures
    if writer is not None:  # the one event, on the nil-root stream every workflow shares
        state = h.state(writer)
        assert state.root == NIL_ROOT and len(state.events) == 1


# -- orchestrate_pm / execute_pm_commands: pm_source_seq ----------------------------------------


def test_pm_source_seq_is_the_highest_returned_page_else_the_state():
    """core ``orchestrate_pm`` @f97af362: ``pm_source_seq`` is the max sequence over the
    returned process-event pages, else over the PM state's pages, else 0 (each call's
    command goes to its own root, so the repeated 4 is no collision)."""
    plan = [[3, 4], [], [9]]

    def pm(request):
        seqs = plan.pop(0)
        cover = T.Cover(domain="fulfillment", root=T.UUID(value=uuid.UUID(CORR).bytes))
        events = [event(E.FulfillmentStarted(order_id="o"), s) for s in seqs]
        target = uuid_for(f"sku-{len(plan)}")
        return response(events, [command("inventory", target, E.ReserveInventory())], cover)

    h = harness(pm)
    got = [
        h.deliver(created(f"o-{i}"), domain="order", root=ORDER, correlation_id=CORR)
        .sent[0]
        .deferred.source_seq
        for i in range(3)
    ]
    assert got == [4, 4, 9]
    h.assert_clean()


def test_pm_source_seq_zero_collides():
    """core ``orchestrate_pm`` + ``execute_pm_commands`` @f97af362 and ``aggregate/pipeline.rs``
    ``execute_mode``: a 0.3.1-style PM's header-less event makes ``pm_source_seq`` 0, and a
    later call with no event falls back to the state's pages (0 again): two commands of one
    workflow to one root share the dedupe key (PM root, 0, root); the second is "already
    processed". The finding's fix fits a PM."""
    plan = [
        ([event(E.FulfillmentStarted(order_id="o-1"))], E.ReserveInventory(order_id="o-1")),
        ([], E.ReleaseInventory(order_id="o-1")),
    ]

    def pm(request):
        events, message = plan.pop(0)
        return response(events, [command("inventory", SKU, message)])

    h = harness(pm)
    h.deliver(created(), domain="order", root=ORDER, correlation_id=CORR)
    d = h.deliver(reserved(), domain="inventory", root=SKU, correlation_id=CORR)
    assert d.sent[0].deferred.source_seq == 0
    assert d.outcomes[0].status == "deduped"
    assert h.aggregate("inventory", SKU).applied == 1  # the release never ran
    (finding,) = [f for f in h.findings if f.kind == "dedupe-collision"]
    assert "emit a process event with an explicit sequence header" in finding.message
    assert "so each command has its own source_seq" in finding.message


def test_pm_source_seq_one_call_two_commands_collide_and_own_source_seq_fixes_it():
    """core ``execute_pm_commands`` @f97af362: two commands of one call to one root share the
    PM's ``source_seq``; the advice (a deferred header with its own ``source_seq`` and no
    source, which core keeps) works."""
    h = harness(pms.two_to_one_root_pm)
    d = h.deliver(created(), domain="order", root=ORDER, correlation_id=CORR)
    assert [o.status for o in d.outcomes] == ["applied", "deduped"]
    (finding,) = [f for f in h.findings if f.kind == "dedupe-collision"]
    assert "set angzarr_deferred{source_seq} without a source" in finding.message

    def own(request):
        out = pms.two_to_one_root_pm(request)
        for i, book in enumerate(out.commands):
            book.pages[0].header.angzarr_deferred.source_seq = 100 + i
        return out

    fixed = harness(own)
    # the destinations prove the PM's MERGE_COMMUTATIVE commands disjoint from their history
    # (else core's H-18 check retries them: tests/test_core_merge.py)
    fixed.given_aggregate("inventory", merge="commutative")
    d = fixed.deliver(created(), domain="order", root=ORDER, correlation_id=CORR)
    assert [o.status for o in d.outcomes] == ["applied", "applied"]
    assert [c.deferred.source_seq for c in d.sent] == [100, 101]
    fixed.assert_clean()


# -- the requeue loop --------------------------------------------------------------------------


def test_pm_requeue_loop_is_bounded_and_reported():
    """core ``handlers/core/process_manager.rs`` (``propagate_errors: true``) and
    ``bus/amqp/mod.rs`` ``process_delivery`` (nack, ``requeue: true``; no delivery limit is
    declared) @f97af362: a PM that raises on every delivery is requeued forever in core. The
    kit stops at its own cap and says so (``requeue-loop``), never ``dead-lettered``."""
    h = harness(pms.poison_pm, delivery_limit=2)
    d = h.deliver(created(), domain="order", root=ORDER, correlation_id=CORR)
    assert d.attempts == 3 and len(h.deliveries) == 3
    assert kinds(h) == ["handler-error"] * 3 + ["requeue-loop"]
    assert "core sets no delivery limit: a poison message loops forever" in h.findings[0].message
    loop = h.findings[-1]
    assert "would be requeued forever" in loop.message
    assert "sets no delivery limit" in loop.message and "delivery_limit=2" in loop.message
    assert loop.details == {"deliveries": "3", "kit_delivery_limit": "2"}
    assert not h.clean
    with pytest.raises(AssertionError, match=r"\[requeue-loop\]"):
        h.assert_clean(allow=["handler-error"])
    old = harness(pms.poison_pm, delivery_limit=2, profile="deferred-rewrite")
    old.deliver(created(), domain="order", root=ORDER, correlation_id=CORR)
    assert kinds(old)[-1] == "dead-lettered"


def test_pm_requeue_loop_storms_stay_bounded():
    """The storm engine requeues a PM trigger whose delivery failed (``requeue_on_error``),
    under core too, and stays bounded by the FaultPlan's delivery limit: core declares no
    x-delivery-limit (``bus/amqp/mod.rs`` ``build_queue_args``), so a failing trigger is a
    ``requeue-loop`` at the kit's cap, never dead-lettered."""
    from angzarr_testkit.simulate import FaultPlan, Storm

    report = Storm(
        pms.fulfillment_pm,
        kind="process-manager",
        pm_domain="fulfillment",
        sources=["order", "inventory"],
        output_domains=["inventory", "shipping"],
        profile="core",
        roots=5,
        seed=5,
        events=5,
        event_source=pms.order_events,
        faults=FaultPlan(delivery_limit=2),
    ).run()
    counts, found = report.counts, report.kinds()
    assert counts["deliveries"] <= counts["published"] * 3  # limit 2: at most 3 deliveries
    # one workflow persists on the nil-root stream; the others conflict on every delivery
    loops = report.fault_coverage["delivery-limit"]
    assert counts["applied"] == 1 and loops >= 1 and counts["dead_lettered"] == 0
    assert found["handler-error"] == counts["handler_errors"] == 3 * loops
    assert found["requeue-loop"] == loops and "dead-lettered" not in found


# -- redelivery ---------------------------------------------------------------------------------


def test_orchestrate_pm_redelivery_of_a_headerless_pm_loops_without_double_apply():
    """core ``orchestrate_pm`` @f97af362 has no dedupe of process events across bus
    redeliveries: a forgetful 0.3.1-style PM re-emits its header-less event, which conflicts
    (seq 0 below 1): a requeue loop, not a double-apply, and its command is not sent again."""
    h = harness(pms.forgetful_pm, delivery_limit=1)
    d = h.deliver(created(), domain="order", root=ORDER, correlation_id=CORR)
    h.redeliver(d)
    assert h.state(CORR).next_sequence == 1
    assert "double-apply" not in kinds(h)
    assert kinds(h) == ["handler-error", "handler-error", "requeue-loop"]
    assert h.aggregate("inventory", SKU).applied == 1


def test_orchestrate_pm_redelivery_of_a_stamping_pm_double_applies():
    """core ``orchestrate_pm`` @f97af362: a PM that stamps its events from ``process_state``
    but ignores what the state says persists them again on a redelivery (the state moved on,
    so the sequence fits): ``double-apply`` of the PM state, and its command (a new
    ``source_seq``) is applied again."""
    h = harness(stamped(pms.forgetful_pm))
    d = h.deliver(created(), domain="order", root=ORDER, correlation_id=CORR)
    again = h.redeliver(d)[0]
    assert h.state(CORR).next_sequence == 2
    assert again.sent[0].deferred.source_seq == 1
    messages = [f.message for f in h.findings if f.kind == "double-apply"]
    assert any("persisted process events for the same trigger again" in m for m in messages)
    assert "requeue-loop" not in kinds(h)


def test_orchestrate_pm_redelivery_of_a_correct_pm_is_clean():
    """core ``orchestrate_pm`` @f97af362: a PM that reads its state emits nothing on a
    redelivery (header-less or not): nothing is persisted and nothing is sent again."""
    h = harness()
    d = h.deliver(created(), domain="order", root=ORDER, correlation_id=CORR)
    assert all(r.commands == [] and r.error is None for r in h.redeliver(d, times=3))
    assert h.state(CORR).next_sequence == 1
    h.assert_clean()


@settings(max_examples=80, deadline=None)
@given(books=st.lists(st.lists(st.integers(0, 6), min_size=1, max_size=3), max_size=6))
def test_resolve_sequence_property_explicit_sequences(books):
    """core ``storage/helpers/mod.rs`` ``resolve_sequence`` with postgres ``event_store.rs``
    ``add`` @f97af362, as a property over books of explicit sequences on one covered stream:
    a book is stored iff every page is at or above the stream's next sequence and no
    sequence repeats in it; the next sequence is then its highest + 1 (gaps accepted); a
    refused book stores nothing and sends nothing."""
    plan = {f"o-{i}": seqs for i, seqs in enumerate(books)}
    cover = T.Cover(domain="fulfillment", root=T.UUID(value=uuid.UUID(CORR).bytes))

    def pm(request):
        message = E.OrderCreated()
        request.trigger.pages[-1].event.Unpack(message)
        events = [event(E.FulfillmentStarted(order_id="o"), s) for s in plan[message.order_id]]
        target = uuid_for(message.order_id)  # one root per call: no dedupe collision
        return response(events, [command("inventory", target, E.ReserveInventory())], cover)

    h = harness(pm, delivery_limit=1)
    head = 0
    for i, seqs in enumerate(books):
        d = h.deliver(created(f"o-{i}"), domain="order", root=ORDER, correlation_id=CORR)
        ok = min(seqs) >= head and len(set(seqs)) == len(seqs)
        assert (d.error is None) == ok, (seqs, head, d.error)
        if ok:
            head = max(seqs) + 1
            assert d.outcomes[0].status == "applied"
            assert d.sent[0].deferred.source_seq == max(seqs)
        else:
            assert d.sent == [] and str(d.error).startswith(
                ("Sequence conflict: expected ", "Database error: duplicate key value")
            )
        assert h.state(CORR).next_sequence == head


@pytest.mark.parametrize(("covered", "stream_edition"), [(False, ""), (True, "v2")])
def test_persist_pm_events_edition_comes_from_the_book_cover(covered, stream_edition):
    """core ``process_manager/grpc/mod.rs`` ``GrpcPMContext::persist_pm_events`` (the
    book's ``edition()``, else the main timeline) and ``local/mod.rs``
    ``propagate_trigger_edition`` (a book's cover gets the trigger's edition) @f97af362: a
    coverless book of a trigger in edition ``v2`` is written to the main timeline."""
    pm = stamped(pms.fulfillment_pm) if covered else pms.fulfillment_pm
    h = harness(pm)
    book = T.EventBook(
        cover=T.Cover(
            domain="order",
            root=T.UUID(value=ORDER),
            correlation_id=CORR,
            edition=T.Edition(name="v2"),
        )
    )
    page = book.pages.add()
    page.header.sequence = 0
    page.event.Pack(created(), type_url_prefix=PREFIX)
    h.deliver(book)
    state = h.state(CORR)
    assert state.edition == stream_edition and len(state.events) == 1
