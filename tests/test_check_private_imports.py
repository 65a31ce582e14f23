"""scripts/check_private_imports.py (run by ``make lint``) on tiny fake packages: it fails on
a private name crossing modules or an oversized module, naming file, line and name, and passes
on a package that keeps its privates to itself."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

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
