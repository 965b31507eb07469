"""Bad teacher input is an InputError naming the sample and the field, never an alignment."""

from __future__ import annotations

import dataclasses
import math

import pytest

from t5spec.errors import InputError

BAD = {
    "lengths": (dict(top_logprobs=()), "top_logprobs"),
    "positive": ("pos", "top_logprobs"),
    "nan": ("nan", "top_logprobs"),
    "inf_sampled": ("inf", "token_logprobs"),
    "empty": (dict(text="", tokens=(), top_logprobs=(), token_logprobs=()), "text"),
    "not_joining": ("join", "tokens"),
    "too_many_alternatives": ("k21", "top_logprobs"),
    "token_logprob_count": (dict(token_logprobs=(-0.1,)), "token_logprobs"),
    "unknown_piece": ("unk", "text"),
}


def _broken(sample, how):
    if isinstance(how, dict):
        return dataclasses.replace(sample, **how)
    top = [list(a) for a in sample.top_logprobs]
    if how == "pos":
        top[3][1] = (top[3][1][0], 0.25)
    elif how == "nan":
        top[4][0] = (top[4][0][0], math.nan)
    elif how == "k21":
        top[5] = [(f"t{i}", -3.0) for i in range(21)]
    elif how == "inf":
        lps = list(sample.token_logprobs)
        lps[6] = -math.inf
        return dataclasses.replace(sample, token_logprobs=tuple(lps))
    elif how == "join":
        return dataclasses.replace(sample, text=sample.text.replace("48", "49", 1))
    elif how == "unk":
        toks = list(sample.tokens)
        toks[3] = " {Nat}"
        return dataclasses.replace(sample, tokens=tuple(toks), text="".join(toks))
    return dataclasses.replace(sample, top_logprobs=tuple(top))


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_names_sample_and_field(codex_samples, default_aligner, case):
    how, field = BAD[case]
    bad = _broken(codex_samples[0], how)
    with pytest.raises(InputError) as err:
        default_aligner.prepare(bad, "in.jsonl")
    assert err.value.field == field
    assert "gsm8k/train/0#0" in str(err.value) and "in.jsonl" in str(err.value)
