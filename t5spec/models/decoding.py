"""Batched generation from the student, with per-token log-probs and top-k alternatives.

T5X's ``EncoderDecoderModel.predict_batch_with_aux`` builds the encoder output and the
decoder's key/value cache (in :mod:`t5spec.models.decode_cache`'s layout, 1.3x faster on CPU
than T5X's own), and its ``decode_fn`` runs the loop: :func:`t5spec.models.decode_loop.
sample_loop` (greedy at temperature 0, temperature, top-k or top-p; per-row EOS; rows that
ended emit 0), which records each step's log-probs and top-k as it goes and draws with
:mod:`t5spec.models.sampling` (T5X's masks, the same distribution, one uniform per row
instead of T5X's Gumbel noise over the whole vocabulary: at FlanT5's 32128 rows that noise
was a quarter of a sampled step on the CPU).

``Decoder(t5x_decode_cache=True)`` is T5X's own decoder, the reference the tests hold ours
to token for token: T5X's caches and ``t5x.decoding.temperature_sample``, with the draw
passed as its ``logit_callback_fn``. T5X's loop returns only the sequences and their summed
log-probability; :class:`_StepRecorder` adds the per-step record without a second forward
pass. It rides in the decoding cache (a pytree the loop carries): the wrapped
``tokens_to_logits`` stores each step's log-softmax and its top-k, and T5X's
``state_callback_fn`` hook, which sees every loop state including the final one, picks the
log-prob of the token just sampled.

Log-probs are those of the model itself (temperature 1, no top-k/top-p filtering), as
on-policy distillation and OpenAI-style ``logprobs`` need.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any

import numpy as np

from t5spec.errors import InputError


@dataclasses.dataclass(frozen=True)
class SamplingParams:
    """How to pick tokens. ``temperature == 0`` is greedy; at most one of top_k / top_p."""

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 0.0
    num_alternatives: int = 5
    seed: int = 0

    def validate(self) -> None:
        if self.top_k and self.top_p:
            raise InputError(None, "set at most one of top_k and top_p (T5X samples with one)")
        if self.max_new_tokens < 1 or self.temperature < 0 or not 0 <= self.top_p <= 1:
            raise InputError(None, f"invalid sampling parameters {self}")


@dataclasses.dataclass(frozen=True)
class Generation:
    """Generated tokens and their scores; positions at or past ``lengths`` are 0.

    Attributes:
      tokens: int32 [B, T] token ids (T = max_new_tokens), EOS included when generated.
      lengths: int32 [B] number of generated tokens, EOS included.
      token_logprobs: float32 [B, T] log p(tokens[b, t] | input, tokens[b, :t]).
      top_ids: int32 [B, T, k] the k most likely ids at each step, most likely first.
      top_logprobs: float32 [B, T, k] their log-probs.
    """

    tokens: np.ndarray
    lengths: np.ndarray
    token_logprobs: np.ndarray
    top_ids: np.ndarray
    top_logprobs: np.ndarray


class _StepRecorder:
    """Per-step log-probs carried through ``temperature_sample`` in the cache (see module doc)."""

    def __init__(self, num_alternatives: int):
        self.k = num_alternatives
        self.final: Any = None

    def wrap_cache(self, cache: Any, batch: int, length: int, vocab: int) -> dict:
        import jax.numpy as jnp

        rec = {
            "prev_logp": jnp.zeros((batch, vocab), jnp.float32),
            "token_logp": jnp.zeros((batch, length), jnp.float32),
            "top_logp": jnp.zeros((batch, length, self.k), jnp.float32),
            "top_ids": jnp.zeros((batch, length, self.k), jnp.int32),
        }
        return {"model": cache, "rec": rec}

    def wrap_tokens_to_logits(self, tokens_to_logits: Any) -> Any:
        import jax
        import jax.numpy as jnp

        def wrapped(state: Any) -> tuple[Any, dict]:
            logits, model_cache = tokens_to_logits(state.replace(cache=state.cache["model"]))
            rec = dict(state.cache["rec"])
            logp = jax.nn.log_softmax(logits.astype(jnp.float32))
            rows = jnp.arange(logp.shape[0])
            pos = jnp.minimum(state.cur_index, rec["token_logp"].shape[1] - 1)
            if self.k:
                top_logp, top_ids = jax.lax.top_k(logp, self.k)
                rec["top_logp"] = rec["top_logp"].at[rows, pos].set(top_logp)
                rec["top_ids"] = rec["top_ids"].at[rows, pos].set(top_ids.astype(jnp.int32))
            rec["prev_logp"] = logp
            return logits, {"model": model_cache, "rec": rec}

        return wrapped

    def state_callback(self, state: Any) -> Any:
        """Stores log p(token just sampled) at its position; keeps the last (final) state."""
        import jax.numpy as jnp

        rec = dict(state.cache["rec"])
        rows = jnp.arange(state.cur_token.shape[0])
        pos = state.cur_index - 1
        logp = jnp.take_along_axis(rec["prev_logp"], state.cur_token, axis=1)[:, 0]
        safe = jnp.clip(pos, 0, rec["token_logp"].shape[1] - 1)
        old = rec["token_logp"][rows, safe]
        rec["token_logp"] = rec["token_logp"].at[rows, safe].set(jnp.where(pos >= 0, logp, old))
        state = state.replace(cache={**state.cache, "rec": rec})
        self.final = state  # the call after the loop overwrites those traced inside it
        return state


def _sample_with_records(
    *, inputs: Any, cache: Any, tokens_to_logits: Any, recorder: _StepRecorder, vocab: int,
    temperature: Any, topk: int, topp: float, row_keys: Any = None, **kwargs: Any,
) -> tuple[Any, Any]:
    """A T5X ``decode_fn``: ``temperature_sample`` with the step recorder attached.

    Tokens are drawn by :func:`t5spec.models.sampling.sampling_logit_callback` (same
    distribution and masks as T5X's draw, one uniform per row instead of Gumbel noise per
    vocabulary entry); T5X runs its greedy branch over the one-hot it returns.
    """
    from t5x import decoding

    from t5spec.models import sampling

    batch, length = inputs.shape
    return decoding.temperature_sample(
        inputs, recorder.wrap_cache(cache, batch, length, vocab),
        recorder.wrap_tokens_to_logits(tokens_to_logits), temperature=0.0, topk=0, topp=0.0,
        logit_callback_fn=sampling.sampling_logit_callback(
            temperature, top_k=topk, top_p=topp, row_keys=row_keys),
        state_callback_fn=recorder.state_callback, **kwargs)


class Decoder:
    """Generation over fixed parameters; compiled once per (config, batch shape, static params).

    Args:
      config: the ``t5x.examples.t5.network.T5Config`` of ``params`` (float32 for exactness).
      params: the T5X parameter tree (numpy or jax arrays).
      eos_id: the end token (FlanT5: 1); None disables EOS (always ``max_new_tokens``).
      t5x_decode_cache: ``True`` decodes with T5X's own decoder (its caches and
        ``temperature_sample``); ``False`` (default) with :mod:`t5spec.models.decode_cache`'s
        caches and :mod:`t5spec.models.decode_loop`'s loop (same tokens; no per-step
        re-layout of the cross-attention keys/values, no one-hot cache writes, a cheaper
        greedy argmax).
    """

    def __init__(self, config: Any, params: Any, *, eos_id: int | None = 1,
                 t5x_decode_cache: bool = False):
        from t5spec.models.presets import hide_tf_from_accelerators

        hide_tf_from_accelerators()
        import jax

        self.config = config
        self.params = jax.tree_util.tree_map(jax.numpy.asarray, params)
        self.eos_id = -1 if eos_id is None else eos_id
        self.t5x_decode_cache = t5x_decode_cache

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, **kwargs: Any) -> Decoder:
        """A decoder over a T5X checkpoint's parameters (architecture read from their shapes)."""
        from t5spec.models.t5x_checkpoint import config_from_params, read_t5x_params

        params = read_t5x_params(path)
        return cls(config_from_params(params, path), params, **kwargs)

    def generate(self, encoder_input_tokens: Any, sampling: SamplingParams, *,
                 row_keys: Any = None) -> Generation:
        """Generates for a batch of encoder inputs: int [B, S], 0 = padding.

        ``row_keys`` (uint32 [B, 2] PRNG key data, optional) gives each row its own draws
        (:func:`t5spec.models.sampling.row_uniforms`) in place of ``sampling.seed``'s.
        """
        import jax
        import jax.numpy as jnp

        sampling.validate()
        tokens = jnp.asarray(encoder_input_tokens, jnp.int32)
        if tokens.ndim != 2:
            raise InputError(None, f"encoder inputs must be [batch, length], got {tokens.shape}")
        if row_keys is not None:
            row_keys = jnp.asarray(row_keys, jnp.uint32)
            if row_keys.shape != (tokens.shape[0], 2):
                raise InputError(None, f"row_keys must be [{tokens.shape[0]}, 2], got "
                                 f"{row_keys.shape}")
        out = _jitted_generate()(
            self.params, tokens, jax.random.PRNGKey(sampling.seed), row_keys,
            jnp.asarray(sampling.temperature, jnp.float32), jnp.asarray(self.eos_id, jnp.int32),
            config=self.config, max_new_tokens=sampling.max_new_tokens, top_k=sampling.top_k,
            top_p=float(sampling.top_p), num_alternatives=sampling.num_alternatives,
            t5x_decode_cache=self.t5x_decode_cache)
        return Generation(*(np.asarray(x) for x in out))


@functools.cache
def _jitted_generate() -> Any:
    import jax

    return jax.jit(_generate, static_argnames=(
        "config", "max_new_tokens", "top_k", "top_p", "num_alternatives", "t5x_decode_cache"))


def _generate(
    params: Any, encoder_tokens: Any, rng: Any, row_keys: Any, temperature: Any, eos_id: Any, *,
    config: Any, max_new_tokens: int, top_k: int, top_p: float, num_alternatives: int,
    t5x_decode_cache: bool,
) -> tuple[Any, ...]:
    """T5X's ``predict_batch_with_aux`` with the recording ``decode_fn``; then :func:`_finish`."""
    import jax.numpy as jnp
    import seqio

    from t5spec.models import decode_cache, decode_loop, network

    if t5x_decode_cache:
        recorder = _StepRecorder(num_alternatives)
        decode_fn = functools.partial(_sample_with_records, recorder=recorder,
                                      vocab=config.vocab_size, row_keys=row_keys)
    else:
        records = decode_loop.Records()
        decode_fn = functools.partial(decode_loop.sample_loop, records=records,
                                      num_alternatives=num_alternatives, row_keys=row_keys)
    vocab = seqio.PassThroughVocabulary(config.vocab_size, eos_id=1)  # eos_id passed below
    model = decode_cache.CachedDecodingModel(
        module=network.Transformer(config, one_hot_embedding=False), input_vocabulary=vocab,
        output_vocabulary=vocab, optimizer_def=None, t5x_decode_cache=t5x_decode_cache,
        decode_fn=decode_fn)
    batch = {"encoder_input_tokens": encoder_tokens,
             "decoder_input_tokens": jnp.zeros(
                 (encoder_tokens.shape[0], max_new_tokens), jnp.int32)}
    tokens, _ = model.predict_batch_with_aux(params, batch, rng=rng, decoder_params={
        "temperature": temperature, "topk": top_k, "topp": top_p, "eos_id": eos_id})
    if t5x_decode_cache:
        return _finish(tokens, recorder.final.cache["rec"], eos_id)
    return _finish(tokens, dataclasses.asdict(records), eos_id)


def _finish(tokens: Any, rec: dict, eos_id: Any) -> tuple[Any, ...]:
    """Lengths from the first EOS; zeros every record at or past them."""
    import jax.numpy as jnp

    steps = tokens.shape[1]
    is_eos = tokens == eos_id
    lengths = jnp.where(is_eos.any(axis=1), jnp.argmax(is_eos, axis=1) + 1, steps)
    valid = jnp.arange(steps)[None, :] < lengths[:, None]
    tokens = jnp.where(valid, tokens, 0).astype(jnp.int32)
    token_logp = jnp.where(valid, rec["token_logp"], 0.0)
    top_logp = jnp.where(valid[..., None], rec["top_logp"], 0.0)
    top_ids = jnp.where(valid[..., None], rec["top_ids"], 0)
    return tokens, lengths.astype(jnp.int32), token_logp, top_ids, top_logp
