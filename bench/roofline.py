"""Matmul rooflines for the decoding benchmarks: can a speed goal fit this machine at all?

A T5 1.1 model's work is almost all matmuls. These helpers list the matmuls of one cached
decoder step (the kernels' [rows, in] x [in, out] and attention's batched products over the
caches) and of the encoder pass, and time each alone
with jax, operands hot in cache: what those matmuls cost with nothing else around them, a
lower bound on any decoder built from XLA:CPU float32 dots. ``bench_decode.py`` and
``bench_serve.py`` set it against the time their goal allows.

:func:`chained_seconds` times the same matmuls the way a step meets them: each with its own
operands (every layer's weight and cache: the step's whole working set), one after another in
one program. Where that working set is larger than what the machine's caches hold, this is
the floor for these dots, and the hot-cache figure is below what any decoder can reach.
"""

from __future__ import annotations

import time
from typing import Any

Matmul = tuple[str, int, int, int]  # (what, count per row-position, inputs width, outputs width)
BatchedMatmul = tuple[str, int, int, int, int]  # (what, count, batch, inputs width, outputs width)


def decoder_step_matmuls(config: Any) -> list[Matmul]:
    """The matmuls of one cached decoder step of a ``network.T5Config``: every 2-D decoder
    kernel once except cross-attention keys/values, which are projected once from the
    encoder outputs. The attention products are :func:`decoder_step_attention`'s; everything
    elementwise is left out."""
    e, hd, f = config.emb_dim, config.num_heads * config.head_dim, config.mlp_dim
    layers = config.num_decoder_layers
    return [("q, k, v of self-attention; q of cross-attention", 4 * layers, e, hd),
            ("attention outputs", 2 * layers, hd, e),
            ("MLP in", len(config.mlp_activations) * layers, e, f),
            ("MLP out", layers, f, e),
            ("vocabulary (read [vocab, embed], as ours on CPU)", 1, e, config.vocab_size)]


def decoder_step_attention(config: Any, rows: int, cache_len: int,
                           input_len: int) -> list[BatchedMatmul]:
    """The attention products of one cached decoder step of ``rows`` rows: per layer and
    (row, head), a ``[1, head_dim] x [head_dim, keys]`` score and a ``[1, keys] x [keys,
    head_dim]`` output, over the self-attention cache (``cache_len`` keys: ours attends to the
    whole cache every step, masking what is not written yet) and over the encoder outputs
    (``input_len`` keys). Each is one batched dot of batch ``rows * heads``."""
    b, d, n = rows * config.num_heads, config.head_dim, config.num_decoder_layers
    return [("self-attention scores", n, b, d, cache_len),
            ("self-attention outputs", n, b, cache_len, d),
            ("cross-attention scores", n, b, d, input_len),
            ("cross-attention outputs", n, b, input_len, d)]


def batched_matmuls_cost(matmuls: list[BatchedMatmul]) -> tuple[float, float]:
    """(seconds, FLOPs) of one-row batched ``matmuls``, each timed alone
    (:func:`batched_matmul_seconds`)."""
    seconds = sum(n * batched_matmul_seconds(b, 1, i, o) for _, n, b, i, o in matmuls)
    return seconds, sum(2.0 * n * b * i * o for _, n, b, i, o in matmuls)


def encoder_matmuls(config: Any) -> list[Matmul]:
    """The matmuls per input token before decoding: the encoder's layers, and each decoder
    layer's cross-attention key and value projections of the encoder outputs."""
    e, hd, f = config.emb_dim, config.num_heads * config.head_dim, config.mlp_dim
    layers = config.num_encoder_layers
    return [("q, k, v of self-attention", 3 * layers, e, hd),
            ("attention outputs", layers, hd, e),
            ("MLP in", len(config.mlp_activations) * layers, e, f),
            ("MLP out", layers, f, e),
            ("decoder cross-attention k, v", 2 * config.num_decoder_layers, e, hd)]


def matmul_seconds(rows: int, width_in: int, width_out: int, repeats: int = 50) -> float:
    """Seconds of one float32 [rows, in] x [in, out] dot (weight stored [out, in]) inside one
    XLA program: ``repeats`` dots in a ``fori_loop``, each input nudged by the last output so
    none is hoisted (an elementwise add of [rows, in]), operands hot in cache; best of 3."""
    import jax
    from jax import lax

    def dots(x, w):
        def body(_, carry):
            x, _ = carry
            y = lax.dot_general(x, w, (((1,), (1,)), ((), ())))
            return x + y[0, 0] * 1e-30, y
        return lax.fori_loop(0, repeats, body, (x, jax.numpy.zeros((rows, width_out))))[1]

    return _best_of_3(dots, (rows, width_in), (width_out, width_in)) / repeats


def _best_of_3(dots: Any, x_shape: tuple[int, ...], w_shape: tuple[int, ...]) -> float:
    """Seconds of the jitted ``dots(x, w)`` on random float32 operands: compiled and run once,
    then the best of 3 runs."""
    import jax

    x = jax.random.normal(jax.random.PRNGKey(0), x_shape)
    w = jax.random.normal(jax.random.PRNGKey(1), w_shape)
    return _best_run(jax.jit(dots), x, w)


def _best_run(run: Any, *args: Any) -> float:
    """Seconds of ``run(*args)`` (a jitted function): run once (compiling), then best of 3."""
    run(*args).block_until_ready()
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        run(*args).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return best


def matmuls_cost(matmuls: list[Matmul], rows: int) -> tuple[float, float]:
    """(seconds, FLOPs) of ``matmuls`` over ``rows`` rows, each matmul timed alone."""
    seconds = sum(n * matmul_seconds(rows, i, o) for _, n, i, o in matmuls)
    return seconds, sum(2.0 * rows * n * i * o for _, n, i, o in matmuls)


def verdict(allowed_s: float, dots_s: float, beyond_s: float | None = None) -> str:
    """How the matmuls alone compare with the time a goal allows. ``beyond_s``: what the
    measured code spends beyond those matmuls timed alone, if known."""
    if dots_s >= allowed_s:
        return "the goal is out of reach of these dots on this machine"
    left = f"the dots alone fit, leaving {(allowed_s - dots_s) * 1e3:.1f} ms for all else"
    if beyond_s is None:
        return left
    return f"{left}, where ours spends {beyond_s * 1e3:.1f} ms beyond these dots alone"


def batched_matmul_seconds(batch: int, rows: int, width_in: int, width_out: int,
                           repeats: int = 50) -> float:
    """Seconds of one float32 batched dot [batch, rows, in] x [batch, in, out] (attention's
    products per row and head), timed as :func:`matmul_seconds` times a plain one."""
    import jax
    from jax import lax

    def dots(x, w):
        def body(_, carry):
            x, _ = carry
            y = lax.dot_general(x, w, (((2,), (1,)), ((0,), (0,))))
            return x + y[0, 0, 0] * 1e-30, y
        return lax.fori_loop(0, repeats, body, (x, jax.numpy.zeros((batch, rows, width_out))))[1]

    return _best_of_3(dots, (batch, rows, width_in), (batch, width_in, width_out)) / repeats


def chained_operands(matmuls: list[Matmul], rows: int,
                     batched: list[BatchedMatmul]) -> list[tuple[tuple, tuple, tuple]]:
    """(input shape, weight shape, ``dot_general`` dimension numbers) of every instance of
    ``matmuls`` over ``rows`` rows (weights stored [out, in], as :func:`matmul_seconds`) and of
    the one-row batched ``batched`` (as :func:`batched_matmul_seconds`), in order."""
    plain = [((rows, i), (o, i), (((1,), (1,)), ((), ())))
             for _, n, i, o in matmuls for _ in range(n)]
    return plain + [((b, 1, i), (b, i, o), (((2,), (1,)), ((0,), (0,))))
                    for _, n, b, i, o in batched for _ in range(n)]


def chained_seconds(matmuls: list[Matmul], rows: int, batched: list[BatchedMatmul],
                    repeats: int = 10) -> tuple[float, int]:
    """(seconds, operand bytes) of one pass over :func:`chained_operands`, each instance with
    its own random float32 operands, chained (each input nudged by the last output: an
    elementwise add of the input's size) in one XLA program: those dots with their operands
    cycling through the caches as in a decoding step. ``repeats`` passes in a ``fori_loop``;
    best of 3."""
    import jax
    from jax import lax

    shapes = chained_operands(matmuls, rows, batched)
    keys = jax.random.split(jax.random.PRNGKey(0), 2 * len(shapes))
    xs = [jax.random.normal(k, x) for k, (x, _, _) in zip(keys[::2], shapes, strict=True)]
    ws = [jax.random.normal(k, w) for k, (_, w, _) in zip(keys[1::2], shapes, strict=True)]
    numbers = [d for _, _, d in shapes]

    def passes(xs, ws):
        def body(_, last):
            for x, w, dims in zip(xs, ws, numbers, strict=True):
                last = lax.dot_general(x + last * 1e-30, w, dims).reshape(-1)[0]
            return last
        return lax.fori_loop(0, repeats, body, jax.numpy.zeros(()))

    seconds = _best_run(jax.jit(passes), xs, ws)
    return seconds / repeats, sum(a.size * a.dtype.itemsize for a in xs + ws)
