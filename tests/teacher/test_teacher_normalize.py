"""Normalizing completions and chat bodies into choices; the validity rules."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from t5spec.teacher.normalize import MalformedResponse, invalid_reason, parse_response

# The shape llama.cpp's server sent for a 3-token completion (values from a real reply,
# trimmed to k=2 + the sampled token it adds to the dict).
COMPLETION = {
    "id": "cmpl-1", "object": "text_completion", "model": "smollm2",
    "choices": [{
        "text": "1. Calculate", "index": 0, "finish_reason": "length",
        "logprobs": {
            "text_offset": [99, 100, 101],
            "token_logprobs": [-1.06, -0.31, -3.97],
            "tokens": ["1", ".", " Calculate"],
            "top_logprobs": [
                {"1": -1.06, "Tom": -1.5},
                {".": -0.31, ")": -2.0},
                {" The": -1.2, " First": -1.9, " Calculate": -3.97},
            ],
        },
    }],
    "usage": {"prompt_tokens": 28, "completion_tokens": 3, "total_tokens": 31},
}

CHAT = {
    "model": "smollm2",
    "choices": [{
        "index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "content": "Let's"},
        "logprobs": {"content": [
            {"token": "Let", "logprob": -1.31, "bytes": None, "top_logprobs": [
                {"token": "Let", "logprob": -1.31}, {"token": "1", "logprob": -1.76}]},
            {"token": "'s", "logprob": -0.10, "bytes": None, "top_logprobs": [
                {"token": "'s", "logprob": -0.10}, {"token": " x", "logprob": -2.93}]},
        ]},
    }],
}


def test_completion_body_is_normalized():
    r = parse_response(COMPLETION, endpoint="completions", k=2)
    (c,) = r.choices
    assert r.model == "smollm2" and r.usage == {"prompt_tokens": 28, "completion_tokens": 3}
    assert c.invalid_reason is None
    assert c.tokens == ("1", ".", " Calculate") and c.finish_reason == "length"
    assert c.top_logprobs[0] == [("1", -1.06), ("Tom", -1.5)]
    # k+1 entries (llama.cpp adds the sampled token): the k most likely are kept, in order.
    assert c.top_logprobs[2] == [(" The", -1.2), (" First", -1.9)]
    assert c.token_logprobs == (-1.06, -0.31, -3.97)


def test_chat_body_is_normalized():
    (c,) = parse_response(CHAT, endpoint="chat", k=2).choices
    assert c.invalid_reason is None and c.text == "Let's"
    assert c.tokens == ("Let", "'s") and c.top_logprobs[1] == [("'s", -0.10), (" x", -2.93)]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda ch: ch.update(logprobs=None), "no logprobs"),
        (lambda ch: ch["logprobs"].pop("top_logprobs"), "no top_logprobs"),
        (lambda ch: ch["logprobs"]["tokens"].pop(), "differ in length"),
        (lambda ch: ch.update(text="1. Calculated"), "do not concatenate"),
        (lambda ch: ch["logprobs"]["top_logprobs"][1].pop(")"), "has 1 top_logprobs, asked for 2"),
        (lambda ch: ch["logprobs"]["top_logprobs"][0].update({"1": "x"}), "non-numeric"),
        (lambda ch: ch["logprobs"]["top_logprobs"][0].update({"1": float("nan")}), "non-finite"),
    ],
)
def test_unusable_choices_are_invalid_with_a_reason(mutate, reason):
    body = copy.deepcopy(COMPLETION)
    mutate(body["choices"][0])
    (c,) = parse_response(body, endpoint="completions", k=2).choices
    assert c.invalid_reason is not None and reason in c.invalid_reason


def test_chat_without_logprobs_or_with_fewer_alternatives_is_invalid():
    body = copy.deepcopy(CHAT)
    body["choices"][0]["logprobs"]["content"][0]["top_logprobs"].pop()
    (c,) = parse_response(body, endpoint="chat", k=2).choices
    assert c.invalid_reason == "token 0 has 1 top_logprobs, asked for 2"
    body["choices"][0]["logprobs"] = None
    (c,) = parse_response(body, endpoint="chat", k=2).choices
    assert "no logprobs" in c.invalid_reason


@pytest.mark.parametrize(
    "body",
    [None, [], "x", {}, {"choices": []}, {"choices": "x"}, {"choices": [3]},
     {"choices": [{"index": 0, "logprobs": None}]}],
)
def test_malformed_bodies_raise(body):
    with pytest.raises(MalformedResponse):
        parse_response(body, endpoint="completions", k=2)


def test_choices_are_sorted_by_index():
    body = copy.deepcopy(COMPLETION)
    second = copy.deepcopy(body["choices"][0])
    second["index"] = 1
    body["choices"].insert(0, second)
    r = parse_response(body, endpoint="completions", k=2)
    assert [c.index for c in r.choices] == [0, 1]


@given(st.lists(st.text(min_size=1, max_size=4), max_size=12), st.text(max_size=3))
def test_join_rule(tokens, extra):
    from t5spec.teacher.normalize import Choice

    tops = tuple([(t, -1.0), ("x", -2.0)] for t in tokens)
    choice = Choice(0, "".join(tokens) + extra, tuple(tokens), tops, (None,) * len(tokens), None)
    assert (invalid_reason(choice, 2) is None) == (extra == "")
