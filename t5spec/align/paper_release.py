"""The 52 real Codex samples (and 2 aligned references) released with the paper, as records.

Source: ``paper_release/codex_teacher_samples.json`` (see its SOURCE.md and the ``raw_step_format``
/ ``aligned_format`` notes inside it). Each raw step holds 6 ``[token, prob]`` pairs: [0] the
sampled token, [1..5] the API ``top_logprobs`` entries in the API's (unsorted) order, with
``prob = exp(logprob)`` printed to 4 decimals.

Conversion to :class:`~t5spec.teacher.record.TeacherSample`: ``tokens`` = the sampled tokens,
``token_logprobs`` = log of their probabilities, ``top_logprobs`` = the 5 API entries in order.
A printed probability of ``0.0`` only says ``p < 5e-5``; it becomes ``log(2.5e-5)`` (the middle
of that interval), which prints as 0.0000 again — ``log(0)`` would be an invalid ``-inf``.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

from t5spec.errors import InputError
from t5spec.paths import data_file
from t5spec.teacher.record import TeacherSample

RELEASE_FILE = "paper_release/codex_teacher_samples.json"
ZERO_PROB = 2.5e-5  # stands for a printed 0.0000 (p < 5e-5)
PAPER_PROMPT_ID = "prompt_complex"
PAPER_MODEL = "code-davinci-002"
_ANSWER = re.compile(r"answer is\s*\$?(-?[\d,]*\.?\d+)")


def _logprob(p: float) -> float:
    return math.log(p) if p > 0 else math.log(ZERO_PROB)


def _gold(gold_answer: str) -> str:
    """The exact gold answer after GSM8K's ``####`` line."""
    return gold_answer.rsplit("####", 1)[-1].strip().replace(",", "")


def _answer(text: str) -> str | None:
    """The number after the last "answer is" (the paper prompt's answer line), else None."""
    found = _ANSWER.findall(text)
    return found[-1].replace(",", "") if found else None


def _to_sample(raw: dict[str, Any], path: Path, record: int) -> TeacherSample:
    steps = raw["steps"]
    for i, step in enumerate(steps):
        if len(step) < 1:
            raise InputError(path, "empty step", where=f"record {record} step {i}", field="steps")
    tokens = tuple(str(step[0][0]) for step in steps)
    gold = _gold(raw["gold_answer"])
    answer = _answer(raw["generated_text"])
    # Finished samples end in newline tokens; the one that hit max_tokens does not.
    finish = "stop" if tokens and tokens[-1] == "\n" else "length"
    return TeacherSample(
        question_id=f"gsm8k/{raw.get('gsm8k_split', 'train')}/{raw['gsm8k_index']}",
        sample_index=int(raw["sample_index"]),
        prompt_id=PAPER_PROMPT_ID,
        question=raw["question"],
        gold=gold,
        text=raw["generated_text"],
        tokens=tokens,
        top_logprobs=tuple([(str(t), _logprob(float(p))) for t, p in step[1:]] for step in steps),
        token_logprobs=tuple(_logprob(float(step[0][1])) for step in steps),
        finish_reason=finish,
        answer=answer,
        correct=finish == "stop" and answer is not None and answer == gold,
        model=PAPER_MODEL,
        valid=True,
    )


def _load(data_dir: str | os.PathLike | None) -> tuple[Path, dict[str, Any]]:
    path = data_file(RELEASE_FILE, data_dir)
    with open(path, encoding="utf-8") as f:
        return path, json.load(f)


def load_codex_samples(data_dir: str | os.PathLike | None = None) -> list[TeacherSample]:
    """The 52 real code-davinci-002 samples as TeacherSamples, in file order.

    Order: question 0 samples 0..49, question 1 sample 0, question 32 sample 44 (hit max_tokens,
    so ``finish_reason="length"`` and ``correct=False``).
    """
    path, data = _load(data_dir)
    return [_to_sample(raw, path, i) for i, raw in enumerate(data["raw_codex_samples"])]


def load_aligned_references(data_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """The authors' DTW-aligned FlanT5 targets (``dtw_aligned_flan_t5_reference``), verbatim.

    Each item: ``gsm8k_index``, ``sample_index``, ``target_text``, ``per_step_probs`` (per T5
    token a list of ``[piece, prob]``; a one-hot row is ``[[piece, 1.0]]``).
    """
    _, data = _load(data_dir)
    return list(data["dtw_aligned_flan_t5_reference"])
