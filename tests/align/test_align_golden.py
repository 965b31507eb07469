"""The paper's own output, reproduced exactly; and what the default mode adds on real data."""

from __future__ import annotations

import numpy as np
import pytest

from t5spec.align.aligner import AlignConfig, Aligner
from t5spec.align.paper_release import load_aligned_references


def _rows(sample, vocab):
    """Per T5 position, the kept (piece, prob rounded to 4 decimals) entries."""
    rows = []
    for ids, probs in zip(sample.teacher_ids, sample.teacher_probs, strict=True):
        n = int((probs > 0).sum())
        rows.append([(vocab.sp.id_to_piece(int(i)), round(float(p), 4))
                     for i, p in zip(ids[:n], probs[:n], strict=True)])
    return rows


def test_paper_compat_reproduces_authors_alignment(data_dir, vocab, codex_samples,
                                                   paper_aligner):
    ref = load_aligned_references(data_dir)[0]
    sample = codex_samples[0]
    assert (ref["gsm8k_index"], ref["sample_index"]) == (0, 0)
    assert (sample.question_id, sample.sample_index) == ("gsm8k/train/0", 0)
    (out,) = paper_aligner.align([sample])
    assert out.target_text == ref["target_text"]
    pieces = [vocab.sp.id_to_piece(int(i)) for i in out.targets]
    assert pieces == [row[0][0] for row in ref["per_step_probs"]]
    expected = [[(t, round(p, 4)) for t, p in row] for row in ref["per_step_probs"]]
    assert _rows(out, vocab) == expected
    rows = ref["per_step_probs"]
    one_hot = [row == [[piece, 1.0]] for row, piece in zip(rows, pieces, strict=True)]
    assert out.teacher_mask.tolist() == [0 if oh else 1 for oh in one_hot]
    # Line-initial pieces lose their match to the teacher's unspaced token, "." to the "\n"
    # the DP maps onto it too, "/2" to the teacher's "/", "2".
    assert [p for p, oh in zip(pieces, one_hot, strict=True) if oh] == [
        "▁If", "/2", ".", "▁In", ".", "▁The"]


def test_second_reference_tokenization_matches(data_dir, vocab):
    ref = load_aligned_references(data_dir)[1]
    _, pieces = vocab.encode(ref["target_text"])
    assert pieces == [row[0][0] for row in ref["per_step_probs"]]


def _coverage(aligner, samples):
    out = aligner.align(samples)
    return sum(int(s.teacher_mask.sum()) for s in out) / sum(s.length for s in out), out


def test_default_mode_covers_more_and_normalizes(codex_samples, paper_aligner, default_aligner):
    finished = [s for s in codex_samples if s.finish_reason == "stop"]
    assert len(finished) == 51
    paper_cov, _ = _coverage(paper_aligner, finished)
    default_cov, out = _coverage(default_aligner, finished)
    assert paper_cov == pytest.approx(0.8111, abs=1e-4)
    assert default_cov > paper_cov + 0.1
    initial_matches = 0
    for s, teacher in zip(out, finished, strict=True):
        sums = s.teacher_probs.sum(axis=1)
        np.testing.assert_allclose(sums, 1.0, atol=1e-6)
        first = default_aligner.vocab.sp.id_to_piece(int(s.targets[0]))
        if first == "▁" + teacher.tokens[2]:  # e.g. "▁If" for the teacher's "If"
            initial_matches += 1
            assert s.teacher_mask[0] == 1
    assert initial_matches >= 45


@pytest.mark.parametrize("flag", ["match_word_initial", "ignore_whitespace_tokens"])
def test_each_default_choice_adds_coverage(vocab, codex_samples, default_aligner, flag):
    finished = [s for s in codex_samples if s.finish_reason == "stop"]
    without = Aligner(vocab, AlignConfig(**{flag: False}))
    assert _coverage(without, finished)[0] < _coverage(default_aligner, finished)[0]


def test_paper_compat_rejects_unfinished_sample(codex_samples, paper_aligner):
    from t5spec.align.aligner import Rejected

    with pytest.raises(Rejected, match="paper_compat"):
        paper_aligner.prepare(codex_samples[51])
