"""SIGKILL the sampling process at random points 5 times, resume: nothing lost or doubled.

The upstream is the fast stub teacher (100 ms per answer) so that five kills land mid-run in
seconds; the fault-proxy test in test_teacher_real_server.py uses the real model.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from t5spec.teacher.store import read_samples, scan_store, shard_paths

QUESTIONS, SAMPLES = 30, 4


def _lines(out: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in shard_paths(out)) if out.exists() else 0


def _command(url: str, out: Path) -> list[str]:
    return [sys.executable, "-m", "t5spec.cli", "teacher", "sample", f"--base_url={url}",
            "--model=stub-teacher", f"--limit={QUESTIONS}", f"--num_samples={SAMPLES}",
            "--samples_per_request=1", "--concurrency=4", f"--output={out}", "--no_progress",
            "--fsync=interval"]


@pytest.mark.slow  # six process starts (importing the openai SDK dominates)
def test_sigkill_five_times_then_resume(stub_teacher, tmp_path):
    stub = stub_teacher(delay_s=0.1)
    out = tmp_path / "store"
    rng = random.Random(5)
    kills = []
    for round_ in range(5):
        before = _lines(out)
        target = before + rng.randint(1, 15)
        proc = subprocess.Popen(_command(stub.url, out), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while _lines(out) < target and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.3))  # land anywhere: between writes, during requests
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        proc.stderr.close()
        kills.append(_lines(out))
        if round_ == 2:  # what a kill in the middle of a write would leave behind
            with open(shard_paths(out)[-1], "ab") as f:
                f.write(b'{"key": "gsm8k/train/29#3", "question_id": "gsm8k/tr')
        assert proc.returncode == -signal.SIGKILL
    assert all(0 < k < QUESTIONS * SAMPLES for k in kills) and kills == sorted(kills)
    final = subprocess.run(_command(stub.url, out), capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    sessions = [json.loads(line) for line in (out / "sessions.jsonl").read_text().splitlines()]
    assert len(sessions) == 6 and [s["torn_tails_cut"] for s in sessions] == [0, 0, 0, 1, 0, 0]
    keys = scan_store(out).keys  # raises on any duplicate key
    assert keys == {f"gsm8k/train/{q}#{i}" for q in range(QUESTIONS) for i in range(SAMPLES)}
    assert _lines(out) == QUESTIONS * SAMPLES
    assert all(s.valid for s in read_samples(out))
    assert len(list(out.glob("*.torn-*"))) == 1
