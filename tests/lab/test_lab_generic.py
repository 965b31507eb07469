"""Generated BBH-format tasks: right answers, right rationales, read and scored like BBH."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from t5spec.data import bbh
from t5spec.lab import generic

TASKS = generic.LAB_BBH_TASKS
PAIRS = {"(": ")", "[": "]", "{": "}", "<": ">"}


@pytest.fixture(scope="module")
def lab_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("lab")
    generic.write_bbh(out / "bbh", n=60, seed=0)
    return out


@pytest.fixture(scope="module")
def generated():
    return {task: generic.generate_task(task, n=60, seed=0) for task in TASKS}


def test_tasks_are_bbh_tasks():
    assert set(TASKS) <= set(bbh.BBH_TASKS)


@pytest.mark.parametrize("task", TASKS)
def test_bbh_loader_reads_examples_and_prompt(task, lab_dir, generated):
    examples, shots = generated[task]
    loaded = bbh.load_bbh(task, lab_dir)
    assert [(e.input, e.target) for e in loaded] == [(e.input, e.target) for e in examples]
    prompt = bbh.load_bbh_prompt(task, lab_dir)
    assert [(e.input, e.rationale, e.target) for e in prompt.exemplars] == [
        (s.input, s.rationale, s.target) for s in shots]
    assert not {s.input for s in shots} & {e.input for e in examples}
    assert len(bbh.bbh_split(task, "dev", lab_dir)) == 50
    assert len(bbh.bbh_split(task, "test", lab_dir)) == 10
    for mode in bbh.BBH_MODES:
        text = bbh.build_bbh_input(task, examples[0].input, mode, lab_dir)
        assert text.count("\n\nQ: ") == generic.SHOTS + 1


@pytest.mark.parametrize("task", TASKS)
def test_gold_scores_one_and_wrong_answers_zero(task, generated):
    examples, shots = generated[task]
    targets = sorted({e.target for e in examples})
    assert len(targets) > 1
    for e in (*examples, *shots):
        assert bbh.bbh_score(e.target, e.target, "ao") == 1.0
        assert bbh.bbh_score(e.cot, e.target, "cot") == 1.0
        assert bbh.extract_bbh_answer(e.cot, "cot") == e.target
        assert "answer is" not in e.rationale.lower()
        other = next(t for t in targets if bbh.normalize_bbh(t) != bbh.normalize_bbh(e.target)
                     and re.sub(r"\s", "", t) != re.sub(r"\s", "", e.target))
        assert bbh.bbh_score(e.cot.replace(f"is {e.target}.", f"is {other}."), e.target,
                             "cot") == 0.0


def _python_bool(text: str) -> bool:
    return eval(text.removesuffix(" is"), {"__builtins__": {}})  # not/and/or/True/False only


def test_targets_are_right_by_independent_evaluation(generated):
    for e in generated["boolean_expressions"][0]:
        assert str(_python_bool(e.input)) == e.target
    for e in generated["multistep_arithmetic_two"][0]:
        assert eval(e.input.removesuffix(" ="), {"__builtins__": {}}) == int(e.target)
    for e in generated["word_sorting"][0]:
        words = e.input.split("List: ")[1].split()
        assert " ".join(sorted(words)) == e.target
    for e in generated["dyck_languages"][0]:
        stack = []
        for tok in e.input.split("Input: ")[1].split() + e.target.split():
            if tok in PAIRS:
                stack.append(tok)
            else:
                assert PAIRS[stack.pop()] == tok
        assert not stack
    for e in generated["web_of_lies"][0]:
        first, *claims = re.findall(r"(\w+) (says \w+ )?(tells the truth|lies)", e.input)
        truth = first[2] == "tells the truth"
        for _, _, said in claims:
            truth = (said == "tells the truth") == truth
        assert e.target == ("Yes" if truth else "No")


def test_object_counting_counts_only_the_asked_kind(generated):
    numbers = {"a": 1, "an": 1, "two": 2, "three": 3}
    for e in generated["object_counting"][0]:
        kind = re.search(r"How many (.+) do I have", e.input).group(1)
        items = e.input.removeprefix("I have ").split(". How many")[0]
        listed = [p.removeprefix("and ").split(" ", 1) for p in items.split(", ")]
        wanted = set(generic._OBJECTS[kind])
        total = sum(numbers[n] for n, noun in listed
                    if {noun, noun.removesuffix("s"), noun.removesuffix("es")} & wanted)
        assert str(total) == e.target, e.input


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32))
def test_boolean_chain_steps_keep_the_value(seed):
    e = generic.boolean_expressions(random.Random(seed))
    chain = e.rationale.split("Z = ", 1)[1].removesuffix(".").split("\n= ")
    assert all(_python_bool(step) == (e.target == "True") for step in chain)
    assert chain[-1] == e.target


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32))
def test_arithmetic_rationale_steps_are_equalities(seed):
    e = generic.multistep_arithmetic_two(random.Random(seed))
    for line in e.rationale.split("\n")[2:]:
        parts = line.split(" = ")[1:]  # "Let's calculate A = x = y = z." / "… A op B = x = y."
        values = {eval(p.removesuffix("."), {"__builtins__": {}}) for p in parts}
        assert len(values) == 1, line
    assert e.rationale.endswith(f"= {e.target}.")


def test_same_seed_same_files():
    assert generic.bbh_files(60, 0) == generic.bbh_files(60, 0)
    assert generic.bbh_files(60, 0) != generic.bbh_files(60, 1)


def test_too_few_examples_for_a_test_split():
    with pytest.raises(ValueError, match="no test split"):
        generic.generate_task("word_sorting", n=50)
