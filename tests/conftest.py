"""Test-wide setup: where the shared raw data lives, offline tiktoken, children's temp files.

Tests read the data from ``../shared/data`` beside the checkout (as CI lays it out) unless
``$T5SPEC_DATA_DIR`` already points elsewhere. Nothing here is a default for users.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("T5SPEC_DATA_DIR") or REPO.parent / "shared" / "data")
os.environ["T5SPEC_DATA_DIR"] = str(SHARED_DATA)
os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(SHARED_DATA / "tiktoken" / "cache"))
# TensorFlow (imported by SeqIO) must never grab an accelerator in tests.
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
# Nor JAX: with the `tpu` extra (libtpu) installed, an unset JAX_PLATFORMS makes every JAX
# start-up probe for TPU hardware (~0.5 s and libtpu errors on stderr); tests run on the CPU.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session", autouse=True)
def _children_tmpdir(tmp_path_factory):
    """Child processes keep their temporary files in this session's pytest folder, not the
    machine's: TensorFlow autograph writes a ``__autograph_generated_file*.py`` for each
    tf.data function a T5X process traces and removes it at exit, which a process killed on
    purpose (the SIGKILL-and-resume tests) never reaches — 78 files in /tmp from
    ``test_kill_9_three_times_then_resume_equals_uninterrupted`` alone."""
    path = tmp_path_factory.mktemp("children_tmp")  # pytest's own folder is already chosen
    before = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(path)
    yield
    if before is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = before


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The raw-data root (layout of shared/data)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared data not found at {SHARED_DATA}: put shared/ beside the checkout")
    return SHARED_DATA


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


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
