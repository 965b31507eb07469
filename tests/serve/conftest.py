"""A tiny random-weight T5X checkpoint (T5X's tiny shape) and a lab vocabulary, served."""

from __future__ import annotations

from pathlib import Path

import pytest

MODEL = "tiny-t5"


def write_random_checkpoint(out: Path, vocab_size: int, seed: int = 0) -> Path:
    """``gin/models/flant5_tiny.gin``'s shape with ``vocab_size`` rows, random init."""
    import jax
    import jax.numpy as jnp
    from t5x.examples.t5 import network

    from t5spec.models import presets, t5x_checkpoint

    config = presets.network_config(
        presets.gin_file("tiny"), (f"network.T5Config.vocab_size = {vocab_size}",))
    tokens = jnp.ones((1, 1), jnp.int32)
    variables = network.Transformer(config).init(
        jax.random.PRNGKey(seed), tokens, tokens, tokens, enable_dropout=False)
    params = presets.unbox(variables["params"])
    return t5x_checkpoint.write_t5x_checkpoint(params, config, out)


@pytest.fixture(scope="session")
def lab_vocab(tmp_path_factory) -> Path:
    from t5spec.lab import tokenizers, world

    texts = world.world_text(world.generate_world(0))
    out = tmp_path_factory.mktemp("vocab")
    return tokenizers.write_tokenizers(texts, out)["student"]


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return write_random_checkpoint(tmp_path_factory.mktemp("ckpt"), vocab_size=1024)


@pytest.fixture(scope="session")
def engine(tiny_checkpoint, lab_vocab):
    from t5spec import serve

    return serve.load_engine(tiny_checkpoint, lab_vocab)


@pytest.fixture(scope="session")
def server(engine):
    from t5spec import serve

    # One decode shape for every test (batch 8, 16 input and 16 new tokens): one compile.
    config = serve.ServeConfig(model_name=MODEL, max_tokens=16, max_input_tokens=16,
                               max_batch=8, min_batch=8, batch_wait_ms=30)
    app = serve.create_app(engine, config)
    with serve.ServerThread(app) as running:
        running.app = app
        yield running
