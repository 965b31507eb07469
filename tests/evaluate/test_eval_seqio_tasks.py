"""The full SeqIO path (task → postprocess → metric) on the real data, for every eval task.

An oracle that answers with the gold target text (GSM8K: the gold rationale + "The answer is
N") must score 1.0; one that answers with a shifted answer must score 0.0. Uses seqio's task
APIs directly: ``get_dataset``, ``postprocess_fn``, ``metric_fns``.
"""

from __future__ import annotations

import re
from fractions import Fraction

import pytest

seqio = pytest.importorskip("seqio")

from t5spec.data.answers import format_number, parse_number  # noqa: E402
from t5spec.evaluate import benchmarks  # noqa: E402

_SWAP = {
    "True": "False",
    "False": "True",
    "Yes": "No",
    "No": "Yes",
    "yes": "no",
    "no": "yes",
    "valid": "invalid",
    "invalid": "valid",
}


def shifted_math(target_text: str, gold: str) -> str:
    """The gold text with its final answer replaced by gold + 1."""
    wrong = format_number(parse_number(gold) + 1)
    head, sep, _ = target_text.rpartition("The answer is ")
    return f"{head}{sep}{wrong}" if sep else f"The answer is {wrong}"


def shifted_bbh(gold: str) -> str:
    """A different, well-formed answer of the same kind as ``gold``."""
    if gold in _SWAP:
        return _SWAP[gold]
    option = re.fullmatch(r"\(([A-Z])\)", gold)
    if option:
        return "(B)" if option.group(1) == "A" else "(A)"
    try:
        return format_number(Fraction(parse_number(gold)) + 1)
    except ValueError:
        pass
    if not re.sub(r"[\s()\[\]{}<>]", "", gold):  # dyck: a bracket sequence
        return gold + " )"
    return gold + " zzz"  # word_sorting: an extra word


def _examples(task: seqio.Task, split: str) -> list[dict]:
    examples = list(task.get_dataset(None, split=split, shuffle=False).as_numpy_iterator())
    assert examples, f"{task.name}/{split} is empty"
    return examples


def _evaluate(task: seqio.Task, examples: list[dict], answer) -> dict:
    targets, predictions = [], []
    for ex in examples:
        gold_text = ex["targets_pretokenized"].decode()
        targets.append(task.postprocess_fn(gold_text, example=ex, is_target=True))
        text = answer(gold_text, ex)
        predictions.append(task.postprocess_fn(text, example=ex, is_target=False))
    (metric_fn,) = task.metric_fns
    return metric_fn(targets, predictions)


def _oracle(gold_text: str, ex: dict) -> str:
    return gold_text


def _shifted(gold_text: str, ex: dict) -> str:
    gold = ex["answer"].decode()
    return shifted_bbh(gold) if ex["benchmark"] == b"bbh" else shifted_math(gold_text, gold)


# Every task on dev; the test split of a small math set, GSM8K and BBH (split mapping).
CASES = [(t.name, "validation") for t in benchmarks.EVAL_TASKS] + [
    ("t5spec_eval_gsm8k_zs_cot", "test"),
    ("t5spec_eval_multiarith_zs_ao", "test"),
    ("t5spec_eval_bbh_ao", "test"),
]
SIZES = {
    "validation": {"gsm8k": 500, "svamp": 500, "multiarith": 200, "asdiv": 500, "bbh": 1350},
    "test": {"gsm8k": 819, "svamp": 500, "multiarith": 400, "asdiv": 1592, "bbh": 5161},
}


@pytest.mark.parametrize(("name", "split"), CASES)
def test_gold_scores_one_shifted_scores_zero(name: str, split: str, vocab_bound) -> None:
    task = seqio.get_mixture_or_task(name)
    examples = _examples(task, split)
    assert len(examples) == SIZES[split][benchmarks.task_by_name(name).benchmark]
    gold = _evaluate(task, examples, _oracle)
    assert gold["accuracy"] == 1.0, (name, split)
    wrong = _evaluate(task, examples, _shifted)
    assert wrong["accuracy"] == 0.0, (name, split)
    if name.startswith("t5spec_eval_bbh"):
        per_task = {k: v for k, v in gold.items() if k.startswith("accuracy/")}
        assert len(per_task) == 27 and set(per_task.values()) == {1.0}


def test_examples_carry_what_the_loggers_need(vocab_bound) -> None:
    task = seqio.get_mixture_or_task("t5spec_eval_gsm8k_ic_cot")
    ex = next(task.get_dataset(None, split="validation", shuffle=False).as_numpy_iterator())
    assert ex["benchmark"] == b"gsm8k" and ex["mode"] == b"ic_cot" and ex["split"] == b"dev"
    assert ex["inputs_pretokenized"].count(b"Let's think step by step") == 5  # 4 shots + query
    assert ex["targets_pretokenized"].endswith(b"The answer is " + ex["answer"])
    assert ex["id"].startswith(b"gsm8k/test/")


def test_budget_caps_each_benchmark(vocab_bound) -> None:
    gin = pytest.importorskip("gin")

    with gin.unlock_config():
        gin.bind_parameter("EvalBudget.max_examples", 5)
        gin.bind_parameter("EvalBudget.per_benchmark", {"bbh": 54})
    math = seqio.get_mixture_or_task("t5spec_eval_svamp_zs_ao")
    assert len(list(math.get_dataset(None, split="test", shuffle=False))) == 5
    bbh = seqio.get_mixture_or_task("t5spec_eval_bbh_ao")
    rows = list(bbh.get_dataset(None, split="validation", shuffle=False).as_numpy_iterator())
    counts: dict[bytes, int] = {}
    for r in rows:
        counts[r["bbh_task"]] = counts.get(r["bbh_task"], 0) + 1
    assert len(rows) == 54 and set(counts.values()) == {2} and len(counts) == 27
