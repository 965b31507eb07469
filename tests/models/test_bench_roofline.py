"""bench/roofline.py counts exactly the matmuls of a cached decoding step and of encoding."""

from __future__ import annotations

import collections
import importlib.util
import math
import re
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


def _param_shapes(config) -> dict:
    """The parameter tree (shapes only) of T5X's ``network.Transformer`` for ``config``."""
    ones = jnp.ones((1, 4), jnp.int32)
    return jax.eval_shape(lambda: network.Transformer(config).init(
        jax.random.PRNGKey(0), ones, ones, ones, enable_dropout=False))["params"]


def _kernels(preset: str) -> dict[str, collections.Counter]:
    """Shape counts of the 2-D kernels of a preset: ``encoder``, ``decoder`` without the
    cross-attention keys/values, and those (``cross_kv``)."""
    config = presets.network_config(presets.gin_file(preset))
    params = _param_shapes(config)
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


def _batched_dot_flops(hlo: str, body: str) -> list[float]:
    """FLOPs of each dot with batch dimensions in computation ``body`` of optimized HLO text
    (2 x output elements x contracted size)."""
    block = hlo.split(f"\n{body} ", 1)[1].split("\n}\n", 1)[0]
    shapes = dict(re.findall(r"(%[\w.\-]+) = \w+\[([\d,]*)\]", block))
    flops = []
    for line in block.splitlines():
        found = re.search(r"= \w+\[([\d,]*)\]\S* dot\((%[\w.\-]+), ", line)
        if not found or "lhs_batch_dims" not in line:
            continue
        out = math.prod(int(d) for d in found.group(1).split(","))
        lhs = [int(d) for d in shapes[found.group(2)].split(",")]
        contracted = re.search(r"lhs_contracting_dims=\{([\d,]*)\}", line).group(1).split(",")
        flops.append(2.0 * out * math.prod(lhs[int(d)] for d in contracted))
    return flops


def test_attention_products_are_the_batched_dots_of_a_decoding_step():
    """The decoding loop's body, compiled as ``Decoder.generate`` runs it, holds exactly the
    batched dots ``decoder_step_attention`` lists (count and FLOPs): the attention part of the
    decode roofline."""
    from t5spec.models import decoding

    config = presets.network_config(presets.gin_file("tiny")).replace(dtype="float32")
    params = _param_shapes(config)
    rows, input_len, new_tokens = 4, 12, 10
    hlo = decoding._jitted_generate().lower(
        params, jax.ShapeDtypeStruct((rows, input_len), jnp.int32), jax.random.PRNGKey(0),
        None, jnp.float32(0), jnp.int32(1), config=config, max_new_tokens=new_tokens,
        top_k=0, top_p=0.0, num_alternatives=5, t5x_decode_cache=False).compile().as_text()
    entry = hlo.split("\nENTRY ", 1)[1]
    bodies = re.findall(r" while\(.*?body=(%[\w.\-]+)", entry)
    found = max((_batched_dot_flops(hlo, b) for b in bodies), key=len)  # the decoding loop
    listed = _roofline().decoder_step_attention(config, rows, new_tokens, input_len)
    assert len(found) == sum(n for _, n, *_ in listed) == 4 * config.num_decoder_layers
    assert sum(found) == sum(2.0 * n * b * i * o for _, n, b, i, o in listed)


def test_the_working_set_roofline_reads_the_decoder_kernels_and_the_decoding_caches():
    """``chained_operands`` gives each matmul of a step its own operands: the plain products'
    weights are the decoder's kernels (stored [out, in]), and the batched products' operands
    hold as many numbers as t5spec's decoding caches for the same rows and lengths."""
    from t5spec.models import decode_cache

    config = presets.network_config(presets.gin_file("tiny")).replace(dtype="float32")
    rows, cache_len, input_len = 4, 10, 12
    roofline = _roofline()
    operands = roofline.chained_operands(
        roofline.decoder_step_matmuls(config), rows,
        roofline.decoder_step_attention(config, rows, cache_len, input_len))
    assert collections.Counter(w[::-1] for _, w, _ in operands if len(w) == 2) == \
        _kernels("tiny")["decoder"]
    params = _param_shapes(config)
    model = decode_cache.CachedDecodingModel(network.Transformer(config), None, None, None)
    cache = jax.eval_shape(
        lambda p, e, t: model._compute_kv_cache(p, e, t, jnp.zeros((rows, cache_len), jnp.int32)),
        params, jax.ShapeDtypeStruct((rows, input_len, config.emb_dim), jnp.float32),
        jax.ShapeDtypeStruct((rows, input_len), jnp.int32))[0]
    cached = [leaf for leaf in jax.tree_util.tree_leaves(cache) if leaf.ndim == 4]
    assert len(cached) == 4 * config.num_decoder_layers
    assert sum(math.prod(w) for _, w, _ in operands if len(w) == 3) == \
        sum(leaf.size for leaf in cached)
