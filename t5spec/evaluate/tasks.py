"""SeqIO evaluation tasks, all registered here: the math benchmarks, BBH, step-by-step's modes.

Names (the catalogue is :mod:`t5spec.evaluate.benchmarks`). Importing this module registers
every task and mixture below — gin files say ``from t5spec.evaluate import tasks as
eval_tasks`` — and :func:`register` does it again idempotently. It imports
:mod:`t5spec.tasks.stepbystep` (the prefixes), which registers the step-by-step training tasks.

======================================== ==================================================
task / mixture                           contents
======================================== ==================================================
``t5spec_eval_<math>_<mode>``            <math> ∈ gsm8k, multiarith, asdiv, svamp;
                                         <mode> ∈ zs_cot (zero-shot CoT), ic_cot (in-context
                                         CoT, the paper's 4 fixed exemplars), zs_ao, ic_ao
                                         (answer-only) — 16 tasks
``t5spec_eval_bbh_ao``, ``_bbh_cot``     BIG-Bench Hard, 27 tasks interleaved round-robin in
                                         one SeqIO task, 3-shot prompts; metrics ``accuracy``
                                         (macro over tasks) and ``accuracy/<bbh task>``
``t5spec_eval_math``                     the four math tasks, zero-shot CoT
``t5spec_eval_math_<mode>``              the four math tasks in <mode>
``t5spec_eval_math_all_modes``           all 16 math tasks
``t5spec_eval_bbh``                      BBH answer-only + CoT
``t5spec_eval_all``                      math zero-shot CoT + GSM8K in-context CoT + BBH AO
                                         and CoT (the default ``infer_eval`` during training)
``t5spec_eval_<math>_sbs_label``         distilling step-by-step's test-time modes:
``t5spec_eval_<math>_sbs_rationale``     ``StepByStepConfig`` prefix + question (label: the
                                         answer only, decode budget ``stepbystep_names.
                                         LABEL_MAX_NEW_TOKENS``; rationale: rationale,
                                         then answer)
``t5spec_eval_math_sbs_label``,          the four math benchmarks in one mode;
``…_sbs_rationale``, ``t5spec_eval_sbs`` all eight
======================================== ==================================================

Splits are SeqIO's: ``validation`` = the t5spec **dev** split, ``test`` = **test**; math also
``full_test`` (dev ∪ test), GSM8K also ``paper_dev`` (the authors' 200 train problems). So
``infer_eval/utils.DatasetConfig.split = 'validation'`` evaluates dev during training and
``t5x.eval`` with ``split = 'test'`` the test sets.

Examples carry, besides ``inputs`` / ``targets``, the strings ``id``, ``benchmark``, ``mode``,
``split``, ``answer`` (the gold: canonical number, or the BBH target) and ``bbh_task``; the
postprocessors (:mod:`t5spec.evaluate.metrics`) read the gold from them. Targets are the gold
rationale + "The answer is N" (GSM8K CoT modes), "The answer is N" otherwise, the BBH target.

Budgets (gin, read when a dataset is built)::

    from t5spec.evaluate import tasks as eval_tasks
    eval_tasks.EvalBudget.max_examples = 200                  # every benchmark
    eval_tasks.EvalBudget.per_benchmark = {'bbh': 270, 'gsm8k/zs_cot': 500}

The maximum decode length is the ``targets`` length of the evaluation ``DatasetConfig``
(``gin/eval_spec.gin``: ``MAX_DECODE_LENGTH``).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
from collections.abc import Mapping

import seqio
import tensorflow as tf

import gin
from t5spec.data import formats
from t5spec.evaluate import benchmarks, metrics
from t5spec.evaluate.benchmarks import EvalTask
from t5spec.tasks import config as task_config
from t5spec.tasks import stepbystep as sbs_tasks

_FEATURES = ("inputs", "targets", "id", "benchmark", "mode", "split", "answer", "bbh_task")


@gin.configurable
@dataclasses.dataclass(frozen=True)
class EvalBudget:
    """How many examples each evaluation task keeps (the first N of its split).

    Attributes:
      max_examples: cap for every task; None keeps the whole split.
      per_benchmark: caps by benchmark (``"gsm8k"``, ``"bbh"``) or column
        (``"gsm8k/ic_cot"``, ``"bbh/cot"``); a column entry wins over a benchmark entry, both
        over ``max_examples``. BBH interleaves its 27 tasks, so a cap of 27·k keeps k each.
    """

    max_examples: int | None = None
    per_benchmark: Mapping[str, int] = dataclasses.field(default_factory=dict)

    def cap(self, task: EvalTask) -> int | None:
        for key in (task.column, task.benchmark):
            if key in self.per_benchmark:
                return int(self.per_benchmark[key])
        return self.max_examples


def _math_rows(task: EvalTask, split: str, data_dir: str, cap: int | None) -> list[dict]:
    from t5spec.data import math_datasets
    from t5spec.data.answers import format_number

    fmt = benchmarks.MATH_MODES[task.mode]
    rows = []
    for ex in list(math_datasets.load(task.benchmark, split, data_dir))[:cap]:
        answer = format_number(ex.answer)
        target_fmt = fmt if ex.rationale else "zero_shot_answer_only"
        rows.append(
            {
                "inputs": formats.build_eval_input(ex.question, fmt, data_dir),
                "targets": formats.build_targets(ex.rationale or "", answer, target_fmt),
                "id": ex.id,
                "answer": answer,
                "bbh_task": "",
            }
        )
    return rows


def _bbh_rows(task: EvalTask, split: str, data_dir: str, cap: int | None) -> list[dict]:
    from t5spec.data import bbh

    per_task = [bbh.bbh_split(name, split, data_dir) for name in bbh.available_tasks(data_dir)]
    interleaved = [
        ex for group in itertools.zip_longest(*per_task) for ex in group if ex is not None
    ]
    return [
        {
            "inputs": bbh.build_bbh_input(ex.task, ex.input, task.mode, data_dir),
            "targets": ex.target,
            "id": ex.id,
            "answer": ex.target,
            "bbh_task": ex.task,
        }
        for ex in interleaved[:cap]
    ]


@functools.lru_cache(maxsize=64)
def _rows(task: EvalTask, split: str, data_dir: str, cap: int | None) -> tuple[dict, ...]:
    build = _bbh_rows if task.benchmark == "bbh" else _math_rows
    rows = build(task, split, data_dir, cap)
    for row in rows:
        row.update(benchmark=task.benchmark, mode=task.mode, split=split)
    return tuple(rows)


def _dataset_fn(
    split: str, shuffle_files: bool = False, seed: int | None = None, *, task: EvalTask
) -> tf.data.Dataset:
    """The examples of ``task`` in a SeqIO split, in a fixed order (never shuffled)."""
    del shuffle_files, seed  # evaluation order is fixed
    data_dir = str(task_config.current().raw_dir())
    rows = _rows(task, benchmarks.SEQIO_SPLITS[split], data_dir, EvalBudget().cap(task))
    columns = {k: [r[k] for r in rows] for k in _FEATURES}
    spec = {k: tf.TensorSpec([], tf.string) for k in _FEATURES}
    if not rows:
        return tf.data.Dataset.from_generator(lambda: iter(()), output_signature=spec)
    return tf.data.Dataset.from_tensor_slices(columns)


# -- distilling step-by-step's test-time modes (prefix + question) -------------------------
SBS_MODES = dict(zip(sbs_tasks.TASKS, benchmarks.SBS_MODES, strict=True))  # label → sbs_label


def _mode_task(mode: str) -> str:
    return next(t for t, m in SBS_MODES.items() if m == mode)


@functools.lru_cache(maxsize=64)
def _sbs_rows(
    task: EvalTask, split: str, data_dir: str, cap: int | None, prefix: str
) -> tuple[dict, ...]:
    from t5spec.data import math_datasets
    from t5spec.data.answers import format_number

    fmt = sbs_tasks.TARGET_FORMAT[_mode_task(task.mode)]
    rows = []
    for ex in list(math_datasets.load(task.benchmark, split, data_dir))[:cap]:
        answer = format_number(ex.answer)
        target_fmt = fmt if ex.rationale else sbs_tasks.TARGET_FORMAT["label"]
        rows.append({
            "inputs": prefix + ex.question,
            "targets": formats.build_targets(ex.rationale or "", answer, target_fmt),
            "id": ex.id, "answer": answer, "bbh_task": "",
            "benchmark": task.benchmark, "mode": task.mode, "split": split,
        })
    return tuple(rows)


def _sbs_dataset_fn(
    split: str, shuffle_files: bool = False, seed: int | None = None, *, task: EvalTask
) -> tf.data.Dataset:
    """The examples of ``task`` in a SeqIO split, in file order (never shuffled)."""
    del shuffle_files, seed
    prefix = sbs_tasks.StepByStepConfig().prefix(_mode_task(task.mode))
    rows = _sbs_rows(task, benchmarks.SEQIO_SPLITS[split],
                     str(task_config.current().raw_dir()), EvalBudget().cap(task), prefix)
    names = _FEATURES
    if not rows:
        spec = {k: tf.TensorSpec([], tf.string) for k in names}
        return tf.data.Dataset.from_generator(lambda: iter(()), output_signature=spec)
    return tf.data.Dataset.from_tensor_slices({k: [r[k] for r in rows] for k in names})


def _add(task: EvalTask, dataset_fn, postprocess_fn, metric_fn) -> None:
    seqio.TaskRegistry.add(
        task.name,
        source=seqio.FunctionDataSource(
            functools.partial(dataset_fn, task=task), splits=task.seqio_splits
        ),
        preprocessors=[
            seqio.preprocessors.tokenize,
            seqio.CacheDatasetPlaceholder(),
            seqio.preprocessors.append_eos_after_trim,
        ],
        output_features=task_config.output_features(),
        postprocess_fn=postprocess_fn,
        metric_fns=[metric_fn],
        shuffle_buffer_size=None,
    )


def register() -> None:
    """Registers every evaluation task and mixture of the catalogue (idempotent)."""
    sbs = set(benchmarks.SBS_EVAL_TASKS)
    for task in (*benchmarks.EVAL_TASKS, *benchmarks.SBS_EVAL_TASKS):
        if task.name in seqio.TaskRegistry.names():
            continue
        if task in sbs:
            _add(task, _sbs_dataset_fn, metrics.postprocess_math, metrics.math_accuracy)
        elif task.benchmark == "bbh":
            _add(task, _dataset_fn, metrics.postprocess_bbh, metrics.bbh_accuracy)
        else:
            _add(task, _dataset_fn, metrics.postprocess_math, metrics.math_accuracy)
    for name, task_names in {**benchmarks.MIXTURES, **benchmarks.SBS_MIXTURES}.items():
        if name not in seqio.MixtureRegistry.names():
            seqio.MixtureRegistry.add(name, list(task_names), default_rate=1.0)


@gin.configurable
def mixture_of(tasks: tuple[str, ...] | list[str] = ()) -> str:
    """Registers (once) and returns a mixture of evaluation tasks, for ad-hoc subsets.

    Gin: ``MIXTURE_OR_TASK_NAME = @eval_tasks.mixture_of()`` with
    ``eval_tasks.mixture_of.tasks = ['t5spec_eval_gsm8k_zs_cot', 't5spec_eval_bbh_ao']``.
    Entries may be task names, mixture names or columns (:func:`benchmarks.resolve_names`).
    """
    names = benchmarks.resolve_names(",".join(tasks))
    if len(names) == 1:
        return names[0]
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:10]
    name = f"{benchmarks.TASK_PREFIX}custom_{digest}"
    if name not in seqio.MixtureRegistry.names():
        seqio.MixtureRegistry.add(name, list(names), default_rate=1.0)
    return name


register()
