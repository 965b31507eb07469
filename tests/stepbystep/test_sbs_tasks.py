"""Step-by-step SeqIO tasks on the real aligned Codex samples: both prefixes, gold, eval."""

from __future__ import annotations

import numpy as np
import seqio

import gin
from t5spec.align import store
from t5spec.evaluate import benchmarks
from t5spec.evaluate import tasks as eval_tasks
from t5spec.tasks import stepbystep as sbs_tasks
from t5spec.tasks import stepbystep_names as stepbystep

LENGTHS = {"inputs": 256, "targets": 256}


def _examples(name, split="train", lengths=LENGTHS, n=-1):
    ds = seqio.get_mixture_or_task(name).get_dataset(lengths, split=split, shuffle=False)
    return list(ds.take(n).as_numpy_iterator())


def test_names_registered():
    for task in ("label", "rationale"):
        for gold in (False, True):
            assert sbs_tasks.task_name(task, gold=gold) in seqio.TaskRegistry.names()
    eval_tasks.register()
    for name in (sbs_tasks.MIXTURE, sbs_tasks.GOLD_MIXTURE, *benchmarks.SBS_MIXTURES):
        assert name in seqio.MixtureRegistry.names()
    assert len(benchmarks.SBS_EVAL_TASKS) == 8
    assert "t5spec_eval_svamp_sbs_label" in seqio.TaskRegistry.names()


def test_both_prefixes_from_the_same_teacher_sample(task_gin, aligned_dir):
    aligned = {s.key: s for s in store.read_aligned(str(aligned_dir))}
    labels = _examples(sbs_tasks.task_name("label"))
    rationales = _examples(sbs_tasks.task_name("rationale"))
    assert len(labels) == len(rationales) == len(aligned) > 40
    for lab, rat in zip(labels, rationales, strict=True):
        sample = aligned[lab["key"].decode()]
        assert rat["key"] == lab["key"]  # one sample, two examples
        assert lab["inputs_pretokenized"].decode() == "[label] " + sample.question
        assert rat["inputs_pretokenized"].decode() == "[rationale] " + sample.question
        assert lab["targets_pretokenized"].decode() == f"The answer is {sample.gold}"
        assert lab["format_id"] == stepbystep.LABEL_TASK_ID == 5
        assert lab["teacher_mask"].sum() == 0  # one-hot label
        assert lab["teacher_ids"][:, 0].tolist() == lab["targets"].tolist()
        n = sample.length
        assert rat["format_id"] == stepbystep.RATIONALE_TASK_ID == 6
        assert rat["targets"].tolist() == [*sample.targets.tolist(), 1]  # + EOS
        np.testing.assert_array_equal(rat["teacher_ids"][:n], sample.teacher_ids)
        np.testing.assert_array_equal(rat["teacher_probs"][:n], sample.teacher_probs)
        np.testing.assert_array_equal(rat["teacher_mask"][:n], sample.teacher_mask)
        assert rat["teacher_mask"][n] == 0
    assert sum(int(r["teacher_mask"].sum()) for r in rationales) > 0


def test_prefixes_are_gin_configurable(task_gin):
    gin.bind_parameter("t5spec.tasks.stepbystep.StepByStepConfig.label_prefix", "predict: ")
    gin.bind_parameter("t5spec.tasks.stepbystep.StepByStepConfig.rationale_prefix", "explain: ")
    (lab,) = _examples(sbs_tasks.task_name("label"), n=1)
    (rat,) = _examples(sbs_tasks.task_name("rationale", gold=True), n=1)
    (ev,) = _examples("t5spec_eval_gsm8k_sbs_label", split="validation", n=1)
    assert lab["inputs_pretokenized"].decode().startswith("predict: ")
    assert rat["inputs_pretokenized"].decode().startswith("explain: ")
    assert ev["inputs_pretokenized"].decode().startswith("predict: ")


def test_gold_tasks(task_gin):
    (lab,) = _examples(sbs_tasks.task_name("label", gold=True), n=1)
    (rat,) = _examples(sbs_tasks.task_name("rationale", gold=True), n=1)
    question = lab["inputs_pretokenized"].decode().removeprefix("[label] ")
    assert rat["inputs_pretokenized"].decode() == "[rationale] " + question
    assert lab["targets_pretokenized"].decode() == "The answer is 72"
    text = rat["targets_pretokenized"].decode()
    assert text.endswith("\nThe answer is 72") and "<<" not in text
    assert (lab["format_id"], rat["format_id"]) == (5, 6)
    assert rat["teacher_mask"].sum() == 0


def test_mixture_batches_carry_the_task_ids(task_gin):
    from t5spec.feature_converters import DistillationFeatureConverter

    lengths = {"inputs": 128, "targets": 64}
    ds = seqio.get_mixture_or_task(sbs_tasks.MIXTURE).get_dataset(
        lengths, split="train", shuffle=True, seed=0)
    batch = next(DistillationFeatureConverter(pack=True)(ds, lengths).batch(8)
                 .as_numpy_iterator())
    ids = batch["decoder_format_ids"]
    assert set(np.unique(ids)) == {0, 5, 6}
    assert (ids[batch["decoder_teacher_mask"] > 0] == 6).all()  # teacher rows: rationale only
    assert ((ids > 0) == (batch["decoder_target_tokens"] > 0)).all()


def test_eval_tasks_are_scored_by_the_math_metric(task_gin):
    gin.bind_parameter("t5spec.evaluate.tasks.EvalBudget.max_examples", 3)
    task = seqio.get_mixture_or_task("t5spec_eval_multiarith_sbs_label")
    rows = _examples(task.name, split="test", lengths={"inputs": 256, "targets": 16})
    assert len(rows) == 3
    assert {r["mode"] for r in rows} == {b"sbs_label"}
    assert all(r["inputs_pretokenized"].startswith(b"[label] ") for r in rows)
    assert all(r["targets_pretokenized"] == b"The answer is " + r["answer"] for r in rows)
    targets = [task.postprocess_fn(r["targets_pretokenized"], example=r, is_target=True)
               for r in rows]
    right = [task.postprocess_fn(f"The answer is {r['answer'].decode()}", example=r)
             for r in rows]
    wrong = [task.postprocess_fn("The answer is -1", example=r) for r in rows]
    (metric,) = task.metric_fns
    assert metric(targets, right) == {"accuracy": 1.0}
    assert metric(targets, wrong) == {"accuracy": 0.0}
    (rat,) = _examples("t5spec_eval_gsm8k_sbs_rationale", split="validation", n=1)
    assert rat["inputs_pretokenized"].startswith(b"[rationale] ")
    assert rat["targets_pretokenized"].decode().endswith(f"The answer is {rat['answer'].decode()}")
