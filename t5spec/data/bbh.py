"""BIG-Bench Hard: the 27 tasks, their dev/test split, 3-shot AO/CoT prompts, and scoring.

Data (shared/data ``bbh/``, suzgunmirac/BIG-Bench-Hard @ 9ee07bd): ``bbh/<task>.json``
(``{"examples": [{"input", "target"}]}``, 6511 examples) and ``cot-prompts/<task>.txt``
(canary line, ``-----``, task description, then three exemplars
``Q: <input>\\nA: Let's think step by step.<rationale> So the answer is <target>.``
separated by blank lines).

Prompts (``build_bbh_input``), following the paper's ``test_bbh.py``
(FranxYao/FlanT5-CoT-Specialization @ a8ffd51):

* ``"cot"``: the whole prompt file verbatim (canary included, as the paper did) +
  ``"\\n\\nQ: " + input + "\\nA: Let's think step by step.\\n"``.
* ``"ao"`` (answer only): the same header and the same three exemplars with the rationale
  removed and the answer kept — ``Q: <input>\\nA: the answer is <target>.`` — then
  ``"\\n\\nQ: " + input + "\\nA: the answer is "``. The paper's ``modify_prompt`` meant to do
  this but keeps only the FIRST exemplar in answer-only form and leaves the second one's CoT,
  truncated before "So" (``prompt.split('A:')[0] + 'A: the answer is ' +
  prompt.split('the answer is ')[1]``); ``paper_compat=True`` reproduces that prompt exactly.

Scoring (``bbh_score``): the answer is read from the model's text (CoT: after the last
"the answer is"; AO: the continuation itself), then compared with the target by normalized
exact match — whitespace collapsed, a final period dropped, case-folded; numbers compared as
numbers; bracket sequences (dyck_languages) compared without spaces; and for option targets
``(A)`` the prediction's leading option letter counts ("A", "(A)", "(A) 12/14/1937").
The paper instead checked ``target in text`` (a substring test: target "1" matches "12").

Split (``bbh_split``): per task, 50 dev examples chosen by the hashlib permutation of
:mod:`t5spec.data.splits` (namespace ``bbh/<task>``), the rest test: 1350 dev / 5161 test.
``"full_test"`` (alias ``"all"``, as for the math sets: dev ∪ test) is every example — what BBH
papers report. Use dev for checkpoint selection on BBH.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from t5spec import paths
from t5spec.data import files
from t5spec.data.answers import ANSWER_IS, parse_number
from t5spec.data.splits import BBH_DEV_SIZE, split_indices
from t5spec.errors import InputError

BBH_TASKS: tuple[str, ...] = (
    "boolean_expressions",
    "causal_judgement",
    "date_understanding",
    "disambiguation_qa",
    "dyck_languages",
    "formal_fallacies",
    "geometric_shapes",
    "hyperbaton",
    "logical_deduction_five_objects",
    "logical_deduction_seven_objects",
    "logical_deduction_three_objects",
    "movie_recommendation",
    "multistep_arithmetic_two",
    "navigate",
    "object_counting",
    "penguins_in_a_table",
    "reasoning_about_colored_objects",
    "ruin_names",
    "salient_translation_error_detection",
    "snarks",
    "sports_understanding",
    "temporal_sequences",
    "tracking_shuffled_objects_five_objects",
    "tracking_shuffled_objects_seven_objects",
    "tracking_shuffled_objects_three_objects",
    "web_of_lies",
    "word_sorting",
)
BBH_MODES = ("ao", "cot")
BBH_SPLITS = ("dev", "test", "full_test", "all")
COT_TRIGGER = "A: Let's think step by step."
AO_TRIGGER = "A: the answer is "
_OPTION_TARGET = re.compile(r"\(([A-Z])\)")
_LEADING_OPTION = re.compile(r"\(?([A-Z])\)?(?=$|[\s.,:;)])")
_BRACKETS = re.compile(r"[\s()\[\]{}<>]+")

PathLike = str | os.PathLike


@dataclasses.dataclass(frozen=True)
class BBHExample:
    """One BBH example. ``id`` = ``"bbh/<task>/<index in the task file>"``."""

    id: str
    task: str
    input: str
    target: str


@dataclasses.dataclass(frozen=True)
class BBHExemplar:
    """One few-shot exemplar of a ``cot-prompts`` file."""

    input: str
    rationale: str
    target: str


@dataclasses.dataclass(frozen=True)
class BBHPrompt:
    """A parsed ``cot-prompts/<task>.txt``: header (canary, ``-----``, description), exemplars."""

    text: str
    header: str
    exemplars: tuple[BBHExemplar, ...]


def _check_task(task: str) -> None:
    if task not in BBH_TASKS:
        raise ValueError(f"unknown BBH task {task!r}")


# -------------------------------------------------------------------------------------- reading
def _example(obj: object, path: Path, task: str, index: int) -> BBHExample:
    where = f"record {index}"
    text = files.require(obj, "input", str, path=path, where=where)
    target = files.require(obj, "target", str, path=path, where=where)
    return BBHExample(id=f"bbh/{task}/{index}", task=task, input=text, target=target.strip())


def load_bbh(
    task: str, data_dir: PathLike | None = None, *, skip_invalid: bool = False
) -> files.Loaded[BBHExample]:
    """All examples of ``task`` in file order (``bbh/bbh/<task>.json``)."""
    _check_task(task)
    path = paths.data_file(f"bbh/bbh/{task}.json", data_dir)
    data = files.load_json(path)
    if not isinstance(data, dict):
        raise InputError(path, f"expected a JSON object, got {type(data).__name__}")
    examples = files.require(data, "examples", list, path=path, where="top level")
    if not examples:
        raise InputError(path, "no examples", field="examples")
    items = (
        files.guarded(lambda i=i, o=o: _example(o, path, task, i)) for i, o in enumerate(examples)
    )
    return files.collect(items, skip_invalid=skip_invalid, path=path)


def available_tasks(data_dir: PathLike | None = None) -> tuple[str, ...]:
    """The BBH tasks whose ``bbh/bbh/<task>.json`` exists under the data root, in BBH order.

    The real data holds all 27; a generated data folder (``t5spec lab``) holds a subset.
    An InputError when none is there.
    """
    root = paths.data_dir(data_dir)
    present = tuple(t for t in BBH_TASKS if (root / "bbh" / "bbh" / f"{t}.json").is_file())
    if not present:
        raise InputError(root / "bbh" / "bbh", "no BBH task files (<task>.json) found")
    return present


def bbh_split(task: str, split: str, data_dir: PathLike | None = None) -> list[BBHExample]:
    """The ``"dev"`` (50 per task), ``"test"`` (the rest) or ``"full_test"``/``"all"`` examples."""
    if split not in BBH_SPLITS:
        raise ValueError(f"unknown BBH split {split!r}; choose from {BBH_SPLITS}")
    examples = load_bbh(task, data_dir)
    if split in ("full_test", "all"):
        return list(examples)
    indices = [int(ex.id.rsplit("/", 1)[1]) for ex in examples]
    dev, test = split_indices(f"bbh/{task}", indices, BBH_DEV_SIZE)
    keep = set(dev if split == "dev" else test)
    return [ex for ex, i in zip(examples, indices, strict=True) if i in keep]


def _exemplar(chunk: str, path: Path, k: int) -> BBHExemplar:
    where, field = f"exemplar {k}", "Q/A"
    question, sep, answer = chunk.partition("\n" + COT_TRIGGER)
    if not sep:
        raise InputError(path, f"no {COT_TRIGGER!r} line", where=where, field=field)
    marks = list(ANSWER_IS.finditer(answer))
    if not marks:
        raise InputError(path, "no 'So the answer is'", where=where, field=field)
    rationale = answer[: marks[-1].start()].strip()
    target = answer[marks[-1].end() :].strip()
    rationale = rationale.removesuffix("So").strip()
    if not target.endswith("."):
        raise InputError(path, "answer does not end with '.'", where=where, field=field)
    return BBHExemplar(input=question.strip(), rationale=rationale, target=target[:-1].strip())


def load_bbh_prompt(task: str, data_dir: PathLike | None = None) -> BBHPrompt:
    """Parses ``cot-prompts/<task>.txt`` into header and exemplars (validated)."""
    _check_task(task)
    path = paths.data_file(f"bbh/cot-prompts/{task}.txt", data_dir)
    text = files.read_text(path)
    header, *chunks = text.split("\n\nQ: ")
    if not chunks:
        raise InputError(path, "no 'Q: ' exemplars")
    exemplars = tuple(_exemplar(c, path, k) for k, c in enumerate(chunks))
    return BBHPrompt(text=text, header=header, exemplars=exemplars)


# -------------------------------------------------------------------------------------- prompts
def _paper_ao_prompt(text: str) -> str:
    """The paper's ``modify_prompt`` (keeps exemplar 1 answer-only, exemplar 2 truncated)."""
    return text.split("A:")[0] + "A: the answer is " + text.split("the answer is ")[1]


def ao_prompt(prompt: BBHPrompt) -> str:
    """Header + the exemplars in answer-only form (no trailing query)."""
    shots = [f"Q: {e.input}\n{AO_TRIGGER}{e.target}." for e in prompt.exemplars]
    return "\n\n".join([prompt.header, *shots])


def build_bbh_input(
    task: str,
    question: str,
    mode: str,
    data_dir: PathLike | None = None,
    *,
    paper_compat: bool = False,
) -> str:
    """The 3-shot model input for ``question`` (see module docstring for the exact formats)."""
    if mode not in BBH_MODES:
        raise ValueError(f"unknown BBH mode {mode!r}; choose from {BBH_MODES}")
    prompt = load_bbh_prompt(task, data_dir)
    if mode == "cot":
        return f"{prompt.text}\n\nQ: {question}\n{COT_TRIGGER}\n"
    base = _paper_ao_prompt(prompt.text) if paper_compat else ao_prompt(prompt)
    return f"{base}\n\nQ: {question}\n{AO_TRIGGER}"


# -------------------------------------------------------------------------------------- scoring
def extract_bbh_answer(text: str, mode: str) -> str:
    """The answer string in a model's output (before normalization).

    CoT: the text after the last "the answer is" (case-insensitive), else the whole text. AO:
    the continuation itself (the input already ends in "the answer is "), or the text after a
    repeated "the answer is". Either way cut at the first newline, strip, and drop one final ".".
    """
    if mode not in BBH_MODES:
        raise ValueError(f"unknown BBH mode {mode!r}; choose from {BBH_MODES}")
    marks = list(ANSWER_IS.finditer(text))
    answer = text[marks[-1].end() :] if marks else text
    answer = answer.strip().split("\n", 1)[0].strip()
    return answer[:-1].rstrip() if answer.endswith(".") else answer


def normalize_bbh(text: str) -> str:
    """Collapses whitespace, drops a final period, case-folds."""
    text = " ".join(text.split())
    return text.removesuffix(".").rstrip().casefold()


def _matches(answer: str, target: str) -> bool:
    option = _OPTION_TARGET.fullmatch(target)
    if option:
        found = _LEADING_OPTION.match(answer.strip())
        return found is not None and found.group(1) == option.group(1)
    if normalize_bbh(answer) == normalize_bbh(target):
        return True
    if not _BRACKETS.sub("", target):  # dyck_languages: a bracket sequence
        return re.sub(r"\s+", "", answer) == re.sub(r"\s+", "", target)
    try:
        return parse_number(answer) == parse_number(target)
    except ValueError:
        return False


def bbh_score(prediction_text: str, target: str, mode: str) -> float:
    """1.0 if the answer read from ``prediction_text`` matches ``target``, else 0.0."""
    return 1.0 if _matches(extract_bbh_answer(prediction_text, mode), target.strip()) else 0.0


def task_accuracy(scores: Sequence[float]) -> float:
    """Mean score of one task's examples (0.0 for none)."""
    return sum(scores) / len(scores) if scores else 0.0


def bbh_accuracies(scores: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """Per-task accuracy plus ``"macro_average"`` (unweighted mean over the given tasks)."""
    per_task = {task: task_accuracy(s) for task, s in scores.items()}
    macro = sum(per_task.values()) / len(per_task) if per_task else 0.0
    return {**per_task, "macro_average": macro}
