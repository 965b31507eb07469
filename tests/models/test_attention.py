"""``models/attention.blocked_attention`` is T5X's ``dot_product_attention`` of T5X's combined
bias: the same outputs and gradients for any block size, masks with fully masked rows, a bias
with batch 1 or the batch, or none."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from t5x.examples.t5 import layers

from t5spec.models.attention import NEG_INF, blocked_attention


def _t5x(query, key, value, mask, bias):
    """T5X's MultiHeadDotProductAttention around its dot_product_attention, verbatim."""
    combined = None
    if mask is not None:
        combined = jax.lax.select(mask > 0, jnp.zeros(mask.shape), jnp.full(mask.shape, NEG_INF))
    if bias is not None:
        combined = bias if combined is None else combined + bias
    return layers.dot_product_attention(query, key, value, bias=combined, deterministic=True)


@st.composite
def _cases(draw):
    b, q, k = draw(st.integers(1, 3)), draw(st.integers(1, 11)), draw(st.integers(1, 9))
    h, d = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    block = draw(st.integers(1, q + 2))
    rng = np.random.RandomState(draw(st.integers(0, 2**16)))
    mask = (rng.rand(b, 1, q, k) > draw(st.sampled_from([0.0, 0.3, 0.7]))).astype(np.float32)
    mask[0, 0, 0] = 0.0  # a row with every key masked
    bias_rows = draw(st.sampled_from([None, 1, b]))
    bias = None if bias_rows is None else rng.randn(bias_rows, h, q, k).astype(np.float32)
    arrays = [rng.randn(b, n, h, d).astype(np.float32) for n in (q, k, k, q)]
    return (*arrays, None if draw(st.booleans()) and bias is not None else mask, bias, block)


def _loss(attend, mask, bias, cotangent):
    return lambda q, k, v, bias: jnp.sum(attend(q, k, v, mask, bias) * cotangent)


@settings(max_examples=20, deadline=None)
@given(_cases())
def test_outputs_and_gradients_are_t5xs(case) -> None:
    query, key, value, cotangent, mask, bias, block = case
    want = _t5x(query, key, value, mask, bias)
    got = blocked_attention(query, key, value, mask, bias, block)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    argnums = (0, 1, 2) if bias is None else (0, 1, 2, 3)
    ours = jax.grad(_loss(lambda *a: blocked_attention(*a, block), mask, bias, cotangent),
                    argnums)(query, key, value, bias)
    ref = jax.grad(_loss(_t5x, mask, bias, cotangent), argnums)(query, key, value, bias)
    for name, g, w in zip("qkvb", ours, ref, strict=False):
        assert g.shape == w.shape, name
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-5, err_msg=name)


def test_the_forward_is_t5xs_to_the_bit_and_no_full_score_array_is_formed() -> None:
    """Blocks of 4 over 12 queries: the output is T5X's bit for bit (same products, same
    softmax arithmetic); no equation of the gradient's program makes a [b, h, 12, k] array,
    which T5X's makes for its probabilities and their gradient."""
    rng = np.random.RandomState(0)
    b, q, k, h, d = 2, 12, 10, 3, 4
    query, cot = (rng.randn(b, q, h, d).astype(np.float32) for _ in range(2))
    key, value = (rng.randn(b, k, h, d).astype(np.float32) for _ in range(2))
    mask = (rng.rand(b, 1, q, k) > 0.3).astype(np.float32)
    bias = rng.randn(1, h, q, k).astype(np.float32)
    np.testing.assert_array_equal(blocked_attention(query, key, value, mask, bias, 4),
                                  _t5x(query, key, value, mask, bias))

    def shapes(attend) -> set[tuple[int, ...]]:
        jaxpr = jax.make_jaxpr(jax.grad(_loss(attend, mask, bias, cot), (0, 1, 2, 3)))(
            query, key, value, bias)

        def walk(jp):
            for eqn in jp.eqns:
                yield from (tuple(v.aval.shape) for v in eqn.outvars)
                for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                    yield from walk(sub)

        return set(walk(jaxpr.jaxpr))

    assert (b, h, q, k) in shapes(_t5x)
    assert (b, h, q, k) not in shapes(lambda *a: blocked_attention(*a, 4))
    assert (b, h, 4, k) in shapes(lambda *a: blocked_attention(*a, 4))
