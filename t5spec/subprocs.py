"""Waiting for T5X child processes, and stopping one that has finished but not exited.

T5X's ``train`` and ``eval`` log ``Finished.`` once their checkpoints and metrics are written
(``t5x.eval``: after ``all_metrics.result()`` and its list of evaluated checkpoints). What
follows is interpreter teardown, where destroying tf.data iterators takes 1-2 s on idle cores and
15-40 s on a busy 2-core machine (py-spy: ``~IteratorResource`` waiting on a tf.data thread).
:func:`wait` stops a child :data:`TEARDOWN_GRACE_S` after it logged such a line; the lab's
training stages and ``t5spec select`` / ``t5spec eval``'s ``t5x.eval`` go through it.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

T5X_TRAIN_FINISHED = re.compile(r"train\.py:\d+\] Finished\.")
T5X_EVAL_FINISHED = re.compile(r"\beval\.py:\d+\] Finished\.")
TEARDOWN_GRACE_S = 1.0


def logged(log: Path, start: int, pattern: re.Pattern[str]) -> bool:
    """Whether ``log`` matches ``pattern`` from byte offset ``start`` on."""
    with log.open("rb") as f:
        f.seek(start)
        return bool(pattern.search(f.read().decode("utf-8", errors="replace")))


def stop(proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """Terminates ``proc``; kills it if it has not exited ``timeout_s`` later."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait(proc: subprocess.Popen, log: Path, start: int, *,
         finished: re.Pattern[str] | None = None, poll: Callable[[], None] | None = None,
         timeout_s: float | None = None) -> bool:  # fmt: skip
    """Waits for ``proc``, whose output goes to ``log`` from byte offset ``start`` on.

    Returns True when ``proc`` logged ``finished`` and was stopped :data:`TEARDOWN_GRACE_S`
    later (its exit status then means nothing), False when it exited by itself (read
    ``proc.returncode``; noticed as soon as it exits). ``poll`` is called about once a
    second. Past ``timeout_s`` the child is killed and :class:`subprocess.TimeoutExpired`
    raised; an exception from ``poll`` or a KeyboardInterrupt also kills it, then propagates.
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    done_at = None
    try:
        while True:
            try:  # returns as soon as the child exits
                proc.wait(timeout=0.5 if finished else 1.0)
                return False
            except subprocess.TimeoutExpired:
                pass
            if poll:
                poll()
            if finished and done_at is None and logged(log, start, finished):
                done_at = time.monotonic()
            if done_at is not None and time.monotonic() - done_at > TEARDOWN_GRACE_S:
                stop(proc)
                return True
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(proc.args, timeout_s)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
