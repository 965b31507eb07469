"""What ``t5spec teacher sample`` and ``t5spec teacher score`` share once their requests run:
the asyncio run with its exit statuses, and the final status of a resumable store."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any

from t5spec.errors import EXIT_BAD_INPUT

INTERRUPTED = 130


def run_requests(coroutine: Coroutine[Any, Any, Any], noun: str) -> Any:
    """The coroutine's report, or an exit status: 2 on a fatal teacher error (bad key, unknown
    model: nothing more would succeed), 130 on Ctrl-C (finished ``noun`` are stored)."""
    from t5spec.teacher.client import FatalTeacherError

    try:
        return asyncio.run(coroutine)
    except FatalTeacherError as e:
        print(f"t5spec teacher: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"t5spec teacher: interrupted; finished {noun} are stored, run the same command "
              "to resume", file=sys.stderr)
        return INTERRUPTED


def final_status(report: Any, noun: str, max_retries: int) -> int:
    """1 (naming the first failure) when some ``noun`` failed after every retry, else 0."""
    if report.failed:
        print(f"{report.failed} {noun} failed after {max_retries} retries "
              f"(first: {report.failures[0]}); run again to resume", file=sys.stderr)
        return 1
    return 0
