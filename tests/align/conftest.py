"""Fixtures for the alignment tests: the real T5 vocabulary and the paper's 52 Codex samples."""

from __future__ import annotations

import pytest

from t5spec.align.aligner import AlignConfig, Aligner
from t5spec.align.paper_release import load_codex_samples
from t5spec.align.vocab import T5Vocab
from t5spec.paths import t5_vocab_path
from t5spec.teacher.record import TeacherSample


@pytest.fixture(scope="session")
def vocab(data_dir) -> T5Vocab:
    return T5Vocab(t5_vocab_path(data_dir))


@pytest.fixture(scope="session")
def codex_samples(data_dir) -> list[TeacherSample]:
    return load_codex_samples(data_dir)


@pytest.fixture(scope="session")
def paper_aligner(vocab) -> Aligner:
    return Aligner(vocab, AlignConfig(paper_compat=True))


@pytest.fixture(scope="session")
def default_aligner(vocab) -> Aligner:
    return Aligner(vocab, AlignConfig())
