"""Cloud TPU VM pods: create a slice (queued resource), install the code, train, stream, delete.

Usage (``launch/tpu.sh`` wraps this module)::

    python -m t5spec.launch.tpu run --name=t5spec-xl --zone=us-central2-b --topology=v4-32 \\
        --spot --gin_file=gin/flant5_xl_spec.gin --model_dir=gs://BUCKET/t5spec/xl \\
        --env=T5SPEC_DATA_DIR=gs://BUCKET/t5spec/data [--gin.NAME=VALUE ...] [--dry_run]

Actions: ``create`` (queued resource, waits until ACTIVE), ``setup`` (copy the checkout to
every worker, pip install), ``train`` (``python -m t5x.train`` on ``--worker=all``; every
worker's output streams here and is appended to ``~/t5spec-train.log`` on it), ``logs``
(follow worker 0's log), ``delete``, and ``run`` = all of them. On a multi-host slice JAX
connects the workers itself (``jax.distributed`` auto-detects Cloud TPU), and T5X gives each
host its own SeqIO shard and writes orbax checkpoints collectively to ``MODEL_DIR``.

Preemption: when ``train`` fails and the queued resource is SUSPENDING/SUSPENDED (spot
capacity reclaimed), ``run`` deletes it and starts over (up to ``--max_restarts``); T5X's
``train`` restores the latest checkpoint in ``MODEL_DIR`` first, so the run resumes there.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from t5spec.errors import EXIT_BAD_INPUT, InputError
from t5spec.launch import common
from t5spec.launch.commands import Command, Runner, TrainJob
from t5spec.launch.topology import Topology, parse_topology

PREEMPTED_STATES = frozenset({"SUSPENDING", "SUSPENDED"})
FAILED_STATES = frozenset({"FAILED"})
REMOTE_DIR = "~/t5spec"
REMOTE_LOG = "~/t5spec-train.log"
REMOTE_DATA = "~/t5spec-data"  # T5SPEC_DATA_DIR there (t5spec.paths expands the ~)
ACTIONS = ("create", "setup", "train", "logs", "delete", "run")


@dataclasses.dataclass(frozen=True)
class TpuSlice:
    """A Cloud TPU slice requested as a queued resource (queued resource id = node id)."""

    name: str
    zone: str
    topology: Topology
    project: str | None = None
    runtime_version: str | None = None
    spot: bool = False
    reserved: bool = False

    def gcloud_scope(self) -> list[str]:
        scope = [f"--zone={self.zone}"]
        return scope + ([f"--project={self.project}"] if self.project else [])

    @property
    def runtime(self) -> str:
        return self.runtime_version or str(self.topology.family.runtime_version)


_QR = ("gcloud", "compute", "tpus", "queued-resources")
_VM = ("gcloud", "compute", "tpus", "tpu-vm")


def create_command(tpu: TpuSlice) -> Command:
    argv = [*_QR, "create", tpu.name, f"--node-id={tpu.name}", *tpu.gcloud_scope(),
            f"--accelerator-type={tpu.topology.name}", f"--runtime-version={tpu.runtime}"]
    argv += ["--spot"] if tpu.spot else []
    argv += ["--reserved"] if tpu.reserved else []
    kind = "spot" if tpu.spot else "reserved" if tpu.reserved else "on-demand"
    return Command(tuple(argv), f"request {tpu.topology.name} ({tpu.topology.hosts} workers, "
                                f"{kind}) as queued resource {tpu.name}")


def describe_command(tpu: TpuSlice) -> Command:
    return Command((*_QR, "describe", tpu.name, *tpu.gcloud_scope(),
                    "--format=value(state.state)"), "queued resource state")


def delete_command(tpu: TpuSlice) -> Command:
    return Command((*_QR, "delete", tpu.name, *tpu.gcloud_scope(), "--force", "--quiet"),
                   f"delete queued resource {tpu.name} and its TPU VMs (billing stops)")


def ssh_command(tpu: TpuSlice, script: str, *, worker: str = "all", purpose: str = "") -> Command:
    """``gcloud … tpu-vm ssh`` running the bash ``script`` on ``worker`` (``all``: every host)."""
    return Command((*_VM, "ssh", tpu.name, *tpu.gcloud_scope(), f"--worker={worker}",
                    f"--command={script}"), purpose)


def setup_commands(tpu: TpuSlice, repo: Path, wheels_dir: Path | None,
                   data_dir: Path | None = None) -> list[Command]:
    """Pack the checkout, copy it (T5X wheels, raw data) to every worker, pip install there.

    The raw data (GSM8K, BBH, … ~20 MB, read through local paths by the tasks) goes to
    ``~/t5spec-data`` on every worker (:data:`REMOTE_DATA`); the big aligned teacher shards
    stay on ``gs://`` (``--gin.ALIGNED_DATA``).
    """
    tarball = f"/tmp/t5spec-src-{tpu.name}.tgz"
    pack = Command(("tar", "-czf", tarball, "--exclude=.git", "--exclude=runs",
                    "--exclude=__pycache__", "--exclude=*.egg-info", "-C", str(repo), "."),
                   "pack the checkout")
    scp = [Command((*_VM, "scp", tarball, f"{tpu.name}:t5spec-src.tgz", *tpu.gcloud_scope(),
                    "--worker=all"), "copy it to every worker")]
    find_links = ""
    if wheels_dir is not None:
        scp.append(Command((*_VM, "scp", "--recurse", str(wheels_dir), f"{tpu.name}:t5spec-wheels",
                            *tpu.gcloud_scope(), "--worker=all"), "copy the T5X wheels"))
        find_links = "--find-links ~/t5spec-wheels "
    if data_dir is not None:
        scp.append(Command((*_VM, "scp", "--recurse", str(data_dir), f"{tpu.name}:t5spec-data",
                            *tpu.gcloud_scope(), "--worker=all"), "copy the raw data"))
    install = (f"set -e; mkdir -p {REMOTE_DIR} && tar -xzf ~/t5spec-src.tgz -C {REMOTE_DIR}"
               f" && cd {REMOTE_DIR} && python3 -m pip install -q {find_links}"
               '-c constraints.txt -e . "jax[tpu]"')
    return [pack, *scp, ssh_command(tpu, install, purpose="install t5spec + jax[tpu] on "
                                                          "every worker")]


def train_command(tpu: TpuSlice, job: TrainJob) -> Command:
    """``python -m t5x.train`` on every worker, output streamed and kept in a log there."""
    script = (f"set -o pipefail; cd {REMOTE_DIR} && {job.shell_line()} 2>&1 | "
              f"tee -a {REMOTE_LOG}")
    return ssh_command(tpu, script, purpose=f"train on all {tpu.topology.hosts} workers "
                                            f"(MODEL_DIR={job.model_dir})")


def logs_command(tpu: TpuSlice, worker: int = 0) -> Command:
    return ssh_command(tpu, f"tail -n 200 -F {REMOTE_LOG}", worker=str(worker),
                       purpose=f"follow worker {worker}'s training log")


def wait_active(runner: Runner, tpu: TpuSlice, *, poll_s: float, timeout_s: float) -> None:
    """Polls the queued resource until ACTIVE (prints one poll in dry runs)."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = runner.capture(describe_command(tpu), dry_value="ACTIVE")
        if state == "ACTIVE":
            return
        if state in FAILED_STATES or time.monotonic() > deadline:
            raise RuntimeError(f"queued resource {tpu.name} is {state or 'unknown'}; giving up")
        print(f"# {tpu.name} is {state}; waiting {poll_s:.0f}s", file=runner.out, flush=True)
        time.sleep(poll_s)


def run_all(runner: Runner, tpu: TpuSlice, job: TrainJob, args: argparse.Namespace) -> int:
    """create → setup → train, relaunching after preemption; delete at the end."""
    try:
        for attempt in range(args.max_restarts + 1):
            runner.run(create_command(tpu))
            wait_active(runner, tpu, poll_s=args.poll_seconds, timeout_s=args.wait_minutes * 60)
            for cmd in setup_commands(tpu, common.REPO_ROOT, args.wheels_dir, args.data_dir):
                runner.run(cmd)
            if runner.run(train_command(tpu, job), check=False) == 0:
                if runner.dry_run:
                    print("# if training fails and the state is SUSPENDING/SUSPENDED "
                          "(preempted): delete, then repeat from create; T5X resumes from the "
                          "latest checkpoint in MODEL_DIR", file=runner.out)
                return 0
            state = runner.capture(describe_command(tpu))
            if state not in PREEMPTED_STATES or attempt == args.max_restarts:
                print(f"# training failed (queued resource {state}); not relaunching",
                      file=runner.out)
                return 1
            print(f"# preempted ({state}), relaunch {attempt + 1}/{args.max_restarts}: "
                  "resuming from the latest checkpoint in MODEL_DIR", file=runner.out, flush=True)
            runner.run(delete_command(tpu))
        return 1
    finally:
        if not args.keep:
            runner.run(delete_command(tpu), check=False)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("--name", required=True, help="queued resource and TPU node name")
    parser.add_argument("--zone", required=True)
    parser.add_argument("--project", default=None, help="default: gcloud's configured project")
    parser.add_argument("--topology", default="v4-32", help="accelerator type, e.g. v5e-16")
    parser.add_argument("--runtime_version", default=None, help="default: per TPU generation")
    capacity = parser.add_mutually_exclusive_group()
    capacity.add_argument("--spot", action="store_true", help="spot capacity (preemptible)")
    capacity.add_argument("--reserved", action="store_true", help="use a reservation")
    parser.add_argument("--wheels_dir", type=common.optional_path,
                        default=common.default_wheels_dir(),
                        help="T5X wheels to install from (default: ../shared/wheels if present; "
                             "empty: none)")
    parser.add_argument("--data_dir", type=common.optional_path,
                        default=common.default_data_dir(),
                        help="raw data copied to every worker as ~/t5spec-data (default: "
                             "$T5SPEC_DATA_DIR or ../shared/data if present)")
    parser.add_argument("--max_restarts", type=int, default=3, help="relaunches on preemption")
    parser.add_argument("--poll_seconds", type=float, default=30.0)
    parser.add_argument("--wait_minutes", type=float, default=24 * 60.0)
    parser.add_argument("--worker", type=int, default=0, help="for logs")
    parser.add_argument("--keep", action="store_true", help="run: do not delete at the end")
    common.add_job_arguments(parser)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="launch/tpu.sh", description=__doc__.split("\n")[0])
    add_arguments(parser)
    args, gin_overrides = common.parse_with_gin_overrides(parser, argv)
    try:
        tpu = TpuSlice(args.name, args.zone, parse_topology(args.topology), args.project,
                       args.runtime_version, args.spot, args.reserved)
        if tpu.topology.family.platform != "tpu":
            raise InputError(None, f"{tpu.topology.name} is not a TPU topology", field="topology")
        runner = Runner(dry_run=args.dry_run)
        runner.require(["gcloud", "tar"])
        job = None
        if args.action in ("train", "run"):
            job = common.job_from_args(args, gin_overrides)
            if args.data_dir is not None and "T5SPEC_DATA_DIR" not in dict(job.env):
                job = dataclasses.replace(job, env=(*job.env, ("T5SPEC_DATA_DIR", REMOTE_DATA)))
        return _dispatch(runner, tpu, job, args)
    except InputError as e:
        print(f"launch/tpu.sh: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (subprocess.CalledProcessError, RuntimeError) as e:
        print(f"launch/tpu.sh: {e}", file=sys.stderr)
        return 1


def _dispatch(runner: Runner, tpu: TpuSlice, job: TrainJob | None,
              args: argparse.Namespace) -> int:
    if args.action == "create":
        runner.run(create_command(tpu))
        wait_active(runner, tpu, poll_s=args.poll_seconds, timeout_s=args.wait_minutes * 60)
    elif args.action == "setup":
        for cmd in setup_commands(tpu, common.REPO_ROOT, args.wheels_dir, args.data_dir):
            runner.run(cmd)
    elif args.action == "train":
        assert job is not None
        return runner.run(train_command(tpu, job), check=False)
    elif args.action == "logs":
        runner.run(logs_command(tpu, args.worker), check=False)
    elif args.action == "delete":
        runner.run(delete_command(tpu))
    else:
        assert job is not None
        return run_all(runner, tpu, job, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
