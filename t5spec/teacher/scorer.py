"""The scoring run: the teacher's judgement of texts it did not write (on-policy distillation).

Input: JSONL, one text per line (what a student wrote for a question)::

    {"question_id": "gsm8k/train/17", "sample_index": 0, "question": "Natalia sold …",
     "continuation": " She sold 48 / 2 = 24 clips in May. …", "gold": "72"}

``question_id`` (non-empty string), ``sample_index`` (integer >= 0), ``question`` (string) and
``continuation`` (non-empty string) are required; ``gold`` (a string holding one number) is
optional; no other field is allowed (a misspelt field is an error, not a silent default). A
``(question_id, sample_index)`` occurs once. Bad lines are InputErrors naming file, line and
field. ``continuation`` is the text as the teacher would have written it after its prompt —
the ``text`` of a teacher record (a T5 teacher's text starts with a space, its dummy prefix).

Each text costs one ``echo`` request (:meth:`TeacherClient.score
<t5spec.teacher.client.TeacherClient.score>`) whose prompt is the teacher prompt of the
question (``--prompt_id``, as ``teacher sample`` builds it). The reply becomes an ordinary
teacher record (:class:`ScoredSample`: ``text`` = the continuation, its ``tokens``,
``top_logprobs`` and ``token_logprobs`` only, plus ``"source": "student"``) under the text's
own key, so ``t5spec align`` reads a score store like a sample store. A reply whose tokens do
not reproduce the continuation exactly (a teacher token straddling the prompt/continuation
boundary, a tokenizer that normalizes the text) is stored invalid with its reason.

Exactly-once and resumable as :mod:`t5spec.teacher.sampler`: keys already stored are not
asked again, a key is written only after its reply parsed, a request that exhausted its
retries leaves its text missing for the next run (unless nothing succeeded yet: then the
teacher is unusable, FatalTeacherError).

Teachers: ``t5spec serve`` scores an encoder-decoder model's decoder side
(``decoder_prompt``, :mod:`t5spec.serve.api`); a decoder-only server that implements OpenAI's
legacy ``echo`` + ``max_tokens: 0`` (OpenAI's older models, vLLM) is sent ``prompt +
continuation``. llama-cpp-python's server (0.3.36, measured 2026-12-04 with SmolLM2-135M) is
not usable: it reads ``max_tokens: 0`` as "until the context is full" (it generated 7 tokens
after the echo), and when the model adds no BOS token, as SmolLM2's GGUF does not, it reports
each prompt token's log-prob and alternatives from the distribution that predicts the *next*
token (its top-k at ``":"`` equals the first generated token's).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Sequence
from typing import Any

from t5spec.errors import InputError
from t5spec.teacher.client import FatalTeacherError, RetriesExhausted, TeacherClient
from t5spec.teacher.filtering import judge
from t5spec.teacher.normalize import Response
from t5spec.teacher.record import TeacherSample, sample_key
from t5spec.teacher.sampler import Progress, RunReport
from t5spec.teacher.store import TeacherStore

REQUIRED = {"question_id": str, "sample_index": int, "question": str, "continuation": str}
OPTIONAL = {"gold": str}


@dataclasses.dataclass(frozen=True)
class StudentText:
    """One text to score: its key parts, question, the text and (optionally) the gold."""

    question_id: str
    sample_index: int
    question: str
    continuation: str
    gold: str = ""

    @property
    def key(self) -> str:
        return sample_key(self.question_id, self.sample_index)


@dataclasses.dataclass(frozen=True)
class ScoredSample(TeacherSample):
    """A teacher record of a text the teacher scored; ``source`` says who wrote the text."""

    source: str = "student"

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "source": self.source}


@dataclasses.dataclass(frozen=True)
class ScoreConfig:
    """What to ask: the teacher prompt, k, the echo convention; and how many at once."""

    prompt_id: str = "prompt_complex"
    top_logprobs: int = 5
    decoder_prompt: bool = False  # True: encoder-decoder teacher (t5spec serve)
    concurrency: int = 16


@dataclasses.dataclass(frozen=True)
class ScoreSettings:
    """The manifest settings of a score store (a resumed run must match them)."""

    model: str
    echo: str
    prompt_id: str
    prompt_sha256: str
    top_logprobs: int
    input_sha256: str
    kind: str = "score"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def read_student_texts(path: str | os.PathLike) -> list[StudentText]:
    """The texts of a JSONL file, validated (see module docstring); InputError otherwise."""
    texts: list[StudentText] = []
    first_line: dict[str, int] = {}
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as e:
        raise InputError(path, f"cannot read ({e.strerror})", field="texts") from None
    with handle:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            text = _parse_line(path, line_no, raw)
            if text.key in first_line:
                raise InputError(path, f"{text.key} occurs twice (first at line "
                                 f"{first_line[text.key]})", where=f"line {line_no}",
                                 field="sample_index")
            first_line[text.key] = line_no
            texts.append(text)
    if not texts:
        raise InputError(path, "no texts to score (empty input)", field="texts")
    return texts


def _parse_line(path: str | os.PathLike, line_no: int, raw: bytes) -> StudentText:
    where = f"line {line_no}"
    try:
        record = json.loads(raw)
    except ValueError as e:
        raise InputError(path, f"not a JSON object ({e})", where=where) from None
    if not isinstance(record, dict):
        raise InputError(path, "not a JSON object", where=where)
    for field in record:
        if field not in REQUIRED and field not in OPTIONAL:
            raise InputError(path, f"unknown field (allowed: {', '.join([*REQUIRED, *OPTIONAL])})",
                             where=where, field=field)
    for field, kind in {**REQUIRED, **OPTIONAL}.items():
        if field not in record:
            if field in REQUIRED:
                raise InputError(path, "missing", where=where, field=field)
            continue
        value = record[field]
        if not isinstance(value, kind) or isinstance(value, bool):
            want = "an integer" if kind is int else "a string"
            raise InputError(path, f"expected {want}, got {json.dumps(value)[:60]}",
                             where=where, field=field)
    for field in ("question_id", "continuation"):
        if not record[field]:
            raise InputError(path, "empty", where=where, field=field)
    if record["sample_index"] < 0:
        raise InputError(path, f"negative index {record['sample_index']}", where=where,
                         field="sample_index")
    gold = record.get("gold", "")
    if gold:
        from t5spec.data.answers import format_number, parse_number

        try:
            gold = format_number(parse_number(gold))  # canonical, as sample records hold it
        except ValueError as e:
            raise InputError(path, str(e), where=where, field="gold") from None
    return StudentText(record["question_id"], record["sample_index"], record["question"],
                       record["continuation"], gold)


def input_sha256(path: str | os.PathLike) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


async def run_scoring(
    texts: Sequence[StudentText],
    prompts: Sequence[str],
    client: TeacherClient,
    store: TeacherStore,
    config: ScoreConfig,
    *,
    progress: Progress | None = None,
) -> RunReport:
    """Scores every text the (open) store lacks, ``prompts[i]`` being text i's teacher prompt.

    Raises FatalTeacherError when the teacher refuses the run; what was written stays.
    """
    report = RunReport(questions=len({t.question_id for t in texts}))
    queue: asyncio.Queue[tuple[StudentText, str]] = asyncio.Queue()
    for text, prompt in zip(texts, prompts, strict=True):
        if text.key in store.keys:
            report.already_stored += 1
        else:
            report.requested += 1
            queue.put_nowait((text, prompt))
    start, requests_before = time.monotonic(), client.stats.requests
    retries_before = client.stats.by_kind.copy()
    workers = [asyncio.create_task(_worker(queue, client, store, config, report, progress))
               for _ in range(min(config.concurrency, max(1, report.requested)))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        report.seconds = time.monotonic() - start
        report.requests = client.stats.requests - requests_before
        report.retries = client.stats.by_kind - retries_before
    return report


async def _worker(queue: asyncio.Queue, client: TeacherClient, store: TeacherStore,
                  config: ScoreConfig, report: RunReport, progress: Progress | None) -> None:
    while not queue.empty():
        text, prompt = queue.get_nowait()
        estimate = (len(prompt) + len(text.continuation)) // 4
        try:
            response = await client.score(prompt, text.continuation, k=config.top_logprobs,
                                          decoder_prompt=config.decoder_prompt,
                                          token_estimate=estimate)
        except RetriesExhausted as e:
            if report.written == 0:  # not one success yet: the setup is wrong, stop
                raise FatalTeacherError(f"no request has succeeded; {e}") from None
            report.failed += 1
            if len(report.failures) < 20:
                report.failures.append(f"{text.key}: {e}")
            continue
        sample = scored_record(text, response, config.prompt_id, client.config.model)
        store.append(sample)
        report.written += 1
        report.invalid += not sample.valid
        report.kept += sample.valid
        if progress is not None:
            progress.advance(1, questions_done=0, retries=client.stats.retries)


def scored_record(text: StudentText, response: Response, prompt_id: str,
                  model: str) -> ScoredSample:
    """The teacher record of one scored text (pure)."""
    from t5spec.data.answers import parse_number

    (choice,) = response.choices
    answer, correct = judge(text.continuation, parse_number(text.gold)) if text.gold \
        else (None, False)
    valid = choice.invalid_reason is None
    return ScoredSample(
        question_id=text.question_id, sample_index=text.sample_index, prompt_id=prompt_id,
        question=text.question, gold=text.gold, text=text.continuation, tokens=choice.tokens,
        top_logprobs=choice.top_logprobs, token_logprobs=choice.token_logprobs,
        finish_reason=None, answer=answer, correct=valid and correct,
        model=response.model or model,
        usage={"prompt_tokens": response.usage.get("prompt_tokens", 0), "completion_tokens": 0},
        valid=valid, invalid_reason=choice.invalid_reason,
    )
