"""Decoder attention caches in the attention matmuls' order, ``[batch, heads, length, head_dim]``.

In T5X's cached decoding every step of ``t5x.examples.t5.layers.MultiHeadDotProductAttention``
runs with keys and values in ``[batch, length, heads, head_dim]`` order, while the attention
einsums batch over (batch, heads). XLA:CPU keeps the encoder-side projections out of the
decoding loop but re-lays them out inside it: in ``bench/bench_decode.py`` (T5-small, batch 32,
128 steps) the optimized loop body holds 16 ``transpose_copy_fusion`` ops per step, one per
cross-attention key/value of each decoder layer, ~25% of the loop's CPU time in a jax.profiler
trace. The self-attention cache (``[batch, heads, head_dim, length]``, a TPU layout) is written
with a one-hot multiply-add over the whole cache every step.

:func:`cached_attention` is a flax method interceptor (``nn.intercept_methods``) that
:class:`CachedDecodingModel` installs around the decoder's decode-mode calls. It changes two
kinds of calls of T5X's attention module:
  * ``decode=True`` (T5X passes it only to the decoder's self-attention): the cache is
    ``key_cache`` / ``value_cache`` [B, H, L, D] plus T5X's ``cache_index``, written one
    position per step with ``lax.dynamic_update_slice`` (in place in the loop carry);
  * cross-attention while the ``cache`` collection is mutable (i.e. in decoding): the
    encoder's keys and values are projected once, when T5X creates the cache, and stored as
    ``encoded_key`` / ``encoded_value`` [B, H, S, D] (hence the model's own cache creation).
Everything else is T5X's code: the projections are T5X's ``layers.DenseGeneral`` over the
module's own parameters; masks, the relative-position bias row and the softmax follow
``layers.dot_product_attention``. The parameter tree is untouched, and T5X's ``cache_map``
(beam expansion) maps over the new leaves as over its own: batch is their first axis.

On the CPU, :func:`vocab_major_logits` (a second interceptor, on the decoder's
``logits_dense``) states the vocabulary projection against the kernel's transpose,
``[vocab, embed]``, behind an optimization barrier. XLA makes that transpose a layout (a
bitcast: no copy, no extra memory), and XLA:CPU's dot over it is ~27% faster than T5X's
``[embed, vocab]`` form, with the same numbers up to float32 summation order (FlanT5-small,
batch 32, jax.profiler: 9.6 -> 7.0 ms a step, the largest single op of a decode step).

``tests/models/test_decode_cache.py`` checks tokens and log-probs against T5X's own cache;
``tests/models/test_parity.py`` checks decoding against HF transformers.
"""

from __future__ import annotations

from typing import Any

import jax
from flax import linen as nn
from jax import lax
from jax import numpy as jnp
from t5x import models
from t5x.examples.t5 import layers

from t5spec.models import network

_AXES = ("batch", "heads", "length", "kv")


class CachedDecodingModel(models.EncoderDecoderModel):
    """T5X's ``EncoderDecoderModel`` whose decoding uses :func:`cached_attention`'s caches.

    Only the two calls of the decoder in decode mode change, each under the interceptor: the
    per-step ``_compute_logits_from_slice`` (T5X's), and ``_compute_kv_cache``, which creates
    the cache by one ``module.decode`` call over the real encoder outputs (T5X's creates it
    with a full forward pass over all-ones dummy inputs, which would leave the encoder
    projections unknown). Training and scoring are T5X's.

    Args: ``EncoderDecoderModel``'s, and ``t5x_decode_cache``: ``True`` decodes with T5X's
    own caches (for comparison; e.g. ``--gin.SpecializationModel.t5x_decode_cache=True``).
    """

    def __init__(self, *args: Any, t5x_decode_cache: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.t5x_decode_cache = t5x_decode_cache

    def _compute_logits_from_slice(self, *args: Any, **kwargs: Any) -> Any:
        if self.t5x_decode_cache:
            return super()._compute_logits_from_slice(*args, **kwargs)
        with nn.intercept_methods(cached_attention), nn.intercept_methods(vocab_major_logits):
            return super()._compute_logits_from_slice(*args, **kwargs)

    def _compute_kv_cache(
        self, params: Any, encoded_inputs: jax.Array, encoder_input_tokens: jax.Array,
        decoder_input_tokens: jax.Array, prefill_decoder_prompt: bool = False,
    ) -> tuple[Any, Any]:
        """The caches for encoder outputs [B, S, E] and decoder inputs [B, L]; no prefill."""
        if self.t5x_decode_cache:
            return super()._compute_kv_cache(params, encoded_inputs, encoder_input_tokens,
                                             decoder_input_tokens, prefill_decoder_prompt)
        if prefill_decoder_prompt:
            raise NotImplementedError("prompt prefill with t5spec's decoding caches")
        targets = jnp.ones_like(decoder_input_tokens)
        with nn.intercept_methods(cached_attention):
            _, variables = self.module.apply(
                {"params": params}, encoded_inputs, encoder_input_tokens, targets, targets,
                decode=True, enable_dropout=False, mutable=["cache"],
                method=self.module.decode)
        return variables["cache"], None


def cached_attention(next_fun: Any, args: tuple, kwargs: dict, context: Any) -> Any:
    """Flax interceptor: T5X's decoder attention with t5spec's caches (see module doc)."""
    module = context.module
    if context.method_name != "__call__" or not isinstance(
            module, layers.MultiHeadDotProductAttention):
        return next_fun(*args, **kwargs)
    inputs_q, inputs_kv = args[:2]
    if kwargs.get("decode", False):
        if not module.has_variable("cache", "key_cache"):
            _init_self_cache(module, inputs_q)  # T5X's cache-creation call; output unused
            return next_fun(*args, **{**kwargs, "decode": False})
        return _self_step(module, *args)
    if inputs_q is not inputs_kv and module.is_mutable_collection("cache"):
        if not module.has_variable("cache", "encoded_key"):
            _init_encoded_cache(module, inputs_kv)
            return next_fun(*args, **kwargs)
        return _cross_step(module, inputs_q, *args[2:3])
    return next_fun(*args, **kwargs)


def vocab_major_logits(next_fun: Any, args: tuple, kwargs: dict, context: Any) -> Any:
    """Flax interceptor: the decoder's ``logits_dense`` with its kernel read vocabulary-major.

    Only in CPU programs (``network.cpu_program``: a TPU slice's program compiled on a CPU
    host keeps T5X's form; see module doc); elsewhere, and for every other module, T5X's
    call runs unchanged. Same product, summed in another order (float32 round-off only).
    """
    module = context.module
    if (context.method_name != "__call__" or not isinstance(module, layers.DenseGeneral)
            or module.name != "logits_dense" or not network.cpu_program()):
        return next_fun(*args, **kwargs)
    inputs = jnp.asarray(args[0], module.dtype)
    kernel = jnp.asarray(module.variables["params"]["kernel"], module.dtype)  # [E, V]
    if kernel.ndim != 2:
        return next_fun(*args, **kwargs)
    vocab_major = lax.optimization_barrier(jnp.transpose(kernel))  # [V, E]; not folded back
    return lax.dot_general(inputs, vocab_major, (((inputs.ndim - 1,), (1,)), ((), ())))


def _init_self_cache(module: Any, inputs: jax.Array) -> None:
    """Zero caches [B, H, L, D] for decoder inputs [B, L, E], and the write position 0."""
    batch, length, _ = inputs.shape
    shape = (batch, module.num_heads, length, module.head_dim)
    module.variable("cache", "key_cache", jnp.zeros, shape, module.dtype)
    module.variable("cache", "value_cache", jnp.zeros, shape, module.dtype)
    module.variable("cache", "cache_index", lambda: jnp.array(0, jnp.int32))


def _init_encoded_cache(module: Any, encoded: jax.Array) -> None:
    """The encoder outputs [B, S, E] projected once: ``encoded_key`` / ``_value`` [B, H, S, D]."""
    for name in ("key", "value"):
        heads = layers.with_sharding_constraint(_heads(module, name, encoded), _AXES)
        module.variable("cache", f"encoded_{name}", lambda heads=heads: heads)


def _heads(module: Any, name: str, x: jax.Array) -> jax.Array:
    """T5X's ``DenseGeneral`` projection ``name`` of ``module``: [B, T, E] -> [B, H, T, D]."""
    dense = layers.DenseGeneral(features=(module.num_heads, module.head_dim), axis=-1,
                                dtype=module.dtype, kernel_axes=("embed", "joined_kv"))
    kernel = module.variables["params"][name]["kernel"]
    return jnp.swapaxes(dense.apply({"params": {"kernel": kernel}}, x), 1, 2)


def _output(module: Any, x: jax.Array) -> jax.Array:
    """T5X's ``out`` projection of ``module``: [B, H, T, D] -> [B, T, E]."""
    kernel = module.variables["params"]["out"]["kernel"]
    dense = layers.DenseGeneral(features=kernel.shape[-1], axis=(-2, -1), dtype=module.dtype,
                                kernel_axes=("joined_kv", "embed"))
    return dense.apply({"params": {"kernel": kernel}}, jnp.swapaxes(x, 1, 2))


def _self_step(
    module: Any, inputs_q: jax.Array, inputs_kv: jax.Array, mask: Any = None, bias: Any = None,
) -> jax.Array:
    """One cached decoder self-attention step (dropout off, as in T5X's decoding).

    In: inputs [B, 1, E] (one position per row); ``bias`` T5X's relative-position bias
    [1, H, L, L]. Writes the position's key/value at ``cache_index`` and attends to positions
    ``<= cache_index``. Returns [B, 1, E] in ``module.dtype``.
    """
    if inputs_q is not inputs_kv:
        raise ValueError("the decode=True cache is for self-attention")
    key_cache = module.variable("cache", "key_cache")
    value_cache = module.variable("cache", "value_cache")
    cache_index = module.variable("cache", "cache_index")
    batch, _, length, _ = key_cache.value.shape
    if inputs_q.shape[:2] != (batch, 1):
        raise ValueError(f"cached decoding feeds one position per row of {batch}, "
                         f"got inputs of shape {inputs_q.shape}")
    index = cache_index.value
    for name, var in (("key", key_cache), ("value", value_cache)):
        step = _heads(module, name, inputs_kv).astype(var.value.dtype)
        var.value = layers.with_sharding_constraint(
            lax.dynamic_update_slice_in_dim(var.value, step, index, axis=2), _AXES)
    cache_index.value = index + 1
    causal = jnp.broadcast_to(jnp.arange(length) <= index, (batch, 1, 1, length))
    attention_bias = _mask_bias(layers.combine_masks(mask, causal), module.dtype)
    if bias is not None:  # T5X: bias[..., index:index + 1, :]
        attention_bias = attention_bias + lax.dynamic_slice_in_dim(bias, index, 1, axis=-2)
    x = _attend(module, _heads(module, "query", inputs_q), key_cache.value, value_cache.value,
                attention_bias)
    return _output(module, x)


def _cross_step(module: Any, inputs_q: jax.Array, mask: Any = None) -> jax.Array:
    """Cross-attention of decoder inputs [B, T, E] to the cached encoder keys/values.

    ``mask`` is T5X's encoder-decoder mask [B, 1, T, S] (or None). Returns [B, T, E].
    """
    key = module.variable("cache", "encoded_key").value
    value = module.variable("cache", "encoded_value").value
    bias = None if mask is None else _mask_bias(mask, module.dtype)
    return _output(module, _attend(module, _heads(module, "query", inputs_q), key, value, bias))


def _mask_bias(mask: jax.Array, dtype: Any) -> jax.Array:
    """T5X's boolean-mask-to-bias: 0 where ``mask > 0``, -1e10 elsewhere (same shape)."""
    return lax.select(mask > 0, jnp.zeros(mask.shape, dtype), jnp.full(mask.shape, -1e10, dtype))


def _attend(
    module: Any, query: jax.Array, key: jax.Array, value: jax.Array, bias: Any,
) -> jax.Array:
    """T5X's ``layers.dot_product_attention`` (no dropout) with heads before length.

    In: query [B, H, T, D], key / value [B, H, K, D], bias broadcastable to [B, H, T, K].
    Out: [B, H, T, D] in ``module.dtype``.
    """
    if module.float32_logits:
        query, key = query.astype(jnp.float32), key.astype(jnp.float32)
    weights = jnp.einsum("bhqd,bhkd->bhqk", query, key)
    if bias is not None:
        weights = weights + bias.astype(weights.dtype)
    weights = jax.nn.softmax(weights).astype(module.dtype)
    return jnp.einsum("bhqk,bhkd->bhqd", weights, value)
