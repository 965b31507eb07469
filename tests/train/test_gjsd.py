"""GKD's generalized JSD over the teacher's top-k + rest bucket, against dense references."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from t5spec.losses import gjsd, sparse

BETAS = (0.0, 0.1, 0.5, 0.9, 1.0)


def _case(seed: int, b=2, n=3, v=9, k=3, mass=1.0):
    """Student logits and a teacher top-k: distinct ids, probabilities summing to ``mass``."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(b, n, v)).astype(np.float32)
    ids = np.stack([rng.choice(v, k, replace=False) for _ in range(b * n)]).reshape(b, n, k)
    probs = (rng.dirichlet(np.ones(k), size=(b, n)) * mass).astype(np.float32)
    return logits, ids.astype(np.int32), probs


def _dense(logits, ids, probs, tail: str, rng=None):
    """A full teacher with that top-k; its rest mass spread ∝ the student ('student') or at
    random ('random')."""
    q = np.asarray(jax.nn.softmax(logits, axis=-1), np.float64)
    dense = np.zeros(logits.shape, np.float64)
    for b in range(ids.shape[0]):
        for t in range(ids.shape[1]):
            rest = np.ones(logits.shape[-1], bool)
            rest[ids[b, t]] = False
            spread = q[b, t] if tail == "student" else rng.dirichlet(np.ones(rest.size))
            shape = spread * rest
            dense[b, t] = (1.0 - probs[b, t].sum()) * shape / shape.sum()
            dense[b, t, ids[b, t]] = probs[b, t]
    return dense.astype(np.float32)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), mass=st.floats(0.3, 0.99), beta=st.sampled_from(BETAS))
def test_equals_dense_jsd_when_the_tail_follows_the_student(seed, mass, beta):
    logits, ids, probs = _case(seed, mass=mass)
    dense = _dense(logits, ids, probs, "student")
    got = gjsd.generalized_jsd(logits, ids, probs, beta)
    want = gjsd.dense_generalized_jsd(logits, dense, beta)
    np.testing.assert_allclose(got.loss, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got.teacher_mass, probs.sum(-1), rtol=1e-5)
    if beta < 1.0:  # the gap is >= 0 and 0 here, so the gradients agree as well
        grad = jax.grad(lambda x: gjsd.generalized_jsd(x, ids, probs, beta).loss.sum())(logits)
        dense_grad = jax.grad(lambda x: gjsd.dense_generalized_jsd(x, dense, beta).sum())(logits)
        np.testing.assert_allclose(grad, dense_grad, rtol=1e-3, atol=1e-5)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), mass=st.floats(0.3, 0.99), beta=st.sampled_from(BETAS))
def test_is_a_lower_bound_on_dense_jsd_for_any_tail(seed, mass, beta):
    logits, ids, probs = _case(seed, mass=mass)
    dense = _dense(logits, ids, probs, "random", np.random.default_rng(seed + 1))
    got = np.asarray(gjsd.generalized_jsd(logits, ids, probs, beta).loss)
    want = np.asarray(gjsd.dense_generalized_jsd(logits, dense, beta))
    assert np.all(got <= want + 1e-5), (got, want)
    assert np.all(got >= -1e-6)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), beta=st.sampled_from(BETAS[:-1]))
def test_renormalized_teacher_is_exact(seed, beta):
    """s = 1 (the aligner's default): no tail at all, the bucketed loss is the dense one."""
    logits, ids, probs = _case(seed)
    dense = _dense(logits, ids, probs, "student")
    np.testing.assert_allclose(gjsd.generalized_jsd(logits, ids, probs, beta).loss,
                               gjsd.dense_generalized_jsd(logits, dense, beta),
                               rtol=1e-4, atol=1e-5)


def _sparse_forward_kl(logits, ids, probs):
    b, n = probs.shape[:2]
    terms = sparse.specialization_token_losses(
        logits, np.zeros((b, n), np.int32), ids, probs, np.ones((b, n), np.int32))
    return np.asarray(terms.kl)


@pytest.mark.parametrize("seed", range(3))
def test_beta_zero_is_the_sparse_forward_kl(seed):
    logits, ids, probs = _case(seed)  # s = 1: the rest bucket is empty on the teacher side
    np.testing.assert_allclose(gjsd.generalized_jsd(logits, ids, probs, 0.0).loss,
                               _sparse_forward_kl(logits, ids, probs), rtol=1e-5, atol=1e-6)


def test_beta_zero_with_raw_mass_adds_the_rest_bucket_term():
    logits, ids, probs = _case(7, mass=0.8)
    q = np.asarray(jax.nn.softmax(logits, -1))
    q_rest = 1.0 - np.take_along_axis(q, ids, -1).sum(-1)
    s = probs.sum(-1)
    bucket = (1 - s) * np.log((1 - s) / q_rest)
    np.testing.assert_allclose(gjsd.generalized_jsd(logits, ids, probs, 0.0).loss,
                               _sparse_forward_kl(logits, ids, probs) + bucket, rtol=1e-4)


def test_the_ends_are_the_limits_of_jsd_over_beta():
    """JSD(β)/β → KL(P ‖ Q) as β → 0, JSD(β)/(1 − β) → KL(Q ‖ P) as β → 1 (GKD)."""
    logits, ids, probs = _case(3, mass=0.7)
    forward = np.asarray(gjsd.generalized_jsd(logits, ids, probs, 0.0).loss)
    reverse = np.asarray(gjsd.generalized_jsd(logits, ids, probs, 1.0).loss)
    errors = []
    for eps in (1e-2, 1e-4):  # the gap shrinks ~linearly in ε (measured: 25% → 1% here)
        near_0 = np.asarray(gjsd.generalized_jsd(logits, ids, probs, eps).loss) / eps
        near_1 = np.asarray(gjsd.generalized_jsd(logits, ids, probs, 1 - eps).loss) / eps
        errors.append(max(np.max(np.abs(near_0 / forward - 1)),
                          np.max(np.abs(near_1 / reverse - 1))))
    assert errors[1] < 2e-2 and errors[1] < errors[0] / 5, errors
    assert not np.allclose(forward, reverse, rtol=0.1)  # the two ends really differ


def test_reverse_kl_of_a_renormalized_teacher_is_infinite():
    logits, ids, probs = _case(4)
    assert np.all(np.isinf(gjsd.generalized_jsd(logits, ids, probs, 1.0).loss))
    assert np.all(np.isfinite(gjsd.generalized_jsd(logits, ids, probs, 0.99).loss))


def test_padding_entries_and_empty_rows():
    logits, ids, probs = _case(5, k=2, mass=0.9)
    padded_ids = np.concatenate([ids, np.zeros_like(ids[..., :1]), ids[..., :1]], -1)
    padded_probs = np.concatenate([probs, np.zeros_like(probs[..., :2])], -1)
    for beta in BETAS:
        np.testing.assert_allclose(
            gjsd.generalized_jsd(logits, padded_ids, padded_probs, beta).loss,
            gjsd.generalized_jsd(logits, ids, probs, beta).loss, rtol=1e-6, atol=1e-7)
    none = gjsd.generalized_jsd(logits, ids, np.zeros_like(probs), 0.5)
    np.testing.assert_allclose(none.loss, 0.0, atol=1e-6)


def test_support_covering_the_vocabulary_has_finite_gradients():
    logits, _, _ = _case(6, v=3, k=3)
    ids = np.broadcast_to(np.arange(3, dtype=np.int32), (*logits.shape[:2], 3)).copy()
    probs = np.full(ids.shape, 1 / 3, np.float32)
    grad = jax.grad(lambda x: gjsd.generalized_jsd(x, ids, probs, 0.5).loss.sum())(logits)
    assert np.all(np.isfinite(grad))
    dense = np.full(logits.shape, 1 / 3, np.float32)
    np.testing.assert_allclose(gjsd.generalized_jsd(logits, ids, probs, 0.5).loss,
                               gjsd.dense_generalized_jsd(logits, dense, 0.5), rtol=1e-4)


def test_jit_and_bad_beta():
    logits, ids, probs = _case(8)
    jitted = jax.jit(lambda x: gjsd.generalized_jsd(x, ids, probs, 0.5).loss)
    np.testing.assert_allclose(jitted(jnp.asarray(logits)),
                               gjsd.generalized_jsd(logits, ids, probs, 0.5).loss, rtol=1e-6)
    with pytest.raises(ValueError, match="beta"):
        gjsd.generalized_jsd(logits, ids, probs, 1.5)
