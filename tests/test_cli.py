"""The angzarr-testkit command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from angzarr_testkit import __version__
from angzarr_testkit.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"angzarr-testkit {__version__}"


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "usage: angzarr-testkit" in out and "demo" in out


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "usage: angzarr-testkit" in capsys.readouterr().out


def test_demo_reports_double_apply_and_clean_deferred(capsys):
    assert main(["demo", "--redeliveries", "2"]) == 0
    out = capsys.readouterr().out
    assert "[double-apply]" in out
    assert "outcomes over 3 deliveries: ['applied', 'deduped', 'deduped']" in out
    assert "oracle: none" in out


def test_bad_option_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["demo", "--redeliveries", "0"])
    assert info.value.code == 2
    assert "--redeliveries must be at least 1" in capsys.readouterr().err


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("angzarr-testkit")
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert __version__ in result.stdout
