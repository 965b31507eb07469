"""Every gin name t5spec's Python code writes into a T5X command or reads back from a config.

The gin files are the interface between Python and T5X: ``t5spec lab``, ``t5spec eval`` and the
launchers emit ``--gin.NAME=VALUE`` flags and generated gin files, and the planner queries
bindings. Spelling those names once, here, means a gin rename is one edit, and
``tests/test_gin_names.py`` parses the gins and checks that every name below still exists
where :data:`EXPECTED` says (a macro the run gin defines, a configurable parameter gin can
bind). Macros live only in top-level run gins (``gin/flant5_*_{spec,sbs}.gin``,
``gin/eval_spec.gin``, ``gin/lab/{generalist,specialize,teacher,stepbystep}.gin``, the lab's
generated model gins); fragments (``gin/runs/*.gin``, ``gin/infer_eval.gin``) only read them.

A name that was renamed stays in :data:`RENAMED`: an override or gin binding that still uses
it fails with "... was renamed to NEW" (exit status 2 at the command line) instead of gin's
"no configurable matching" or, for a macro, a silently ignored value. Pure Python, no gin.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from t5spec.errors import InputError

# --- macros of the training run gins (T5X's own first: t5x/configs/runs/finetune.gin)
MODEL = "MODEL"
MODEL_DIR = "MODEL_DIR"
TRAIN_STEPS = "TRAIN_STEPS"
BATCH_SIZE = "BATCH_SIZE"
RANDOM_SEED = "RANDOM_SEED"
INITIAL_CHECKPOINT_PATH = "INITIAL_CHECKPOINT_PATH"
MIXTURE_OR_TASK_NAME = "MIXTURE_OR_TASK_NAME"
TASK_FEATURE_LENGTHS = "TASK_FEATURE_LENGTHS"
LEARNING_RATE = "LEARNING_RATE"
CHECKPOINT_PERIOD = "CHECKPOINT_PERIOD"
NUM_PARTITIONS = "NUM_PARTITIONS"
ALIGNED_DATA = "ALIGNED_DATA"
DISTILL_WEIGHT = "DISTILL_WEIGHT"
RATIONALE_LOSS = "RATIONALE_LOSS"
RATIONALE_WEIGHT = "RATIONALE_WEIGHT"
T5SPEC_VOCAB = "T5SPEC_VOCAB"  # the model gins' SentencePiece file
# dev evaluation during training (read by gin/infer_eval.gin)
EVAL_MIXTURE = "EVAL_MIXTURE"
EVAL_MAX_EXAMPLES = "EVAL_MAX_EXAMPLES"
MAX_DECODE_LENGTH = "MAX_DECODE_LENGTH"
EVAL_BATCH_SIZE = "EVAL_BATCH_SIZE"
EVAL_TASK_PERIODS = "EVAL_TASK_PERIODS"
# t5x.eval (gin/eval_spec.gin over t5x/configs/runs/eval.gin)
CHECKPOINT_PATH = "CHECKPOINT_PATH"
EVAL_OUTPUT_DIR = "EVAL_OUTPUT_DIR"
EVAL_SPLIT = "EVAL_SPLIT"
# the lab's generated model gins (gin/lab/model.gin's shape)
LAB_EMB_DIM = "LAB_EMB_DIM"
LAB_NUM_HEADS = "LAB_NUM_HEADS"
LAB_HEAD_DIM = "LAB_HEAD_DIM"
LAB_MLP_DIM = "LAB_MLP_DIM"
LAB_NUM_LAYERS = "LAB_NUM_LAYERS"
LAB_VOCAB_ROWS = "LAB_VOCAB_ROWS"

# --- configurable parameters (``[scope/]configurable.parameter``), as a --gin. flag spells them
TRAIN_DATA_SEED = "train/utils.DatasetConfig.seed"
STATS_PERIOD = "train.stats_period"  # T5X train()'s summary period
SAVE_DATASET = "utils.SaveCheckpointConfig.save_dataset"
NUM_MICROBATCHES = "trainer.Trainer.num_microbatches"
INFER_EVAL_FEATURE_LENGTHS = "infer_eval/utils.DatasetConfig.task_feature_lengths"
EVAL_FEATURE_LENGTHS = "utils.DatasetConfig.task_feature_lengths"
# per-benchmark example caps of an evaluation ({"gsm8k": 300}); a --gin flag needs the module path
EVAL_PER_BENCHMARK = "t5spec.evaluate.tasks.EvalBudget.per_benchmark"
RESTORE_MODE = "utils.RestoreCheckpointConfig.mode"
TASK_DATA_DIR = "TaskPaths.data_dir"
NUM_EXEMPLARS = "ExemplarConfig.num_exemplars"
LAB_GENERIC_EXAMPLES = "LabTaskConfig.generic_examples"
LAB_GENERIC_SEED = "LabTaskConfig.generic_seed"
LAB_MATH_RATE = "LabTaskConfig.math_rate"
# An ad-hoc evaluation mixture: a --gin flag resolves a configurable by its module path,
# not by a gin file's import alias (`eval_tasks.mixture_of` works only inside gin files).
MIXTURE_OF = "t5spec.evaluate.tasks.mixture_of"
MIXTURE_OF_TASKS = f"{MIXTURE_OF}.tasks"
METHODS_STUDENTS = "methods.MethodsConfig.students"
METHODS_SEEDS = "methods.MethodsConfig.seeds"

# --- where each name must exist: (gin files parsed together, names). "@student" is the lab's
# generated student model gin (t5spec.lab.stages.model_gin_text), "@teacher" the teacher's;
# "@model" any model gin (gin/models/flant5_small.gin). Checked by tests/test_gin_names.py.
_LAB_TRAIN = (MODEL_DIR, TRAIN_STEPS, BATCH_SIZE, LEARNING_RATE, TASK_FEATURE_LENGTHS,
              CHECKPOINT_PERIOD, RANDOM_SEED, TRAIN_DATA_SEED, STATS_PERIOD)
_LAB_DEV_EVAL = (EVAL_MIXTURE, MIXTURE_OF_TASKS, EVAL_MAX_EXAMPLES, MAX_DECODE_LENGTH,
                 EVAL_BATCH_SIZE, EVAL_TASK_PERIODS, INFER_EVAL_FEATURE_LENGTHS)
_LAB_FROM_GENERALIST = (INITIAL_CHECKPOINT_PATH, SAVE_DATASET, ALIGNED_DATA, NUM_EXEMPLARS)
EXPECTED: dict[tuple[str, ...], tuple[str, ...]] = {
    ("@student", "gin/lab/generalist.gin"): (
        *_LAB_TRAIN, *_LAB_DEV_EVAL, LAB_GENERIC_EXAMPLES, LAB_GENERIC_SEED, LAB_MATH_RATE,
        NUM_EXEMPLARS),
    ("@student", "gin/lab/specialize.gin"): (
        *_LAB_TRAIN, *_LAB_DEV_EVAL, *_LAB_FROM_GENERALIST, DISTILL_WEIGHT, MIXTURE_OR_TASK_NAME),
    ("@student", "gin/lab/stepbystep.gin"): (
        *_LAB_TRAIN, *_LAB_FROM_GENERALIST, DISTILL_WEIGHT, MIXTURE_OR_TASK_NAME,
        RATIONALE_LOSS, RATIONALE_WEIGHT),
    ("@teacher", "gin/lab/teacher.gin"): _LAB_TRAIN,
    ("@student",): (LAB_EMB_DIM, LAB_NUM_HEADS, LAB_HEAD_DIM, LAB_MLP_DIM, LAB_NUM_LAYERS,
                    LAB_VOCAB_ROWS, T5SPEC_VOCAB),
    ("@model", "gin/eval_spec.gin"): (
        CHECKPOINT_PATH, EVAL_OUTPUT_DIR, EVAL_SPLIT, MIXTURE_OR_TASK_NAME, MIXTURE_OF_TASKS,
        EVAL_MAX_EXAMPLES, MAX_DECODE_LENGTH, EVAL_BATCH_SIZE, T5SPEC_VOCAB, TASK_DATA_DIR,
        RESTORE_MODE, EVAL_FEATURE_LENGTHS, EVAL_PER_BENCHMARK),
    **{(f"gin/flant5_{size}_spec.gin",): (MODEL, MODEL_DIR, NUM_PARTITIONS, T5SPEC_VOCAB,
                                          NUM_MICROBATCHES, MIXTURE_OR_TASK_NAME, DISTILL_WEIGHT,
                                          ALIGNED_DATA)
       for size in ("small", "base", "large", "xl", "xxl")},
    ("gin/flant5_small_sbs.gin",): (MODEL, MODEL_DIR, NUM_PARTITIONS, T5SPEC_VOCAB,
                                    RATIONALE_LOSS, RATIONALE_WEIGHT, ALIGNED_DATA),
    ("gin/lab_methods.gin",): (METHODS_STUDENTS, METHODS_SEEDS),
}

# --- renamed names: old -> new (a gin macro, configurable or [configurable.]parameter).
RENAMED: dict[str, str] = {
    # issue 28: evaluation tasks moved from tasks/evaluation.py to t5spec/evaluate/tasks.py
    "evaluation.EvalBudget": "eval_tasks.EvalBudget (t5spec.evaluate.tasks.EvalBudget)",
    "t5spec.tasks.evaluation.EvalBudget": "t5spec.evaluate.tasks.EvalBudget",
    "evaluation.mixture_of": MIXTURE_OF,
    "t5spec.tasks.evaluation.mixture_of": MIXTURE_OF,
    # issue 28: one SpecializationModel; step-by-step is LOSS_OBJECTIVE = 'stepbystep'
    "sbs_models.StepByStepModel": "spec_models.SpecializationModel (with LOSS_OBJECTIVE = "
                                  "'stepbystep')",
    "t5spec.models.stepbystep.StepByStepModel": "t5spec.models.SpecializationModel (with "
                                                "LOSS_OBJECTIVE = 'stepbystep')",
    "StepByStepModel": "SpecializationModel (with LOSS_OBJECTIVE = 'stepbystep')",
}

_NAME_CHARS = re.compile(r"[A-Za-z0-9_./]+")


def binding_name(binding: str) -> str:
    """``NAME`` of a ``[--gin.]NAME = VALUE`` binding (a macro or a configurable selector)."""
    body = binding[len("--gin."):] if binding.startswith("--gin.") else binding
    return body.split("=", 1)[0].strip()


def renamed_to(name: str) -> tuple[str, str] | None:
    """``(old, new)`` when ``name`` (a binding's name, a ``@reference`` or a message's word)
    uses a renamed macro or configurable, else None."""
    bare = name.lstrip("@%").split("/")[-1]  # scope/selector: the selector
    for old, new in RENAMED.items():
        if f".{old}." in f".{bare}.":  # the whole name, or dotted parts of it
            return old, new
    return None


def check_not_renamed(bindings: Iterable[str], *, flag: str) -> None:
    """Raises :class:`InputError` naming ``flag`` for the first binding that sets or
    references a renamed name (its name, or an ``@``/``%`` reference in its value)."""
    for binding in bindings:
        body = binding[len("--gin."):] if binding.startswith("--gin.") else binding
        value = body.split("=", 1)[1] if "=" in body else ""
        refs = re.findall(r"[@%]([A-Za-z_][A-Za-z0-9_./]*)", value)
        for name in (binding_name(binding), *refs):
            hit = renamed_to(name)
            if hit is not None:
                raise InputError(None, f"{binding.strip()!r}: {hit[0]!r} was renamed to {hit[1]}",
                                 field=flag)


def renamed_hint(message: str) -> str:
    """`` (X was renamed to Y)`` when gin's error ``message`` names a renamed name, else ''."""
    for word in _NAME_CHARS.findall(message):
        hit = renamed_to(word.strip("."))
        if hit is not None:
            return f" ({hit[0]!r} was renamed to {hit[1]})"
    return ""
