"""Sparse top-k KL vs T5X's cross-entropy: peak memory and time of forward + backward.

Measures, in one run on the default JAX device, the gradient w.r.t. the logits of
  * ``t5x_ce``    — ``t5x.losses.compute_weighted_cross_entropy`` (the baseline),
  * ``sparse_kl`` — ``t5spec.losses.sparse.specialization_token_losses`` (distribution
                    matching on every position, k teacher ids), and
  * ``dense_kl``  — the same KL from an explicit [B, L, V] teacher tensor (contrast only).
Peak memory = argument + output + temporary bytes of the compiled program
(``compiled.memory_analysis()``, no aliasing); time = median wall time of ``--repeats`` runs.

Usage: python bench/bench_sparse_kl.py [--batch 8 --length 1024 --vocab 32128 --k 5]
Last line: ``sparse_kl ratio: <peak-memory ratio sparse/ce> (goal 1.1)``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from t5x import losses as t5x_losses

from t5spec.losses import sparse as losses


def _peak_bytes(compiled) -> int:
    ma = compiled.memory_analysis()
    return int(ma.argument_size_in_bytes + ma.output_size_in_bytes + ma.temp_size_in_bytes
               - ma.alias_size_in_bytes)


def _time(compiled, args, repeats: int) -> float:
    jax.block_until_ready(compiled(*args))
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--length", type=int, default=1024)
    p.add_argument("--vocab", type=int, default=32128)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--skip_dense", action="store_true", help="skip the dense-teacher contrast")
    a = p.parse_args()
    b, n, v, k = a.batch, a.length, a.vocab, a.k
    rng = np.random.default_rng(0)
    logits = jnp.asarray(rng.normal(size=(b, n, v)), jnp.float32)
    targets = jnp.asarray(rng.integers(1, v, (b, n)), jnp.int32)
    ids = jnp.asarray(rng.integers(0, v, (b, n, k)), jnp.int32)
    probs = jnp.asarray(rng.dirichlet(np.ones(k), (b, n)), jnp.float32)
    mask = jnp.ones((b, n), jnp.int32)
    weights = jnp.ones((b, n), jnp.float32)

    def ce(x, targets, weights):
        return t5x_losses.compute_weighted_cross_entropy(x, targets, weights, z_loss=1e-4)[0]

    def sparse(x, targets, ids, probs, mask, weights):
        t = losses.specialization_token_losses(x, targets, ids, probs, mask, z_loss=1e-4)
        return losses.reduce_tokens(t.loss, weights, None)

    def dense(x, teacher, targets, mask, weights):
        return jnp.sum(losses.dense_teacher_kl(x, teacher, targets, mask) * weights)

    cases = {"t5x_ce": (ce, (logits, targets, weights)),
             "sparse_kl": (sparse, (logits, targets, ids, probs, mask, weights))}
    if not a.skip_dense:
        teacher = jnp.zeros((b, n, v), jnp.float32).at[
            jnp.arange(b)[:, None, None], jnp.arange(n)[None, :, None], ids].add(probs)
        cases["dense_kl"] = (dense, (logits, teacher, targets, mask, weights))
    print(f"device={jax.devices()[0].device_kind} B={b} L={n} V={v} k={k} "
          f"logits={logits.nbytes / 2**20:.0f} MiB")
    results = {}
    for name, (fn, args) in cases.items():
        compiled = jax.jit(jax.value_and_grad(fn)).lower(*args).compile()
        results[name] = (_peak_bytes(compiled), _time(compiled, args, a.repeats))
        print(f"{name:10s} peak {results[name][0] / 2**20:9.1f} MiB   "
              f"time {results[name][1] * 1e3:9.2f} ms")
    base_mem, base_t = results["t5x_ce"]
    for name, (mem, t) in results.items():
        print(f"{name:10s} memory x{mem / base_mem:.3f}  time x{t / base_t:.3f}  (vs t5x_ce)")
    print(f"sparse_kl time ratio: {results['sparse_kl'][1] / base_t:.3f} (goal 1.15)")
    print(f"sparse_kl ratio: {results['sparse_kl'][0] / base_mem:.3f} (goal 1.1)")


if __name__ == "__main__":
    main()
