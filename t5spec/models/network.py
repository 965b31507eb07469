"""T5X's T5 1.1 encoder-decoder with the token embedding's lookup made selectable.

``t5x.examples.t5.network.Transformer`` hard-codes ``one_hot=True`` on its shared
``layers.Embed``: every token's embedding is a ``[tokens, vocab] x [vocab, emb]`` contraction,
which T5X's docstring says SPMD partitioning needed on TPU. On CPU and GPU that contraction is
pure overhead: for T5-small shapes (32128 vocabulary rows) it is ~200 GFLOP forward and as
much backward per 6144-token batch, about a quarter of the train step's FLOPs, where a gather
is a memory copy (``bench/bench_train_step.py``: 20.6 → 14.9 s per step on 2 CPU cores).

:class:`Transformer` is T5X's class with two fields added. ``one_hot_embedding``: ``True`` (the
default) is T5X's network exactly; ``False`` gathers rows (``layers.Embed(one_hot=False)``,
T5X's own code path, which also constrains the output to ``('batch', 'length', 'embed')``).
The parameter tree is the same either way, so checkpoints move freely between the two and
T5X's ``network.Transformer``; encode / decode are T5X's (wrapped to install the interceptor
below; t5spec's decoding lays
the decoder caches out its own way: ``models/decode_cache.py``).

A second change, ``bias_grad_matmul`` (on by default), does not touch the forward values:
each T5X attention receives its relative-position bias ``[1, heads, q, k]`` already broadcast
to the batch (a flax method interceptor on ``MultiHeadDotProductAttention``, outside cached
decoding), so the bias's gradient sums the batch as a ones-vector matmul. T5X's broadcast
inside the attention leaves that sum to XLA's reduce over the leading axis, which XLA:CPU runs
~80x slower than the matmul (a ``[16, 4, 256, 256]`` gradient: ~30 ms against 0.4 ms); on the
lab's train step that is ~13% of the step (``bench/bench_lab_step.py``, docs/benchmarks.md).
Gradients equal T5X's up to float summation order (``tests/models/test_network_bias_grad.py``).

A third, ``dense_as_matrix`` (on by default; in CPU programs only, :func:`cpu_program`, so a
TPU slice's program traced on a CPU host by ``t5spec plan --compile`` keeps T5X's form; outside
cached decoding): each T5X ``DenseGeneral`` gets its inputs with the leading axes merged,
``[batch, length, ...]`` -> ``[batch * length, ...]``, so its product is one 2-D matmul (the
output is reshaped back).
Same products, same values: XLA:CPU compiles the 3-D form's gradient with transposing copies
of the ``[batch, length, mlp]`` activations' gradients; T5X's gated-GeLU ``MlpBlock`` forward +
backward on the lab's ``[16, 256, 128]`` -> 512 shape took ~190 ms against ~67 ms flattened
(2026-12-06, Intel Xeon, 2 cores under load; identical outputs and gradients).

Gin: ``gin/runs/spec.gin`` makes it the module of every t5spec training run, with
``EMBED_ONE_HOT = False`` (gather) by default; ``--gin.EMBED_ONE_HOT=True`` is T5X's network.
``tests/train/test_train_t5x.py`` checks that the gather gives T5X's loss and gradients on a
(data=4, model=2) mesh whose ``model`` axis splits the vocabulary rows.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any

import jax
from flax import linen as nn
from jax import numpy as jnp
from jax.interpreters import pxla
from t5x.examples.t5 import layers, network


def batch_sum(grad: jax.Array) -> jax.Array:
    """``grad`` ``[batch, ...]`` summed over its batch as a ones-vector matmul, ``[1, ...]``
    (XLA:CPU's reduce over a leading axis is ~80x slower)."""
    ones = jnp.ones((grad.shape[0],), grad.dtype)
    return jnp.tensordot(ones, grad, axes=(0, 0))[None]


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def batch_broadcast(bias: jax.Array, batch: int) -> jax.Array:
    """``bias`` ``[1, ...]`` broadcast to ``[batch, ...]``; its gradient sums the batch as a
    matmul with a ones vector rather than XLA's reduce over the leading axis (on XLA:CPU that
    reduce of a ``[16, 4, 256, 256]`` gradient takes ~30 ms, the matmul ~0.4 ms)."""
    return jnp.broadcast_to(bias, (batch, *bias.shape[1:]))


def _broadcast_fwd(bias: jax.Array, batch: int) -> tuple[jax.Array, None]:
    return batch_broadcast(bias, batch), None


def _broadcast_bwd(batch: int, _: None, grad: jax.Array) -> tuple[jax.Array]:
    return (batch_sum(grad),)


batch_broadcast.defvjp(_broadcast_fwd, _broadcast_bwd)


def _dense_as_matrix(next_fun, args, kwargs, context) -> Any:
    """Interceptor: a T5X ``DenseGeneral`` over ``[*lead, *contracted]`` inputs (two or more
    leading axes) runs on ``[prod(lead), *contracted]`` and its output ``[prod(lead),
    *features]`` is reshaped to ``[*lead, *features]``: a 2-D product for XLA:CPU."""
    module = context.module
    if context.method_name != "__call__" or not isinstance(module, layers.DenseGeneral):
        return next_fun(*args, **kwargs)
    inputs = jnp.asarray(args[0])
    axes = sorted(a % inputs.ndim for a in layers._canonicalize_tuple(module.axis))
    lead = inputs.ndim - len(axes)
    if lead < 2 or axes != list(range(lead, inputs.ndim)):
        return next_fun(*args, **kwargs)
    out = next_fun(inputs.reshape(-1, *inputs.shape[lead:]), *args[1:], **kwargs)
    return out.reshape(*inputs.shape[:lead], *out.shape[1:])


def cpu_program() -> bool:
    """Whether the program being traced runs on CPUs: the devices of the active mesh (T5X's
    partitioner traces under one; ``t5spec plan --compile`` with a TPU slice's devices on a
    CPU host), else JAX's default backend."""
    mesh = pxla.thread_resources.env.physical_mesh  # what T5X's partitioning reads too
    if not mesh.empty:
        return all(d.platform == "cpu" for d in mesh.devices.flat)
    return jax.default_backend() == "cpu"


def _bias_per_row(next_fun, args, kwargs, context) -> Any:
    """Interceptor: a T5X attention's relative-position bias ``[1, heads, q, k]`` reaches it
    as ``[batch, heads, q, k]`` (:func:`batch_broadcast`), outside cached decoding."""
    if (isinstance(context.module, layers.MultiHeadDotProductAttention)
            and context.method_name == "__call__" and not kwargs.get("decode", False)):
        args = list(args)
        batch = args[0].shape[0]
        if len(args) > 3 and args[3] is not None and args[3].shape[0] == 1 < batch:
            args[3] = batch_broadcast(args[3], batch)
        elif kwargs.get("bias") is not None and kwargs["bias"].shape[0] == 1 < batch:
            kwargs = {**kwargs, "bias": batch_broadcast(kwargs["bias"], batch)}
    return next_fun(*args, **kwargs)


class Transformer(network.Transformer):
    """``network.Transformer(config)`` whose shared embedding gathers unless one-hot is asked.

    Attributes:
      config: T5X's ``network.T5Config``.
      one_hot_embedding: ``True`` = T5X's one-hot contraction; ``False`` = a row gather.
      bias_grad_matmul: ``True`` = the relative-position bias reaches attention broadcast to
        the batch (its gradient's batch sum a matmul); ``False`` (with ``dense_as_matrix``
        ``False``) = T5X's network exactly.
      dense_as_matrix: ``True`` = in CPU programs (:func:`cpu_program`), outside cached
        decoding, every ``DenseGeneral`` multiplies its inputs as one ``[tokens, in]`` matrix.
    """

    one_hot_embedding: bool = True
    bias_grad_matmul: bool = True
    dense_as_matrix: bool = True

    def setup(self) -> None:
        cfg = self.config
        self.shared_embedding = layers.Embed(
            num_embeddings=cfg.vocab_size,
            features=cfg.emb_dim,
            dtype=cfg.dtype,
            attend_dtype=jnp.float32,  # as T5X: logits in float32 for stability
            embedding_init=nn.initializers.normal(stddev=1.0),
            one_hot=self.one_hot_embedding,
            name="token_embedder",
        )
        self.encoder = network.Encoder(config=cfg, shared_embedding=self.shared_embedding)
        self.decoder = network.Decoder(config=cfg, shared_embedding=self.shared_embedding)

    def _intercepted(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        on_cpu = not kwargs.get("decode", False) and cpu_program()
        with contextlib.ExitStack() as stack:
            if self.bias_grad_matmul:
                stack.enter_context(nn.intercept_methods(_bias_per_row))
            if self.dense_as_matrix and on_cpu:
                stack.enter_context(nn.intercept_methods(_dense_as_matrix))
            return method(*args, **kwargs)

    def encode(self, *args: Any, **kwargs: Any) -> Any:
        return self._intercepted(super().encode, *args, **kwargs)

    def decode(self, *args: Any, **kwargs: Any) -> Any:
        return self._intercepted(super().decode, *args, **kwargs)
