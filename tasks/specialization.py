"""SeqIO training tasks and mixtures for GSM8K specialization (the four formats).

Registered when this module is imported (gin: ``import t5spec.tasks.specialization``) or by
:func:`register` / :func:`t5spec.tasks.register`:

================================================ ===========================================
name                                             contents
================================================ ===========================================
``t5spec_gsm8k_<format>``                        aligned teacher samples (``TaskPaths.
                                                 aligned_pattern``), one example per sample;
                                                 CoT formats carry the teacher's top-k rows
                                                 (distribution matching), answer-only
                                                 formats target ``The answer is <gold>``
                                                 (one-hot, mask 0)
``t5spec_gsm8k_gold_<format>``                   GSM8K train gold rationales, no teacher
                                                 (sample matching without a teacher)
``t5spec_gsm8k_spec``                            mixture of the four teacher tasks (paper)
``t5spec_gsm8k_spec_in_context``                 in-context answer-only + in-context CoT
``t5spec_gsm8k_spec_zero_shot``                  zero-shot answer-only + zero-shot CoT
``t5spec_gsm8k_gold_spec``, ``…_in_context``,    the same three mixtures of the gold tasks
``…_zero_shot``
================================================ ===========================================

``<format>`` ∈ ``t5spec.data.formats.FORMATS``: in_context_answer_only, in_context_cot,
zero_shot_answer_only, zero_shot_cot. In-context inputs hold 4 exemplars (GSM8K train
questions with gold rationales) drawn per example key (``question_id#sample_index``) by
``formats.choose_exemplars`` — never the question itself. Only a ``train`` split exists.

Features: ``inputs``, ``targets`` (EOS appended), ``teacher_ids`` int32[T, k],
``teacher_probs`` float32[T, k], ``teacher_mask`` int32[T], ``format_id`` int32 (1-based
index into FORMATS) — carried to the model by
:class:`t5spec.feature_converters.DistillationFeatureConverter`.

Gin (read when a dataset is built)::

    from t5spec.tasks import specialization
    specialization.FormatRates.in_context_cot = 2.0        # mixture rates, default 1 each
    specialization.ExemplarConfig.seed = 1
"""

from __future__ import annotations

import dataclasses
import functools

import seqio
import tensorflow as tf

import gin
from t5spec import preprocessors
from t5spec.data import formats, math_datasets
from t5spec.tasks import config as task_config

FORMATS = formats.FORMATS
MIXTURES = {
    "": FORMATS,
    "_in_context": ("in_context_answer_only", "in_context_cot"),
    "_zero_shot": ("zero_shot_answer_only", "zero_shot_cot"),
}


def teacher_task_name(fmt: str) -> str:
    return f"t5spec_gsm8k_{fmt}"


def gold_task_name(fmt: str) -> str:
    return f"t5spec_gsm8k_gold_{fmt}"


@gin.configurable
@dataclasses.dataclass(frozen=True)
class FormatRates:
    """Mixture rates of the four formats (relative; the paper mixes all four equally)."""

    in_context_answer_only: float = 1.0
    in_context_cot: float = 1.0
    zero_shot_answer_only: float = 1.0
    zero_shot_cot: float = 1.0


@gin.configurable
@dataclasses.dataclass(frozen=True)
class ExemplarConfig:
    """In-context exemplars: how many per input, and the seed of the per-example draw."""

    num_exemplars: int = 4
    seed: int = 0


def _rate(fmt: str):
    return lambda task: float(getattr(FormatRates(), fmt))


@functools.lru_cache(maxsize=4)
def gsm8k_train(data_dir: str) -> tuple:
    """The GSM8K train problems of ``data_dir`` (cached): gold formats and exemplar pool."""
    return tuple(math_datasets.load("gsm8k", "train", data_dir=data_dir))


def _make_inputs(fmt: str) -> preprocessors.MakeInputs:
    """(key, question) -> inputs text for ``fmt``, with exemplars drawn per key."""
    if fmt not in formats.IN_CONTEXT_FORMATS:
        return lambda key, question: formats.build_inputs(question, fmt)
    pool = gsm8k_train(str(task_config.current().raw_dir()))
    ex_cfg = ExemplarConfig()

    def make(key: str, question: str) -> str:
        shots = formats.choose_exemplars(pool, key, n=ex_cfg.num_exemplars, seed=ex_cfg.seed)
        return formats.build_inputs(question, fmt, shots)

    return make


# -- data sources (paths read at dataset-build time) ----------------------------------------
def aligned_records(split: str, shuffle_files: bool, seed: int | None = None):
    """SeqIO source of the aligned teacher shards (``TaskPaths.aligned_pattern``)."""
    del split  # only "train"
    files = task_config.current().aligned_files()
    ds = tf.data.Dataset.from_tensor_slices(files)
    if shuffle_files:
        ds = ds.shuffle(len(files), seed=seed)

    def read(path: tf.Tensor) -> tf.data.Dataset:
        return (
            tf.data.TFRecordDataset(path)
            .enumerate()
            .map(lambda i, r: {"record": r, "source_file": path, "record_index": i})
        )

    return ds.interleave(read, cycle_length=min(len(files), 16))


def _gold_examples(fmt: str, split: str, shuffle_files: bool, seed: int | None = None):
    del split, shuffle_files, seed  # one small file; shuffling happens downstream
    train = gsm8k_train(str(task_config.current().raw_dir()))
    make = _make_inputs(fmt)
    cols: dict[str, list] = {"key": [], "question_id": [], "inputs": [], "targets": []}
    for ex in train:
        cols["key"].append(ex.id)
        cols["question_id"].append(ex.id)
        cols["inputs"].append(make(ex.id, ex.question))
        cols["targets"].append(formats.build_targets(ex.rationale or "", ex.answer_text, fmt))
    ds = tf.data.Dataset.from_tensor_slices(cols)
    format_id = FORMATS.index(fmt) + 1
    return ds.map(lambda ex: {**ex, "format_id": tf.constant(format_id, tf.int32)})


# -- preprocessors reading the config at call time ---------------------------------------------
def parse_aligned(ds: tf.data.Dataset) -> tf.data.Dataset:
    """Serialized aligned records -> parsed teacher samples (``TaskPaths.teacher_k`` wide)."""
    return preprocessors.parse_aligned_records(ds, k=task_config.current().teacher_k)


def _to_format(ds: tf.data.Dataset, fmt: str) -> tf.data.Dataset:
    return preprocessors.aligned_to_format(
        ds,
        make_inputs=_make_inputs(fmt),
        answer_only=fmt not in formats.COT_FORMATS,
        format_id=FORMATS.index(fmt) + 1,
    )


def _finalize(ds: tf.data.Dataset) -> tf.data.Dataset:
    return preprocessors.finalize_teacher(
        ds, k=task_config.current().teacher_k, eos_id=task_config.VOCABULARY.eos_id
    )


def output_features() -> dict[str, seqio.Feature]:
    """Text features (shared lazy vocabulary) plus the teacher arrays and the format id."""
    raw = seqio.PassThroughVocabulary(size=0)
    return {
        **task_config.output_features(),
        "teacher_ids": seqio.Feature(raw, add_eos=False, dtype=tf.int32, rank=2),
        "teacher_probs": seqio.Feature(raw, add_eos=False, dtype=tf.float32, rank=2),
        "teacher_mask": seqio.Feature(raw, add_eos=False, dtype=tf.int32),
        "format_id": seqio.Feature(raw, add_eos=False, dtype=tf.int32, rank=0),
    }


_TEXT_TO_IDS = [preprocessors.tokenize_strings, seqio.preprocessors.append_eos_after_trim]


def text_preprocessors() -> list:
    """Preprocessors after a source yielding ``key``, ``question_id``, ``inputs``,
    ``targets`` (text) and ``format_id``: tokenize, append EOS, one-hot teacher arrays."""
    return [*_TEXT_TO_IDS, _finalize]


def register() -> None:
    """Registers the teacher and gold tasks and their mixtures (idempotent; also on import)."""
    if teacher_task_name(FORMATS[0]) in seqio.TaskRegistry.names():
        return
    features = output_features()
    for fmt in FORMATS:
        seqio.TaskRegistry.add(
            teacher_task_name(fmt),
            source=seqio.FunctionDataSource(aligned_records, splits=("train",)),
            preprocessors=[parse_aligned, functools.partial(_to_format, fmt=fmt), *_TEXT_TO_IDS,
                           _finalize],
            output_features=features,
            metric_fns=[],
        )
        seqio.TaskRegistry.add(
            gold_task_name(fmt),
            source=seqio.FunctionDataSource(
                functools.partial(_gold_examples, fmt), splits=("train",)
            ),
            preprocessors=[*_TEXT_TO_IDS, _finalize],
            output_features=features,
            metric_fns=[],
        )
    for suffix, fmts in MIXTURES.items():
        seqio.MixtureRegistry.add(
            f"t5spec_gsm8k_spec{suffix}", [(teacher_task_name(f), _rate(f)) for f in fmts]
        )
        seqio.MixtureRegistry.add(
            f"t5spec_gsm8k_gold_spec{suffix}", [(gold_task_name(f), _rate(f)) for f in fmts]
        )


register()
