"""Per-item correctness of a run's evaluations, keyed by test item, for paired statistics.

Every evaluation writes one line per example into ``…/inference_eval/predictions/
<task>-<split>-<step:06d>.jsonl`` (:class:`t5spec.evaluate.loggers.PredictionsLogger`:
``id``, ``benchmark``, ``mode``, ``split``, ``bbh_task``, ``correct``, …). This module reads
them back as :class:`Items` — the item keys, a bool correctness array and each item's group
(the BBH task; None for math) — so two runs can be compared on the *same* items
(:func:`common`) with :mod:`t5spec.evaluate.stats`. Pure Python + numpy, no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from t5spec.errors import InputError
from t5spec.evaluate.results import PREDICTIONS_DIR, read_lines


@dataclasses.dataclass(frozen=True)
class Items:
    """One column's per-item results: ``keys[i]`` was answered ``correct[i]``.

    Attributes:
      keys: item keys (``"<id>"``; BBH: ``"<task>:<id>"``), in file order.
      correct: bool [n].
      groups: [n] BBH task per item (macro-average strata), or None for a math column.
    """

    keys: tuple[str, ...]
    correct: np.ndarray
    groups: tuple[str, ...] | None = None


def _folders(run_dir: Path) -> list[Path]:
    """The run's own predictions, then each standalone evaluation's (later ones win)."""
    own = run_dir / "inference_eval" / PREDICTIONS_DIR
    return [own, *sorted(run_dir.glob(f"eval/*/inference_eval/{PREDICTIONS_DIR}"))]


def read_file(path: str | os.PathLike) -> dict[str, dict[str, tuple[bool, str | None]]]:
    """``{column: {key: (correct, bbh_task or None)}}`` of one predictions file; InputError
    naming the file, line and field on a malformed line."""
    path = Path(path)
    out: dict[str, dict[str, tuple[bool, str | None]]] = {}
    for i, line in read_lines(path):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(path, f"not JSON: {e.msg}", where=f"line {i}") from None
        for name in ("id", "benchmark", "mode", "correct"):
            if not isinstance(rec, dict) or name not in rec:
                raise InputError(path, "missing", where=f"line {i}", field=name)
        if not isinstance(rec["correct"], bool):  # "no" would count as correct
            raise InputError(path, f"expected true/false, got {json.dumps(rec['correct'])[:40]}",
                             where=f"line {i}", field="correct")
        task = rec.get("bbh_task") or None
        key = f"{task}:{rec['id']}" if task else str(rec["id"])
        out.setdefault(f"{rec['benchmark']}/{rec['mode']}", {})[key] = (bool(rec["correct"]),
                                                                          task)  # fmt: skip
    return out


def read_items(run_dir: str | os.PathLike, split: str, step: int) -> dict[str, Items]:
    """Per column, the items a run's evaluations of ``split`` at ``step`` scored (empty
    when that evaluation kept no predictions)."""
    merged: dict[str, dict[str, tuple[bool, str | None]]] = {}
    for folder in _folders(Path(run_dir)):
        for path in sorted(folder.glob(f"*-{split}-{step:06d}.jsonl")):
            for column, items in read_file(path).items():
                merged.setdefault(column, {}).update(items)
    return {column: _items(items) for column, items in merged.items()}


def read_split(folder: str | os.PathLike, split: str) -> dict[str, Items]:
    """Per column, the items of every ``split`` predictions file under ``folder/inference_eval``
    (an evaluation folder of one checkpoint); InputError when there is none."""
    files = sorted((Path(folder) / "inference_eval" / PREDICTIONS_DIR).glob(f"*-{split}-*.jsonl"))
    if not files:
        raise InputError(Path(folder) / "inference_eval" / PREDICTIONS_DIR,
                         f"no {split} predictions (*-{split}-*.jsonl); run the evaluation")
    merged: dict[str, dict[str, tuple[bool, str | None]]] = {}
    for path in files:
        for column, items in read_file(path).items():
            merged.setdefault(column, {}).update(items)
    return {column: _items(items) for column, items in merged.items()}


def _items(items: dict[str, tuple[bool, str | None]]) -> Items:
    keys = tuple(items)
    tasks = [items[k][1] for k in keys]
    groups = tuple(str(t) for t in tasks) if any(tasks) else None
    return Items(keys, np.array([items[k][0] for k in keys], bool), groups)


def common(runs: list[Items]) -> tuple[list[np.ndarray], tuple[str, ...] | None]:
    """The runs' correctness restricted to the items all of them scored, in one order:
    ([n] bool per run, [n] groups or None). ValueError when they share no item."""
    keys = [k for k in runs[0].keys if all(k in set(r.keys) for r in runs[1:])]
    if not keys:
        raise ValueError("the runs share no test item; they cannot be compared item by item")
    arrays = []
    for r in runs:
        index = {k: i for i, k in enumerate(r.keys)}
        arrays.append(r.correct[[index[k] for k in keys]])
    first = runs[0]
    if first.groups is None:
        return arrays, None
    group = dict(zip(first.keys, first.groups, strict=True))
    return arrays, tuple(group[k] for k in keys)
