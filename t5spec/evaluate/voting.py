"""Majority vote over sampled answers (self-consistency, Wang et al. 2023, arXiv 2203.11171).

Pure Python. Answers are any hashable values — exact :class:`fractions.Fraction` math answers
(so ``"2.0"`` and ``"2"`` vote together), BBH answer strings — or None for a sample whose
answer could not be extracted; None never votes.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import TypeVar

A = TypeVar("A", bound=Hashable)


def vote_counts(answers: Iterable[A | None]) -> dict[A, int]:
    """Votes per answer, in order of first appearance (None answers dropped)."""
    counts: dict[A, int] = {}
    for answer in answers:
        if answer is not None:
            counts[answer] = counts.get(answer, 0) + 1
    return counts


def majority_vote(answers: Iterable[A | None]) -> A | None:
    """The most frequent non-None answer; None when no answer is given.

    Ties go to the tied answer that appears first in ``answers`` (for sampled chains of
    thought: the lowest sample index), so the result is a function of the sequence alone —
    the same on every run, machine and Python version.
    """
    counts = vote_counts(answers)
    if not counts:
        return None
    best = max(counts.values())
    return next(a for a, n in counts.items() if n == best)
