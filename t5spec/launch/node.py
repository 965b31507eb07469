"""One host's training process on a multi-node GPU (or simulated CPU) cluster.

Every node runs ``python -m t5spec.launch.node [flags] -- <t5x.train flags>``; it works out
this process's place in the job from the scheduler's environment and ``exec``s
``python -m t5x.train --multiprocess_gpu …``, so T5X calls ``jax.distributed.initialize``:

* explicit ``--coordinator_address/--num_processes/--process_index`` win;
* else under SLURM (``SLURM_JOB_ID``, ``SLURM_PROCID``, …) T5X gets only ``--multiprocess_gpu``
  and JAX's own SLURM detection finds coordinator, process count and index. With one task
  per node (what ``launch/slurm_train.sbatch`` asks for) we set ``JAX_LOCAL_DEVICE_IDS`` to
  all of the node's GPUs — otherwise JAX would give each task only GPU ``SLURM_LOCALID``;
* else the torchrun / Kubernetes convention ``MASTER_ADDR``, ``MASTER_PORT``, ``WORLD_SIZE``,
  ``RANK``;
* else a single process (no distributed initialization).

``--cpu_devices K`` simulates K devices per process on CPU (tests, laptops).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Mapping, Sequence

from t5spec.errors import EXIT_BAD_INPUT, InputError
from t5spec.launch.commands import env_assignments, shell_join


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where this process sits in the job.

    Attributes:
      source: ``"flags"``, ``"slurm"``, ``"env"`` (MASTER_ADDR…) or ``"single"``.
      t5x_flags: flags for ``t5x.train`` (``--multiprocess_gpu`` and maybe the triple).
      env: environment variables to set for the training process.
      describe: one human-readable line.
    """

    source: str
    t5x_flags: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    describe: str


def _explicit(coordinator: str, count: int, index: int) -> tuple[str, ...]:
    if ":" not in coordinator:
        raise InputError(None, f"coordinator {coordinator!r} must be HOST:PORT",
                         field="coordinator_address")
    if not 0 <= index < count:
        raise InputError(None, f"process index {index} not in [0, {count})",
                         field="process_index")
    return ("--multiprocess_gpu", f"--coordinator_address={coordinator}",
            f"--process_count={count}", f"--process_index={index}")


def placement(args: argparse.Namespace, environ: Mapping[str, str]) -> Placement:
    """Decides this process's distributed flags (see module docstring for the order)."""
    env: list[tuple[str, str]] = []
    if args.gpus_per_node:
        env.append(("JAX_LOCAL_DEVICE_IDS", ",".join(map(str, range(args.gpus_per_node)))))
    if args.coordinator_address or args.num_processes or args.process_index is not None:
        if not (args.coordinator_address and args.num_processes
                and args.process_index is not None):
            raise InputError(None, "give all of --coordinator_address, --num_processes, "
                             "--process_index (or none, to read the scheduler's environment)",
                             field="coordinator_address")
        flags = _explicit(args.coordinator_address, args.num_processes, args.process_index)
        return Placement("flags", flags, tuple(env), f"process {args.process_index} of "
                         f"{args.num_processes}, coordinator {args.coordinator_address}")
    if "SLURM_JOB_ID" in environ and "SLURM_PROCID" in environ:
        return Placement("slurm", ("--multiprocess_gpu",), tuple(env),
                         f"SLURM task {environ['SLURM_PROCID']} of "
                         f"{environ.get('SLURM_NTASKS', '?')} (job {environ['SLURM_JOB_ID']}, "
                         f"nodes {environ.get('SLURM_STEP_NODELIST', '?')}); "
                         "jax.distributed detects the coordinator")
    if "MASTER_ADDR" in environ and "WORLD_SIZE" in environ and "RANK" in environ:
        coordinator = f"{environ['MASTER_ADDR']}:{environ.get('MASTER_PORT', '1234')}"
        count, index = int(environ["WORLD_SIZE"]), int(environ["RANK"])
        return Placement("env", _explicit(coordinator, count, index), tuple(env),
                         f"process {index} of {count}, coordinator {coordinator} (MASTER_ADDR)")
    return Placement("single", (), tuple(env), "single process")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--coordinator_address", default=None, help="HOST:PORT of process 0")
    parser.add_argument("--num_processes", type=int, default=None)
    parser.add_argument("--process_index", type=int, default=None)
    parser.add_argument("--gpus_per_node", type=int, default=0,
                        help="one process drives this many local GPUs (sets "
                             "JAX_LOCAL_DEVICE_IDS); 0: leave JAX's default")
    parser.add_argument("--cpu_devices", type=int, default=0,
                        help="simulate this many CPU devices per process (testing)")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--dry_run", action="store_true", help="print the command, do not run")
    parser.add_argument("t5x_args", nargs=argparse.REMAINDER,
                        help="-- then the python -m t5x.train flags")


def command(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[list[str], dict]:
    """The argv and environment of the ``t5x.train`` process to exec."""
    where = placement(args, environ)
    t5x_args = list(args.t5x_args)
    if t5x_args[:1] == ["--"]:
        t5x_args = t5x_args[1:]
    env = dict(environ)
    env.update(where.env)
    if args.cpu_devices:
        env["JAX_PLATFORMS"] = "cpu"
        flags = env.get("XLA_FLAGS", "")
        env["XLA_FLAGS"] = (f"{flags} --xla_force_host_platform_device_count="
                            f"{args.cpu_devices}").strip()
    argv = [args.python, "-m", "t5x.train", *where.t5x_flags, *t5x_args]
    return argv, env


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m t5spec.launch.node",
                                     description=__doc__.split("\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        cmd, env = command(args, os.environ)
        where = placement(args, os.environ)
    except InputError as e:
        print(f"t5spec.launch.node: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    changed = [(k, v) for k, v in sorted(env.items()) if os.environ.get(k) != v]
    print(f"# {where.describe}", file=sys.stderr, flush=True)
    print(" ".join([*env_assignments(changed), shell_join(cmd)]),
          file=sys.stdout if args.dry_run else sys.stderr, flush=True)
    if args.dry_run:
        return 0
    os.execvpe(cmd[0], cmd, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
