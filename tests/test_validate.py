"""The argument checks every public entry point uses (angzarr_testkit/validate.py)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from angzarr_testkit import UsageError, UsageTypeError, UserCodeError
from angzarr_testkit.errors import describe_exception, safe_repr
from angzarr_testkit.validate import (
    DOMAIN_RE,
    UINT32_MAX,
    call_user,
    check_bool,
    check_callable,
    check_choice,
    check_domain,
    check_int,
    check_names,
    check_probability,
    check_root,
    check_uint32,
)


def test_usage_errors_are_value_and_type_errors():
    assert issubclass(UsageError, ValueError)
    assert issubclass(UsageTypeError, TypeError) and issubclass(UsageTypeError, UsageError)


@pytest.mark.parametrize(
    ("check", "value", "kind"),
    [
        (check_uint32, -1, UsageError),
        (check_uint32, UINT32_MAX + 1, UsageError),
        (check_uint32, True, UsageTypeError),
        (check_uint32, 1.0, UsageTypeError),
        (check_uint32, None, UsageTypeError),
        (check_probability, 1.5, UsageError),
        (check_probability, -0.1, UsageError),
        (check_probability, math.nan, UsageError),
        (check_probability, "0.5", UsageTypeError),
        (check_bool, 1, UsageTypeError),
        (check_domain, "Inventory", UsageError),
        (check_domain, "", UsageError),
        (check_domain, b"inventory", UsageTypeError),
        (check_root, b"12345678", UsageError),
        (check_root, "a" * 16, UsageTypeError),
    ],
)
def test_bad_values_name_the_parameter_and_the_value(check, value, kind):
    with pytest.raises(kind) as info:
        check(value, "the_param")
    message = str(info.value)
    assert message.startswith("the_param: got ")
    assert "expected" in message
    assert info.value.details["parameter"] == "the_param"


def test_good_values_come_back_normalised():
    assert check_uint32(UINT32_MAX, "p") == UINT32_MAX
    assert check_probability(1, "p") == 1.0
    assert check_root(bytearray(16), "p") == bytes(16)
    assert check_domain("order_fulfillment-2", "p") == "order_fulfillment-2"
    assert check_choice("strict", "merge", ["strict", "commutative"]) == "strict"
    assert check_int(-5, "p", minimum=None) == -5


def test_a_lone_string_is_never_iterated_as_names():
    with pytest.raises(UsageTypeError, match=r"output_domains=\['inventory'\]"):
        check_names("inventory", "output_domains", item=check_domain)
    for bad in (None, 3, {"a": 1}):
        with pytest.raises(UsageTypeError, match="output_domains"):
            check_names(bad, "output_domains")
    with pytest.raises(UsageError, match=r"output_domains\[1\]"):
        check_names(["inventory", "Bad"], "output_domains", item=check_domain)
    assert check_names(("a", "b"), "p") == ["a", "b"]


def test_callables_are_checked_for_arity():
    check_callable(lambda rng, i: None, "event_source", arity=2)
    check_callable(lambda *args: None, "event_source", arity=2)
    with pytest.raises(UsageTypeError, match="event_source.*fn\\(rng, i\\)"):
        check_callable(lambda rng: None, "event_source", arity=2, signature="fn(rng, i)")
    with pytest.raises(UsageTypeError, match="setup"):
        check_callable(42, "setup", arity=1)


def test_user_code_that_raises_is_named_and_chained():
    def broken_setup(harness):
        raise RuntimeError("no database")

    with pytest.raises(UserCodeError, match="setup .*broken_setup raised RuntimeError") as info:
        call_user("setup", broken_setup, object())
    assert isinstance(info.value.__cause__, RuntimeError)

    def exits(_):
        raise SystemExit(3)

    with pytest.raises(UserCodeError, match="SystemExit"):
        call_user("setup", exits, None)


def test_exceptions_and_values_whose_dunder_methods_raise_are_still_described():
    class Nasty(Exception):
        def __str__(self):
            raise RuntimeError("boom")

    class Opaque:
        def __repr__(self):
            raise RuntimeError("boom")

    assert describe_exception(Nasty()) == "Nasty: <its __str__ raised>"
    assert "Opaque" in safe_repr(Opaque())
    with pytest.raises(UsageTypeError, match="Opaque"):
        check_uint32(Opaque(), "p")


@given(
    st.one_of(
        st.none(), st.integers(), st.floats(), st.text(), st.binary(), st.lists(st.integers())
    )
)
def test_checks_raise_only_usage_errors_on_any_value(value):
    accepted = {
        check_uint32: lambda r: type(r) is int and 0 <= r <= 2**32 - 1,
        check_probability: lambda r: isinstance(r, float) and 0.0 <= r <= 1.0,
        check_domain: lambda r: isinstance(r, str) and DOMAIN_RE.fullmatch(r) is not None,
        check_root: lambda r: isinstance(r, bytes) and len(r) == 16,
        check_bool: lambda r: type(r) is bool,
    }
    for check, holds in accepted.items():
        try:
            result = check(value, "p")
        except UsageError:
            continue
        assert holds(result), (check.__name__, value, result)
