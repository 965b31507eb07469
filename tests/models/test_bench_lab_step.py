"""bench/bench_lab_step.py's roofline lists exactly the kernels a train step multiplies, each
over the token rows it really sees, and reads T5X's training-loop timing from its log."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn
from t5x.examples.t5 import layers, network

BENCH = Path(__file__).resolve().parents[2] / "bench"
B, LI, LT = 3, 12, 5


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("bench_lab_step")
    finally:
        sys.path.remove(str(BENCH))


def _config(layers_: int = 2):
    return network.T5Config(
        vocab_size=256, dtype="float32", emb_dim=16, num_heads=2, num_encoder_layers=layers_,
        num_decoder_layers=layers_, head_dim=4, mlp_dim=24, mlp_activations=("gelu", "linear"),
        dropout_rate=0.0, logits_via_embedding=False)


def _forward_dense_calls(config) -> dict[str, tuple[int, int, int]]:
    """Every DenseGeneral call of a real forward pass over [B, LI] / [B, LT] batches:
    parameter path -> (rows, inputs width, outputs width), read from the call itself."""
    calls = {}

    def record(next_fun, args, kwargs, context):
        module = context.module
        if isinstance(module, layers.DenseGeneral) and context.method_name == "__call__":
            x, out = args[0], next_fun(*args, **kwargs)
            kernel = module.variables["params"]["kernel"]
            axes = module.axis if isinstance(module.axis, tuple) else (module.axis,)
            k_in = int(np.prod([x.shape[a] for a in axes]))
            calls["/".join(module.path)] = (x.size // k_in, k_in, kernel.size // k_in)
            return out
        return next_fun(*args, **kwargs)

    model = network.Transformer(config)
    enc, dec = jnp.ones((B, LI), jnp.int32), jnp.ones((B, LT), jnp.int32)
    params = model.init(jax.random.PRNGKey(0), enc, dec, dec, enable_dropout=False)
    with nn.intercept_methods(record):
        model.apply(params, enc, dec, dec, enable_dropout=False)
    return calls, params["params"]


@pytest.mark.parametrize("n_layers", [1, 2])
def test_step_kernels_are_the_parameter_kernels_over_the_rows_each_sees(bench, n_layers):
    config = _config(n_layers)
    calls, params = _forward_dense_calls(config)
    kernels = {"/".join(k.key for k in path[:-1]): leaf.shape
               for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]
               if path[-1].key == "kernel"}
    listed = {name: (rows, i, o) for name, rows, i, o in
              bench.step_kernels(config, B, LI, LT)}
    assert set(listed) == set(kernels) == set(calls)
    assert listed == calls
    for name, (_, i, o) in listed.items():
        assert int(np.prod(kernels[name])) == i * o


def test_attention_products_follow_the_layers(bench):
    config = _config(2)
    assert bench.step_attention(config, LI, LT) == [
        ("encoder self-attention", 2, LI, LI), ("decoder self-attention", 2, LT, LT),
        ("decoder cross-attention", 2, LT, LI)]


def test_loop_seconds_reads_t5x_log(bench):
    log = "\n".join([
        "I1204 23:59:50.000000 1 train.py:674] BEGIN Train loop.",
        "I1204 23:59:59.500000 1 logging_writer.py:48] [110] collection=train loss=1.0, "
        "timing/seconds=9.25, timing/steps_per_second=1.08",
        "I1205 00:00:05.000000 1 logging_writer.py:48] [120] collection=train "
        "timing/seconds=5.5",
        "I1205 00:00:06.000000 1 logging_writer.py:48] [120] collection=train "
        "timing/checkpoint_seconds=0.75"])
    assert bench.loop_seconds(log) == pytest.approx((16.0, 14.75, 0.75))
    with pytest.raises(ValueError, match="no training loop"):
        bench.loop_seconds("I1204 23:59:50.000000 1 train.py:674] BEGIN Train loop.")
