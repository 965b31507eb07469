"""Re-tokenizing teacher text with the offline p50k_base encoding."""

from __future__ import annotations

from t5spec.align.teacher_tokens import retokenize


def test_retokenize_matches_sampled_tokens_up_to_final_newlines(codex_samples):
    for s in codex_samples:
        toks = retokenize(s.text, "p50k_base")
        assert "".join(toks) == s.text
        assert list(toks[:-1]) == list(s.tokens[:len(toks) - 1])  # "\n","\n" merge to "\n\n"


def test_retokenize_keeps_multibyte_characters_whole():
    text = "2 × 3 = 6 – émigré 🙂"
    toks = retokenize(text)
    assert "".join(toks) == text and "\ufffd" not in "".join(toks)


def test_text_only_sample_is_retokenized_and_one_hot(codex_samples, default_aligner):
    import dataclasses

    s = dataclasses.replace(codex_samples[0], tokens=(), top_logprobs=(), token_logprobs=())
    (out,) = default_aligner.align([s])
    assert out.teacher_mask.sum() == 0 and out.length > 30
