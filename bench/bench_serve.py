"""The server's own overhead: tokens/s through HTTP (32 concurrent clients) vs ``Engine.run``.

A random-weight T5 1.1 model with a 1024-row vocabulary (the lab's student SentencePiece),
float32, on the CPU — ``--model lab`` (default): d_model 128, 4 heads of 32, mlp 512, 2+2
layers, ~1.4M parameters; ``--model tiny``: gin/models/flant5_tiny.gin's shape — is written as
a T5X checkpoint and served through the real path (``load_engine`` → ``create_app`` → uvicorn
on 127.0.0.1). Clients are the openai SDK (``AsyncOpenAI``, in a child process) sending lab
GSM8K questions as the lab's teacher sampling does: ``max_tokens`` 80 (gin/lab.gin),
temperature 1, ``logprobs`` 5. The server runs as the lab's teacher does, one decode shape
(``--min_batch`` = ``--max_batch``), with ``--max_batch`` 16, half the 32 clients: in a closed
loop of C clients a batch of C leaves the decoder idle while all C answers go out and the next
C requests come in; with C/2 one half's turnaround overlaps the other half's decode (measured in
docs/benchmarks.md: +17% end-to-end tokens/s). Every decode shape is compiled before timing.
Tokens are the server's ``usage.completion_tokens``.

What is compared, on the same batches: each round sends ``--requests`` requests from 32
concurrent clients and records every batch the server's batcher hands to ``Engine.run`` (its
rows, with their seeds); then the same batches are decoded again by ``Engine.run`` alone, in
this process, without HTTP. ``serve_overhead ratio`` is the engine's tokens/s over the
end-to-end tokens/s (= the HTTP run's wall time over the same decodes' time alone): 1.0 means
the server adds nothing to the decodes it has to run. Both sides generate the same tokens
(each row draws from its own seed); the script checks the token counts agree. Rounds alternate
the two sides (load from other processes falls on both); the best of each side is compared.

Also printed (information): how the HTTP run's wall time splits — ``Engine.run`` inside the
server (its decode thread), the rest (batching window, HTTP parsing, JSON, the event loop) —
and the CPU seconds of the client process and of the server process, both on the same cores.

The former goal, 8x tokens/s from batching 32 clients vs 1, is retired: on a CPU a 1-row
decode of this model is already bound by its matmuls (``bench/roofline.py``; 2026-12-03: a
32-row batch's matmuls alone took longer than 8x the 1-row rate allowed).

  python bench/bench_serve.py        # last line: serve_overhead ratio: <x> (goal <= 1.15)
  python bench/bench_serve.py --max_batch 32          # a batch as large as the clients
  python bench/bench_serve.py --max_tokens 32 --min_batch 1   # the bench before 2026-12-05
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from t5spec import hugepages

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

INPUT_BUCKET, BATCH = 64, 32
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


def warm_up(engine, max_tokens: int, min_batch: int, max_batch: int) -> float:
    """Compiles every batch bucket the server can form (``min_batch``, …, ``max_batch``)."""
    from t5spec import serve

    t0 = time.perf_counter()
    row = serve.Row([5] * INPUT_BUCKET, 0, max_tokens, 1.0, 1.0, 5, ())
    size = min_batch
    while size <= max_batch:
        engine.run([row] * size)
        size *= 2
    return time.perf_counter() - t0


class RecordingEngine:
    """An :class:`~t5spec.serve.Engine` whose :meth:`run` records each batch it decodes (its
    rows, without their futures) and the seconds it took: what the batcher asked of it."""

    def __init__(self, engine: Any):
        self.engine = engine
        self.batches: list[tuple[list, tuple[int, ...]]] = []
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    def run(self, rows: list, *args: int) -> list[dict]:
        """``Engine.run(rows, *args)`` (``min_batch``, ``min_input``: whatever the batcher
        passes), timed and recorded."""
        t0 = time.perf_counter()
        out = self.engine.run(rows, *args)
        self.seconds += time.perf_counter() - t0
        self.batches.append(([dataclasses.replace(r, future=None) for r in rows], args))
        return out


def replay(engine: Any, batches: list[tuple[list, tuple[int, ...]]]) -> tuple[int, float]:
    """(completion tokens, seconds) of ``Engine.run`` alone over the recorded ``batches``."""
    t0 = time.perf_counter()
    tokens = sum(r["n_ids"] for rows, args in batches for r in engine.run(rows, *args))
    return tokens, time.perf_counter() - t0


async def load(base_url: str, questions: list[str], clients: int,
               max_tokens: int) -> tuple[int, float, float]:  # fmt: skip
    """(completion tokens, seconds, this process's CPU seconds) for ``clients`` workers
    sharing the question list."""
    import openai

    api = openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=600)
    queue = list(questions)
    total = 0

    async def worker() -> None:
        nonlocal total
        while queue:
            prompt = queue.pop()
            r = await api.completions.create(model=MODEL, prompt=prompt, max_tokens=max_tokens,
                                             temperature=1.0, logprobs=5, seed=len(queue))
            total += r.usage.completion_tokens

    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(clients)))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    await api.close()
    return total, seconds, cpu


def _load_sync(base_url: str, questions: list[str], clients: int,
               max_tokens: int) -> tuple[int, float, float]:  # fmt: skip
    return asyncio.run(load(base_url, questions, clients, max_tokens))


@dataclasses.dataclass
class Round:
    http_tokens: int
    http_s: float
    in_server_s: float  # Engine.run inside the server during the HTTP run
    client_cpu_s: float
    server_cpu_s: float  # this process (server threads + XLA) during the HTTP run
    batches: int
    rows: int
    engine_tokens: int = 0
    engine_s: float = 0.0

    @property
    def ratio(self) -> float:
        return (self.engine_tokens / self.engine_s) / (self.http_tokens / self.http_s)


def one_round(pool: Any, server: Any, recorder: RecordingEngine, questions: list[str],
              max_tokens: int) -> Round:  # fmt: skip
    """The HTTP side, then ``Engine.run`` alone over the batches the server formed."""
    recorder.batches, recorder.seconds = [], 0.0
    c0 = time.process_time()
    tokens, seconds, client_cpu = pool.submit(
        _load_sync, server.base_url, questions, BATCH, max_tokens).result()
    rnd = Round(tokens, seconds, recorder.seconds, client_cpu, time.process_time() - c0,
                len(recorder.batches), sum(len(rows) for rows, _ in recorder.batches))
    rnd.engine_tokens, rnd.engine_s = replay(recorder.engine, recorder.batches)
    if rnd.engine_tokens != rnd.http_tokens:
        raise RuntimeError(f"the replayed batches gave {rnd.engine_tokens} tokens, the HTTP "
                           f"run {rnd.http_tokens}: not the same decodes")
    return rnd


def report(rounds: list[Round]) -> list[str]:
    """Per-round lines and the summary (see module doc)."""
    lines = []
    for i, r in enumerate(rounds):
        lines.append(
            f"round {i}: HTTP {r.http_tokens} tokens in {r.http_s:.2f} s = "
            f"{r.http_tokens / r.http_s:.0f} tokens/s ({r.batches} batches, "
            f"{r.rows / r.batches:.1f} rows/batch; Engine.run inside the server "
            f"{r.in_server_s:.2f} s = {r.in_server_s / r.http_s:.0%} of the wall time; CPU s: "
            f"client {r.client_cpu_s:.2f}, server {r.server_cpu_s:.2f}); Engine.run alone on "
            f"the same batches {r.engine_s:.2f} s = {r.engine_tokens / r.engine_s:.0f} "
            f"tokens/s; ratio {r.ratio:.2f}")
    http = max(r.http_tokens / r.http_s for r in rounds)
    engine = max(r.engine_tokens / r.engine_s for r in rounds)
    lines.append(f"best of {len(rounds)} rounds: HTTP {http:.0f} tokens/s, Engine.run alone "
                 f"{engine:.0f} tokens/s; load average {os.getloadavg()[0]:.2f}")
    lines.append(f"serve_overhead ratio: {engine / http:.2f} (goal <= 1.15)")
    return lines


def main() -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--model", choices=sorted(SHAPES), default="lab")
    parser.add_argument("--batch_wait_ms", type=float, default=5.0,
                        help="the server's --batch_wait_ms (the shortest wait for a batch)")
    parser.add_argument("--max_tokens", type=int, default=80,
                        help="tokens per completion (gin/lab.gin's teacher samples: 80)")
    parser.add_argument("--max_batch", type=int, default=BATCH // 2,
                        help=f"the server's --max_batch ({BATCH} clients send requests)")
    parser.add_argument("--min_batch", type=int, default=0,
                        help="the server's --min_batch (0: = --max_batch, one decode shape, "
                             "as the lab's teacher serves)")
    args = parser.parse_args()
    hugepages.reexec_with_huge_pages()
    print(hugepages.describe(), flush=True)

    from t5spec import serve

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint, vocab = write_model(Path(tmp), args.model)
        engine = serve.load_engine(checkpoint, vocab)
    args.min_batch = args.min_batch or args.max_batch
    seconds = warm_up(engine, args.max_tokens, args.min_batch, args.max_batch)
    print(f"compile (batches of {args.min_batch}-{args.max_batch} rows): {seconds:.1f} s; "
          f"max_tokens {args.max_tokens}, min_batch {args.min_batch}", flush=True)
    config = serve.ServeConfig(
        model_name=MODEL, max_tokens=args.max_tokens, max_batch=args.max_batch,
        min_batch=args.min_batch, batch_wait_ms=args.batch_wait_ms)
    app = serve.create_app(engine, config)
    recorder = RecordingEngine(engine)
    app.state.batcher.engine = recorder
    questions = prompts(engine, args.requests)
    rounds = []
    with serve.ServerThread(app) as server, ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("spawn")) as pool:  # real clients are
        pool.submit(_load_sync, server.base_url, questions[:BATCH], BATCH,  # others
                    args.max_tokens).result()
        for _ in range(args.rounds):
            rounds.append(one_round(pool, server, recorder, questions, args.max_tokens))
            print(report(rounds)[-3], flush=True)
    for line in report(rounds)[-2:]:
        print(line)


if __name__ == "__main__":
    main()
