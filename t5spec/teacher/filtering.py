"""Judging teacher samples against the gold answer, and the statistics of a store.

The teacher keeps writing after its answer (a base model continues with the next
"Question: …"), so, like the paper's ``extract_ans`` (``scripts/codex_decode_gsm8k.py``), the
answer is read from the *answer region*: the text up to the end of the first line that says
"answer is". The data layer's extraction (:func:`t5spec.data.answers.extract_answer`) is then
applied to that region. :func:`answer_token_count` gives the matching cut in teacher tokens
for consumers that train on the chain of thought only.

A sample is *kept* (usable for distillation) when it is valid and its answer is correct.
"""

from __future__ import annotations

import collections
import dataclasses
import re
from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import Any

from t5spec.teacher.record import TeacherSample

_ANSWER_LINE = re.compile(r"answer is[^\n]*", re.IGNORECASE)


def answer_region(text: str) -> str:
    """``text`` up to the end of the first line containing "answer is" (all of it if none)."""
    match = _ANSWER_LINE.search(text)
    return text[: match.end()] if match else text


def answer_token_count(tokens: Sequence[str]) -> int:
    """How many leading tokens cover :func:`answer_region` of their joined text."""
    end = len(answer_region("".join(tokens)))
    covered = 0
    for count, token in enumerate(tokens, start=1):
        covered += len(token)
        if covered >= end:
            return count
    return len(tokens)


def judge(text: str, gold: Fraction) -> tuple[str | None, bool]:
    """The extracted answer (canonical string, or None) and whether it equals ``gold``."""
    from t5spec.data.answers import extract_answer, format_number

    value = extract_answer(answer_region(text))
    if value is None:
        return None, False
    return format_number(value), value == gold


@dataclasses.dataclass
class StoreStats:
    """Counts over the records of a store (or of one run)."""

    samples: int = 0
    valid: int = 0
    correct: int = 0  # valid and correct = kept
    no_answer: int = 0
    questions: int = 0
    questions_covered: int = 0  # questions with at least one kept sample
    invalid_reasons: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    finish_reasons: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    kept_per_question: list[int] = dataclasses.field(default_factory=list)

    @property
    def kept(self) -> int:
        return self.correct

    @property
    def accuracy(self) -> float:
        """Per-sample accuracy: kept / all samples (invalid samples count as wrong)."""
        return self.correct / self.samples if self.samples else 0.0

    @property
    def coverage(self) -> float:
        """Fraction of questions with at least one kept sample."""
        return self.questions_covered / self.questions if self.questions else 0.0

    def to_json(self) -> dict[str, Any]:
        kept = sorted(self.kept_per_question)
        return {
            "samples": self.samples,
            "valid": self.valid,
            "invalid": self.samples - self.valid,
            "kept": self.kept,
            "accuracy": round(self.accuracy, 4),
            "accuracy_of_valid": round(self.correct / self.valid, 4) if self.valid else 0.0,
            "no_answer": self.no_answer,
            "questions": self.questions,
            "questions_covered": self.questions_covered,
            "coverage": round(self.coverage, 4),
            "kept_per_question_median": kept[len(kept) // 2] if kept else 0,
            "invalid_reasons": dict(self.invalid_reasons.most_common()),
            "finish_reasons": dict(self.finish_reasons.most_common()),
        }

    def summary(self) -> str:
        """One line for humans."""
        return (
            f"{self.samples} samples, {self.valid} valid, kept {self.kept} "
            f"(accuracy {self.accuracy:.1%}); {self.questions_covered}/{self.questions} "
            f"questions covered ({self.coverage:.1%})"
        )


def compute_stats(samples: Iterable[TeacherSample]) -> StoreStats:
    """Statistics of a set of records: accuracy, kept count, per-question coverage, reasons."""
    stats = StoreStats()
    kept_by_q: dict[str, int] = collections.defaultdict(int)
    for s in samples:
        stats.samples += 1
        kept_by_q[s.question_id] += 0
        stats.finish_reasons[s.finish_reason or "none"] += 1
        if not s.valid:
            stats.invalid_reasons[_reason_kind(s.invalid_reason)] += 1
            continue
        stats.valid += 1
        if s.answer is None:
            stats.no_answer += 1
        if s.correct:
            stats.correct += 1
            kept_by_q[s.question_id] += 1
    stats.questions = len(kept_by_q)
    stats.questions_covered = sum(1 for v in kept_by_q.values() if v)
    stats.kept_per_question = list(kept_by_q.values())
    return stats


def _reason_kind(reason: str | None) -> str:
    """Groups reasons that differ only in numbers ("token 3 has 2 …" → "token N has N …")."""
    return re.sub(r"\d+", "N", reason or "unknown")
