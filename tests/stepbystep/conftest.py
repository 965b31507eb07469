"""Fixtures of the step-by-step tests: the paper's real Codex samples, aligned, as shards."""

from __future__ import annotations

from pathlib import Path

import pytest

VOCAB = "t5_vocab/spiece.model"


@pytest.fixture(scope="session")
def sbs_aligned_dir(tmp_path_factory, data_dir) -> Path:
    """The correct Codex samples of paper_release, aligned by t5spec.align, in 3 shards."""
    from t5spec.align import paper_release, store
    from t5spec.align.aligner import Aligner
    from t5spec.align.vocab import load_vocab

    samples = [s for s in paper_release.load_codex_samples(data_dir) if s.correct]
    aligned = Aligner(load_vocab(str(data_dir / VOCAB))).align(samples)
    out = tmp_path_factory.mktemp("sbs_aligned")
    store.write_shards(aligned, out, records_per_shard=20)
    return out


@pytest.fixture(scope="session")
def vocabulary(data_dir):
    """The FlanT5 SentencePiece vocabulary (32100 ids) from the shared data."""
    import seqio

    return seqio.SentencePieceVocabulary(str(data_dir / VOCAB), extra_ids=100)


@pytest.fixture()
def sbs_gin(sbs_aligned_dir, data_dir):
    """Binds the task paths (vocab, aligned shards) for in-process SeqIO tests."""
    import gin

    with gin.unlock_config():
        gin.parse_config(
            "from __gin__ import dynamic_registration\n"
            "from t5spec.tasks import config as task_config\n"
            f"task_config.TaskPaths.vocab_path = '{data_dir / VOCAB}'\n"
            "task_config.TaskPaths.vocab_extra_ids = 100\n"
            f"task_config.TaskPaths.aligned_pattern = '{sbs_aligned_dir}/*.tfrecord'\n"
        )
    yield
    gin.clear_config()
