"""What angzarr core refuses outright: commands and facts it answers with INVALID_ARGUMENT.

A saga or process manager may emit a ``CommandBook`` (or a fact ``EventBook``) that no
aggregate will ever run: angzarr core parses and validates it before any dedupe lookup,
sequence check or business logic, answers ``INVALID_ARGUMENT``, logs the rejection and moves
on to the next command. In production that work is silently lost, so the kit reports it as
an ``invalid-command`` finding (an error) rather than as a business rejection.

:func:`check_command` and :func:`check_fact` are pure: they return the :class:`Problem`\\ s of
one book in the order core meets them (the first one is the answer core gives), or an empty
tuple. The common, valid case takes a fast path over the few fields involved. Every rule
names the core source it models (:data:`RULES`; docs/findings.md lists them too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import safe_repr
from ..validate import DOMAIN_RE

__all__ = [
    "COMMAND_RULES",
    "FACT_RULES",
    "MAX_CORRELATION_ID_LENGTH",
    "MAX_PAGES_PER_BOOK",
    "MAX_PAYLOAD_BYTES",
    "RULES",
    "Problem",
    "Rule",
    "check_command",
    "check_fact",
]

#: core's default ``ResourceLimits`` (src/config/limits.rs DEFAULT_MAX_PAGES_PER_BOOK,
#: DEFAULT_MAX_PAYLOAD_BYTES), enforced by the aggregate coordinator's gRPC service.
MAX_PAGES_PER_BOOK = 100
MAX_PAYLOAD_BYTES = 256 * 1024
#: src/validation/mod.rs limits::MAX_CORRELATION_ID_LENGTH
MAX_CORRELATION_ID_LENGTH = 128

# src/validation/mod.rs validate_edition: non-empty editions start with a lowercase letter
# (not '_', unlike domains), then [a-z0-9_-], at most 64 characters.
EDITION_RE = re.compile(r"[a-z][a-z0-9_-]{0,63}")
# src/validation/mod.rs validate_correlation_id: empty, or [a-zA-Z0-9_-] up to 128.
CORRELATION_RE = re.compile(r"[A-Za-z0-9_-]{0,128}")

_VALIDATION = "src/validation/mod.rs"
_PARSING = "src/orchestration/aggregate/parsing.rs"
_PIPELINE = "src/orchestration/aggregate/pipeline.rs"


@dataclass(frozen=True)
class Rule:
    """One thing core checks before a command or fact reaches business logic.

    Attributes:
        name: a stable identifier (``cover-root-uuid``, ...), in ``details["rule"]``.
        field: the field it is about (``cover.root``, ``pages``, ...).
        text: the rule, stated for a reader.
        source: the angzarr core (or SDK) file and function that enforces it.
        fix: what to change in the handler.
    """

    name: str
    field: str
    text: str
    source: str
    fix: str = ""


_ROOT_FIX = "set cover.root = UUID(value=uuid_for('name')) (or uuid.UUID(...).bytes): 16 bytes"
_COVER_FIX = "give it a cover: Cover(domain='inventory', root=UUID(value=uuid_for('sku-1')))"
_DOMAIN_FIX = "use the destination's domain name exactly as declared (e.g. 'inventory')"
_EDITION_FIX = (
    "the coordinator copies the trigger's edition onto every command and fact: deliver the "
    "trigger on a valid edition (lowercase, starting with a letter) or on the main timeline"
)
_FIXES = {
    "pages-limit": "split the work into several commands of at most 100 pages",
    "payload-limit": "keep each payload under 256 KiB (send a reference to large data)",
    "cover-present": _COVER_FIX,
    "cover-domain": _DOMAIN_FIX,
    "cover-root-present": _ROOT_FIX,
    "cover-root-uuid": _ROOT_FIX,
    "cover-edition": _EDITION_FIX,
    "cover-correlation-id": (
        "leave correlation_id empty (the coordinator fills in the trigger's) or use letters, "
        "digits, '_' and '-' only"
    ),
    "deferred-source-root": (
        "build the header with Destinations.deferred_header(request.source.cover, <trigger "
        "page sequence>)"
    ),
    "pages-empty": "add the command as a page: book.pages.add().command.Pack(message)",
    "fact-cover-present": _COVER_FIX,
    "fact-cover-domain": _DOMAIN_FIX,
    "fact-cover-root-present": _ROOT_FIX,
    "fact-cover-root-uuid": _ROOT_FIX,
    "fact-cover-edition": _EDITION_FIX,
    "fact-external-deferred": (
        "set page.header.external_deferred.external_id (a stable id of the external event) on "
        "the fact's pages"
    ),
}


def _rules(*rows: tuple[str, str, str, str]) -> dict[str, Rule]:
    return {
        name: Rule(name, field, text, source, _FIXES[name]) for name, field, text, source in rows
    }


#: The command rules in the order core applies them.
COMMAND_RULES: dict[str, Rule] = _rules(
    (
        "pages-limit",
        "pages",
        f"a command book has at most {MAX_PAGES_PER_BOOK} pages (core's default "
        "max_pages_per_book)",
        f"{_VALIDATION} validate_command_book, called by src/services/aggregate.rs "
        "AggregateService::handle_command",
    ),
    (
        "payload-limit",
        "pages[].command",
        f"a page's command payload is at most {MAX_PAYLOAD_BYTES} bytes (core's default "
        "max_payload_bytes, 256 KiB)",
        f"{_VALIDATION} validate_command_book, called by src/services/aggregate.rs "
        "AggregateService::handle_command",
    ),
    (
        "cover-present",
        "cover",
        "a command book has a cover",
        f"{_PARSING} parse_command_cover (from {_PIPELINE} execute_mode)",
    ),
    (
        "cover-domain",
        "cover.domain",
        "the domain is 1-64 characters: a lowercase letter or '_', then lowercase letters, "
        "digits, '_' or '-'",
        f"{_VALIDATION} validate_domain (from {_PARSING} parse_command_cover)",
    ),
    (
        "cover-root-present",
        "cover.root",
        "the cover has a root UUID",
        f"{_PARSING} parse_command_cover",
    ),
    (
        "cover-root-uuid",
        "cover.root",
        "the root is a 16-byte UUID (uuid_for('name') or uuid.UUID(...).bytes)",
        f"{_PARSING} parse_command_cover (Uuid::from_slice)",
    ),
    (
        "cover-edition",
        "cover.edition.name",
        "an edition name is empty (the main timeline) or 1-64 characters: a lowercase "
        "letter, then lowercase letters, digits, '_' or '-'",
        f"{_VALIDATION} validate_edition (from {_PARSING} extract_edition)",
    ),
    (
        "cover-correlation-id",
        "cover.correlation_id",
        f"a correlation id is empty or up to {MAX_CORRELATION_ID_LENGTH} characters of "
        "letters, digits, '_' and '-'",
        f"{_VALIDATION} validate_correlation_id (from src/orchestration/correlation.rs "
        "extract_correlation_id)",
    ),
    (
        "deferred-source-root",
        "pages[0].header.angzarr_deferred.source.root",
        "a deferred header's source root (when the source names a domain and a root) is a "
        "16-byte UUID",
        "src/orchestration/aggregate/local/mod.rs deferred_to_source_info (and grpc/mod.rs), "
        f"from check_deferred_idempotency in {_PIPELINE} execute_mode",
    ),
    (
        "pages-empty",
        "pages",
        "a command book has at least one page (the command to run)",
        "angzarr_client router.py CommandHandlerRouter.dispatch ('No command pages', "
        "INVALID_ARGUMENT via aggregate_handler.py): the destination's SDK refuses it; "
        f"core's {_PIPELINE} execute_mode passes it on",
    ),
)

#: The fact rules (``SagaResponse.events``, PM ``facts``) in the order core applies them.
FACT_RULES: dict[str, Rule] = _rules(
    (
        "fact-cover-present",
        "cover",
        "a fact EventBook has a cover",
        f"{_PARSING} parse_event_cover (from {_PIPELINE} execute_fact_pipeline)",
    ),
    (
        "fact-cover-domain",
        "cover.domain",
        "the domain is 1-64 characters: a lowercase letter or '_', then lowercase letters, "
        "digits, '_' or '-'",
        f"{_VALIDATION} validate_domain (from {_PARSING} parse_event_cover)",
    ),
    (
        "fact-cover-root-present",
        "cover.root",
        "the cover has a root UUID",
        f"{_PARSING} parse_event_cover",
    ),
    (
        "fact-cover-root-uuid",
        "cover.root",
        "the root is a 16-byte UUID (uuid_for('name') or uuid.UUID(...).bytes)",
        f"{_PARSING} parse_event_cover (Uuid::from_slice)",
    ),
    (
        "fact-cover-edition",
        "cover.edition.name",
        "an edition name is empty (the main timeline) or 1-64 characters: a lowercase "
        "letter, then lowercase letters, digits, '_' or '-'",
        f"{_VALIDATION} validate_edition (from {_PARSING} extract_event_edition)",
    ),
    (
        "fact-external-deferred",
        "pages[].header.external_deferred",
        "a fact has at least one page whose header is external_deferred{external_id} (the "
        "fact marker; page 0's external_id is its dedupe key)",
        f"{_PIPELINE} execute_fact_pipeline (FACT_EVENTS_MISSING_MARKER)",
    ),
)

#: Every rule, commands then facts.
RULES: dict[str, Rule] = {**COMMAND_RULES, **FACT_RULES}


@dataclass(frozen=True)
class Problem:
    """One rule a command or fact breaks.

    Attributes:
        rule: the :class:`Rule` broken.
        field: the exact field (``cover.root``, ``pages[3].command``, ...).
        value: the value found, rendered (``8 bytes``, ``'Inventory!'``, ``missing``).
        status: the INVALID_ARGUMENT message core answers with.
    """

    rule: Rule
    field: str
    value: str
    status: str

    @property
    def source(self) -> str:
        """The core source of the rule."""
        return self.rule.source

    def describe(self) -> str:
        """``<field> is <value>: <rule>``, one line."""
        return f"{self.field} is {self.value}: {self.rule.text}"

    def __str__(self) -> str:
        return self.describe()


_NO_PROBLEMS: tuple[Problem, ...] = ()
# Domains and editions already seen to be valid (bounded: a run uses a handful).
_GOOD_DOMAINS: set[str] = set()
_GOOD_EDITIONS: set[str] = {""}
_CACHE_LIMIT = 4096


def check_command(book: Any) -> tuple[Problem, ...]:
    """The problems core finds in ``book`` (a ``CommandBook`` as the coordinator sends it:
    edition and correlation id already copied from the trigger), in core's order; empty
    when core accepts it for processing."""
    pages = book.pages
    n = len(pages)
    if 0 < n <= MAX_PAGES_PER_BOOK and book.HasField("cover"):
        cover = book.cover
        if (
            len(cover.root.value) == 16
            and cover.domain in _GOOD_DOMAINS
            and (not cover.HasField("edition") or cover.edition.name in _GOOD_EDITIONS)
            and (not cover.correlation_id or CORRELATION_RE.fullmatch(cover.correlation_id))
            and book.ByteSize() <= MAX_PAYLOAD_BYTES
            and (
                len(pages[0].header.angzarr_deferred.source.root.value) == 16
                or _deferred_root_ok(pages[0])
            )
        ):
            return _NO_PROBLEMS
    return tuple(_command_problems(book))


def check_fact(book: Any) -> tuple[Problem, ...]:
    """The problems core finds in the fact ``book`` (an ``EventBook`` from
    ``SagaResponse.events`` or a PM's ``facts``), in core's order; empty when accepted."""
    problems = []
    R = FACT_RULES
    if not book.HasField("cover"):
        return (
            Problem(R["fact-cover-present"], "cover", "missing", "EventBook must have a cover"),
        )
    problems.extend(_cover_problems(book.cover, "fact-"))
    if not any(
        p.HasField("header") and p.header.WhichOneof("sequence_type") == "external_deferred"
        for p in book.pages
    ):
        kinds = sorted(
            {(p.header.WhichOneof("sequence_type") or "none") for p in book.pages}
            if book.pages
            else set()
        )
        value = f"pages with headers {kinds}" if kinds else "no pages"
        problems.append(
            Problem(
                R["fact-external-deferred"],
                "pages[].header",
                value,
                "Fact events must have ExternalDeferredSequence markers",
            )
        )
    return tuple(problems)


def _deferred_root_ok(page0: Any) -> bool:
    header = page0.header
    if header.WhichOneof("sequence_type") != "angzarr_deferred":
        return True
    source = header.angzarr_deferred.source
    return not (source.domain and source.HasField("root")) or len(source.root.value) == 16


def _command_problems(book: Any) -> list[Problem]:
    R = COMMAND_RULES
    problems: list[Problem] = []
    pages = book.pages
    if len(pages) > MAX_PAGES_PER_BOOK:
        problems.append(
            Problem(
                R["pages-limit"],
                "pages",
                f"{len(pages)} pages",
                f"command book exceeds maximum pages (max: {MAX_PAGES_PER_BOOK}, "
                f"got: {len(pages)})",
            )
        )
    for i, page in enumerate(pages):
        if page.WhichOneof("payload") == "command" and len(page.command.value) > MAX_PAYLOAD_BYTES:
            size = len(page.command.value)
            problems.append(
                Problem(
                    R["payload-limit"],
                    f"pages[{i}].command",
                    f"{size} bytes",
                    f"page payload exceeds maximum size at page {i} (max: {MAX_PAYLOAD_BYTES} "
                    f"bytes, got: {size} bytes)",
                )
            )
            break  # core stops at the first oversized page
    if not book.HasField("cover"):
        problems.append(
            Problem(R["cover-present"], "cover", "missing", "CommandBook must have a cover")
        )
    else:
        cover = book.cover
        problems.extend(_cover_problems(cover, ""))
        cid = cover.correlation_id
        if cid and not CORRELATION_RE.fullmatch(cid):
            status = (
                f"correlation_id exceeds maximum length (max: {MAX_CORRELATION_ID_LENGTH}, "
                f"got: {len(cid.encode())})"
                if len(cid.encode()) > MAX_CORRELATION_ID_LENGTH
                else "correlation_id contains invalid characters (allowed: a-zA-Z0-9_-)"
            )
            problems.append(
                Problem(R["cover-correlation-id"], "cover.correlation_id", _shown(cid), status)
            )
    if pages and not _deferred_root_ok(pages[0]):
        size = len(pages[0].header.angzarr_deferred.source.root.value)
        problems.append(
            Problem(
                R["deferred-source-root"],
                "pages[0].header.angzarr_deferred.source.root",
                f"{size} bytes",
                "deferred source root is not a valid UUID: invalid length: expected 16 bytes, "
                f"found {size}",
            )
        )
    if not pages:
        problems.append(Problem(R["pages-empty"], "pages", "empty", "No command pages"))
    return problems


def _cover_problems(cover: Any, prefix: str) -> list[Problem]:
    """Domain, root and edition, in core's order (parse_*_cover, then extract_*edition)."""
    R = RULES
    problems: list[Problem] = []
    domain = cover.domain
    status = _domain_status(domain)
    if status:
        problems.append(Problem(R[prefix + "cover-domain"], "cover.domain", _shown(domain), status))
    if not cover.HasField("root"):
        problems.append(
            Problem(
                R[prefix + "cover-root-present"],
                "cover.root",
                "missing",
                "Cover must have a root UUID",
            )
        )
    elif len(cover.root.value) != 16:
        size = len(cover.root.value)
        problems.append(
            Problem(
                R[prefix + "cover-root-uuid"],
                "cover.root",
                f"{size} bytes",
                f"Invalid UUID: invalid length: expected 16 bytes, found {size}",
            )
        )
    if cover.HasField("edition"):
        name = cover.edition.name
        status = _edition_status(name)
        if status:
            problems.append(
                Problem(R[prefix + "cover-edition"], "cover.edition.name", _shown(name), status)
            )
        elif len(_GOOD_EDITIONS) < _CACHE_LIMIT:
            _GOOD_EDITIONS.add(name)
    return problems


def _domain_status(domain: str) -> str:
    """core's validate_domain message for ``domain``, or ``""`` when valid."""
    if domain in _GOOD_DOMAINS:
        return ""
    if not domain:
        return "domain name cannot be empty"
    if len(domain.encode()) > 64:
        return f"domain name exceeds maximum length (max: 64, got: {len(domain.encode())})"
    if not DOMAIN_RE.fullmatch(domain):
        if not re.fullmatch(r"[a-z_]", domain[0]):
            return "domain name must start with lowercase letter"
        return "domain name contains invalid characters (allowed: a-z, 0-9, _, -)"
    if len(_GOOD_DOMAINS) < _CACHE_LIMIT:
        _GOOD_DOMAINS.add(domain)
    return ""


def _edition_status(name: str) -> str:
    """core's validate_edition message for ``name``, or ``""`` when valid."""
    if not name or EDITION_RE.fullmatch(name):
        return ""
    if len(name.encode()) > 64:
        return f"edition name exceeds maximum length (max: 64, got: {len(name.encode())})"
    if not re.fullmatch(r"[a-z]", name[0]):
        return "edition name must start with lowercase letter"
    return "edition name contains invalid characters (allowed: a-z, 0-9, _, -)"


def _shown(value: str) -> str:
    """A field value for a message: quoted, cut at 80 characters."""
    if len(value) > 80:
        return safe_repr(value[:77]) + f"... ({len(value)} characters)"
    return safe_repr(value)
