"""Runs describe themselves from the operative config.gin T5X writes (or run_info.json)."""

from __future__ import annotations

from pathlib import Path

import pytest

from t5spec.errors import InputError
from t5spec.evaluate import runinfo

CONFIG = """\
from __gin__ import dynamic_registration
import __main__ as train_script

# Macros:
DISTILL_WEIGHT = 0.0
MIXTURE_OR_TASK_NAME = 't5spec_gsm8k_spec_in_context'
MODEL = @spec_models.SpecializationModel()
T5SPEC_VOCAB = '/data/spiece.model'
TRAIN_STEPS = 1218000

network.T5Config.emb_dim = 768
network.T5Config.num_encoder_layers = 12
spec_models.SpecializationModel.distill_weight = %DISTILL_WEIGHT
specialization.FormatRates.in_context_answer_only = 0.0
train_script.train.run_eval_before_training = True
train_script.train.infer_eval_dataset_cfg = \\
    @infer_eval/utils.DatasetConfig()
"""


def test_reads_size_loss_formats_from_config_gin(tmp_path: Path) -> None:
    (tmp_path / "config.gin").write_text(CONFIG)
    info = runinfo.read_run_info(tmp_path)
    assert (info.model, info.loss, info.formats, info.stage) == (
        "base",
        "ce",
        "in_context_cot",
        "specialized",
    )
    assert info.eval_before_training and info.vocab == "/data/spiece.model"


def test_run_info_json_overrides_and_is_checked(tmp_path: Path) -> None:
    (tmp_path / "config.gin").write_text(CONFIG)
    runinfo.write_run_info(tmp_path, formats="all", name="paper-base")
    info = runinfo.read_run_info(tmp_path)
    assert info.formats == "all" and info.name == "paper-base" and info.model == "base"
    runinfo.write_run_info(tmp_path, colour="red")
    with pytest.raises(InputError, match="unknown fields"):
        runinfo.read_run_info(tmp_path)


def test_baseline_eval_dir_and_kl(tmp_path: Path) -> None:
    text = (
        "CHECKPOINT_PATH = 'gs://x/checkpoint_1'\nnetwork.T5Config.emb_dim = 512\n"
        "network.T5Config.num_encoder_layers = 8\n"
    )
    assert runinfo.from_config("b", "b", runinfo.parse_gin(text)).stage == "baseline"
    kl = runinfo.parse_gin("MODEL = @spec_models.SpecializationModel()\n")
    assert runinfo.from_config("r", "r", kl).loss == "kl"
