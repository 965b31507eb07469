"""The compiled DTW equals the plain-Python reference, and its paths have the DTW shape."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from t5spec.align import dp

# Small alphabets make ties (where the tie order matters) frequent; "▁"/" " are stripped by
# the cost; long strings (> 64 chars) exercise the plain-DP fallback of the bit-parallel code.
chars = st.sampled_from(list("ab ▁\n1é"))
short = st.text(chars, min_size=0, max_size=5)
tokens = st.lists(st.one_of(short, st.text(chars, min_size=60, max_size=80)), min_size=1,
                  max_size=12)
plain_tokens = st.lists(short, min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(tokens, tokens), min_size=1, max_size=6))
def test_compiled_equals_reference(pairs):
    got = dp.align_batch(pairs)
    for (a, b), path in zip(pairs, got, strict=True):
        assert path.tolist() == [list(p) for p in dp.align_reference(a, b)]


@settings(max_examples=200, deadline=None)
@given(st.text(chars, max_size=70), st.text(chars, max_size=12))
def test_bit_parallel_levenshtein_equals_reference(a, b):
    codes_a, off_a = dp.encode_tokens([a])
    codes_b, _off_b = dp.encode_tokens([b])
    alphabet, dense = np.unique(np.concatenate([codes_a, codes_b, [0]]), return_inverse=True)
    da, db = dense[: len(codes_a)], dense[len(codes_a) : len(codes_a) + len(codes_b)]
    row = np.empty(len(b) + 1, np.int64)
    expected = dp.levenshtein_py(a, b)
    assert dp._levenshtein(da, 0, len(a), db, 0, len(b), row) == expected
    if 1 <= len(a) <= 64:
        peq = dp._peq_table(da.astype(np.int64), off_a, len(alphabet))
        assert dp._myers(peq[0], len(a), db.astype(np.int64), 0, len(b)) == expected


@settings(max_examples=100, deadline=None)
@given(plain_tokens, plain_tokens)
def test_path_is_monotone_and_covers_both(a, b):
    path = dp.align(a, b)
    assert path[0].tolist() == [0, 0] and path[-1].tolist() == [len(a) - 1, len(b) - 1]
    steps = np.diff(path, axis=0)
    assert set(map(tuple, steps.tolist())) <= {(0, 1), (1, 0), (1, 1)}
    assert set(path[:, 0].tolist()) == set(range(len(a)))
    assert set(path[:, 1].tolist()) == set(range(len(b)))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(st.sampled_from(list("abc1.")), min_size=1, max_size=4), min_size=1,
                max_size=15))
def test_identical_tokenizations_align_one_to_one(words):
    teacher = [" " + w for w in words]
    t5 = ["▁" + w for w in words]
    path = dp.align(teacher, t5)
    assert path.tolist() == [[i, i] for i in range(len(words))]
