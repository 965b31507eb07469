"""Plain multi-node GPU launch without a scheduler: one ssh per host, output streamed here.

Usage (``launch/multinode.sh`` wraps this module)::

    python -m t5spec.launch.multinode --hosts=gpu-a,gpu-b --gpus_per_node=8 \\
        --repo_dir=/shared/t5spec --gin_file=gin/flant5_xl_spec.gin \\
        --model_dir=/shared/runs/xl [--gin.NAME=VALUE ...] [--dry_run]

Host *i* runs ``python -m t5spec.launch.node --coordinator_address=HOST0:PORT
--num_processes=N --process_index=i`` in ``--repo_dir`` (the same checkout on every host, e.g.
a shared filesystem); every line it prints comes back prefixed with ``[host]``. If one host
fails, the others are stopped. ``--ssh`` replaces the ssh command (e.g. ``ssh -p 2222``).
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import threading
from collections.abc import Sequence

from t5spec.errors import EXIT_BAD_INPUT, InputError
from t5spec.launch import common
from t5spec.launch.commands import (
    Command,
    Runner,
    TrainJob,
    env_assignments,
    shell_join,
    shell_quote,
)


def node_commands(
    hosts: Sequence[str], job: TrainJob, *, port: int, gpus_per_node: int, repo_dir: str,
    ssh: Sequence[str] = ("ssh", "-o", "BatchMode=yes"),
) -> list[Command]:
    """One ssh command per host; host 0 is the coordinator."""
    if not hosts:
        raise InputError(None, "--hosts is empty", field="hosts")
    if len(set(hosts)) != len(hosts):
        raise InputError(None, f"duplicate host in {','.join(hosts)}", field="hosts")
    coordinator = f"{hosts[0]}:{port}"
    out = []
    for index, host in enumerate(hosts):
        node = [job.python, "-m", "t5spec.launch.node",
                f"--coordinator_address={coordinator}", f"--num_processes={len(hosts)}",
                f"--process_index={index}", f"--python={job.python}"]
        node += [f"--gpus_per_node={gpus_per_node}"] if gpus_per_node else []
        node += ["--", *job.gin_args()]
        remote = " ".join([f"cd {shell_quote(repo_dir)} &&", *env_assignments(job.env),
                           shell_join(node)])
        out.append(Command((*ssh, host, remote), f"process {index} of {len(hosts)} on {host}"))
    return out


def _pump(prefix: str, stream: object, lock: threading.Lock) -> None:
    for line in stream:  # type: ignore[attr-defined]
        with lock:
            sys.stdout.write(f"[{prefix}] {line}")
            sys.stdout.flush()


def run_parallel(commands: Sequence[Command], hosts: Sequence[str]) -> int:
    """Starts every command, streams their output, stops the rest when one fails."""
    lock = threading.Lock()
    procs, pumps = [], []
    for cmd, host in zip(commands, hosts, strict=True):
        proc = subprocess.Popen(list(cmd.argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        pump = threading.Thread(target=_pump, args=(host, proc.stdout, lock), daemon=True)
        pump.start()
        procs.append(proc)
        pumps.append(pump)
    status = 0
    while any(p.poll() is None for p in procs):
        for p in procs:
            try:
                code = p.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                continue
            if code and not status:
                status = code
                for other in procs:
                    if other.poll() is None:
                        other.terminate()
    for pump in pumps:
        pump.join(timeout=5)
    return status or max((p.returncode or 0) for p in procs)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hosts", required=True, help="comma-separated; the first coordinates")
    parser.add_argument("--gpus_per_node", type=int, default=8)
    parser.add_argument("--port", type=int, default=12355, help="coordinator port on host 0")
    parser.add_argument("--repo_dir", default=str(common.REPO_ROOT),
                        help="the checkout's path on the hosts")
    parser.add_argument("--ssh", default="ssh -o BatchMode=yes", help="ssh command to use")
    common.add_job_arguments(parser)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="launch/multinode.sh",
                                     description=__doc__.split("\n")[0])
    add_arguments(parser)
    args, gin_overrides = common.parse_with_gin_overrides(parser, argv)
    hosts = [h.strip() for h in args.hosts.split(",") if h.strip()]
    ssh = shlex.split(args.ssh)
    try:
        runner = Runner(dry_run=args.dry_run)
        runner.require(ssh[:1])
        job = common.job_from_args(args, gin_overrides)
        commands = node_commands(hosts, job, port=args.port, gpus_per_node=args.gpus_per_node,
                                 repo_dir=args.repo_dir, ssh=ssh)
    except InputError as e:
        print(f"launch/multinode.sh: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.dry_run:
        for cmd in commands:
            runner.run(cmd)
        return 0
    return run_parallel(commands, hosts)


if __name__ == "__main__":
    sys.exit(main())
