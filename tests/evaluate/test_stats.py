"""t5spec.evaluate.stats against closed-form cases and as properties (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from t5spec.evaluate import stats

bits = st.lists(st.booleans(), min_size=1, max_size=60)


def test_identical_predictions_give_exactly_zero() -> None:
    a = np.random.default_rng(1).random((3, 50)) < 0.3
    diff = stats.paired_difference(a, a)
    assert (diff.estimate, diff.low, diff.high) == (0.0, 0.0, 0.0)
    assert not diff.excludes_zero


def test_bootstrap_of_a_known_binomial_matches_the_normal_width() -> None:
    n, p = 400, 0.3
    correct = np.arange(n) < int(p * n)  # exactly 120 right
    ci = stats.bootstrap_accuracy(correct, samples=4000)
    expected = 2 * 1.96 * math.sqrt(p * (1 - p) / n)  # 0.0898
    assert ci.estimate == pytest.approx(p)
    assert ci.high - ci.low == pytest.approx(expected, rel=0.08)
    assert ci.low < p < ci.high


def test_wilson_matches_its_closed_form() -> None:
    # 5 of 100: the Wilson interval is [2.15%, 11.18%] (textbook value)
    ci = stats.wilson_interval(5, 100)
    assert (ci.low, ci.high) == pytest.approx((0.02154, 0.11175), abs=2e-4)
    big = stats.wilson_interval(300, 1000)
    assert big.high - big.low == pytest.approx(2 * 1.96 * math.sqrt(0.3 * 0.7 / 1000), rel=0.01)
    assert stats.wilson_interval(0, 10).low == 0.0


def test_a_clear_gain_is_a_win_and_a_tie_is_noise() -> None:
    base = np.zeros(300, bool)
    better = np.arange(300) < 60  # +20 points on the same items
    diff = stats.paired_difference(better, base)
    assert diff.excludes_zero and diff.low > 0.1
    assert stats.verdict("dm", "generalist", diff).startswith("dm wins over generalist by +20.0")
    swapped = stats.verdict("generalist", "dm", stats.paired_difference(base, better))
    assert swapped.startswith("dm wins over generalist by +20.0 points [+")
    tie = stats.paired_difference(np.arange(300) % 2 == 0, np.arange(300) % 2 == 1)
    assert stats.verdict("a", "b", tie) == f"a − b: inside the noise, {tie.points(signed=True)}"


def test_seeds_are_averaged_per_item_then_items_resampled() -> None:
    a = np.array([[1, 1, 0, 0], [1, 0, 0, 0]])  # per-item mean .. [1, .5, 0, 0]
    b = np.array([0, 0, 0, 0])  # one seed
    diff = stats.paired_difference(a, b, samples=500)
    assert diff.estimate == pytest.approx(0.375)
    assert stats.bootstrap_accuracy(a, samples=500).estimate == pytest.approx(0.375)


def test_groups_give_the_macro_average_and_keep_group_sizes() -> None:
    correct = np.array([1, 1, 1, 1, 0, 0])  # group x: 4/4, group y: 0/2
    groups = ["x"] * 4 + ["y"] * 2
    ci = stats.bootstrap_accuracy(correct, groups=groups)
    assert ci.estimate == pytest.approx(0.5)  # (1 + 0) / 2, not 4/6
    assert (ci.low, ci.high) == (0.5, 0.5)  # within-group resampling cannot move it


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="same items"):
        stats.paired_difference(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="one label per item"):
        stats.bootstrap_accuracy(np.ones(3), groups=["a"])
    with pytest.raises(ValueError, match="n > 0"):
        stats.bootstrap_accuracy(np.ones(0))


@settings(max_examples=40, deadline=None)
@given(bits, st.integers(0, 2**31 - 1))
def test_interval_contains_the_estimate(correct: list[bool], seed: int) -> None:
    ci = stats.bootstrap_accuracy(correct, samples=300, seed=seed)
    assert ci.low <= ci.estimate <= ci.high
    assert ci.low >= 0.0 and ci.high <= 1.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=60),
       st.integers(0, 2**31 - 1))  # fmt: skip
def test_swapping_a_and_b_flips_the_sign(pairs, seed: int) -> None:
    a, b = np.array(pairs).T
    ab = stats.paired_difference(a, b, samples=300, seed=seed)
    ba = stats.paired_difference(b, a, samples=300, seed=seed)
    assert ab.low <= ab.estimate <= ab.high
    assert (ba.estimate, ba.low, ba.high) == pytest.approx((-ab.estimate, -ab.high, -ab.low))


@settings(max_examples=25, deadline=None)
@given(st.integers(80, 300), st.floats(0.2, 0.8), st.integers(0, 2**31 - 1))
def test_pairing_narrows_the_interval_of_correlated_methods(n: int, p: float,
                                                            seed: int) -> None:  # fmt: skip
    rng = np.random.default_rng(seed)
    a = rng.random(n) < p
    b = a.copy()
    flip = rng.choice(n, size=max(1, n // 20), replace=False)  # B differs on 5% of items
    b[flip] = ~b[flip]
    paired = stats.paired_difference(a, b, samples=500, seed=seed)
    unpaired = stats.unpaired_difference(a, b, samples=500, seed=seed)
    assert paired.high - paired.low < unpaired.high - unpaired.low


@pytest.mark.parametrize("value", [0, 1])
def test_an_all_wrong_or_all_right_column_gets_the_wilson_interval_not_a_point(value) -> None:
    ci = stats.bootstrap_accuracy(np.full((3, 100), value), groups=["a", "b"] * 50)
    assert ci == stats.wilson_interval(100 * value, 100)
    assert (ci.low, ci.high) == ((0.0, pytest.approx(0.037, abs=5e-4)) if value == 0
                                 else (pytest.approx(0.963, abs=5e-4), 1.0))  # fmt: skip
