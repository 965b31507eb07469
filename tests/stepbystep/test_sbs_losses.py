"""The step-by-step loss against dense CE / KL references, with its gradient; bad settings."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from t5spec.losses.config import check_rationale_loss
from t5spec.losses.stepbystep import combine_task_losses, step_by_step_token_losses
from t5spec.tasks import stepbystep_names as stepbystep

LABEL, RATIONALE = stepbystep.LABEL_TASK_ID, stepbystep.RATIONALE_TASK_ID


def _case(seed: int, b=3, n=6, v=13, k=4, mass=1.0):
    """Random logits, targets, distinct teacher ids, probs (sum = mass), mask, tasks, weights."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=3.0, size=(b, n, v)).astype(np.float32)
    targets = rng.integers(1, v, size=(b, n)).astype(np.int32)
    ids = np.stack([rng.choice(v, k, replace=False) for _ in range(b * n)]).reshape(b, n, k)
    probs = (rng.dirichlet(np.ones(k), size=(b, n)) * mass).astype(np.float32)
    mask = rng.integers(0, 2, size=(b, n)).astype(np.int32)
    tasks = rng.choice([LABEL, RATIONALE, 0], size=(b, n)).astype(np.int32)
    weights = rng.integers(0, 2, size=(b, n)).astype(np.float32)
    return logits, targets, ids.astype(np.int32), probs, mask, tasks, weights


def _reference(logits, targets, ids, probs, mask, tasks, weights, lam, mode, renorm):
    """Dense: CE on label-part tokens; rationale CE or KL(dense teacher ‖ student)."""
    logq = jax.nn.log_softmax(logits, axis=-1)
    ce = -jnp.take_along_axis(logq, targets[..., None], -1)[..., 0]
    p = probs / probs.sum(-1, keepdims=True) if renorm else probs
    dense = np.zeros(logits.shape, np.float32)
    for idx in np.ndindex(*ids.shape[:2]):
        dense[idx][ids[idx]] = p[idx]
    plogp = np.where(dense > 0, dense * np.log(np.where(dense > 0, dense, 1.0)), 0.0)
    kl = jnp.sum(plogp - dense * logq, axis=-1)
    is_rat = tasks == RATIONALE
    rat = jnp.where((mask > 0) & (mode == "kl"), kl, ce)
    w_rat, w_lab = weights * is_rat, weights * ~is_rat
    label = jnp.sum(ce * w_lab) / max(w_lab.sum(), 1.0)
    rationale = jnp.sum(rat * w_rat) / max(w_rat.sum(), 1.0)
    return label + lam * rationale


def _sparse(logits, targets, ids, probs, mask, tasks, weights, lam, mode, renorm):
    terms = step_by_step_token_losses(logits, targets, ids, probs, mask, tasks,
                                      rationale_loss=mode, renormalize=renorm)
    return combine_task_losses(terms.loss, weights, tasks, lam).loss


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), lam=st.floats(0.0, 5.0), mode=st.sampled_from(["ce", "kl"]),
       renorm=st.booleans(), mass=st.floats(0.3, 1.0), k=st.integers(1, 5))
def test_loss_and_gradient_equal_dense_references(seed, lam, mode, renorm, mass, k):
    case = _case(seed, k=k, mass=mass)
    logits, rest = case[0], case[1:]
    args = (lam, mode, renorm)

    def sparse(x):
        return _sparse(x, *rest, *args)

    def reference(x):
        return _reference(x, *rest, *args)

    np.testing.assert_allclose(sparse(logits), reference(logits), rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(jax.grad(sparse)(logits), jax.grad(reference)(logits),
                               rtol=1e-4, atol=1e-6)


def test_parts_are_per_task_token_means():
    logits, targets, ids, probs, mask, tasks, weights = _case(3)
    terms = step_by_step_token_losses(logits, targets, ids, probs, mask, tasks,
                                      rationale_loss="kl")
    parts = combine_task_losses(terms.loss, weights, tasks, 0.25)
    is_rat = tasks == RATIONALE
    assert float(parts.label_tokens) == weights[~is_rat].sum()
    assert float(parts.rationale_tokens) == weights[is_rat].sum()
    np.testing.assert_allclose(parts.loss, parts.label_loss + 0.25 * parts.rationale_loss)
    # label tokens never see the teacher: is_distribution only on rationale tokens with mask 1
    np.testing.assert_array_equal(np.asarray(terms.is_distribution), (mask > 0) & is_rat)
    # λ = 0 leaves no gradient from rationale tokens
    grad = jax.grad(lambda x: combine_task_losses(
        step_by_step_token_losses(x, targets, ids, probs, mask, tasks).loss,
        weights, tasks, 0.0).loss)(logits)
    assert np.abs(np.asarray(grad)[is_rat]).max() == 0.0


def test_a_task_absent_from_the_batch_contributes_zero():
    logits, targets, ids, probs, mask, _tasks, weights = _case(5)
    only_label = np.full(targets.shape, LABEL, np.int32)
    terms = step_by_step_token_losses(logits, targets, ids, probs, mask, only_label)
    parts = combine_task_losses(terms.loss, weights, only_label, 3.0)
    assert float(parts.rationale_loss) == 0.0 and float(parts.rationale_tokens) == 0.0
    np.testing.assert_allclose(parts.loss, parts.label_loss)


@pytest.mark.parametrize("weight", [-0.1, float("nan"), float("inf"), "a lot", None])
def test_bad_rationale_weight_is_a_clear_error(weight):
    with pytest.raises(ValueError, match=r"rationale_weight \(λ\) must be a finite number >= 0"):
        check_rationale_loss(weight, "ce")


def test_unknown_rationale_loss_lists_the_choices():
    with pytest.raises(ValueError, match="unknown rationale_loss 'mse'; choose from 'ce', 'kl'"):
        check_rationale_loss(1.0, "mse")
    logits, targets, ids, probs, mask, tasks, _ = _case(0)
    with pytest.raises(ValueError, match="choose from ce, kl"):
        step_by_step_token_losses(logits, targets, ids, probs, mask, tasks, rationale_loss="KL")
    check_rationale_loss(0, "kl")  # λ = 0 is allowed (label task only)
