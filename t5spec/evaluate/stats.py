"""Intervals for accuracies and for differences of accuracies, and the sentences they justify.

Every function here is pure numpy: it takes per-item correctness (0/1 or bool) and returns an
:class:`Interval` of fractions in [0, 1] (differences in [-1, 1]); the report prints them as
percentage points. Bootstrap intervals are percentile intervals from a seeded
``numpy.random.Generator`` (PCG64), so the same data always give the same interval.

Shapes:

* ``[n]`` — one run's correctness on n test items;
* ``[S, n]`` — S seeds of the same method on the same n items (column j = item j in every
  row). Seeds are first averaged per item (``mean over axis 0``), then items are resampled:
  the interval covers the variation from *which test items* were drawn, with the seeds'
  average as the method's answer on each item (the scheme of "resample items, average over
  seeds"). Two methods compared on the same items may have different seed counts (e.g. one
  generalist against three specialized seeds): each is averaged over its own seeds.
* ``groups`` — optional ``[n]`` labels (e.g. the BBH task of each item, or the slot of each
  item when slots are pooled): the statistic is then the *mean over groups of the group
  means* (a macro average, as the report's BBH column), and items are resampled within their
  group (a stratified bootstrap), so every resample keeps each group's size.

A paired difference resamples the *same* item indices for both methods, so item difficulty
cancels; :func:`unpaired_difference` resamples them independently (what two unrelated test
sets would give) and exists to show how much the pairing gains.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

LEVEL = 0.95
SAMPLES = 2000


@dataclasses.dataclass(frozen=True)
class Interval:
    """A point estimate and its interval, as fractions (``0.12`` = 12%)."""

    estimate: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def points(self, signed: bool = False) -> str:
        """``"12.0 [7.0, 19.8]"`` (percent); ``signed``: ``"+7.0 [+2.0, +12.0]"``."""
        f = "{:+.1f}" if signed else "{:.1f}"
        return (f"{f.format(100 * self.estimate)} "
                f"[{f.format(100 * self.low)}, {f.format(100 * self.high)}]")  # fmt: skip

    def __str__(self) -> str:
        return self.points()


def _z(level: float) -> float:
    """Two-sided normal quantile of ``level`` (1.95996… for 0.95)."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + level / 2)


def wilson_interval(correct: int, n: int, level: float = LEVEL) -> Interval:
    """Wilson score interval of a binomial proportion ``correct / n`` (n > 0).

    Closed form, exact for counts (no resampling); used when only counts are known.
    """
    if n <= 0 or not 0 <= correct <= n:
        raise ValueError(f"need 0 <= correct <= n and n > 0, got {correct}/{n}")
    z, p = _z(level), correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if correct == 0 else max(0.0, centre - half)  # exact 0 / 1 at the ends
    high = 1.0 if correct == n else min(1.0, centre + half)
    return Interval(p, low, high)


def _per_item(x: np.ndarray | Sequence) -> np.ndarray:
    """[n] float per-item score: a [n] array as is, a [S, n] array averaged over seeds."""
    a = np.asarray(x, dtype=float)
    if a.ndim == 2:
        if a.shape[0] == 0:
            raise ValueError("a [S, n] array needs at least one seed")
        a = a.mean(axis=0)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"expected [n] or [S, n] correctness with n > 0, got shape {a.shape}")
    return a


def _strata(groups: Sequence | np.ndarray | None, n: int) -> list[np.ndarray]:
    """Index arrays of each group (one group of all items when ``groups`` is None)."""
    if groups is None:
        return [np.arange(n)]
    labels = np.asarray(groups)
    if labels.shape != (n,):
        raise ValueError(f"groups must have one label per item ({n}), got {labels.shape}")
    return [np.flatnonzero(labels == g) for g in dict.fromkeys(labels.tolist())]


def _macro(values: np.ndarray, strata: list[np.ndarray]) -> float:
    return float(np.mean([values[idx].mean() for idx in strata]))


def _resampled(values: Sequence[np.ndarray], strata: list[np.ndarray], samples: int,
               rng: np.random.Generator) -> list[np.ndarray]:  # fmt: skip
    """[B] macro means of each array in ``values`` under the same item draws (paired)."""
    totals = [np.zeros(samples) for _ in values]
    for idx in strata:
        draw = idx[rng.integers(0, len(idx), size=(samples, len(idx)))]  # [B, n_g]
        for total, v in zip(totals, values, strict=True):
            total += v[draw].mean(axis=1)
    return [t / len(strata) for t in totals]


def _percentiles(stats: np.ndarray, estimate: float, level: float) -> Interval:
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(stats, [tail, 100 - tail])
    return Interval(estimate, float(low), float(high))


def bootstrap_accuracy(correct, *, groups=None, samples: int = SAMPLES, seed: int = 0,
                       level: float = LEVEL) -> Interval:  # fmt: skip
    """Accuracy ([n] or [S, n] correctness) with a percentile bootstrap interval over items.

    The estimate is the (macro, with ``groups``) mean of the per-item seed averages. Where
    every item (every seed) is wrong, or every one right, resampling can only return that point
    (a [0, 0] "interval" that claims certainty from n items); the Wilson score interval of 0/n
    (n/n) is returned instead: 0 of 100 → [0.0, 3.7].
    """
    values = _per_item(correct)
    strata = _strata(groups, len(values))
    if np.all(values == 0) or np.all(values == 1):
        return wilson_interval(int(values[0]) * len(values), len(values), level)
    rng = np.random.Generator(np.random.PCG64(seed))
    (stats,) = _resampled([values], strata, samples, rng)
    return _percentiles(stats, _macro(values, strata), level)


def paired_difference(a, b, *, groups=None, samples: int = SAMPLES, seed: int = 0,
                      level: float = LEVEL) -> Interval:  # fmt: skip
    """Accuracy of A minus accuracy of B on the same items, paired bootstrap interval.

    Args:
      a, b: [n] or [S, n] correctness of the two methods on the same n items in the same
        order (seed counts may differ).
      groups: optional [n] group labels (macro average, stratified resampling).
      samples: bootstrap resamples B; seed: the Generator's seed; level: coverage.

    Each resample draws n item indices (within groups) and applies them to both A and B.
    Identical predictions give exactly [0, 0]; swapping A and B negates the interval.
    """
    va, vb = _per_item(a), _per_item(b)
    if va.shape != vb.shape:
        raise ValueError(f"A and B must be scored on the same items: {va.shape} vs {vb.shape}")
    strata = _strata(groups, len(va))
    rng = np.random.Generator(np.random.PCG64(seed))
    (stats,) = _resampled([va - vb], strata, samples, rng)
    return _percentiles(stats, _macro(va - vb, strata), level)


def unpaired_difference(a, b, *, samples: int = SAMPLES, seed: int = 0,
                        level: float = LEVEL) -> Interval:  # fmt: skip
    """Accuracy of A minus accuracy of B, resampling A's and B's items independently.

    What the difference's interval would be if A and B had been tested on different items;
    wider than :func:`paired_difference` when the two methods' errors are correlated.
    """
    va, vb = _per_item(a), _per_item(b)
    rng = np.random.Generator(np.random.PCG64(seed))
    (sa,) = _resampled([va], [np.arange(len(va))], samples, rng)
    (sb,) = _resampled([vb], [np.arange(len(vb))], samples, rng)
    return _percentiles(sa - sb, float(va.mean() - vb.mean()), level)


def verdict(a: str, b: str, diff: Interval, what: str = "") -> str:
    """The sentence a difference ``a − b`` justifies (points, 95% interval).

    ``"dm wins over generalist by +7.0 points [+2.0, +12.0]"`` only when the interval
    excludes 0 (B wins when it lies below 0: the sign is flipped so the winner's lead is
    positive); otherwise ``"dm − generalist: inside the noise, +3.0 [-1.0, +7.0]"``.
    ``what`` (e.g. ``"on GSM8K-slot test"``) is appended to the subject.
    """
    suffix = f" {what}" if what else ""
    if diff.low > 0:
        return f"{a} wins over {b}{suffix} by {_lead(diff)}"
    if diff.high < 0:
        flipped = Interval(-diff.estimate, -diff.high, -diff.low)
        return f"{b} wins over {a}{suffix} by {_lead(flipped)}"
    return f"{a} − {b}{suffix}: inside the noise, {diff.points(signed=True)}"


def _lead(diff: Interval) -> str:
    """``"+7.0 points [+2.0, +12.0]"``."""
    estimate, interval = diff.points(signed=True).split(" ", 1)
    return f"{estimate} points {interval}"
