"""bench/roofline.py counts exactly the matmuls of a cached decoding step and of encoding."""

from __future__ import annotations

import collections
import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest
from t5x.examples.t5 import network

from t5spec.models import presets

ROOFLINE = Path(__file__).resolve().parents[2] / "bench" / "roofline.py"


def _roofline():
    spec = importlib.util.spec_from_file_location("roofline", ROOFLINE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _kernels(preset: str) -> dict[str, collections.Counter]:
    """Shape counts of the 2-D kernels of a preset: ``encoder``, ``decoder`` without the
    cross-attention keys/values, and those (``cross_kv``)."""
    config = presets.network_config(presets.gin_file(preset))
    ones = jnp.ones((1, 4), jnp.int32)
    params = jax.eval_shape(lambda: network.Transformer(config).init(
        jax.random.PRNGKey(0), ones, ones, ones, enable_dropout=False))["params"]
    out = {k: collections.Counter() for k in ("encoder", "decoder", "cross_kv")}
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        names = [k.key for k in path]
        if leaf.ndim != 2 or names[-1] != "kernel":
            continue
        cross_kv = "encoder_decoder_attention" in names and names[-2] in ("key", "value")
        out["cross_kv" if cross_kv else names[0]][tuple(leaf.shape)] += 1
    return out


def _counted(matmuls) -> collections.Counter:
    counted = collections.Counter()
    for _, count, width_in, width_out in matmuls:
        counted[(width_in, width_out)] += count
    return counted


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_matmuls_are_the_kernels_each_phase_reads(preset):
    """A decoder step reads every 2-D decoder kernel once except cross-attention keys/values;
    those are read once per input token, with the encoder's kernels: the FLOPs the benchmarks'
    roofline lines divide by."""
    config = presets.network_config(presets.gin_file(preset))
    kernels, roofline = _kernels(preset), _roofline()
    assert _counted(roofline.decoder_step_matmuls(config)) == kernels["decoder"]
    assert _counted(roofline.encoder_matmuls(config)) == kernels["encoder"] + kernels["cross_kv"]


def test_verdict_turns_on_whether_the_dots_alone_fit():
    verdict = _roofline().verdict
    assert "out of reach" in verdict(allowed_s=0.030, dots_s=0.031)
    assert verdict(allowed_s=0.030, dots_s=0.028) == (
        "the dots alone fit, leaving 2.0 ms for all else")
    assert verdict(allowed_s=0.030, dots_s=0.028, beyond_s=0.008).endswith(
        "where ours spends 8.0 ms beyond these dots alone")
