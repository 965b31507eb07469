"""Read the per-checkpoint results files a run's evaluations wrote, as accuracy tables.

A run directory (T5X ``MODEL_DIR``) holds ``inference_eval/results.jsonl`` (dev, written by
``infer_eval`` during training) and ``eval/<name>/inference_eval/results.jsonl`` (standalone
``t5x.eval`` runs, e.g. the test evaluation of a selected checkpoint); the line format is
documented in :mod:`t5spec.evaluate.loggers`. Every results file under the run is read; a
later line for the same (split, step, column) replaces an earlier one (re-evaluations win).
Pure Python, no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from t5spec.errors import InputError

RESULTS_FILE = "results.jsonl"  # written by t5spec.evaluate.loggers.ResultsLogger
PREDICTIONS_DIR = "predictions"  # per-example files of loggers.PredictionsLogger
_FIELDS = {"step": int, "column": str, "split": str, "metrics": dict}


@dataclasses.dataclass(frozen=True)
class Record:
    """One task evaluated at one step.

    Attributes:
      step: the checkpoint's training step.
      column: ``"<benchmark>/<mode>"`` (``"gsm8k/zs_cot"``, ``"bbh/cot"``).
      split: ``"dev"``, ``"test"``, ``"full_test"`` or ``"paper_dev"``.
      accuracy: fraction correct in [0, 1] (BBH: macro average over its tasks).
      num_examples: how many examples were scored.
      path: the results file it came from.
    """

    step: int
    column: str
    split: str
    accuracy: float
    num_examples: int
    path: str


def _record(obj: object, path: Path, line: int) -> Record:
    where = f"line {line}"
    if not isinstance(obj, dict):
        raise InputError(path, "expected a JSON object", where=where)
    for name, kind in _FIELDS.items():
        if not isinstance(obj.get(name), kind) or isinstance(obj.get(name), bool):
            raise InputError(path, f"missing or not {kind.__name__}", where=where, field=name)
    accuracy = obj["metrics"].get("accuracy")
    if (isinstance(accuracy, bool) or not isinstance(accuracy, (int, float))
            or not 0.0 <= accuracy <= 1.0):
        raise InputError(
            path, f"accuracy {accuracy!r} not in [0, 1]", where=where, field="metrics.accuracy"
        )
    count = obj.get("num_examples", 0)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InputError(path, f"expected a count (integer >= 0), got {json.dumps(count)[:40]}",
                         where=where, field="num_examples")
    return Record(
        step=obj["step"],
        column=obj["column"],
        split=obj["split"],
        accuracy=float(accuracy),
        num_examples=count,
        path=str(path),
    )


def read_lines(path: Path) -> list[tuple[int, str]]:
    """``(line number, text)`` of a UTF-8 text file's non-blank lines; InputError naming the
    file and line of bytes that are not UTF-8."""
    out = []
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(path, f"not UTF-8 text (byte {raw[e.start]:#04x} at column "
                                 f"{e.start + 1})", where=f"line {line_no}") from None
            if line.strip():
                out.append((line_no, line))
    return out


def read_results(path: str | os.PathLike) -> list[Record]:
    """The records of one results file; InputError (file, line, field) on a malformed line."""
    path = Path(path)
    records = []
    for line_no, line in read_lines(path):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(path, f"not JSON: {e.msg}", where=f"line {line_no}") from None
        records.append(_record(obj, path, line_no))
    return records


def results_files(run_dir: str | os.PathLike) -> list[Path]:
    """``RUN/inference_eval/results.jsonl`` then ``RUN/eval/*/inference_eval/results.jsonl``."""
    run = Path(run_dir)
    if not run.is_dir():
        raise InputError(run, "run directory does not exist")
    own = run / "inference_eval" / RESULTS_FILE
    evals = sorted(run.glob(f"eval/*/inference_eval/{RESULTS_FILE}"))
    return [own, *evals] if own.is_file() else evals


def load_run(run_dir: str | os.PathLike) -> list[Record]:
    """All records of a run; InputError when the run has no evaluation results at all."""
    files = results_files(run_dir)
    if not files:
        raise InputError(
            Path(run_dir),
            f"no evaluation results (no {RESULTS_FILE} under it): train with gin/infer_eval.gin "
            "or run `t5spec eval` first",
        )
    return [r for f in files for r in read_results(f)]


Table = dict[int, dict[str, float]]


def accuracy_table(records: Iterable[Record], split: str) -> Table:
    """``{step: {column: accuracy}}`` for one split; later records override earlier ones."""
    table: Table = {}
    for r in records:
        if r.split == split:
            table.setdefault(r.step, {})[r.column] = r.accuracy
    return dict(sorted(table.items()))


def columns(table: Table) -> list[str]:
    """The columns present in any step, sorted."""
    return sorted({c for row in table.values() for c in row})


def mean_of(row: dict[str, float], cols: Sequence[str]) -> float | None:
    """Mean of ``row`` over ``cols``, or None when any column is missing."""
    if not all(c in row for c in cols):
        return None
    return sum(row[c] for c in cols) / len(cols)
