"""The four training formats, exemplar sampling, teacher and evaluation prompts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from t5spec.data import math_datasets
from t5spec.data.answers import extract_answer
from t5spec.data.formats import (
    FORMATS,
    Exemplar,
    build_eval_input,
    build_inputs,
    build_targets,
    choose_exemplars,
    paper_eval_exemplars,
    teacher_prompt,
)

EXEMPLARS = [Exemplar("What is 2+3?", "2+3 = 5", "5"), Exemplar("What is 10-4?", "10-4 = 6", "6")]


@pytest.fixture(scope="module")
def train(data_dir):
    return math_datasets.load("gsm8k", "train", data_dir)


def test_the_four_formats_exact_strings() -> None:
    q = "How many apples?"
    assert build_inputs(q, "zero_shot_answer_only") == "Q: How many apples? A:"
    assert build_inputs(q, "zero_shot_cot") == "Q: How many apples?\nLet's think step by step"
    assert build_inputs(q, "in_context_answer_only", EXEMPLARS) == (
        "Q: What is 2+3?\nA: The answer is 5\n\n"
        "Q: What is 10-4?\nA: The answer is 6\n\n"
        "Q: How many apples?\nA:"
    )
    assert build_inputs(q, "in_context_cot", EXEMPLARS) == (
        "Q: What is 2+3?\nLet's think step by step\n2+3 = 5\nThe answer is 5\n\n"
        "Q: What is 10-4?\nLet's think step by step\n10-4 = 6\nThe answer is 6\n\n"
        "Q: How many apples?\nLet's think step by step"
    )
    with pytest.raises(ValueError, match="needs exemplars"):
        build_inputs(q, "in_context_cot", [])
    with pytest.raises(ValueError, match="unknown format"):
        build_inputs(q, "few_shot", EXEMPLARS)


def test_targets() -> None:
    cot = "He has 3 + 4 = 7 apples.\nThe answer is 7"
    for fmt in FORMATS:
        target = build_targets(cot, "7", fmt)
        assert extract_answer(target) == 7
        assert target == (cot if fmt.endswith("cot") else "The answer is 7")
    assert build_targets("3 + 4 = 7 ", "7", "zero_shot_cot") == "3 + 4 = 7\nThe answer is 7"


def test_choose_exemplars_deterministic_and_never_self(train) -> None:
    pool = train[:6]
    for ex in pool:
        picks = choose_exemplars(pool, ex.id, n=4)
        assert len({p.question for p in picks}) == 4
        assert ex.question not in {p.question for p in picks}
        assert picks == choose_exemplars(pool, ex.id, n=4)
    # per-sample keys vary the draw but still exclude the question
    draws = {
        tuple(p.question for p in choose_exemplars(train, f"gsm8k/train/0#{s}")) for s in range(5)
    }
    assert len(draws) > 1
    assert all(train[0].question not in d for d in draws)
    with pytest.raises(ValueError):
        choose_exemplars(pool[:4], pool[0].id, n=4)


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=0, max_value=7472), st.integers(min_value=0, max_value=3))
def test_choose_exemplars_property(train, index: int, seed: int) -> None:
    qid = train[index].id
    picks = choose_exemplars(train, qid, n=4, seed=seed)
    assert len(set(picks)) == 4 and train[index].question not in {p.question for p in picks}
    gold = {ex.question: ex for ex in train}
    assert all(gold[p.question].rationale == p.cot for p in picks)


def test_paper_eval_prompt_is_in_context_cot(data_dir) -> None:
    text = (data_dir / "paper_release/lib_prompt/prompt_simple_4_cases.txt").read_text("utf-8")
    exemplars = paper_eval_exemplars(data_dir)
    assert [e.answer for e in exemplars] == ["21", "48", "399", "13"]
    q = "Tom has 3 cats. How many cats?"
    paper = text + "\nQ: " + q + "\nLet's think step by step\n"  # test_distill_multiple.py
    assert build_eval_input(q, "in_context_cot", data_dir) + "\n" == paper
    assert build_eval_input(q, "zero_shot_cot", data_dir) == f"Q: {q}\nLet's think step by step"


def test_teacher_prompt(data_dir) -> None:
    text = (data_dir / "paper_release/lib_prompt/prompt_complex.txt").read_text("utf-8")
    got = teacher_prompt("Q?", data_dir)
    assert got == text + "\nQuestion: Q?\nLet's think step by step"
