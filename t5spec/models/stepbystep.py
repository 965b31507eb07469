"""``StepByStepModel``: distilling step-by-step (label + rationale multi-task) on T5X.

A :class:`~t5spec.models.specialization.SpecializationModel` whose loss is the multi-task one
of Hsieh et al. (2023): mean label CE + λ · mean rationale loss, the rationale loss being CE
(``rationale_loss="ce"``, the paper) or the sparse top-k KL to the teacher (``"kl"``, the
hybrid with distribution matching) — math in :mod:`t5spec.stepbystep_losses`. Decoding,
scoring and initialization are T5X's; the task of each target token comes from the batch's
``decoder_format_ids`` (:mod:`t5spec.stepbystep` ids, set by ``t5spec.tasks.stepbystep``).

Gin (``gin/runs/stepbystep.gin``)::

    from t5spec.models import stepbystep as sbs_models
    MODEL = @sbs_models.StepByStepModel()
    sbs_models.StepByStepModel.rationale_weight = 1.0     # λ >= 0
    sbs_models.StepByStepModel.rationale_loss = 'ce'      # or 'kl'

Bad settings (λ < 0 or not finite, an unknown loss name) raise ValueError when the model is
built, i.e. while T5X resolves the gin config, before any training step.

Metrics besides T5X's (``loss`` is the combined loss above): ``sbs/label_loss_per_token``,
``sbs/rationale_loss_per_token`` (the rationale loss actually trained),
``sbs/rationale_ce_per_token`` (CE on rationale tokens in either mode, to compare modes),
``sbs/label_token_accuracy``, ``sbs/label_token_fraction``; with ``"kl"`` also
``sbs/kl_per_distribution_token`` and ``sbs/teacher_mass_covered``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
from clu import metrics as clu_metrics
from t5x import models as t5x_models

from t5spec import stepbystep
from t5spec import stepbystep_losses as sbs_losses
from t5spec.models.specialization import FORMATS, SpecializationModel, _teacher_arrays

_SUPPORTED_FACTORS = (None, "NUM_REAL_TARGET_TOKENS")


class StepByStepModel(SpecializationModel):
    """Encoder-decoder model trained on label + λ · rationale (see module docstring).

    Args (beyond ``EncoderDecoderModel``'s):
      rationale_weight: λ ≥ 0, the weight of the rationale task's mean loss.
      rationale_loss: ``"ce"`` (paper) or ``"kl"`` (sparse top-k KL, the hybrid).
      renormalize_teacher: divide the teacher's k probabilities by their sum (``"kl"``).
    """

    def __init__(
        self,
        *args: Any,
        rationale_weight: float = 1.0,
        rationale_loss: str = "ce",
        renormalize_teacher: bool = False,
        **kwargs: Any,
    ):
        """``args``/``kwargs``: ``EncoderDecoderModel``'s (module, vocabularies, optimizer…)."""
        stepbystep.check_rationale_loss(rationale_weight, rationale_loss)
        factor = kwargs.get("loss_normalizing_factor")
        factor = getattr(factor, "name", factor)
        if factor not in _SUPPORTED_FACTORS:
            raise ValueError(
                f"StepByStepModel averages each task over its own tokens; "
                f"loss_normalizing_factor must be None or 'NUM_REAL_TARGET_TOKENS', got "
                f"{kwargs.get('loss_normalizing_factor')!r}"
            )
        super().__init__(
            *args,
            **kwargs,
            distill_weight=1.0 if rationale_loss == "kl" else 0.0,
            renormalize_teacher=renormalize_teacher,
            format_names=(*FORMATS, *stepbystep.TASKS),
        )
        self.rationale_weight = float(rationale_weight)
        self.rationale_loss = rationale_loss

    def loss_fn(
        self,
        params,
        batch: Mapping[str, jnp.ndarray],
        dropout_rng: jax.Array | None,
    ) -> tuple[jnp.ndarray, t5x_models.MetricsMap]:
        """The combined loss (scalar) and metrics for one batch."""
        logits = self._compute_logits(params, batch, dropout_rng)
        targets = batch["decoder_target_tokens"]
        weights = batch.get("decoder_loss_weights")
        if weights is None:
            weights = (targets > 0).astype(jnp.float32)
        task_ids = batch.get("decoder_format_ids", jnp.zeros_like(targets))
        teacher = _teacher_arrays(batch)
        terms = sbs_losses.step_by_step_token_losses(
            logits, targets, *teacher, task_ids, rationale_loss=self.rationale_loss,
            z_loss=self._z_loss, renormalize=self.renormalize_teacher,
        )
        parts = sbs_losses.combine_task_losses(
            terms.loss, weights, task_ids, self.rationale_weight
        )
        n_tokens = jnp.maximum(jnp.sum(weights.astype(jnp.float32)), 1.0)
        z_loss = jnp.sum(terms.z_term * weights) / n_tokens
        metrics = self._compute_metrics(
            logits=logits, targets=targets, mask=weights, loss=parts.loss, z_loss=z_loss,
            segment_ids=_segment_ids(batch),
        )
        metrics.update(self._sbs_metrics(logits, targets, terms, parts, weights, task_ids))
        return parts.loss, metrics

    def _sbs_metrics(self, logits, targets, terms, parts: sbs_losses.TaskLosses, weights,
                     task_ids) -> dict:
        w = weights.astype(jnp.float32)
        w_rat = w * (task_ids == stepbystep.RATIONALE_TASK_ID)
        w_lab = w - w_rat
        hit = (jnp.argmax(logits, axis=-1) == targets).astype(jnp.float32)
        metrics = {
            "sbs/label_loss_per_token": clu_metrics.Average(
                total=parts.label_loss * parts.label_tokens, count=parts.label_tokens),
            "sbs/rationale_loss_per_token": clu_metrics.Average(
                total=parts.rationale_loss * parts.rationale_tokens,
                count=parts.rationale_tokens),
            "sbs/rationale_ce_per_token": clu_metrics.Average(
                total=jnp.sum(terms.ce * w_rat), count=parts.rationale_tokens),
            "sbs/label_token_accuracy": clu_metrics.Average(
                total=jnp.sum(hit * w_lab), count=parts.label_tokens),
            "sbs/label_token_fraction": clu_metrics.Average(
                total=parts.label_tokens, count=jnp.sum(w)),
        }
        if self.rationale_loss == "kl":
            dist = terms.is_distribution * w
            metrics["sbs/kl_per_distribution_token"] = clu_metrics.Average(
                total=jnp.sum(terms.kl * dist), count=jnp.sum(dist))
            metrics["sbs/teacher_mass_covered"] = clu_metrics.Average(
                total=jnp.sum(terms.teacher_mass * dist), count=jnp.sum(dist))
        return metrics


def _segment_ids(batch: Mapping[str, jnp.ndarray]) -> dict:
    """Packed segment ids by feature (T5X's metrics), or non-padding masks when unpacked."""
    ids = {k[: -len("_segment_ids")]: v for k, v in batch.items() if k.endswith("_segment_ids")}
    if ids:
        return ids
    return {k: v != 0 for k, v in batch.items()
            if k in ("encoder_input_tokens", "decoder_target_tokens")}
