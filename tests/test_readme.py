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


def test_readme_example_with_stamp_command_fails_with_double_apply():
    source = _first_python_block().replace(
        "    cmd.pages[0].header.CopyFrom(header)",
        "    Destinations.from_proto(request.destination_sequences)"
        ".stamp_command(cmd, 'inventory')",
    )
    namespace: dict = {}
    exec(compile(source, "README.md", "exec"), namespace)
    with pytest.raises(AssertionError, match="double-apply"):
        namespace["test_reservation_survives_redelivery"]()
