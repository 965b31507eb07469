"""The step-by-step run gins and the small student presets: parsed, built, counted; bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import seqio

from t5spec.errors import InputError
from t5spec.launch import ginconfig
from t5spec.models import presets

REPO = Path(__file__).resolve().parents[2]
SBS_GIN = "gin/flant5_small_sbs.gin"
# Stated in the gin headers; the limits are the (≤ 20M and ≤ 60M parameters).
EFFICIENT = {"efficient_tiny": (17_667_840, 20_000_000), "efficient_mini": (31_220_480, 60_000_000)}


def _overrides(data_dir, *extra):
    return ["MODEL_DIR='/tmp/unused'", f"T5SPEC_VOCAB='{data_dir}/t5_vocab/spiece.model'", *extra]


def test_sbs_run_gin_resolves(data_dir):
    from t5spec.models import SpecializationModel

    config = ginconfig.resolve([SBS_GIN], _overrides(data_dir, "RATIONALE_LOSS='kl'",
                                                     "RATIONALE_WEIGHT=0.5"))
    model = config.model
    assert isinstance(model, SpecializationModel) and model.objective == "stepbystep"
    assert (model.rationale_weight, model.rationale_loss) == (0.5, "kl")
    assert model.module.config.emb_dim == 512  # FlanT5-small
    assert config.train_dataset_cfg.mixture_or_task_name == "t5spec_gsm8k_sbs"
    assert config.train_dataset_cfg.task_feature_lengths == {"inputs": 256, "targets": 256}
    infer = config.train_kwargs["infer_eval_dataset_cfg"]
    assert infer.mixture_or_task_name == "t5spec_eval_sbs"
    for cfg in (config.train_dataset_cfg, infer):
        assert seqio.get_mixture_or_task(cfg.mixture_or_task_name)
    head = (REPO / SBS_GIN).read_text().splitlines()[:20]
    for word in ("Command", "Hardware", "Expected"):
        assert any(word in line for line in head), word


@pytest.mark.parametrize("override,message", [
    ("RATIONALE_WEIGHT=-0.5", r"rationale_weight \(λ\) must be a finite number >= 0, got -0.5"),
    ("RATIONALE_LOSS='mse'", "unknown rationale_loss 'mse'; choose from 'ce', 'kl'"),
    ("LOSS_NORMALIZING_FACTOR=233472.0", "averages each task over its own tokens"),
])
def test_bad_settings_fail_before_training(data_dir, override, message):
    with pytest.raises(InputError, match=message):
        ginconfig.resolve([SBS_GIN], _overrides(data_dir, override))


@pytest.mark.parametrize("preset", sorted(EFFICIENT))
def test_small_presets_state_their_param_counts(preset):
    path = presets.gin_file(preset)
    assert path.name == f"t5_{preset}.gin"
    stated = int(re.search(r"^# Parameters: ([\d,]+)$", path.read_text(), re.M)
                 .group(1).replace(",", ""))
    config = presets.network_config(path)
    assert config.vocab_size == 32128 and config.logits_via_embedding
    assert tuple(config.mlp_activations) == ("gelu", "linear")
    count = presets.param_count(config)
    assert count == stated == EFFICIENT[preset][0]
    assert count <= EFFICIENT[preset][1]


def test_small_preset_composes_with_the_sbs_run(data_dir, tmp_path):
    # What flant5_small_sbs.gin's header says: replace its model include by the preset's.
    run = (REPO / "gin" / "flant5_small_sbs.gin").read_text()
    assert run.count("include 'gin/models/flant5_small.gin'") == 1
    files = [tmp_path / "mini_sbs.gin"]
    files[0].write_text(run.replace("gin/models/flant5_small.gin",
                                    "gin/models/t5_efficient_mini.gin"))
    config = ginconfig.resolve(files, _overrides(
        data_dir, "TRAIN_STEPS=100", "INITIAL_CHECKPOINT_PATH=None"))
    net = config.model.module.config
    assert (net.emb_dim, net.num_heads, net.head_dim, net.mlp_dim) == (384, 8, 32, 1536)
    assert config.model.objective == "stepbystep"


def test_unknown_preset_lists_every_preset():
    with pytest.raises(InputError, match="unknown preset 'efficient_nano'; choose from tiny, "
                                         r"small, .*, efficient_tiny, efficient_mini"):
        presets.gin_file("efficient_nano")
    assert presets.gin_file("small").name == "flant5_small.gin"
