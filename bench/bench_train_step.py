"""Training step speed: T5X's train step vs HF PyTorch + AdamW, same shapes and weights.

T5-small shape (FlanT5-small), random weights, float32, dropout 0.1, CPU; batch 16, inputs
256, targets 128. T5X side: ``t5x.trainer.train_with_lr`` (T5X's step: grads of
``EncoderDecoderModel.loss_fn`` + ``apply_grads``) jitted with a donated state, with optax
AdamW through ``t5x.optimizers.OptaxWrapper``. HF side: forward with labels, backward,
``torch.optim.AdamW.step``. Tokens/s counts input + target tokens; the first (compiling /
warming) step is excluded on both sides.

  python bench/bench_train_step.py [--steps N]   # last line: train_step ratio: <x> (goal 1.0)
"""

from __future__ import annotations

import argparse
import functools
import os
import time

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

BATCH, INPUT_LEN, TARGET_LEN, LR = 16, 256, 128, 1e-4


def _batches(vocab: int):
    import numpy as np

    rng = np.random.RandomState(0)
    enc = rng.randint(2, 32000, size=(BATCH, INPUT_LEN)).astype(np.int32)
    tgt = rng.randint(2, 32000, size=(BATCH, TARGET_LEN)).astype(np.int32)
    dec_in = np.concatenate([np.zeros((BATCH, 1), np.int32), tgt[:, :-1]], axis=1)
    return enc, tgt, dec_in


def time_t5x(config, params, steps: int) -> float:
    import jax
    import jax.numpy as jnp
    import optax
    import seqio
    from t5x import models, optimizers, trainer
    from t5x import train_state as train_state_lib
    from t5x.examples.t5 import network

    vocab = seqio.PassThroughVocabulary(config.vocab_size, eos_id=1)
    opt = optimizers.OptaxWrapper(optax.adamw(LR))
    model = models.EncoderDecoderModel(network.Transformer(config), vocab, vocab, opt)
    state = train_state_lib.FlaxOptimTrainState.create(
        opt, {"params": jax.tree_util.tree_map(jnp.asarray, params)})
    enc, tgt, dec_in = _batches(config.vocab_size)
    batch = {"encoder_input_tokens": enc, "decoder_input_tokens": dec_in,
             "decoder_target_tokens": tgt, "decoder_loss_weights": (tgt > 0).astype("float32")}
    step = jax.jit(functools.partial(trainer.train_with_lr, model=model, num_microbatches=None,
                                     data_partition_spec=None), donate_argnums=(0,))
    rng = jax.random.PRNGKey(0)
    state, _ = step(state, batch, jnp.asarray(LR), rng)  # compile + first step
    jax.block_until_ready(state.params)
    t0 = time.perf_counter()
    for i in range(steps):
        state, _ = step(state, batch, jnp.asarray(LR), jax.random.fold_in(rng, i))
    jax.block_until_ready(state.params)
    return (time.perf_counter() - t0) / steps


def time_hf(hf_cfg, state_dict, steps: int) -> float:
    import torch
    import transformers

    model = transformers.T5ForConditionalGeneration(hf_cfg)
    model.lm_head.weight = torch.nn.Parameter(torch.empty(hf_cfg.vocab_size, hf_cfg.d_model))
    model.load_state_dict(state_dict)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=LR)
    enc, tgt, _ = (torch.tensor(x, dtype=torch.long) for x in _batches(hf_cfg.vocab_size))

    def one() -> None:
        loss = model(input_ids=enc, attention_mask=torch.ones_like(enc), labels=tgt).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    one()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        one()
    return (time.perf_counter() - t0) / steps


def main() -> None:
    import torch
    import transformers

    from t5spec.models import hf_convert, presets

    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()
    config = presets.network_config(presets.gin_file("small")).replace(dtype="float32")
    hf_cfg = transformers.T5Config(**{k: v for k, v in hf_convert.hf_config(config).items()
                                      if k not in ("architectures", "dtype")})
    torch.manual_seed(0)
    hf = transformers.T5ForConditionalGeneration(hf_cfg)
    hf.lm_head.weight = torch.nn.Parameter(torch.randn(config.vocab_size, config.emb_dim))
    state_dict = {k: v.detach().clone() for k, v in hf.state_dict().items()}
    params = hf_convert.hf_to_t5x_params(
        {k: v.numpy() for k, v in state_dict.items()}, config, "random")
    del hf
    tokens = BATCH * (INPUT_LEN + TARGET_LEN)
    ours = time_t5x(config, params, args.steps)
    theirs = time_hf(hf_cfg, state_dict, args.steps)
    print(f"torch threads {torch.get_num_threads()}; {args.steps} timed steps each")
    print(f"T5X: {ours:.2f} s/step ({tokens / ours:.0f} tok/s); "
          f"HF + AdamW: {theirs:.2f} s/step ({tokens / theirs:.0f} tok/s)")
    print(f"train_step ratio: {theirs / ours:.2f} (goal 1.0)")


if __name__ == "__main__":
    main()
