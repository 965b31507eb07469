"""Fixtures of the step-by-step tests (the aligned Codex shards and task_gin: tests/conftest.py)."""

from __future__ import annotations

import pytest

VOCAB = "t5_vocab/spiece.model"


@pytest.fixture(scope="session")
def vocabulary(data_dir):
    """The FlanT5 SentencePiece vocabulary (32100 ids) from the shared data."""
    import seqio

    return seqio.SentencePieceVocabulary(str(data_dir / VOCAB), extra_ids=100)


