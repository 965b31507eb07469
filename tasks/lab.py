"""SeqIO training tasks of the mini lab (``t5spec lab``): generic ability and the lab teacher.

The lab's specialization runs use the ordinary training tasks (``t5spec_gsm8k_spec``,
:mod:`t5spec.tasks.specialization`) and evaluation tasks; what the real setting gets from
elsewhere — a FlanT5 checkpoint with some generic ability, and a teacher LLM — the lab trains
itself from these tasks:

============================== ==============================================================
name                           contents
============================== ==============================================================
``t5spec_lab_generic_ao``      generated BBH-format tasks of the data folder (``bbh/``),
                               answer-only: the 3-shot input of ``t5spec.data.bbh`` (as in
                               evaluation) → ``"<target>."``
``t5spec_lab_generic_cot``     the same questions, CoT: → ``"<rationale> So the answer is X."``
``t5spec_lab_teacher``         GSM8K-slot train problems in the teacher's sampling prompt
                               (``formats.teacher_prompt`` with ``LabTaskConfig.
                               teacher_prompt_id``) → gold CoT ending ``The answer is N``
``t5spec_lab_generalist``      generic AO + CoT and the four GSM8K gold formats, at
                               ``LabTaskConfig.math_rate`` relative to generic (the "FlanT5"
                               of the lab: some generic ability, weak math)
``t5spec_eval_<math>_lab_teacher`` evaluation (dev/test splits of the four math slots, as
                               ``t5spec_eval_<math>_zs_cot``): the question in the teacher's
                               sampling prompt — how the lab teacher answers (methods
                               experiment's ``teacher`` row); mode ``lab_teacher``
``t5spec_eval_math_lab_teacher`` the four of them (one ``t5x.eval`` mixture)
============================== ==============================================================

Generic training questions are drawn with a seed different from the data folder's (which holds
the dev/test questions) and any question that also appears in the folder's ``bbh/`` files is
dropped, so evaluation stays held out. Features are those of the specialization tasks
(teacher arrays one-hot), so one ``SpecializationModel`` trains on all of them.

Registered by the lab only, never by ``t5spec.tasks``: importing this module registers them
(``gin/lab/generalist.gin``, ``gin/lab/teacher.gin`` and ``gin/lab/teacher_eval.gin`` say
``import t5spec.tasks.lab``), as does :func:`register` (idempotent). Gin::

    from t5spec.tasks import lab as lab_tasks
    lab_tasks.LabTaskConfig.generic_examples = 400
"""

from __future__ import annotations

import dataclasses
import functools

import seqio
import tensorflow as tf

import gin
from t5spec.tasks import config as task_config
from t5spec.tasks import specialization

GENERIC_MODES = ("ao", "cot")
GENERALIST_MIXTURE = "t5spec_lab_generalist"
TEACHER_TASK = "t5spec_lab_teacher"
TEACHER_EVAL_MODE = "lab_teacher"  # the column mode of the teacher's evaluation tasks
TEACHER_EVAL_MIXTURE = f"t5spec_eval_math_{TEACHER_EVAL_MODE}"


@gin.configurable
@dataclasses.dataclass(frozen=True)
class LabTaskConfig:
    """Sizes and seeds of the lab's own training tasks.

    Attributes:
      generic_examples: generated training examples per generic task (before held-out
        questions are dropped).
      generic_seed: seed of the training draw (the data folder's BBH files use the lab seed).
      teacher_prompt_id: ``paper_release/lib_prompt/<id>.txt`` of the teacher prompt; the lab
        teacher is trained on exactly the prompt ``t5spec teacher sample`` sends.
      math_rate: mixture rate of each GSM8K gold format in the generalist mixture (generic
        tasks have rate 1 each).
    """

    generic_examples: int = 400
    generic_seed: int = 1001
    teacher_prompt_id: str = "lab_teacher"
    math_rate: float = 0.25


def generic_task_name(mode: str) -> str:
    return f"t5spec_lab_generic_{mode}"


def _rows(keys, inputs, targets, format_id: int) -> tf.data.Dataset:
    cols = {"key": keys, "question_id": keys, "inputs": inputs, "targets": targets}
    ds = tf.data.Dataset.from_tensor_slices(cols)
    return ds.map(lambda ex: {**ex, "format_id": tf.constant(format_id, tf.int32)})


@functools.lru_cache(maxsize=4)
def _generic_examples(data_dir: str, n: int, seed: int) -> tuple[tuple[str, str, object], ...]:
    """(task, input, GenericExample) for training: fresh draws minus the folder's questions."""
    from t5spec.data import bbh
    from t5spec.lab import generic

    out = []
    for task in bbh.available_tasks(data_dir):
        held_out = {ex.input for ex in bbh.load_bbh(task, data_dir)}
        held_out |= {e.input for e in bbh.load_bbh_prompt(task, data_dir).exemplars}
        examples, _ = generic.generate_task(task, n, seed, shots=0)
        out += [(task, ex.input, ex) for ex in examples if ex.input not in held_out]
    return tuple(out)


def _generic_source(mode: str, split: str, shuffle_files: bool, seed: int | None = None):
    del split, shuffle_files, seed
    from t5spec.data import bbh

    data_dir = str(task_config.current().raw_dir())
    cfg = LabTaskConfig()
    rows = _generic_examples(data_dir, cfg.generic_examples, cfg.generic_seed)
    keys = [f"lab_generic/{task}/{i}" for i, (task, _, _) in enumerate(rows)]
    inputs = [bbh.build_bbh_input(task, q, mode, data_dir) for task, q, _ in rows]
    targets = [ex.cot if mode == "cot" else f"{ex.target}." for _, _, ex in rows]
    return _rows(keys, inputs, targets, format_id=0)


def _teacher_source(split: str, shuffle_files: bool, seed: int | None = None):
    del split, shuffle_files, seed
    from t5spec.data import formats, math_datasets

    data_dir = str(task_config.current().raw_dir())
    prompt_id = LabTaskConfig().teacher_prompt_id
    train = math_datasets.load("gsm8k", "train", data_dir=data_dir)
    keys = [ex.id for ex in train]
    inputs = [formats.teacher_prompt(ex.question, data_dir, prompt_id) for ex in train]
    targets = [formats.build_targets(ex.rationale or "", ex.answer_text, "zero_shot_cot")
               for ex in train]  # fmt: skip
    return _rows(keys, inputs, targets, format_id=specialization.FORMATS.index("zero_shot_cot") + 1)


def _math_rate(task: seqio.Task) -> float:
    del task
    return float(LabTaskConfig().math_rate)


@functools.lru_cache(maxsize=32)
def _teacher_eval_rows(benchmark: str, split: str, data_dir: str, cap: int | None,
                       prompt_id: str) -> tuple[dict, ...]:  # fmt: skip
    """The test rows of ``t5spec_eval_<benchmark>_zs_cot`` (same ids, answers, targets and
    order; ``cap``: the first N), the input in the teacher's sampling prompt."""
    from t5spec.data import formats, math_datasets
    from t5spec.data.answers import format_number

    rows = []
    for ex in list(math_datasets.load(benchmark, split, data_dir))[:cap]:
        answer = format_number(ex.answer)
        fmt = "zero_shot_cot" if ex.rationale else "zero_shot_answer_only"
        rows.append({"inputs": formats.teacher_prompt(ex.question, data_dir, prompt_id),
                     "targets": formats.build_targets(ex.rationale or "", answer, fmt),
                     "id": ex.id, "benchmark": benchmark, "mode": TEACHER_EVAL_MODE,
                     "split": split, "answer": answer, "bbh_task": ""})  # fmt: skip
    return tuple(rows)


def _teacher_eval_source(split: str, shuffle_files: bool = False, seed: int | None = None, *,
                         benchmark: str) -> tf.data.Dataset:  # fmt: skip
    """``t5spec_eval_<benchmark>_lab_teacher``'s examples of a SeqIO split, never shuffled;
    capped like every evaluation task (``eval_tasks.EvalBudget``: ``EVAL_MAX_EXAMPLES``)."""
    del shuffle_files, seed
    from t5spec.evaluate import benchmarks
    from t5spec.evaluate import tasks as eval_tasks

    cap = eval_tasks.EvalBudget().cap(benchmarks.EvalTask(benchmark, TEACHER_EVAL_MODE))
    rows = _teacher_eval_rows(benchmark, benchmarks.SEQIO_SPLITS[split],
                              str(task_config.current().raw_dir()), cap,
                              LabTaskConfig().teacher_prompt_id)  # fmt: skip
    names = ("inputs", "targets", "id", "benchmark", "mode", "split", "answer", "bbh_task")
    if not rows:
        spec = {k: tf.TensorSpec([], tf.string) for k in names}
        return tf.data.Dataset.from_generator(lambda: iter(()), output_signature=spec)
    return tf.data.Dataset.from_tensor_slices({k: [r[k] for r in rows] for k in names})


def teacher_eval_task_name(benchmark: str) -> str:
    return f"t5spec_eval_{benchmark}_{TEACHER_EVAL_MODE}"


def _register_teacher_eval() -> None:
    """The teacher's evaluation tasks: math postprocessing and accuracy, evaluation features
    (the vocabulary of ``TaskPaths.vocab_path``: the teacher's in its ``t5x.eval``)."""
    from t5spec.evaluate import benchmarks, metrics

    names = []
    for bench in benchmarks.MATH_BENCHMARKS:
        names.append(teacher_eval_task_name(bench))
        seqio.TaskRegistry.add(
            names[-1],
            source=seqio.FunctionDataSource(
                functools.partial(_teacher_eval_source, benchmark=bench),
                splits=benchmarks.EvalTask(bench, TEACHER_EVAL_MODE).seqio_splits),
            preprocessors=[seqio.preprocessors.tokenize, seqio.CacheDatasetPlaceholder(),
                           seqio.preprocessors.append_eos_after_trim],
            output_features=task_config.output_features(),
            postprocess_fn=metrics.postprocess_math, metric_fns=[metrics.math_accuracy],
            shuffle_buffer_size=None,
        )  # fmt: skip
    seqio.MixtureRegistry.add(TEACHER_EVAL_MIXTURE, names, default_rate=1.0)


def register() -> None:
    """Registers the lab's generic, teacher and generalist tasks and the teacher's evaluation
    tasks (idempotent; also on import)."""
    if GENERALIST_MIXTURE in seqio.MixtureRegistry.names():
        return
    _register_teacher_eval()
    features = specialization.output_features()
    steps = specialization.text_preprocessors()
    for mode in GENERIC_MODES:
        seqio.TaskRegistry.add(
            generic_task_name(mode),
            source=seqio.FunctionDataSource(
                functools.partial(_generic_source, mode), splits=("train",)),
            preprocessors=steps, output_features=features, metric_fns=[],
        )  # fmt: skip
    seqio.TaskRegistry.add(
        TEACHER_TASK,
        source=seqio.FunctionDataSource(_teacher_source, splits=("train",)),
        preprocessors=steps, output_features=features, metric_fns=[],
    )  # fmt: skip
    gold = [(specialization.gold_task_name(f), _math_rate) for f in specialization.FORMATS]
    seqio.MixtureRegistry.add(
        GENERALIST_MIXTURE, [(generic_task_name(m), 1.0) for m in GENERIC_MODES] + gold)


register()
