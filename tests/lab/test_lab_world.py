"""The lab's math world: correct by construction, disjoint, seeded, read by the data layer."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import subprocess
import sys
from fractions import Fraction

import pytest

from t5spec.data import formats, math_datasets
from t5spec.data.answers import extract_answer, find_numbers
from t5spec.lab import templates, world

EQUATION = re.compile(r"(\d+) ([-+*/]) (\d+) = (\d+)")
OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
       "/": lambda a, b: Fraction(a, b)}
SOURCES = {"gsm8k/train": ("gsm8k", "train"), "gsm8k/test": ("gsm8k", "full_test"),
           "multiarith/test": ("multiarith", "full_test"), "asdiv/test": ("asdiv", "full_test"),
           "svamp/test": ("svamp", "full_test")}
STEPS = {"gsm8k": (2, 4), "multiarith": (2, 2), "asdiv": (1, 2), "svamp": (1, 2)}


@pytest.fixture(scope="module")
def the_world() -> world.World:
    return world.generate_world(0)


@pytest.fixture(scope="module")
def lab_dir(the_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("lab")
    world.write_world(the_world, out)
    return out


def _question_numbers(question: str) -> set[Fraction]:
    words = {Fraction(i) for i, w in enumerate(templates.WORDS)
             if re.search(rf"\b{w}\b", question, re.IGNORECASE)}
    return set(find_numbers(question)) | words


def test_every_cot_step_recomputes_and_ends_in_the_answer(the_world):
    checked = 0
    for problem in the_world.all_problems():
        known = _question_numbers(problem.example.question) | {Fraction(2)}  # half / twice
        result = None
        for line in problem.steps:
            found = EQUATION.findall(line)
            assert len(found) == 1, (problem.example.id, line)
            a, op, b, c = found[0]
            assert OPS[op](int(a), int(b)) == int(c), (problem.example.id, line)
            # Every operand comes from the question or from an earlier step.
            assert {Fraction(a), Fraction(b)} <= known, (problem.example.id, line, known)
            known.add(Fraction(c))
            result = Fraction(c)
            checked += 1
        assert result == problem.example.answer
        assert extract_answer(problem.cot) == problem.example.answer
        assert problem.cot.endswith(f"\nThe answer is {problem.answer}")
    assert checked > 6000


@pytest.mark.parametrize("family", world.FAMILIES)
def test_step_counts_match_the_family(the_world, family):
    low, high = STEPS[family]
    counts = {len(p.equations) for key, group in the_world.problems.items()
              if key.startswith(family) for p in group}
    assert counts == set(range(low, high + 1))


def test_questions_are_unique_across_families_and_splits(the_world):
    questions = [p.example.question for p in the_world.all_problems()]
    assert len(questions) == len(set(questions)) == 3100 + world.PROMPT_SHOTS


def test_families_differ_in_surface_form(the_world):
    def share(key: str, pattern: str) -> float:
        group = the_world.problems[key]
        return sum(bool(re.search(pattern, p.example.question)) for p in group) / len(group)

    assert share("multiarith/test", r"\. If .*, how many") == 1.0
    assert share("gsm8k/train", r"\bIf\b") == 0.0
    assert share("asdiv/test", r"\b(two|three|four|five|six|seven|eight|nine|ten)\b") > 0.3
    assert share("gsm8k/train", r"\b(two|three|four|five|six|seven|eight|nine|ten)\b") == 0.0
    assert share("svamp/test", r"^.*\. How many .* if ") > 0.15  # question first
    names = {key: {w for p in g for w in re.findall(r"\b[A-Z][a-z]+\b", p.example.question)}
             for key, g in the_world.problems.items()}
    assert not names["gsm8k/train"] & names["multiarith/test"] - {"If", "In", "At", "Then", "A"}


def test_data_layer_reads_the_written_world(the_world, lab_dir):
    for key, (name, split) in SOURCES.items():
        loaded = math_datasets.load(name, split, data_dir=lab_dir)
        expected = [dataclasses.replace(e, split=split) for e in the_world.examples(key)]
        assert loaded == expected
    sizes = {(n, s): len(math_datasets.load(n, s, data_dir=lab_dir))
             for n in math_datasets.MATH_DATASETS for s in ("dev", "test")}
    assert sizes == {("gsm8k", "dev"): 500, ("gsm8k", "test"): 100, ("multiarith", "dev"): 200,
                     ("multiarith", "test"): 100, ("asdiv", "dev"): 500, ("asdiv", "test"): 100,
                     ("svamp", "dev"): 500, ("svamp", "test"): 100}
    paper_dev = math_datasets.load("gsm8k", "paper_dev", data_dir=lab_dir)
    assert len({e.id for e in paper_dev}) == 200


def test_gsm8k_records_carry_their_rationale(the_world):
    for p in the_world.problems["gsm8k/train"]:
        assert p.example.rationale == "\n".join(p.steps)
        target = formats.build_targets(p.example.rationale, p.example.answer_text,
                                       "zero_shot_cot")
        assert target == p.cot
    assert all(p.example.rationale is None for p in the_world.problems["svamp/test"])


def test_prompts_hold_the_prompt_problems(the_world, lab_dir):
    exemplars = formats.paper_eval_exemplars(lab_dir)
    assert [(e.question, e.cot, e.answer) for e in exemplars] == [
        (p.example.question, "\n".join(p.steps), str(p.answer)) for p in the_world.prompt]
    prompt = formats.teacher_prompt("Q?", lab_dir)
    assert prompt.count("Question: ") == world.PROMPT_SHOTS + 1
    assert prompt.endswith("\nQuestion: Q?\nLet's think step by step")


def _digest(seed: int) -> str:
    files = world.world_files(world.generate_world(seed))
    return hashlib.sha256(repr(sorted(files.items())).encode()).hexdigest()


def test_same_seed_same_world_in_another_process():
    code = ("import hashlib; from t5spec.lab import world; "
            "f = world.world_files(world.generate_world(0)); "
            "print(hashlib.sha256(repr(sorted(f.items())).encode()).hexdigest())")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": "123", "PATH": ""})
    assert other.stdout.strip() == _digest(0)
    assert _digest(1) != _digest(0)


def test_sizes_must_leave_a_test_split():
    with pytest.raises(ValueError, match="no test split"):
        world.generate_world(0, world.WorldSizes(svamp=500))


def test_max_value_bounds_every_step_number():
    small = world.generate_world(0, world.WorldSizes(max_value=20))
    numbers = [int(n) for p in small.all_problems() for eq in p.equations
               for n in re.findall(r"\d+", eq)]
    assert max(numbers) == 20 and min(numbers) >= 0
    families = {p.example.dataset for p in small.all_problems()}
    assert families == set(world.FAMILIES)
    # the templates' own bound leaves larger numbers, so the default world is unchanged by it
    default = world.generate_world(0)
    assert max(world.largest_number(p) for p in default.all_problems()) > 100
    with pytest.raises(ValueError, match="max_value"):
        world.generate_world(0, world.WorldSizes(max_value=5))
