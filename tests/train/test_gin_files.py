"""Every gin file under gin/ parses and resolves; full-size models via jax.eval_shape."""

from __future__ import annotations

import os
from pathlib import Path

import jax
import numpy as np
import pytest
import seqio
from t5x import train as t5x_train

import __main__
import gin
from t5spec.launch.ginconfig import train_stand_in

REPO = Path(__file__).resolve().parents[2]
SIZES = ("small", "base", "large", "xl", "xxl")
T5X_DIR = str(Path(t5x_train.__file__).resolve().parents[1])
EXPECTED_PARAMS = {"small": 76_961_152, "base": 247_577_856, "large": 783_150_080,
                   "xl": 2_849_757_184, "xxl": 11_135_332_352}


@gin.configurable
def _probe(model=gin.REQUIRED, partitioner=gin.REQUIRED, train_cfg=gin.REQUIRED,
           infer_cfg=gin.REQUIRED, total_steps=gin.REQUIRED):
    return model, partitioner, train_cfg, infer_cfg, total_steps


def _parse(files, bindings=()):
    gin.clear_config()
    # gin files say `import __main__ as train_script`; one stand-in object per process.
    __main__.train = train_stand_in()
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        for path in (".", T5X_DIR):
            gin.add_config_file_search_path(path)
        gin.parse_config_files_and_bindings(
            files, ["MODEL_DIR = '/tmp/unused'", *bindings], finalize_config=False)
        gin.parse_config(
            "_probe.model = %MODEL\n"
            "_probe.partitioner = @spec_partitioning.MeshPartitioner()\n"
            "_probe.train_cfg = @train/utils.DatasetConfig()\n"
            "_probe.infer_cfg = @infer_eval/utils.DatasetConfig()\n"
            "_probe.total_steps = %TRAIN_STEPS\n")
        gin.finalize()
        return _probe()
    finally:
        os.chdir(cwd)


@pytest.fixture(autouse=True)
def _clean_gin():
    yield
    gin.clear_config()


def _abstract_init(model, shapes):
    """Parameter shapes without allocating them (shapes stay static Python ints)."""
    return jax.eval_shape(lambda rng: model.get_initial_variables(rng, shapes),
                          jax.random.PRNGKey(0))


def _count(tree) -> int:
    return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES)
def test_spec_gin_resolves_full_size(size, data_dir):
    model, partitioner, train_cfg, infer_cfg, steps = _parse(
        [f"gin/flant5_{size}_spec.gin"], [f"T5SPEC_VOCAB = '{data_dir}/t5_vocab/spiece.model'"])
    from t5spec.models import SpecializationModel

    assert isinstance(model, SpecializationModel) and model.distill_weight == 1.0
    assert seqio.get_mixture_or_task(train_cfg.mixture_or_task_name)
    assert seqio.get_mixture_or_task(infer_cfg.mixture_or_task_name)
    assert train_cfg.mixture_or_task_name == "t5spec_gsm8k_spec"
    assert steps > 1_000_000  # continues from the public checkpoint's step
    shapes = {"encoder_input_tokens": (2, 16), "decoder_input_tokens": (2, 8)}
    variables = _abstract_init(model, shapes)
    assert _count(variables["params"]) == EXPECTED_PARAMS[size]
    assert partitioner._num_partitions >= 1


@pytest.mark.slow
def test_cpu_tiny_and_fragments_resolve(data_dir):
    model, _partitioner, train_cfg, infer_cfg, steps = _parse(
        ["gin/flant5_xl_spec.gin", "gin/cpu_tiny.gin", "gin/runs/adamw.gin"],
        [f"T5SPEC_VOCAB = '{data_dir}/t5_vocab/spiece.model'"])
    assert steps == 6 and train_cfg.batch_size == 4
    assert infer_cfg.mixture_or_task_name == "t5spec_eval_gsm8k_zs_cot"
    shapes = {"encoder_input_tokens": (2, 16), "decoder_input_tokens": (2, 8)}
    variables = _abstract_init(model, shapes)
    assert _count(variables["params"]) == 518_240  # gin/models/flant5_tiny.gin's shape
    assert type(model.optimizer_def).__name__ == "OptaxWrapper"


def test_cpu_tiny_network_matches_the_tiny_model_gin(tmp_path):
    def t5config(files):
        _parse(files, ["TRAIN_STEPS = 1", "INITIAL_CHECKPOINT_PATH = None"])
        from t5x.examples.t5 import network

        return {k: gin.query_parameter(f"network.T5Config.{k}") for k in
                ("emb_dim", "num_heads", "num_encoder_layers", "num_decoder_layers",
                 "head_dim", "mlp_dim", "dtype", "vocab_size")}, network

    run = (REPO / "gin" / "flant5_base_spec.gin").read_text()  # its model include -> tiny's
    tiny_run = tmp_path / "flant5_tiny_spec.gin"
    tiny_run.write_text(run.replace("gin/models/flant5_base.gin", "gin/models/flant5_tiny.gin"))
    tiny, _ = t5config([str(tiny_run)])
    shrunk, _ = t5config(["gin/flant5_base_spec.gin", "gin/cpu_tiny.gin"])
    assert tiny == shrunk


def test_unknown_binding_fails_at_parse():
    with pytest.raises(ValueError, match="distill_wieght"):
        _parse(["gin/flant5_small_spec.gin"],
               ["spec_models.SpecializationModel.distill_wieght = 0.5"])


def test_every_gin_file_is_covered():
    covered = {f"gin/flant5_{s}_spec.gin" for s in SIZES} | {
        "gin/cpu_tiny.gin", "gin/runs/spec.gin", "gin/runs/adamw.gin",
        "gin/runs/stepbystep.gin"}  # parsed in tests/stepbystep/test_sbs_gin.py
    mine = {str(p.relative_to(REPO)) for p in (REPO / "gin").glob("flant5_*_spec.gin")}
    mine |= {str(p.relative_to(REPO)) for p in (REPO / "gin" / "runs").glob("*.gin")}
    mine.add("gin/cpu_tiny.gin")
    assert mine <= covered, mine - covered
    for path in covered - {"gin/runs/spec.gin", "gin/runs/adamw.gin", "gin/runs/stepbystep.gin"}:
        head = (REPO / path).read_text().splitlines()[:12]
        assert any("Command" in line for line in head) and any("Hardware" in line
                                                               for line in head), path
