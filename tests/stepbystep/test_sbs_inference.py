"""A student trained step-by-step in-process: its loss, label-only / rationale inference and
self-consistency through the cached Decoder, and what they cost."""

from __future__ import annotations

import math
import re
from fractions import Fraction

import jax
import numpy as np
import pytest
from sbs_student import make_model, student_config, train

import gin
from t5spec.data.answers import extract_answer
from t5spec.evaluate import student_inference as inference
from t5spec.evaluate.voting import majority_vote
from t5spec.models.decoding import Decoder, SamplingParams
from t5spec.tasks import stepbystep_names as stepbystep

LAMBDA = 0.5
ANSWER_SENTENCE = re.compile(r"The answer is -?[\d,]+(\.\d+)?(/\d+)?")


@pytest.fixture(scope="module")
def student(aligned_dir, data_dir, vocabulary):
    """120 Adam steps of batch 8 on t5spec_gsm8k_sbs (hybrid: KL on rationales, λ = 0.5)."""
    gin.parse_config(
        "from __gin__ import dynamic_registration\n"
        "from t5spec.tasks import config as task_config\n"
        f"task_config.TaskPaths.vocab_path = '{data_dir / 't5_vocab/spiece.model'}'\n"
        f"task_config.TaskPaths.aligned_pattern = '{aligned_dir}/*.tfrecord'\n")
    try:
        return train(vocabulary, steps=120, batch_size=8, lr=1e-2,
                     rationale_weight=LAMBDA, rationale_loss="kl")
    finally:
        gin.clear_config()


@pytest.fixture(scope="module")
def decoder(student):
    return Decoder(student.config, student.params)


@pytest.fixture(scope="module")
def questions(aligned_dir):
    """The questions of the aligned Codex samples (two GSM8K train problems) and their golds:
    a 1M-parameter student trained for seconds knows these, not unseen ones."""
    from t5spec.align import store

    gold = {s.question: s.gold for s in store.read_aligned(str(aligned_dir))}
    qs = sorted(gold) * 2
    return qs, [Fraction(gold[q]) for q in qs]


def _metric(metrics, name):
    return float(metrics[name].compute())


def test_loss_is_label_mean_plus_lambda_rationale_mean(student, vocabulary):
    assert np.mean(student.losses[-10:]) < 0.3 * np.mean(student.losses[:5])
    batch = student.batches[-1]
    loss, metrics = student.model.loss_fn(student.params, batch, None)
    label = _metric(metrics, "sbs/label_loss_per_token")
    rationale = _metric(metrics, "sbs/rationale_loss_per_token")
    np.testing.assert_allclose(float(loss), label + LAMBDA * rationale, rtol=1e-5)
    assert _metric(metrics, "sbs/kl_per_distribution_token") >= 0
    assert 0 < _metric(metrics, "sbs/teacher_mass_covered") <= 1 + 1e-6
    assert 0 < _metric(metrics, "sbs/label_token_fraction") < 0.5
    # λ enters linearly; 'ce' differs from 'kl' only on rationale tokens
    other = make_model(student.config, vocabulary, rationale_weight=2.0, rationale_loss="kl")
    loss2, _ = other.loss_fn(student.params, batch, None)
    np.testing.assert_allclose(float(loss2) - float(loss), (2.0 - LAMBDA) * rationale, rtol=1e-4)
    ce = make_model(student.config, vocabulary, rationale_weight=LAMBDA, rationale_loss="ce")
    _, ce_metrics = ce.loss_fn(student.params, batch, None)
    assert _metric(ce_metrics, "sbs/label_loss_per_token") == pytest.approx(label, rel=1e-6)
    assert _metric(ce_metrics, "sbs/rationale_loss_per_token") == pytest.approx(
        _metric(metrics, "sbs/rationale_ce_per_token"), rel=1e-5)


def test_label_prefix_inference_gives_only_an_answer(decoder, vocabulary, questions):
    qs, golds = questions
    got = inference.answer_from_label(decoder, vocabulary, qs, batch_size=8)
    for (text,), (n,) in zip(got.outputs, got.sample_tokens, strict=True):
        assert n <= stepbystep.LABEL_MAX_NEW_TOKENS
        assert ANSWER_SENTENCE.fullmatch(text), text  # an answer sentence, no rationale
    assert got.answers == tuple(extract_answer(o[0]) for o in got.outputs)
    assert got.cost.generated_tokens == sum(n for (n,) in got.sample_tokens)
    assert got.cost.tokens_per_answer <= stepbystep.LABEL_MAX_NEW_TOKENS
    assert 0 < got.cost.seconds_per_100_answers < math.inf
    assert got.accuracy(golds) == 1.0


def test_label_decode_budget_binds_even_an_untrained_student(vocabulary, questions):
    config = student_config()
    model = make_model(config, vocabulary)
    params = model.get_initial_variables(
        jax.random.PRNGKey(1), {"encoder_input_tokens": (1, 8), "decoder_input_tokens": (1, 8)}
    )["params"]
    got = inference.answer_from_label(Decoder(config, params), vocabulary, questions[0][:4],
                                      batch_size=8, warmup=False)
    assert max(n for (n,) in got.sample_tokens) <= stepbystep.LABEL_MAX_NEW_TOKENS


def test_rationale_then_answer(decoder, vocabulary, questions):
    got = inference.answer_from_rationale(decoder, vocabulary, questions[0], max_new_tokens=32,
                                          batch_size=8)
    assert all(n <= 32 for (n,) in got.sample_tokens)
    assert got.answers == tuple(extract_answer(o[0]) for o in got.outputs)


def test_self_consistency_votes_over_sampled_chains(decoder, vocabulary, questions):
    qs, golds = questions
    inputs = [stepbystep.DEFAULT_RATIONALE_PREFIX + q for q in qs[:4]]
    sampling = SamplingParams(max_new_tokens=32, temperature=1.0, top_k=40, num_alternatives=0)
    got = inference.self_consistency(decoder, vocabulary, inputs, num_samples=4,
                                     sampling=sampling, batch_size=8)
    assert [len(o) for o in got.outputs] == [4] * 4
    for outs, samples, answer in zip(got.outputs, got.sample_answers, got.answers, strict=True):
        assert samples == tuple(extract_answer(t) for t in outs)
        assert answer == majority_vote(samples)
    assert len({t for outs in got.outputs for t in outs}) > 4  # samples differ
    assert got.cost.answers == 4
    assert got.cost.generated_tokens == sum(map(sum, got.sample_tokens))
    assert 0.0 <= got.accuracy(golds[:4]) <= 1.0
    with pytest.raises(ValueError, match="temperature > 0"):
        inference.self_consistency(decoder, vocabulary, inputs, num_samples=4,
                                   sampling=SamplingParams(max_new_tokens=8))
