"""SeqIO tasks for distilling step-by-step: label + rationale training.

Registered when this module is imported (gin: ``from t5spec.tasks import stepbystep``) or by
:func:`register` / :func:`t5spec.tasks.register` (method and ids:
:mod:`t5spec.tasks.stepbystep_names`):

========================================== ==================================================
name                                       contents
========================================== ==================================================
``t5spec_gsm8k_sbs_label``                 aligned teacher samples (as ``t5spec_gsm8k_*``):
                                           ``label_prefix + question`` → ``The answer is
                                           <gold>`` (one-hot), ``format_id`` 5
``t5spec_gsm8k_sbs_rationale``             the same samples: ``rationale_prefix + question``
                                           → the teacher rationale with its top-k rows,
                                           ``format_id`` 6
``t5spec_gsm8k_gold_sbs_label``,           GSM8K train gold rationales, no teacher (as
``t5spec_gsm8k_gold_sbs_rationale``        ``t5spec_gsm8k_gold_*``)
``t5spec_gsm8k_sbs``                       label + rationale (teacher)
``t5spec_gsm8k_gold_sbs``                  label + rationale (gold)
========================================== ==================================================

Training features are those of :mod:`t5spec.tasks.specialization` (teacher arrays,
``format_id``), so ``DistillationFeatureConverter`` batches them, alone or mixed with the
four formats. The test-time modes (``t5spec_eval_<math>_sbs_label`` / ``_sbs_rationale``:
this module's prefix + question, :data:`TARGET_FORMAT` targets; results columns
``<math>/sbs_label``, ``<math>/sbs_rationale``) are evaluation tasks, registered with the
others by :mod:`t5spec.evaluate.tasks`.

Gin (read when a dataset is built)::

    from t5spec.tasks import stepbystep as sbs_tasks
    sbs_tasks.StepByStepConfig.label_prefix = 'predict: '
    sbs_tasks.StepByStepConfig.rationale_prefix = 'explain: '
    sbs_tasks.StepByStepConfig.rationale_rate = 1.0
"""

from __future__ import annotations

import dataclasses
import functools

import seqio
import tensorflow as tf

import gin
from t5spec import preprocessors
from t5spec.data import formats
from t5spec.tasks import config as task_config
from t5spec.tasks import specialization
from t5spec.tasks import stepbystep_names as stepbystep

TASKS = stepbystep.TASKS  # ("label", "rationale")
MIXTURE = "t5spec_gsm8k_sbs"
GOLD_MIXTURE = "t5spec_gsm8k_gold_sbs"
# Target shape per task: the answer-only formats' ("The answer is N"), the CoT formats'
# (rationale + "The answer is N"); the evaluation modes use the same.
TARGET_FORMAT = {"label": "zero_shot_answer_only", "rationale": "zero_shot_cot"}


@gin.configurable
@dataclasses.dataclass(frozen=True)
class StepByStepConfig:
    """Task prefixes (prepended to the question) and mixture rates of the two tasks."""

    label_prefix: str = stepbystep.DEFAULT_LABEL_PREFIX
    rationale_prefix: str = stepbystep.DEFAULT_RATIONALE_PREFIX
    label_rate: float = 1.0
    rationale_rate: float = 1.0

    def prefix(self, task: str) -> str:
        return self.label_prefix if task == "label" else self.rationale_prefix


def task_name(task: str, *, gold: bool = False) -> str:
    """``t5spec_gsm8k_sbs_<task>`` (teacher) or ``t5spec_gsm8k_gold_sbs_<task>``."""
    return f"t5spec_gsm8k_{'gold_' if gold else ''}sbs_{task}"


def _rate(task: str):
    return lambda _: float(getattr(StepByStepConfig(), f"{task}_rate"))


def _make_inputs(task: str) -> preprocessors.MakeInputs:
    prefix = StepByStepConfig().prefix(task)
    return lambda key, question: prefix + question


# -- training -------------------------------------------------------------------------------
def _to_task(ds: tf.data.Dataset, task: str) -> tf.data.Dataset:
    """Aligned sample → the ``task`` example (label: answer only; rationale: teacher rows)."""
    return preprocessors.aligned_to_format(
        ds, make_inputs=_make_inputs(task), answer_only=task == "label",
        format_id=stepbystep.TASK_IDS[task],
    )


def _gold_examples(task: str, split: str, shuffle_files: bool, seed: int | None = None):
    del split, shuffle_files, seed  # one small file; shuffling happens downstream
    train = specialization.gsm8k_train(str(task_config.current().raw_dir()))
    make = _make_inputs(task)
    cols: dict[str, list] = {"key": [], "question_id": [], "inputs": [], "targets": []}
    for ex in train:
        cols["key"].append(ex.id)
        cols["question_id"].append(ex.id)
        cols["inputs"].append(make(ex.id, ex.question))
        cols["targets"].append(
            formats.build_targets(ex.rationale or "", ex.answer_text, TARGET_FORMAT[task]))
    task_id = stepbystep.TASK_IDS[task]
    ds = tf.data.Dataset.from_tensor_slices(cols)
    return ds.map(lambda ex: {**ex, "format_id": tf.constant(task_id, tf.int32)})


def register() -> None:
    """Registers the label / rationale tasks and mixtures (idempotent; also on import)."""
    if MIXTURE in seqio.MixtureRegistry.names():
        return
    features = specialization.output_features()
    for task in TASKS:
        seqio.TaskRegistry.add(
            task_name(task),
            source=seqio.FunctionDataSource(specialization.aligned_records, splits=("train",)),
            preprocessors=[specialization.parse_aligned, functools.partial(_to_task, task=task),
                           *specialization.text_preprocessors()],
            output_features=features,
            metric_fns=[],
        )
        seqio.TaskRegistry.add(
            task_name(task, gold=True),
            source=seqio.FunctionDataSource(
                functools.partial(_gold_examples, task), splits=("train",)),
            preprocessors=specialization.text_preprocessors(),
            output_features=features,
            metric_fns=[],
        )
    seqio.MixtureRegistry.add(MIXTURE, [(task_name(t), _rate(t)) for t in TASKS])
    seqio.MixtureRegistry.add(
        GOLD_MIXTURE, [(task_name(t, gold=True), _rate(t)) for t in TASKS])


register()
