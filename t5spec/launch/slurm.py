"""Submit T5X training to SLURM: ``sbatch`` of ``launch/slurm_train.sbatch`` on N × G GPUs.

Usage (``launch/slurm.sh`` wraps this module)::

    python -m t5spec.launch.slurm --nodes=2 --gpus_per_node=8 --partition=gpu \\
        --time=2-00:00:00 --gin_file=gin/flant5_xl_spec.gin --model_dir=/shared/runs/xl \\
        [--gin.NAME=VALUE ...] [--requeue] [--dry_run]

The gin config is resolved locally with the overrides first (exit 2 on unknown bindings),
MODEL_DIR must be writable, ``sbatch`` must be on PATH (unless ``--dry_run``). Prints the
job id. The job script runs one ``t5spec.launch.node`` task per node; see its docstring for
how ``jax.distributed.initialize`` is set up from SLURM's environment.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import subprocess
import sys
from collections.abc import Sequence

from t5spec.errors import EXIT_BAD_INPUT, InputError
from t5spec.launch import common
from t5spec.launch.commands import Command, Runner, TrainJob

SBATCH_SCRIPT = "launch/slurm_train.sbatch"


@dataclasses.dataclass(frozen=True)
class SlurmResources:
    """What to ask SLURM for; None fields are left to the cluster's defaults."""

    nodes: int
    gpus_per_node: int
    job_name: str = "t5spec"
    partition: str | None = None
    time: str | None = None
    account: str | None = None
    cpus_per_task: int | None = None
    log_dir: str = "slurm_logs"
    requeue: bool = False

    def validate(self) -> None:
        if self.nodes < 1 or self.gpus_per_node < 1:
            raise InputError(None, "need --nodes >= 1 and --gpus_per_node >= 1", field="nodes")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.job_name):
            raise InputError(None, f"job name {self.job_name!r}: use letters, digits, _.-",
                             field="job_name")


def sbatch_command(res: SlurmResources, job: TrainJob) -> Command:
    """The ``sbatch`` line: resources as flags, the job's env exported, T5X flags as args."""
    argv = ["sbatch", "--parsable", f"--job-name={res.job_name}", f"--nodes={res.nodes}",
            "--ntasks-per-node=1", f"--gpus-per-node={res.gpus_per_node}",
            f"--output={res.log_dir}/%x-%j.out"]
    for flag, value in (("partition", res.partition), ("time", res.time),
                        ("account", res.account), ("cpus-per-task", res.cpus_per_task)):
        if value is not None:
            argv.append(f"--{flag}={value}")
    argv += ["--requeue"] if res.requeue else []
    exports = ["ALL", f"T5SPEC_GPUS_PER_NODE={res.gpus_per_node}"]
    for name, value in job.env:
        if "," in value:
            raise InputError(None, f"--env {name}: sbatch --export cannot carry commas",
                             field="env")
        exports.append(f"{name}={value}")
    if job.python != "python3":
        exports.append(f"PYTHON={job.python}")
    argv.append("--export=" + ",".join(exports))
    argv += [SBATCH_SCRIPT, *job.gin_args()]
    return Command(tuple(argv), f"submit {res.nodes} node(s) x {res.gpus_per_node} GPU(s), "
                                f"MODEL_DIR={job.model_dir}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nodes", type=int, required=True)
    parser.add_argument("--gpus_per_node", type=int, default=8)
    parser.add_argument("--job_name", default="t5spec")
    parser.add_argument("--partition", default=None)
    parser.add_argument("--time", default=None, help="wall-clock limit, e.g. 2-00:00:00")
    parser.add_argument("--account", default=None)
    parser.add_argument("--cpus_per_task", type=int, default=None)
    parser.add_argument("--log_dir", default="slurm_logs")
    parser.add_argument("--requeue", action="store_true",
                        help="let SLURM requeue on preemption/node failure (resumes)")
    common.add_job_arguments(parser)


def resources_from_args(args: argparse.Namespace) -> SlurmResources:
    res = SlurmResources(args.nodes, args.gpus_per_node, args.job_name, args.partition,
                         args.time, args.account, args.cpus_per_task, args.log_dir, args.requeue)
    res.validate()
    return res


def submit(runner: Runner, res: SlurmResources, job: TrainJob) -> str:
    """Submits (or prints) the job; returns the SLURM job id (``DRYRUN`` in dry runs)."""
    if not runner.dry_run:
        (common.REPO_ROOT / res.log_dir).mkdir(parents=True, exist_ok=True)
    return runner.capture(sbatch_command(res, job), dry_value="DRYRUN").split(";")[0]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="launch/slurm.sh", description=__doc__.split("\n")[0])
    add_arguments(parser)
    args, gin_overrides = common.parse_with_gin_overrides(parser, argv)
    try:
        runner = Runner(dry_run=args.dry_run)
        runner.require(["sbatch"])
        res = resources_from_args(args)
        job = common.job_from_args(args, gin_overrides)
        job_id = submit(runner, res, job)
    except InputError as e:
        print(f"launch/slurm.sh: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except subprocess.CalledProcessError as e:
        print(f"launch/slurm.sh: sbatch failed ({e.returncode}): {e.stderr}", file=sys.stderr)
        return 1
    print(f"# submitted job {job_id}; logs: {res.log_dir}/{res.job_name}-{job_id}.out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
