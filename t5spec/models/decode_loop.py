"""t5spec's decoding loop: T5X's ``temperature_sample`` semantics, with the per-step records.

T5X's ``decoding.temperature_sample`` is the reference (``Decoder(t5x_decode_cache=True)``
runs it, and ``tests/models/test_decode_cache.py`` holds the two to identical tokens). This
loop is a T5X ``decode_fn`` (the extension point ``EncoderDecoderModel`` already has, so
T5X's encoder, cache creation and ``tokens_to_logits`` are unchanged) that does the same
work with less around it, measured on the CPU (``bench/bench_decode.py``, T5-small, batch 32):
  * greedy is ``max`` then the first index reaching it: the same token as ``jnp.argmax``,
    whose variadic (value, index) reduce XLA:CPU runs at ~5x the cost of the two plain
    reductions (T5X's argmax over 32,128 logits was ~10% of a step);
  * sampling draws with :func:`t5spec.models.sampling.sample` directly (T5X's loop needed a
    one-hot of the draw passed through its greedy branch);
  * the log-softmax is taken once per step, and the token's log-prob and the top-k are
    written at the step's position in the same iteration (T5X's hooks needed the
    ``[batch, vocab]`` log-probs carried to the next iteration);
  * one write position for the whole batch (no prompt prefill: every row starts at 0), so
    the records and tokens are ``dynamic_update_slice`` column writes, not one-hot blends.

Semantics kept from T5X (so tokens and draws are identical): the loop stops when every row
has ended or after ``max_decode_len`` steps; a row ends on ``eos_id``; rows that ended feed
and emit 0; the per-step key is T5X's (``split`` each step, the draw from the key before the
split), and the drawing rule is :func:`t5spec.models.sampling.sampling_logit_callback`'s.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from t5x import decoding

from t5spec.models import sampling


@dataclasses.dataclass
class Records:
    """What the loop wrote, set while tracing (read after ``predict_batch_with_aux`` returns).

    All [B, T] or [B, T, k] (T = the decode length): ``token_logp`` float32,
    ``top_logp`` float32, ``top_ids`` int32; positions a row never reached hold 0.
    """

    token_logp: Any = None
    top_logp: Any = None
    top_ids: Any = None


def first_argmax(logits: jax.Array) -> jax.Array:
    """``jnp.argmax(logits, -1)`` for rows without NaN: the first index of the row maximum.

    ``logits`` [B, V]; returns int32 [B]. Two plain reductions instead of XLA's variadic one.
    """
    top = jnp.max(logits, axis=-1, keepdims=True)
    index = lax.broadcasted_iota(jnp.int32, logits.shape, logits.ndim - 1)
    first = jnp.min(jnp.where(logits == top, index, logits.shape[-1]), axis=-1)
    return jnp.minimum(first, logits.shape[-1] - 1)


def sample_loop(
    inputs: jax.Array, cache: Any, tokens_to_logits: Any, eos_id: Any, *,
    records: Records, num_alternatives: int, temperature: Any = 0.0, topk: int = 0,
    topp: float = 0.0, decode_rng: Any = None, row_keys: Any = None, num_decodes: int = 1,
    cache_offset: int = 0,
) -> tuple[jax.Array, jax.Array]:
    """A T5X ``decode_fn``: sequences [B, 1, T] and their summed log-probs [B, 1].

    ``inputs`` are T5X's decoder prompt inputs [B, T] and must be all 0 (no prefill);
    ``temperature`` <= T5X's MIN_TEMPERATURE is greedy; ``topk`` / ``topp`` mask as T5X's.
    Per-step log-probs (temperature 1, unmasked) and the top ``num_alternatives`` go to
    ``records``.
    """
    if num_decodes != 1 or cache_offset != 0:
        raise NotImplementedError("t5spec's decoding loop draws one sequence per row")
    batch, length = inputs.shape
    k = num_alternatives
    rng = jax.random.PRNGKey(0) if decode_rng is None else decode_rng
    temperature = jnp.asarray(temperature, jnp.float32)

    def pick(logits: jax.Array, key: jax.Array, index: jax.Array) -> jax.Array:
        def draw(logits: jax.Array) -> jax.Array:
            scaled = sampling.scale_and_mask(logits, temperature, topk, topp)
            if row_keys is None:
                return sampling.sample(jax.random.fold_in(key, sampling.SALT), scaled)
            return sampling.sample_with_uniform(sampling.row_uniforms(row_keys, index), scaled)

        greedy = temperature <= decoding.MIN_TEMPERATURE
        return lax.cond(greedy, first_argmax, draw, logits)

    def body(state: dict) -> dict:
        i = state["i"]
        cur_index = jnp.full((batch,), i, jnp.int32)
        logits, new_cache = tokens_to_logits(decoding.DecodingState(
            cur_index=cur_index, sequences=state["tokens"], cur_token=state["token"][:, None],
            cache=state["cache"]))
        logits = logits.astype(jnp.float32)
        logp = jax.nn.log_softmax(logits)
        token = pick(logits, state["rng"], cur_index)  # T5X draws from the key before its split
        token = jnp.where(state["ended"], 0, token)
        token_logp = jnp.take_along_axis(logp, token[:, None], axis=1)
        out = dict(state, i=i + 1, cache=new_cache, rng=jax.random.split(state["rng"])[1],
                   token=token, ended=state["ended"] | (token == eos_id),
                   tokens=lax.dynamic_update_slice(state["tokens"], token[:, None], (0, i)),
                   token_logp=lax.dynamic_update_slice(state["token_logp"], token_logp, (0, i)))
        if k:
            top_logp, top_ids = lax.top_k(logp, k)
            out["top_logp"] = lax.dynamic_update_slice(
                state["top_logp"], top_logp[:, None], (0, i, 0))
            out["top_ids"] = lax.dynamic_update_slice(
                state["top_ids"], top_ids[:, None].astype(jnp.int32), (0, i, 0))
        return out

    def running(state: dict) -> jax.Array:
        return (state["i"] < length) & ~jnp.all(state["ended"])

    state = lax.while_loop(running, body, {
        "i": jnp.zeros((), jnp.int32), "cache": cache, "rng": rng,
        "token": jnp.zeros((batch,), jnp.int32), "ended": jnp.zeros((batch,), bool),
        "tokens": jnp.zeros((batch, length), jnp.int32),
        "token_logp": jnp.zeros((batch, length), jnp.float32),
        "top_logp": jnp.zeros((batch, length, k), jnp.float32),
        "top_ids": jnp.zeros((batch, length, k), jnp.int32)})
    records.token_logp, records.top_logp, records.top_ids = (
        state["token_logp"], state["top_logp"], state["top_ids"])
    return state["tokens"][:, None], jnp.sum(state["token_logp"], axis=1)[:, None]
