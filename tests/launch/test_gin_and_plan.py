"""Every training gin resolves with the launch overrides; full-size shardings; the planner.

XL and XXL are evaluated with ``jax.eval_shape`` only (no memory is spent); the sharding of
every XL parameter under the config's own logical-axis rules is printed and checked.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pytest

from t5spec import cli, plan
from t5spec.errors import InputError
from t5spec.launch import costs, ginconfig, planning
from t5spec.launch.topology import parse_topology

REPO = Path(__file__).resolve().parents[2]
SIZES = ("small", "base", "large", "xl", "xxl")
# What launch/tpu.sh, launch/slurm.sh and the sweeps pass on top of a size gin.
LAUNCH_OVERRIDES = ["MODEL_DIR='gs://bkt/t5spec/run'",
                    "ALIGNED_DATA='gs://bkt/aligned/gsm8k_train-*.tfrecord'",
                    "DISTILL_WEIGHT=0.0", "MIXTURE_OR_TASK_NAME='t5spec_gsm8k_spec_zero_shot'",
                    "LEARNING_RATE=3e-4"]
# An unsharded array above this (elements) on a model-parallel mesh is a placement bug.
UNSHARDED_LIMIT = 2**20


def _spec_gin(size: str) -> str:
    return f"gin/flant5_{size}_spec.gin"


@pytest.mark.parametrize("extra", [[], ["gin/runs/adamw.gin"], ["gin/cpu_tiny.gin"]],
                         ids=["alone", "adamw", "cpu_tiny"])
@pytest.mark.parametrize("size", SIZES)
def test_spec_gin_resolves_with_launch_overrides(size: str, extra: list[str]) -> None:
    config = ginconfig.resolve([_spec_gin(size), *extra], LAUNCH_OVERRIDES)
    assert config.train_kwargs["model_dir"] == "gs://bkt/t5spec/run"
    assert config.train_dataset_cfg.mixture_or_task_name == "t5spec_gsm8k_spec_zero_shot"
    assert config.model.module.config.vocab_size == 32128


def test_every_gin_file_is_covered() -> None:
    """Files outside the size gins' include graph must be add-ons tested above (or eval)."""
    covered = {f"gin/flant5_{s}_spec.gin" for s in SIZES} | {"gin/runs/adamw.gin",
                                                             "gin/cpu_tiny.gin"}
    todo = list(covered)
    while todo:
        text = (REPO / todo.pop()).read_text()
        for line in text.splitlines():
            if line.startswith("include '") and line.split("'")[1].startswith("gin/"):
                include = line.split("'")[1]
                if include not in covered:
                    covered.add(include)
                    todo.append(include)
    on_disk = {str(p.relative_to(REPO)) for p in (REPO / "gin").rglob("*.gin")}
    # eval_spec.gin is a t5x.eval config (no train()); gin/models/flant5_tiny.gin is
    # mirrored by cpu_tiny.gin — both are parsed by the training/student helpers' tests.
    # The mini lab's gins are parsed in tests/lab/test_lab_config.py (the lab config and the
    # T5X commands it builds), step-by-step's in tests/stepbystep/test_sbs_gin.py.
    lab = {str(p.relative_to(REPO)) for p in (REPO / "gin").rglob("lab*.gin")}
    lab |= {str(p.relative_to(REPO)) for p in (REPO / "gin" / "lab").glob("*.gin")}
    sbs = {"gin/flant5_small_sbs.gin", "gin/runs/stepbystep.gin",
           "gin/models/t5_efficient_tiny.gin", "gin/models/t5_efficient_mini.gin"}
    onpolicy = {"gin/flant5_small_onpolicy.gin"}  # parsed in tests/train/test_onpolicy_gin.py
    others = {"gin/eval_spec.gin", "gin/models/flant5_tiny.gin"} | lab | sbs | onpolicy
    assert on_disk - covered <= others


@pytest.mark.parametrize("override,message", [
    ("spec_models.SpecializationModel.distill_wieght=0.5", "distill_wieght"),
    ("DISTIL_WEIGHT=0.5", "DISTIL_WEIGHT"),
    ("utils.NoSuchThing.x=1", "NoSuchThing"),
    ("LEARNING_RATE", "not NAME=VALUE"),
])
def test_unknown_bindings_are_input_errors(override: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        ginconfig.resolve([_spec_gin("small")], ["MODEL_DIR='/tmp/x'", override])


@pytest.fixture(scope="module")
def xl_plan() -> planning.Plan:
    return planning.build_plan([_spec_gin("xl")], parse_topology("v4-32"))


@pytest.fixture(scope="module")
def xxl_plan() -> planning.Plan:
    return planning.build_plan([_spec_gin("xxl")], parse_topology("v4-128"))


def test_xl_parameter_shardings(xl_plan: planning.Plan) -> None:
    print(f"\nXL on v4-32, mesh {xl_plan.mesh}:\n" + planning.format_shardings(xl_plan))
    assert xl_plan.mesh == {"data": 4, "model": 4}
    assert xl_plan.num_params == 2_849_757_184  # as documented in gin/models/flant5_xl.gin
    spec = {a.name: a.spec for a in xl_plan.arrays}
    assert spec["target/token_embedder/embedding"] == ("model", None)  # vocab over model
    assert spec["target/decoder/logits_dense/kernel"] == (None, "model")
    assert spec["target/encoder/layers_0/mlp/wi_0/kernel"] == (None, "model")
    assert spec["target/encoder/layers_0/mlp/wo/kernel"] == ("model", None)
    assert spec["target/decoder/layers_23/encoder_decoder_attention/query/kernel"] == \
        (None, "model")
    assert spec["target/decoder/layers_23/self_attention/out/kernel"] == ("model", None)


@pytest.mark.parametrize("which", ["xl", "xxl"])
def test_no_large_array_is_left_unsharded(which: str, request: pytest.FixtureRequest) -> None:
    p: planning.Plan = request.getfixturevalue(f"{which}_plan")
    unsharded = [(a.name, a.shape) for a in p.arrays if not a.sharded and a.size > UNSHARDED_LIMIT]
    assert unsharded == []
    model = p.mesh["model"]
    for a in p.arrays:
        if a.sharded:  # the per-device size really is divided by the model axis
            assert a.per_device_bytes * model >= a.total_bytes
            assert a.per_device_bytes * model <= a.total_bytes + a.total_bytes // 8


def test_xxl_is_eleven_billion_and_needs_its_slice(xxl_plan: planning.Plan) -> None:
    assert 11.0e9 < xxl_plan.num_params < 11.5e9
    assert xxl_plan.memory.params == pytest.approx(xxl_plan.param_bytes_total /
                                                   xxl_plan.mesh["model"], rel=0.01)


def test_flop_formula_matches_the_model_parameters(xl_plan: planning.Plan) -> None:
    """With one token each side, matmul FLOPs are 2 × every kernel's size (+ attention)."""
    kernels = sum(a.size for a in xl_plan.arrays
                  if a.name.startswith("target/") and a.name.endswith("/kernel"))
    s = xl_plan.shape
    attention = 2 * 2 * s.inner * (s.encoder_layers + 2 * s.decoder_layers)
    assert costs.forward_flops_per_row(s, 1, 1) == 2 * kernels + attention
    assert costs.train_step_flops(s, 64, 1024, 256) == \
        3 * 64 * costs.forward_flops_per_row(s, 1024, 256)


def test_activation_estimate_shrinks_with_model_parallelism(xl_plan: planning.Plan) -> None:
    s = xl_plan.shape
    one, four = (costs.activation_bytes_per_row(s, 1024, 256, m) for m in (1, 4))
    assert four < one
    replicated = costs.BF16_BYTES * (s.encoder_layers * 1024 * 4 * s.d_model
                                     + s.decoder_layers * 256 * 5 * s.d_model)
    assert four - replicated == pytest.approx((one - replicated) / 4)


def test_plan_command_prints_the_table(capsys: pytest.CaptureFixture) -> None:
    args = argparse.Namespace(gin_file=[_spec_gin("xl")], gin_bindings=[], topology="v4-32",
                              num_partitions=None, mfu=0.4, show_shardings=False)
    code = plan.run(args)
    out = capsys.readouterr().out
    print(out)
    for row in ("topology", "mesh", "parameters", "optimizer state", "activations (est.)",
                "step FLOPs", "step time", "fits"):
        assert row in out
    assert "v4-32: 16 TPU devices × 32 GiB, 4 host(s)" in out
    assert "data=4 × model=4" in out
    assert code == (0 if "fits                  yes" in out else 1)


def test_too_small_slice_warns_and_fails(capsys: pytest.CaptureFixture) -> None:
    args = argparse.Namespace(gin_file=[_spec_gin("xl")], gin_bindings=[], topology="v5e-4",
                              num_partitions=None, mfu=0.4, show_shardings=False)
    assert plan.run(args) == 1
    out = capsys.readouterr().out
    assert "warning: WILL NOT FIT" in out and "fits                  NO" in out


def test_big_slice_fits(capsys: pytest.CaptureFixture) -> None:
    args = argparse.Namespace(gin_file=[_spec_gin("xl")], topology="v5p-64", num_partitions=8,
                              gin_bindings=["trainer.Trainer.num_microbatches=2"], mfu=0.4,
                              show_shardings=False)
    assert plan.run(args) == 0
    out = capsys.readouterr().out
    assert "data=4 × model=8" in out and "2 microbatch(es)" in out


@pytest.mark.parametrize("argv,message", [
    (["--topology=v9-32"], "unknown topology 'v9-32'"),
    (["--topology=v4-32", "--num_partitions=3"], "does not divide the 16 devices"),
    (["--topology=v4-32", "--gin_bindings=NOT_A_MACRO=1"], "NOT_A_MACRO"),
])
def test_plan_bad_input_is_exit_2(argv: list[str], message: str,
                                  capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["plan", f"--gin_file={_spec_gin('xl')}", *argv]) == 2
    assert message in capsys.readouterr().err


def test_topologies() -> None:
    v4 = parse_topology("v4-32")
    assert (v4.devices, v4.hosts, v4.family.hbm_gib) == (16, 4, 32)
    v5e = parse_topology("v5e-256")
    assert (v5e.name, v5e.devices, v5e.hosts) == ("v5litepod-256", 256, 64)
    assert parse_topology("v5litepod-8").hosts == 1
    h100 = parse_topology("h100-16")
    assert (h100.family.platform, h100.hosts, h100.devices_per_host) == ("gpu", 2, 8)
    assert math.isclose(parse_topology("v5p-8").hbm_bytes_per_device, 95 * 2**30)
    for bad in ("v4-33", "tpu", "v4", "a100-8", ""):
        with pytest.raises(InputError):
            parse_topology(bad)
