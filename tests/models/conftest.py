"""Random-weight transformers T5 models for the student tests (nothing from a hub).

``tiny`` has the shape of ``gin/models/flant5_tiny.gin`` (T5X's t5_1_1 tiny: d_model 8, 4 heads
of 3); ``odd`` changes heads / d_kv / d_ff / layer counts / vocabulary, with d_kv*heads != d_model
and fewer decoder than encoder layers, and is saved sharded (``model.safetensors.index.json``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

HF_SHAPES = {
    "tiny": dict(vocab_size=32128, d_model=8, d_kv=3, d_ff=16, num_layers=2, num_heads=4),
    "odd": dict(vocab_size=640, d_model=16, d_kv=5, d_ff=24, num_layers=3,
                num_decoder_layers=2, num_heads=3),
}


def make_hf_model(name: str, seed: int = 0, **overrides):
    """A T5 1.1 (gated-gelu, untied lm_head) ``T5ForConditionalGeneration`` in eval mode."""
    import torch
    import transformers

    config = transformers.T5Config(
        **{**HF_SHAPES[name], **overrides}, feed_forward_proj="gated-gelu",
        tie_word_embeddings=False, decoder_start_token_id=0, dropout_rate=0.0)
    torch.manual_seed(seed)
    model = transformers.T5ForConditionalGeneration(config)
    # transformers ties lm_head to the embedding at construction; FlanT5's is separate.
    model.lm_head.weight = torch.nn.Parameter(torch.randn(config.vocab_size, config.d_model))
    return model.eval()


@pytest.fixture(scope="session", params=sorted(HF_SHAPES))
def hf_dir(request, tmp_path_factory) -> Path:
    """A transformers directory (config.json + safetensors) of a random model."""
    name = request.param
    path = tmp_path_factory.mktemp(f"hf_{name}")
    shard = "20KB" if name == "odd" else "5GB"
    make_hf_model(name).save_pretrained(path, max_shard_size=shard)
    return path


@pytest.fixture(scope="session")
def hf_model():
    """``make_hf_model`` as a fixture: ``hf_model(name, seed=0, **config_overrides)``."""
    return make_hf_model
