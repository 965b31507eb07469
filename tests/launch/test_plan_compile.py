"""``t5spec plan --compile``: run gins compiled by the real TPU compiler for slices not attached.

The compiled configs are the shipped run gins shrunk by ``gin/cpu_tiny.gin`` (2+2 layers,
short lengths) and widened so matmuls dominate the step (d_model 512, 8 heads × 64,
d_ff 1024): the T5X train step, the gin's loss, partitioner and rules are the real ones, the
compile takes seconds. The full-size gins are compiled once and committed
(``docs/results/<date>-tpu-compile/``); their JSON is checked against the gin headers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from t5spec import cli
from t5spec.launch import aot, topology

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "docs" / "results"
WIDE = ["network.T5Config.emb_dim=512", "network.T5Config.num_heads=8",
        "network.T5Config.head_dim=64", "network.T5Config.mlp_dim=1024"]


def _plan(tmp_path: Path, gins: list[str], topo: str, bindings: list[str]) -> tuple:
    """Runs ``t5spec plan --compile --json``; returns (exit status, the JSON or None)."""
    out = tmp_path / "plan.json"
    argv = ["plan", "--compile", f"--topology={topo}", f"--json={out}"]
    argv += [f"--gin_file={g}" for g in gins] + [f"--gin_bindings={b}" for b in bindings]
    rc = cli.main(argv)
    return rc, (json.loads(out.read_text()) if out.exists() else None)


@pytest.fixture(scope="module")
def small_v4_8(tmp_path_factory) -> tuple:
    gins = ["gin/flant5_small_spec.gin", "gin/cpu_tiny.gin"]
    return _plan(tmp_path_factory.mktemp("small"), gins, "v4-8", [*WIDE, "NUM_PARTITIONS=2"])


def test_small_gin_compiles_for_v4_8_and_fits(small_v4_8):
    rc, plan = small_v4_8
    assert rc == 0
    assert plan["fits"] and plan["topology"] == "v4-8" and plan["chips"] == 4
    assert plan["mesh"] == {"data": 2, "model": 2}
    train = plan["train"]
    # The arguments are the train state's shards: at least the parameters' and optimizer's.
    parts = plan["analytic"]["parts"]
    assert train["argument_bytes"] >= parts["params"] + parts["optimizer"]
    assert train["total_bytes"] > parts["params"]
    assert train["total_bytes"] <= plan["hbm_gib_per_chip"] * topology.GIB
    assert plan["infer_eval"]["fits"] and plan["infer_eval"]["total_bytes"] > parts["params"]


def test_small_gin_flops_match_the_analytic_count(small_v4_8):
    _, plan = small_v4_8
    analytic = plan["analytic"]["step_flops"]  # 3 × forward (matmuls + attention), costs.py
    assert plan["step_flops"] == pytest.approx(analytic, rel=0.10)
    assert plan["step_seconds_at_half_peak"] == pytest.approx(
        2 * plan["step_flops"] / (4 * 275e12))


def test_microbatched_step_flops_count_every_microbatch(tmp_path, capsys):
    # T5X's microbatch loop body is counted once by XLA's cost analysis: the plan scales it.
    gins = ["gin/flant5_small_spec.gin", "gin/cpu_tiny.gin"]
    rc, plan = _plan(tmp_path, gins, "v4-8",
                     [*WIDE, "NUM_PARTITIONS=2", "trainer.Trainer.num_microbatches=2"])
    text = capsys.readouterr()
    assert rc == 0, text
    assert plan["num_microbatches"] == 2
    assert plan["step_flops"] == pytest.approx(plan["analytic"]["step_flops"], rel=0.10)
    assert plan["step_flops"] == pytest.approx(2 * 4 * plan["train"]["flops_per_device"])
    assert "microbatch × 2" in text.out


def test_largest_kernel_is_split_over_model(small_v4_8):
    _, plan = small_v4_8
    kernel = plan["largest_kernel"]
    assert kernel["name"].endswith("kernel")
    assert "model" in kernel["mesh_axes"], kernel


def test_stepbystep_gin_compiles_for_v4_8(tmp_path, capsys):
    gins = ["gin/flant5_small_sbs.gin", "gin/cpu_tiny.gin"]
    rc, plan = _plan(tmp_path, gins, "v4-8", [*WIDE, "EVAL_MIXTURE='t5spec_eval_gsm8k_sbs_label'"])
    text = capsys.readouterr()
    assert rc == 0, text
    assert plan["fits"] and plan["train"]["flops_per_device"] > 0
    assert plan["step_flops"] == pytest.approx(plan["analytic"]["step_flops"], rel=0.10)
    assert "XLA train step" in text.out and "analytic per device" in text.out


def test_config_that_cannot_fit_exits_1_with_numbers(tmp_path, capsys):
    # A v5e chip has 16 GiB: 2048 rows of 1024 + 256 tokens on one chip cannot fit, whatever
    # the model; the tiny model keeps the compile to seconds (an XXL compile takes minutes).
    gins = ["gin/flant5_small_spec.gin", "gin/cpu_tiny.gin"]
    rc, plan = _plan(tmp_path, gins, "v5e-1",
                     [*WIDE, "BATCH_SIZE=2048",
                      "TASK_FEATURE_LENGTHS={'inputs': 1024, 'targets': 256}"])
    text = capsys.readouterr()
    assert rc == 1, text
    assert plan["fits"] is False and plan["train"]["fits"] is False
    assert plan["train"]["total_bytes"] > 16 * topology.GIB
    assert "does not fit" in text.err and "GiB per chip" in text.err
    assert re.search(r"fits\s+NO", text.out)


@pytest.mark.parametrize(("topo", "needle"), [("v9-8", "known families"),
                                              ("v4-12", "v4 comes in sizes"),
                                              ("h100-8", "not a TPU slice")])
def test_bad_topology_exits_2_naming_it(topo, needle, capsys):
    rc = cli.main(["plan", "--compile", "--gin_file=gin/flant5_small_spec.gin",
                   f"--topology={topo}"])
    assert rc == 2
    assert needle in capsys.readouterr().err


def test_unresolvable_gin_exits_2_naming_it(capsys):
    rc = cli.main(["plan", "--compile", "--gin_file=gin/flant5_small_spec.gin",
                   "--topology=v4-8", "--gin_bindings=NOT_A_MACRO=1"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "gin/flant5_small_spec.gin" in err and "NOT_A_MACRO" in err


def test_missing_libtpu_exits_2_naming_the_extra(monkeypatch, capsys):
    monkeypatch.setattr(aot, "libtpu_installed", lambda: False)
    rc = cli.main(["plan", "--compile", "--gin_file=gin/flant5_small_spec.gin",
                   "--topology=v4-8"])
    assert rc == 2
    assert "'.[tpu]'" in capsys.readouterr().err


def test_existing_json_is_never_overwritten(tmp_path, capsys):
    out = tmp_path / "plan.json"
    out.write_text("keep")
    rc = cli.main(["plan", "--compile", "--gin_file=gin/flant5_small_spec.gin",
                   "--topology=v4-8", f"--json={out}"])
    assert rc == 2 and out.read_text() == "keep"
    assert "never overwrites" in capsys.readouterr().err


def _header_gib(gin: str) -> float:
    text = (REPO / gin).read_text()
    match = re.search(r"XLA \(\d{4}-\d\d-\d\d\): ([0-9.]+) GiB", text)
    assert match, f"{gin} header has no XLA figure"
    return float(match.group(1))


@pytest.mark.parametrize(("gin", "name"), [
    ("gin/flant5_small_spec.gin", "flant5_small_spec-v4-8"),
    ("gin/flant5_small_sbs.gin", "flant5_small_sbs-v4-8"),
    ("gin/flant5_base_spec.gin", "flant5_base_spec-v4-8"),
    ("gin/flant5_large_spec.gin", "flant5_large_spec-v4-16"),
    ("gin/flant5_xl_spec.gin", "flant5_xl_spec-v4-32"),
    ("gin/flant5_xxl_spec.gin", "flant5_xxl_spec-v4-128"),
])
def test_committed_compile_fits_and_matches_the_gin_header(gin, name):
    plan = json.loads(sorted(RESULTS.glob(f"*-tpu-compile/{name}.json"))[-1].read_text())
    assert plan["gin_files"] == [gin] and plan["fits"]
    assert plan["train"]["total_bytes"] <= plan["hbm_gib_per_chip"] * topology.GIB
    assert plan["step_flops"] == pytest.approx(plan["analytic"]["step_flops"], rel=0.10)
    assert _header_gib(gin) == pytest.approx(plan["train"]["total_bytes"] / topology.GIB,
                                             abs=0.051)


@pytest.mark.parametrize(("name", "grid"), [("v4-8", "v4:2x2x1"), ("v4-32", "v4:2x2x4"),
                                            ("v4-128", "v4:4x4x4"), ("v5e-16", "v5e:4x4"),
                                            ("v5e-8", "v5e:2x4"), ("v5p-128", "v5p:4x4x4")])
def test_tpu_grid_names(name, grid):
    topo = topology.parse_topology(name)
    assert topology.tpu_topology_name(topo) == grid
    assert len(aot.tpu_devices(topo)) == topo.devices


def test_tpu_probe_is_skipped_only_without_tpu_or_choice(tmp_path):
    env: dict[str, str] = {}
    assert aot.skip_tpu_probe_without_tpu(env) is (not aot.tpu_attached())
    chosen = {"JAX_PLATFORMS": "tpu"}
    assert aot.skip_tpu_probe_without_tpu(chosen) is False and chosen["JAX_PLATFORMS"] == "tpu"
    (tmp_path / "0000:00:04.0").mkdir()
    (tmp_path / "0000:00:04.0" / "vendor").write_text("0x1ae0\n")
    assert aot.tpu_attached(tmp_path)
    (tmp_path / "0000:00:04.0" / "vendor").write_text("0x8086\n")
    assert not aot.tpu_attached(tmp_path)


def test_mesh_partitioner_lays_out_the_callers_devices():
    from t5spec.partitioning import MeshPartitioner

    devices = aot.tpu_devices(topology.parse_topology("v4-32"))  # 16 chips, none attached
    part = MeshPartitioner(num_partitions=4).with_devices(devices)
    assert dict(part.mesh.shape) == {"data": 4, "model": 4}
    assert sorted(d.id for d in part.mesh.devices.flat) == sorted(d.id for d in devices)
    with pytest.raises(ValueError, match="after the mesh"):
        part.with_devices(devices)
    with pytest.raises(ValueError, match="does not divide"):
        _ = MeshPartitioner(num_partitions=3).with_devices(devices).mesh
    # 8-way model parallel on a 4x4x4 torus (XXL on v4-128) splits a physical axis, as T5X.
    pod = aot.tpu_devices(topology.parse_topology("v4-128"))
    assert dict(MeshPartitioner(num_partitions=8).with_devices(pod).mesh.shape) == {
        "data": 8, "model": 8}
