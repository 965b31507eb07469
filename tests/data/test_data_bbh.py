"""BBH on the real shared data: tasks, splits, 3-shot prompts, extraction and scoring."""

from __future__ import annotations

import pytest

from t5spec.data import bbh
from t5spec.data.bbh import (
    BBH_TASKS,
    bbh_accuracies,
    bbh_score,
    bbh_split,
    build_bbh_input,
    extract_bbh_answer,
    load_bbh,
    load_bbh_prompt,
)

TASK_SIZES = {t: 250 for t in BBH_TASKS} | {
    "causal_judgement": 187,
    "penguins_in_a_table": 146,
    "snarks": 178,
}


@pytest.fixture(scope="module")
def examples(data_dir):
    return {t: load_bbh(t, data_dir) for t in BBH_TASKS}


def test_tasks_and_counts(examples) -> None:
    assert len(BBH_TASKS) == 27
    assert {t: len(v) for t, v in examples.items()} == TASK_SIZES
    assert sum(TASK_SIZES.values()) == 6511


def test_dev_test_split(data_dir, examples) -> None:
    n_dev = n_test = 0
    for task in BBH_TASKS:
        dev = {ex.id for ex in bbh_split(task, "dev", data_dir)}
        test = {ex.id for ex in bbh_split(task, "test", data_dir)}
        assert len(dev) == 50 and not dev & test
        assert dev | test == {ex.id for ex in examples[task]}
        assert bbh_split(task, "full_test", data_dir) == bbh_split(task, "all", data_dir)
        n_dev, n_test = n_dev + len(dev), n_test + len(test)
    assert (n_dev, n_test) == (1350, 5161)


def _wrong_target(task: str, target: str, targets: set[str]) -> str:
    others = sorted(targets - {target})
    return others[0] if others else target + " x"


def test_gold_targets_score_through_extraction(examples) -> None:
    """Every gold target scores 1 as a CoT ending and as an AO continuation; a wrong one 0."""
    for task, exs in examples.items():
        targets = {ex.target for ex in exs}
        for ex in exs:
            cot = f"Let me think.\nStep one. So the answer is {ex.target}."
            assert extract_bbh_answer(cot, "cot") == ex.target
            assert bbh_score(cot, ex.target, "cot") == 1.0, (task, ex.target)
            assert bbh_score(f"{ex.target}.", ex.target, "ao") == 1.0, (task, ex.target)
            wrong = _wrong_target(task, ex.target, targets)
            assert bbh_score(f"So the answer is {wrong}.", ex.target, "cot") == 0.0, (task, wrong)
            assert bbh_score(wrong, ex.target, "ao") == 0.0, (task, wrong)


@pytest.mark.parametrize(
    ("prediction", "target", "mode", "score"),
    [
        ("A", "(A)", "ao", 1.0),
        ("(A) 12/14/1937", "(A)", "ao", 1.0),
        ("So the answer is (B) 11/11/2018.", "(B)", "cot", 1.0),
        ("(B)", "(A)", "ao", 0.0),
        ("yes", "Yes", "ao", 1.0),
        ("So the answer is 12.", "1", "cot", 0.0),  # the paper's substring test says 1.0
        ("]}]", "] } ]", "ao", 1.0),
        ("So the answer is -219.", "-219", "cot", 1.0),
        ("no answer marker", "(A)", "cot", 0.0),
    ],
)
def test_score_examples(prediction: str, target: str, mode: str, score: float) -> None:
    assert bbh_score(prediction, target, mode) == score


def test_prompts_have_three_exemplars_and_both_modes(data_dir, examples) -> None:
    for task in BBH_TASKS:
        prompt = load_bbh_prompt(task, data_dir)
        assert len(prompt.exemplars) == 3
        question = examples[task][0].input
        cot = build_bbh_input(task, question, "cot", data_dir)
        assert cot == f"{prompt.text}\n\nQ: {question}\nA: Let's think step by step.\n"
        ao = build_bbh_input(task, question, "ao", data_dir)
        assert ao.endswith(f"\n\nQ: {question}\nA: the answer is ")
        assert "Let's think step by step" not in ao
        for ex in prompt.exemplars:
            assert f"Q: {ex.input}\nA: the answer is {ex.target}." in ao
            assert ex.rationale and ex.rationale not in ao


def test_paper_compat_ao_prompt_reproduces_modify_prompt(data_dir) -> None:
    text = load_bbh_prompt("date_understanding", data_dir).text
    paper = text.split("A:")[0] + "A: the answer is " + text.split("the answer is ")[1]
    got = build_bbh_input("date_understanding", "Q?", "ao", data_dir, paper_compat=True)
    assert got == f"{paper}\n\nQ: Q?\nA: the answer is "
    assert "Let's think step by step" in got  # the authors' prompt kept exemplar 2's CoT


def test_accuracy_helpers() -> None:
    acc = bbh_accuracies({"a": [1.0, 0.0], "b": [1.0, 1.0, 1.0, 1.0]})
    assert acc == {"a": 0.5, "b": 1.0, "macro_average": 0.75}
    assert bbh.task_accuracy([]) == 0.0


def test_unknown_names() -> None:
    with pytest.raises(ValueError):
        load_bbh("not_a_task")
    with pytest.raises(ValueError):
        bbh_split("snarks", "train")
    with pytest.raises(ValueError):
        extract_bbh_answer("x", "few_shot")
