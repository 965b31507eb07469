"""``SpecializationModel``: T5X's ``EncoderDecoderModel`` trained on the teacher's top-k.

Only ``loss_fn`` changes (scoring, initialization are T5X's; decoding is T5X's loop over
:class:`t5spec.models.decode_cache.CachedDecodingModel`'s caches). The loss is a config choice,
``objective`` (:mod:`t5spec.losses.config`; math in :mod:`t5spec.losses`):

* ``"specialization"`` (default): per target position KL(teacher top-k ‖ student) where a
  teacher distribution exists and cross-entropy elsewhere (``distill_weight = 1``,
  distribution matching), plain cross-entropy (``distill_weight = 0``, sample matching; equal
  to T5X's loss), or a weighted mix. T5X's ``z_loss`` and ``loss_normalizing_factor`` behave as
  in T5X.
* ``"stepbystep"``: distilling step-by-step (Hsieh et al. 2023): mean label CE + λ · mean
  rationale loss, the rationale loss being CE (``rationale_loss="ce"``, the paper) or the
  sparse top-k KL (``"kl"``, the hybrid); each example's task comes from the batch's
  ``decoder_format_ids`` (:mod:`t5spec.tasks.stepbystep_names`).

Gin (``gin/runs/spec.gin`` binds every argument; ``gin/runs/stepbystep.gin`` picks the
objective)::

    from t5spec import models as spec_models
    MODEL = @spec_models.SpecializationModel()
    spec_models.SpecializationModel.objective = 'stepbystep'
    spec_models.SpecializationModel.rationale_weight = 1.0     # λ >= 0
    spec_models.SpecializationModel.rationale_loss = 'ce'      # or 'kl'

Bad settings raise ValueError when the model is built, i.e. while T5X resolves the gin config,
before any training step. Batches come from
:class:`t5spec.feature_converters.DistillationFeatureConverter` (the model's
``FEATURE_CONVERTER_CLS``); a batch without teacher features trains with CE.

Metrics besides T5X's: ``spec/…`` (KL per distribution token, CE per target token, teacher
mass covered, per-format loss) for ``"specialization"``; for ``"stepbystep"``
``sbs/label_loss_per_token``, ``sbs/rationale_loss_per_token`` (the rationale loss actually
trained), ``sbs/rationale_ce_per_token`` (CE on rationale tokens in either mode),
``sbs/label_token_accuracy``, ``sbs/label_token_fraction``; with ``"kl"`` also
``sbs/kl_per_distribution_token`` and ``sbs/teacher_mass_covered``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
from clu import metrics as clu_metrics
from t5x import models as t5x_models

from t5spec.feature_converters import DistillationFeatureConverter
from t5spec.losses import objective as loss_objective
from t5spec.losses import sparse
from t5spec.losses.config import LossConfig
from t5spec.models.decode_cache import CachedDecodingModel
from t5spec.tasks import stepbystep_names as sbs_names

FORMATS = (
    "in_context_answer_only",
    "in_context_cot",
    "zero_shot_answer_only",
    "zero_shot_cot",
)


class SpecializationModel(CachedDecodingModel):
    """Encoder-decoder model whose loss is chosen by ``objective`` (see module docstring).

    Args (beyond ``EncoderDecoderModel``'s):
      objective: ``"specialization"`` (sparse top-k KL / CE mix) or ``"stepbystep"``.
      distill_weight: α ∈ [0, 1]; 1 = distribution matching, 0 = sample matching
        (``"specialization"``; ``"stepbystep"`` uses 1 for ``"kl"``, 0 for ``"ce"``).
      renormalize_teacher: divide the teacher's k probabilities by their sum before use.
      rationale_weight: λ ≥ 0 of ``"stepbystep"``.
      rationale_loss: ``"ce"`` (paper) or ``"kl"`` (hybrid), of ``"stepbystep"``.
      format_names: names of ``decoder_format_ids`` 1, 2, … for the per-format metrics.
      divergence: ``"kl"`` (sparse top-k forward KL) or ``"gjsd"`` (GKD's JSD(β)), the
        distribution term of ``"specialization"``; beta: its β.
      t5x_decode_cache: decode with T5X's own caches instead of t5spec's (same results).
    """

    FEATURE_CONVERTER_CLS = DistillationFeatureConverter

    def __init__(
        self,
        module,
        input_vocabulary,
        output_vocabulary,
        optimizer_def,
        decode_fn=None,
        feature_converter_cls=None,
        label_smoothing: float = 0.0,
        z_loss: float = 0.0,
        loss_normalizing_factor=None,
        default_decoder_params=None,
        *,
        objective: str = "specialization",
        distill_weight: float = 1.0,
        renormalize_teacher: bool = False,
        rationale_weight: float = 1.0,
        rationale_loss: str = "ce",
        format_names: Sequence[str] = FORMATS,
        t5x_decode_cache: bool = False,
        divergence: str = "kl",
        beta: float = 0.5,
    ):
        self.loss_config = LossConfig(
            objective=objective,
            distill_weight=distill_weight,
            renormalize_teacher=bool(renormalize_teacher),
            rationale_weight=rationale_weight,
            rationale_loss=rationale_loss,
            loss_normalizing_factor=loss_normalizing_factor,
            divergence=divergence,
            beta=float(beta),
        )
        if label_smoothing:
            raise ValueError("SpecializationModel does not support label_smoothing (use 0.0)")
        kwargs = {} if decode_fn is None else {"decode_fn": decode_fn}
        super().__init__(
            module=module,
            input_vocabulary=input_vocabulary,
            output_vocabulary=output_vocabulary,
            optimizer_def=optimizer_def,
            feature_converter_cls=feature_converter_cls,
            label_smoothing=0.0,
            z_loss=z_loss,
            loss_normalizing_factor=loss_normalizing_factor,
            default_decoder_params=default_decoder_params,
            t5x_decode_cache=t5x_decode_cache,
            **kwargs,
        )
        self.objective = objective
        self.distill_weight = self.loss_config.token_distill_weight
        self.renormalize_teacher = bool(renormalize_teacher)
        self.rationale_weight = float(rationale_weight)
        self.rationale_loss = rationale_loss
        self.format_names = tuple(format_names)

    def loss_fn(
        self,
        params,
        batch: Mapping[str, jnp.ndarray],
        dropout_rng: jax.Array | None,
    ) -> tuple[jnp.ndarray, t5x_models.MetricsMap]:
        """Loss (scalar, T5X's normalization) and metrics for one batch."""
        logits = self._compute_logits(params, batch, dropout_rng)
        out = loss_objective.batch_loss(
            self.loss_config, logits, batch, z_loss=self._z_loss,
            loss_normalizing_factor=self._loss_normalizing_factor,
        )
        targets = batch["decoder_target_tokens"]
        metrics = self._compute_metrics(
            logits=logits, targets=targets, mask=out.weights, loss=out.loss,
            z_loss=out.z_loss, segment_ids=_segment_ids(batch),
        )
        if out.parts is None:
            metrics.update(self._spec_metrics(out.terms, out.weights,
                                              batch.get("decoder_format_ids")))
        else:
            metrics.update(_sbs_metrics(logits, targets, out, self.rationale_loss))
        return out.loss, metrics

    def _spec_metrics(self, terms: sparse.TokenLosses, weights, format_ids):
        w = weights.astype(jnp.float32)
        dist = terms.is_distribution * w
        n_dist = jnp.sum(dist)
        metrics = {
            "spec/kl_per_distribution_token": clu_metrics.Average(
                total=jnp.sum(terms.kl * dist), count=n_dist
            ),
            "spec/ce_per_target_token": clu_metrics.Average(
                total=jnp.sum(terms.ce * w), count=jnp.sum(w)
            ),
            "spec/teacher_mass_covered": clu_metrics.Average(
                total=jnp.sum(terms.teacher_mass * dist), count=n_dist
            ),
            "spec/distribution_fraction": clu_metrics.Average(total=n_dist, count=jnp.sum(w)),
        }
        if format_ids is not None:
            for i, name in enumerate(self.format_names, start=1):
                sel = w * (format_ids == i)
                metrics[f"spec/loss_per_token/{name}"] = clu_metrics.Average(
                    total=jnp.sum(terms.loss * sel), count=jnp.sum(sel)
                )
        return metrics


def _sbs_metrics(logits, targets, out: loss_objective.BatchLoss, rationale_loss: str) -> dict:
    """The step-by-step objective's per-task metrics (see module docstring)."""
    terms, parts = out.terms, out.parts
    w = out.weights.astype(jnp.float32)
    w_rat = w * (out.task_ids == sbs_names.RATIONALE_TASK_ID)
    w_lab = w - w_rat
    hit = (jnp.argmax(logits, axis=-1) == targets).astype(jnp.float32)
    metrics = {
        "sbs/label_loss_per_token": clu_metrics.Average(
            total=parts.label_loss * parts.label_tokens, count=parts.label_tokens),
        "sbs/rationale_loss_per_token": clu_metrics.Average(
            total=parts.rationale_loss * parts.rationale_tokens, count=parts.rationale_tokens),
        "sbs/rationale_ce_per_token": clu_metrics.Average(
            total=jnp.sum(terms.ce * w_rat), count=parts.rationale_tokens),
        "sbs/label_token_accuracy": clu_metrics.Average(
            total=jnp.sum(hit * w_lab), count=parts.label_tokens),
        "sbs/label_token_fraction": clu_metrics.Average(
            total=parts.label_tokens, count=jnp.sum(w)),
    }
    if rationale_loss == "kl":
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
