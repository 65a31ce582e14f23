"""Reading a destination cover: its edition, its label in reports, whether it is valid."""

from __future__ import annotations

from typing import Any

from ..ids import root_str
from ..validate import DOMAIN_RE

__all__ = ["MAIN_EDITIONS", "edition_name", "stream_label", "validate_cover"]

MAIN_EDITIONS = ("", "angzarr")


def edition_name(cover: Any) -> str:
    """The cover's edition with the main timeline normalised to ``""``."""
    name = cover.edition.name if cover.HasField("edition") else ""
    return "" if name in MAIN_EDITIONS else name


def stream_label(domain: str, root: bytes, edition: str = "") -> str:
    """``domain/root`` (with ``@edition`` off the main timeline) for reports."""
    label = f"{domain}/{root_str(root)}"
    return f"{label}@{edition}" if edition else label


_VALID_DOMAINS: set[str] = set()


def validate_cover(cover: Any) -> str | None:
    """Why ``cover`` would be refused with INVALID_ARGUMENT, or ``None`` if it is fine."""
    root = cover.root.value
    if not root:
        return f"root is missing (domain '{cover.domain}')"
    if len(root) != 16:
        return f"root must be a 16-byte UUID, got {len(root)} bytes"
    domain = cover.domain
    if domain not in _VALID_DOMAINS:
        if not DOMAIN_RE.fullmatch(domain):
            return (
                f"domain {domain!r} is not a valid domain name "
                "(lowercase, [a-z_][a-z0-9_-]{0,63})"
            )
        _VALID_DOMAINS.add(domain)
    return None
