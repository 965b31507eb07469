"""GKD's JSD(β) as a loss *choice*: ``LossConfig(divergence="gjsd", beta=β)`` through
:func:`t5spec.losses.objective.batch_loss`, against dense per-token references."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from t5spec.losses import gjsd, objective
from t5spec.losses.config import LossConfig


def _batch(seed: int, b=2, n=4, v=11, k=3):
    """Logits and a batch whose teacher top-k sums to 1 (the aligner's renormalized mode) on
    positions with mask 1, plus one position with no teacher (mask 0) per row."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(b, n, v)).astype(np.float32)
    ids = np.stack([rng.choice(np.arange(1, v), k, replace=False)
                    for _ in range(b * n)]).reshape(b, n, k).astype(np.int32)
    probs = rng.dirichlet(np.ones(k), size=(b, n)).astype(np.float32)
    mask = np.ones((b, n), np.int32)
    mask[:, -1] = 0
    targets = rng.integers(1, v, size=(b, n)).astype(np.int32)
    batch = {"decoder_target_tokens": targets, "decoder_loss_weights": np.ones((b, n), np.float32),
             "decoder_teacher_ids": ids, "decoder_teacher_probs": probs,
             "decoder_teacher_mask": mask}
    return logits, batch


def _reference(logits, batch, beta: float, alpha: float) -> float:
    """Mean over tokens of (1 − α·m)·CE + α·m·JSD(β) with an explicit dense teacher."""
    ids, probs, mask = (batch[k] for k in ("decoder_teacher_ids", "decoder_teacher_probs",
                                          "decoder_teacher_mask"))
    dense = np.zeros(logits.shape, np.float32)
    np.put_along_axis(dense, ids, probs, axis=-1)
    jsd = np.asarray(gjsd.dense_generalized_jsd(logits, dense, beta))
    log_q = np.asarray(jax.nn.log_softmax(logits, axis=-1))
    ce = -np.take_along_axis(log_q, batch["decoder_target_tokens"][..., None], -1)[..., 0]
    a = alpha * mask
    return float(np.mean((1 - a) * ce + a * jsd))


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), beta=st.sampled_from((0.0, 0.1, 0.5, 0.9)),
       alpha=st.sampled_from((1.0, 0.5)))
def test_the_gjsd_choice_is_ce_plus_dense_jsd(seed, beta, alpha):
    logits, batch = _batch(seed)
    config = LossConfig(distill_weight=alpha, divergence="gjsd", beta=beta)
    out = objective.batch_loss(config, jnp.asarray(logits), batch,
                               loss_normalizing_factor="NUM_REAL_TARGET_TOKENS")
    np.testing.assert_allclose(float(out.loss), _reference(logits, batch, beta, alpha),
                               rtol=1e-4, atol=1e-5)


def test_gradients_follow_the_dense_reference():
    logits, batch = _batch(3)
    config = LossConfig(divergence="gjsd", beta=0.5)

    def ours(x):
        return objective.batch_loss(config, x, batch,
                                    loss_normalizing_factor="NUM_REAL_TARGET_TOKENS").loss

    def dense(x):
        ids, probs = batch["decoder_teacher_ids"], batch["decoder_teacher_probs"]
        p = jnp.zeros(x.shape).at[jnp.arange(2)[:, None, None], jnp.arange(4)[None, :, None],
                                  ids].set(probs)
        m = batch["decoder_teacher_mask"]
        log_q = jax.nn.log_softmax(x, axis=-1)
        ce = -jnp.take_along_axis(log_q, batch["decoder_target_tokens"][..., None], -1)[..., 0]
        return jnp.mean((1 - m) * ce + m * gjsd.dense_generalized_jsd(x, p, 0.5))

    np.testing.assert_allclose(jax.grad(ours)(jnp.asarray(logits)),
                               jax.grad(dense)(jnp.asarray(logits)), rtol=1e-4, atol=1e-6)


def test_beta_zero_equals_the_kl_choice_on_a_full_top_k():
    logits, batch = _batch(7)
    kl = objective.batch_loss(LossConfig(), jnp.asarray(logits), batch).loss
    jsd0 = objective.batch_loss(LossConfig(divergence="gjsd", beta=0.0), jnp.asarray(logits),
                                batch).loss
    np.testing.assert_allclose(float(jsd0), float(kl), rtol=1e-5)


@pytest.mark.parametrize("kwargs, match", [
    ({"divergence": "tvd"}, "unknown divergence"),
    ({"divergence": "gjsd", "beta": 1.5}, "beta must be in"),
    ({"divergence": "gjsd", "objective": "stepbystep"}, "choice of the specialization"),
])
def test_bad_divergence_settings_fail_on_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LossConfig(**kwargs)


def test_gin_selects_the_divergence_of_the_model(tmp_path):
    """A loss is a config choice: ``--gin.`` bindings (T5X's flags, parsed after the run gin
    that imports the model) switch SpecializationModel to JSD(β)."""
    import gin
    from t5spec import models

    run_gin = tmp_path / "run.gin"
    run_gin.write_text("from __gin__ import dynamic_registration\n"
                       "from t5spec import models as spec_models\n"
                       "spec_models.SpecializationModel.distill_weight = 1.0\n")
    with gin.unlock_config():
        gin.clear_config()
    try:
        gin.parse_config_files_and_bindings(
            [str(run_gin)], ["SpecializationModel.divergence = 'gjsd'",
                             "SpecializationModel.beta = 0.25"], finalize_config=False)
        bound = gin.get_bindings(models.SpecializationModel)
    finally:
        gin.clear_config()
    assert bound == {"distill_weight": 1.0, "divergence": "gjsd", "beta": 0.25}
    model = models.SpecializationModel(module=None, input_vocabulary=None,
                                       output_vocabulary=None, optimizer_def=None, **bound)
    assert (model.loss_config.divergence, model.loss_config.beta) == ("gjsd", 0.25)
