"""The distilling step-by-step loss: label CE + λ · rationale loss (CE or sparse top-k KL).

Pure JAX, no gin, no model. Shapes: ``B`` batch, ``L`` target length, ``V`` vocabulary rows,
``k`` teacher ids per position; losses in nats per token.

Which task a target token belongs to is read from ``task_ids`` [B, L] (the batch's
``decoder_format_ids``): :data:`t5spec.tasks.stepbystep_names.RATIONALE_TASK_ID` marks
rationale tokens; every other real token (label examples, or any other task mixed in) is a
*label-part* token. Per token (:func:`step_by_step_token_losses`):

* label part: CE = −log q(target) (one-hot; label targets carry no teacher distribution);
* rationale part, ``rationale_loss="ce"``: CE on the sampled rationale token (Hsieh et al.);
* rationale part, ``rationale_loss="kl"``: Σ_j p_j (log p_j − log q(ids_j)) where the aligned
  teacher row is a distribution (``teacher_mask`` = 1), CE elsewhere — the sparse top-k KL of
  :func:`t5spec.losses.sparse.specialization_token_losses` with its treatment of the teacher mass
  outside the top-k (``renormalize``).

The batch loss (:func:`combine_task_losses`) averages each part over its own tokens and adds
them, as the paper's two per-task means (each a Hugging Face token-mean loss)::

    loss = Σ_label ℓ_t / N_label + λ · Σ_rationale ℓ_t / N_rationale

(a part with no token in the batch contributes 0). T5X's ``loss_normalizing_factor`` plays
no role: each part is a per-token mean already. Rationale targets are ~20× longer than labels,
so one token mean over both would all but drop the label task.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from t5spec.losses import sparse
from t5spec.losses.config import RATIONALE_LOSSES
from t5spec.tasks.stepbystep_names import RATIONALE_TASK_ID

Array = jax.Array


def step_by_step_token_losses(
    logits: Array,
    targets: Array,
    teacher_ids: Array,
    teacher_probs: Array,
    teacher_mask: Array,
    task_ids: Array,
    *,
    rationale_loss: str = "ce",
    z_loss: float = 0.0,
    renormalize: bool = False,
) -> sparse.TokenLosses:
    """Per-token terms of the step-by-step loss (see module docstring).

    Args:
      logits: [B, L, V] student logits.
      targets: [B, L] int target ids.
      teacher_ids / teacher_probs: [B, L, k] the aligned teacher top-k (rationale tokens).
      teacher_mask: [B, L] 1 where the teacher row is a distribution.
      task_ids: [B, L] int, the example's task (``decoder_format_ids``).
      rationale_loss: ``"ce"`` or ``"kl"``.
      z_loss: T5X's z-loss coefficient (every token).
      renormalize: divide the teacher's k probabilities by their sum (``"kl"`` only).

    Returns:
      :class:`t5spec.losses.sparse.TokenLosses`; ``loss`` is ℓ_t, ``is_distribution`` is 1 only on
      rationale tokens trained towards a teacher distribution.
    """
    if rationale_loss not in RATIONALE_LOSSES:
        raise ValueError(f"unknown rationale_loss {rationale_loss!r}; choose from "
                         f"{', '.join(RATIONALE_LOSSES)}")
    is_rationale = (task_ids == RATIONALE_TASK_ID).astype(teacher_mask.dtype)
    return sparse.specialization_token_losses(
        logits,
        targets,
        teacher_ids,
        teacher_probs,
        teacher_mask * is_rationale,
        distill_weight=1.0 if rationale_loss == "kl" else 0.0,
        z_loss=z_loss,
        renormalize=renormalize,
    )


@dataclasses.dataclass(frozen=True)
class TaskLosses:
    """The batch loss and its two parts (scalars, float32).

    Attributes:
      loss: label_loss + λ · rationale_loss (what is minimized).
      label_loss: mean ℓ_t over label-part tokens (0 when there are none).
      rationale_loss: mean ℓ_t over rationale tokens (0 when there are none).
      label_tokens / rationale_tokens: the token counts (weights summed).
    """

    loss: Array
    label_loss: Array
    rationale_loss: Array
    label_tokens: Array
    rationale_tokens: Array


def combine_task_losses(
    per_token: Array, weights: Array, task_ids: Array, rationale_weight: float
) -> TaskLosses:
    """Averages ``per_token`` [B, L] over each task's tokens and adds λ × the rationale mean.

    ``weights`` [B, L] are T5X's loss weights (1 on real target tokens, 0 on padding).
    """
    w = weights.astype(jnp.float32)
    w_rationale = w * (task_ids == RATIONALE_TASK_ID).astype(jnp.float32)
    w_label = w - w_rationale
    n_label, n_rationale = jnp.sum(w_label), jnp.sum(w_rationale)
    x = per_token.astype(jnp.float32)
    label = jnp.sum(x * w_label) / jnp.maximum(n_label, 1.0)
    rationale = jnp.sum(x * w_rationale) / jnp.maximum(n_rationale, 1.0)
    return TaskLosses(
        loss=label + rationale_weight * rationale,
        label_loss=label,
        rationale_loss=rationale,
        label_tokens=n_label,
        rationale_tokens=n_rationale,
    )
