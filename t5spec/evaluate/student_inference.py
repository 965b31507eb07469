"""Answering math questions with a trained student, and what it costs.

Three ways for a student to answer, all through :class:`t5spec.models.decoding.Decoder`
(T5X's cached decoding) and scored by the data layer's answer extraction:

* **label-prefix answer only** (:func:`answer_from_label`, distilling step-by-step students):
  greedy, at most :data:`t5spec.tasks.stepbystep_names.LABEL_MAX_NEW_TOKENS` new tokens —
  room for ``"The answer is N"`` and never for a rationale;
* **rationale then answer** (:func:`answer_from_rationale`): greedy, the rationale prefix,
  the answer read after the rationale's last "The answer is";
* **self-consistency** (:func:`self_consistency`, any student, any input format): ``m``
  sampled chains of thought per question, answer by :func:`t5spec.evaluate.voting.
  majority_vote`.

Cost (:class:`InferenceCost`): generated tokens per answer (EOS included, all samples of a
question counted) and wall time per 100 answers. The timer covers generation and
detokenization on this machine, not compilation: one untimed warm-up call with the first
batch's shapes compiles first (every batch is padded to the same shape, so nothing compiles
inside the timed region). Compare times only between runs on the same machine.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Hashable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from t5spec.evaluate.voting import majority_vote
from t5spec.models.decoding import Decoder, SamplingParams
from t5spec.tasks import stepbystep_names as stepbystep

Extract = Callable[[str], Hashable | None]


@dataclasses.dataclass(frozen=True)
class InferenceCost:
    """What answering cost: answers given, tokens generated (EOS included), seconds."""

    answers: int
    generated_tokens: int
    wall_seconds: float

    @property
    def tokens_per_answer(self) -> float:
        return self.generated_tokens / self.answers if self.answers else math.nan

    @property
    def seconds_per_100_answers(self) -> float:
        return 100.0 * self.wall_seconds / self.answers if self.answers else math.nan


@dataclasses.dataclass(frozen=True)
class Answers:
    """Per input: the generated texts (one per sample) and the final answer, plus the cost.

    Attributes:
      outputs: ``outputs[i]`` are the texts generated for input i (``num_samples`` of them).
      sample_answers: the answer extracted from each of those texts (None: none found).
      sample_tokens: the number of tokens generated for each of those texts (EOS included).
      answers: the answer of input i (the only sample's, or the majority vote).
      cost: for all inputs together.
    """

    outputs: tuple[tuple[str, ...], ...]
    sample_answers: tuple[tuple[Any, ...], ...]
    sample_tokens: tuple[tuple[int, ...], ...]
    answers: tuple[Any, ...]
    cost: InferenceCost

    def accuracy(self, golds: Sequence[Fraction]) -> float:
        """Fraction of inputs whose answer equals its gold (exact)."""
        if len(golds) != len(self.answers):
            raise ValueError(f"{len(golds)} golds for {len(self.answers)} answers")
        hits = sum(a is not None and a == g for a, g in zip(self.answers, golds, strict=True))
        return hits / len(golds) if golds else math.nan


def default_extract(text: str) -> Fraction | None:
    """The math answer of a generated text (``t5spec.data.answers.extract_answer``)."""
    from t5spec.data.answers import extract_answer

    return extract_answer(text)


def encode_inputs(vocabulary: Any, texts: Sequence[str], *, multiple: int = 32) -> np.ndarray:
    """int32 [N, S]: each text's ids + EOS (as SeqIO's ``inputs`` feature), 0-padded to S,
    the longest length rounded up to ``multiple`` (fewer shapes, fewer compilations)."""
    rows = [[*vocabulary.encode(t), vocabulary.eos_id] for t in texts]
    width = multiple * max(1, math.ceil(max((len(r) for r in rows), default=1) / multiple))
    out = np.zeros((len(rows), width), np.int32)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def _decode(vocabulary: Any, tokens: np.ndarray, length: int) -> str:
    ids = [int(t) for t in tokens[:length] if int(t) not in (0, vocabulary.eos_id)]
    return vocabulary.decode(ids)


def generate(
    decoder: Decoder, vocabulary: Any, inputs: Sequence[str], sampling: SamplingParams, *,
    num_samples: int = 1, batch_size: int = 32, warmup: bool = True,
) -> tuple[list[list[str]], list[list[int]], float]:
    """Generates ``num_samples`` texts per input: (texts, token counts, seconds), grouped by
    input (``texts[i][s]`` is sample s of input i; counts include EOS).

    Rows (input i repeated ``num_samples`` times) go in batches of ``batch_size``, the last
    one padded with copies of its first row (their outputs dropped); batch j samples with
    seed ``sampling.seed + j``.
    """
    if num_samples < 1 or batch_size < 1:
        raise ValueError(f"num_samples and batch_size must be >= 1 "
                         f"(got {num_samples}, {batch_size})")
    rows = np.repeat(encode_inputs(vocabulary, inputs), num_samples, axis=0)
    batches = [rows[i: i + batch_size] for i in range(0, len(rows), batch_size)]
    batches = [np.concatenate([b, np.repeat(b[:1], batch_size - len(b), 0)]) for b in batches]
    if warmup and batches:
        decoder.generate(batches[0], sampling)
    texts: list[str] = []
    lengths: list[int] = []
    start = time.perf_counter()
    for j, batch in enumerate(batches):
        gen = decoder.generate(batch, dataclasses.replace(sampling, seed=sampling.seed + j))
        keep = min(batch_size, len(rows) - j * batch_size)
        lengths += [int(n) for n in gen.lengths[:keep]]
        texts += [_decode(vocabulary, gen.tokens[i], int(gen.lengths[i])) for i in range(keep)]
    seconds = time.perf_counter() - start
    starts = range(0, len(texts), num_samples)
    return ([texts[i: i + num_samples] for i in starts],
            [lengths[i: i + num_samples] for i in starts], seconds)


def answer(
    decoder: Decoder, vocabulary: Any, inputs: Sequence[str], sampling: SamplingParams, *,
    num_samples: int = 1, batch_size: int = 32, extract: Extract = default_extract,
    warmup: bool = True,
) -> Answers:
    """Answers every input: ``num_samples`` generations each, majority vote over them."""
    texts, lengths, seconds = generate(
        decoder, vocabulary, inputs, sampling, num_samples=num_samples,
        batch_size=batch_size, warmup=warmup)
    samples = tuple(tuple(extract(t) for t in group) for group in texts)
    return Answers(
        outputs=tuple(tuple(group) for group in texts),
        sample_answers=samples,
        sample_tokens=tuple(tuple(n) for n in lengths),
        answers=tuple(majority_vote(s) for s in samples),
        cost=InferenceCost(answers=len(inputs), generated_tokens=sum(map(sum, lengths)),
                           wall_seconds=seconds),
    )


def answer_from_label(
    decoder: Decoder, vocabulary: Any, questions: Sequence[str], *,
    prefix: str = stepbystep.DEFAULT_LABEL_PREFIX, batch_size: int = 32,
    warmup: bool = True,
) -> Answers:
    """Label-prefix answer only: greedy, ≤ ``LABEL_MAX_NEW_TOKENS`` tokens per answer."""
    sampling = SamplingParams(max_new_tokens=stepbystep.LABEL_MAX_NEW_TOKENS,
                              num_alternatives=0)
    return answer(decoder, vocabulary, [prefix + q for q in questions], sampling,
                  batch_size=batch_size, warmup=warmup)


def answer_from_rationale(
    decoder: Decoder, vocabulary: Any, questions: Sequence[str], *,
    prefix: str = stepbystep.DEFAULT_RATIONALE_PREFIX, max_new_tokens: int = 256,
    batch_size: int = 32, warmup: bool = True,
) -> Answers:
    """Rationale then answer: greedy, up to ``max_new_tokens`` tokens."""
    sampling = SamplingParams(max_new_tokens=max_new_tokens, num_alternatives=0)
    return answer(decoder, vocabulary, [prefix + q for q in questions], sampling,
                  batch_size=batch_size, warmup=warmup)


def self_consistency(
    decoder: Decoder, vocabulary: Any, inputs: Sequence[str], *, num_samples: int,
    sampling: SamplingParams, batch_size: int = 32, extract: Extract = default_extract,
    warmup: bool = True,
) -> Answers:
    """Majority vote over ``num_samples`` sampled CoTs per input (any student, any format).

    ``sampling`` must sample (temperature > 0; Wang et al. use 0.5-0.7 with top-k 40):
    greedy decoding would give ``num_samples`` copies of one chain.
    """
    if sampling.temperature <= 0:
        raise ValueError("self-consistency needs sampling.temperature > 0 (greedy gives "
                         "identical chains)")
    return answer(decoder, vocabulary, inputs, sampling, num_samples=num_samples,
                  batch_size=batch_size, extract=extract, warmup=warmup)
