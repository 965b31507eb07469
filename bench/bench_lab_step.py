"""The lab student's specialization step against its own matmul roofline, same run.

The step: T5X's train step (``t5x.trainer.train_with_lr``: grads of t5spec's
``SpecializationModel.loss_fn``, distribution matching, then T5X's Adafactor as
``t5x/examples/t5/t5_1_1/base.gin`` sets it) jitted with a donated state, as T5X's
``Trainer`` runs it on one CPU device; the model is ``gin/lab.gin``'s student (the shape of
``student/lab.ModelShape``, the embedding rows of the lab's student SentencePiece), float32,
dropout 0.1 (:data:`LAB_DROPOUT_RATE`: what the lab's stages train with; ``--dropout_rate 0``
for the step measured until 2026-12-07), gather embedding; the batch is
``specialize/lab.TrainBudget``'s (16 rows, 256 input / 96 target positions), packed by
t5spec's ``DistillationFeatureConverter`` (top-5 teacher arrays) from synthetic examples
whose lengths follow the lab's four formats (in-context inputs of 150-211 tokens, zero-shot
30-70; CoT targets 40-90, answer-only 3-8). The network is t5spec's as the lab trains it
(``models/network.py``: T5X's layers and attention), and the process re-executes itself with
glibc's huge pages, freed memory kept and one malloc arena, as the lab's training stages start
(``t5spec/hugepages.py``; ``T5SPEC_HUGE_PAGES=0`` measures without).

The roofline: every matmul of that step — each parameter kernel's forward product and its
two gradients (inputs and kernel) over the tokens it sees, and the attention products
(scores and mixing, forward and both gradients) — each timed alone in one XLA program with
hot caches (``bench/roofline.py``), summed. ``lab_step_roofline ratio`` is the step's best
time over that sum. Norms, softmaxes, the loss, embedding gathers/scatters and the optimizer
are outside the roofline: they are what the ratio's excess is made of (with the dots' own
slowdown inside a whole program).

``--lab_dir LAB`` also runs a short real ``python -m t5x.train`` of that lab's specialization
(its ``specialize_argv`` and the process environment the lab gives that stage, one malloc
arena included since 2026-12-07; its generalist checkpoint, its aligned data; dev evaluation off;
``--t5x_steps`` steps into a temporary directory, by default one checkpoint period of the
lab's specialization — 100 steps in ``gin/lab.gin`` — so checkpointing weighs on the loop as
it does in the lab) and reads T5X's own train summaries
(``timing/seconds`` of each stats period, ``timing/checkpoint_seconds``): the share of the
training loop's wall time outside the jitted steps is ``1 - steps x step / loop`` with the
step timed in this process just before and after (best of both).

  python bench/bench_lab_step.py            # last line: lab_step_roofline ratio: <x> (goal <= 1.5)
  python bench/bench_lab_step.py --lab_dir /path/to/lab
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import roofline  # bench/roofline.py

from t5spec import hugepages

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

TEACHER_K = 5
STEPS = 5  # timed steps per round
ROUNDS = 3  # rounds alternate the step and its roofline


def lab_shapes(lab_gin: str) -> tuple[Any, Any, int]:
    """(student ModelShape, specialize TrainBudget, embedding rows) of a lab gin."""
    from t5spec.lab import config as lab_config
    from t5spec.lab import generic, stages, tokenizers, world

    cfg = lab_config.load([lab_gin])
    texts = [*world.world_text(world.generate_world(cfg.seed, cfg.world)),  # as build_data
             *generic.generic_text(cfg.bbh_examples, cfg.seed, cfg.bbh_shots)]
    with tempfile.TemporaryDirectory() as tmp:
        rows = stages.vocab_rows(tokenizers.write_tokenizers(texts, Path(tmp))["student"])
    return cfg.student, cfg.specialize, rows


# What the lab's training stages train with: gin/lab/model.gin's DROPOUT_RATE (and T5X's
# configs/runs/finetune.gin's, included after it); tests/test_gin_names.py holds the three equal.
LAB_DROPOUT_RATE = 0.1


def network_config(shape: Any, vocab_rows: int, dropout_rate: float = LAB_DROPOUT_RATE) -> Any:
    """gin/lab/model.gin's T5 1.1 config for a lab ModelShape (float32), with the lab's
    training dropout."""
    from t5x.examples.t5 import network

    return network.T5Config(
        vocab_size=vocab_rows, dtype="float32", emb_dim=shape.emb_dim,
        num_heads=shape.num_heads, num_encoder_layers=shape.num_layers,
        num_decoder_layers=shape.num_layers, head_dim=shape.head_dim, mlp_dim=shape.mlp_dim,
        mlp_activations=("gelu", "linear"), dropout_rate=dropout_rate,
        logits_via_embedding=False)


# -- the roofline ------------------------------------------------------------------------------

Kernel = tuple[str, int, int, int]  # (parameter path, tokens through it, inputs, outputs)


def step_kernels(config: Any, batch: int, inputs_len: int, targets_len: int) -> list[Kernel]:
    """Every 2-D parameter kernel of a ``network.Transformer`` train step, with the number of
    token rows it multiplies (packed: every position counts)."""
    e, hd, f = config.emb_dim, config.num_heads * config.head_dim, config.mlp_dim
    enc, dec = batch * inputs_len, batch * targets_len
    mlp_in = [f"wi_{i}" for i in range(len(config.mlp_activations))]
    out: list[Kernel] = []
    for i in range(config.num_encoder_layers):
        p = f"encoder/layers_{i}"
        out += [(f"{p}/attention/{n}", enc, e, hd) for n in ("query", "key", "value")]
        out += [(f"{p}/attention/out", enc, hd, e)]
        out += [(f"{p}/mlp/{n}", enc, e, f) for n in mlp_in] + [(f"{p}/mlp/wo", enc, f, e)]
    for i in range(config.num_decoder_layers):
        p = f"decoder/layers_{i}"
        out += [(f"{p}/self_attention/{n}", dec, e, hd) for n in ("query", "key", "value")]
        out += [(f"{p}/self_attention/out", dec, hd, e)]
        out += [(f"{p}/encoder_decoder_attention/query", dec, e, hd)]
        out += [(f"{p}/encoder_decoder_attention/{n}", enc, e, hd) for n in ("key", "value")]
        out += [(f"{p}/encoder_decoder_attention/out", dec, hd, e)]
        out += [(f"{p}/mlp/{n}", dec, e, f) for n in mlp_in] + [(f"{p}/mlp/wo", dec, f, e)]
    return [*out, ("decoder/logits_dense", dec, e, config.vocab_size)]


Attention = tuple[str, int, int, int]  # (what, count, query positions, key positions)


def step_attention(config: Any, inputs_len: int, targets_len: int) -> list[Attention]:
    """Attention products per (row, head): scores [q, d] x [d, k] and mixing [q, k] x [k, d]."""
    n_enc, n_dec = config.num_encoder_layers, config.num_decoder_layers
    return [("encoder self-attention", n_enc, inputs_len, inputs_len),
            ("decoder self-attention", n_dec, targets_len, targets_len),
            ("decoder cross-attention", n_dec, targets_len, inputs_len)]


def roofline_cost(config: Any, batch: int, inputs_len: int, targets_len: int,
                  repeats: int = 10) -> tuple[float, float, dict[str, float]]:
    """(seconds, FLOPs, seconds by kind) of the step's forward and backward matmuls, each
    timed alone (a kernel [in, out] over r rows: [r, in] x [in, out] forward, [r, out] x
    [out, in] for the inputs' gradient, [in, r] x [r, out] for the kernel's)."""
    timed = functools.cache(functools.partial(roofline.matmul_seconds, repeats=repeats))
    batched = functools.cache(functools.partial(roofline.batched_matmul_seconds,
                                                repeats=repeats))
    by_kind = {"kernels forward": 0.0, "kernels backward": 0.0, "attention": 0.0}
    flops = 0.0
    for _, rows, i, o in step_kernels(config, batch, inputs_len, targets_len):
        by_kind["kernels forward"] += timed(rows, i, o)
        by_kind["kernels backward"] += timed(rows, o, i) + timed(i, rows, o)
        flops += 3 * 2.0 * rows * i * o
    b, d = batch * config.num_heads, config.head_dim
    for _, n, q, k in step_attention(config, inputs_len, targets_len):
        # forward: scores [q,d]x[d,k], mixing [q,k]x[k,d]; backward: two products each
        products = [(q, d, k), (q, k, d), (q, k, d), (d, q, k), (q, d, k), (k, q, d)]
        by_kind["attention"] += n * sum(batched(b, *p) for p in products)
        flops += n * 6 * 2.0 * b * q * k * d
    return sum(by_kind.values()), flops, by_kind


# -- the step ----------------------------------------------------------------------------------


def _examples(n: int, vocab: int, seed: int = 0):
    """Synthetic specialization examples, lengths of the lab's four formats (module doc)."""
    import numpy as np

    rng = np.random.RandomState(seed)
    for j in range(n):
        fmt = j % 4  # in-context AO, in-context CoT, zero-shot AO, zero-shot CoT (+1 below)
        inputs = rng.randint(150, 212) if fmt < 2 else rng.randint(30, 71)
        targets = rng.randint(40, 91) if fmt % 2 else rng.randint(3, 9)
        ids = rng.randint(2, vocab, size=(targets, TEACHER_K)).astype(np.int32)
        probs = rng.dirichlet(np.ones(TEACHER_K), size=targets).astype(np.float32) * 0.9
        yield {"inputs": rng.randint(2, vocab, inputs).astype(np.int32),
               "targets": np.append(rng.randint(2, vocab, targets - 1), 1).astype(np.int32),
               "teacher_ids": ids, "teacher_probs": probs,
               "teacher_mask": (np.arange(targets) < targets - 1).astype(np.int32),
               "format_id": np.int32(fmt + 1)}


def packed_batch(vocab: int, batch: int, inputs_len: int, targets_len: int) -> dict:
    """One batch of ``DistillationFeatureConverter`` output (packed), as numpy arrays."""
    import tensorflow as tf

    from t5spec.feature_converters import DistillationFeatureConverter

    first = next(_examples(1, vocab))
    spec = {k: tf.TensorSpec((None, *v.shape[1:])[:v.ndim], v.dtype)
            for k, v in first.items()}  # teacher arrays [T, k]: k static, as the task's
    ds = tf.data.Dataset.from_generator(lambda: _examples(20 * batch, vocab),
                                        output_signature=spec)
    converted = DistillationFeatureConverter(pack=True, teacher_k=TEACHER_K)(
        ds, {"inputs": inputs_len, "targets": targets_len})
    return next(converted.batch(batch, drop_remainder=True).as_numpy_iterator())


def t5x_step(config: Any, batch: dict, learning_rate: float):
    """``step(i)``: T5X's jitted, donated train step on ``batch`` (blocks until done)."""
    import jax
    import jax.numpy as jnp
    import seqio
    from t5x import adafactor, trainer
    from t5x import train_state as train_state_lib

    from t5spec.models import network
    from t5spec.models.specialization import SpecializationModel

    vocab = seqio.PassThroughVocabulary(config.vocab_size, eos_id=1)
    opt = adafactor.Adafactor(decay_rate=0.8, step_offset=0,
                              logical_factor_rules=adafactor.standard_logical_factor_rules())
    model = SpecializationModel(
        network.Transformer(config, one_hot_embedding=False),
        vocab, vocab, opt, z_loss=1e-4,
        loss_normalizing_factor="NUM_REAL_TARGET_TOKENS", distill_weight=1.0)
    shapes = {k: v.shape for k, v in batch.items()}
    variables = model.get_initial_variables(jax.random.PRNGKey(0), shapes,
                                            {k: v.dtype for k, v in batch.items()})
    state = train_state_lib.FlaxOptimTrainState.create(opt, variables)
    run = jax.jit(functools.partial(trainer.train_with_lr, model=model, num_microbatches=None,
                                    data_partition_spec=None), donate_argnums=(0,))
    rng, lr = jax.random.PRNGKey(0), jnp.asarray(learning_rate)

    def step(i: int) -> None:
        nonlocal state
        state, metrics = run(state, batch, lr, jax.random.fold_in(rng, i))
        jax.block_until_ready((state.params, metrics))

    return step, variables["params"]


def time_steps(step: Any, start: int, n: int) -> float:
    """Median seconds of ``n`` steps."""
    times = []
    for i in range(start, start + n):
        t0 = time.perf_counter()
        step(i)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# -- a real T5X run: the share of wall time outside the jitted step ----------------------------

_STAMP = r"^I(\d{4}) (\d\d):(\d\d):(\d\d\.\d+) "


def loop_seconds(log: str) -> tuple[float, float, float]:
    """(training loop wall seconds, summed ``timing/seconds``, summed
    ``timing/checkpoint_seconds``) of a ``t5x.train`` log: from ``BEGIN Train loop.`` to the
    last checkpoint's ``timing/checkpoint_seconds`` line (absl timestamps)."""
    import re

    def stamp(line: str) -> float:
        m = re.match(_STAMP, line)
        if not m:
            raise ValueError(f"no absl timestamp in {line[:80]!r}")
        return int(m[2]) * 3600 + int(m[3]) * 60 + float(m[4])

    lines = log.splitlines()
    begin = [stamp(ln) for ln in lines if "BEGIN Train loop." in ln]
    ckpt = [ln for ln in lines if "timing/checkpoint_seconds=" in ln]
    if not begin or not ckpt:
        raise ValueError("the log has no training loop (BEGIN Train loop. ... checkpoint)")
    seconds = sum(float(m) for m in re.findall(r"timing/seconds=([\d.e+-]+)", log))
    ckpt_s = sum(float(re.search(r"checkpoint_seconds=([\d.e+-]+)", ln)[1]) for ln in ckpt)
    wall = stamp(ckpt[-1]) - begin[0]
    return wall + (86400 if wall < 0 else 0), seconds, ckpt_s


def t5x_run(lab_dir: Path, lab_gin: str, steps: int, out: Path) -> str:
    """The log of a ``steps``-step ``python -m t5x.train`` of the lab's specialization (dm),
    dev evaluation off, into ``out`` (see module doc)."""
    import subprocess

    from t5spec.lab import config as lab_config
    from t5spec.lab import pipeline, runner, stages

    cfg = lab_config.load([lab_gin])
    paths = stages.LabPaths(lab_dir)
    drop = set(stages.dev_eval_argv(cfg))
    argv = [a for a in stages.specialize_argv(cfg, paths, 1.0) if a not in drop]
    argv += [f"--gin_file={lab_config.GIN / 'lab' / 'no_dev_eval.gin'}",
             f"--gin.MODEL_DIR={str(out)!r}",
             f"--gin.TRAIN_STEPS={cfg.generalist.steps + steps}",
             f"--gin.CHECKPOINT_PERIOD={steps}", f"--gin.train.stats_period={steps // 2}"]
    # the process environment the lab's specialization stage gets (pipeline.train_run)
    env = runner.child_env(paths, one_arena=pipeline.one_arena(cfg.specialize.steps))
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=lab_config.REPO,
                          check=False)
    if done.returncode:
        raise RuntimeError(f"t5x.train failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stderr


def outside_share(args: Any, step: Any, next_step: int) -> list[str]:
    """Lines on the real run's loop (module doc)."""
    before = time_steps(step, next_step, STEPS)
    with tempfile.TemporaryDirectory() as tmp:
        log = t5x_run(Path(args.lab_dir), args.lab_gin, args.t5x_steps, Path(tmp) / "run")
    after = time_steps(step, next_step + STEPS, STEPS)
    wall, in_train, ckpt = loop_seconds(log)
    inside = args.t5x_steps * min(before, after)
    return [f"t5x.train, {args.t5x_steps} steps of the lab's specialization ({args.lab_dir}): "
            f"loop {wall:.1f} s (T5X's timing/seconds {in_train:.1f} s, checkpoints "
            f"{ckpt:.1f} s); the jitted step alone here {before:.3f} s before, {after:.3f} s "
            f"after; load average {os.getloadavg()[0]:.2f}",
            f"outside the jitted step: {1 - inside / wall:.0%} of the loop (goal <= 10%)"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab_gin", default=str(Path(__file__).parents[1] / "gin" / "lab.gin"))
    parser.add_argument("--lab_dir", help="a lab directory whose align stage is done")
    parser.add_argument("--t5x_steps", type=int,
                        help="steps of the real run (default: the lab's checkpoint period)")
    parser.add_argument("--dropout_rate", type=float, default=LAB_DROPOUT_RATE,
                        help=f"the step's dropout (as the lab trains: {LAB_DROPOUT_RATE})")
    args = parser.parse_args()
    hugepages.reexec_with_huge_pages(one_arena=True)  # as the lab's long training stages
    print(hugepages.describe(), flush=True)

    shape, budget, rows = lab_shapes(args.lab_gin)
    args.t5x_steps = args.t5x_steps or budget.checkpoint_period
    config = network_config(shape, rows, args.dropout_rate)
    b, li, lt = budget.batch_size, budget.inputs_length, budget.targets_length
    batch = packed_batch(rows, b, li, lt)
    real = float((batch["decoder_target_tokens"] > 0).mean())
    step, _ = t5x_step(config, batch, budget.learning_rate)
    t0 = time.perf_counter()
    step(0)
    print(f"lab student: {shape}, {rows} embedding rows, dropout {config.dropout_rate}; "
          f"batch {b} x {li}/{lt} packed ({real:.0%} of target positions real); first step "
          f"incl. compile {time.perf_counter() - t0:.1f} s", flush=True)
    steps, dots = [], []
    for r in range(ROUNDS):
        steps.append(time_steps(step, 1 + r * STEPS, STEPS))
        dots.append(roofline_cost(config, b, li, lt))
        print(f"round {r}: step {steps[-1]:.3f} s (median of {STEPS}), matmuls alone "
              f"{dots[-1][0]:.3f} s", flush=True)
    seconds, flops, by_kind = min(dots)
    kinds = ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in by_kind.items())
    print(f"roofline: the step's forward + backward matmuls ({flops / 1e9:.1f} GFLOP), each "
          f"timed alone with hot caches: {seconds:.3f} s ({flops / seconds / 1e9:.0f} "
          f"GFLOP/s; {kinds}); the step {min(steps):.3f} s ({flops / min(steps) / 1e9:.0f} "
          f"GFLOP/s, {b * lt * real / min(steps):.0f} real target tokens/s); load average "
          f"{os.getloadavg()[0]:.2f}", flush=True)
    if args.lab_dir:
        for line in outside_share(args, step, 1 + ROUNDS * STEPS):
            print(line, flush=True)
    print(f"lab_step_roofline ratio: {min(steps) / seconds:.2f} (goal <= 1.5)")


if __name__ == "__main__":
    main()
