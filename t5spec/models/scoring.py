"""Teacher-forced scoring: every decoder token's log-probability and top-k, one forward pass.

What ``t5spec serve`` answers an ``echo`` request with (:mod:`t5spec.serve`): the log-probs
of a given decoder sequence ``y`` under the model, ``log p(y_t | x, y_<t)`` for every ``t``,
and the ``k`` most likely ids at each position — the same numbers
:class:`t5spec.models.decoding.Decoder` records step by step while it generates (temperature
1, unfiltered, natural log), here for a sequence the model did not write.

The decoder input is T5X's: the targets shifted right with 0 (the decoder start id) in front,
padding 0 masked by T5X's own attention masks from ``decoder_target_tokens``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class Scores:
    """Teacher-forced scores; positions at or past a row's length are 0.

    Attributes:
      token_logprobs: float32 [B, T] log p(targets[b, t] | inputs[b], targets[b, :t]).
      top_ids: int32 [B, T, k] the k most likely ids at each position, most likely first.
      top_logprobs: float32 [B, T, k] their log-probs.
    """

    token_logprobs: np.ndarray
    top_ids: np.ndarray
    top_logprobs: np.ndarray


def score(config: Any, params: Any, encoder_input_tokens: Any, decoder_target_tokens: Any,
          k: int) -> Scores:
    """Scores ``decoder_target_tokens`` (int [B, T], 0 = padding) given encoder inputs
    (int [B, S], 0 = padding) under ``params`` (a T5X parameter tree of ``config``)."""
    import jax.numpy as jnp

    out = _jitted_score()(params, jnp.asarray(encoder_input_tokens, jnp.int32),
                          jnp.asarray(decoder_target_tokens, jnp.int32), config=config, k=k)
    return Scores(*(np.asarray(x) for x in out))


@functools.cache
def _jitted_score() -> Any:
    import jax

    return jax.jit(_score, static_argnames=("config", "k"))


def _score(params: Any, encoder_tokens: Any, targets: Any, *, config: Any,
           k: int) -> tuple[Any, Any, Any]:
    import jax
    import jax.numpy as jnp

    from t5spec.models import network

    decoder_inputs = jnp.pad(targets[:, :-1], ((0, 0), (1, 0)))  # shift right, start id 0
    logits = network.Transformer(config, one_hot_embedding=False).apply(
        {"params": params}, encoder_tokens, decoder_inputs, targets, enable_dropout=False)
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    valid = targets > 0
    token_logp = jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]
    top_logp, top_ids = jax.lax.top_k(logp, k)
    return (jnp.where(valid, token_logp, 0.0),
            jnp.where(valid[..., None], top_ids, 0).astype(jnp.int32),
            jnp.where(valid[..., None], top_logp, 0.0))
