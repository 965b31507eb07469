"""SeqIO task of on-policy distillation: the prompts a student samples its own answers for.

``t5spec_onpolicy_prompts`` reads a JSONL file (``OnPolicyPrompts.path``), one line per
sample to draw::

    {"key": "gsm8k/train/17#1", "question_id": "gsm8k/train/17", "sample_index": 1,
     "question": "Natalia sold …", "inputs": "Q: Natalia sold …\\nA: Let's think step by step."}

(written by :func:`t5spec.lab.onpolicy.write_prompts`: each question ``m`` times, one line per
sample index). ``targets`` is empty: ``python -m t5x.infer`` decodes it (gin/lab/
onpolicy_sample.gin samples with ``decoding.temperature_sample``) and writes every line's
fields next to the prediction, so a prediction keeps its question and sample index.

Registered on import (``gin/lab/onpolicy_sample.gin`` says ``import t5spec.tasks.onpolicy``)
or by :func:`register`; never by ``t5spec.tasks``.
"""

from __future__ import annotations

import dataclasses
import json

import seqio
import tensorflow as tf

import gin
from t5spec.errors import InputError
from t5spec.tasks import config as task_config

PROMPTS_TASK = "t5spec_onpolicy_prompts"
FIELDS = ("key", "question_id", "sample_index", "question", "inputs")


@gin.configurable
@dataclasses.dataclass(frozen=True)
class OnPolicyPrompts:
    """Attributes: path: the prompts JSONL (see the module docstring)."""

    path: str | None = None


def read_prompts(path: str) -> list[dict]:
    """The prompt lines; InputError naming file, line and field on a bad one."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(path, f"not JSON: {e}", where=f"line {n}") from e
            missing = [k for k in FIELDS if k not in row]
            if missing:
                raise InputError(path, "missing field", where=f"line {n}", field=missing[0])
            rows.append({k: row[k] for k in FIELDS})
    return rows


def _source(split: str, shuffle_files: bool, seed: int | None = None) -> tf.data.Dataset:
    del split, shuffle_files, seed  # one file, in order: predictions follow it
    path = OnPolicyPrompts().path
    if not path:
        raise InputError("OnPolicyPrompts.path", "no prompts file bound", field="path")
    rows = read_prompts(path)
    cols = {k: [r[k] for r in rows] for k in FIELDS}
    cols["sample_index"] = [int(i) for i in cols["sample_index"]]
    cols["targets"] = [""] * len(rows)
    return tf.data.Dataset.from_tensor_slices(cols)


def register() -> None:
    """Registers ``t5spec_onpolicy_prompts`` (idempotent)."""
    if PROMPTS_TASK in seqio.TaskRegistry.names():
        return
    seqio.TaskRegistry.add(
        PROMPTS_TASK,
        source=seqio.FunctionDataSource(_source, splits=("train",)),
        preprocessors=[seqio.preprocessors.tokenize, seqio.preprocessors.append_eos_after_trim],
        output_features=task_config.output_features(),
        shuffle_buffer_size=None,
    )


register()
