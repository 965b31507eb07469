"""How varied a checkpoint's answers are: the report's check for a collapsed student.

A student that answers every question with one line ("The answer is 21") scores wherever that
number happens to be the gold answer; its accuracy then measures the answer distribution, not
reasoning. The report therefore shows, next to the accuracies, what the selected checkpoint
actually wrote on GSM8K dev (zero-shot CoT): how many distinct answers, the most common output
and its share, and the share of outputs holding at least one worked step (an ``=`` sign, the
form of every CoT line the teacher and the gold rationales write).

Reads the per-example files of :class:`t5spec.evaluate.loggers.PredictionsLogger`
(``…/inference_eval/predictions/<task>-<split>-<step>.jsonl``) anywhere under a run directory:
``MODEL_DIR/inference_eval`` during training, ``EVAL_OUTPUT_DIR/inference_eval`` of ``t5x.eval``.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path

from t5spec.errors import InputError
from t5spec.evaluate.benchmarks import DEFAULT_MATH_MODE
from t5spec.evaluate.results import PREDICTIONS_DIR, read_lines


@dataclasses.dataclass(frozen=True)
class OutputSummary:
    """What one checkpoint wrote for one task split.

    Attributes:
      examples: number of predictions.
      distinct_answers: number of distinct extracted answers (an empty extraction counts as one).
      top_output: the most frequent whole output (first of ties, in file order).
      top_share: its fraction of the examples, in [0, 1].
      with_steps: fraction of outputs with at least one ``=``, in [0, 1].
    """

    examples: int
    distinct_answers: int
    top_output: str
    top_share: float
    with_steps: float


def summarize(outputs: Sequence[str], extracted: Sequence[str]) -> OutputSummary:
    """:class:`OutputSummary` of parallel lists of outputs and their extracted answers."""
    if len(outputs) != len(extracted):
        raise ValueError(f"{len(outputs)} outputs but {len(extracted)} extracted answers")
    if not outputs:
        raise ValueError("no outputs to summarize")
    top, count = collections.Counter(outputs).most_common(1)[0]
    return OutputSummary(
        examples=len(outputs),
        distinct_answers=len(set(extracted)),
        top_output=top,
        top_share=count / len(outputs),
        with_steps=sum("=" in o for o in outputs) / len(outputs),
    )


def read_summary(
    run_dir: str | os.PathLike, step: int, split: str = "dev", benchmark: str = "gsm8k",
    mode: str = DEFAULT_MATH_MODE,
) -> OutputSummary | None:
    """Summary of ``benchmark``/``mode`` predictions at ``step``; None if none were written."""
    outputs: list[str] = []
    extracted: list[str] = []
    pattern = f"**/{PREDICTIONS_DIR}/*-{split}-{step:06d}.jsonl"
    for path in sorted(Path(run_dir).glob(pattern)):
        for i, line in read_lines(path):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(path, f"not JSON: {e.msg}", where=f"line {i}") from None
            if not isinstance(row, dict) or row.get("benchmark") != benchmark \
                    or row.get("mode") != mode:  # fmt: skip
                continue
            for name in ("output", "extracted"):
                if name not in row:
                    raise InputError(path, "missing", where=f"line {i}", field=name)
            outputs.append(str(row["output"]))
            extracted.append(str(row["extracted"]))
    return summarize(outputs, extracted) if outputs else None
