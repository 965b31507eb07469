"""The decoder's draw (``models/sampling.py``): the softmax distribution, masks respected."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from t5x import decoding

from t5spec.models import sampling

VOCAB = 300  # two whole blocks of 128 and a partial one
DRAWS = 60_000
_sample_jit = jax.jit(sampling.sample)


def _draw(logits: np.ndarray, seed: int, **masks) -> np.ndarray:
    tiled = jnp.tile(jnp.asarray(logits, jnp.float32), (DRAWS, 1))
    return np.asarray(jax.jit(lambda k, x: sampling.mask_and_sample(
        k, x, jnp.float32(1.0), **masks))(jax.random.PRNGKey(seed), tiled))


def test_draws_follow_the_softmax_and_never_hit_masked_entries():
    rng = np.random.RandomState(0)
    logits = rng.normal(0, 1.5, VOCAB).astype(np.float32)
    logits[[0, 5, 127, 128, 299]] = [-np.inf, decoding.NEG_INF, -np.inf, decoding.NEG_INF, -np.inf]
    logits[[3, 200, 298]] += 4.0  # a few likely entries, one in the partial block
    p = np.asarray(jax.nn.softmax(jnp.asarray(logits)))
    counts = np.bincount(_draw(logits, seed=1), minlength=VOCAB)
    assert counts[[0, 5, 127, 128, 299]].sum() == 0
    sigma = np.sqrt(DRAWS * p * (1 - p)) + 1.0
    z = np.abs(counts - DRAWS * p) / sigma
    assert z.max() < 5.0, (z.argmax(), counts[z.argmax()], DRAWS * p[z.argmax()])
    chi2 = (((counts - DRAWS * p) ** 2) / np.maximum(DRAWS * p, 1e-9))[p > 0].sum()
    assert chi2 < (p > 0).sum() * 1.5  # dof ~ 294: a wrong sampler is off by thousands


def test_top_k_and_top_p_use_t5xs_masks():
    logits = np.random.RandomState(2).normal(0, 1, VOCAB).astype(np.float32)
    order = np.argsort(-logits)
    assert set(np.unique(_draw(logits, seed=3, top_k=4)).tolist()) == set(order[:4].tolist())
    p = np.asarray(jax.nn.softmax(jnp.asarray(logits)))[order]
    nucleus = int(np.searchsorted(np.cumsum(p), 0.3) + 1)  # smallest prefix reaching 0.3
    drawn = set(np.unique(_draw(logits, seed=4, top_p=0.3)).tolist())
    assert nucleus > 5
    assert set(order[:nucleus - 1].tolist()) <= drawn <= set(order[:nucleus].tolist())


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-80, 80, width=32), min_size=VOCAB, max_size=VOCAB),
       st.lists(st.booleans(), min_size=VOCAB, max_size=VOCAB),
       st.integers(0, 2**31 - 1))
def test_a_draw_is_always_an_entry_of_positive_probability(values, masked, seed):
    logits = np.asarray(values, np.float32)
    masked = np.asarray(masked)
    masked[int(np.argmax(np.where(masked, -np.inf, logits)))] = False  # one entry stays
    logits = np.where(masked, -np.inf, logits)
    rows = jnp.tile(jnp.asarray(logits), (64, 1))
    token = np.asarray(_sample_jit(jax.random.PRNGKey(seed), rows))
    probs = np.asarray(jax.nn.softmax(jnp.asarray(logits)))
    assert (probs[token] > 0).all()



def test_the_callback_leaves_logits_alone_at_temperature_zero_and_draws_one_hots_above():
    logits = jnp.asarray(np.random.RandomState(5).normal(size=(3, VOCAB)), jnp.float32)

    class State:
        rng = jax.random.PRNGKey(0)

    greedy = sampling.sampling_logit_callback(jnp.float32(0.0))(logits, State)
    np.testing.assert_array_equal(np.asarray(greedy), np.asarray(logits))
    hot = np.asarray(sampling.sampling_logit_callback(jnp.float32(1.0))(logits, State))
    assert ((hot == 0).sum(axis=1) == 1).all()
    assert (hot[hot != 0] == decoding.NEG_INF).all()
