"""The teacher-sample record: the contract between ``t5spec.teacher`` and ``t5spec.align``.

One JSON object per line in the teacher store's shards. Both the completions and the chat
endpoints are normalized into this shape. Log-probabilities are natural-log (nats).

Fields (JSON):
  key:           stable id ``"{question_id}#{sample_index}"`` (joins use this string, hashed
                 with hashlib where a hash is needed — never Python's salted ``hash()``).
  question_id:   e.g. ``"gsm8k/train/17"``.
  sample_index:  0-based index of the sample for that question.
  prompt_id:     which teacher prompt produced it (e.g. ``"prompt_complex"``).
  question:      the question text (carried so later stages need no join with the data).
  gold:          the gold answer as an exact string (e.g. ``"72"``), "" when unknown.
  text:          the generated text (what the teacher appended after the prompt).
  tokens:        the teacher's tokens as strings; ``"".join(tokens) == text`` for valid records.
  top_logprobs:  per token, a list of ``[token, logprob]`` alternatives (k of them at most,
                 in the order the API returned them — possibly unsorted, possibly missing the
                 sampled token, possibly fewer than k).
  token_logprobs: per token, the log-probability of the sampled token (None where unknown).
  finish_reason: ``"stop"`` / ``"length"`` / … as the API said.
  answer:        the extracted final answer as a string (exact, e.g. ``"72"``, ``"-3/4"``) or None.
  correct:       whether ``answer`` equals the gold answer.
  model:         teacher model name as the server reported it.
  usage:         ``{"prompt_tokens": int, "completion_tokens": int}`` share of this sample.
  valid:         False when the response was unusable (no logprobs, tokens that do not join
                 to the text, …); ``invalid_reason`` then says why. Invalid records are kept
                 in the store (so they are not re-requested) and never used for training.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

TopK = list[tuple[str, float]]


@dataclasses.dataclass(frozen=True)
class TeacherSample:
    """One teacher chain-of-thought sample with per-token top-k alternatives."""

    question_id: str
    sample_index: int
    prompt_id: str
    question: str
    gold: str
    text: str
    tokens: tuple[str, ...]
    top_logprobs: tuple[TopK, ...]
    token_logprobs: tuple[float | None, ...] = ()
    finish_reason: str | None = None
    answer: str | None = None
    correct: bool = False
    model: str = ""
    usage: dict[str, int] = dataclasses.field(default_factory=dict)
    valid: bool = True
    invalid_reason: str | None = None

    @property
    def key(self) -> str:
        return sample_key(self.question_id, self.sample_index)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the store (a shallow build: ``dataclasses.asdict`` deep-copies
        every top-k list and is ~5× slower on long samples)."""
        d: dict[str, Any] = {"key": self.key}
        for name in _FIELD_NAMES:
            d[name] = getattr(self, name)
        d["tokens"] = list(self.tokens)
        d["top_logprobs"] = [[[t, lp] for t, lp in alts] for alts in self.top_logprobs]
        d["token_logprobs"] = list(self.token_logprobs)
        d["usage"] = dict(self.usage)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TeacherSample:
        """Builds a sample from a decoded JSON object (no validation: see the readers)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["tokens"] = tuple(d.get("tokens", ()))
        kw["top_logprobs"] = tuple(
            [(str(t), float(lp)) for t, lp in alts] for alts in d.get("top_logprobs", ())
        )
        kw["token_logprobs"] = tuple(d.get("token_logprobs", ()))
        return cls(**kw)


_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(TeacherSample))

# field -> (allowed JSON types, may be null, required). bool is never an int here.
FIELD_TYPES: dict[str, tuple[tuple[type, ...], bool, bool]] = {
    "question_id": ((str,), False, True),
    "sample_index": ((int,), False, True),
    "prompt_id": ((str,), False, False),
    "question": ((str,), False, False),
    "gold": ((str,), False, False),
    "text": ((str,), False, False),
    "tokens": ((list,), False, False),
    "top_logprobs": ((list,), False, False),
    "token_logprobs": ((list,), False, False),
    "finish_reason": ((str,), True, False),
    "answer": ((str,), True, False),
    "correct": ((bool,), False, False),
    "model": ((str,), False, False),
    "usage": ((dict,), False, False),
    "valid": ((bool,), False, False),
    "invalid_reason": ((str,), True, False),
}
_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true/false", list: "a list",
               dict: "an object"}


def record_type_error(record: dict[str, Any]) -> tuple[str, str] | None:
    """``(field, what is wrong)`` for the first field of a decoded record whose JSON type is
    not the contract's (a ``"false"`` would read as true, ``"0"`` as another index), else None.
    Checks the fields and the shape of ``top_logprobs`` entries, not the token/text join."""
    for field, (types, nullable, required) in FIELD_TYPES.items():
        if field not in record:
            if required:
                return field, "missing"
            continue
        value = record[field]
        wrong_bool = isinstance(value, bool) and bool not in types
        if (value is None and nullable) or (isinstance(value, types) and not wrong_bool):
            continue
        want = " or ".join(_TYPE_NAMES[t] for t in types)
        return field, f"expected {want}, got {json.dumps(value)[:60]}"
    for i, alts in enumerate(record.get("top_logprobs", ())):
        entries = alts if isinstance(alts, list) else [alts]
        for entry in entries:
            if (not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], str)
                    or isinstance(entry[1], bool) or not isinstance(entry[1], (int, float))):
                return "top_logprobs", (f"token {i}: {json.dumps(entry)[:60]} is not "
                                        "[string, logprob]")
    return None


def sample_key(question_id: str, sample_index: int) -> str:
    """The stable join key of a sample."""
    return f"{question_id}#{sample_index}"


def stable_hash(key: str) -> int:
    """A process-independent 63-bit hash of a key (for sharding and seeding)."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") >> 1
