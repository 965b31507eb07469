"""gin/flant5_small_onpolicy.gin: one on-policy training round resolves to T5X's train()
arguments with the same model and trainer as gin/flant5_small_spec.gin, the divergence a
macro, and the round's mixed shards required."""

from __future__ import annotations

from pathlib import Path

import pytest

from t5spec.errors import InputError
from t5spec.launch import ginconfig

REPO = Path(__file__).resolve().parents[2]
GIN = "gin/flant5_small_onpolicy.gin"


def _resolve(data_dir: Path, *overrides: str):
    return ginconfig.resolve(
        [REPO / GIN], ["MODEL_DIR = '/tmp/unused'",
                       f"T5SPEC_VOCAB = '{data_dir}/t5_vocab/spiece.model'", *overrides])


@pytest.mark.parametrize("divergence, beta", [("kl", 0.5), ("gjsd", 0.25)])
def test_a_round_resolves_with_the_chosen_divergence(data_dir, divergence, beta):
    resolved = _resolve(data_dir, "ALIGNED_DATA = '/r1/mixed/gsm8k_train-*.tfrecord*'",
                        f"DIVERGENCE = '{divergence}'", f"JSD_BETA = {beta}")
    from t5spec.models import SpecializationModel

    model = resolved.model
    assert isinstance(model, SpecializationModel) and model.distill_weight == 1.0
    assert (model.loss_config.divergence, model.loss_config.beta) == (divergence, beta)
    assert resolved.train_dataset_cfg.mixture_or_task_name == "t5spec_gsm8k_spec"
    assert resolved.train_kwargs["total_steps"] == 1_200_000  # round 1: 2,000 steps
    spec = ginconfig.resolve(
        [REPO / "gin" / "flant5_small_spec.gin"],
        ["MODEL_DIR = '/tmp/unused'", f"T5SPEC_VOCAB = '{data_dir}/t5_vocab/spiece.model'"])
    assert type(spec.model) is type(model)  # the same trainer and model class
    assert spec.model.module.config == model.module.config


def test_the_round_needs_its_mixed_shards(data_dir):
    with pytest.raises(InputError, match="ALIGNED_DATA"):
        _resolve(data_dir)


def test_the_header_gives_the_command_sequence():
    head = (REPO / GIN).read_text().split("from __gin__")[0]
    for step in ("onpolicy_cli prompts", "t5x.infer", "onpolicy_cli texts",
                 "t5spec teacher score", "t5spec align", "onpolicy_cli mix", "t5x.train",
                 "Hardware:", "Expected:"):
        assert step in head, step
