"""A real ``python -m t5x.train`` step-by-step run (hybrid loss) on the aligned Codex samples.

gin/flant5_small_sbs.gin shrunk by gin/cpu_tiny.gin (518k parameters, 6 steps, checkpoints 3
and 6) with infer_eval on GSM8K dev in the label-prefix mode. Accuracy of such a model is 0.0;
the point is T5X building the step-by-step SpecializationModel from the gins, training on the
label + rationale mixture, logging the per-task losses and scoring label-prefix answers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
SBS_TAGS = ("sbs/label_loss_per_token", "sbs/rationale_loss_per_token",
            "sbs/kl_per_distribution_token")


def _scalars(event_dir: Path) -> dict[str, dict[int, float]]:
    """The ``sbs/*`` training scalars by tag and step."""
    import tensorflow as tf

    out: dict[str, dict[int, float]] = {}
    for path in event_dir.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for v in (v for v in event.summary.value if v.tag.startswith("sbs/")):
                out.setdefault(v.tag, {})[event.step] = float(tf.make_ndarray(v.tensor))
    return out


def test_t5x_trains_and_evaluates_a_step_by_step_student(tmp_path, repo_root, data_dir,
                                                         aligned_dir):
    run = tmp_path / "sbs_run"
    argv = [
        sys.executable, "-m", "t5x.train",
        "--gin_file=gin/flant5_small_sbs.gin", "--gin_file=gin/cpu_tiny.gin",
        f"--gin.MODEL_DIR='{run}'",
        f"--gin.ALIGNED_DATA='{aligned_dir}/gsm8k_train-*.tfrecord'",
        f"--gin.T5SPEC_VOCAB='{data_dir / 't5_vocab' / 'spiece.model'}'",
        "--gin.EVAL_MIXTURE='t5spec_eval_gsm8k_sbs_label'",
        "--gin.RATIONALE_LOSS='kl'", "--gin.RATIONALE_WEIGHT=0.5",
    ]  # fmt: skip
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run(argv, cwd=repo_root, env=env, capture_output=True, text=True,
                          timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert {p.name for p in run.glob("checkpoint_*")} >= {"checkpoint_3", "checkpoint_6"}
    assert "LOSS_OBJECTIVE = 'stepbystep'" in (run / "config.gin").read_text()
    scalars = _scalars(run / "train")
    for tag in SBS_TAGS:
        assert set(scalars[tag]) == {3, 6} and all(v > 0 for v in scalars[tag].values()), tag
    assert 0 < scalars["sbs/label_token_fraction"][6] < 0.5
    lines = [json.loads(x) for x in
             (run / "inference_eval" / "results.jsonl").read_text().splitlines()]
    assert {(r["column"], r["step"], r["num_examples"]) for r in lines} == {
        ("gsm8k/sbs_label", 3, 4), ("gsm8k/sbs_label", 6, 4)}
    preds = (run / "inference_eval" / "predictions").glob("t5spec_eval_gsm8k_sbs_label-*.jsonl")
    first = json.loads(next(iter(sorted(preds))).read_text().splitlines()[0])
    assert first["input"].startswith("[label] ")
