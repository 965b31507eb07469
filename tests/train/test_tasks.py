"""The SeqIO training tasks on real aligned teacher data; bad records; mixtures."""

from __future__ import annotations

import numpy as np
import pytest
import seqio
import tensorflow as tf

import gin
from t5spec.align import store
from t5spec.data import formats
from t5spec.tasks import specialization

LENGTHS = {"inputs": 1024, "targets": 64}


def _first(name, n=1, lengths=LENGTHS):
    ds = seqio.get_mixture_or_task(name).get_dataset(lengths, split="train", shuffle=False)
    return list(ds.take(n).as_numpy_iterator())


def test_names_registered():
    for fmt in formats.FORMATS:
        assert specialization.teacher_task_name(fmt) in seqio.TaskRegistry.names()
        assert specialization.gold_task_name(fmt) in seqio.TaskRegistry.names()
    for suffix in ("", "_in_context", "_zero_shot"):
        for kind in ("spec", "gold_spec"):
            assert f"t5spec_gsm8k_{kind}{suffix}" in seqio.MixtureRegistry.names()
    mix = seqio.get_mixture_or_task("t5spec_gsm8k_spec_in_context")
    assert {t.name for t in mix.tasks} == {"t5spec_gsm8k_in_context_answer_only",
                                           "t5spec_gsm8k_in_context_cot"}


def test_cot_tasks_carry_the_aligned_teacher(task_gin, aligned_dir):
    first = next(store.read_aligned(str(aligned_dir)))
    for fmt in ("zero_shot_cot", "in_context_cot"):
        (ex,) = _first(specialization.teacher_task_name(fmt))
        n = first.length
        assert ex["targets"].tolist() == [*first.targets.tolist(), 1]  # + EOS
        np.testing.assert_array_equal(ex["teacher_ids"][:n], first.teacher_ids)
        np.testing.assert_array_equal(ex["teacher_probs"][:n], first.teacher_probs)
        np.testing.assert_array_equal(ex["teacher_mask"][:n], first.teacher_mask)
        assert ex["teacher_ids"][n].tolist() == [1, 0, 0, 0, 0] and ex["teacher_mask"][n] == 0
        assert ex["teacher_probs"][n].tolist() == [1, 0, 0, 0, 0]
        assert ex["format_id"] == formats.FORMATS.index(fmt) + 1
    zs = ex_text = _first(specialization.teacher_task_name("zero_shot_cot"))[0]
    assert zs["inputs_pretokenized"].decode() == f"Q: {first.question}\nLet's think step by step"
    ic = _first(specialization.teacher_task_name("in_context_cot"))[0]
    ex_text = ic["inputs_pretokenized"].decode()
    assert ex_text.count("Q: ") == 5 and ex_text.endswith(f"Q: {first.question}\n"
                                                          "Let's think step by step")
    assert ex_text.count(first.question) == 1  # never its own question as an exemplar


def test_answer_only_tasks_are_one_hot(task_gin, aligned_dir):
    first = next(store.read_aligned(str(aligned_dir)))
    (ex,) = _first(specialization.teacher_task_name("in_context_answer_only"))
    assert ex["targets_pretokenized"].decode() == f"The answer is {first.gold}"
    assert ex["teacher_mask"].sum() == 0
    assert ex["teacher_ids"][:, 0].tolist() == ex["targets"].tolist()
    assert ex["inputs_pretokenized"].decode().endswith(f"Q: {first.question}\nA:")


def test_trimmed_targets_keep_teacher_rows_aligned(task_gin, aligned_dir):
    first = next(store.read_aligned(str(aligned_dir)))
    (ex,) = _first(specialization.teacher_task_name("zero_shot_cot"),
                   lengths={"inputs": 256, "targets": 8})
    assert ex["targets"].tolist() == [*first.targets[:7].tolist(), 1]
    np.testing.assert_array_equal(ex["teacher_ids"][:7], first.teacher_ids[:7])
    assert ex["teacher_mask"][7] == 0


def test_gold_tasks_and_mixture_batches(task_gin):
    (ex,) = _first(specialization.gold_task_name("zero_shot_cot"))
    assert ex["targets_pretokenized"].decode().endswith("The answer is 72")
    assert ex["teacher_mask"].sum() == 0
    from t5spec.feature_converters import DistillationFeatureConverter

    ds = seqio.get_mixture_or_task("t5spec_gsm8k_spec").get_dataset(
        {"inputs": 256, "targets": 64}, split="train", shuffle=True, seed=0)
    batch = next(DistillationFeatureConverter(pack=True)(ds, {"inputs": 256, "targets": 64})
                 .batch(4).as_numpy_iterator())
    assert batch["decoder_teacher_ids"].shape == (4, 64, 5)
    assert batch["decoder_teacher_mask"].sum() > 0
    assert set(np.unique(batch["decoder_format_ids"])) <= {0, 1, 2, 3, 4}


def test_format_rates_are_gin_settable(task_gin):
    gin.bind_parameter("t5spec.tasks.specialization.FormatRates.zero_shot_cot", 3.0)
    mix = seqio.get_mixture_or_task("t5spec_gsm8k_spec")
    rates = {t.name: mix.get_rate(t) for t in mix.tasks}
    assert rates["t5spec_gsm8k_zero_shot_cot"] == 3.0
    assert rates["t5spec_gsm8k_in_context_cot"] == 1.0


def _write_bad(tmp_path, mutate):
    good = list(store.read_aligned(str(pytest.aligned_dir)))[:5]
    records = [store.serialize(s) for s in good]
    ex = tf.train.Example.FromString(records[3])
    mutate(ex.features.feature)
    records[3] = ex.SerializeToString()
    path = tmp_path / "gsm8k_train-00000.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as w:
        for r in records:
            w.write(r)
    return path


@pytest.mark.parametrize("field,mutate", [
    ("teacher_probs", lambda f: f.pop("teacher_probs")),
    ("teacher_ids", lambda f: f["teacher_ids"].int64_list.value.pop()),
    ("k", lambda f: f["k"].int64_list.value.__setitem__(0, 4)),
])
def test_bad_record_names_file_record_and_field(tmp_path, aligned_dir, data_dir, field, mutate):
    pytest.aligned_dir = aligned_dir
    path = _write_bad(tmp_path, mutate)
    gin.parse_config(
        "from __gin__ import dynamic_registration\n"
        "from t5spec.tasks import config as task_config\n"
        f"task_config.TaskPaths.vocab_path = '{data_dir / 't5_vocab/spiece.model'}'\n"
        f"task_config.TaskPaths.aligned_pattern = '{path}'\n"
    )
    try:
        ds = seqio.get_mixture_or_task("t5spec_gsm8k_zero_shot_cot").get_dataset(
            LENGTHS, split="train", shuffle=False)
        with pytest.raises(tf.errors.InvalidArgumentError) as err:
            list(ds.as_numpy_iterator())
    finally:
        gin.clear_config()
    assert f"{path}: record 3: field {field}:" in str(err.value)


def test_missing_aligned_data_is_an_input_error(data_dir, tmp_path):
    from t5spec.errors import InputError

    gin.parse_config(
        "from __gin__ import dynamic_registration\n"
        "from t5spec.tasks import config as task_config\n"
        f"task_config.TaskPaths.aligned_pattern = '{tmp_path}/none-*.tfrecord'\n"
    )
    try:
        with pytest.raises(InputError, match="no aligned teacher shards"):
            seqio.get_mixture_or_task("t5spec_gsm8k_zero_shot_cot").get_dataset(
                LENGTHS, split="train")
    finally:
        gin.clear_config()
