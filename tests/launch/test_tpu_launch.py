"""Cloud TPU launcher: the printed commands, preemption → relaunch, and bad input (exit 2)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from t5spec.launch import tpu

FAKE_GCLOUD = Path(__file__).parent / "fake_gcloud"
BASE = ["--name=t5spec-xl", "--zone=us-central2-b", "--topology=v4-32",
        "--gin_file=gin/flant5_xl_spec.gin", "--model_dir=gs://bkt/t5spec/xl"]


def _commands(stdout: str) -> list[list[str]]:
    return [shlex.split(line) for line in stdout.splitlines() if line and not line.startswith("#")]


def _find(cmds: list[list[str]], *words: str) -> list[list[str]]:
    return [c for c in cmds if all(w in c for w in words)]


def test_dry_run_prints_the_whole_lifecycle(capsys: pytest.CaptureFixture) -> None:
    code = tpu.main(["run", *BASE, "--spot", "--env=T5SPEC_DATA_DIR=/data/t5spec",
                     "--gin.DISTILL_WEIGHT=0.0",
                     "--gin.ALIGNED_DATA='gs://bkt/aligned/gsm8k_train-*.tfrecord'",
                     "--dry_run"])
    out = capsys.readouterr().out
    assert code == 0, out
    cmds = _commands(out)
    assert next(c[:5] for c in cmds if c[0] == "gcloud") == \
        ["gcloud", "compute", "tpus", "queued-resources", "create"]
    (create,) = _find(cmds, "create")
    assert {"t5spec-xl", "--node-id=t5spec-xl", "--accelerator-type=v4-32",
            "--runtime-version=tpu-ubuntu2204-base", "--spot",
            "--zone=us-central2-b"} <= set(create)
    scps = _find(cmds, "scp")
    assert scps and all("--worker=all" in c for c in scps)
    ssh = _find(cmds, "ssh", "--worker=all")
    assert len(ssh) == 2  # install, train
    (train,) = [c for c in ssh if any("t5x.train" in w for w in c)]
    remote = next(w for w in train if w.startswith("--command=")).removeprefix("--command=")
    words = shlex.split(remote.split("|")[0].split("&&", 1)[1])
    assert words[:4] == ["T5SPEC_DATA_DIR=/data/t5spec", "python3", "-m", "t5x.train"]
    assert "--gin_file=gin/flant5_xl_spec.gin" in words
    assert "--gin.MODEL_DIR='gs://bkt/t5spec/xl'" in words
    assert "--gin.DISTILL_WEIGHT=0.0" in words
    assert "--gin.ALIGNED_DATA='gs://bkt/aligned/gsm8k_train-*.tfrecord'" in words
    assert "tee -a ~/t5spec-train.log" in remote and remote.startswith("set -o pipefail;")
    assert cmds[-1][:5] == ["gcloud", "compute", "tpus", "queued-resources", "delete"]
    assert {"--force", "--quiet"} <= set(cmds[-1])
    assert "T5X resumes from the latest checkpoint in MODEL_DIR" in out


def test_data_dir_is_shipped_and_used_on_the_workers(capsys: pytest.CaptureFixture,
                                                     tmp_path: Path) -> None:
    code = tpu.main(["run", *BASE, f"--data_dir={tmp_path}", "--no_gin_check", "--dry_run"])
    cmds = _commands(capsys.readouterr().out)
    assert code == 0
    assert _find(cmds, "scp", "--recurse", str(tmp_path), "t5spec-xl:t5spec-data")
    (train,) = [c for c in _find(cmds, "ssh") if any("t5x.train" in w for w in c)]
    assert "T5SPEC_DATA_DIR='~/t5spec-data' python3 -m t5x.train" in " ".join(train)


@pytest.mark.parametrize("topology,runtime,hosts", [
    ("v5e-16", "v2-alpha-tpuv5-lite", 4), ("v5p-128", "v2-alpha-tpuv5", 16),
    ("v4-8", "tpu-ubuntu2204-base", 1)])
def test_create_uses_the_generation_runtime(topology: str, runtime: str, hosts: int,
                                            capsys: pytest.CaptureFixture) -> None:
    args = [a if not a.startswith("--topology") else f"--topology={topology}" for a in BASE]
    assert tpu.main(["create", *args, "--dry_run"]) == 0
    out = capsys.readouterr().out
    (create,) = _find(_commands(out), "create")
    assert f"--runtime-version={runtime}" in create
    assert f"({hosts} workers, on-demand)" in out


def _fake_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "gcloud"
    state.mkdir()
    monkeypatch.setenv("FAKE_GCLOUD_DIR", str(state))
    monkeypatch.setenv("PATH", f"{FAKE_GCLOUD}{os.pathsep}{os.environ['PATH']}")
    return state


def test_preempted_run_is_relaunched_and_deleted(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    state = _fake_env(tmp_path, monkeypatch)
    (state / "preempt_once").touch()
    code = tpu.main(["run", "--name=t5spec-preempt-test", "--zone=z", "--topology=v4-16",
                     "--gin_file=gin/flant5_xl_spec.gin", f"--model_dir={tmp_path}/model",
                     "--no_gin_check", "--poll_seconds=0", "--wheels_dir=", "--data_dir=",
                     "--max_restarts=2"])
    calls = [shlex.split(line) for line in (state / "calls").read_text().splitlines()]
    verbs = [c[2] + " " + c[3] for c in calls]  # argv after "gcloud compute tpus"
    assert code == 0
    assert verbs == [
        "queued-resources create", "queued-resources describe", "tpu-vm scp", "tpu-vm ssh",
        "tpu-vm ssh",  # training: preempted
        "queued-resources describe", "queued-resources delete",
        "queued-resources create", "queued-resources describe", "tpu-vm scp", "tpu-vm ssh",
        "tpu-vm ssh",  # training again, same MODEL_DIR: T5X resumes from its checkpoint
        "queued-resources delete",
    ]
    trains = [c for c in calls if any("t5x.train" in w for w in c)]
    assert len(trains) == 2 and trains[0] == trains[1]
    assert f"--gin.MODEL_DIR='{tmp_path}/model'" in trains[0][-1]


def test_failed_training_that_was_not_preempted_is_not_relaunched(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = _fake_env(tmp_path, monkeypatch)
    fail = tmp_path / "bin"
    fail.mkdir()
    (fail / "gcloud").write_text(  # training fails, resource stays ACTIVE
        "#!/usr/bin/env bash\ncase \"$*\" in *t5x.train*) "
        f"printf '%q ' \"$@\" >> {state}/calls; echo >> {state}/calls; exit 1;; esac\n"
        f"exec {FAKE_GCLOUD}/gcloud \"$@\"\n")
    (fail / "gcloud").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fail}{os.pathsep}{os.environ['PATH']}")
    code = tpu.main(["run", "--name=t5spec-fail-test", "--zone=z", "--topology=v4-16",
                     "--gin_file=gin/flant5_xl_spec.gin", f"--model_dir={tmp_path}/m",
                     "--no_gin_check", "--poll_seconds=0", "--wheels_dir=", "--data_dir="])
    calls = (state / "calls").read_text()
    assert code == 1
    assert calls.count("queued-resources create") == 1
    assert calls.count("queued-resources delete") == 1  # still cleaned up


def test_missing_gcloud_is_exit_2_before_anything(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert tpu.main(["run", *BASE, "--no_gin_check"]) == 2
    assert "gcloud" in capsys.readouterr().err


@pytest.mark.parametrize("extra,message", [
    (["--topology=v9-32"], "unknown topology 'v9-32'"),
    (["--topology=v4-24"], "v4 comes in sizes"),
    (["--topology=h100-8"], "not a TPU topology"),
    (["--model_dir=relative/dir"], "MODEL_DIR must be absolute"),
    (["--model_dir=s3://bucket/x"], "gs://BUCKET"),
    (["--model_dir=/etc/hostname/run"], "not writable"),
    (["--gin.LEARNING_RATE"], "not NAME=VALUE"),
    (["--gin.MODEL_DIR='gs://x/y'"], "set MODEL_DIR with --model_dir"),
])
def test_bad_input_is_exit_2_before_anything_is_created(
        extra: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    state = _fake_env(tmp_path, monkeypatch)
    args = [a for a in BASE if a.split("=")[0] not in {e.split("=")[0] for e in extra}]
    assert tpu.main(["run", *args, *extra, "--no_gin_check"]) == 2
    assert message in capsys.readouterr().err
    assert not (state / "calls").exists()


def test_unknown_gin_binding_is_exit_2_before_anything_is_created(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    state = _fake_env(tmp_path, monkeypatch)
    code = tpu.main(["run", *BASE[:-1], f"--model_dir={tmp_path}/m",
                     "--gin.spec_models.SpecializationModel.distill_wieght=0.5"])
    err = capsys.readouterr().err
    assert code == 2
    assert "gin/flant5_xl_spec.gin" in err and "distill_wieght" in err
    assert not (state / "calls").exists()
