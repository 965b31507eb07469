"""SeqIO loggers: per-example predictions and the per-checkpoint results file.

Both sit in ``seqio.Evaluator.logger_cls`` next to T5X's usual ``TensorBoardLogger`` (scalars
under ``<log_dir>/<task>/``, tag ``eval/accuracy``) and ``JSONLogger``; ``log_dir`` is
``MODEL_DIR/inference_eval`` during training and ``EVAL_OUTPUT_DIR/inference_eval`` in
``t5x.eval``.

* :class:`PredictionsLogger` writes ``predictions/<task>-<split>-<step>.jsonl``: one line per
  example ``{id, benchmark, mode, split, bbh_task, input, output, extracted, gold, correct}``.
* :class:`ResultsLogger` appends one line per (task, step) to ``results.jsonl``:
  ``{step, task, benchmark, mode, split, column, num_examples, metrics: {name: value}, time}``
  — the machine-readable model-selection data :mod:`t5spec.evaluate.results` reads.

Writes go through ``tf.io.gfile`` (local or ``gs://``); an append is read + write-temp +
rename, so a crash never leaves a half-written results file.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import seqio
import tensorflow as tf
from absl import logging

from t5spec.evaluate import metrics as metrics_lib
from t5spec.evaluate.results import PREDICTIONS_DIR, RESULTS_FILE


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _first_example(dataset: tf.data.Dataset | None) -> dict | None:
    if dataset is None:
        return None
    for ex in dataset.take(1).as_numpy_iterator():
        return ex
    return None


def _describe(task_name: str, dataset: tf.data.Dataset | None) -> dict[str, str] | None:
    """benchmark / mode / split of a t5spec evaluation task, or None for a foreign task."""
    ex = _first_example(dataset)
    if ex is None or not {"benchmark", "mode", "split"} <= set(ex):
        logging.warning("%s: not a t5spec evaluation task, not logged", task_name)
        return None
    return {k: _text(ex[k]) for k in ("benchmark", "mode", "split")}


def _scalar(value: Any) -> float | None:
    if isinstance(value, seqio.metrics.Scalar):
        value = value.value
    try:
        return float(np.asarray(value))
    except (TypeError, ValueError):
        return None


def append_jsonl(path: str, records: Sequence[Mapping[str, Any]]) -> None:
    """Appends JSON lines to ``path`` atomically (read, write ``path.tmp``, rename)."""
    old = ""
    if tf.io.gfile.exists(path):
        with tf.io.gfile.GFile(path, "r") as f:
            old = f.read()
    with tf.io.gfile.GFile(path + ".tmp", "w") as f:
        f.write(old)
        for record in records:
            f.write(json.dumps(record, sort_keys=True) + "\n")
    tf.io.gfile.rename(path + ".tmp", path, overwrite=True)


class ResultsLogger(seqio.Logger):
    """Appends ``{step, task, benchmark, mode, split, metrics, …}`` to ``results.jsonl``."""

    def __call__(
        self,
        task_name: str,
        step: int | None,
        metrics: Mapping[str, Any],
        dataset: tf.data.Dataset | None,
        inferences: Mapping[str, Sequence[Any]] | None,
        targets: Sequence[Any] | None,
    ) -> None:
        del inferences
        info = _describe(task_name, dataset)
        if info is None:
            return
        values = {k: v for k, v in ((k, _scalar(m)) for k, m in metrics.items()) if v is not None}
        record = {
            "step": -1 if step is None else int(step),
            "task": task_name,
            **info,
            "column": f"{info['benchmark']}/{info['mode']}",
            "num_examples": len(targets or ()),
            "metrics": values,
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        tf.io.gfile.makedirs(self.output_dir)
        append_jsonl(os.path.join(self.output_dir, RESULTS_FILE), [record])


class PredictionsLogger(seqio.Logger):
    """Writes one ``{input, output, extracted, gold, correct, …}`` line per example."""

    def __call__(
        self,
        task_name: str,
        step: int | None,
        metrics: Mapping[str, Any],
        dataset: tf.data.Dataset | None,
        inferences: Mapping[str, Sequence[Any]] | None,
        targets: Sequence[Any] | None,
    ) -> None:
        del metrics
        info = _describe(task_name, dataset)
        if info is None or not inferences or not targets:
            return
        outputs = inferences.get("output") or [p["text"] for p in inferences["prediction"]]
        predictions = inferences["prediction"]
        step = -1 if step is None else int(step)
        folder = os.path.join(self.output_dir, PREDICTIONS_DIR)
        tf.io.gfile.makedirs(folder)
        path = os.path.join(folder, f"{task_name}-{info['split']}-{step:06d}.jsonl")
        examples = dataset.as_numpy_iterator()
        with tf.io.gfile.GFile(path + ".tmp", "w") as f:
            for ex, target, output, pred in zip(
                examples, targets, outputs, predictions, strict=False
            ):
                line = {
                    "id": target["id"],
                    **info,
                    "bbh_task": target["bbh_task"],
                    "input": _text(ex["inputs_pretokenized"]),
                    "output": _text(output),
                    "extracted": pred["extracted"],
                    "gold": target["gold"],
                    "correct": bool(metrics_lib.example_score(target, pred)),
                }
                f.write(json.dumps(line, ensure_ascii=False) + "\n")
        tf.io.gfile.rename(path + ".tmp", path, overwrite=True)
