"""bench/bench_serve.py's recorder sits between the real batcher and ``Engine.run``: it passes
on every argument the batcher gives (a changed ``Engine.run`` signature broke it once), and
replaying what it recorded decodes the same tokens as the HTTP run."""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path

import openai
import pytest

MODEL = "tiny-t5"  # the name tests/serve/conftest.py serves
BENCH = Path(__file__).resolve().parents[2] / "bench"
PROMPTS = ["Tom has 3 apples.", "What is 4 plus 5?", "Ann buys 2 pens.", "How many left?"]


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("bench_serve")
    finally:
        sys.path.remove(str(BENCH))


async def _send(base_url: str) -> int:
    api = openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=300)

    async def one(i: int, prompt: str) -> int:
        r = await api.completions.create(model=MODEL, prompt=prompt, max_tokens=8,
                                         temperature=1.0, logprobs=5, seed=i)
        return r.usage.completion_tokens

    try:
        return sum(await asyncio.gather(*(one(i, p) for i, p in enumerate(PROMPTS))))
    finally:
        await api.close()


def test_the_recorder_forwards_the_batchers_arguments_and_replays_the_same_tokens(
        bench, server, engine) -> None:  # fmt: skip
    batcher = server.app.state.batcher
    recorder = bench.RecordingEngine(engine)
    batcher.engine = recorder
    try:
        tokens = asyncio.run(_send(server.base_url))
    finally:
        batcher.engine = engine
    assert tokens > 0 and recorder.batches and recorder.seconds > 0
    assert sum(len(rows) for rows, _ in recorder.batches) == len(PROMPTS)
    config = batcher.config
    assert all(args == (config.min_batch, config.min_input_tokens)
               for _, args in recorder.batches)
    replayed, seconds = bench.replay(engine, recorder.batches)
    assert replayed == tokens and seconds > 0
