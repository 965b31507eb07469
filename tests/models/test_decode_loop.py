"""t5spec's decoding loop (``models/decode_loop.py``): its pieces against their references.

The loop as a whole is held to T5X's ``temperature_sample`` token for token in
``tests/models/test_decode_cache.py`` (greedy, top-k, top-p, EOS) and to HF in
``tests/models/test_parity.py``.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax import numpy as jnp

from t5spec.models import decode_loop


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.integers(1, 40), st.integers(0, 2**31 - 1), st.integers(1, 5))
def test_first_argmax_is_jnp_argmax_including_ties(rows, vocab, seed, levels):
    """Few distinct values (``levels``) make ties frequent: the first maximum wins, as argmax."""
    logits = np.random.RandomState(seed).randint(0, levels, size=(rows, vocab)).astype(np.float32)
    np.testing.assert_array_equal(decode_loop.first_argmax(jnp.asarray(logits)),
                                  np.argmax(logits, axis=-1))


def test_first_argmax_handles_infinities():
    logits = jnp.array([[-jnp.inf, -jnp.inf, -jnp.inf], [-jnp.inf, 3.0, jnp.inf],
                        [jnp.inf, jnp.inf, 0.0]])
    np.testing.assert_array_equal(decode_loop.first_argmax(logits), [0, 2, 0])


class _Counting:
    """A ``tokens_to_logits`` whose row ``b`` always prefers token ``prefs[b]``; it counts
    the steps the loop ran (a host callback per call)."""

    def __init__(self, prefs, vocab=7):
        self.prefs = jnp.asarray(prefs)
        self.vocab = vocab
        self.calls = 0

    def _count(self):
        self.calls += 1

    def __call__(self, state):
        jax.debug.callback(self._count)
        return jax.nn.one_hot(self.prefs, self.vocab) * 5.0, state.cache


def _run(prefs, eos, length=6, k=2):
    records, model = decode_loop.Records(), _Counting(prefs)
    tokens, scores = decode_loop.sample_loop(
        jnp.zeros((len(prefs), length), jnp.int32), {}, model, eos, records=records,
        num_alternatives=k)
    jax.effects_barrier()
    return tokens[:, 0], scores[:, 0], records, model.calls


def test_rows_that_ended_emit_zero_and_the_loop_stops_when_all_ended():
    tokens, scores, records, calls = _run([1, 1], eos=1)
    assert calls == 1
    np.testing.assert_array_equal(tokens, [[1, 0, 0, 0, 0, 0]] * 2)
    assert (records.token_logp[:, 1:] == 0).all() and (records.token_logp[:, 0] < 0).all()
    np.testing.assert_allclose(scores, records.token_logp.sum(axis=1))


def test_a_row_that_never_ends_runs_the_whole_length():
    tokens, _, records, calls = _run([1, 3], eos=1)
    assert calls == 6
    np.testing.assert_array_equal(tokens[0], [1, 0, 0, 0, 0, 0])  # ended rows feed and emit 0
    np.testing.assert_array_equal(tokens[1], [3] * 6)
    np.testing.assert_array_equal(records.top_ids[1, :, 0], [3] * 6)
    expected = jax.nn.log_softmax(jax.nn.one_hot(jnp.asarray(3), 7) * 5.0)[3]
    np.testing.assert_allclose(records.token_logp[1], [expected] * 6, rtol=1e-6)


def test_more_than_one_sequence_per_row_is_refused():
    with pytest.raises(NotImplementedError, match="one sequence per row"):
        decode_loop.sample_loop(jnp.zeros((1, 3), jnp.int32), {}, None, 1,
                                records=decode_loop.Records(), num_alternatives=0,
                                num_decodes=2)
