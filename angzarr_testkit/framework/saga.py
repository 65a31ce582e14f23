"""The saga harness: a fake angzarr saga coordinator over simulated destination aggregates.

``SagaHarness`` feeds ``SagaHandleRequest``s (with their ``destination_sequences`` map) to the
user's real saga, records the commands it returns, sends them through the simulated
destination pipeline the way angzarr's coordinator does (edition and correlation copied,
deferred rewrite in the ``deferred-rewrite`` profile, sequential execution, whole-list retries
on a virtual clock) and checks, as an oracle, that nothing is applied twice, lost or silently
dropped. See DESIGN.md section 3 for the behaviour model.

This module is the public facade: the arguments checked (:mod:`.inputs`), the givens,
``deliver``/``redeliver`` and the views. A delivery then flows one way through the
coordinator's steps (:mod:`.coordinator`): the request and the handler call, the command
checks (:mod:`.checks`), the destination pipeline with retries (:mod:`.aggregate`), the
records (:mod:`.records`; the work in flight: :mod:`.work`) and the findings (:mod:`.oracle`).
The names other modules imported from here before the split are re-exported.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import ConfigurationError, InvalidArgumentError, codes
from ..validate import check_bool, check_choice, check_int, check_names, checked
from .aggregate import Stream
from .coordinator import Coordinator
from .findings import Finding, check_kinds, failing, render_findings, sort_findings
from .inputs import (
    aggregate_spec,
    edition_arg,
    seed_destination,
    trigger_book,
    validate_domain,
    validate_root,
)
from .records import AggregateView, DeferredRef, Delivery, RecordedCommand
from .targets import SagaTarget, resolve_saga_target
from .work import DeliveryWork, copy_edition

__all__ = [
    "PROFILES",
    "AggregateView",
    "DeferredRef",
    "Delivery",
    "DEDUPE_STORES",
    "DEFAULT_PROFILE",
    "DeliveryWork",
    "RecordedCommand",
    "SagaHarness",
    "copy_edition",
]

#: The framework profiles: angzarr core HEAD (the default), the seed protocol (angzarr-client
#: 0.3's Destinations contract) and its deferred-rewrite variant (docs/profiles.md has each
#: behaviour row by row).
PROFILES = ("core", "sequence-map", "deferred-rewrite")
#: the profile a harness, storm, fixture, step or CLI run gets when none is given
DEFAULT_PROFILE = PROFILES[0]
#: core's storage backends, as far as dedupe goes (docs/profiles.md): Postgres (core's
#: default) stores every deferred source; SQLite none whose source edition is the empty string
DEDUPE_STORES = ("postgres", "sqlite")

DEFAULT_MAX_RETRIES = 10
#: storms keep the first output of this many triggers (each at most this many bytes) so that a
#: nondeterministic-output finding can name the differing field; beyond, digests only
_KEEP_OUTPUTS = 20_000
_KEEP_OUTPUT_BYTES = 2_048

#: bounds that keep a harness call finite (a retry round or a redelivery per unit)
MAX_RETRIES_LIMIT = 1_000
MAX_REDELIVERIES = 100_000


class SagaHarness(Coordinator):
    """Drive a real saga through a fake angzarr coordinator and check the dedupe.

    Args:
        saga: the target (a callable, a servicer with ``Handle``, an angzarr_client ``Saga``
            subclass or instance, or a ``"package.module:attr"`` string).
        source_domain: the trigger domain (defaults to the target's ``@domain``).
        output_domains: domains the framework supplies sequences for (defaults to the
            target's ``@output_domain``).
        profile: ``"core"`` (default: angzarr core HEAD, an EMPTY map and every command
            rewritten to a deferred header naming the trigger), ``"sequence-map"`` (the seed
            protocol, angzarr-client 0.3's Destinations contract: the map filled for the
            output domains) or ``"deferred-rewrite"`` (the map filled, every command rewritten);
            see docs/profiles.md.
        dedupe_store: under ``"core"``, core's storage backend: ``"postgres"`` (default, core's
            own) or ``"sqlite"``, which keeps no dedupe source for a deferred command whose
            source edition is the empty string, so redeliveries of those never dedupe.
        max_retries: whole-list re-sends after a retryable failure (angzarr: 10).
        record: keep a :class:`Delivery` record of every delivery (``deliveries``); storms
            turn it off to run millions of deliveries in bounded memory (``deliver`` then
            returns ``None``; findings and aggregates are kept either way).
        allow_vacuous: let :meth:`assert_clean` / :attr:`clean` pass a harness that was never
            given a delivery (by default that is a ``vacuous-run``: it tested nothing).
    """

    def __init__(
        self,
        saga: Any,
        *,
        source_domain: str | None = None,
        output_domains: Sequence[str] | None = None,
        profile: str = DEFAULT_PROFILE,
        max_retries: int = DEFAULT_MAX_RETRIES,
        record: bool = True,
        allow_vacuous: bool = False,
        dedupe_store: str = "postgres",
    ) -> None:
        checked(ConfigurationError, check_choice, profile, "profile", PROFILES)
        checked(ConfigurationError, check_choice, dedupe_store, "dedupe_store", DEDUPE_STORES)
        if output_domains is not None:
            output_domains = checked(
                ConfigurationError,
                check_names,
                output_domains,
                "output_domains",
                item=lambda value, param: value,  # each is checked as a domain below
                accepted="a list of domain names",
            )
        if source_domain is not None:
            validate_domain(source_domain, "source_domain")
        max_retries = checked(
            ConfigurationError, check_int, max_retries, "max_retries", maximum=MAX_RETRIES_LIMIT
        )
        record = checked(ConfigurationError, check_bool, record, "record")
        target: SagaTarget = self._resolve(saga)
        self.source_domain = source_domain or getattr(target, "source_domain", None)
        if self.source_domain is not None:
            validate_domain(self.source_domain, "source_domain")
        domains = output_domains if output_domains is not None else target.output_domains
        domains = [validate_domain(d, f"output_domains[{i}]") for i, d in enumerate(domains)]
        self.allow_vacuous = check_bool(allow_vacuous, "allow_vacuous")
        super().__init__(
            target,
            profile,
            domains,
            max_retries,
            record,
            keep_outputs=_KEEP_OUTPUTS,
            keep_output_bytes=_KEEP_OUTPUT_BYTES,
        )
        self.dedupe_store = self.pipeline.dedupe_store = dedupe_store
        self._source_heads: dict[tuple[str, str, bytes], int] = {}

    def _resolve(self, target: Any) -> Any:
        return resolve_saga_target(target)

    # -- givens -------------------------------------------------------------------------
    def given_destination(
        self,
        domain: str,
        root: bytes,
        next_sequence: int = 0,
        *,
        events: Iterable[Any] | None = None,
        edition: str | None = None,
    ) -> AggregateView:
        """Give a destination aggregate a history: ``next_sequence`` events, or the given
        event messages. The first destination declared for a domain is the one whose head
        the sequence map reports.

        A history of ``next_sequence`` events is an angzarr snapshot at ``next_sequence - 1``
        with no pages after it (as core loads a stream with a snapshot: the events after
        the snapshot, ``next_sequence`` = snapshot sequence + 1), so it costs nothing
        whatever its length: business logic sees ``ContextualCommand.events.snapshot`` and
        the pages after it, and :meth:`aggregate` reports ``events`` after the snapshot.

        Raises:
            InvalidArgumentError: a bad domain, root, ``next_sequence`` (uint32) or edition,
                ``events`` that are not a list of messages, or both ``events`` and a non-zero
                ``next_sequence``.
            ConfigurationError: the destination already has a history.
        """
        root, ed = seed_destination(self.store, domain, root, next_sequence, events, edition)
        self._first_destination.setdefault(domain, (domain, root, ed))
        return self.aggregate(domain, root, edition=ed)

    def given_aggregate(
        self, domain: str, handler: Any = None, merge: Any = "strict", *, must_exist: bool = False
    ) -> None:
        """Give a destination domain business logic and a merge policy.

        Args:
            handler: ``fn(ContextualCommand) -> events`` where events are messages, EventPages,
                an EventBook or a BusinessResponse (revocations reject); raising rejects the
                command. ``None``: accept and record each command as an event.
            merge: ``"strict"`` (no change is commutative: without a Replay, core retries a
                MERGE_COMMUTATIVE mismatch), ``"commutative"`` (every change is disjoint from
                the history), ``"overlapping"`` (every change overlaps it: a final rejection)
                or a callable ``fn(CommandBook) -> bool`` deciding per command.
            must_exist: the domain's aggregates exist before any saga writes to them (stock,
                accounts): a command to a root without history is an ``unknown-target``
                warning (usually a wrongly derived root).
        """
        self.pipeline.specs[domain] = aggregate_spec(domain, handler, merge)
        if checked(ConfigurationError, check_bool, must_exist, "must_exist"):
            self.checks.must_exist.add(domain)
        else:
            self.checks.must_exist.discard(domain)

    # -- actions ------------------------------------------------------------------------
    def deliver(
        self,
        event: Any,
        *,
        root: bytes | None = None,
        correlation_id: str = "",
        sequence: int | None = None,
        edition: str | None = None,
        domain: str | None = None,
    ) -> Delivery:
        """Deliver a trigger to the saga and run its commands through the destinations.

        ``event`` is an event message (packed into a one-page book at ``sequence``, by
        default the source root's next sequence) or a ready ``EventBook`` (multi-page
        triggers; ``edition``/``correlation_id`` override its cover when given).
        """
        book = trigger_book(
            event,
            root,
            correlation_id,
            sequence,
            edition,
            domain,
            source_domain=self.source_domain,
            source_heads=self._source_heads,
        )
        return self._run(book.SerializeToString(), redelivered=False)

    def redeliver(self, delivery: Delivery, times: int = 1) -> list[Delivery]:
        """AMQP redelivery: the same trigger message (same bytes) delivered ``times`` more."""
        if not isinstance(delivery, Delivery):
            raise InvalidArgumentError(
                f"redeliver() takes a Delivery returned by deliver(), got "
                f"{type(delivery).__name__}",
                details={"type": type(delivery).__name__},
            )
        times = checked(InvalidArgumentError, check_int, times, "times", maximum=MAX_REDELIVERIES)
        return [self._run(delivery.trigger_bytes, redelivered=True) for _ in range(times)]

    # -- reading ------------------------------------------------------------------------
    def aggregate(self, domain: str, root: bytes, edition: str | None = None) -> AggregateView:
        """The simulated stream of one destination aggregate (empty if never touched);
        ``events`` are the pages after its snapshot, if it has one (``snapshot``)."""
        validate_domain(domain, "domain")
        root = validate_root(root)
        edition = edition_arg(edition)
        known = {d for d, _, _ in self.store.streams} | set(self.output_domains)
        if domain not in known:
            raise InvalidArgumentError(
                f"unknown domain '{domain}': no aggregate in it was declared or reached; "
                f"known domains: {', '.join(sorted(known)) or 'none'}",
                code=codes.UNKNOWN_DOMAIN,
                details={"domain": domain},
            )
        ed = "" if edition in (None, "", "angzarr") else edition
        stream = self.store.find(domain, root, ed) or Stream(domain, root, ed)
        return AggregateView(
            domain,
            root,
            ed,
            list(stream.pages),
            stream.next_sequence,
            stream.applied,
            stream.deduped,
            stream.snapshot(),
        )

    @property
    def dead_letters(self) -> list[Any]:
        """``AngzarrDeadLetter`` messages published so far."""
        return list(self.pipeline.dead_letters)

    @property
    def findings(self) -> list[Finding]:
        """Every finding so far, including the ones only a look across deliveries shows
        (``lost-command``)."""
        return sort_findings(self.finding_log + self.oracle.lost_commands())

    @property
    def clean(self) -> bool:
        """Whether :meth:`assert_clean` (no arguments) would pass: no error finding, and at
        least one delivery (unless ``allow_vacuous``)."""
        return (self._count > 0 or self.allow_vacuous) and not failing(self.findings)

    def assert_clean(self, allow: Iterable[str] = (), fail_on: Iterable[str] = ()) -> None:
        """Raise ``AssertionError`` with a readable report of every finding that fails the
        run (``findings.failing``): error kinds not in ``allow``, and the kinds in
        ``fail_on``. A harness that was never given a delivery tested nothing: it fails with
        ``vacuous-run`` unless ``allow_vacuous=True`` or ``allow=["vacuous-run"]`` (one
        delivery suffices, even one the handler ignores)."""
        allowed = check_kinds(allow, "allow")
        errors = failing(self.findings, allow=allowed, fail_on=check_kinds(fail_on, "fail_on"))
        if self._count == 0 and not self.allow_vacuous and "vacuous-run" not in allowed:
            errors.append(self.oracle.vacuous_run())
        if errors:
            raise AssertionError(render_findings(errors, title="saga harness is not clean"))
