"""``t5spec serve`` through the openai SDK, against a tiny random-weight T5X model."""
# slow: T5X import, a checkpoint write and one decode compile (~1 min on 2 busy cores).

from __future__ import annotations

import asyncio
import math

import httpx
import numpy as np
import openai
import pytest

from t5spec import cli
from t5spec.models.decoding import SamplingParams
from t5spec.serve import engine as serve_engine
from t5spec.teacher.normalize import parse_response

pytestmark = pytest.mark.slow

MODEL = "tiny-t5"  # the name tests/serve/conftest.py serves
PROMPTS = ["Anna has 3 apples. She finds 4 more apples.", "How many pears does Jake have?",
           "A waiter had 14 customers.", "Mia buys 2 pens for 3 dollars each.",
           "Q: 2 + 2", "Ellen has six more balls than Marin.", "Then he buys 3 bags.", "x"]


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0,
                         timeout=300)


def _greedy_direct(engine, prompt: str, max_tokens: int) -> list[int]:
    """Greedy ids straight from the decoder (row 0 of the served shape, other rows empty)."""
    ids = np.zeros((8, 16), np.int32)
    ids[:, 0] = 1
    ids[0, :len(engine.encode(prompt))] = engine.encode(prompt)
    gen = engine.decoder.generate(ids, SamplingParams(max_new_tokens=16))
    out = [int(t) for t in gen.tokens[0, :gen.lengths[0]]][:max_tokens]
    return out[:out.index(1)] if 1 in out else out


def test_models_and_health(client, server):
    assert [m.id for m in client.models.list().data] == [MODEL]
    health = httpx.get(server.base_url.removesuffix("/v1") + "/health").json()
    assert health["status"] == "ok"


def test_greedy_completion_is_the_models_own_output(client, engine):
    prompt = PROMPTS[0]
    resp = client.completions.create(model=MODEL, prompt=prompt, max_tokens=12, temperature=0,
                                     logprobs=3, n=2)
    expected_ids = _greedy_direct(engine, prompt, 12)
    expected = "".join(engine.piece_bytes[i].decode() for i in expected_ids)
    assert len(resp.choices) == 2
    for choice in resp.choices:
        assert choice.text == expected
        lp = choice.logprobs
        assert "".join(lp.tokens) == choice.text
        assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs)
        assert lp.text_offset[0] == len(prompt)
        assert np.all(np.diff(lp.text_offset) == [len(t) for t in lp.tokens[:-1]])
        for token, logprob, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs,
                                       strict=True):
            assert 3 <= len(top) <= 4 and logprob <= 0
            best = max(top, key=top.get)
            assert best == token and math.isclose(top[best], logprob, abs_tol=1e-5)
    assert resp.usage.completion_tokens == 2 * len(expected_ids)
    assert resp.usage.prompt_tokens == len(engine.encode(prompt))


def test_response_passes_the_teacher_clients_checks(server):
    body = httpx.post(f"{server.base_url}/completions", json={
        "model": MODEL, "prompt": PROMPTS[2], "max_tokens": 10, "temperature": 1.0,
        "logprobs": 5, "n": 3}, timeout=300).json()
    parsed = parse_response(body, endpoint="completions", k=5)
    assert len(parsed.choices) == 3
    assert all(c.invalid_reason is None and c.tokens for c in parsed.choices)
    for c in body["choices"]:  # the sampled token is always listed with its own log-prob
        lp = c["logprobs"]
        for token, logprob, top in zip(lp["tokens"], lp["token_logprobs"], lp["top_logprobs"],
                                       strict=True):
            assert 5 <= len(top) <= 6 and math.isclose(top[token], logprob, abs_tol=1e-5)


def test_concurrent_requests_are_batched_without_changing_outputs(server, engine):
    async def one(api, prompt):
        r = await api.completions.create(model=MODEL, prompt=prompt, max_tokens=8,
                                         temperature=0)
        return r.choices[0].text

    async def all_at_once():
        api = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0,
                                 timeout=300)
        try:
            return await asyncio.gather(*(one(api, p) for p in PROMPTS))
        finally:
            await api.close()

    stats = server.app.state.batcher.stats
    before = dict(stats)
    texts = asyncio.run(all_at_once())
    expected = ["".join(engine.piece_bytes[i].decode() for i in _greedy_direct(engine, p, 8))
                for p in PROMPTS]
    assert texts == expected
    assert stats["rows"] - before["rows"] == len(PROMPTS)
    assert stats["batches"] - before["batches"] < len(PROMPTS)


def test_stop_strings_cut_the_text(client):
    full = client.completions.create(model=MODEL, prompt=PROMPTS[3], max_tokens=8,
                                     temperature=0, logprobs=1).choices[0]
    stop = full.logprobs.tokens[2]
    cut = client.completions.create(model=MODEL, prompt=PROMPTS[3], max_tokens=8,
                                    temperature=0, logprobs=1, stop=[stop]).choices[0]
    assert cut.finish_reason == "stop"
    assert stop not in cut.text and full.text.startswith(cut.text)
    assert "".join(cut.logprobs.tokens) == cut.text


@pytest.mark.parametrize(("fields", "status", "param"), [
    ({"model": "gpt-4"}, 404, "model"),
    ({"max_tokens": 17}, 400, "max_tokens"),
    ({"logprobs": 6}, 400, "logprobs"),
    ({"n": 9}, 400, "n"),
    ({"stream": True}, 400, "stream"),
    ({"temperature": -1}, 400, "temperature"),
    ({"prompt": "apples " * 200}, 400, "prompt"),
    ({"prompt": None}, 400, "prompt"),
])
def test_bad_requests_get_openai_errors(server, client, fields, status, param):
    body = {"model": MODEL, "prompt": "hi", "max_tokens": 4, **fields}
    with pytest.raises(openai.APIStatusError) as caught:
        client.completions.create(**body)
    assert caught.value.status_code == status
    assert caught.value.body["param"] == param and caught.value.body["message"]


def test_malformed_json_and_unknown_paths(server, client):
    base = server.base_url
    for content in (b"{not json", b"[1, 2]", b"\xff"):
        r = httpx.post(f"{base}/completions", content=content,
                       headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    r = httpx.get(f"{base}/nothing")
    assert r.status_code == 404 and "error" in r.json()
    ok = client.completions.create(model=MODEL, prompt="still alive", max_tokens=2)
    assert len(ok.choices) == 1


def test_merge_characters_and_stop_cut():
    pieces = [b" a", b"\xe2", b"\x98", b"\x83", b"b"]
    merged = serve_engine._merge_characters(pieces)
    assert [t for t, _ in merged] == [" a", "☃", "b"]
    assert [list(s) for _, s in merged] == [[0], [1, 2, 3], [4]]
    assert serve_engine._apply_stop([" a", " b", " c"], (" b",)) == (1, True)
    assert serve_engine._apply_stop([" a", " bc"], ("c",)) == (1, True)
    assert serve_engine._apply_stop([" a"], ("z", "")) == (1, False)
    assert serve_engine._show(b"\xe2\x98") == "bytes:\\xe2\\x98"
    assert [serve_engine._bucket(n, 16) for n in (1, 16, 17, 100)] == [16, 16, 32, 128]


def test_cli_reports_a_missing_vocabulary(tiny_checkpoint, tmp_path, capsys):
    code = cli.main(["serve", "--checkpoint", str(tiny_checkpoint),
                     "--vocab", str(tmp_path / "missing.model")])
    assert code == 2
    assert "missing.model" in capsys.readouterr().err


def test_a_lone_client_sets_the_batchers_expectation_to_one_row(client, server):
    client.completions.create(model=MODEL, prompt=PROMPTS[4], max_tokens=2)
    batcher = server.app.state.batcher
    assert batcher.expected == 1 and not batcher.pending  # the next lone request won't wait


def _sampled(client, prompt: str, seed: int | None, n: int = 1) -> list[str]:
    resp = client.completions.create(model=MODEL, prompt=prompt, max_tokens=12, temperature=1.0,
                                     n=n, seed=seed)
    return [c.text for c in resp.choices]


def test_a_seeded_request_is_reproducible_however_it_is_batched(client, server):
    alone = _sampled(client, PROMPTS[1], seed=7)
    assert _sampled(client, PROMPTS[1], seed=7) == alone

    async def crowd():  # the seeded request in a batch with others, at another row
        api = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0,
                                 timeout=300)
        try:
            calls = [api.completions.create(model=MODEL, prompt=p, max_tokens=m,
                                            temperature=1.0, seed=s, n=n)
                     for p, m, s, n in ((PROMPTS[0], 16, None, 2), (PROMPTS[5], 4, 3, 1),
                                        (PROMPTS[1], 12, 7, 1), (PROMPTS[7], 9, None, 3))]
            return await asyncio.gather(*calls)
        finally:
            await api.close()

    batches = server.app.state.batcher.stats["batches"]
    responses = asyncio.run(crowd())
    assert server.app.state.batcher.stats["batches"] - batches < len(responses)  # batched
    assert [c.text for c in responses[2].choices] == alone


def test_choice_i_is_drawn_with_seed_plus_i_and_unseeded_requests_vary(client):
    three = _sampled(client, PROMPTS[2], seed=40, n=3)
    assert three == [_sampled(client, PROMPTS[2], seed=40 + i)[0] for i in range(3)]
    assert len(set(three)) == 3
    assert _sampled(client, PROMPTS[2], seed=None) != _sampled(client, PROMPTS[2], seed=None)


def test_engine_rows_draw_from_their_own_seed(engine):
    def row(prompt: str, seed: int) -> serve_engine.Row:
        return serve_engine.Row(engine.encode(prompt), len(prompt), 16, 1.0, 1.0, None, (),
                                seed=seed)

    first = engine.run([row(PROMPTS[3], 11)], min_batch=8)[0]["text"]
    crowd = [row(p, 100 + i) for i, p in enumerate(PROMPTS[:5])]
    mixed = engine.run([*crowd, row(PROMPTS[3], 11)], min_batch=8)
    assert mixed[-1]["text"] == first
    assert engine.run([row(PROMPTS[3], 12)], min_batch=8)[0]["text"] != first
