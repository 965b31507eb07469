"""Fixtures of the training tests: real aligned teacher data and one shared tiny T5X run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VOCAB = "t5_vocab/spiece.model"


@pytest.fixture(scope="session")
def aligned_dir(tmp_path_factory, data_dir) -> Path:
    """The paper's real Codex samples (correct ones), aligned by t5spec.align, as shards."""
    from t5spec.align import paper_release, store
    from t5spec.align.aligner import Aligner
    from t5spec.align.vocab import load_vocab

    samples = [s for s in paper_release.load_codex_samples(data_dir) if s.correct]
    aligned = Aligner(load_vocab(str(data_dir / VOCAB))).align(samples)
    out = tmp_path_factory.mktemp("aligned")
    store.write_shards(aligned, out, records_per_shard=20)
    return out


@pytest.fixture()
def task_gin(aligned_dir, data_dir):
    """Binds the task paths (vocab, aligned shards) for in-process SeqIO tests."""
    import gin

    with gin.unlock_config():
        gin.parse_config(
            "from __gin__ import dynamic_registration\n"
            "from t5spec.tasks import config as task_config\n"
            f"task_config.TaskPaths.vocab_path = '{data_dir / VOCAB}'\n"
            "task_config.TaskPaths.vocab_extra_ids = 100\n"
            f"task_config.TaskPaths.aligned_pattern = '{aligned_dir}/*.tfrecord'\n"
        )
    yield
    gin.clear_config()


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
