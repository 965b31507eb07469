"""Sweeps: a YAML file of named override sets → one training job each.

Usage (``launch/sweep.sh`` wraps this module)::

    python -m t5spec.launch.sweep launch/sweeps/xl_paper.yaml [--only NAME ...] \\
        [--model_dir_root=gs://BUCKET/t5spec/sweeps/xl_paper] [--dry_run]

File format (every key but ``jobs`` is shared by all jobs; see ``launch/sweeps/*.yaml``)::

    name: xl_paper                  # job-name prefix (lowercase letters, digits, '-')
    platform: tpu                   # tpu | slurm
    gin_file: [gin/flant5_xl_spec.gin]
    model_dir_root: gs://BUCKET/t5spec/sweeps/xl_paper   # MODEL_DIR = <root>/<job name>
    env: {T5SPEC_DATA_DIR: gs://BUCKET/t5spec/data}
    overrides: {ALIGNED_DATA: "'gs://BUCKET/aligned/gsm8k_train-*.tfrecord'"}
    tpu: {zone: us-central2-b, topology: v4-32, spot: true}      # launch/tpu.sh flags
    slurm: {nodes: 2, gpus_per_node: 8, partition: gpu}        # launch/slurm.sh flags
    jobs:
      - name: distill
        overrides: {DISTILL_WEIGHT: 1.0}

Override values are gin expressions (as after ``--gin.NAME=``): a gin string keeps its
quotes inside the YAML string, ``"'t5spec_gsm8k_spec_in_context'"``; numbers and booleans
may be written bare. Every job is checked (gin resolves with its overrides, MODEL_DIR form)
before the first one is launched. Then each job is one ``launch/tpu.sh run`` (in the
background, log in ``--log_dir``) or one ``sbatch``; a table of what was launched is printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from t5spec.errors import EXIT_BAD_INPUT, InputError
from t5spec.launch import common
from t5spec.launch.commands import Command, Runner, TrainJob, parse_env, parse_overrides

PLATFORMS = ("tpu", "slurm")
_NAME = re.compile(r"[a-z][a-z0-9-]{0,40}")
_TOP_KEYS = {"name", "platform", "gin_file", "model_dir_root", "env", "overrides", "tpu",
             "slurm", "jobs"}


@dataclasses.dataclass(frozen=True)
class SweepJob:
    """One job of a sweep: its full name, the training job, the launch command."""

    name: str
    job: TrainJob
    overrides: dict[str, str]
    command: Command


def _gin_value(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if value is None:
        return "None"
    return str(value)


def _mapping(path: str, spec: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = spec.get(key) or {}
    if not isinstance(value, Mapping):
        raise InputError(path, f"{key} must be a mapping", where=where, field=key)
    return dict(value)


def load_sweep(path: str | Path, model_dir_root: str | None = None) -> dict[str, Any]:
    """Reads and checks the sweep file's structure (names, keys, platform)."""
    import yaml

    path = str(path)
    try:
        with open(path, encoding="utf-8") as f:
            spec = yaml.safe_load(f)
    except OSError as e:
        raise InputError(path, f"cannot read: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise InputError(path, f"not YAML: {e}") from e
    if not isinstance(spec, dict):
        raise InputError(path, "a sweep file is a mapping with a 'jobs' list")
    unknown = set(spec) - _TOP_KEYS
    if unknown:
        raise InputError(path, f"unknown key(s) {sorted(unknown)}; known: {sorted(_TOP_KEYS)}")
    for key in ("name", "platform", "gin_file", "jobs"):
        if key not in spec:
            raise InputError(path, "missing", field=key)
    if spec["platform"] not in PLATFORMS:
        raise InputError(path, f"platform must be one of {PLATFORMS}", field="platform")
    if not _NAME.fullmatch(str(spec["name"])):
        raise InputError(path, f"name {spec['name']!r}: lowercase letters, digits, '-'",
                         field="name")
    spec["model_dir_root"] = model_dir_root or spec.get("model_dir_root")
    if not spec["model_dir_root"]:
        raise InputError(path, "missing (or pass --model_dir_root)", field="model_dir_root")
    if not isinstance(spec["jobs"], list) or not spec["jobs"]:
        raise InputError(path, "jobs must be a non-empty list", field="jobs")
    seen: set[str] = set()
    for i, job in enumerate(spec["jobs"]):
        where = f"jobs[{i}]"
        if not isinstance(job, dict) or set(job) - {"name", "overrides"}:
            raise InputError(path, "each job is {name, overrides}", where=where)
        name = str(job.get("name", ""))
        if not _NAME.fullmatch(name) or name in seen:
            raise InputError(path, f"job name {name!r} must be unique, lowercase letters, "
                             "digits, '-'", where=where, field="name")
        seen.add(name)
        _mapping(path, job, "overrides", where)
    return spec


def _gin_files(spec: Mapping[str, Any]) -> tuple[str, ...]:
    files = spec["gin_file"]
    return tuple([files] if isinstance(files, str) else [str(f) for f in files])


def build_jobs(spec: Mapping[str, Any], path: str, only: Sequence[str] = ()) -> list[SweepJob]:
    """Each job of ``spec`` with MODEL_DIR ``<model_dir_root>/<job name>`` and its command."""
    base_overrides = _mapping(path, spec, "overrides", "top level")
    env = tuple(parse_env([f"{k}={v}" for k, v in _mapping(path, spec, "env", "top").items()]))
    platform_flags = _mapping(path, spec, spec["platform"], "top level")
    unknown_only = set(only) - {str(j["name"]) for j in spec["jobs"]}
    if unknown_only:
        raise InputError(path, f"--only names unknown job(s) {sorted(unknown_only)}")
    out = []
    for raw in spec["jobs"]:
        if only and raw["name"] not in only:
            continue
        overrides = {**base_overrides, **(raw.get("overrides") or {})}
        text = {k: _gin_value(v) for k, v in overrides.items()}
        job = TrainJob(
            gin_files=_gin_files(spec),
            model_dir=f"{str(spec['model_dir_root']).rstrip('/')}/{raw['name']}",
            overrides=parse_overrides([f"{k}={v}" for k, v in text.items()]),
            env=env,
        )
        name = f"{spec['name']}-{raw['name']}"
        out.append(SweepJob(name, job, text, _launch_command(spec["platform"], name, job,
                                                            platform_flags)))
    return out


def _flag(key: str, value: Any) -> list[str]:
    if value is True:
        return [f"--{key}"]
    if value is False or value is None:
        return []
    return [f"--{key}={value}"]


def _launch_command(platform: str, name: str, job: TrainJob, flags: Mapping[str, Any]) -> Command:
    """``launch/tpu.sh run …`` or ``launch/slurm.sh …`` for one job (gin checked already)."""
    common_args = [*(f"--gin_file={f}" for f in job.gin_files), f"--model_dir={job.model_dir}",
                   *(f"--env={k}={v}" for k, v in job.env), "--no_gin_check",
                   *(f"--gin.{o}" for o in job.overrides)]
    extra = [a for k, v in flags.items() for a in _flag(k, v)]
    if platform == "tpu":
        argv = ["launch/tpu.sh", "run", f"--name={name}", *extra, *common_args]
    else:
        argv = ["launch/slurm.sh", f"--job_name={name}", *extra, *common_args]
    return Command(tuple(argv), f"{name}: MODEL_DIR={job.model_dir}")


def format_table(jobs: Sequence[SweepJob], launched: Mapping[str, str]) -> str:
    """``name | MODEL_DIR | overrides | launched as`` as an aligned text table."""
    rows = [("job", "MODEL_DIR", "overrides", "launched")]
    for j in jobs:
        rows.append((j.name, j.job.model_dir,
                     " ".join(f"{k}={v}" for k, v in j.overrides.items()) or "-",
                     launched.get(j.name, "-")))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


def launch(jobs: Sequence[SweepJob], platform: str, *, dry_run: bool, log_dir: Path) -> dict:
    """Starts each job; returns name → job id / log file / 'printed'."""
    launched = {}
    runner = Runner(dry_run=dry_run)
    for j in jobs:
        if dry_run:
            runner.run(j.command)
            launched[j.name] = "dry run"
        elif platform == "slurm":
            launched[j.name] = runner.capture(j.command).strip().splitlines()[-1].lstrip("# ")
        else:
            log_dir.mkdir(parents=True, exist_ok=True)
            log = log_dir / f"{j.name}.log"
            print(f"# {j.command.purpose}\n{j.command.shell()} > {log} 2>&1 &", flush=True)
            with open(log, "ab") as f:
                proc = subprocess.Popen(list(j.command.argv), stdout=f, stderr=subprocess.STDOUT,
                                        cwd=common.REPO_ROOT, start_new_session=True)
            launched[j.name] = f"pid {proc.pid}, log {log}"
    return launched


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="launch/sweep.sh", description=__doc__.split("\n")[0])
    parser.add_argument("sweep_file")
    parser.add_argument("--only", action="append", default=[], help="launch only these jobs")
    parser.add_argument("--model_dir_root", default=None, help="replaces the file's root")
    parser.add_argument("--log_dir", type=Path, default=Path("sweep_logs"))
    parser.add_argument("--dry_run", action="store_true")
    parser.add_argument("--no_gin_check", action="store_true")
    args = parser.parse_args(argv)
    try:
        spec = load_sweep(args.sweep_file, args.model_dir_root)
        jobs = build_jobs(spec, args.sweep_file, args.only)
        Runner(dry_run=args.dry_run).require(
            ["gcloud"] if spec["platform"] == "tpu" else ["sbatch"])
        for j in jobs:  # every job is checked before the first is launched
            common.preflight(j.job, dry_run=args.dry_run, gin_check=not args.no_gin_check)
    except InputError as e:
        print(f"launch/sweep.sh: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        launched = launch(jobs, spec["platform"], dry_run=args.dry_run, log_dir=args.log_dir)
    except subprocess.CalledProcessError as e:
        print(f"launch/sweep.sh: launching failed: {e}", file=sys.stderr)
        return 1
    print(format_table(jobs, launched))
    return 0


if __name__ == "__main__":
    sys.exit(main())
