"""The README's pytest example runs as written (docs that lie are bugs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _first_python_block() -> str:
    match = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert match, "README has no python example"
    return match.group(1)


def test_readme_example_passes_as_written():
    namespace: dict = {}
    exec(compile(_first_python_block(), "README.md", "exec"), namespace)
    namespace["test_reservation_survives_redelivery"]()


STAMP = "    Destinations.from_proto(request.destination_sequences).stamp_command(cmd, 'inventory')"


def _variant(old: str, new: str, profile: str | None = None) -> dict:
    block = _first_python_block()
    assert old in block
    source = block.replace(old, new)
    if profile is not None:
        source = source.replace(
            'output_domains=["inventory"])', f'output_domains=["inventory"], profile="{profile}")'
        )
    namespace: dict = {}
    exec(compile(source, "README.md", "exec"), namespace)
    return namespace


def test_readme_example_with_stamp_command_fails_as_the_readme_says():
    header_line = "    cmd.pages[0].header.CopyFrom(header)"
    core = _variant(header_line, STAMP)
    with pytest.raises(AssertionError, match=r"missing-destination-sequence[\s\S]*EMPTY map"):
        core["test_reservation_survives_redelivery"]()
    seed = _variant(header_line, STAMP, profile="sequence-map")
    with pytest.raises(AssertionError, match="double-apply"):
        seed["test_reservation_survives_redelivery"]()


def test_readme_example_without_merge_strict_fails_with_sequence_mismatch():
    strict = "    cmd.pages[0].merge_strategy = T.MERGE_STRICT"
    namespace = _variant(strict, "    pass")
    with pytest.raises(
        AssertionError, match=r"sequence-mismatch[\s\S]*command expects 0, aggregate at 5"
    ):
        namespace["test_reservation_survives_redelivery"]()
