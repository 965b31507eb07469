"""One batch's loss under a :class:`~t5spec.losses.config.LossConfig`: the objectives' dispatch.

``SpecializationModel.loss_fn`` computes the logits and calls :func:`batch_loss`; everything
between logits and the scalar it minimizes is here, as pure JAX over the batch's arrays:

* teacher arrays: ``decoder_teacher_ids`` / ``_probs`` / ``_mask`` (``[B, L, k]``, ``[B, L, k]``,
  ``[B, L]``, from :class:`t5spec.feature_converters.DistillationFeatureConverter`); a batch
  without them trains with CE (a one-hot at the target, mask 0);
* ``"specialization"``: the per-token KL/CE mix reduced as T5X reduces its loss (loss weights
  and normalizing factor from :func:`t5x.losses.get_loss_normalizing_factor_and_weights`);
  with ``divergence="gjsd"`` the KL term is GKD's JSD(β) (:func:`gjsd_token_losses`);
* ``"stepbystep"``: the same per-token terms with the teacher restricted to rationale tokens
  (``decoder_format_ids``), then one mean per task: label mean + λ · rationale mean.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import jax
import jax.numpy as jnp
from t5x import losses as t5x_losses

from t5spec.losses import gjsd, sparse, stepbystep
from t5spec.losses.config import LossConfig

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class BatchLoss:
    """The scalar to minimize and what the metrics need.

    Attributes:
      loss: the training loss (scalar).
      z_loss: the z-loss part of ``loss`` (scalar, reduced as ``loss``; for logging).
      weights: [B, L] the loss weights used (1 on real target tokens).
      task_ids: [B, L] the batch's ``decoder_format_ids`` (zeros when absent).
      terms: the per-token terms (:class:`t5spec.losses.sparse.TokenLosses`).
      parts: the two task means (``"stepbystep"`` only, else None).
    """

    loss: Array
    z_loss: Array
    weights: Array
    task_ids: Array
    terms: sparse.TokenLosses
    parts: stepbystep.TaskLosses | None


def teacher_arrays(batch: Mapping[str, Array]) -> tuple[Array, Array, Array]:
    """(ids [B,L,k], probs [B,L,k], mask [B,L]); one-hot at the target, mask 0, if absent."""
    if "decoder_teacher_ids" in batch:
        return (
            batch["decoder_teacher_ids"],
            batch["decoder_teacher_probs"],
            batch["decoder_teacher_mask"],
        )
    targets = batch["decoder_target_tokens"]
    return (
        targets[..., None],
        jnp.ones((*targets.shape, 1), jnp.float32),
        jnp.zeros_like(targets),
    )


def batch_loss(
    config: LossConfig,
    logits: Array,
    batch: Mapping[str, Array],
    *,
    z_loss: float = 0.0,
    loss_normalizing_factor=None,
) -> BatchLoss:
    """The loss of one batch under ``config`` (see the module docstring).

    Args:
      config: the objective and its knobs.
      logits: [B, L, V] student logits.
      batch: T5X's batch (``decoder_target_tokens``, ``decoder_loss_weights``, optional teacher
        arrays and ``decoder_format_ids``).
      z_loss: T5X's z-loss coefficient.
      loss_normalizing_factor: T5X's factor setting (``"specialization"`` only).
    """
    targets = batch["decoder_target_tokens"]
    task_ids = batch.get("decoder_format_ids", jnp.zeros_like(targets))
    if config.objective == "stepbystep":
        return _stepbystep(config, logits, batch, targets, task_ids, z_loss)
    factor, weights = t5x_losses.get_loss_normalizing_factor_and_weights(
        loss_normalizing_factor, batch
    )
    if weights is None:
        weights = (targets > 0).astype(jnp.float32)
    token_losses = gjsd_token_losses if config.divergence == "gjsd" else _kl_token_losses
    terms = token_losses(config, logits, targets, *teacher_arrays(batch), z_loss=z_loss)
    return BatchLoss(
        loss=sparse.reduce_tokens(terms.loss, weights, factor),
        z_loss=sparse.reduce_tokens(terms.z_term, weights, factor),
        weights=weights,
        task_ids=task_ids,
        terms=terms,
        parts=None,
    )


def _kl_token_losses(config: LossConfig, logits, targets, ids, probs, mask, *,
                     z_loss: float) -> sparse.TokenLosses:
    return sparse.specialization_token_losses(
        logits, targets, ids, probs, mask, distill_weight=config.token_distill_weight,
        z_loss=z_loss, renormalize=config.renormalize_teacher)


def gjsd_token_losses(config: LossConfig, logits: Array, targets: Array, ids: Array,
                      probs: Array, mask: Array, *, z_loss: float) -> sparse.TokenLosses:
    """Per token, α = ``distill_weight`` · mask: (1 − α)·CE + α·JSD(β) + z-loss, where JSD(β)
    is :func:`t5spec.losses.gjsd.generalized_jsd` over the teacher's top-k and one rest bucket
    (renormalized first with ``renormalize_teacher``). ``kl`` of the returned terms holds the
    JSD(β) (0 where mask = 0), the divergence actually minimized."""
    ce_terms = sparse.specialization_token_losses(  # CE + z-loss, its custom gradient
        logits, targets, ids, probs, mask, distill_weight=0.0, z_loss=z_loss)
    m = (mask > 0).astype(jnp.float32)
    p = probs.astype(jnp.float32) * m[..., None]
    if config.renormalize_teacher:
        s = jnp.sum(p, axis=-1, keepdims=True)
        p = p / jnp.where(s > 0, s, 1.0)
    jsd = gjsd.generalized_jsd(logits, ids, p, float(config.beta)).loss * m
    alpha = config.token_distill_weight * m
    loss = (1.0 - alpha) * ce_terms.loss + alpha * ce_terms.z_term + alpha * jsd
    return dataclasses.replace(ce_terms, loss=loss, kl=jsd,
                               teacher_mass=jnp.sum(probs.astype(jnp.float32) * m[..., None], -1),
                               is_distribution=m)


def _stepbystep(config, logits, batch, targets, task_ids, z_loss) -> BatchLoss:
    weights = batch.get("decoder_loss_weights")
    if weights is None:
        weights = (targets > 0).astype(jnp.float32)
    terms = stepbystep.step_by_step_token_losses(
        logits, targets, *teacher_arrays(batch), task_ids,
        rationale_loss=config.rationale_loss, z_loss=z_loss,
        renormalize=config.renormalize_teacher,
    )
    parts = stepbystep.combine_task_losses(
        terms.loss, weights, task_ids, config.rationale_weight
    )
    n_tokens = jnp.maximum(jnp.sum(weights.astype(jnp.float32)), 1.0)
    return BatchLoss(
        loss=parts.loss,
        z_loss=jnp.sum(terms.z_term * weights) / n_tokens,
        weights=weights,
        task_ids=task_ids,
        terms=terms,
        parts=parts,
    )
