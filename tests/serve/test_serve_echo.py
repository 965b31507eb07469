"""``t5spec serve`` scoring: ``echo`` + ``max_tokens: 0`` + ``logprobs`` on the decoder side.

The echoed log-probs are checked against T5X's own ``EncoderDecoderModel`` (``score_batch``'s
per-token scores, ``_compute_logits``'s top-k) on the tiny random-weight checkpoint of
``conftest.py``, and against what the cached decoder recorded while generating the same ids.
"""
# slow: T5X import, a checkpoint write and a few compiles (~1 min on 2 busy cores).

from __future__ import annotations

import itertools
import math

import httpx
import numpy as np
import openai
import pytest

from t5spec.models.decoding import SamplingParams
from t5spec.serve.engine import Row

pytestmark = pytest.mark.slow

MODEL = "tiny-t5"  # the name tests/serve/conftest.py serves
PAIRS = [("Anna has 3 apples. She finds 4 more apples.", " She has 3 + 4 = 7 apples."),
         ("How many pears does Jake have?", " Jake has 5 pears."),
         ("x", " The answer is 12.")]


def _echo(server, prompt, decoder_prompt, logprobs=5, **extra) -> httpx.Response:
    return httpx.post(f"{server.base_url}/completions", timeout=300, json={
        "model": MODEL, "prompt": prompt, "decoder_prompt": decoder_prompt, "echo": True,
        "max_tokens": 0, "logprobs": logprobs, **extra})


def _t5x_reference(engine, prompt: str, decoder_ids: list[int], k: int):
    """(per-token log-probs, top-k {token: logprob} per token, sequence score) computed by
    T5X's EncoderDecoderModel over T5X's network."""
    import jax
    import seqio
    from t5x import models as t5x_models
    from t5x.examples.t5 import network as t5x_network

    config, params = engine.decoder.config, engine.decoder.params
    vocab = seqio.PassThroughVocabulary(config.vocab_size, eos_id=1)
    model = t5x_models.EncoderDecoderModel(
        module=t5x_network.Transformer(config), input_vocabulary=vocab,
        output_vocabulary=vocab, optimizer_def=None)
    targets = np.array([decoder_ids], np.int32)
    batch = {"encoder_input_tokens": np.array([engine.encode(prompt)], np.int32),
             "decoder_input_tokens": np.pad(targets[:, :-1], ((0, 0), (1, 0))),
             "decoder_target_tokens": targets,
             "decoder_loss_weights": (targets > 0).astype(np.float32)}
    sequence, inter = model.score_batch(params, batch, return_intermediates=True)
    token_scores = np.asarray(inter["decoder"]["token_scores"][0][0])
    logp = np.asarray(jax.nn.log_softmax(model._compute_logits(params, batch)[0], axis=-1))
    tops = []
    for row in logp:
        best = np.argsort(-row, kind="stable")[:k]
        tops.append({engine.alt_text[i]: float(row[i]) for i in best})
    return token_scores, tops, float(sequence[0])


@pytest.mark.parametrize(("prompt", "text"), PAIRS)
def test_echo_equals_t5x_teacher_forced_logprobs(server, engine, prompt, text):
    body = _echo(server, prompt, text).json()
    (choice,) = body["choices"]
    lp = choice["logprobs"]
    ids = engine.encode_decoder(text)
    assert len(lp["tokens"]) == len(ids) + 1  # the decoder start, then one per id (ASCII)
    token_scores, tops, sequence = _t5x_reference(engine, prompt, ids, 5)
    np.testing.assert_allclose(lp["token_logprobs"][1:], token_scores, rtol=1e-5, atol=1e-5)
    assert math.isclose(sum(lp["token_logprobs"][1:]), sequence, rel_tol=1e-5, abs_tol=1e-4)
    for i, (token, top) in enumerate(zip(lp["tokens"][1:], lp["top_logprobs"][1:],
                                         strict=True)):
        want = dict(tops[i])
        want.setdefault(token, float(token_scores[i]))  # the scored token, as when sampling
        assert top.keys() == want.keys()
        np.testing.assert_allclose([top[t] for t in want], list(want.values()), atol=1e-5)


def test_echo_response_shape_is_openai_legacy(server, engine):
    prompt, text = PAIRS[0]
    body = _echo(server, prompt, text, logprobs=2).json()
    (choice,) = body["choices"]
    lp = choice["logprobs"]
    assert lp["tokens"][0] == "" and lp["token_logprobs"][0] is None
    assert lp["top_logprobs"][0] is None and lp["text_offset"][0] == 0
    assert "".join(lp["tokens"]) == choice["text"] == text
    assert lp["text_offset"] == [0, *itertools.accumulate(len(t) for t in lp["tokens"][:-1])]
    assert all(2 <= len(top) <= 3 for top in lp["top_logprobs"][1:])
    assert all(x <= 0 for x in lp["token_logprobs"][1:])
    assert choice["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 0
    assert body["usage"]["prompt_tokens"] == (len(engine.encode(prompt))
                                              + len(engine.encode_decoder(text)))


def test_echo_through_the_openai_sdk_and_in_a_batch(server):
    client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0,
                           timeout=300)
    prompts, texts = [p for p, _ in PAIRS], [t for _, t in PAIRS]
    together = client.completions.create(model=MODEL, prompt=prompts, echo=True, max_tokens=0,
                                         logprobs=3, extra_body={"decoder_prompt": texts})
    assert len(together.choices) == len(PAIRS)
    for choice, prompt, text in zip(together.choices, prompts, texts, strict=True):
        alone = _echo(server, prompt, text, logprobs=3).json()["choices"][0]["logprobs"]
        assert choice.text == text and choice.logprobs.tokens == alone["tokens"]
        np.testing.assert_allclose(choice.logprobs.token_logprobs[1:],
                                   alone["token_logprobs"][1:], atol=1e-6)


def test_scoring_generated_ids_gives_the_generation_logprobs(engine):
    """The engine's teacher-forced scores of a greedy generation equal what the cached
    decoder recorded while generating it (another code path: step by step, with caches)."""
    prompt = PAIRS[0][0]
    tokens = np.zeros((8, 16), np.int32)
    tokens[:, 0] = 1
    tokens[0, :len(engine.encode(prompt))] = engine.encode(prompt)
    gen = engine.decoder.generate(tokens, SamplingParams(max_new_tokens=16))
    ids = [int(t) for t in gen.tokens[0, :gen.lengths[0]] if t != 1][:12]
    row = Row(engine.encode(prompt), 0, 0, 1.0, 1.0, 5, (), decoder_ids=ids)
    (choice,) = engine.run([row], min_batch=8)
    scored = np.asarray(choice["logprobs"]["token_logprobs"][1:])
    groups = engine.run([Row(engine.encode(prompt), len(prompt), len(ids), 0.0, 1.0, 5, ())],
                        min_batch=8)[0]["logprobs"]
    assert choice["logprobs"]["tokens"][1:] == groups["tokens"]
    np.testing.assert_allclose(scored, groups["token_logprobs"], rtol=1e-5, atol=1e-5)
    for got, want in zip(choice["logprobs"]["top_logprobs"][1:], groups["top_logprobs"],
                         strict=True):
        assert got.keys() == want.keys()
        np.testing.assert_allclose([got[t] for t in want], list(want.values()), atol=1e-5)


@pytest.mark.parametrize(("fields", "param"), [
    ({"decoder_prompt": None}, "decoder_prompt"),             # echo needs a text to score
    ({"max_tokens": 4}, "max_tokens"),                        # echo and generate at once
    ({"echo": False}, "decoder_prompt"),                      # decoder_prompt without echo
    ({"echo": False, "decoder_prompt": None}, "max_tokens"),  # max_tokens 0, no echo
    ({"decoder_prompt": " apples" * 40}, "decoder_prompt"),   # over max_tokens
    ({"decoder_prompt": ["a", "b"]}, "decoder_prompt"),       # a list for one prompt
])
def test_bad_scoring_requests_get_openai_errors(server, fields, param):
    body = {"model": MODEL, "prompt": "hi", "decoder_prompt": " ok", "echo": True,
            "max_tokens": 0, "logprobs": 1, **fields}
    body = {k: v for k, v in body.items() if v is not None}
    r = httpx.post(f"{server.base_url}/completions", json=body, timeout=300)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param and r.json()["error"]["message"]
