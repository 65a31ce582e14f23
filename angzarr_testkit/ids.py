"""Deterministic identities for tests.

``uuid_for(name)`` is uuid5 of ``name`` under :data:`TEST_NAMESPACE`, the same namespace
``angzarr_client.testing.uuid_for`` uses, so ids built with the kit and with the SDK agree.
"""

from __future__ import annotations

import uuid

__all__ = ["TEST_NAMESPACE", "uuid_for", "uuid_str_for", "root_str"]

#: Namespace of every deterministic test id (shared with angzarr_client.testing).
TEST_NAMESPACE = uuid.UUID("a1b2c3d4-e5f6-7890-abcd-ef1234567890")


def uuid_for(name: str, namespace: uuid.UUID = TEST_NAMESPACE) -> bytes:
    """Return the 16 bytes of ``uuid5(namespace, name)``: a stable aggregate root for ``name``."""
    if not isinstance(name, str):
        from .errors import InvalidArgumentError

        raise InvalidArgumentError(
            f"uuid_for() takes a str name, got {type(name).__name__}",
            details={"name": repr(name)},
        )
    return uuid.uuid5(namespace, name).bytes


def uuid_str_for(name: str, namespace: uuid.UUID = TEST_NAMESPACE) -> str:
    """Return ``uuid_for(name)`` in the canonical 8-4-4-4-12 text form."""
    return str(uuid.UUID(bytes=uuid_for(name, namespace)))


def root_str(root: bytes) -> str:
    """Render root bytes for reports: the UUID text when 16 bytes, else hex with the length."""
    if len(root) == 16:
        return str(uuid.UUID(bytes=bytes(root)))
    return f"<{len(root)} bytes: {bytes(root).hex()}>"
