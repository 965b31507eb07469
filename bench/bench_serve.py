"""Batching in ``t5spec serve``: completion tokens/s with 32 concurrent clients vs 1 client.

A random-weight T5 1.1 model with a 1024-row vocabulary (the lab's student SentencePiece),
float32, on the CPU — ``--model lab`` (default): d_model 128, 4 heads of 32, mlp 512, 2+2
layers, ~1.4M parameters; ``--model tiny``: gin/models/flant5_tiny.gin's shape — is written as
a T5X checkpoint and served through the real path (``load_engine`` → ``create_app`` → uvicorn
on 127.0.0.1). Clients are the openai SDK (``AsyncOpenAI``, in a child process) sending lab
GSM8K questions as the teacher client does: ``max_tokens`` 32, temperature 1, ``logprobs`` 5.
Every decode shape is compiled before timing. Tokens are the server's ``usage.completion_tokens``.

``Engine.run`` alone (no HTTP) is timed too, at 1 and 32 rows: the ceiling of the ratio. The
``roofline:`` line says whether 8x can fit this machine at all: a 32-row batch's matmuls, each
timed alone with hot caches (``roofline.py``), against the time 8x the 1-row rate allows.

What bounds the ratio on the 2-core CPU (measured 2026-12-02 by timing
``Decoder.generate`` at 32 vs 16 new tokens, lab model, 64 input tokens, two runs): work that
grows with the rows, not a fixed per-step cost. At 32 rows the encoder and cache set-up cost
13-22 ms and a decode step 1.0-1.4 ms (the layers' [32, 128] matmuls at a few tens of GFLOP/s),
against 6-8 ms for a whole 32-token request at one row (a step 0.06-0.22 ms). The draw is no
longer among the costs: T5X's Gumbel ``jax.random.categorical`` noise over every vocabulary
entry was replaced by :mod:`t5spec.models.sampling`'s inverse-CDF draw (``Engine.run`` at 32
rows 4.0x -> 5.1x). Through the server, per-request HTTP/JSON and client work (~8 ms a
request, the client process on the same two cores) adds to both sides, so the end-to-end
ratio lands a little below the engine's (4.4 measured). The goal needs an accelerator, where a
step's fixed cost (kernel launches) dominates and 32 rows cost about as much as one.

  python bench/bench_serve.py        # last line: serve_batching ratio: <x> (goal 8)
  python bench/bench_serve.py --batch_wait_ms 30 --batched_requests 1024   # a longer window
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import roofline  # bench/roofline.py

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

MAX_TOKENS, INPUT_BUCKET, BATCH = 32, 64, 32
MODEL = "lab-student"


SHAPES = {  # emb_dim, num_heads, head_dim, mlp_dim (2+2 layers, 1024 vocabulary rows)
    "lab": (128, 4, 32, 512),  # a lab-size student, ~1.4M parameters
    "tiny": (8, 4, 3, 16),  # gin/models/flant5_tiny.gin's shape (T5X's tiny test model)
}


def write_model(out: Path, shape: str) -> tuple[Path, Path]:
    """(T5X checkpoint, student vocab) of a random model of ``SHAPES[shape]``."""
    import jax
    import jax.numpy as jnp
    from t5x.examples.t5 import network

    from t5spec.lab import tokenizers, world
    from t5spec.models import presets, t5x_checkpoint

    vocab = tokenizers.write_tokenizers(world.world_text(world.generate_world(0)), out)["student"]
    emb, heads, head_dim, mlp = SHAPES[shape]
    config = network.T5Config(
        vocab_size=1024, dtype="float32", emb_dim=emb, num_heads=heads, num_encoder_layers=2,
        num_decoder_layers=2, head_dim=head_dim, mlp_dim=mlp,
        mlp_activations=("gelu", "linear"), dropout_rate=0.0, logits_via_embedding=False)
    tokens = jnp.ones((1, 1), jnp.int32)
    variables = network.Transformer(config).init(
        jax.random.PRNGKey(0), tokens, tokens, tokens, enable_dropout=False)
    params = presets.unbox(variables["params"])
    print(f"model {shape!r}: {presets.param_count(config):,} parameters", flush=True)
    return t5x_checkpoint.write_t5x_checkpoint(params, config, out / "ckpt"), vocab


def prompts(engine, n: int) -> list[str]:
    """Lab GSM8K test questions that all pad to the same encoder length bucket."""
    from t5spec.lab import world

    questions = [p.example.question for p in world.generate_world(0).problems["gsm8k/test"]]
    fit = [q for q in questions if INPUT_BUCKET // 2 < len(engine.encode(q)) <= INPUT_BUCKET]
    return (fit * (n // len(fit) + 1))[:n]


def warm_up(engine) -> float:
    """Compiles every batch bucket the server can form (1, 2, 4, …, 32 rows)."""
    from t5spec import serve

    t0 = time.perf_counter()
    row = serve.Row([5] * INPUT_BUCKET, 0, MAX_TOKENS, 1.0, 1.0, 5, ())
    size = 1
    while size <= BATCH:
        engine.run([row] * size)
        size *= 2
    return time.perf_counter() - t0


def engine_rates(engine, questions: list[str], repeats: int = 5) -> dict[int, float]:
    """Completion tokens/s of ``Engine.run`` alone (no HTTP) at 1 and ``BATCH`` rows, median
    of ``repeats``: the ceiling that batching the decoder itself allows."""
    import statistics

    from t5spec import serve

    rates = {}
    for size in (1, BATCH):
        samples = []
        for repeat in range(repeats):
            rows = [serve.Row(engine.encode(q), len(q), MAX_TOKENS, 1.0, 1.0, 5, (),
                              seed=repeat * len(questions) + i) for i, q in enumerate(questions)]
            t0 = time.perf_counter()
            out = engine.run(rows[:size])
            samples.append(sum(r["n_ids"] for r in out) / (time.perf_counter() - t0))
        rates[size] = statistics.median(samples)
    return rates


def engine_roofline(config, one_row_rate: float) -> str:
    """Whether ``Engine.run`` at ``BATCH`` rows can reach 8x its 1-row tokens/s on this
    machine: the batch's matmuls (encoder over ``INPUT_BUCKET`` tokens a row, then
    ``MAX_TOKENS`` decoder steps; ``roofline.py``), each timed alone with hot caches, against
    the time 8x allows for ``BATCH * MAX_TOKENS`` tokens."""
    encoder_s, encoder_flops = roofline.matmuls_cost(
        roofline.encoder_matmuls(config), BATCH * INPUT_BUCKET)
    step_s, step_flops = roofline.matmuls_cost(roofline.decoder_step_matmuls(config), BATCH)
    dots_s = encoder_s + MAX_TOKENS * step_s
    flops = encoder_flops + MAX_TOKENS * step_flops
    allowed_s = BATCH * MAX_TOKENS / (8 * one_row_rate)
    return (f"roofline: a {BATCH}-row batch's matmuls ({flops / 1e9:.2f} GFLOP: encoder over "
            f"{INPUT_BUCKET} tokens a row {encoder_s * 1e3:.1f} ms, {MAX_TOKENS} decoder steps "
            f"{MAX_TOKENS * step_s * 1e3:.1f} ms), each timed alone with hot caches: "
            f"{dots_s * 1e3:.1f} ms ({flops / dots_s / 1e9:.0f} GFLOP/s); 8x the 1-row rate "
            f"allows {allowed_s * 1e3:.1f} ms for the batch: "
            f"{roofline.verdict(allowed_s, dots_s)}")


async def load(base_url: str, questions: list[str], clients: int) -> tuple[int, float]:
    """(completion tokens, seconds) for ``clients`` workers sharing the question list."""
    import openai

    api = openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=600)
    queue = list(questions)
    total = 0

    async def worker() -> None:
        nonlocal total
        while queue:
            prompt = queue.pop()
            r = await api.completions.create(model=MODEL, prompt=prompt, max_tokens=MAX_TOKENS,
                                             temperature=1.0, logprobs=5)
            total += r.usage.completion_tokens

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    seconds = time.perf_counter() - t0
    await api.close()
    return total, seconds


def load_in_subprocess(base_url: str, questions: list[str], clients: int) -> tuple[int, float]:
    """:func:`load` run in a child process, so client-side JSON work does not share the
    server's interpreter (real clients are other processes)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_load_sync, base_url, questions, clients).result()


def _load_sync(base_url: str, questions: list[str], clients: int) -> tuple[int, float]:
    return asyncio.run(load(base_url, questions, clients))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single_requests", type=int, default=16)
    parser.add_argument("--batched_requests", type=int, default=256)
    parser.add_argument("--model", choices=sorted(SHAPES), default="lab")
    parser.add_argument("--batch_wait_ms", type=float, default=5.0,
                        help="the server's --batch_wait_ms (the shortest wait for a batch)")
    args = parser.parse_args()

    from t5spec import serve

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint, vocab = write_model(Path(tmp), args.model)
        engine = serve.load_engine(checkpoint, vocab)
    print(f"compile (6 batch shapes): {warm_up(engine):.1f} s", flush=True)
    direct = engine_rates(engine, prompts(engine, BATCH))
    print(f"Engine.run alone: 1 row {direct[1]:.0f} tokens/s, {BATCH} rows {direct[BATCH]:.0f} "
          f"tokens/s = {direct[BATCH] / direct[1]:.1f}x", flush=True)
    print(engine_roofline(engine.decoder.config, direct[1]), flush=True)
    config = serve.ServeConfig(model_name=MODEL, max_tokens=MAX_TOKENS, max_batch=BATCH,
                               batch_wait_ms=args.batch_wait_ms)
    app = serve.create_app(engine, config)
    rates = {}
    with serve.ServerThread(app) as server:
        for clients, n in ((1, args.single_requests), (BATCH, args.batched_requests)):
            before = dict(app.state.batcher.stats)
            tokens, seconds = load_in_subprocess(server.base_url, prompts(engine, n), clients)
            stats = app.state.batcher.stats
            batches = stats["batches"] - before["batches"]
            rows = stats["rows"] - before["rows"]
            rates[clients] = tokens / seconds
            print(f"{clients:>2} client(s): {n} requests, {tokens} tokens in {seconds:.1f} s = "
                  f"{rates[clients]:.0f} tokens/s; {batches} batches, "
                  f"{rows / batches:.1f} rows/batch", flush=True)
    print(f"serve_batching ratio: {rates[BATCH] / rates[1]:.1f} (goal 8)")


if __name__ == "__main__":
    main()
