"""Teacher client throughput: concurrency 32 vs 1 against a stub that answers after 100 ms.

Measures the real sampling path (TeacherClient on the openai SDK → normalize → judge →
append to a store) against ``python -m t5spec.teacher.stub_server --delay 0.1`` running in
its own process on 127.0.0.1. At concurrency 1 the rate is bounded by the 100 ms latency
(≤ 10 req/s); at 32 it should approach 32× that unless the client's own per-request cost
(SDK, JSON, record building, one write per sample) is the bottleneck. Goal: ≥ 20×.

    python bench/bench_teacher_client.py [--requests_low 30 --requests_high 640]

Last line: ``teacher_client ratio: <x> (goal 20)``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction

from t5spec.teacher.client import ClientConfig, TeacherClient
from t5spec.teacher.sampler import Question, SamplingConfig, run_sampling
from t5spec.teacher.store import RunSettings, TeacherStore

DELAY_S = 0.1
PROMPT = "Question: Tom has 3 apples and buys 4 more. How many?\nLet's think step by step"


def _questions(count: int) -> list[Question]:
    return [Question(f"bench/{i}", "Q", Fraction(7), f"{PROMPT} #{i}") for i in range(count)]


async def _rate(url: str, concurrency: int, requests: int) -> tuple[float, float]:
    """(requests/s, client CPU ms per request) for one-sample requests at ``concurrency``."""
    client = TeacherClient(ClientConfig(base_url=url, model="stub-teacher", timeout_s=30.0))
    config = SamplingConfig(num_samples=1, max_tokens=64, top_logprobs=5,
                            concurrency=concurrency, samples_per_request=1, prompt_id="bench")
    settings = RunSettings("stub-teacher", "completions", "bench", "bench", "bench", "",
                           0.5, 5, 1, 64, (), 0)
    with tempfile.TemporaryDirectory() as out:
        store = TeacherStore(out, fsync="interval")
        store.open(settings)
        try:
            start, cpu = time.perf_counter(), time.process_time()
            report = await run_sampling(_questions(requests), client, store, config)
            seconds = time.perf_counter() - start
            cpu = time.process_time() - cpu
        finally:
            store.close()
            await client.aclose()
    if report.written != requests or report.failed:
        raise RuntimeError(f"incomplete run: {report.summary()}")
    return requests / seconds, cpu / requests * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests_low", type=int, default=30)
    parser.add_argument("--requests_high", type=int, default=640)
    args = parser.parse_args()
    stub = subprocess.Popen(
        [sys.executable, "-m", "t5spec.teacher.stub_server", "--delay", str(DELAY_S)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        url = stub.stdout.readline().strip()
        asyncio.run(_rate(url, 4, 20))  # warm-up: imports, connections, stub JIT paths
        low, _ = asyncio.run(_rate(url, 1, args.requests_low))
        high, cpu_ms = asyncio.run(_rate(url, 32, args.requests_high))
    finally:
        stub.terminate()
        stub.wait(30)
    print(f"concurrency 1: {low:.1f} req/s ({args.requests_low} requests, {DELAY_S * 1e3:.0f} ms "
          "stub latency)")
    print(f"concurrency 32: {high:.1f} req/s ({args.requests_high} requests; client CPU "
          f"{cpu_ms:.1f} ms/request, so ≤{1e3 / cpu_ms:.0f} req/s on one free core; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"teacher_client ratio: {high / low:.1f} (goal 20)")


if __name__ == "__main__":
    main()
