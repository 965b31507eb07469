"""The methods experiment's report: accuracy with bootstrap 95% intervals, cost, a verdict.

Input: per cell (student size × method × seed) the evaluation folder of its last checkpoint
— ``inference_eval/predictions/<task>-test-<step>.jsonl`` (one line per test example with a
boolean ``correct``, :class:`t5spec.evaluate.loggers.PredictionsLogger`) and
``inference_cost.json`` (:mod:`t5spec.lab.inference_cost`). Output: ``methods.md`` (a table
per method × size, one sentence per column on who wins and whether it is inside the noise)
and ``methods_<method>.png`` (accuracy vs. student parameters).

Columns (the lab's slots): **in-distribution** = GSM8K slot; **OOD** = the mean of the
MultiArith, ASDiv and SVAMP slots' accuracies; **generic** = the mean of the evaluated BBH
modes (one pooled slot). Intervals: a two-level bootstrap (:func:`bootstrap_ci`) over seeds,
then test examples within each drawn seed and slot. Accuracies are fractions in [0, 1]
(printed as %). A column a row was not evaluated on reads "not evaluated". The ``teacher`` row
(:data:`WORLD_ROWS`: one per world, its size column the teacher's shape) is compared with every
size's methods on the same items.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from t5spec.errors import InputError
from t5spec.evaluate import items, stats

COLUMNS: dict[str, tuple[str, ...]] = {
    "in-distribution": ("gsm8k",),
    "OOD": ("multiarith", "asdiv", "svamp"),
    "generic": ("bbh",),
}
LEVEL = 0.95
WORLD_ROWS = ("teacher",)  # one row for every student size (t5spec.lab.methods.TEACHER)
NOT_EVALUATED = "not evaluated"


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A mean accuracy and its bootstrap interval (fractions)."""

    mean: float
    low: float
    high: float

    def overlaps(self, other: Estimate) -> bool:
        return self.low <= other.high and other.low <= self.high

    def __str__(self) -> str:
        return f"{100 * self.mean:.1f} [{100 * self.low:.1f}, {100 * self.high:.1f}]"


def bootstrap_ci(per_seed: Sequence[Sequence[np.ndarray]], *, samples: int = 2000,
                 seed: int = 0, level: float = LEVEL) -> Estimate:  # fmt: skip
    """Mean accuracy over seeds and slots with a percentile bootstrap interval.

    Args:
      per_seed: ``per_seed[s][k]`` — bool/0-1 array [n_sk] of per-example correctness of
        seed s on slot k (every seed has the same slots). The statistic is the mean over
        seeds of the mean over slots of slot accuracy.
      samples: bootstrap resamples B.
      seed: seed of the numpy Generator (fixed: the same data give the same interval).
      level: interval coverage (0.95: the 2.5th and 97.5th percentiles).

    Each resample draws S seeds with replacement, then for each drawn seed and slot n_sk
    examples with replacement (a resampled accuracy of n examples with observed accuracy p is
    Binomial(n, p) / n, which is what is drawn). All wrong (or all right) everywhere gives
    the Wilson score interval of 0/N (N/N) over all N examples instead of the point [0, 0]
    that resampling would return (:func:`t5spec.evaluate.stats.bootstrap_accuracy` alike).
    """
    if not per_seed or not per_seed[0]:
        raise ValueError("bootstrap_ci needs at least one seed with at least one slot")
    slots = len(per_seed[0])
    if any(len(s) != slots for s in per_seed) or any(len(a) == 0 for s in per_seed for a in s):
        raise ValueError("every seed needs the same slots, each with at least one example")
    acc = np.array([[float(np.mean(a)) for a in s] for s in per_seed])  # [S, K]
    n = np.array([[len(a) for a in s] for s in per_seed])  # [S, K]
    if np.all(acc == 0) or np.all(acc == 1):
        ci = stats.wilson_interval(int(acc.flat[0]) * int(n.sum()), int(n.sum()), level)
        return Estimate(ci.estimate, ci.low, ci.high)
    rng = np.random.Generator(np.random.PCG64(seed))
    num_seeds = len(per_seed)
    drawn = rng.integers(0, num_seeds, size=(samples, num_seeds))  # [B, S]
    counts = rng.binomial(n[drawn], acc[drawn])  # [B, S, K]
    means = (counts / n[drawn]).mean(axis=(1, 2))  # [B]
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return Estimate(float(acc.mean()), float(low), float(high))


# --------------------------------------------------------------------------- reading runs
@dataclasses.dataclass(frozen=True)
class CellDir:
    """Where one cell's evaluation lies, and what the cell is."""

    student: str
    params: int
    method: str
    seed: int
    eval_dir: Path


def read_correct(eval_dir: Path) -> dict[str, np.ndarray]:
    """Per benchmark slot (``gsm8k``, …, ``bbh``): bool [n] correctness of the test examples."""
    folder = Path(eval_dir) / "inference_eval" / "predictions"
    files = sorted(folder.glob("*-test-*.jsonl"))
    if not files:
        raise InputError(folder, "no test predictions (*-test-*.jsonl); run the evaluation")
    out: dict[str, list[bool]] = {}
    for path in files:
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                out.setdefault(rec["benchmark"], []).append(bool(rec["correct"]))
            except (json.JSONDecodeError, KeyError) as e:
                raise InputError(path, f"bad prediction line: {e}", where=f"line {i}") from None
    return {k: np.array(v, bool) for k, v in out.items()}


def read_cost(eval_dir: Path) -> dict | None:
    path = Path(eval_dir) / "inference_cost.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


# ------------------------------------------------------------------------------ summaries
@dataclasses.dataclass(frozen=True)
class Row:
    """One method × size: estimates per column (None: not evaluated) and mean cost."""

    method: str
    student: str
    params: int
    seeds: int
    columns: dict[str, Estimate | None]
    tokens_per_answer: float
    seconds_per_100: float


def summarize(cells: Sequence[CellDir], *, samples: int = 2000, seed: int = 0) -> list[Row]:
    """Rows in the order cells first name each (method, student)."""
    groups: dict[tuple[str, str], list[CellDir]] = {}
    for cell in cells:
        groups.setdefault((cell.method, cell.student), []).append(cell)
    rows = []
    for (method, student), group in groups.items():
        correct = [read_correct(c.eval_dir) for c in group]
        columns: dict[str, Estimate | None] = {}
        for column, slots in COLUMNS.items():
            present = [k for k in slots if all(k in c for c in correct)]
            columns[column] = bootstrap_ci([[c[k] for k in present] for c in correct],
                                           samples=samples, seed=seed) if present else None
        costs = [c for c in (read_cost(x.eval_dir) for x in group) if c]
        rows.append(Row(method, student, group[0].params, len(group), columns,
                        _mean_cost(costs, "tokens_per_answer"),
                        _mean_cost(costs, "seconds_per_100_answers")))
    return rows


def _mean_cost(costs: Sequence[dict], key: str) -> float:
    return float(np.mean([c[key] for c in costs])) if costs else math.nan


def table(rows: Sequence[Row]) -> str:
    """Markdown: accuracy % mean [95% CI] per column, tokens per answer, s per 100 answers."""
    head = ["method", "student", "params", *COLUMNS, "tokens/answer", "s/100 answers", "seeds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 3 + "---:|" * (len(head) - 3)]
    for r in rows:
        cells = [r.method, r.student, f"{r.params:,}",
                 *(str(r.columns[c]) if r.columns[c] else NOT_EVALUATED for c in COLUMNS),
                 f"{r.tokens_per_answer:.1f}", f"{r.seconds_per_100:.2f}", str(r.seeds)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def read_slots(eval_dir: Path) -> dict[str, items.Items]:
    """Per slot (``gsm8k``, …, ``bbh``), the cell's test items keyed for pairing: math items
    by id (sm/dm and sbs/hybrid answer the same problems in different modes); BBH items by
    mode and task, grouped by them (the column's macro average)."""
    slots: dict[str, list[tuple[str, items.Items]]] = {}
    for column, found in items.read_split(eval_dir, "test").items():
        bench, mode = column.split("/", 1)
        slots.setdefault(bench, []).append((mode, found))
    out = {}
    for bench, parts in slots.items():
        if all(p.groups is None for _, p in parts):
            merged = {k: c for _, p in parts for k, c in zip(p.keys, p.correct, strict=True)}
            out[bench] = items.Items(tuple(merged), np.array(list(merged.values()), bool))
            continue
        keys, correct, groups = [], [], []
        for mode, p in parts:
            tasks = p.groups or ("",) * len(p.keys)
            keys += [f"{mode}|{k}" for k in p.keys]
            groups += [f"{mode}|{t}" for t in tasks]
            correct += list(p.correct)
        out[bench] = items.Items(tuple(keys), np.array(correct, bool), tuple(groups))
    return out


def paired(a: Sequence[dict[str, items.Items]], b: Sequence[dict[str, items.Items]],
           column: str, *, samples: int = 2000) -> stats.Interval | None:  # fmt: skip
    """Accuracy of A minus B in ``column`` on the items every seed of both scored: per-seed
    slots of A and B → [S_A, n] and [S_B, n] over the column's slots, each slot one
    stratum (BBH: each mode × task) — the paired seeds × items bootstrap of
    :func:`t5spec.evaluate.stats.paired_difference`. None when a slot is missing."""
    present = [k for k in COLUMNS[column] if all(k in c for c in (*a, *b))]
    if not present:
        return None
    rows_a, rows_b, groups = [[] for _ in a], [[] for _ in b], []
    for slot in present:
        arrays, slot_groups = items.common([c[slot] for c in (*a, *b)])
        for row, arr in zip([*rows_a, *rows_b], arrays, strict=True):
            row.extend(arr)
        groups += [f"{slot}|{g}" for g in slot_groups] if slot_groups else \
            [slot] * len(arrays[0])
    return stats.paired_difference(np.array(rows_a, float), np.array(rows_b, float),
                                   groups=groups, samples=samples)


def verdicts(cells: Sequence[CellDir], column: str, baseline: str = "sm", *,
             samples: int = 2000) -> str:  # fmt: skip
    """One sentence per column: per student size, each method minus ``baseline`` on the same
    test items (paired over seeds × items, 95%): "wins" only when the interval excludes 0.
    A :data:`WORLD_ROWS` baseline (the teacher) is every size's."""
    by_size: dict[str, dict[str, list[dict[str, items.Items]]]] = {}
    world: dict[str, list[dict[str, items.Items]]] = {}
    for cell in cells:
        into = world if cell.method in WORLD_ROWS else by_size.setdefault(cell.student, {})
        into.setdefault(cell.method, []).append(read_slots(cell.eval_dir))
    clauses = []
    for student, own in by_size.items():
        methods = {**own, **({baseline: world[baseline]} if baseline in world else {})}
        rivals = [m for m in methods if m not in (baseline, "generalist")]
        for method in (rivals if baseline in methods else []):
            diff = paired(methods[method], methods[baseline], column, samples=samples)
            if diff is not None:
                clauses.append(f"at {student} {stats.verdict(method, baseline, diff)}")
    title = column[0].upper() + column[1:]
    if not clauses:
        return f"{title}: no method to compare with {baseline}; no comparison."
    return f"{title} (each method − {baseline}, points): " + "; ".join(clauses) + "."


def plot(rows: Sequence[Row], output: Path) -> list[Path]:
    """``methods_<method>.png``: accuracy (%) vs. student parameters, one line per column
    with 95% interval bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for method in dict.fromkeys(r.method for r in rows if r.method not in WORLD_ROWS):
        mine = sorted((r for r in rows if r.method == method), key=lambda r: r.params)
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for column in COLUMNS:
            pts = [(r.params, r.columns[column]) for r in mine if r.columns[column]]
            if not pts:
                continue
            x = [p for p, _ in pts]
            y = np.array([100 * e.mean for _, e in pts])
            err = np.array([[100 * (e.mean - e.low) for _, e in pts],
                            [100 * (e.high - e.mean) for _, e in pts]])  # fmt: skip
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=column)
        ax.set_xscale("log")
        ax.set(xlabel="student parameters", ylabel="test accuracy (%)",
               title=f"{method}: accuracy vs. student size (95% CI)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = output / f"methods_{method}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def write_report(cells: Sequence[CellDir], output: Path, *, samples: int = 2000,
                 settings: str = "") -> Path:  # fmt: skip
    """Writes ``output/methods.md`` and the PNGs; returns the Markdown path."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    rows = summarize(cells, samples=samples)
    pngs = plot(rows, output)
    lines = ["# Methods: sample matching, distribution matching, step-by-step, hybrid", "",
             "Test accuracy in % — mean [95% bootstrap interval over seeds and test "
             f"examples, {samples} resamples]; cost of answering GSM8K-slot test questions in "
             "each method's answer mode (sm/dm: zero-shot CoT; sbs/hybrid: label prefix "
             "only), greedy, on this machine.", "", table(rows), "",
             "Differences: paired bootstrap over the same test items (and seeds, averaged "
             "per item); a method \"wins\" only when the 95% interval excludes 0.", "",
             *(f"- {verdicts(cells, c, samples=samples)}" for c in COLUMNS),
             *(f"- {verdicts(cells, c, ref, samples=samples)}" for ref in
               ("generalist", *WORLD_ROWS) for c in COLUMNS
               if any(x.method == ref for x in cells)), "",
             *(f"![{p.stem}]({p.name})" for p in pngs), "", settings, ""]  # fmt: skip
    path = output / "methods.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
