"""The lab's math world: seeded GSM8K-like word problems and three out-of-distribution families.

Every problem is built as a small computation first (each step ``a op b = c`` checked to be a
non-negative integer below 1000, every number at most ``WorldSizes.max_value``) and only then
rendered as text, so its answer and its gold chain of thought ("… 48 / 2 = 24 …\\nThe answer
is 72", the paper's style) are correct by construction. Four families stand in for the paper's
four benchmarks and are written in their native file formats (:func:`write_world`), so
:func:`t5spec.data.math_datasets.load` reads the lab exactly as it reads the real data
(``data_dir`` = the lab folder):

=========== ==================================================================== ==========
family      what it imitates                                                     steps
=========== ==================================================================== ==========
gsm8k       in-distribution: a story that tracks a count (buys packs, gives       2–4
            away, halves, doubles, shares) or money (purchases, change, wages)
multiarith  one conditional sentence "If …, how many …?", its own vocabulary     2
            (waiters, game lives and points, coats on shelves, fair tickets)
asdiv       short body + question, comparisons ("six more … than"), number       1–2
            words for small numbers, answers with a unit ("9 (balls)")
svamp       irrelevant numbers, question-first phrasing, inverse problems        1–2
            ("had 3 left after …; how much did … cost?")
=========== ==================================================================== ==========

Only the gsm8k family carries its rationale in the files (``#### N`` answer lines, as GSM8K);
the others, like MultiArith/ASDiv/SVAMP, hold questions and answers (their equation fields
list the steps). :class:`Problem` keeps the gold CoT of every family for tests.

Question texts are unique across all families and splits. Generation is a pure function of
``seed`` (``random.Random`` seeded with a string, which is hashed with SHA-512, not ``hash()``),
so every process and machine builds the same world.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

from t5spec.data.records import MathExample, make_id
from t5spec.data.splits import DEV_SIZES
from t5spec.lab import templates

FAMILIES = ("gsm8k", "multiarith", "asdiv", "svamp")
PAPER_DEV_SIZE = 200
PROMPT_SHOTS = 4
# The lab teacher's sampling prompt (lib_prompt/lab_teacher.txt): an instruction, no shots —
# the lab teacher is fine-tuned on exactly this prompt (t5spec.tasks.lab), so it needs none.
TEACHER_PROMPT_ID = "lab_teacher"
TEACHER_INSTRUCTION = "Solve the math word problem step by step."

PathLike = str | os.PathLike


@dataclasses.dataclass(frozen=True)
class WorldSizes:
    """How many problems per family file, and how large their numbers get. Evaluation pools
    must exceed the data layer's dev sizes (:data:`t5spec.data.splits.DEV_SIZES`): the rest of
    each pool is its test split.

    ``max_value`` bounds every number of every step (``a op b = c``, all three); problems
    over it are drawn again. The templates' own bound is 999; a smaller one (gin/lab.gin: 20)
    leaves fewer distinct arithmetic facts for the lab's small models to learn."""

    gsm8k_train: int = 1000
    gsm8k_test: int = 600
    multiarith: int = 300
    asdiv: int = 600
    svamp: int = 600
    max_value: int = templates.MAX_VALUE

    def validate(self) -> None:
        pools = {"gsm8k": self.gsm8k_test, "multiarith": self.multiarith,
                 "asdiv": self.asdiv, "svamp": self.svamp}
        for name, size in pools.items():
            if size <= DEV_SIZES[name]:
                raise ValueError(f"{name}: {size} problems leave no test split after the "
                                 f"{DEV_SIZES[name]} dev problems (t5spec.data.splits)")
        if not 10 <= self.max_value <= templates.MAX_VALUE:
            raise ValueError(f"max_value must be in [10, {templates.MAX_VALUE}], "
                             f"got {self.max_value}")
        if self.gsm8k_train < PAPER_DEV_SIZE:
            raise ValueError(f"gsm8k_train must be >= {PAPER_DEV_SIZE} (paper_dev indices)")


@dataclasses.dataclass(frozen=True)
class Problem:
    """One generated problem: the record the data layer would read, plus its gold CoT.

    Attributes:
      example: the :class:`MathExample` exactly as ``math_datasets.load`` returns it from the
        written files (``split`` = the source file's split: "train" or "test").
      body: the context sentences (ASDiv/SVAMP ``Body``).
      query: the question sentence (ASDiv/SVAMP ``Question``).
      steps: the CoT lines, each holding one equation ``a op b = c``.
      equations: the equations alone, in order.
      unit: the answer's unit word ("apples", "dollars").
    """

    example: MathExample
    body: str
    query: str
    steps: tuple[str, ...]
    equations: tuple[str, ...]
    unit: str

    @property
    def answer(self) -> int:
        return int(self.example.answer)

    @property
    def cot(self) -> str:
        """The gold chain of thought in the paper's style, ending "The answer is N"."""
        return "\n".join((*self.steps, f"The answer is {self.answer}"))


@dataclasses.dataclass(frozen=True)
class World:
    """All problems by ``"<family>/<source split>"`` (``gsm8k/train``, ``gsm8k/test``,
    ``multiarith/test``, …) plus the few-shot prompt exemplars (``prompt``, GSM8K-like)."""

    seed: int
    problems: dict[str, tuple[Problem, ...]]
    prompt: tuple[Problem, ...]

    def examples(self, key: str) -> list[MathExample]:
        return [p.example for p in self.problems[key]]

    def all_problems(self) -> Iterator[Problem]:
        for group in self.problems.values():
            yield from group
        yield from self.prompt


def _answer_text(family: str, answer: int, unit: str) -> str:
    """The gold as the native file writes it (and the reader returns it)."""
    if family in ("multiarith", "svamp"):
        return json.dumps(float(answer))  # "39.0", as MultiArith / SVAMP store answers
    if family == "asdiv":
        return f"{answer} ({unit})"
    return str(answer)


def _question(family: str, draft: templates.Draft) -> str:
    return f"{draft.body} {draft.query}".strip()


def _problem(family: str, source: str, index: int, draft: templates.Draft) -> Problem:
    steps = tuple(draft.steps)
    example = MathExample(
        id=make_id(family, source, index),
        dataset=family,
        split=source,
        question=_question(family, draft),
        answer=Fraction(draft.answer),
        answer_text=_answer_text(family, draft.answer, draft.unit),
        rationale="\n".join(steps) if family == "gsm8k" else None,
    )
    return Problem(example, draft.body, draft.query, steps, tuple(draft.equations), draft.unit)


def largest_number(problem: templates.Draft | Problem) -> int:
    """The largest number in any of ``problem``'s equations (``a op b = c``)."""
    return max(int(n) for eq in problem.equations for n in re.findall(r"\d+", eq))


def _generate(
    family: str, source: str, count: int, seed: int, seen: set[str],
    max_value: int = templates.MAX_VALUE,
) -> tuple[Problem, ...]:
    """``count`` problems of ``family`` whose question texts are not in ``seen`` (updated) and
    whose equations stay within ``max_value``."""
    rng = random.Random(f"t5spec-lab/{seed}/{family}/{source}")
    makers: tuple[Callable[[random.Random], templates.Draft], ...] = templates.FAMILIES[family]
    out: list[Problem] = []
    attempts = 0
    while len(out) < count:
        attempts += 1
        if attempts > 200 * count + 1000:
            raise ValueError(f"{family}/{source}: cannot find {count} distinct problems")
        try:
            draft = rng.choice(makers)(rng)
        except templates.Reject:
            continue
        if largest_number(draft) > max_value:
            continue
        question = _question(family, draft)
        if question in seen:
            continue
        seen.add(question)
        out.append(_problem(family, source, len(out), draft))
    return tuple(out)


def generate_world(seed: int = 0, sizes: WorldSizes | None = None) -> World:
    """Builds the world deterministically from ``seed`` (see module docstring)."""
    sizes = sizes or WorldSizes()
    sizes.validate()
    seen: set[str] = set()
    plan = [("gsm8k", "train", sizes.gsm8k_train), ("gsm8k", "test", sizes.gsm8k_test),
            ("multiarith", "test", sizes.multiarith), ("asdiv", "test", sizes.asdiv),
            ("svamp", "test", sizes.svamp)]
    problems = {f"{f}/{s}": _generate(f, s, n, seed, seen, sizes.max_value) for f, s, n in plan}
    prompt = _generate("gsm8k", "prompt", PROMPT_SHOTS, seed, seen, sizes.max_value)
    return World(seed=seed, problems=problems, prompt=prompt)


# ---------------------------------------------------------------------------------- writing
def _gsm8k_line(p: Problem) -> str:
    answer = "\n".join((*p.steps, f"#### {p.answer}"))
    return json.dumps({"question": p.example.question, "answer": answer}, ensure_ascii=False)


def _multiarith(problems: tuple[Problem, ...]) -> list[dict]:
    return [{"iIndex": i, "sQuestion": p.example.question, "lEquations": list(p.equations),
             "lSolutions": [float(p.answer)]} for i, p in enumerate(problems)]


def _svamp(problems: tuple[Problem, ...]) -> list[dict]:
    return [{"ID": f"lab-{i + 1}", "Body": p.body, "Question": p.query,
             "Equation": "; ".join(p.equations), "Answer": float(p.answer)}
            for i, p in enumerate(problems)]


def _asdiv_xml(problems: tuple[Problem, ...]) -> str:
    root = ET.Element("Machine-Reading-Corpus-File")
    problem_set = ET.SubElement(root, "ProblemSet")
    for i, p in enumerate(problems):
        node = ET.SubElement(problem_set, "Problem", ID=f"lab-{i + 1:04d}")
        for tag, text in (("Body", p.body), ("Question", p.query),
                          ("Answer", p.example.answer_text), ("Formula", "; ".join(p.equations))):
            ET.SubElement(node, tag).text = text
    ET.indent(root, space="\t")
    return '<?xml version="1.0" encoding="UTF-8" ?>\n' + ET.tostring(root, "unicode") + "\n"


def _prompts(world: World) -> dict[str, str]:
    """Teacher prompts (``Question:`` shots; the lab teacher's instruction) and the
    evaluation prompt (``Q:`` shots)."""
    complex_ = "".join(f"Question: {p.example.question}\nLet's think step by step\n{p.cot}\n\n"
                       for p in world.prompt)
    simple = "".join(f"Q: {p.example.question}\nLet's think step by step\n{p.cot}\n\n"
                     for p in world.prompt)
    return {"prompt_complex.txt": complex_.rstrip("\n") + "\n",
            "prompt_simple_4_cases.txt": simple.rstrip("\n") + "\n",
            f"{TEACHER_PROMPT_ID}.txt": TEACHER_INSTRUCTION + "\n"}


def _paper_dev(world: World) -> list[int]:
    rng = random.Random(f"t5spec-lab/{world.seed}/paper_dev")
    return rng.sample(range(len(world.problems["gsm8k/train"])), PAPER_DEV_SIZE)


def world_files(world: World) -> dict[str, str]:
    """Relative path -> file text of the world in shared/data's layout (see README there)."""
    out = {
        f"gsm8k/{s}.jsonl": "".join(_gsm8k_line(p) + "\n" for p in world.problems[f"gsm8k/{s}"])
        for s in ("train", "test")
    }
    out["multiarith/MultiArith.json"] = json.dumps(
        _multiarith(world.problems["multiarith/test"]), indent=4) + "\n"
    out["svamp/SVAMP.json"] = json.dumps(_svamp(world.problems["svamp/test"]), indent=4) + "\n"
    out["asdiv/ASDiv.xml"] = _asdiv_xml(world.problems["asdiv/test"])
    out["paper_release/gsm8k_validation_index.json"] = json.dumps(_paper_dev(world)) + "\n"
    for name, text in _prompts(world).items():
        out[f"paper_release/lib_prompt/{name}"] = text
    return out


def write_world(world: World, out_dir: PathLike) -> list[Path]:
    """Writes :func:`world_files` under ``out_dir``; returns the paths written."""
    written = []
    for relative, text in world_files(world).items():
        path = Path(out_dir) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def world_text(world: World) -> Iterator[str]:
    """Every question and gold CoT of the world, one string each (tokenizer training text)."""
    for p in world.all_problems():
        yield p.example.question
        yield p.cot
