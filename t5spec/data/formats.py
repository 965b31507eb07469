"""The paper's four training formats, exemplar sampling, and the teacher / evaluation prompts.

Formats (Fu et al. 2023, §3; strings as built in ``src/data_utils.py`` of
FranxYao/FlanT5-CoT-Specialization @ a8ffd51, ``sample_in_context_example`` and
``process_data_format``). ``q`` is the question, exemplars ``(q_i, cot_i, a_i)``:

=========================== ============================================== ====================
format                      inputs                                         targets
=========================== ============================================== ====================
in_context_answer_only      ``Σ "Q: q_i\\nA: The answer is a_i\\n\\n"``       ``The answer is N``
                            ``+ "Q: q\\nA:"``
in_context_cot              ``Σ "Q: q_i\\nLet's think step by step\\n"``     the teacher CoT
                            ``"cot_i\\nThe answer is a_i\\n\\n"``
                            ``+ "Q: q\\nLet's think step by step"``
zero_shot_answer_only       ``"Q: q A:"``                                  ``The answer is N``
zero_shot_cot               ``"Q: q\\nLet's think step by step"``           the teacher CoT
=========================== ============================================== ====================

The paper draws 4 exemplars per training case with ``np.random.choice`` over all of GSM8K
train (the question itself included, unseeded per process). Here :func:`choose_exemplars`
draws them deterministically from ``sha256(seed, question_id, draw)`` — the same on every
machine and Python/NumPy version — and never returns the question itself. Pass a per-sample
key (e.g. ``"gsm8k/train/17#3"``) as ``question_id`` to vary exemplars across samples of one
question as the paper did, or the question id to keep them fixed per question.

Exemplar CoTs are GSM8K gold rationales with ``<<…>>`` calculator annotations removed
(``MathExample.rationale``), answers as written after ``####`` — as in the paper.

Evaluation prompts (``test_distill*.py``): ``prompt_mode=cot_4_cases`` sends
``lib_prompt/prompt_simple_4_cases.txt + "\\nQ: " + q + "\\nLet's think step by step\\n"``;
that file is four exemplars in exactly the ``in_context_cot`` layout, so
``build_inputs(q, "in_context_cot", paper_eval_exemplars())`` equals it up to the trailing
newline. ``zero_shot_cot`` evaluation sends ``"Q: " + q + "\\nLet's think step by step\\n"``.

Teacher prompt (``scripts/codex_decode_gsm8k.py``): ``lib_prompt/prompt_complex.txt +
"\\nQuestion: " + q + "\\nLet's think step by step"`` (:func:`teacher_prompt`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Sequence

from t5spec import paths
from t5spec.data import files
from t5spec.data.answers import ANSWER_IS
from t5spec.data.records import MathExample
from t5spec.errors import InputError

FORMATS = (
    "in_context_answer_only",
    "in_context_cot",
    "zero_shot_answer_only",
    "zero_shot_cot",
)
IN_CONTEXT_FORMATS = ("in_context_answer_only", "in_context_cot")
COT_FORMATS = ("in_context_cot", "zero_shot_cot")
STEP_BY_STEP = "Let's think step by step"
ANSWER_PREFIX = "The answer is "
PAPER_EVAL_PROMPT = "paper_release/lib_prompt/prompt_simple_4_cases.txt"

PathLike = str | os.PathLike


@dataclasses.dataclass(frozen=True)
class Exemplar:
    """A worked example shown in context: question, CoT (without the answer line), answer."""

    question: str
    cot: str
    answer: str


def _check(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")


def _shot(exemplar: Exemplar, fmt: str) -> str:
    if fmt == "in_context_cot":
        return (
            f"Q: {exemplar.question}\n{STEP_BY_STEP}\n{exemplar.cot}\n"
            f"{ANSWER_PREFIX}{exemplar.answer}\n\n"
        )
    return f"Q: {exemplar.question}\nA: {ANSWER_PREFIX}{exemplar.answer}\n\n"


def build_inputs(question: str, fmt: str, exemplars: Sequence[Exemplar] = ()) -> str:
    """The model input for ``question`` in format ``fmt`` (table in the module docstring).

    In-context formats need at least one exemplar; zero-shot formats ignore ``exemplars``.
    """
    _check(fmt)
    if fmt in IN_CONTEXT_FORMATS:
        if not exemplars:
            raise ValueError(f"{fmt} needs exemplars")
        context = "".join(_shot(e, fmt) for e in exemplars)
        tail = f"Q: {question}\n{STEP_BY_STEP}" if fmt == "in_context_cot" else f"Q: {question}\nA:"
        return context + tail
    if fmt == "zero_shot_cot":
        return f"Q: {question}\n{STEP_BY_STEP}"
    return f"Q: {question} A:"


def build_targets(cot: str, answer: str, fmt: str) -> str:
    """The target text: ``"The answer is N"`` for answer-only formats, else the CoT.

    A CoT that already states "The answer is" (teacher samples do) is returned unchanged, so
    its tokens stay aligned with the teacher's; otherwise ``"\\nThe answer is N"`` is appended.
    """
    _check(fmt)
    if fmt not in COT_FORMATS:
        return f"{ANSWER_PREFIX}{answer}"
    if ANSWER_IS.search(cot):
        return cot
    return f"{cot.rstrip()}\n{ANSWER_PREFIX}{answer}"


def exemplar_from(example: MathExample) -> Exemplar:
    """An Exemplar from a GSM8K record (gold rationale, answer as written)."""
    if example.rationale is None:
        raise ValueError(f"{example.id} has no rationale")
    return Exemplar(example.question, example.rationale, example.answer_text)


def _draw(seed: int, question_id: str, k: int, size: int) -> int:
    digest = hashlib.sha256(f"t5spec-exemplars/{seed}/{question_id}/{k}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % size


def choose_exemplars(
    pool: Sequence[MathExample], question_id: str, n: int = 4, seed: int = 0
) -> list[Exemplar]:
    """``n`` distinct exemplars from ``pool`` for one training case, deterministically.

    Args:
      pool: candidate records with rationales (GSM8K train).
      question_id: the case's id; a pool record with this id (or, for per-sample keys like
        ``"gsm8k/train/17#3"``, the id before ``#``) is never chosen.
      n: how many exemplars.
      seed: changes every draw.
    """
    own = question_id.split("#", 1)[0]
    if n >= len(pool):
        raise ValueError(f"need {n} exemplars besides {own} but the pool has {len(pool)} records")
    chosen: list[int] = []
    for k in range(64 * n + 64):  # the chance of running out is below 2**-60
        i = _draw(seed, question_id, k, len(pool))
        if pool[i].id != own and i not in chosen:
            chosen.append(i)
            if len(chosen) == n:
                return [exemplar_from(pool[i]) for i in chosen]
    raise ValueError(f"could not draw {n} distinct exemplars from a pool of {len(pool)}")


def teacher_prompt(
    question: str, data_dir: PathLike | None = None, prompt_id: str = "prompt_complex"
) -> str:
    """The teacher's few-shot CoT prompt: ``lib_prompt/<prompt_id>.txt`` + the question."""
    path = paths.data_file(f"paper_release/lib_prompt/{prompt_id}.txt", data_dir)
    return f"{files.read_text(path)}\nQuestion: {question}\n{STEP_BY_STEP}"


def paper_eval_exemplars(data_dir: PathLike | None = None) -> list[Exemplar]:
    """The four exemplars of ``prompt_simple_4_cases.txt`` (the paper's evaluation prompt)."""
    path = paths.data_file(PAPER_EVAL_PROMPT, data_dir)
    exemplars = []
    for k, chunk in enumerate(files.read_text(path).strip().split("\n\n")):
        where = f"exemplar {k}"
        lines = chunk.split("\n")
        if (
            len(lines) < 4
            or not lines[0].startswith("Q: ")
            or lines[1] != STEP_BY_STEP
            or not lines[-1].startswith(ANSWER_PREFIX)
        ):
            raise InputError(
                path,
                "expected 'Q: …', the step-by-step line, steps, 'The answer is N'",
                where=where,
            )
        cot = "\n".join(lines[2:-1])
        answer = lines[-1].removeprefix(ANSWER_PREFIX)
        exemplars.append(Exemplar(lines[0].removeprefix("Q: "), cot, answer))
    return exemplars


def build_eval_input(question: str, fmt: str, data_dir: PathLike | None = None) -> str:
    """Evaluation input: in-context formats use the paper's fixed 4-case exemplars."""
    _check(fmt)
    exemplars = paper_eval_exemplars(data_dir) if fmt in IN_CONTEXT_FORMATS else ()
    return build_inputs(question, fmt, exemplars)
