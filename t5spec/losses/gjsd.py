"""GKD's generalized Jensen-Shannon divergence over the teacher's top-k support plus one bucket.

Pure JAX functions, no gin, no model. Shapes as in :mod:`t5spec.losses.sparse`: ``B`` batch,
``L`` target length, ``V`` student vocabulary (logit rows), ``k`` teacher ids per position.
Nats per token.

The divergence (Agarwal et al., "On-Policy Distillation of Language Models: Learning from
Self-Generated Mistakes", ICLR 2024, eq. 1), teacher ``P``, student ``Q``, ``0 < β < 1``::

    M = β·P + (1 − β)·Q
    JSD(β)(P ‖ Q) = β·KL(P ‖ M) + (1 − β)·KL(Q ‖ M)

It is 0 at both ends of the interval; GKD (and TRL's ``GKDTrainer``) define the ends as the
limits of its behaviour: ``β = 0`` is the forward KL(P ‖ Q) and ``β = 1`` the reverse
KL(Q ‖ P) (JSD(β)/β → KL(P ‖ Q) as β → 0 and JSD(β)/(1 − β) → KL(Q ‖ P) as β → 1; so do the
gradients, up to those factors). :func:`generalized_jsd` computes exactly that: the JSD for
``0 < β < 1``, the forward KL at ``β = 0``, the reverse KL at ``β = 1``.

The approximation. The teacher is known only on its top-k ids (probabilities ``p_j`` summing to
``s ≤ 1``: ``s = 1`` in the aligner's renormalized mode, the API's raw mass in
``paper_compat``). Both distributions are coarse-grained onto ``k + 1`` categories: the ``k``
ids, and one *rest* bucket holding the teacher's ``1 − s`` and the student's mass on every
other id, ``1 − Σ_j q(ids_j)``::

    P̃ = (p_1, …, p_k, 1 − s)       Q̃ = (q(ids_1), …, q(ids_k), 1 − Σ_j q(ids_j))

and the loss is JSD(β)(P̃ ‖ Q̃) (or the KLs at the ends). Coarse-graining never increases an
f-divergence, so this is a lower bound on the divergence from any full teacher distribution
with that top-k, and it is *exact* when the teacher's unseen tail is proportional to the
student's (``P(i) ∝ Q(i)`` over the rest; in particular when ``s = 1``). At such a point the
gradients agree too (the gap is ≥ 0 and 0 there). ``tests/train/test_gjsd.py`` checks both
against :func:`dense_generalized_jsd` on a small vocabulary.

At ``β = 0`` the loss is the sparse forward KL of :mod:`t5spec.losses.sparse` (which leaves the
mass outside the top-k out) plus the rest bucket's term ``(1 − s)·log((1 − s)/(1 − Σ q_j))``;
with ``s = 1`` the two are equal. At ``β = 1`` and ``s = 1`` the reverse KL is infinite as soon
as the student puts mass outside the top-k (the renormalized teacher gives it none): reverse
KL needs the API's raw mass, or a β below 1.

Conventions: entries with ``p_j = 0`` are padding (the feature converter pads rows with id 0
and probability 0): they belong to the rest bucket on both sides. Ids with ``p_j > 0`` must be
distinct within a position (the aligner merges repeated ids). A position whose support covers
the whole vocabulary has an empty student bucket; its teacher rest mass (0 up to rounding) is
then ignored. A position with no teacher (all ``p_j = 0``) has P̃ = Q̃ = (0, …, 0, 1): loss 0.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class GJSDTerms:
    """Per-token values, each [B, L] float32.

    Attributes:
      loss: JSD(β)(P̃ ‖ Q̃) (forward KL at β = 0, reverse KL at β = 1), nats.
      teacher_mass: s = Σ_j p_j, the teacher mass on its top-k.
      student_mass: Σ_j q(ids_j) over the support, the student's mass there.
    """

    loss: Array
    teacher_mass: Array
    student_mass: Array


def generalized_jsd(logits: Array, teacher_ids: Array, teacher_probs: Array,
                    beta: float) -> GJSDTerms:
    """GKD's generalized JSD between the teacher's top-k (+ rest bucket) and the student.

    Args:
      logits: [B, L, V] float student logits.
      teacher_ids: [B, L, k] int ids into V (distinct where the probability is > 0).
      teacher_probs: [B, L, k] float teacher probabilities, sum ≤ 1 (0 = padding).
      beta: β in [0, 1], a Python float (0: forward KL, 1: reverse KL; see module doc).

    Returns:
      :class:`GJSDTerms` (the caller masks padding positions and reduces).
    """
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    log_p, log_q, active, mass = _buckets(logits, teacher_ids, teacher_probs)
    p = jnp.exp(log_p)
    has_p = active & (p > 0)
    safe_log_p = jnp.where(has_p, log_p, 0.0)
    q = jnp.exp(log_q)
    if beta == 0.0:
        per = jnp.where(has_p, p * (safe_log_p - log_q), 0.0)
    elif beta == 1.0:
        per = jnp.where(active, q * (log_q - jnp.where(has_p, log_p, -jnp.inf)), 0.0)
        per = jnp.where(active & (q == 0), 0.0, per)  # 0·log 0 = 0
    else:
        student_part = jnp.log1p(-beta) + log_q
        log_m = jnp.where(has_p, jnp.logaddexp(jnp.log(beta) + safe_log_p, student_part),
                          student_part)
        kl_pm = jnp.where(has_p, p * (safe_log_p - log_m), 0.0)
        kl_qm = jnp.where(active, q * (log_q - log_m), 0.0)
        per = beta * kl_pm + (1.0 - beta) * kl_qm
    student_mass = jnp.sum(jnp.where(active[..., :-1], q[..., :-1], 0.0), axis=-1)
    return GJSDTerms(loss=jnp.sum(per, axis=-1), teacher_mass=mass, student_mass=student_mass)


def _buckets(logits: Array, ids: Array, probs: Array) -> tuple[Array, Array, Array, Array]:
    """(log P̃, log Q̃, active, s): [B, L, k+1] logs (finite wherever ``active``), the
    categories that count, and the teacher's top-k mass [B, L]."""
    x = logits.astype(jnp.float32)
    lse = jax.nn.logsumexp(x, axis=-1)
    p = probs.astype(jnp.float32)
    support = p > 0
    log_q_ids = jnp.take_along_axis(x, ids, axis=-1) - lse[..., None]
    b_idx = jnp.arange(ids.shape[0])[:, None, None]
    l_idx = jnp.arange(ids.shape[1])[None, :, None]
    in_support = jnp.zeros(x.shape, bool).at[b_idx, l_idx, ids].max(support)
    empty = jnp.all(in_support, axis=-1)  # the support is the whole vocabulary
    rest_logits = jnp.where(in_support | empty[..., None], -jnp.inf, x)
    rest_logits = jnp.where(empty[..., None], 0.0, rest_logits)  # finite: no NaN gradients
    log_q_rest = jax.nn.logsumexp(rest_logits, axis=-1) - lse
    mass = jnp.sum(jnp.where(support, p, 0.0), axis=-1)
    p_rest = jnp.maximum(1.0 - mass, 0.0)
    log_p = jnp.log(jnp.concatenate([jnp.where(support, p, 1.0), p_rest[..., None]], -1))
    log_p = jnp.where(jnp.concatenate([support, (p_rest > 0)[..., None]], -1), log_p, -jnp.inf)
    log_q = jnp.concatenate([jnp.where(support, log_q_ids, 0.0), log_q_rest[..., None]], -1)
    active = jnp.concatenate([support, ~empty[..., None]], axis=-1)
    return log_p, log_q, active, mass


def dense_generalized_jsd(logits: Array, teacher_dense: Array, beta: float) -> Array:
    """Reference: per-token JSD(β) (KLs at the ends) from an explicit [B, L, V] teacher.

    What :func:`generalized_jsd` avoids building; tests use it as the ground truth.
    Returns [B, L] float32 nats.
    """
    log_q = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    q = jnp.exp(log_q)
    p = teacher_dense.astype(jnp.float32)
    pos = p > 0
    log_p = jnp.log(jnp.where(pos, p, 1.0))
    if beta == 0.0:
        return jnp.sum(jnp.where(pos, p * (log_p - log_q), 0.0), axis=-1)
    if beta == 1.0:
        return jnp.sum(q * (log_q - jnp.where(pos, log_p, -jnp.inf)), axis=-1)
    log_m = jnp.where(pos, jnp.logaddexp(jnp.log(beta) + log_p, jnp.log1p(-beta) + log_q),
                      jnp.log1p(-beta) + log_q)
    kl_pm = jnp.sum(jnp.where(pos, p * (log_p - log_m), 0.0), axis=-1)
    kl_qm = jnp.sum(q * (log_q - log_m), axis=-1)
    return beta * kl_pm + (1.0 - beta) * kl_qm
