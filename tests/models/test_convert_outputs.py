"""``t5spec convert`` never loses a model, reads relative checkpoint paths, exports untied.

Issue 27 items 4 (an occupied OUT_DIR is refused unless ``--overwrite``; the old weights stay
byte-identical, an overwrite replaces them whole), 11 (a relative path to an Orbax T5X
checkpoint, the layout ``t5x.train`` writes, loads like an absolute one) and 13 (the exported
``config.json`` says ``tie_word_embeddings: false`` and transformers loads lm_head untied).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from t5spec.cli import main
from t5spec.models import hf_convert, t5x_checkpoint


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _save(model, path: Path) -> Path:
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def two_models(tmp_path_factory, hf_model):
    root = tmp_path_factory.mktemp("two")
    return _save(hf_model("tiny", seed=0), root / "a"), _save(hf_model("tiny", seed=1), root / "b")


def _params(directory: Path) -> dict:
    return t5x_checkpoint.read_t5x_params(directory / "checkpoint_0")


def test_hf_to_t5x_refuses_an_existing_checkpoint_and_overwrite_replaces_it(
        two_models, tmp_path, capsys):
    a, b = two_models
    out = tmp_path / "out"
    assert main(["convert", "hf-to-t5x", str(a), str(out)]) == 0
    before = _digests(out)
    old = _params(out)
    capsys.readouterr()
    assert main(["convert", "hf-to-t5x", str(b), str(out)]) == 2
    captured = capsys.readouterr()
    assert "wrote" not in captured.out and "--overwrite" in captured.err
    assert _digests(out) == before  # the old weights, byte for byte
    assert main(["convert", "hf-to-t5x", str(b), str(out), "--overwrite"]) == 0
    new = _params(out)
    emb = ("token_embedder", "embedding")
    assert not np.array_equal(new[emb[0]][emb[1]], old[emb[0]][emb[1]])
    b_emb = hf_convert.read_hf_dir(b)[1]["shared.weight"]
    np.testing.assert_array_equal(new[emb[0]][emb[1]], b_emb)
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint_0"]  # no staging left


def test_t5x_to_hf_refuses_an_existing_model_and_overwrite_leaves_no_stale_shard(
        two_models, tmp_path, capsys):
    a, _ = two_models
    main(["convert", "hf-to-t5x", str(a), str(tmp_path / "t5x")])
    hf_out = tmp_path / "hf"
    hf_out.mkdir()
    (hf_out / "model-00001-of-00002.safetensors").write_bytes(b"old shard")
    (hf_out / "tokenizer.json").write_text("{}")  # not a model file: always kept
    before = _digests(hf_out)
    capsys.readouterr()
    ckpt = str(tmp_path / "t5x" / "checkpoint_0")
    assert main(["convert", "t5x-to-hf", ckpt, str(hf_out)]) == 2
    assert "model-00001-of-00002.safetensors" in capsys.readouterr().err
    assert _digests(hf_out) == before
    assert main(["convert", "t5x-to-hf", ckpt, str(hf_out), "--overwrite"]) == 0
    assert sorted(p.name for p in hf_out.iterdir()) == ["config.json", "model.safetensors",
                                                        "tokenizer.json"]


def test_a_relative_orbax_checkpoint_path_loads(two_models, tmp_path, monkeypatch, capsys):
    """The layout ``t5x.train`` writes (checkpoint_N/state, Orbax): relative paths used to
    fail inside Orbax with "'NoneType' object is not iterable" (serve, convert)."""
    import orbax.checkpoint as ocp

    a, _ = two_models
    config = hf_convert.t5_config_from_hf(json.loads((a / "config.json").read_text()), a)
    params = hf_convert.hf_to_t5x_params(hf_convert.read_hf_dir(a)[1], config, a)
    state = tmp_path / "runs" / "teacher" / "checkpoint_300" / "state"
    ocp.PyTreeCheckpointer().save(state, {"target": params})
    monkeypatch.chdir(tmp_path)
    loaded = t5x_checkpoint.read_t5x_params("runs/teacher/checkpoint_300")
    np.testing.assert_array_equal(loaded["token_embedder"]["embedding"],
                                  params["token_embedder"]["embedding"])
    assert main(["convert", "t5x-to-hf", "runs/teacher/checkpoint_300", "hf_rel"]) == 0
    assert str(tmp_path / "hf_rel") in capsys.readouterr().out  # absolute where it entered
    assert (tmp_path / "hf_rel" / "model.safetensors").is_file()


def test_export_is_untied_and_transformers_loads_it_untied(two_models, tmp_path, caplog):
    """T5 1.1 / FlanT5 keep lm_head apart from the embedding and do not scale the decoder
    output. transformers >= 5 forces ``config.tie_word_embeddings`` to True for every T5 and
    warns when lm_head differs from the embedding (google/flan-t5-* too); it still loads
    them untied. Below 5 the flag is honoured and nothing is said."""
    import torch
    import transformers

    a, _ = two_models
    main(["convert", "hf-to-t5x", str(a), str(tmp_path / "t5x")])
    out = tmp_path / "hf"
    main(["convert", "t5x-to-hf", str(tmp_path / "t5x" / "checkpoint_0"), str(out)])
    written = json.loads((out / "config.json").read_text())
    assert written["tie_word_embeddings"] is False
    assert written["scale_decoder_outputs"] is False
    with caplog.at_level(logging.WARNING):
        model = transformers.T5ForConditionalGeneration.from_pretrained(out).eval()
    original = transformers.T5ForConditionalGeneration.from_pretrained(a).eval()
    major = int(transformers.__version__.split(".")[0])
    if major < 5:
        assert model.config.tie_word_embeddings is False
        assert "tie" not in caplog.text
    else:
        assert model.config.scale_decoder_outputs is False
    assert model.lm_head.weight.data_ptr() != model.shared.weight.data_ptr()
    assert not torch.equal(model.lm_head.weight, model.shared.weight)
    torch.testing.assert_close(model.lm_head.weight, original.lm_head.weight, rtol=0, atol=0)
    tokens = torch.tensor([[5, 6, 7, 1]])
    with torch.no_grad():
        got = model(input_ids=tokens, decoder_input_ids=tokens).logits
        want = original(input_ids=tokens, decoder_input_ids=tokens).logits
    torch.testing.assert_close(got, want, rtol=0, atol=0)
