"""The committed generated code is exactly what scripts/genproto.py produces from proto/.

Regenerates into a temporary directory and compares file by file, so an edited .proto without
``make proto`` (or a hand-edited generated file) fails here.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "genproto.py"
COMMITTED = REPO / "angzarr_testkit" / "_generated"
PROTOC_PYTHON_VAR = "ANGZARR_TESTKIT_PROTOC_PYTHON"


def _protoc_python() -> str:
    """An interpreter with grpcio-tools: this one, else the one the environment names."""
    if importlib.util.find_spec("grpc_tools") is not None:
        return sys.executable
    configured = os.environ.get(PROTOC_PYTHON_VAR, "").strip()
    if configured:
        # A configured but broken interpreter is a setup error: fail, never skip.
        assert Path(configured).exists(), f"{PROTOC_PYTHON_VAR}={configured} does not exist"
        return configured
    pytest.skip(
        f"grpc_tools is not installed for {sys.executable}; set {PROTOC_PYTHON_VAR} to an "
        "interpreter that has grpcio-tools (the Makefile does)"
    )


def _tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def _generate(into: Path) -> dict[str, bytes]:
    result = subprocess.run(
        [_protoc_python(), str(SCRIPT), "--quiet", "--out", str(into)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"genproto failed:\n{result.stdout}{result.stderr}"
    return _tree(into)


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return _generate(tmp_path_factory.mktemp("genproto"))


def test_generated_code_matches_proto_sources(regenerated: dict[str, bytes]) -> None:
    committed = _tree(COMMITTED)
    missing = sorted(set(regenerated) - set(committed))
    extra = sorted(set(committed) - set(regenerated))
    changed = sorted(
        rel for rel in set(regenerated) & set(committed) if regenerated[rel] != committed[rel]
    )
    problems = [
        f"{label}: {paths}"
        for label, paths in (
            ("missing from angzarr_testkit/_generated", missing),
            ("stale in angzarr_testkit/_generated", extra),
            ("differ from what proto/ generates", changed),
        )
        if paths
    ]
    assert not problems, (
        "; ".join(problems) + "; run `make proto` (scripts/genproto.py) and commit the result"
    )


def test_expected_modules_are_generated(regenerated: dict[str, bytes]) -> None:
    expected = {
        "__init__.py",
        "angzarr/__init__.py",
        "testkit_examples/__init__.py",
        "testkit_examples/order_fulfillment_pb2.py",
        "testkit_examples/order_fulfillment_pb2.pyi",
    }
    for stem in ("types", "saga", "process_manager", "command_handler"):
        expected |= {f"angzarr/{stem}_pb2.py", f"angzarr/{stem}_pb2.pyi"}
    assert set(regenerated) == expected


def test_regeneration_is_byte_identical(tmp_path: Path, regenerated: dict[str, bytes]) -> None:
    assert _generate(tmp_path / "again") == regenerated


def test_generated_imports_resolve_inside_the_package(regenerated: dict[str, bytes]) -> None:
    for rel, content in regenerated.items():
        text = content.decode("utf-8")
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith(
                (
                    "from angzarr",
                    "import angzarr",
                    "from testkit_examples",
                    "import testkit_examples",
                )
            ):
                assert stripped.startswith(
                    ("from angzarr_testkit._generated.", "import angzarr_testkit._generated.")
                ), f"{rel}: import escapes the package: {stripped}"
        if rel.endswith("_pb2.py"):
            # grpcio-tools 1.71.2's protoc targets the 5.29.0 runtime (the floor we support).
            assert "# Protobuf Python Version: 5.29.0\n" in text, rel
            assert "BuildTopDescriptorsAndMessages(DESCRIPTOR, 'angzarr_testkit._generated." in text
            assert "_grpc" not in rel
