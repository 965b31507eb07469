"""ScheduledEvaluator + the t5spec loggers on real tasks, with an oracle predict_fn.

The predict function returns each example's gold target tokens (what a perfect model would
decode), so every task must log accuracy 1.0 and every predictions line ``correct: true``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

seqio = pytest.importorskip("seqio")
gin = pytest.importorskip("gin")

from t5spec.evaluate import evaluator, loggers, results  # noqa: E402

MIXTURE = "t5spec_eval_all"
pytestmark = pytest.mark.slow  # ~20 s on 2 quiet cores, more when shared


def oracle_predict_fn(ds, **_):
    """[(index, gold target tokens, EOS and padding as a decoder emits them)]."""
    return [
        (int(index), features["decoder_target_tokens"].tolist())
        for index, features in ds.as_numpy_iterator()
    ]


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def small_budget(vocab_bound) -> None:
    with gin.unlock_config():
        gin.bind_parameter("EvalBudget.max_examples", 3)


def test_task_due_schedule() -> None:
    periods = {"t5spec_eval_bbh_*": 0, "t5spec_eval_*_ic_*": 4}
    due = evaluator.task_due
    assert due("t5spec_eval_gsm8k_zs_cot", 2, periods, final_step=10)
    assert not due("t5spec_eval_bbh_cot", 8, periods, final_step=10)
    assert due("t5spec_eval_bbh_cot", 10, periods, final_step=10)
    assert due("t5spec_eval_gsm8k_ic_cot", 8, periods, 10)
    assert not due("t5spec_eval_gsm8k_ic_cot", 6, periods, 10)
    assert due("t5spec_eval_bbh_ao", 3, periods, final_step=None)  # standalone eval: all


def test_oracle_through_evaluator_and_loggers(tmp_path: Path, small_budget) -> None:
    ev = evaluator.ScheduledEvaluator(
        MIXTURE,
        seqio.EncDecFeatureConverter(pack=False),
        eval_split="validation",
        task_periods={"t5spec_eval_bbh_*": 0},
        final_step=10,
        logger_cls=[loggers.ResultsLogger, loggers.PredictionsLogger],
        log_dir=str(tmp_path),
    )
    for step in (0, 5, 10):
        metrics, _ = ev.evaluate(compute_metrics=True, step=step, predict_fn=oracle_predict_fn)
        assert all(m["accuracy"] == 1.0 for m in metrics.result().values())
    ev.close()

    records = results.read_results(tmp_path / "results.jsonl")
    by_step: dict[int, set[str]] = {}
    for r in records:
        by_step.setdefault(r.step, set()).add(r.column)
        assert r.accuracy == 1.0 and r.split == "dev" and r.num_examples == 3
    math = {"gsm8k/zs_cot", "multiarith/zs_cot", "asdiv/zs_cot", "svamp/zs_cot", "gsm8k/ic_cot"}
    assert by_step[0] == by_step[10] == math | {"bbh/ao", "bbh/cot"}  # first eval: all
    assert by_step[5] == math  # BBH only at the end

    lines = _jsonl(tmp_path / "predictions" / "t5spec_eval_bbh_cot-dev-000010.jsonl")
    assert len(lines) == 3 and all(ln["correct"] for ln in lines)
    assert {"id", "input", "output", "extracted", "gold", "correct", "bbh_task"} <= set(lines[0])
    math_lines = [
        json.loads(x)
        for x in (tmp_path / "predictions" / "t5spec_eval_svamp_zs_cot-dev-000005.jsonl").open()
    ]
    assert [ln["extracted"] for ln in math_lines] == [ln["gold"] for ln in math_lines]


class CountingConverter(seqio.EncDecFeatureConverter):
    """Counts its conversions (each builds one task's tf.data pipeline)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.calls: list[bool] = []  # shared with copies: each call's length check

    def __call__(self, ds, task_feature_lengths):
        self.calls.append(self._apply_length_check)
        return super().__call__(ds, task_feature_lengths)


def _encoder_rows(ev, name: str) -> list[list[int]]:
    return [f["encoder_input_tokens"].tolist()
            for _, f in ev._cached_model_datasets[name].as_numpy_iterator()]


@pytest.mark.parametrize("cap", [512, 48])
def test_each_task_gets_its_own_encoder_length(tmp_path: Path, small_budget, cap: int) -> None:
    """input_length_multiple: every task padded to its own longest input (rounded up to the
    multiple, at most the mixture's length, which still truncates), the decoding length
    untouched, the same tokens as seqio's one-length conversion, the oracle still right;
    seqio's one-length conversion is built for the first task only."""
    lengths = {"inputs": cap}  # targets: the longest (the oracle's outputs)
    common = dict(eval_split="validation", sequence_length=lengths)
    plain = evaluator.ScheduledEvaluator(MIXTURE, seqio.EncDecFeatureConverter(pack=False),
                                         **common)  # fmt: skip
    converter = CountingConverter(pack=False)
    ev = evaluator.ScheduledEvaluator(MIXTURE, converter, input_length_multiple=32,
                                      logger_cls=[loggers.ResultsLogger], log_dir=str(tmp_path),
                                      **common)  # fmt: skip
    assert set(ev.input_lengths) == {t.name for t in plain.eval_tasks}
    assert len(converter.calls) == 1 + len(ev.input_lengths)  # 2 per task before
    assert not any(converter.calls) and converter._apply_length_check  # the caller's stands
    for name, length in ev.input_lengths.items():
        cached = ev._cached_task_datasets[name].as_numpy_iterator()
        longest = max(len(ex["inputs"]) for ex in cached)
        assert length == min(cap, -(-longest // 32) * 32) and length % 32 in (0, cap % 32)
        rows, reference = _encoder_rows(ev, name), _encoder_rows(plain, name)
        assert all(len(r) == length for r in rows)
        assert [r + [0] * (cap - length) for r in rows] == reference  # only padding removed
        targets = {f["decoder_target_tokens"].shape for _, f in
                   ev._cached_model_datasets[name].as_numpy_iterator()}
        assert targets == {plain._model_feature_shapes["decoder_target_tokens"]}
    if cap == 512:
        assert len(set(ev.input_lengths.values())) > 1  # math questions, BBH prompts differ
        assert min(ev.input_lengths.values()) < 128
    else:
        assert set(ev.input_lengths.values()) == {48}  # the cap truncates as before
    metrics, _ = ev.evaluate(compute_metrics=True, step=None, predict_fn=oracle_predict_fn)
    assert all(m["accuracy"] == 1.0 for m in metrics.result().values())
    ev.close()
    plain.close()
    with pytest.raises(ValueError, match=">= 0"):
        evaluator.ScheduledEvaluator(MIXTURE, seqio.EncDecFeatureConverter(pack=False),
                                     input_length_multiple=-1, **common)  # fmt: skip


def test_without_length_check_lets_the_converter_trim_what_seqio_would_reject() -> None:
    import tensorflow as tf

    long = tf.data.Dataset.from_tensors({"inputs": tf.range(3, 13, dtype=tf.int32),
                                         "targets": tf.constant([4, 5, 1], tf.int32)})
    lengths = {"inputs": 8, "targets": 4}
    checked = seqio.EncDecFeatureConverter(pack=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match="inputs"):
        list(checked(long, lengths).as_numpy_iterator())
    unchecked = evaluator.without_length_check(checked)
    (row,) = list(unchecked(long, lengths).as_numpy_iterator())
    assert row["encoder_input_tokens"].tolist() == list(range(3, 11))  # trimmed to 8
    assert checked._apply_length_check  # the original is left as it is
    with pytest.raises(TypeError, match="length check"):
        evaluator.without_length_check(object())


def test_evaluation_examples_convert_to_the_same_arrays_either_way(small_budget) -> None:
    """DistillationFeatureConverter on real evaluation tasks (no teacher arrays): the rows
    derived after seqio's conversion equal the streams' (t5spec/feature_converters.py)."""
    import numpy as np

    from t5spec.feature_converters import DistillationFeatureConverter

    class Streams(DistillationFeatureConverter):
        derive_one_hot_rows = False

    lengths = {"inputs": 512, "targets": 64}
    tasks = seqio.get_mixture_or_task(MIXTURE).tasks
    assert len(tasks) >= 6
    for task in tasks:
        ds = task.get_dataset(lengths, split="validation", shuffle=False).take(3).cache()
        fast = list(DistillationFeatureConverter(pack=False)(ds, lengths).as_numpy_iterator())
        slow = list(Streams(pack=False)(ds, lengths).as_numpy_iterator())
        assert len(fast) == len(slow) > 0, task.name
        for a, b in zip(fast, slow, strict=True):
            assert a.keys() == b.keys(), task.name
            for key in a:
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{task.name} {key}")
