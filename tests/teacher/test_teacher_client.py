"""The client against the stub teacher: retries under faults, fail-fast on bad setup."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from teacher_faults import KINDS, FaultProxy, closed_port_url

from t5spec.teacher.client import ClientConfig, FatalTeacherError, TeacherClient


def _client(url: str, **overrides) -> TeacherClient:
    cfg = dict(base_url=url, model="stub-teacher", timeout_s=1.0, max_retries=8,
               backoff_base_s=0.01, backoff_max_s=0.05)
    cfg.update(overrides)
    return TeacherClient(ClientConfig(**cfg), rng=random.Random(0))


async def _generate_all(client: TeacherClient, count: int) -> list:
    gate = asyncio.Semaphore(8)

    async def one(i: int):
        async with gate:
            return await client.generate(f"Question: {i}?", n=1, max_tokens=8,
                                         temperature=0.5, k=5, seed=i)

    try:
        return await asyncio.gather(*(one(i) for i in range(count)))
    finally:
        await client.aclose()


def test_every_fault_kind_is_retried_until_success(stub_teacher):
    stub = stub_teacher()
    with FaultProxy(stub.url, rate=0.3, hang_s=6.0, seed=1) as proxy:
        client = _client(proxy.url, timeout_s=3.0)
        responses = asyncio.run(_generate_all(client, 40))
    assert len(responses) == 40
    assert all(len(r.choices) == 1 and r.choices[0].invalid_reason is None for r in responses)
    assert set(proxy.faults) == set(KINDS)
    # Every injected fault cost one retry of its kind (a slow machine may add timeouts).
    by_kind = client.stats.by_kind
    assert by_kind["429"] == proxy.faults["429"] and by_kind["500"] == proxy.faults["500"]
    assert by_kind["malformed"] == proxy.faults["truncated"]
    assert by_kind["connection"] == proxy.faults["drop"]
    assert by_kind["timeout"] >= proxy.faults["hang"]
    assert client.stats.requests == 40 + client.stats.retries


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (dict(api_key="wrong"), "authentication failed (401)"),
        (dict(model="no-such-model"), "not found (404)"),
    ],
)
def test_bad_key_or_model_fails_fast_without_retries(stub_teacher, setup, message):
    stub = stub_teacher(api_key="right")
    client = _client(stub.url, **{"api_key": "right", **setup})
    start = time.monotonic()
    with pytest.raises(FatalTeacherError, match=message.replace("(", r"\(").replace(")", r"\)")):
        asyncio.run(_generate_all(client, 1))
    assert stub.requests == 1 and client.stats.retries == 0
    assert time.monotonic() - start < 10


def test_preflight_names_unknown_models_and_unreachable_servers(stub_teacher):
    stub = stub_teacher()

    async def preflight(client: TeacherClient):
        try:
            return await client.preflight()
        finally:
            await client.aclose()

    assert asyncio.run(preflight(_client(stub.url))) == ["stub-teacher"]
    with pytest.raises(FatalTeacherError, match=r"unknown model 'gpt-9'.*offers: stub-teacher"):
        asyncio.run(preflight(_client(stub.url, model="gpt-9")))
    with pytest.raises(FatalTeacherError, match="cannot reach the teacher"):
        asyncio.run(preflight(_client(closed_port_url())))
    assert stub.model_listings == 2 and stub.requests == 0


def test_retries_are_bounded_and_backoff_is_jittered(stub_teacher):
    from t5spec.teacher.client import RetriesExhausted

    stub = stub_teacher()
    with FaultProxy(stub.url, rate=1.0, seed=0) as proxy:
        client = _client(proxy.url, max_retries=3)
        with pytest.raises(RetriesExhausted, match="gave up after 4 attempts"):
            asyncio.run(_generate_all(client, 1))
    assert sum(proxy.faults.values()) == 4
    client = _client("http://127.0.0.1:9/v1", backoff_base_s=1.0, backoff_max_s=8.0)
    for attempt, full in enumerate([1.0, 2.0, 4.0, 8.0, 8.0]):
        delays = [client._backoff_s(attempt, None) for _ in range(50)]
        assert all(full / 2 <= d <= full for d in delays) and len(set(delays)) > 1
    assert client._backoff_s(0, retry_after=5.0) == 5.0
