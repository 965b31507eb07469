"""The report's intervals: each accuracy's 95% interval and paired comparisons of runs.

:mod:`t5spec.report` prints its Tables 1 and 3 with :func:`cell` / :func:`mean_cell` and adds
:func:`comparisons`. Both read the per-item test predictions the evaluation keeps
(:mod:`t5spec.evaluate.items`) at the checkpoint each row shows; a number with no per-item
file (an evaluation older than per-item predictions) prints without an interval. Intervals are
percentile bootstraps over test items (:mod:`t5spec.evaluate.stats`, fixed seed, 2000
resamples); BBH is the macro average over its tasks, resampled within each task.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from t5spec.evaluate import items, stats

SAMPLES = 2000
Found = dict[str, items.Items]


def read_test_items(run_dir: str | os.PathLike, step: int | None) -> Found:
    """The run's per-item test results at ``step`` per column (empty when none kept)."""
    return {} if step is None else items.read_items(run_dir, "test", step)


def _pooled(found: Found, cols: Sequence[str]) -> tuple[np.ndarray, list[str]] | None:
    """The columns' items concatenated, each column (BBH: each task) one stratum."""
    if not cols or not all(c in found for c in cols):
        return None
    correct, groups = [], []
    for c in cols:
        correct.append(found[c].correct)
        groups += [f"{c}|{g}" for g in found[c].groups] if found[c].groups else \
            [c] * len(found[c].keys)
    return np.concatenate(correct), groups


def mean_cell(found: Found, cols: Sequence[str], value: float | None, not_run: str) -> str:
    """``"12.0 [7.0, 19.8]"``: ``value`` (the results file's number, the mean over ``cols``)
    with the bootstrap interval of the per-item results; ``value`` alone without them."""
    if value is None:
        return not_run
    pooled = _pooled(found, cols)
    if pooled is None:
        return f"{100 * value:.1f}"
    ci = stats.bootstrap_accuracy(pooled[0], groups=pooled[1], samples=SAMPLES)
    return f"{100 * value:.1f} [{100 * ci.low:.1f}, {100 * ci.high:.1f}]"


def cell(found: Found, column: str, value: float | None, not_run: str) -> str:
    """:func:`mean_cell` of one column."""
    return mean_cell(found, (column,), value, not_run)


def difference(a: Found, b: Found, cols: Sequence[str]) -> tuple[stats.Interval, int] | None:
    """A − B over ``cols`` (mean of columns) on the items both scored, paired bootstrap;
    (interval, items compared) or None when either lacks a column."""
    if not all(c in a and c in b for c in cols):
        return None
    rows_a, rows_b, groups = [], [], []
    for c in cols:
        (xa, xb), g = items.common([a[c], b[c]])
        rows_a.append(xa)
        rows_b.append(xb)
        groups += [f"{c}|{x}" for x in g] if g else [c] * len(xa)
    diff = stats.paired_difference(np.concatenate(rows_a), np.concatenate(rows_b),
                                   groups=groups, samples=SAMPLES)  # fmt: skip
    return diff, len(groups)


def comparisons(runs: Sequence[tuple[str, bool, Found]], columns: Sequence[str],
                names: Sequence[str]) -> list[list[str]]:  # fmt: skip
    """Rows ``[A − B, column, items, difference, sentence]``: every specialized run against
    every baseline, then specialized runs against each other (in order), per column both
    evaluated per item. ``runs``: (name, is_baseline, per-item test results)."""
    trained = [r for r in runs if not r[1]]
    pairs = [(a, b) for a in trained for b in runs if b[1]]
    pairs += [(a, b) for i, a in enumerate(trained) for b in trained[i + 1:]]
    rows = []
    for (name_a, _, found_a), (name_b, _, found_b) in pairs:
        for column, label in zip(columns, names, strict=True):
            result = difference(found_a, found_b, (column,))
            if result is None:
                continue
            diff, n = result
            rows.append([f"{name_a} − {name_b}", label, str(n), diff.points(signed=True),
                         stats.verdict(name_a, name_b, diff)])  # fmt: skip
    return rows
