"""Deterministic ids."""

from __future__ import annotations

import uuid

import pytest

from angzarr_testkit import wire
from angzarr_testkit.errors import InvalidArgumentError
from angzarr_testkit.ids import TEST_NAMESPACE, root_str, uuid_for, uuid_str_for


def test_uuid_for_is_uuid5_under_documented_namespace():
    assert uuid_for("sku-1") == uuid.uuid5(TEST_NAMESPACE, "sku-1").bytes
    assert len(uuid_for("x")) == 16
    assert uuid_for("a") != uuid_for("b")
    assert uuid_str_for("a") == str(uuid.UUID(bytes=uuid_for("a")))


def test_root_str():
    assert root_str(uuid_for("a")) == uuid_str_for("a")
    assert root_str(b"\x01\x02") == "<2 bytes: 0102>"


def test_uuid_for_rejects_non_str():
    with pytest.raises(InvalidArgumentError, match="str"):
        uuid_for(b"abc")  # type: ignore[arg-type]


@pytest.mark.skipif(wire.MODE != "angzarr_client", reason="needs angzarr_client wire mode")
def test_matches_angzarr_client_testing_uuid_for():
    from angzarr_client.testing import uuid_for as client_uuid_for

    for name in ["sku-1", "order-1", "", "ünïcode", "player-alice"]:
        assert uuid_for(name) == client_uuid_for(name)
