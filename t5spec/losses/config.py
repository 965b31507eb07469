"""Which loss a :class:`~t5spec.models.specialization.SpecializationModel` trains: a config choice.

=================== ========================================= ==========================
``objective``       per-token loss                            batch reduction
=================== ========================================= ==========================
``specialization``  (1 − α)·CE + α·D(teacher top-k ‖ q),      T5X's (Σ / normalizing
                    α = ``distill_weight`` (1: distribution   factor)
                    matching, 0: sample matching); D is
                    ``divergence``: the sparse forward KL
                    (``"kl"``) or GKD's JSD(β) (``"gjsd"``)
``stepbystep``      label tokens: CE; rationale tokens: CE    mean over label tokens
                    (``rationale_loss="ce"``, Hsieh et al.)   + λ · mean over rationale
                    or sparse top-k KL (``"kl"``, hybrid)     tokens
=================== ========================================= ==========================

The math is :mod:`t5spec.losses.sparse`, :mod:`t5spec.losses.gjsd` and
:mod:`t5spec.losses.stepbystep`; the dispatch is :func:`t5spec.losses.objective.batch_loss`.
Pure Python (no JAX): building a config checks it, so a bad setting fails while T5X resolves
the gin config, before any training step.
"""

from __future__ import annotations

import dataclasses
import math

OBJECTIVES = ("specialization", "stepbystep")
"""``specialization``: sparse top-k KL / CE mix; ``stepbystep``: label + λ · rationale."""

RATIONALE_LOSSES = ("ce", "kl")
"""``ce``: cross-entropy on the rationale (the paper); ``kl``: sparse top-k KL (hybrid)."""

DIVERGENCES = ("kl", "gjsd")
"""D of ``specialization``: ``kl`` sparse top-k forward KL; ``gjsd`` generalized JSD(β) over
the teacher's top-k plus one rest bucket (:mod:`t5spec.losses.gjsd`; β = 0 is forward KL with
the rest bucket, β = 1 reverse KL)."""

STEPBYSTEP_NORMALIZING_FACTORS = (None, "NUM_REAL_TARGET_TOKENS")
"""Step-by-step averages each task over its own tokens; no other T5X factor makes sense."""


def check_rationale_loss(rationale_weight: float, rationale_loss: str) -> None:
    """ValueError unless λ is a finite number ≥ 0 and the loss name is one of the choices."""
    try:
        weight = float(rationale_weight)
    except (TypeError, ValueError):
        weight = math.nan
    if not math.isfinite(weight) or weight < 0:
        raise ValueError(
            f"rationale_weight (λ) must be a finite number >= 0, got {rationale_weight!r}"
        )
    if rationale_loss not in RATIONALE_LOSSES:
        choices = ", ".join(repr(c) for c in RATIONALE_LOSSES)
        raise ValueError(f"unknown rationale_loss {rationale_loss!r}; choose from {choices}")


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """The training objective and its knobs (checked on construction).

    Attributes:
      objective: one of :data:`OBJECTIVES`.
      distill_weight: α ∈ [0, 1] of ``"specialization"``; ``"stepbystep"`` ignores the value
        given and uses 1 (``"kl"``) or 0 (``"ce"``) on rationale tokens (see
        :attr:`token_distill_weight`).
      renormalize_teacher: divide the teacher's k probabilities by their sum before use.
      rationale_weight: λ ≥ 0 of ``"stepbystep"``.
      rationale_loss: ``"ce"`` or ``"kl"``, the rationale part of ``"stepbystep"``.
      loss_normalizing_factor: T5X's factor (name, number or None); ``"stepbystep"`` accepts
        only None or ``"NUM_REAL_TARGET_TOKENS"`` (each task is a per-token mean already).
      divergence: D of ``"specialization"``, one of :data:`DIVERGENCES`.
      beta: β ∈ [0, 1] of ``divergence="gjsd"`` (GKD's; 0.5 the symmetric JSD).
    """

    objective: str = "specialization"
    distill_weight: float = 1.0
    renormalize_teacher: bool = False
    rationale_weight: float = 1.0
    rationale_loss: str = "ce"
    loss_normalizing_factor: object = None
    divergence: str = "kl"
    beta: float = 0.5

    def __post_init__(self) -> None:
        if self.divergence not in DIVERGENCES:
            choices = ", ".join(repr(c) for c in DIVERGENCES)
            raise ValueError(f"unknown divergence {self.divergence!r}; choose from {choices}")
        if not 0.0 <= float(self.beta) <= 1.0:
            raise ValueError(f"beta must be in [0, 1], got {self.beta}")
        if self.divergence != "kl" and self.objective != "specialization":
            raise ValueError(f"divergence {self.divergence!r} is a choice of the "
                             f"specialization objective, not of {self.objective!r}")
        if self.objective not in OBJECTIVES:
            choices = ", ".join(repr(c) for c in OBJECTIVES)
            raise ValueError(f"unknown objective {self.objective!r}; choose from {choices}")
        if self.objective == "specialization":
            if not 0.0 <= self.distill_weight <= 1.0:
                raise ValueError(f"distill_weight must be in [0, 1], got {self.distill_weight}")
            return
        check_rationale_loss(self.rationale_weight, self.rationale_loss)
        factor = getattr(self.loss_normalizing_factor, "name", self.loss_normalizing_factor)
        if factor not in STEPBYSTEP_NORMALIZING_FACTORS:
            raise ValueError(
                f"the stepbystep objective averages each task over its own tokens; "
                f"loss_normalizing_factor must be None or 'NUM_REAL_TARGET_TOKENS', got "
                f"{self.loss_normalizing_factor!r}"
            )

    @property
    def token_distill_weight(self) -> float:
        """α of the per-token KL/CE mix (step-by-step: 1 for ``"kl"``, 0 for ``"ce"``)."""
        if self.objective == "stepbystep":
            return 1.0 if self.rationale_loss == "kl" else 0.0
        return float(self.distill_weight)
