"""T5X's dot-product attention computed over blocks of queries, for training steps on XLA:CPU.

T5X's ``MultiHeadDotProductAttention`` turns its mask into a bias, adds the relative-position
bias, and hands ``layers.dot_product_attention`` one ``[batch, heads, q, k]`` bias; autodiff then
keeps the ``[batch, heads, q, k]`` probabilities for the backward pass and writes the scores'
gradient whole. Each such array is 16 MB on the lab student's ``16 x 4 x 256 x 256`` encoder,
and on a 2-core CPU whose caches keep only a few of them hot, the traffic of those arrays weighs
on the step (docs/benchmarks.md, 2026-12-07: −8 to −14% a lab step in one process on a quiet
machine; across processes, later, no gain shown; and none in one process once glibc keeps
freed memory, ``t5spec/hugepages.py``: the flag stays to turn it off). It never applies with
dropout, so the lab, which trains with T5X finetune.gin's dropout 0.1, trains without it.

:func:`blocked_attention` computes the same function one block of ``block`` queries at a time,
from the mask and the bias separately (the ``[batch, heads, q, k]`` bias is never formed): the
forward keeps each row's maximum and softmax denominator ``[batch, heads, q, 1]``, and the
backward (a ``jax.custom_vjp``) recomputes each block's probabilities from them, the
FlashAttention recipe (Dao et al. 2022) written as XLA ops. The forward's arithmetic is T5X's
(``jax.nn.softmax``: ``exp(s - max) / sum``); gradients match T5X's up to the summation order
of the key and value gradients over query blocks (``tests/models/test_attention.py``). A bias
given with batch 1 gets its gradient summed over the batch as a ones-vector matmul (XLA:CPU's
reduce over a leading axis is ~80x slower, see ``models/network.py``).

Shapes: ``query`` ``[batch, q, heads, depth]``; ``key``, ``value`` ``[batch, k, heads, depth]``;
``mask`` broadcastable to ``[batch, heads, q, k]`` (T5X's: > 0 = attend) or ``None``;
``bias`` ``[1 or batch, heads, q, k]`` or ``None``; output ``[batch, q, heads, depth]``. Float32
only; no dropout (``models/network.py`` routes other cases to T5X's own attention).
"""

from __future__ import annotations

import functools

import jax
from jax import numpy as jnp

NEG_INF = -1e10  # T5X's MultiHeadDotProductAttention: the bias of a masked position


def _block_bias(mask: jax.Array | None, bias: jax.Array | None, lo: int,
                hi: int) -> jax.Array | float:
    """T5X's combined attention bias for queries ``lo:hi``: ``select(mask > 0, 0, -1e10) +
    bias``, in T5X's order of additions."""
    out: jax.Array | float = 0.0
    if mask is not None:
        out = jnp.where(mask[..., lo:hi, :] > 0, 0.0, NEG_INF).astype(jnp.float32)
    if bias is not None:
        out = bias[..., lo:hi, :] if mask is None else out + bias[..., lo:hi, :]
    return out


def _scores(query, key, mask, bias, lo: int, hi: int) -> jax.Array:
    """``[batch, heads, hi - lo, k]`` biased scores of queries ``lo:hi``."""
    return jnp.einsum("bqhd,bkhd->bhqk", query[:, lo:hi], key) + _block_bias(mask, bias, lo, hi)


def _blocks(length: int, block: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + block, length)) for lo in range(0, length, block)]


@functools.partial(jax.custom_vjp, nondiff_argnums=(5,))
def blocked_attention(query: jax.Array, key: jax.Array, value: jax.Array,
                      mask: jax.Array | None, bias: jax.Array | None, block: int) -> jax.Array:
    """``layers.dot_product_attention(query, key, value, bias=T5X's bias of (mask, bias))``,
    ``block`` queries at a time (shapes in the module docstring)."""
    return _forward(query, key, value, mask, bias, block)[0]


def _forward(query, key, value, mask, bias, block):
    outs, maxes, sums = [], [], []
    for lo, hi in _blocks(query.shape[1], block):
        scores = _scores(query, key, mask, bias, lo, hi)
        top = jnp.max(scores, axis=-1, keepdims=True)
        unnormalized = jnp.exp(scores - top)
        total = jnp.sum(unnormalized, axis=-1, keepdims=True)
        outs.append(jnp.einsum("bhqk,bkhd->bqhd", unnormalized / total, value))
        maxes.append(top)
        sums.append(total)
    out = jnp.concatenate(outs, axis=1)
    stats = (jnp.concatenate(maxes, axis=2), jnp.concatenate(sums, axis=2))
    return out, (query, key, value, mask, bias, stats)


def batch_sum(grad: jax.Array) -> jax.Array:
    """``grad`` ``[batch, ...]`` summed over its batch as a ones-vector matmul, ``[1, ...]``
    (XLA:CPU's reduce over a leading axis is ~80x slower, ``models/network.py``)."""
    ones = jnp.ones((grad.shape[0],), grad.dtype)
    return jnp.tensordot(ones, grad, axes=(0, 0))[None]


def _bias_grad(bias: jax.Array, grad: jax.Array) -> jax.Array:
    """The gradient of a ``[1 or batch, ...]`` bias from its ``[batch, ...]`` broadcast's."""
    return grad if bias.shape[0] == grad.shape[0] else batch_sum(grad)


def _backward(block, residuals, grad):
    query, key, value, mask, bias, (maxes, sums) = residuals
    d_query, d_bias = [], []
    d_key, d_value = jnp.zeros_like(key), jnp.zeros_like(value)
    for lo, hi in _blocks(query.shape[1], block):
        scores = _scores(query, key, mask, bias, lo, hi)
        probs = jnp.exp(scores - maxes[:, :, lo:hi]) / sums[:, :, lo:hi]
        g = grad[:, lo:hi]
        d_value = d_value + jnp.einsum("bhqk,bqhd->bkhd", probs, g)
        d_probs = jnp.einsum("bqhd,bkhd->bhqk", g, value)
        d_scores = probs * (d_probs - jnp.sum(d_probs * probs, axis=-1, keepdims=True))
        d_query.append(jnp.einsum("bhqk,bkhd->bqhd", d_scores, key))
        d_key = d_key + jnp.einsum("bhqk,bqhd->bkhd", d_scores, query[:, lo:hi])
        if bias is not None:
            d_bias.append(_bias_grad(bias, d_scores))
    d_mask = None if mask is None else jnp.zeros_like(mask)
    d_bias_all = None if bias is None else jnp.concatenate(d_bias, axis=2)
    return jnp.concatenate(d_query, axis=1), d_key, d_value, d_mask, d_bias_all


blocked_attention.defvjp(_forward, _backward)
