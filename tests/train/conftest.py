"""Fixtures of the training tests: real aligned teacher data and one shared tiny T5X run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VOCAB = "t5_vocab/spiece.model"


def train_command(model_dir: Path, aligned_dir: Path, data_dir: Path, *extra: str) -> list[str]:
    """``python -m t5x.train`` with the XL run gin shrunk by gin/cpu_tiny.gin."""
    return [
        sys.executable, "-m", "t5x.train",
        "--gin_file=gin/flant5_xl_spec.gin", "--gin_file=gin/cpu_tiny.gin",
        f"--gin.MODEL_DIR='{model_dir}'",
        f"--gin.ALIGNED_DATA='{aligned_dir}/gsm8k_train-*.tfrecord'",
        f"--gin.T5SPEC_VOCAB='{data_dir / VOCAB}'",
        *extra,
    ]


def train_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("JAX_PLATFORMS", "cpu")
    env.pop("XLA_FLAGS", None)
    return env


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, aligned_dir, data_dir) -> Path:
    """One uninterrupted tiny run (6 steps, checkpoints 3 and 6, infer_eval), shared."""
    model_dir = tmp_path_factory.mktemp("tiny_run")
    cmd = train_command(model_dir, aligned_dir, data_dir,
                        "--gin.utils.SaveCheckpointConfig.save_dataset=True")
    proc = subprocess.run(cmd, cwd=REPO, env=train_env(), capture_output=True, text=True,
                          timeout=900)
    (model_dir / "train.log").write_text(proc.stderr)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return model_dir


@pytest.fixture(scope="session")
def t5x_cli():
    """(train_command, train_env, repo root, vocab relative path) for subprocess tests."""
    return train_command, train_env, REPO, VOCAB
