"""Real T5X runs on CPU: train + infer_eval, kill -9 and resume, an 8-device mesh, bad input."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def _scalars(model_dir: Path) -> dict[str, dict[int, float]]:
    import tensorflow as tf

    out: dict[str, dict[int, float]] = {}
    for path in (model_dir / "train").glob("events.out.tfevents*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for v in event.summary.value:
                value = tf.make_ndarray(v.tensor)
                if value.dtype.kind == "f":  # skip the text summary of the gin config
                    out.setdefault(v.tag, {})[event.step] = float(value)
    return out


def test_tiny_run_trains_checkpoints_and_evaluates(tiny_run):
    assert (tiny_run / "checkpoint_3").is_dir() and (tiny_run / "checkpoint_6").is_dir()
    scalars = _scalars(tiny_run)
    for tag in ("loss", "spec/kl_per_distribution_token", "spec/ce_per_target_token",
                "spec/teacher_mass_covered", "spec/distribution_fraction",
                "spec/loss_per_token/zero_shot_cot"):
        values = scalars[tag]
        assert set(values) == {3, 6} and all(np.isfinite(list(values.values()))), tag
    assert 5.0 < scalars["spec/kl_per_distribution_token"][6] < 12.0  # ~ln(32128) at init
    assert 0.5 < scalars["spec/teacher_mass_covered"][6] <= 1.0 + 1e-6
    assert 0.0 < scalars["spec/distribution_fraction"][6] < 1.0
    results = [json.loads(line) for line in
               (tiny_run / "inference_eval" / "results.jsonl").read_text().splitlines()]
    assert {r["step"] for r in results} == {3, 6}
    for r in results:
        assert r["task"] == "t5spec_eval_gsm8k_zs_cot" and r["num_examples"] == 4
        assert 0.0 <= r["metrics"]["accuracy"] <= 1.0
    # the operative gin config is written next to the checkpoints
    assert "MODEL = @spec_models.SpecializationModel()" in (tiny_run / "config.gin").read_text()


def _params(checkpoint: Path) -> dict[str, np.ndarray]:
    import jax
    import orbax.checkpoint as ocp

    state = ocp.PyTreeCheckpointer().restore(str(checkpoint / "state"))  # target + optimizer

    flat = jax.tree_util.tree_flatten_with_path(state)[0]
    return {jax.tree_util.keystr(k): np.asarray(v) for k, v in flat}


def _done_steps(model_dir: Path) -> set[int]:
    return {int(m.group(1)) for p in model_dir.glob("checkpoint_*")
            if (m := re.fullmatch(r"checkpoint_(\d+)", p.name))}


def test_kill_9_three_times_then_resume_equals_uninterrupted(tiny_run, aligned_dir, data_dir,
                                                             tmp_path, t5x_cli):
    """Every step is checkpointed; kill -9 after random checkpoints; restart the same command.

    Tolerance: exact equality. CPU XLA runs the same compiled program on the same restored
    float32 parameters, optimizer state and (checkpointed) data-iterator position, and the
    tiny model has no dropout, so nothing may differ by even one bit.
    """
    train_command, train_env, repo, _ = t5x_cli
    model_dir = tmp_path / "killed"
    cmd = train_command(model_dir, aligned_dir, data_dir, "--gin.CHECKPOINT_PERIOD=1",
                        "--gin.EVAL_PERIOD=6",
                        "--gin.utils.SaveCheckpointConfig.save_dataset=True")
    rng = random.Random(1234)
    kill_after = sorted(rng.sample(range(1, 6), 3))
    kills = []
    for target in kill_after:
        proc = subprocess.Popen(cmd, cwd=repo, env=train_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 600
        while time.time() < deadline and proc.poll() is None:
            if max(_done_steps(model_dir), default=-1) >= target:
                time.sleep(rng.uniform(0.0, 1.0))
                break
            time.sleep(0.2)
        assert proc.poll() is None, "training ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        kills.append(max(_done_steps(model_dir)))
    final = subprocess.run(cmd, cwd=repo, env=train_env(), capture_output=True, text=True,
                           timeout=900)
    assert final.returncode == 0, final.stderr[-3000:]
    assert len(set(kills)) >= 2, kills  # the kills happened at different steps
    ours, ref = _params(model_dir / "checkpoint_6"), _params(tiny_run / "checkpoint_6")
    assert ours.keys() == ref.keys()
    for name in ref:
        np.testing.assert_array_equal(ours[name], ref[name], err_msg=name)


def test_data4_model2_mesh_matches_one_device(data_dir, t5x_cli):
    _, train_env, repo, vocab = t5x_cli
    env = train_env()
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("_mesh_check.py")), str(data_dir / vocab)],
        cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = re.search(r"MESH (\d+)x(\d+) single=(\S+) sharded=(\S+) gather_sharded=(\S+) "
                  r"grad_diff=(\S+) model_sharded=(\d+)", proc.stdout)
    assert m, proc.stdout
    assert (m.group(1), m.group(2)) == ("4", "2")
    assert int(m.group(7)) > 0  # some parameters really are split over the model axis
    single, sharded, gathered = (float(m.group(i)) for i in (3, 4, 5))
    assert abs(sharded - single) <= 1e-5 * abs(single)
    # the gather embedding (vocabulary rows split over 'model') computes the same loss and grads
    assert abs(gathered - single) <= 1e-5 * abs(single)
    assert float(m.group(6)) <= 1e-5


def test_unknown_mixture_fails_before_compiling(aligned_dir, data_dir, tmp_path, t5x_cli):
    train_command, train_env, repo, _ = t5x_cli
    cmd = train_command(tmp_path / "bad", aligned_dir, data_dir,
                        "--gin.MIXTURE_OR_TASK_NAME='t5spec_gsm8k_no_such_mixture'")
    proc = subprocess.run(cmd, cwd=repo, env=train_env(), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode != 0
    assert "t5spec_gsm8k_no_such_mixture" in proc.stderr
    assert "No Task or Mixture found" in proc.stderr
    assert "Compiling" not in proc.stderr  # failed at data setup, before any jit
