"""The seams ``make lint`` enforces. scripts/check_private_imports.py on tiny fake packages: it
fails on a private name crossing modules or an oversized module, naming file, line and name,
and passes on a package that keeps its privates to itself. The import contracts of
pyproject.toml (lint-imports) on a copy of the kit: kept as it is, broken by an upward import
that makes a cycle."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "check_private_imports.py"


def write_package(root: Path, files: dict[str, str]) -> Path:
    package = root / "fakekit"
    for name, text in {"__init__.py": "", **files}.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return package


def run_check(package: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--package", str(package)],
        capture_output=True,
        text=True,
        timeout=60,
    )


OWNER = """\
    class Harness:
        def _handle(self):
            return 1


    def _secret():
        return 2
"""


def test_a_private_import_from_another_module_fails_naming_file_line_and_name(tmp_path):
    package = write_package(
        tmp_path,
        {
            "owner.py": OWNER,
            "user.py": """\
                from __future__ import annotations

                from .owner import Harness, _secret
            """,
        },
    )
    result = run_check(package)
    assert result.returncode == 1, result.stdout
    assert f"{package / 'user.py'}:3: imports private name _secret from fakekit.owner" in (
        result.stdout
    )
    assert "Harness" not in result.stdout


def test_private_attributes_of_imported_modules_and_foreign_objects_fail(tmp_path):
    package = write_package(
        tmp_path,
        {
            "owner.py": OWNER,
            "sub/__init__.py": "",
            "sub/driver.py": """\
                from fakekit import owner


                def drive(h):
                    owner._secret()
                    return h._handle()
            """,
        },
    )
    result = run_check(package)
    assert result.returncode == 1
    driver = package / "sub" / "driver.py"
    assert f"{driver}:5: reads private name _secret of fakekit.owner" in result.stdout
    assert f"{driver}:6: reads private name _handle (h._handle)" in result.stdout


def test_a_module_over_500_lines_fails_naming_it(tmp_path):
    package = write_package(tmp_path, {"long.py": "x = 1\n" * 501})
    result = run_check(package)
    assert result.returncode == 1
    assert f"{package / 'long.py'}:501: 501 lines, over the 500-line limit" in result.stdout


def test_a_package_that_keeps_its_privates_to_itself_passes(tmp_path):
    package = write_package(
        tmp_path,
        {
            "owner.py": OWNER,
            "_private_module.py": "VALUE = 1\n",
            "version.py": '__version__ = "1"\n',
            "user.py": """\
                from . import _private_module
                from .owner import Harness
                from .version import __version__


                class Sub(Harness):
                    __slots__ = ("_slot",)

                    def _handle(self):
                        self._slot = __version__
                        return super()._handle() + self._other()

                    def _other(self):
                        return _private_module.VALUE


                def peer(other: Sub) -> int:
                    return other._other()  # defined here: this module's own private
            """,
            "lines.py": "x = 1\n" * 500,
        },
    )
    result = run_check(package)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_the_kit_itself_passes():
    result = run_check(REPO / "angzarr_testkit")
    assert result.returncode == 0, result.stdout + result.stderr


LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def run_contracts(tmp_path: Path, extra_import: str | None) -> subprocess.CompletedProcess[str]:
    """The repo's import contracts (pyproject.toml) on a copy of the kit, with one import
    added to framework/encode.py (the bottom of framework/)."""
    shutil.copytree(
        REPO / "angzarr_testkit",
        tmp_path / "angzarr_testkit",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    if extra_import is not None:
        encode = tmp_path / "angzarr_testkit" / "framework" / "encode.py"
        encode.write_text(encode.read_text() + f"\n{extra_import}\n")
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )


needs_import_linter = pytest.mark.skipif(
    not LINT_IMPORTS.exists(), reason="import-linter (the dev extra) is not installed"
)


@needs_import_linter
def test_the_import_contracts_hold_on_the_kit(tmp_path):
    result = run_contracts(tmp_path, None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@needs_import_linter
def test_an_upward_import_that_makes_a_cycle_breaks_the_layers_and_the_acyclic_contract(
    tmp_path,
):
    result = run_contracts(tmp_path, "from ..simulate import bus  # noqa: E402,F401")
    assert result.returncode != 0
    out = " ".join(result.stdout.split())
    assert "The kit's layers import only downwards BROKEN" in out
    assert "No import cycles between sibling modules or packages, at any depth BROKEN" in out
    assert "angzarr_testkit.framework is not allowed to import angzarr_testkit.simulate" in out
