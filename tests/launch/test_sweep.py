"""Sweeps: every shipped sweep file resolves; one job per override set; bad files → exit 2."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from t5spec.launch import sweep

REPO = Path(__file__).resolve().parents[2]
SWEEPS = sorted((REPO / "launch" / "sweeps").glob("*.yaml"))


def test_there_are_sweep_files() -> None:
    assert {p.name for p in SWEEPS} >= {"xl_paper.yaml", "base_lr_slurm.yaml"}


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_shipped_sweep_dry_run_checks_every_job_and_prints_a_table(
        path: Path, capsys: pytest.CaptureFixture) -> None:
    """Gin check on: every job's overrides must be real bindings of its gin file."""
    spec = sweep.load_sweep(path)
    code = sweep.main([str(path), "--dry_run"])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("job "))
    table = [[c.strip() for c in row.split("|")] for row in lines[header + 1:]]
    assert [r[0] for r in table] == [f"{spec['name']}-{j['name']}" for j in spec["jobs"]]
    root = spec["model_dir_root"].rstrip("/")
    assert [r[1] for r in table] == [f"{root}/{j['name']}" for j in spec["jobs"]]
    assert all(r[3] == "dry run" for r in table)
    launched = [shlex.split(line) for line in lines[:header] if line and line[0] != "#"]
    assert len(launched) == len(spec["jobs"])
    script = "launch/tpu.sh" if spec["platform"] == "tpu" else "launch/slurm.sh"
    for cmd, job in zip(launched, spec["jobs"], strict=True):
        assert cmd[0] == script
        assert f"--model_dir={root}/{job['name']}" in cmd
        for name in job.get("overrides") or {}:
            assert any(a.startswith(f"--gin.{name}=") for a in cmd)


def test_job_overrides_replace_shared_ones_and_model_dir_follows_the_name(
        tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: abl\nplatform: slurm\ngin_file: gin/flant5_base_spec.gin\n"
        "model_dir_root: /runs/abl/\noverrides: {DISTILL_WEIGHT: 1.0, RENORMALIZE_TEACHER: false}\n"
        "slurm: {nodes: 2, gpus_per_node: 4, requeue: true, account: null}\n"
        "jobs:\n  - name: a\n  - name: b\n    overrides: {DISTILL_WEIGHT: 0.5}\n")
    jobs = sweep.build_jobs(sweep.load_sweep(path), str(path))
    assert [j.job.model_dir for j in jobs] == ["/runs/abl/a", "/runs/abl/b"]
    assert jobs[0].job.overrides == ("DISTILL_WEIGHT=1.0", "RENORMALIZE_TEACHER=False")
    assert jobs[1].job.overrides == ("DISTILL_WEIGHT=0.5", "RENORMALIZE_TEACHER=False")
    argv = jobs[1].command.argv
    assert argv[:2] == ("launch/slurm.sh", "--job_name=abl-b")
    assert {"--nodes=2", "--gpus_per_node=4", "--requeue"} <= set(argv)
    assert not any(a.startswith("--account") for a in argv)
    assert sweep.build_jobs(sweep.load_sweep(path), str(path), only=["b"])[0].name == "abl-b"


@pytest.mark.parametrize("body,message", [
    ("name: x\nplatform: tpu\ngin_file: g\nmodel_dir_root: gs://b/r\njobs: []\n", "non-empty"),
    ("name: x\nplatform: aws\ngin_file: g\nmodel_dir_root: gs://b/r\njobs: [{name: a}]\n",
     "platform"),
    ("name: X_1\nplatform: tpu\ngin_file: g\nmodel_dir_root: gs://b/r\njobs: [{name: a}]\n",
     "lowercase"),
    ("name: x\nplatform: tpu\ngin_file: g\nmodel_dir_root: gs://b/r\n"
     "jobs: [{name: a}, {name: a}]\n", "unique"),
    ("name: x\nplatform: tpu\ngin_file: g\nmodel_dir_root: gs://b/r\njob: []\n", "unknown key"),
    ("name: x\nplatform: tpu\ngin_file: g\njobs: [{name: a}]\n", "model_dir_root"),
    ("name: x\nplatform: tpu\ngin_file: g\nmodel_dir_root: gs://b/r\n"
     "jobs: [{name: a, overides: {}}]\n", "{name, overrides}"),
    ("[1, 2", "not YAML"),
])
def test_bad_sweep_file_is_exit_2(body: str, message: str, tmp_path: Path,
                                  capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    assert sweep.main([str(path), "--dry_run", "--no_gin_check"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and message in err


def test_unknown_binding_in_any_job_stops_the_whole_sweep(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\nplatform: tpu\ngin_file: [gin/flant5_small_spec.gin]\n"
        "model_dir_root: gs://b/r\ntpu: {zone: z, topology: v4-8}\n"
        "jobs:\n  - name: good\n    overrides: {DISTILL_WEIGHT: 0.0}\n"
        "  - name: typo\n    overrides: {DISTIL_WEIGHT: 0.0}\n")
    assert sweep.main([str(path), "--dry_run"]) == 2
    captured = capsys.readouterr()
    assert "DISTIL_WEIGHT" in captured.err
    assert "launch/tpu.sh" not in captured.out  # nothing launched, not even the good job


def test_table_lists_what_was_launched() -> None:
    job = sweep.SweepJob("s-a", sweep.TrainJob(("g.gin",), "/r/a"), {"X": "1"},
                         sweep.Command(("true",)))
    table = sweep.format_table([job], {"s-a": "job 123"}).splitlines()
    assert [c.strip() for c in table[1].split("|")] == ["s-a", "/r/a", "X=1", "job 123"]
