"""bench/bench_decode.py's roofline counts exactly the matmuls of a cached decoding step."""

from __future__ import annotations

import collections
import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest
from t5x.examples.t5 import network

from t5spec.models import presets

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_decode.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_decode", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_step_matmuls_are_the_decoder_kernels_a_step_reads(preset):
    """Every 2-D decoder kernel once, except cross-attention keys/values (projected once from
    the encoder outputs, before the loop): the FLOPs the roofline line divides by."""
    config = presets.network_config(presets.gin_file(preset))
    ones = jnp.ones((1, 4), jnp.int32)
    params = jax.eval_shape(lambda: network.Transformer(config).init(
        jax.random.PRNGKey(0), ones, ones, ones, enable_dropout=False))["params"]["decoder"]
    expected = collections.Counter()
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        names = [k.key for k in path]
        cached = "encoder_decoder_attention" in names and names[-2] in ("key", "value")
        if leaf.ndim == 2 and names[-1] == "kernel" and not cached:
            expected[tuple(leaf.shape)] += 1
    counted = collections.Counter()
    for _, count, width_in, width_out in _bench().step_matmuls(config, rows=32):
        counted[(width_in, width_out)] += count
    assert counted == expected
