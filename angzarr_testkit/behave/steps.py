"""The shared step library. Import everything from here in ``features/steps/``."""

from __future__ import annotations

from typing import Any

from .. import wire
from ..destinations import Destinations
from ..errors import ClientError
from ..ids import uuid_for
from ..validate import check_domain
from .environment import cell_int, resolve_message_type, state, table_rows
from .vocabulary import step

__all__: list[str] = []  # steps register themselves with behave on import

G_DEST = "Destinations contract"
#: the most command pages a step builds
MAX_PAGES = 1_000


@step(
    "Given",
    "the destination sequences:",
    group=G_DEST,
    description="The framework's `destination_sequences` map (domain -> next sequence).",
    example="Given the destination sequences:\n  | domain    | next_sequence |\n"
    "  | inventory | 5             |",
)
def given_destination_sequences(context: Any) -> None:
    rows = table_rows(context, "domain", "next_sequence")
    state(context).destinations = Destinations(
        {
            r["domain"]: cell_int(r["next_sequence"], f"next_sequence of domain {r['domain']!r}")
            for r in rows
        }
    )


@step(
    "Given",
    "no destination sequences",
    group=G_DEST,
    description="An empty `destination_sequences` map (no output domains declared).",
    example="Given no destination sequences",
)
def given_no_destination_sequences(context: Any) -> None:
    state(context).destinations = Destinations({})


@step(
    "Given",
    'a trigger from domain "{domain}" root "{root}"',
    group=G_DEST,
    description="The source cover a saga builds deferred headers from (root by name).",
    example='Given a trigger from domain "order" root "order-1"',
)
def given_trigger_cover(context: Any, domain: str, root: str) -> None:
    check_domain(domain, "domain")
    T = wire.types_pb2
    state(context).trigger_cover = T.Cover(
        domain=domain, root=T.UUID(value=uuid_for(root)), correlation_id=f"corr-{root}"
    )


@step(
    "When",
    'the saga stamps a {message_type:w} command of {pages:d} pages for domain "{domain}"',
    group=G_DEST,
    description="Build a command of that type with that many pages and call "
    "`Destinations.stamp_command(cmd, domain)`; a failure is recorded.",
    example='When the saga stamps a ReserveInventory command of 2 pages for domain "inventory"',
)
def when_stamp(context: Any, message_type: str, pages: int, domain: str) -> None:
    T = wire.types_pb2
    s = state(context)
    cls = resolve_message_type(message_type)
    cell_int(pages, "pages", minimum=1, maximum=MAX_PAGES)
    cmd = T.CommandBook(cover=T.Cover(domain=domain, root=T.UUID(value=uuid_for("target"))))
    for _ in range(pages):
        cmd.pages.add().command.Pack(cls(), type_url_prefix=wire.TYPE_URL_PREFIX)
    s.command, s.command_before = cmd, cmd.SerializeToString()
    try:
        (s.destinations or Destinations({})).stamp_command(cmd, domain)
        s.error = None
    except ClientError as exc:
        s.error = exc


@step(
    "When",
    "the saga builds a deferred header at sequence {seq:d}",
    group=G_DEST,
    description="Call `Destinations.deferred_header(trigger cover, seq)`; a failure is recorded.",
    example="When the saga builds a deferred header at sequence 3",
)
def when_deferred(context: Any, seq: int) -> None:
    s = state(context)
    if s.trigger_cover is None:
        given_trigger_cover(context, "order", "order-1")
    try:
        s.header = Destinations.deferred_header(s.trigger_cover, seq)
        s.error = None
    except ClientError as exc:
        s.error = exc


@step(
    "Then",
    "every page of the command has sequence {seq:d}",
    group=G_DEST,
    description="Each page carries an explicit `header.sequence` equal to `seq`.",
    example="Then every page of the command has sequence 5",
)
def then_every_page(context: Any, seq: int) -> None:
    s = state(context)
    assert s.error is None, f"stamping failed: {s.error}"
    got = [(p.header.WhichOneof("sequence_type"), p.header.sequence) for p in s.command.pages]
    assert got == [("sequence", seq)] * len(s.command.pages), f"page headers: {got}"


@step(
    "Then",
    'stamping fails with code "{code}" for domain "{domain}"',
    group=G_DEST,
    description="The last stamp raised a kit error with that code naming that domain.",
    example='Then stamping fails with code "MISSING_DESTINATION_SEQUENCE" for domain "shipping"',
)
def then_stamping_fails(context: Any, code: str, domain: str) -> None:
    err = state(context).error
    assert err is not None, "stamping did not fail"
    assert err.code == code, f"error code {err.code!r}, expected {code!r} ({err})"
    assert getattr(err, "details", {}).get("domain") == domain, f"details: {err.details}"


@step(
    "Then",
    "the command is left unstamped",
    group=G_DEST,
    description="A failed stamp changed nothing on the command.",
    example="Then the command is left unstamped",
)
def then_unstamped(context: Any) -> None:
    s = state(context)
    assert s.command.SerializeToString() == s.command_before, "the command was changed"
    assert not any(p.HasField("header") for p in s.command.pages)


@step(
    "Then",
    'the deferred header names source domain "{domain}" root "{root}" and source_seq {seq:d}',
    group=G_DEST,
    description="The header is an `angzarr_deferred` whose source cover and seq are these.",
    example='Then the deferred header names source domain "order" root "order-1" and source_seq 3',
)
def then_header_names(context: Any, domain: str, root: str, seq: int) -> None:
    s = state(context)
    assert s.error is None, f"building the header failed: {s.error}"
    assert s.header.WhichOneof("sequence_type") == "angzarr_deferred"
    d = s.header.angzarr_deferred
    assert (d.source.domain, bytes(d.source.root.value), d.source_seq) == (
        domain,
        uuid_for(root),
        seq,
    ), f"header: {d}"


@step(
    "Then",
    "changing the trigger cover leaves the deferred header as it was",
    group=G_DEST,
    description="The header holds a copy of the cover, not a reference.",
    example="Then changing the trigger cover leaves the deferred header as it was",
)
def then_header_copied(context: Any) -> None:
    s = state(context)
    before = s.header.SerializeToString()
    s.trigger_cover.domain = "changed"
    s.trigger_cover.root.value = uuid_for("changed")
    assert s.header.SerializeToString() == before


@step(
    "Then",
    'building fails with code "{code}"',
    group=G_DEST,
    description="The last deferred-header call raised a kit error with that code.",
    example='Then building fails with code "SEQUENCE_OUT_OF_RANGE"',
)
def then_building_fails(context: Any, code: str) -> None:
    err = state(context).error
    assert err is not None, "building the header did not fail"
    assert err.code == code, f"error code {err.code!r}, expected {code!r} ({err})"


@step(
    "Then",
    'the destinations list domains "{domains}"',
    group=G_DEST,
    description="`Destinations.domains`, comma-separated, in insertion order.",
    example='Then the destinations list domains "inventory, payment"',
)
def then_domains(context: Any, domains: str) -> None:
    expected = [d.strip() for d in domains.split(",") if d.strip()]
    assert state(context).destinations.domains == expected


@step(
    "Then",
    'the sequence for domain "{domain}" is {seq:d}',
    group=G_DEST,
    description="`Destinations.sequence_for(domain)` is `seq`.",
    example='Then the sequence for domain "inventory" is 5',
)
def then_sequence_for(context: Any, domain: str, seq: int) -> None:
    d = state(context).destinations
    assert d.has_domain(domain), f"no sequence for '{domain}'; domains: {d.domains}"
    assert d.sequence_for(domain) == seq


@step(
    "Then",
    'domain "{domain}" has no sequence',
    group=G_DEST,
    description="`has_domain` is false and `sequence_for` is None.",
    example='Then domain "shipping" has no sequence',
)
def then_no_sequence(context: Any, domain: str) -> None:
    d = state(context).destinations
    assert not d.has_domain(domain) and d.sequence_for(domain) is None


# The saga, storm and oracle steps live in their own module; importing this one registers all.
from . import saga_steps  # noqa: E402,F401
