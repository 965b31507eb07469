"""SeqIO tasks for distilling step-by-step: label + rationale training, label/rationale eval.

Registered when ``t5spec.tasks`` is imported (method and ids: :mod:`t5spec.tasks.stepbystep_names`):

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
``t5spec_eval_<math>_sbs_label``           <math> ∈ gsm8k, multiarith, asdiv, svamp:
                                           ``label_prefix + question`` (answer only; decode
                                           budget: ``stepbystep.LABEL_MAX_NEW_TOKENS``)
``t5spec_eval_<math>_sbs_rationale``       ``rationale_prefix + question`` (rationale, then
                                           the answer)
``t5spec_eval_math_sbs_label``,            the four math benchmarks in one mode
``t5spec_eval_math_sbs_rationale``
``t5spec_eval_sbs``                        all eight
========================================== ==================================================

Training features are those of :mod:`t5spec.tasks.specialization` (teacher arrays,
``format_id``), so ``DistillationFeatureConverter`` batches them, alone or mixed with the
four formats. Evaluation tasks are built like :mod:`t5spec.tasks.evaluation`'s (same splits,
``EvalBudget``, string features, math postprocessor and ``accuracy`` metric); their results
column is ``<math>/sbs_label`` or ``<math>/sbs_rationale``.

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
from t5spec.evaluate import benchmarks, metrics
from t5spec.evaluate.benchmarks import EvalTask
from t5spec.tasks import config as task_config
from t5spec.tasks import evaluation, specialization
from t5spec.tasks import stepbystep_names as stepbystep

TASKS = stepbystep.TASKS  # ("label", "rationale")
MIXTURE = "t5spec_gsm8k_sbs"
GOLD_MIXTURE = "t5spec_gsm8k_gold_sbs"
EVAL_MODES = dict(zip(TASKS, benchmarks.SBS_MODES, strict=True))  # label → sbs_label, …
EVAL_TASKS = benchmarks.SBS_EVAL_TASKS
EVAL_MIXTURES = benchmarks.SBS_MIXTURES
# The answer-only formats' target shape, the CoT formats' (rationale + "The answer is N").
_TARGET_FORMAT = {"label": "zero_shot_answer_only", "rationale": "zero_shot_cot"}


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
    train = specialization._gsm8k_train(str(task_config.current().raw_dir()))
    make = _make_inputs(task)
    cols: dict[str, list] = {"key": [], "question_id": [], "inputs": [], "targets": []}
    for ex in train:
        cols["key"].append(ex.id)
        cols["question_id"].append(ex.id)
        cols["inputs"].append(make(ex.id, ex.question))
        cols["targets"].append(
            formats.build_targets(ex.rationale or "", ex.answer_text, _TARGET_FORMAT[task]))
    task_id = stepbystep.TASK_IDS[task]
    ds = tf.data.Dataset.from_tensor_slices(cols)
    return ds.map(lambda ex: {**ex, "format_id": tf.constant(task_id, tf.int32)})


def _register_training() -> None:
    features = specialization.output_features()
    for task in TASKS:
        seqio.TaskRegistry.add(
            task_name(task),
            source=seqio.FunctionDataSource(specialization._aligned_records, splits=("train",)),
            preprocessors=[specialization._parse, functools.partial(_to_task, task=task),
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


# -- evaluation -----------------------------------------------------------------------------
def _mode_task(mode: str) -> str:
    return next(t for t, m in EVAL_MODES.items() if m == mode)


@functools.lru_cache(maxsize=64)
def _eval_rows(
    task: EvalTask, split: str, data_dir: str, cap: int | None, prefix: str
) -> tuple[dict, ...]:
    from t5spec.data import math_datasets
    from t5spec.data.answers import format_number

    fmt = _TARGET_FORMAT[_mode_task(task.mode)]
    rows = []
    for ex in list(math_datasets.load(task.benchmark, split, data_dir))[:cap]:
        answer = format_number(ex.answer)
        target_fmt = fmt if ex.rationale else _TARGET_FORMAT["label"]
        rows.append({
            "inputs": prefix + ex.question,
            "targets": formats.build_targets(ex.rationale or "", answer, target_fmt),
            "id": ex.id, "answer": answer, "bbh_task": "",
            "benchmark": task.benchmark, "mode": task.mode, "split": split,
        })
    return tuple(rows)


def _eval_dataset(
    split: str, shuffle_files: bool = False, seed: int | None = None, *, task: EvalTask
) -> tf.data.Dataset:
    """The examples of ``task`` in a SeqIO split, in file order (never shuffled)."""
    del shuffle_files, seed
    prefix = StepByStepConfig().prefix(_mode_task(task.mode))
    rows = _eval_rows(task, benchmarks.SEQIO_SPLITS[split],
                      str(task_config.current().raw_dir()), evaluation.EvalBudget().cap(task),
                      prefix)
    names = evaluation._FEATURES
    if not rows:
        spec = {k: tf.TensorSpec([], tf.string) for k in names}
        return tf.data.Dataset.from_generator(lambda: iter(()), output_signature=spec)
    return tf.data.Dataset.from_tensor_slices({k: [r[k] for r in rows] for k in names})


def _register_eval() -> None:
    for task in EVAL_TASKS:
        seqio.TaskRegistry.add(
            task.name,
            source=seqio.FunctionDataSource(
                functools.partial(_eval_dataset, task=task), splits=task.seqio_splits),
            preprocessors=[
                seqio.preprocessors.tokenize,
                seqio.CacheDatasetPlaceholder(),
                seqio.preprocessors.append_eos_after_trim,
            ],
            output_features=task_config.output_features(),
            postprocess_fn=metrics.postprocess_math,
            metric_fns=[metrics.math_accuracy],
            shuffle_buffer_size=None,
        )
    for name, names in EVAL_MIXTURES.items():
        seqio.MixtureRegistry.add(name, list(names), default_rate=1.0)


_register_training()
_register_eval()
