"""The suite's global timeout (pyproject.toml, pytest-timeout): configured, and a hang fails
with the hung test's name while the rest of its run goes on."""

from __future__ import annotations

import subprocess
import sys

import pytest

HUNG = """
import time

def test_hangs():
    time.sleep(60)

def test_after_the_hang():
    assert True
"""


def test_every_test_has_a_timeout(request: pytest.FixtureRequest) -> None:
    assert request.config.pluginmanager.hasplugin("timeout")
    assert float(request.config.getini("timeout")) >= 600
    assert request.config.getini("timeout_method") == "signal"


@pytest.mark.timeout(120)
def test_a_hang_fails_by_name_and_the_suite_goes_on(tmp_path) -> None:
    (tmp_path / "test_hung.py").write_text(HUNG)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "timeout=2",
         "-o", "timeout_method=signal", "test_hung.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=100)
    assert done.returncode == 1, done.stdout[-2000:]
    assert "FAILED test_hung.py::test_hangs - Failed: Timeout" in done.stdout
    assert "1 failed, 1 passed" in done.stdout
