"""The sparse top-k loss against dense references, T5X's CE and its own gradient."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from t5x import losses as t5x_losses

from t5spec.losses import sparse as losses

jax.config.update("jax_enable_x64", False)


def _case(seed: int, b=2, n=5, v=13, k=4, mass=1.0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=3.0, size=(b, n, v)).astype(np.float32)
    targets = rng.integers(1, v, size=(b, n)).astype(np.int32)
    ids = np.stack([rng.choice(v, k, replace=False) for _ in range(b * n)]).reshape(b, n, k)
    probs = (rng.dirichlet(np.ones(k), size=(b, n)) * mass).astype(np.float32)
    mask = rng.integers(0, 2, size=(b, n)).astype(np.int32)
    return logits, targets, ids.astype(np.int32), probs, mask


def _dense(ids, probs, v):
    dense = np.zeros((*ids.shape[:2], v), np.float32)
    for b in range(ids.shape[0]):
        for t in range(ids.shape[1]):
            np.add.at(dense[b, t], ids[b, t], probs[b, t])
    return dense


def _sparse_total(logits, targets, ids, probs, mask, **kw):
    return losses.specialization_token_losses(logits, targets, ids, probs, mask, **kw).loss.sum()


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 6), mass=st.floats(0.3, 1.0))
def test_equals_dense_kl_and_its_gradient(seed, k, mass):
    logits, targets, ids, probs, mask = _case(seed, k=k, mass=mass)
    dense = jnp.asarray(_dense(ids, probs, logits.shape[-1]))

    def sparse(x):
        return _sparse_total(x, targets, ids, probs, mask)

    def reference(x):
        return losses.dense_teacher_kl(x, dense, targets, mask).sum()

    np.testing.assert_allclose(sparse(logits), reference(logits), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        jax.grad(sparse)(logits), jax.grad(reference)(logits), rtol=1e-5, atol=1e-6
    )


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), z=st.sampled_from([0.0, 1e-4, 0.1]))
def test_sample_matching_equals_t5x_cross_entropy(seed, z):
    logits, targets, ids, probs, mask = _case(seed)
    weights = (np.arange(targets.shape[1]) < 4).astype(np.float32)[None].repeat(2, 0)

    def ours(x):
        t = losses.specialization_token_losses(
            x, targets, ids, probs, mask, distill_weight=0.0, z_loss=z
        )
        reduce = losses.reduce_tokens
        return reduce(t.loss, weights, 7.0), reduce(t.z_term, weights, 7.0)

    def t5x(x):
        loss, z_loss, _ = t5x_losses.compute_weighted_cross_entropy(
            x, targets, weights, z_loss=z, loss_normalizing_factor=7.0
        )
        return loss, z_loss

    np.testing.assert_allclose(ours(logits), t5x(logits), rtol=1e-5)
    g_ours = jax.grad(lambda x: ours(x)[0])(logits)
    g_t5x = jax.grad(lambda x: t5x(x)[0])(logits)
    np.testing.assert_allclose(g_ours, g_t5x, rtol=1e-5, atol=1e-7)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), alpha=st.floats(0.0, 1.0))
def test_one_hot_teacher_is_cross_entropy_for_any_mix(seed, alpha):
    logits, targets, _, _, _ = _case(seed)
    k = 3
    ids = np.pad(targets[..., None], ((0, 0), (0, 0), (0, k - 1)))
    probs = np.pad(np.ones((*targets.shape, 1), np.float32), ((0, 0), (0, 0), (0, k - 1)))
    mask = np.ones_like(targets)
    dist = _sparse_total(logits, targets, ids, probs, mask, distill_weight=alpha)
    ce = _sparse_total(logits, targets, ids, probs, mask * 0)
    logq = jax.nn.log_softmax(logits)
    ref = -np.take_along_axis(np.asarray(logq), targets[..., None], -1).sum()
    np.testing.assert_allclose([dist, ce], [ref, ref], rtol=1e-5)


def test_mix_is_the_weighted_sum_and_metrics_are_gathers():
    logits, targets, ids, probs, mask = _case(3, mass=0.8)
    full = losses.specialization_token_losses(logits, targets, ids, probs, mask)
    ce = losses.specialization_token_losses(logits, targets, ids, probs, mask, distill_weight=0)
    mix = losses.specialization_token_losses(logits, targets, ids, probs, mask,
                                             distill_weight=0.3)
    np.testing.assert_allclose(mix.loss, 0.3 * full.loss + 0.7 * ce.loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ce.loss, ce.ce, rtol=1e-6)
    np.testing.assert_allclose(full.kl, np.where(mask, full.loss, 0.0), rtol=1e-6)
    np.testing.assert_allclose(full.teacher_mass, np.where(mask, 0.8, 0.0), rtol=1e-5)


def test_mass_outside_top_k_as_stated():
    """Probs summing to s < 1: loss = Σ p (log p − log q); renormalize=True: KL(p/s ‖ q)."""
    logits, targets, ids, probs, _ = _case(5, mass=0.6)
    mask = np.ones_like(targets)
    raw = losses.specialization_token_losses(logits, targets, ids, probs, mask).loss
    logq = np.asarray(jax.nn.log_softmax(logits))
    lq = np.take_along_axis(logq, ids, -1)
    np.testing.assert_allclose(raw, (probs * (np.log(probs) - lq)).sum(-1), rtol=1e-5)
    renorm = losses.specialization_token_losses(
        logits, targets, ids, probs, mask, renormalize=True
    ).loss
    p = probs / probs.sum(-1, keepdims=True)
    np.testing.assert_allclose(renorm, (p * (np.log(p) - lq)).sum(-1), rtol=1e-5)
    # gradient towards the teacher is scaled by s: d/dlogits = s·softmax − p
    g = jax.grad(lambda x: losses.specialization_token_losses(
        x, targets, ids, probs, mask).loss.sum())(logits)
    softmax = np.exp(logq)
    expected = 0.6 * softmax
    np.put_along_axis(expected, ids, np.take_along_axis(expected, ids, -1) - probs, -1)
    np.testing.assert_allclose(g, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_dtype_and_zero_probabilities(dtype):
    logits, targets, ids, probs, mask = _case(7)
    probs[..., -1] = 0.0  # padded entries
    out = losses.specialization_token_losses(jnp.asarray(logits, dtype), targets, ids, probs,
                                             mask)
    assert out.loss.dtype == jnp.float32 and np.isfinite(out.loss).all()
    g = jax.grad(lambda x: losses.specialization_token_losses(
        x, targets, ids, probs, mask).loss.sum())(jnp.asarray(logits, dtype))
    assert g.dtype == dtype and np.isfinite(np.asarray(g, np.float32)).all()
