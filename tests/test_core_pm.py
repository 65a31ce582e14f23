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
