"""The sampling run: ask the teacher for every missing (question, sample) and store each once.

Work items are ``(question, [consecutive sample indices])``; a bounded pool of asyncio workers
(``concurrency``) sends one request per item with ``n = len(indices)``. Choice ``j`` of the
reply becomes sample ``indices[j]``. Seeds: a request carries ``seed = base + indices[0]``,
``base`` a stable hash of (``SamplingConfig.seed``, question id); a server that draws choice
``j`` with ``seed + j`` (``t5spec serve``, the stub teacher) thus draws sample ``i`` with
``base + i`` however the samples are grouped into requests or resumed. A server that
ignores ``n`` (llama.cpp returns one choice) is detected from its first short reply: the
unanswered indices go back to the queue, and with ``samples_per_request=0`` (auto) every
later request asks for one sample.

Exactly-once: the store's keys are read before the run; a key is written only after its
reply parsed; a request that is retried or times out writes nothing; choices beyond the
asked ``n`` are ignored. Samples whose requests exhausted their retries stay missing (the
report counts them) and are asked again by the next run — unless no request of the run has
succeeded yet: then the teacher is unusable and the run stops (FatalTeacherError).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import time
from collections.abc import Sequence
from fractions import Fraction
from typing import Protocol

from t5spec.teacher.client import FatalTeacherError, RetriesExhausted, TeacherClient
from t5spec.teacher.filtering import judge
from t5spec.teacher.normalize import Choice, Response
from t5spec.teacher.record import TeacherSample, sample_key, stable_hash
from t5spec.teacher.store import TeacherStore

AUTO_SAMPLES_PER_REQUEST = 8


@dataclasses.dataclass(frozen=True)
class Question:
    """One question to sample: its id, text, exact gold answer and full teacher prompt."""

    id: str
    question: str
    gold: Fraction
    prompt: str
    prompt_tokens: int = 0  # estimate for the tokens-per-minute limit (0: len(prompt) // 4)


@dataclasses.dataclass(frozen=True)
class SamplingConfig:
    """Decoding and scheduling settings (the paper: N=40, T=0.5, 256 tokens, top-5)."""

    prompt_id: str = "prompt_complex"
    num_samples: int = 40
    temperature: float = 0.5
    max_tokens: int = 256
    top_logprobs: int = 5
    stop: tuple[str, ...] = ()
    concurrency: int = 16
    samples_per_request: int = 0  # 0: auto (ask up to 8, fall back to 1 if n is ignored)
    seed: int | None = 0  # request seed = hash(seed, question) + first index; None: no seed


@dataclasses.dataclass
class RunReport:
    """What one run did (the store's statistics come from :mod:`t5spec.teacher.filtering`)."""

    questions: int = 0
    already_stored: int = 0
    requested: int = 0
    written: int = 0
    invalid: int = 0
    kept: int = 0
    failed: int = 0
    requests: int = 0
    retries: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    samples_per_request: int = 0
    n_fallback: bool = False
    seconds: float = 0.0
    failures: list[str] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        retries = ", ".join(f"{k}: {v}" for k, v in sorted(self.retries.items())) or "none"
        return (
            f"run: {self.written}/{self.requested} samples written in {self.seconds:.1f}s "
            f"({self.already_stored} already stored), {self.invalid} invalid, {self.kept} kept, "
            f"{self.failed} failed; {self.requests} requests, retries: {retries}"
        )


class Progress(Protocol):
    def advance(self, samples: int, *, questions_done: int, retries: int) -> None: ...


async def run_sampling(
    questions: Sequence[Question],
    client: TeacherClient,
    store: TeacherStore,
    config: SamplingConfig,
    *,
    progress: Progress | None = None,
) -> RunReport:
    """Samples every (question, index < num_samples) the store lacks; returns the run report.

    The store must be open. Raises FatalTeacherError (from the client) when the teacher
    refuses the run; everything written until then stays in the store.
    """
    return await _Run(questions, client, store, config, progress).run()


class _Run:
    def __init__(
        self,
        questions: Sequence[Question],
        client: TeacherClient,
        store: TeacherStore,
        config: SamplingConfig,
        progress: Progress | None,
    ):
        self.client, self.store, self.config, self.progress = client, store, config, progress
        self.auto_n = config.samples_per_request == 0
        self.n_cap = config.samples_per_request or AUTO_SAMPLES_PER_REQUEST
        self.report = RunReport(questions=len(questions))
        # Ordered by (question position, first index): re-queued remainders go first, so
        # questions complete in order and a cut-short run leaves whole questions behind.
        self.queue: asyncio.PriorityQueue[tuple[int, int, Question, list[int]]] = (
            asyncio.PriorityQueue()
        )
        self.position = {q.id: pos for pos, q in enumerate(questions)}
        self.remaining: dict[str, int] = {}
        for q in questions:
            missing = [
                i for i in range(config.num_samples) if sample_key(q.id, i) not in store.keys
            ]
            self.report.already_stored += config.num_samples - len(missing)
            self.report.requested += len(missing)
            self.remaining[q.id] = len(missing)
            self._enqueue(q, missing)
        self.questions_done = sum(1 for v in self.remaining.values() if v == 0)

    def _enqueue(self, q: Question, indices: list[int]) -> None:
        """Queues ``indices`` in runs of consecutive indices, at most ``n_cap`` each."""
        runs: list[list[int]] = []
        for i in indices:
            if runs and runs[-1][-1] == i - 1 and len(runs[-1]) < self.n_cap:
                runs[-1].append(i)
            else:
                runs.append([i])
        for chunk in runs:
            self.queue.put_nowait((self.position[q.id], chunk[0], q, chunk))

    async def run(self) -> RunReport:
        start = time.monotonic()
        retries_before = self.client.stats.by_kind.copy()
        requests_before = self.client.stats.requests
        workers = [asyncio.create_task(self._worker()) for _ in range(self.config.concurrency)]
        joiner = asyncio.create_task(self.queue.join())
        try:
            done, _ = await asyncio.wait([joiner, *workers], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in [joiner, *workers]:
                task.cancel()
            await asyncio.gather(joiner, *workers, return_exceptions=True)
            self.report.seconds = time.monotonic() - start
            self.report.retries = self.client.stats.by_kind - retries_before
            self.report.requests = self.client.stats.requests - requests_before
            self.report.samples_per_request = self.n_cap
        for task in done:
            if task is not joiner and task.exception() is not None:
                raise task.exception()
        return self.report

    async def _worker(self) -> None:
        while True:
            _, _, q, indices = await self.queue.get()
            try:
                if len(indices) > self.n_cap:  # the cap dropped after this item was queued
                    self._enqueue(q, indices[self.n_cap :])
                    indices = indices[: self.n_cap]
                await self._serve(q, indices)
            finally:
                self.queue.task_done()

    async def _serve(self, q: Question, indices: list[int]) -> None:
        cfg = self.config
        seed = None
        if cfg.seed is not None:
            seed = stable_hash(f"{cfg.seed}:{q.id}") % (2**31) + indices[0]
        estimate = (q.prompt_tokens or len(q.prompt) // 4) + len(indices) * cfg.max_tokens
        try:
            response = await self.client.generate(
                q.prompt,
                n=len(indices),
                max_tokens=cfg.max_tokens,
                temperature=cfg.temperature,
                k=cfg.top_logprobs,
                seed=seed,
                stop=cfg.stop,
                token_estimate=estimate,
            )
        except RetriesExhausted as e:
            if self.report.written == 0:  # not one success yet: the setup is wrong, stop
                raise FatalTeacherError(f"no request has succeeded; {e}") from None
            self.report.failed += len(indices)
            if len(self.report.failures) < 20:
                self.report.failures.append(f"{sample_key(q.id, indices[0])}: {e}")
            return
        got = response.choices[: len(indices)]
        for pos, (index, choice) in enumerate(zip(indices, got, strict=False)):
            self._write(self._record(q, index, choice, response, pos, len(got)))
        if len(got) < len(indices):
            if self.auto_n and self.n_cap > 1:
                self.n_cap = 1
                self.report.n_fallback = True
            self._enqueue(q, indices[len(got) :])

    def _write(self, sample: TeacherSample) -> None:
        self.store.append(sample)
        self.report.written += 1
        self.report.invalid += not sample.valid
        self.report.kept += sample.valid and sample.correct
        self.remaining[sample.question_id] -= 1
        if self.remaining[sample.question_id] == 0:
            self.questions_done += 1
        if self.progress is not None:
            self.progress.advance(
                1, questions_done=self.questions_done, retries=self.client.stats.retries
            )

    def _record(
        self, q: Question, index: int, choice: Choice, response: Response, pos: int, n_got: int
    ) -> TeacherSample:
        from t5spec.data.answers import format_number

        answer, correct = judge(choice.text, q.gold)
        prompt_tokens = response.usage.get("prompt_tokens", 0)
        share = prompt_tokens // n_got + (prompt_tokens % n_got if pos == 0 else 0)
        valid = choice.invalid_reason is None
        return TeacherSample(
            question_id=q.id,
            sample_index=index,
            prompt_id=self.config.prompt_id,
            question=q.question,
            gold=format_number(q.gold),
            text=choice.text,
            tokens=choice.tokens,
            top_logprobs=choice.top_logprobs,
            token_logprobs=choice.token_logprobs,
            finish_reason=choice.finish_reason,
            answer=answer,
            correct=valid and correct,
            model=response.model or self.client.config.model,
            usage={"prompt_tokens": share, "completion_tokens": len(choice.tokens)},
            valid=valid,
            invalid_reason=choice.invalid_reason,
        )
