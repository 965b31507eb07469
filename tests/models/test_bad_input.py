"""Bad checkpoints fail loudly with one InputError; nothing is silently re-initialized."""

from __future__ import annotations

import json

import numpy as np
import pytest

from t5spec.cli import main
from t5spec.errors import InputError
from t5spec.models import hf_convert


@pytest.fixture(scope="module")
def tiny_tensors(hf_model):
    model = hf_model("tiny")
    config = hf_convert.t5_config_from_hf(model.config.to_dict(), "config.json")
    tensors = {k: v.numpy() for k, v in model.state_dict().items()}
    return config, tensors


def test_missing_unexpected_and_misshaped_are_listed_together(tiny_tensors):
    config, tensors = tiny_tensors
    bad = dict(tensors)
    del bad["encoder.block.1.layer.0.SelfAttention.q.weight"]
    bad["encoder.block.9.layer.0.layer_norm.weight"] = np.ones(8, np.float32)
    bad["decoder.block.0.layer.2.DenseReluDense.wo.weight"] = np.zeros((8, 15), np.float32)
    with pytest.raises(InputError) as err:
        hf_convert.hf_to_t5x_params(bad, config, "model.safetensors")
    msg = str(err.value)
    assert "3 tensor(s)" in msg
    assert "encoder.block.1.layer.0.SelfAttention.q.weight (expected [12, 8], found missing)" in msg
    assert "encoder.block.9.layer.0.layer_norm.weight (expected nothing, found [8])" in msg
    wo = "decoder.block.0.layer.2.DenseReluDense.wo.weight"
    assert f"{wo} (expected [8, 16], found [8, 15])" in msg


def test_untied_embedding_alias_that_differs_is_rejected(tiny_tensors):
    config, tensors = tiny_tensors
    bad = {**tensors, "encoder.embed_tokens.weight": tensors["shared.weight"] + 1}
    with pytest.raises(InputError, match=r"differs from shared\.weight"):
        hf_convert.hf_to_t5x_params(bad, config, "model.safetensors")


def test_t5x_params_with_wrong_shape_are_rejected(tiny_tensors):
    config, tensors = tiny_tensors
    params = hf_convert.hf_to_t5x_params(tensors, config, "x")
    params["decoder"]["logits_dense"]["kernel"] = np.zeros((8, 100), np.float32)
    with pytest.raises(InputError, match=r"logits_dense/kernel \(expected \[8, 32128\], found"):
        hf_convert.t5x_to_hf_tensors(params, config, "checkpoint_7")


@pytest.mark.parametrize("key,value,match", [
    ("relative_attention_num_buckets", 16, "T5X's network fixes 32"),
    ("relative_attention_max_distance", 64, "fixes 128"),
    ("layer_norm_epsilon", 1e-5, "epsilon 1e-6"),
    ("feed_forward_proj", "gelu", "unsupported feed_forward_proj"),
    ("model_type", "bart", "not an encoder-decoder T5"),
])
def test_architectures_t5x_cannot_express_are_rejected(key, value, match, hf_model):
    config = {**hf_model("tiny").config.to_dict(), key: value}
    with pytest.raises(InputError, match=match):
        hf_convert.t5_config_from_hf(config, "config.json")


def test_vocab_size_mismatch_with_preset_fails_on_the_cli(hf_dir, tmp_path, capsys):
    vocab = json.loads((hf_dir / "config.json").read_text())["vocab_size"]
    preset = "small" if vocab == 32128 else "tiny"  # tiny shape vs small; odd vocab vs tiny
    assert main(["convert", "hf-to-t5x", str(hf_dir), str(tmp_path / "out"),
                 "--preset", preset]) == 2
    err = capsys.readouterr().err
    expected = "architecture mismatch" if vocab == 32128 else "vocabulary-size mismatch"
    assert expected in err and "emb_dim" in err
    assert not (tmp_path / "out").exists()


def test_pickle_only_directory_is_refused(tmp_path, capsys, hf_model):
    (tmp_path / "config.json").write_text(json.dumps(hf_model("tiny").config.to_dict()))
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(InputError, match=r"pytorch_model.bin: pickle is not loaded"):
        hf_convert.read_hf_dir(tmp_path)
    assert main(["convert", "hf-to-t5x", str(tmp_path), str(tmp_path / "o")]) == 2
    assert "pickle is not loaded" in capsys.readouterr().err


def test_missing_config_and_wrong_path_count(tmp_path, capsys):
    with pytest.raises(InputError, match=r"config\.json: file not found"):
        hf_convert.read_hf_dir(tmp_path)
    assert main(["convert", "t5x-to-hf", str(tmp_path)]) == 2
    assert "takes SOURCE OUT_DIR" in capsys.readouterr().err
