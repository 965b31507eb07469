"""GPU launchers: the sbatch line, the per-node process placement, plain multi-node ssh."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

import pytest

from t5spec.launch import multinode, node, slurm

REPO = Path(__file__).resolve().parents[2]
JOB = ["--gin_file=gin/flant5_xl_spec.gin", "--model_dir=/shared/runs/xl", "--no_gin_check"]


def _commands(stdout: str) -> list[list[str]]:
    return [shlex.split(line) for line in stdout.splitlines() if line and not line.startswith("#")]


def test_sbatch_dry_run(capsys: pytest.CaptureFixture) -> None:
    code = slurm.main(["--nodes=4", "--gpus_per_node=8", "--partition=a100", "--time=2-00:00:00",
                       "--job_name=xl-spec", "--requeue", "--env=T5SPEC_DATA_DIR=/shared/data",
                       "--gin.DISTILL_WEIGHT=0.0", *JOB, "--dry_run"])
    out = capsys.readouterr().out
    assert code == 0, out
    (cmd,) = _commands(out)
    script = cmd.index(slurm.SBATCH_SCRIPT)
    flags, t5x_args = cmd[:script], cmd[script + 1:]
    assert flags[0] == "sbatch"
    assert {"--nodes=4", "--ntasks-per-node=1", "--gpus-per-node=8", "--partition=a100",
            "--time=2-00:00:00", "--job-name=xl-spec", "--requeue", "--parsable"} <= set(flags)
    (export,) = [f for f in flags if f.startswith("--export=")]
    assert export.removeprefix("--export=").split(",") == [
        "ALL", "T5SPEC_GPUS_PER_NODE=8", "T5SPEC_DATA_DIR=/shared/data"]
    assert t5x_args == ["--gin_file=gin/flant5_xl_spec.gin",
                        "--gin.MODEL_DIR='/shared/runs/xl'", "--gin.DISTILL_WEIGHT=0.0"]
    assert (REPO / slurm.SBATCH_SCRIPT).is_file()


def test_sbatch_script_runs_one_node_process_per_node() -> None:
    text = (REPO / slurm.SBATCH_SCRIPT).read_text()
    assert "#SBATCH --ntasks-per-node=1" in text
    assert "srun --kill-on-bad-exit=1 --ntasks-per-node=1" in text
    assert '-m t5spec.launch.node --gpus_per_node="${GPUS_PER_NODE}" -- "$@"' in text


def test_missing_sbatch_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert slurm.main(["--nodes=2", *JOB]) == 2
    assert "sbatch not found on PATH" in capsys.readouterr().err


def test_sbatch_rejects_commas_in_exported_values(capsys: pytest.CaptureFixture) -> None:
    assert slurm.main(["--nodes=1", "--env=X=a,b", *JOB, "--dry_run"]) == 2
    assert "commas" in capsys.readouterr().err


def _node_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    node.add_arguments(parser)
    return parser.parse_args([*argv, "--", "--gin_file=gin/flant5_xl_spec.gin"])


SLURM_ENV = {"SLURM_JOB_ID": "77", "SLURM_PROCID": "3", "SLURM_NTASKS": "4",
             "SLURM_LOCALID": "0", "SLURM_STEP_NODELIST": "gpu[1-4]"}


def test_node_under_slurm_leaves_discovery_to_jax_and_uses_all_local_gpus() -> None:
    argv, env = node.command(_node_args("--gpus_per_node=8", "--python=python3"), SLURM_ENV)
    assert argv == ["python3", "-m", "t5x.train", "--multiprocess_gpu",
                    "--gin_file=gin/flant5_xl_spec.gin"]
    assert env["JAX_LOCAL_DEVICE_IDS"] == "0,1,2,3,4,5,6,7"


def test_node_with_torchrun_style_environment() -> None:
    environ = {"MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500", "WORLD_SIZE": "2", "RANK": "1"}
    argv, _ = node.command(_node_args("--python=python3"), environ)
    assert argv[3:7] == ["--multiprocess_gpu", "--coordinator_address=10.0.0.1:29500",
                         "--process_count=2", "--process_index=1"]


def test_node_explicit_flags_win_and_cpu_devices_are_simulated() -> None:
    args = _node_args("--coordinator_address=127.0.0.1:1234", "--num_processes=2",
                      "--process_index=0", "--cpu_devices=4")
    argv, env = node.command(args, {**SLURM_ENV, "XLA_FLAGS": "--xla_dump_to=/tmp/x"})
    assert "--coordinator_address=127.0.0.1:1234" in argv
    assert env["XLA_FLAGS"] == "--xla_dump_to=/tmp/x --xla_force_host_platform_device_count=4"
    assert env["JAX_PLATFORMS"] == "cpu"


def test_node_without_a_scheduler_is_a_single_process() -> None:
    argv, env = node.command(_node_args("--python=python3"), {})
    assert argv == ["python3", "-m", "t5x.train", "--gin_file=gin/flant5_xl_spec.gin"]
    assert "JAX_LOCAL_DEVICE_IDS" not in env


@pytest.mark.parametrize("argv", [
    ("--coordinator_address=h:1", "--num_processes=2"),           # incomplete
    ("--coordinator_address=h", "--num_processes=2", "--process_index=0"),  # no port
    ("--coordinator_address=h:1", "--num_processes=2", "--process_index=2"),
])
def test_node_bad_placement_is_exit_2(argv: tuple[str, ...], capsys: pytest.CaptureFixture) -> None:
    assert node.main([*argv, "--dry_run", "--", "--gin_file=x"]) == 2
    assert "error" in capsys.readouterr().err


def test_node_dry_run_prints_the_exec_line(capsys: pytest.CaptureFixture,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in SLURM_ENV.items():
        monkeypatch.setenv(key, value)
    assert node.main(["--gpus_per_node=2", "--python=python3", "--dry_run", "--",
                      "--gin.MODEL_DIR='/x y'"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == ("JAX_LOCAL_DEVICE_IDS=0,1 python3 -m t5x.train "
                                    "--multiprocess_gpu \"--gin.MODEL_DIR='/x y'\"")
    assert "SLURM task 3 of 4" in captured.err


def test_multinode_dry_run_one_ssh_per_host(capsys: pytest.CaptureFixture) -> None:
    code = multinode.main(["--hosts=gpu-a,gpu-b,gpu-c", "--gpus_per_node=4", "--port=4000",
                           "--repo_dir=/shared/t5spec", "--env=T5SPEC_DATA_DIR=/shared/data",
                           *JOB, "--dry_run"])
    cmds = _commands(capsys.readouterr().out)
    assert code == 0 and len(cmds) == 3
    for index, (cmd, host) in enumerate(zip(cmds, ["gpu-a", "gpu-b", "gpu-c"], strict=True)):
        assert cmd[:4] == ["ssh", "-o", "BatchMode=yes", host]
        remote = shlex.split(cmd[4])
        assert remote[:4] == ["cd", "/shared/t5spec", "&&", "T5SPEC_DATA_DIR=/shared/data"]
        assert remote[4:7] == ["python3", "-m", "t5spec.launch.node"]
        assert {"--coordinator_address=gpu-a:4000", "--num_processes=3",
                f"--process_index={index}", "--gpus_per_node=4"} <= set(remote)
        assert remote[remote.index("--") + 1:] == ["--gin_file=gin/flant5_xl_spec.gin",
                                                   "--gin.MODEL_DIR='/shared/runs/xl'"]


def test_multinode_runs_hosts_in_parallel_and_stops_on_failure(capsys: pytest.CaptureFixture,
                                                               tmp_path: Path) -> None:
    # "ssh" replaced by a local shell: host names become shell snippets run side by side.
    job = multinode.TrainJob(("x.gin",), str(tmp_path))
    cmds = multinode.node_commands(["h0", "h1"], job, port=1, gpus_per_node=0,
                                   repo_dir=str(tmp_path), ssh=("bash", "-c"))
    ok = [multinode.Command(("bash", "-c", "echo hello from $0", name)) for name in ("a", "b")]
    assert multinode.run_parallel(ok, ["a", "b"]) == 0
    out = capsys.readouterr().out
    assert "[a] hello from a" in out and "[b] hello from b" in out
    failing = [multinode.Command(("bash", "-c", "exit 3")),
               multinode.Command(("bash", "-c", "sleep 30"))]
    assert multinode.run_parallel(failing, ["bad", "slow"]) == 3
    assert len(cmds) == 2 and cmds[0].argv[:2] == ("bash", "-c")


def test_multinode_rejects_duplicate_hosts(capsys: pytest.CaptureFixture) -> None:
    assert multinode.main(["--hosts=a,a", *JOB, "--dry_run"]) == 2
    assert "duplicate host" in capsys.readouterr().err
