"""Training step speed: T5X's train step vs HF PyTorch + AdamW, same shapes and weights.

T5-small shape (FlanT5-small), random weights, float32, dropout 0.1, CPU; batch 16, inputs
256, targets 128. T5X side: ``t5x.trainer.train_with_lr`` (T5X's step: grads of
``EncoderDecoderModel.loss_fn`` + ``apply_grads``) jitted with a donated state, with optax
AdamW through ``t5x.optimizers.OptaxWrapper``. HF side: forward with labels, backward,
``torch.optim.AdamW.step``. Tokens/s counts input + target tokens; the first (compiling /
warming) step is excluded on both sides.

The sides' steps alternate (T5X, HF, T5X one-hot, T5X, ...) and the median step times of T5X
and HF are compared, so load from other processes on a shared machine falls on all alike; CPU
seconds per step (this process, all threads) are printed as well. Both sides use every core: XLA's
CPU thread pool and torch's intra-op threads (``torch.get_num_threads()``) default to it.

T5X knobs, the ones a ``python -m t5x.train`` run has too (none changes what is computed
beyond the dropout PRNG stream):

- ``XLA_FLAGS=--xla_cpu_experimental_xnn_fusion_type=dot``: XLA's CPU backend runs the
  matmuls through XNNPACK (set before JAX starts; the benchmark sets it unless ``XLA_FLAGS``
  is already set, so ``XLA_FLAGS= python bench/...`` measures plain XLA). About 10% fewer
  CPU seconds per T5X step in a side-by-side A/B on 2 AMD EPYC cores (issue 6).
- ``jax_default_prng_impl='unsafe_rbg'`` for the dropout masks, what T5X's
  ``USE_HARDWARE_RNG = True`` run-gin macro sets (``t5x.utils.set_hardware_rng_ops``).
  No measurable effect on CPU: dropout 0.0 itself costs nothing measurable there.

- ``EMBED_ONE_HOT = False``: t5spec's ``t5spec.models.network.Transformer`` (T5X's network,
  the same parameters) looks token embeddings up by gather instead of T5X's hard-coded one-hot
  contraction. The ratio is taken with it; T5X's one-hot network is timed as a third side in
  the same alternation, so the line ``T5X, one-hot embedding`` shows what the knob buys.

Measured without effect (issue 6): ``jax_threefry_partitionable`` (already the default),
oneDNN dot fusion (``--xla_cpu_experimental_onednn_fusion_type=dot``).

  python bench/bench_train_step.py [--steps N]   # last line: train_step ratio: <x> (goal 1.0)
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_experimental_xnn_fusion_type=dot")

BATCH, INPUT_LEN, TARGET_LEN, LR = 16, 256, 128, 1e-4


def _batches(vocab: int):
    import numpy as np

    rng = np.random.RandomState(0)
    enc = rng.randint(2, 32000, size=(BATCH, INPUT_LEN)).astype(np.int32)
    tgt = rng.randint(2, 32000, size=(BATCH, TARGET_LEN)).astype(np.int32)
    dec_in = np.concatenate([np.zeros((BATCH, 1), np.int32), tgt[:, :-1]], axis=1)
    return enc, tgt, dec_in


def t5x_step(config, params, one_hot: bool) -> Callable[[int], None]:
    """Step ``i`` of T5X's jitted train step on one fixed batch (blocks until done)."""
    import jax
    import jax.numpy as jnp
    import optax
    import seqio
    from t5x import models, optimizers, trainer, utils
    from t5x import train_state as train_state_lib

    from t5spec.models import network

    utils.set_hardware_rng_ops()  # what USE_HARDWARE_RNG = True does in t5x.train
    vocab = seqio.PassThroughVocabulary(config.vocab_size, eos_id=1)
    opt = optimizers.OptaxWrapper(optax.adamw(LR))
    model = models.EncoderDecoderModel(
        network.Transformer(config, one_hot_embedding=one_hot), vocab, vocab, opt)
    state = train_state_lib.FlaxOptimTrainState.create(
        opt, {"params": jax.tree_util.tree_map(jnp.asarray, params)})
    enc, tgt, dec_in = _batches(config.vocab_size)
    batch = {"encoder_input_tokens": enc, "decoder_input_tokens": dec_in,
             "decoder_target_tokens": tgt, "decoder_loss_weights": (tgt > 0).astype("float32")}
    step = jax.jit(functools.partial(trainer.train_with_lr, model=model, num_microbatches=None,
                                     data_partition_spec=None), donate_argnums=(0,))
    rng, lr = jax.random.PRNGKey(0), jnp.asarray(LR)

    def one(i: int) -> None:
        nonlocal state
        state, _ = step(state, batch, lr, jax.random.fold_in(rng, i))
        jax.block_until_ready(state.params)

    return one


def hf_step(hf_cfg, state_dict) -> Callable[[int], None]:
    """One HF forward with labels + backward + ``torch.optim.AdamW`` step (``i`` unused)."""
    import torch
    import transformers

    model = transformers.T5ForConditionalGeneration(hf_cfg)
    model.lm_head.weight = torch.nn.Parameter(torch.empty(hf_cfg.vocab_size, hf_cfg.d_model))
    model.load_state_dict(state_dict)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=LR)
    enc, tgt, _ = (torch.tensor(x, dtype=torch.long) for x in _batches(hf_cfg.vocab_size))

    def one(i: int) -> None:
        loss = model(input_ids=enc, attention_mask=torch.ones_like(enc), labels=tgt).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return one


def _timed(fn: Callable[[int], None], i: int) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of ``fn(i)``."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn(i)
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    import torch
    import transformers

    from t5spec.models import hf_convert, presets

    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3)
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
    sides = {"T5X": t5x_step(config, params, one_hot=False),
             "HF + AdamW": hf_step(hf_cfg, state_dict),
             "T5X, one-hot embedding": t5x_step(config, params, one_hot=True)}
    for fn in sides.values():
        fn(0)  # compile / warm up
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
    for i in range(args.steps):
        for name, fn in sides.items():
            times[name].append(_timed(fn, i + 1))
    tokens = BATCH * (INPUT_LEN + TARGET_LEN)
    wall = {n: statistics.median(w for w, _ in ts) for n, ts in times.items()}
    print(f"XLA_FLAGS={os.environ['XLA_FLAGS']!r}; torch threads {torch.get_num_threads()}; "
          f"{args.steps} alternating timed steps each; load average {os.getloadavg()[0]:.2f}")
    for name, ts in times.items():
        cpu = statistics.median(c for _, c in ts)
        print(f"{name}: {wall[name]:.2f} s/step ({tokens / wall[name]:.0f} tok/s), "
              f"{cpu:.1f} CPU s/step; steps {', '.join(f'{w:.1f}' for w, _ in ts)} s")
    print(f"train_step ratio: {wall['HF + AdamW'] / wall['T5X']:.2f} (goal 1.0)")


if __name__ == "__main__":
    main()
