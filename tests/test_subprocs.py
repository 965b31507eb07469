"""t5spec.subprocs: a T5X child stuck in teardown after its finish line is stopped; one that
exits by itself keeps its exit status; a timeout kills it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from t5spec import subprocs


def _start(code: str, log: Path) -> tuple[subprocess.Popen, int]:
    out = log.open("a", encoding="utf-8")
    out.write("$ header\n")
    out.flush()
    return subprocess.Popen([sys.executable, "-c", code], stdout=out), out.tell()


def test_a_finished_eval_in_teardown_is_stopped(tmp_path: Path) -> None:
    log = tmp_path / "t5x_eval.log"
    proc, start = _start("import time; print('I1207 11:33:08.192601 1 eval.py:397] Finished.',"
                         " flush=True); time.sleep(60)", log)
    t0 = time.monotonic()
    assert subprocs.wait(proc, log, start, finished=subprocs.T5X_EVAL_FINISHED)
    assert time.monotonic() - t0 < 30 and proc.poll() is not None


def test_a_child_that_exits_keeps_its_status(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    proc, start = _start("print('train.py:588] Finished.'); raise SystemExit(3)", log)
    assert not subprocs.wait(proc, log, start, finished=subprocs.T5X_EVAL_FINISHED)
    assert proc.returncode == 3


def test_the_patterns_tell_train_from_eval() -> None:
    train, evaluation = "I1 1 train.py:588] Finished.", "I1 1 eval.py:397] Finished."
    assert subprocs.T5X_TRAIN_FINISHED.search(train)
    assert not subprocs.T5X_TRAIN_FINISHED.search(evaluation)
    assert subprocs.T5X_EVAL_FINISHED.search(evaluation)
    assert not subprocs.T5X_EVAL_FINISHED.search(train)
    assert not subprocs.T5X_EVAL_FINISHED.search("I1 1 eval.py:397] Finished computing")


def test_a_timeout_kills_the_child(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    proc, start = _start("import time; time.sleep(60)", log)
    with pytest.raises(subprocess.TimeoutExpired):
        subprocs.wait(proc, log, start, timeout_s=0.5)
    assert proc.poll() is not None
