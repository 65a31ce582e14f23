"""Deterministic identities for tests.

``uuid_for(name)`` is uuid5 of ``name`` under :data:`TEST_NAMESPACE`, the same namespace
``angzarr_client.testing.uuid_for`` uses, so ids built with the kit and with the SDK agree.
"""

from __future__ import annotations

import uuid

__all__ = ["TEST_NAMESPACE", "uuid_for", "uuid_str_for", "root_str"]

#: Namespace of every deterministic test id (shared with angzarr_client.testing).
TEST_NAMESPACE = uuid.UUID("a1b2c3d4-e5f6-7890-abcd-ef1234567890")


def _checked_args(name: object, namespace: object) -> tuple[str, uuid.UUID]:
    from .errors import InvalidArgumentError
    from .validate import check_str, checked, recast, usage_error

    checked(InvalidArgumentError, check_str, name, "name")
    if not isinstance(namespace, uuid.UUID):
        raise recast(
            usage_error("namespace", namespace, "a uuid.UUID", type_error=True),
            InvalidArgumentError,
        )
    return name, namespace  # type: ignore[return-value]


def uuid_for(name: str, namespace: uuid.UUID = TEST_NAMESPACE) -> bytes:
    """Return the 16 bytes of ``uuid5(namespace, name)``: a stable aggregate root for ``name``.

    Raises:
        InvalidArgumentError: ``name`` is not a ``str`` or ``namespace`` not a ``uuid.UUID``
            (also a ``TypeError``).
    """
    if not (isinstance(name, str) and isinstance(namespace, uuid.UUID)):
        name, namespace = _checked_args(name, namespace)
    return uuid.uuid5(namespace, name).bytes


def uuid_str_for(name: str, namespace: uuid.UUID = TEST_NAMESPACE) -> str:
    """Return ``uuid_for(name)`` in the canonical 8-4-4-4-12 text form."""
    return str(uuid.UUID(bytes=uuid_for(name, namespace)))


def root_str(root: bytes) -> str:
    """Render root bytes for reports: the UUID text when 16 bytes, else hex with the length
    (anything else is shown by its repr: this renders reports and never raises)."""
    if not isinstance(root, (bytes, bytearray, memoryview)):
        from .errors import safe_repr

        return f"<not bytes: {safe_repr(root, 60)}>"
    if len(root) == 16:
        return str(uuid.UUID(bytes=bytes(root)))
    return f"<{len(root)} bytes: {bytes(root).hex()}>"
