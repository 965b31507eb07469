"""t5spec's decoding caches (``models/decode_cache.py``) against T5X's own cached decoding."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from jax import numpy as jnp
from t5x.examples.t5 import network

from t5spec.launch import aot, topology
from t5spec.models import decode_cache
from t5spec.models.decoding import Decoder, SamplingParams

# heads * head_dim != emb_dim, fewer decoder than encoder layers, as conftest's "odd" shape
CONFIG = network.T5Config(
    vocab_size=640, dtype="float32", emb_dim=16, num_heads=3, num_encoder_layers=3,
    num_decoder_layers=2, head_dim=5, mlp_dim=24, mlp_activations=("gelu", "linear"),
    dropout_rate=0.0, logits_via_embedding=False)
ENC = np.array([[5, 17, 33, 2, 9, 0, 0], [44, 3, 0, 0, 0, 0, 0], [7, 7, 7, 7, 7, 7, 7]])


def _params(config: network.T5Config):
    ones = jnp.ones((1, 4), jnp.int32)
    return network.Transformer(config).init(
        jax.random.PRNGKey(0), ones, ones, ones, enable_dropout=False)["params"]


@pytest.fixture(scope="module")
def params():
    return _params(CONFIG)


@pytest.mark.parametrize("sampling", [
    SamplingParams(max_new_tokens=20, num_alternatives=4),
    SamplingParams(max_new_tokens=20, temperature=1.5, top_k=7, seed=2),
    SamplingParams(max_new_tokens=20, temperature=1.0, top_p=0.8, seed=5),
], ids=["greedy", "top_k", "top_p"])
def test_same_generation_as_t5x_cache(params, sampling):
    ours = Decoder(CONFIG, params, eos_id=None).generate(ENC, sampling)
    t5x = Decoder(CONFIG, params, eos_id=None, t5x_decode_cache=True).generate(ENC, sampling)
    np.testing.assert_array_equal(ours.tokens, t5x.tokens)
    np.testing.assert_array_equal(ours.top_ids, t5x.top_ids)
    np.testing.assert_allclose(ours.token_logprobs, t5x.token_logprobs, atol=1e-5)
    np.testing.assert_allclose(ours.top_logprobs, t5x.top_logprobs, atol=1e-5)


def test_same_generation_with_eos(params):
    free = Decoder(CONFIG, params, eos_id=None).generate(ENC, SamplingParams(12))
    eos = int(free.tokens[0, 3])  # row 0 ends at step 4; others where that id first appears
    ours = Decoder(CONFIG, params, eos_id=eos).generate(ENC, SamplingParams(12))
    t5x = Decoder(CONFIG, params, eos_id=eos, t5x_decode_cache=True).generate(
        ENC, SamplingParams(12))
    assert ours.lengths[0] <= 4
    np.testing.assert_array_equal(ours.lengths, t5x.lengths)
    np.testing.assert_array_equal(ours.tokens, t5x.tokens)


def test_bfloat16_tracks_t5x_cache():
    config = CONFIG.replace(dtype="bfloat16")
    params = _params(config)
    sampling = SamplingParams(max_new_tokens=8, num_alternatives=2)
    ours = Decoder(config, params, eos_id=None).generate(ENC, sampling)
    t5x = Decoder(config, params, eos_id=None, t5x_decode_cache=True).generate(ENC, sampling)
    np.testing.assert_allclose(ours.token_logprobs, t5x.token_logprobs, atol=0.05)
    assert (ours.tokens == t5x.tokens).mean() >= 0.9


def test_cache_layout_holds_the_real_encoder_projections(params):
    """Leaves [B, H, L, D]; ``encoded_key`` is the key projection of the real encoder outputs."""
    model = decode_cache.CachedDecodingModel(network.Transformer(CONFIG), None, None, None)
    enc = jnp.asarray(ENC)
    encoded = model.module.apply({"params": params}, enc, enable_dropout=False,
                                 method=model.module.encode)
    cache, index = model._compute_kv_cache(params, encoded, enc, jnp.zeros((3, 11), jnp.int32))
    assert index is None
    layer = cache["decoder"]["layers_1"]
    assert layer["self_attention"]["key_cache"].shape == (3, 3, 11, 5)
    assert int(layer["self_attention"]["cache_index"]) == 0
    kernel = params["decoder"]["layers_1"]["encoder_decoder_attention"]["key"]["kernel"]
    expected = jnp.einsum("bse,ehd->bhsd", encoded, kernel.reshape(16, 3, 5))
    np.testing.assert_allclose(layer["encoder_decoder_attention"]["encoded_key"], expected,
                               atol=1e-5)
    t5x_model = decode_cache.CachedDecodingModel(
        network.Transformer(CONFIG), None, None, None, t5x_decode_cache=True)
    t5x_cache, _ = t5x_model._compute_kv_cache(params, encoded, enc, jnp.zeros((3, 11), jnp.int32))
    assert "encoder_decoder_attention" not in t5x_cache["decoder"]["layers_1"]
    assert t5x_cache["decoder"]["layers_1"]["self_attention"]["cached_key"].shape == (3, 3, 5, 11)


def test_specialization_model_predicts_as_with_t5x_cache(params):
    """T5X's ``predict_batch`` (what training-time inference evaluation runs) with both caches."""
    import seqio

    from t5spec.models.specialization import SpecializationModel

    vocab = seqio.PassThroughVocabulary(CONFIG.vocab_size, eos_id=1)
    batch = {"encoder_input_tokens": jnp.asarray(ENC),
             "decoder_input_tokens": jnp.zeros((3, 9), jnp.int32)}
    preds = [SpecializationModel(network.Transformer(CONFIG), vocab, vocab, None,
                                 t5x_decode_cache=t5x).predict_batch(params, batch)
             for t5x in (False, True)]
    np.testing.assert_array_equal(preds[0], preds[1])
    assert (preds[0] != 0).any()


@pytest.mark.parametrize("t5x_cache", [False, True])
def test_the_vocabulary_projection_reads_the_kernel_vocabulary_major_on_cpu(params, t5x_cache):
    """Ours multiplies by the [vocab, embed] transpose behind a barrier; T5X's path does not."""
    import functools

    from t5spec.models import decoding

    generate = functools.partial(
        decoding._generate, config=CONFIG, max_new_tokens=4, top_k=0, top_p=0.0,
        num_alternatives=2, t5x_decode_cache=t5x_cache)
    text = str(jax.make_jaxpr(generate)(params, jnp.asarray(ENC), jax.random.PRNGKey(0), None,
                                        jnp.float32(0.0), jnp.int32(-1)))
    vocab_major = f"f32[{CONFIG.vocab_size},{CONFIG.emb_dim}] = optimization_barrier"
    assert (vocab_major in text) != t5x_cache


@pytest.mark.skipif(not aot.libtpu_installed(), reason="needs the tpu extra (libtpu)")
def test_a_program_for_tpu_devices_keeps_t5xs_vocabulary_projection(params):
    """Traced under a mesh of a TPU slice's devices (``t5spec plan --compile``'s infer_eval on
    this CPU host), our decoding keeps T5X's [embed, vocab] product: no barrier."""
    import functools

    from t5spec.models import decoding

    generate = functools.partial(
        decoding._generate, config=CONFIG, max_new_tokens=4, top_k=0, top_p=0.0,
        num_alternatives=2, t5x_decode_cache=False)
    devices = aot.tpu_devices(topology.parse_topology("v4-8"))
    with jax.sharding.Mesh(np.array(devices), ("data",)):
        text = str(jax.make_jaxpr(generate)(params, jnp.asarray(ENC), jax.random.PRNGKey(0),
                                            None, jnp.float32(0.0), jnp.int32(-1)))
    assert f"f32[{CONFIG.vocab_size},{CONFIG.emb_dim}] = optimization_barrier" not in text
