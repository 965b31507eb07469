"""Running a real ``t5spec`` command and SIGKILLing its whole process group at a chosen moment
(the lab's kill-and-resume tests)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def run_until_then_kill(argv: list[str], ready: Callable[[], Any], out: Path,
                        timeout_s: float = 1500, what: str = "nothing to kill at") -> Any:
    """Runs ``t5spec *argv`` in its own process group (output to ``out``); SIGKILLs the group
    once ``ready()`` returns something truthy, and returns it; AssertionError when the lab
    exits first (with its output's tail) or ``timeout_s`` passes (naming ``what``)."""
    with out.open("wb") as f:
        proc = subprocess.Popen([sys.executable, "-m", "t5spec.cli", *argv], cwd=REPO,
                                start_new_session=True, stdout=f, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = out.read_text(errors="replace")[-3000:]
                raise AssertionError(f"the lab exited ({proc.returncode}) before the kill:\n{tail}")
            if found := ready():
                return found
            time.sleep(0.1)
        raise AssertionError(f"{what} after {timeout_s} s")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
