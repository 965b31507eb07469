"""Small pure pieces: answer judging and statistics, the rate limiter, the token estimate."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from t5spec.teacher import estimate as est
from t5spec.teacher.filtering import answer_region, answer_token_count, compute_stats, judge
from t5spec.teacher.ratelimit import RateLimiter
from t5spec.teacher.record import TeacherSample


def test_answer_is_read_from_the_first_answer_line():
    text = "\n48/2 = 24\n48+24 = 72\nThe answer is 72\n\nQuestion: Sam has 5…\nThe answer is 9"
    assert answer_region(text) == "\n48/2 = 24\n48+24 = 72\nThe answer is 72"
    assert judge(text, Fraction(72)) == ("72", True)
    assert judge("so 1,080 in total", Fraction(1080)) == ("1080", True)
    assert judge("no number here", Fraction(3)) == (None, False)
    tokens = ["\n", "The", " answer", " is", " 7", "2", "\n\n", "Question"]
    assert answer_token_count(tokens) == 6


@given(st.lists(st.sampled_from(["a", " answer", " is", " 3", "\n", "x\ny", "The"]), max_size=20))
def test_answer_token_count_covers_the_region(tokens):
    n = answer_token_count(tokens)
    region = answer_region("".join(tokens))
    assert "".join(tokens[:n]).startswith(region)
    assert n == 0 or not "".join(tokens[: n - 1]).startswith(region) or region == ""


def _s(q: int, i: int, *, correct: bool, valid: bool = True, reason: str | None = None):
    return TeacherSample(f"q/{q}", i, "p", "Q", "1", "t", (), (), correct=correct, valid=valid,
                         invalid_reason=reason, answer="1" if correct else None,
                         finish_reason="length")


def test_stats_count_accuracy_kept_and_coverage():
    samples = [
        _s(0, 0, correct=True), _s(0, 1, correct=False), _s(1, 0, correct=False),
        _s(1, 1, correct=False, valid=False, reason="token 3 has 2 top_logprobs, asked for 5"),
        _s(2, 0, correct=False, valid=False, reason="token 7 has 1 top_logprobs, asked for 5"),
    ]
    st_ = compute_stats(samples)
    assert (st_.samples, st_.valid, st_.kept, st_.questions, st_.questions_covered) == (
        5, 3, 1, 3, 1)
    assert st_.accuracy == pytest.approx(0.2) and st_.coverage == pytest.approx(1 / 3)
    assert st_.invalid_reasons == {"token N has N top_logprobs, asked for N": 2}
    assert st_.to_json()["no_answer"] == 2


def test_rate_limiter_spaces_requests_and_tokens():
    now = [0.0]

    async def fake_sleep(dt: float) -> None:
        now[0] += dt

    async def go() -> list[float]:
        limiter = RateLimiter(requests_per_minute=60, tokens_per_minute=600,
                              clock=lambda: now[0], sleep=fake_sleep)
        stamps = []
        for tokens in (500, 100, 100, 0):  # 600 fit at once; then 10 tokens/s refill
            await limiter.acquire(tokens)
            stamps.append(now[0])
        return stamps

    stamps = asyncio.run(go())
    assert stamps[:2] == [0.0, 0.0]
    assert stamps[2] == pytest.approx(10.0)  # 100 tokens at 10/s
    assert stamps[3] == pytest.approx(10.0)  # requests: 60/min bucket still has room


def test_estimate_counts_prompt_tokens_offline():
    enc, exact = est.load_encoding("code-davinci-002")
    assert exact and enc.name == "p50k_base"
    prefix = "Question: 1+1?\nLet's think step by step\n2\nThe answer is 2\n"
    prompts = [prefix + f"\nQuestion: what is {i} times 3?\nLet's think step by step"
               for i in range(5)]
    counts = est.count_prompt_tokens(enc, prompts)
    exact_counts = [len(enc.encode(p)) for p in prompts]
    assert all(abs(a - b) <= 2 for a, b in zip(counts, exact_counts, strict=True))
    e = est.estimate_run(counts, [40, 40, 0, 3, 1], samples_per_request=8, max_tokens=256,
                         encoding=enc.name, exact_encoding=True, usd_per_1m_prompt=2.0)
    assert e.requests == 5 + 5 + 0 + 1 + 1 and e.samples == 84
    assert e.max_completion_tokens == 84 * 256
    assert e.usd == pytest.approx(e.prompt_tokens * 2.0 / 1e6)
    _, exact = est.load_encoding("smollm2-135m")
    assert not exact


def test_estimate_without_offline_files_says_how_to_provide_them(tmp_path):
    code = (
        "from t5spec.teacher.estimate import load_encoding\n"
        "from t5spec.errors import InputError\n"
        "try:\n    load_encoding('gpt-4')\nexcept InputError as e:\n    print(e)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("TIKTOKEN_CACHE_DIR",)}
    env["T5SPEC_DATA_DIR"] = str(tmp_path / "missing")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert "TIKTOKEN_CACHE_DIR" in out.stdout and "tiktoken" in out.stdout


def test_estimate_without_an_encoding_counts_characters():
    """`--encoding none`: a teacher with its own tokenizer (the lab's) needs no tiktoken."""
    enc, exact = est.load_encoding("lab-teacher", est.NO_ENCODING)
    assert enc is None and not exact
    assert est.count_prompt_tokens(None, ["x" * 40, "", "abcdefgh"]) == [10, 1, 2]
