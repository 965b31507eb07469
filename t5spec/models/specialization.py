"""``SpecializationModel``: T5X's ``EncoderDecoderModel`` trained on the teacher's top-k.

Only ``loss_fn`` changes (scoring, initialization are T5X's; decoding is T5X's loop over
:class:`t5spec.models.decode_cache.CachedDecodingModel`'s caches). Per target position
it takes KL(teacher top-k ‖ student) where a teacher distribution exists and cross-entropy
elsewhere (``distill_weight = 1``, distribution matching), plain cross-entropy
(``distill_weight = 0``, sample matching; equal to T5X's loss), or a weighted mix — see
:func:`t5spec.losses.specialization_token_losses` for the math and the treatment of teacher
mass outside the top-k. T5X's ``z_loss`` and ``loss_normalizing_factor`` behave as in T5X.

Gin (in a run file)::

    from t5spec import models as spec_models
    MODEL = @spec_models.SpecializationModel()
    spec_models.SpecializationModel.distill_weight = 1.0

Batches come from :class:`t5spec.feature_converters.DistillationFeatureConverter` (the
model's ``FEATURE_CONVERTER_CLS``); a batch without teacher features trains with CE.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
from clu import metrics as clu_metrics
from t5x import losses as t5x_losses
from t5x import models as t5x_models

from t5spec import losses
from t5spec.feature_converters import DistillationFeatureConverter
from t5spec.models.decode_cache import CachedDecodingModel

FORMATS = (
    "in_context_answer_only",
    "in_context_cot",
    "zero_shot_answer_only",
    "zero_shot_cot",
)


class SpecializationModel(CachedDecodingModel):
    """Encoder-decoder model whose loss is the sparse top-k KL / CE mix.

    Args (beyond ``EncoderDecoderModel``'s):
      distill_weight: α ∈ [0, 1]; 1 = distribution matching, 0 = sample matching.
      renormalize_teacher: divide the teacher's k probabilities by their sum before use.
      format_names: names of ``decoder_format_ids`` 1, 2, … for the per-format metrics.
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
        distill_weight: float = 1.0,
        renormalize_teacher: bool = False,
        format_names: Sequence[str] = FORMATS,
        t5x_decode_cache: bool = False,
    ):
        if not 0.0 <= distill_weight <= 1.0:
            raise ValueError(f"distill_weight must be in [0, 1], got {distill_weight}")
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
        self.distill_weight = float(distill_weight)
        self.renormalize_teacher = bool(renormalize_teacher)
        self.format_names = tuple(format_names)

    def loss_fn(
        self,
        params,
        batch: Mapping[str, jnp.ndarray],
        dropout_rng: jax.Array | None,
    ) -> tuple[jnp.ndarray, t5x_models.MetricsMap]:
        """Loss (scalar, T5X's normalization) and metrics for one batch."""
        logits = self._compute_logits(params, batch, dropout_rng)
        factor, weights = t5x_losses.get_loss_normalizing_factor_and_weights(
            self._loss_normalizing_factor, batch
        )
        targets = batch["decoder_target_tokens"]
        if weights is None:
            weights = (targets > 0).astype(jnp.float32)
        terms = losses.specialization_token_losses(
            logits,
            targets,
            *_teacher_arrays(batch),
            distill_weight=self.distill_weight,
            z_loss=self._z_loss,
            renormalize=self.renormalize_teacher,
        )
        loss = losses.reduce_tokens(terms.loss, weights, factor)
        z_loss = losses.reduce_tokens(terms.z_term, weights, factor)
        segment_ids = {
            k[: -len("_segment_ids")]: v for k, v in batch.items() if k.endswith("_segment_ids")
        }
        if not segment_ids:
            segment_ids = {
                k: v != 0
                for k, v in batch.items()
                if k in ("encoder_input_tokens", "decoder_target_tokens")
            }
        metrics = self._compute_metrics(
            logits=logits, targets=targets, mask=weights, loss=loss, z_loss=z_loss,
            segment_ids=segment_ids,
        )
        metrics.update(self._spec_metrics(terms, weights, batch.get("decoder_format_ids")))
        return loss, metrics

    def _spec_metrics(self, terms: losses.TokenLosses, weights, format_ids):
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


def _teacher_arrays(batch: Mapping[str, jnp.ndarray]):
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
