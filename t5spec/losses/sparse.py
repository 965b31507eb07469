"""Sparse top-k distillation losses: KL(teacher top-k ‖ student) next to T5X's cross-entropy.

Pure JAX functions, no gin, no model. Shapes: ``B`` batch, ``L`` target length, ``V`` student
vocabulary (logit rows), ``k`` teacher ids per position. Losses are in nats per token.

The one primitive is :func:`sparse_cross_entropy`, the cross-entropy of the student softmax
against a *sparse* target measure that puts weight ``w_j`` on id ``ids_j``:

    H(w, q) = Σ_j w_j · (lse(logits) − logits[ids_j])          (one log-softmax, k gathers)

with a custom VJP whose gradient is ``(Σ_j w_j) · softmax − Σ_j w_j · onehot(ids_j)``,
computed as one elementwise pass over ``[B, L, V]`` and an in-place scatter-add of n values
per position. It never builds a ``[B, L, V]``
target tensor (T5X's ``cross_entropy_with_logits`` builds a dense one-hot), and it keeps only
the logits and ``lse`` as residuals.

Teacher mass outside the top-k. The aligner's default mode renormalizes the k probabilities to
sum to 1; its ``paper_compat`` mode keeps the API probabilities, which sum to ``s ≤ 1``. The
loss uses the probabilities *as given*: at a distribution position it is

    Σ_j p_j · (log p_j − log q(ids_j))

so the mass ``1 − s`` outside the top-k contributes nothing (no term pushes the student
towards or away from the unseen tokens) and the gradient towards the teacher is scaled by
``s`` (``s · softmax − p``). With ``renormalize=True`` the loss first divides ``p`` by ``s``,
which makes it exactly KL(p̂ ‖ q) restricted to the k ids, p̂ = p / s. Either way the value
``teacher_mass`` (= s) is reported so a run shows how much teacher mass it trains on.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp

Array = jax.Array


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def sparse_cross_entropy(
    logits: Array, ids: Array, weights: Array, z_loss: float = 0.0
) -> tuple[Array, Array, Array]:
    """Cross-entropy of ``softmax(logits)`` against the sparse measure ``(ids, weights)``.

    Args:
      logits: [B, L, V] float student logits.
      ids: [B, L, n] int ids into V (duplicates and weight-0 padding allowed).
      weights: [B, L, n] float non-negative weights (need not sum to 1).
      z_loss: T5X's auxiliary coefficient: adds ``z_loss · lse²`` per token.

    Returns:
      (loss, z_term, lse), each [B, L] float32: ``loss`` = H(w, q) + z_term (nats),
      ``z_term`` = z_loss · lse² (for logging), ``lse`` = logsumexp over V.
    """
    out, _ = _sparse_ce_fwd(logits, ids, weights, z_loss)
    return out


def _sparse_ce_fwd(logits, ids, weights, z_loss):
    x = logits.astype(jnp.float32)
    lse = jax.nn.logsumexp(x, axis=-1)
    picked = jnp.take_along_axis(x, ids, axis=-1)
    w = weights.astype(jnp.float32)
    xent = jnp.sum(w * (lse[..., None] - picked), axis=-1)
    z_term = z_loss * jnp.square(lse)
    return (xent + z_term, z_term, lse), (logits, ids, w, lse, picked)


def _sparse_ce_bwd(z_loss, res, g):
    logits, ids, w, lse, picked = res
    g_loss, g_z, g_lse = g
    # d loss/d x = (Σw + 2 z lse)·softmax − Σ_j w_j onehot_j ; d z/d x = 2 z lse·softmax ;
    # d lse/d x = softmax.
    coef = g_loss * (jnp.sum(w, -1) + 2 * z_loss * lse) + g_z * 2 * z_loss * lse + g_lse
    g_logits = coef[..., None] * jnp.exp(logits.astype(jnp.float32) - lse[..., None])
    # − g · Σ_j w_j onehot(ids_j): a scatter-add of n values per row into the same buffer.
    b_idx = jnp.arange(ids.shape[0])[:, None, None]
    l_idx = jnp.arange(ids.shape[1])[None, :, None]
    g_logits = g_logits.at[b_idx, l_idx, ids].add(-g_loss[..., None] * w)
    g_weights = g_loss[..., None] * (lse[..., None] - picked)
    return g_logits.astype(logits.dtype), None, g_weights


sparse_cross_entropy.defvjp(_sparse_ce_fwd, _sparse_ce_bwd)


@dataclasses.dataclass(frozen=True)
class TokenLosses:
    """Per-token terms, each [B, L] float32 (nats; padding positions not yet masked).

    Attributes:
      loss: the training loss per token (includes ``z_term``).
      z_term: T5X's z-loss part of ``loss``.
      ce: student cross-entropy of the target token, −log q(target) (a diagnostic).
      kl: Σ_j p_j (log p_j − log q(ids_j)) with the p actually used (0 where mask = 0).
      teacher_mass: Σ_j p_j as stored, before any renormalization (0 where mask = 0).
      is_distribution: 1.0 where a teacher distribution exists (mask = 1), else 0.0.
    """

    loss: Array
    z_term: Array
    ce: Array
    kl: Array
    teacher_mass: Array
    is_distribution: Array


def _xlogx(p: Array) -> Array:
    return jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0)


def specialization_token_losses(
    logits: Array,
    targets: Array,
    teacher_ids: Array,
    teacher_probs: Array,
    teacher_mask: Array,
    *,
    distill_weight: float = 1.0,
    z_loss: float = 0.0,
    renormalize: bool = False,
) -> TokenLosses:
    """Mix of distribution matching (KL to the teacher top-k) and sample matching (CE).

    Per token, with α = distill_weight · mask:
      loss = (1 − α) · CE(target) + α · KL(p ‖ q) + z_loss · lse²
    so distill_weight = 1 is distribution matching (KL where a distribution exists, CE
    elsewhere), 0 is sample matching (T5X's CE exactly), in between a weighted mix.
    Implemented as one :func:`sparse_cross_entropy` over k + 1 ids (target, teacher ids).

    Args:
      logits: [B, L, V] student logits.
      targets: [B, L] int target ids (the sampled teacher text in T5 tokens).
      teacher_ids: [B, L, k] int teacher top-k ids (in the student vocabulary).
      teacher_probs: [B, L, k] float probabilities (sum ≤ 1, see module docstring).
      teacher_mask: [B, L] int/bool, 1 where the teacher distribution applies.
      distill_weight: α in [0, 1].
      z_loss: T5X z-loss coefficient.
      renormalize: divide p by Σp before use (mass outside the top-k redistributed).
    """
    mask = (teacher_mask > 0).astype(jnp.float32)
    p = teacher_probs.astype(jnp.float32) * mask[..., None]
    mass = jnp.sum(p, axis=-1)
    if renormalize:
        p = p / jnp.where(mass > 0, mass, 1.0)[..., None]
    alpha = distill_weight * mask
    ids = jnp.concatenate([targets[..., None], teacher_ids], axis=-1).astype(jnp.int32)
    weights = jnp.concatenate([(1.0 - alpha)[..., None], alpha[..., None] * p], axis=-1)
    xent, z_term, lse = sparse_cross_entropy(logits, ids, weights, z_loss)
    neg_entropy = jnp.sum(_xlogx(p), axis=-1)  # constant w.r.t. the student
    loss = xent + alpha * neg_entropy
    # Diagnostics: gathers only, no gradient.
    picked = jax.lax.stop_gradient(jnp.take_along_axis(logits.astype(jnp.float32), ids, -1))
    logq = picked - jax.lax.stop_gradient(lse)[..., None]
    ce = -logq[..., 0]
    kl = neg_entropy - jnp.sum(p * logq[..., 1:], axis=-1)
    return TokenLosses(
        loss=loss, z_term=z_term, ce=ce, kl=kl * mask, teacher_mass=mass, is_distribution=mask
    )


def reduce_tokens(
    per_token: Array, weights: Array | None, loss_normalizing_factor: float | Array | None
) -> Array:
    """T5X's reduction: Σ per_token · weights, divided by the normalizing factor if given."""
    total = per_token if weights is None else per_token * weights
    total = jnp.sum(total)
    return total if loss_normalizing_factor is None else total / loss_normalizing_factor


def dense_teacher_kl(
    logits: Array, teacher_dense: Array, targets: Array, teacher_mask: Array
) -> Array:
    """Reference: per-token KL(teacher ‖ student) from an explicit [B, L, V] teacher.

    Where mask = 0 it is −log q(target). This is what the sparse loss avoids building; tests
    and ``bench/bench_sparse_kl.py`` use it as the ground truth / contrast.

    Args:
      logits: [B, L, V]; teacher_dense: [B, L, V] probabilities; targets: [B, L];
      teacher_mask: [B, L]. Returns [B, L] float32 nats.
    """
    logq = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    kl = jnp.sum(_xlogx(teacher_dense) - teacher_dense * logq, axis=-1)
    ce = -jnp.take_along_axis(logq, targets[..., None], axis=-1)[..., 0]
    return jnp.where(teacher_mask > 0, kl, ce)
