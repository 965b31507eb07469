"""Memory and FLOP estimates of one T5 training step on a (data, model) device mesh.

Pure arithmetic on the model's shape numbers; nothing here touches devices. Exact parts
(parameters, optimizer state) come from the abstract train state via
:func:`t5spec.launch.ginconfig.shardings`; the activation figure is an *estimate* of what the
backward pass keeps (T5X's T5 has no rematerialization by default), within 1.12× of XLA's
compiled memory on every committed TPU compile (see :data:`ATTENTION_SCORE_BYTES`).

Conventions: a *row* is one (packed) sequence pair of ``inputs`` encoder tokens and
``targets`` decoder tokens; FLOPs count one multiply-add as 2; a training step costs
3 × the forward FLOPs (forward + backward w.r.t. activations and weights).
"""

from __future__ import annotations

import dataclasses

BF16_BYTES = 2
# Bytes XLA keeps per attention-score element (heads × query × key) through the backward pass.
# Calibrated, not derived: the one parameter of this module fitted to XLA. Over the eight
# committed TPU compiles (docs/results/*-tpu-compile/: FlanT5 Small to XXL, model-parallel width
# 1–8, 1–4 microbatches, v4 and v5e) the worst-case memory ratio analytic/XLA is 1.28 at 2 (one
# bf16 copy) and 1.11 at 3; fitted on seven and tested on the eighth, each held-out ratio is
# ≤ 1.14 (tests/launch/test_costs_vs_xla.py recomputes these from the JSON). A ninth compile
# made afterwards to test it (FlanT5-Base, inputs 512, batch 128 on a v4-8) came out 1.01×.
ATTENTION_SCORE_BYTES = 3


@dataclasses.dataclass(frozen=True)
class T5Shape:
    """The numbers of a T5 encoder-decoder that memory and FLOPs depend on.

    Attributes:
      d_model: embedding width (``emb_dim``).
      num_heads, head_dim: attention heads and their width.
      d_ff: MLP hidden width (``mlp_dim``).
      num_wi: input matrices of the MLP (2 for gated GELU, T5.1.1 / FlanT5).
      encoder_layers, decoder_layers: layer counts.
      vocab: embedding rows / logits width.
    """

    d_model: int
    num_heads: int
    head_dim: int
    d_ff: int
    num_wi: int
    encoder_layers: int
    decoder_layers: int
    vocab: int

    @property
    def inner(self) -> int:
        """Width of the concatenated heads (``num_heads * head_dim``)."""
        return self.num_heads * self.head_dim

    @classmethod
    def from_t5_config(cls, cfg: object) -> T5Shape:
        """From a ``t5x.examples.t5.network.T5Config`` (or anything with its fields)."""
        return cls(
            d_model=int(cfg.emb_dim),
            num_heads=int(cfg.num_heads),
            head_dim=int(cfg.head_dim),
            d_ff=int(cfg.mlp_dim),
            num_wi=len(tuple(cfg.mlp_activations)),
            encoder_layers=int(cfg.num_encoder_layers),
            decoder_layers=int(cfg.num_decoder_layers),
            vocab=int(cfg.vocab_size),
        )


def forward_flops_per_row(shape: T5Shape, len_in: int, len_out: int) -> float:
    """Forward-pass FLOPs for one row (matmuls + attention scores; norms etc. ignored)."""
    d, inner, ff = shape.d_model, shape.inner, shape.d_ff
    mlp = (shape.num_wi + 1) * d * ff
    enc_token = 4 * d * inner + mlp
    dec_token = 4 * d * inner + 2 * d * inner + mlp  # self-attn + cross q/o + mlp
    cross_kv_per_enc_token = 2 * d * inner
    matmul_params_tokens = (
        shape.encoder_layers * len_in * enc_token
        + shape.decoder_layers * (len_out * dec_token + len_in * cross_kv_per_enc_token)
        + len_out * d * shape.vocab
    )
    attention = 2 * inner * (
        shape.encoder_layers * len_in * len_in
        + shape.decoder_layers * (len_out * len_out + len_out * len_in)
    )
    return 2.0 * (matmul_params_tokens + attention)


def train_step_flops(shape: T5Shape, batch: int, len_in: int, len_out: int) -> float:
    """FLOPs of one training step over ``batch`` rows (3 × forward)."""
    return 3.0 * batch * forward_flops_per_row(shape, len_in, len_out)


def activation_bytes_per_row(
    shape: T5Shape, len_in: int, len_out: int, model_parallel: int,
    score_bytes: float = ATTENTION_SCORE_BYTES,
) -> float:
    """Activations kept for the backward pass, per row, on one device of a model-parallel group.

    Widths that T5X's activation rules shard over ``model`` (heads, mlp, vocab) are divided
    by ``model_parallel``; ``embed``-wide tensors are replicated. Per layer and token, in bf16:
    encoder ``4d + 4·inner + (num_wi+1)·d_ff``; decoder ``5d + 6·inner + (num_wi+1)·d_ff``, plus
    cross-attention keys and values ``2·inner`` per encoder token; logits ``vocab`` per target
    token in bf16 plus two float32 copies (log-softmax and its gradient).

    Attention scores (``heads·len_in`` per encoder token, ``heads·(len_out+len_in)`` per decoder
    token) cost ``score_bytes`` each (:data:`ATTENTION_SCORE_BYTES`), not one bf16 copy: XLA's
    compiled T5X step keeps more than the softmax output (docs/benchmarks.md: doubling both
    lengths took XLA's temporaries from 572 to 2415 MiB, the one-copy estimate from 560 to
    1288 MiB).
    """
    d, inner, ff, heads = shape.d_model, shape.inner, shape.d_ff, shape.num_heads
    m = float(model_parallel)
    mlp = (shape.num_wi + 1) * ff
    enc = len_in * (4 * d + (4 * inner + mlp) / m)
    dec = len_out * (5 * d + (6 * inner + mlp) / m)
    cross_kv = len_in * 2 * inner / m
    elements = shape.encoder_layers * enc + shape.decoder_layers * (dec + cross_kv)
    scores = heads * (shape.encoder_layers * len_in * len_in
                      + shape.decoder_layers * len_out * (len_out + len_in)) / m
    logits_bytes = len_out * shape.vocab * (BF16_BYTES + 4 + 4) / m
    return elements * BF16_BYTES + scores * score_bytes + logits_bytes


@dataclasses.dataclass(frozen=True)
class DeviceMemory:
    """Bytes one device holds during a training step.

    Attributes:
      params: its shard of the float32 parameters.
      grads: its shard of the float32 gradients (same sharding as the parameters).
      grad_accumulator: another gradient-sized buffer when ``num_microbatches > 1``.
      optimizer: its shard of the optimizer state.
      activations: the estimate of :func:`activation_bytes_per_row` × rows per microbatch.
    """

    params: float
    grads: float
    grad_accumulator: float
    optimizer: float
    activations: float

    @property
    def total(self) -> float:
        return self.params + self.grads + self.grad_accumulator + self.optimizer + self.activations


def device_memory(
    *,
    param_bytes: float,
    optimizer_bytes: float,
    shape: T5Shape,
    rows_per_device: float,
    len_in: int,
    len_out: int,
    model_parallel: int,
    num_microbatches: int,
) -> DeviceMemory:
    """Assembles :class:`DeviceMemory` (per-device parameter/optimizer bytes come from shardings).

    ``rows_per_device`` is the global batch over the data-parallel size; activations are
    kept for one microbatch of it at a time.
    """
    rows = rows_per_device / max(1, num_microbatches)
    return DeviceMemory(
        params=param_bytes,
        grads=param_bytes,
        grad_accumulator=param_bytes if num_microbatches > 1 else 0.0,
        optimizer=optimizer_bytes,
        activations=rows * activation_bytes_per_row(shape, len_in, len_out, model_parallel),
    )
