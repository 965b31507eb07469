"""Properties of the transferred rows on random teacher samples over real tokenizers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from t5spec.align.aligner import Aligner
from t5spec.align.teacher_tokens import retokenize
from t5spec.teacher.record import TeacherSample

WORDS = ["Natalia", "sold", "48", "clips", "in", "May", "/", "2", "=", "24", ".", "\n", "$",
         "The", "answer", "is", "72", "half", "x", "she", "12", "hours"]
ALTS = [" the", "The", " 48", "\n", " ", "<|endoftext|>", " sold", "s", "ale", " clips", ".",
        " May", "bytes: \\xc3", "12", " $"]
settings_ = settings(max_examples=40, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def teacher_samples(draw, paper: bool):
    words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=25)
                 .filter(lambda ws: any(w != "\n" for w in ws)))
    body = " ".join(words).replace(" \n ", "\n")
    tokens = list(retokenize(body))
    if paper:
        tokens = [" step", "\n", *tokens, "\n", "\n"]
    top, sampled = [], []
    for tok in tokens:
        alts = draw(st.lists(st.sampled_from(ALTS), max_size=6, unique=True))
        names = [tok] + [a for a in alts if a != tok]  # a proper distribution over names + rest
        mass = draw(st.floats(0.05, 1.0))
        weights = np.asarray(draw(st.lists(st.floats(0.01, 1.0), min_size=len(names) + 1,
                                           max_size=len(names) + 1)))
        p = mass * weights / weights.sum()
        # The API may omit the sampled token from the top-k, and order it anywhere.
        listed = range(0 if draw(st.booleans()) else 1, len(names))
        order = draw(st.permutations(listed))
        top.append([(names[i], math.log(p[i])) for i in order])
        sampled.append(draw(st.sampled_from([None, math.log(p[0])])))
    return TeacherSample(
        question_id="gsm8k/train/1", sample_index=0, prompt_id="p", question="q", gold="1",
        text="".join(tokens), tokens=tuple(tokens), top_logprobs=tuple(top),
        token_logprobs=tuple(sampled), correct=True,
    )


def _check_rows(out, vocab):
    assert out.teacher_ids.shape == out.teacher_probs.shape == (out.length, 5)
    assert ((out.teacher_ids >= 0) & (out.teacher_ids < vocab.size + 100)).all()
    one_hot = out.teacher_mask == 0
    assert (out.teacher_ids[one_hot, 0] == out.targets[one_hot]).all()
    assert (out.teacher_probs[one_hot, 0] == 1.0).all()
    assert (out.teacher_probs[one_hot, 1:] == 0).all()
    assert (out.teacher_probs >= 0).all()


@settings_
@given(teacher_samples(paper=True))
def test_paper_compat_rows_sum_at_most_one(paper_aligner, vocab, sample):
    (out,) = paper_aligner.align([sample])
    _check_rows(out, vocab)
    assert (out.teacher_probs.sum(axis=1) <= 1 + 1e-6).all()


@settings_
@given(teacher_samples(paper=False))
def test_default_rows_sum_to_one(default_aligner, vocab, sample):
    (out,) = default_aligner.align([sample])
    _check_rows(out, vocab)
    np.testing.assert_allclose(out.teacher_probs.sum(axis=1), 1.0, atol=1e-6)
    rows = out.teacher_probs[out.teacher_mask == 1]
    assert (np.diff(rows, axis=1) <= 1e-7).all()  # sorted, most probable first


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from([w for w in WORDS if w != "\n"]), min_size=1, max_size=30))
def test_identical_tokenization_is_covered_everywhere(default_aligner, vocab, words):
    ids, pieces = vocab.encode(" ".join(words))
    tokens = tuple(p.replace("▁", " ") for p in pieces)
    sample = TeacherSample(
        question_id="q", sample_index=0, prompt_id="p", question="q", gold="", text="".join(tokens),
        tokens=tokens, top_logprobs=tuple([(t, -0.1)] for t in tokens), correct=True,
    )
    (out,) = default_aligner.align([sample])
    assert out.targets.tolist() == ids.tolist()
    # A bare "▁" piece is whitespace to the teacher, which T5 has no token for: one-hot.
    assert out.teacher_mask.tolist() == [int(p != "▁") for p in pieces]


def test_endoftext_maps_to_eos_and_missing_sampled_gets_rest(vocab):
    sample = TeacherSample(
        question_id="q", sample_index=0, prompt_id="p", question="q", gold="", correct=True,
        text="The answer is 72", tokens=("The", " answer", " is", " 72"),
        top_logprobs=([], [], [], [("<|endoftext|>", math.log(0.2)), (" 7", math.log(0.3))]),
        token_logprobs=(None, None, None, None),
    )
    (out,) = Aligner(vocab).align([sample])
    last = dict(zip(out.teacher_ids[-1].tolist(), out.teacher_probs[-1].tolist(), strict=True))
    assert last[vocab.eos_id] == pytest.approx(0.2)
    assert last[vocab.piece_id("▁72")] == pytest.approx(0.5)  # 1 - 0.2 - 0.3, renormalized
    assert last[vocab.piece_id("▁7")] == pytest.approx(0.3)
