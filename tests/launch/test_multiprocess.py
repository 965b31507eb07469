"""A real multi-process T5X run on 127.0.0.1 equals the single-process run, through restore.

Same config (gin/flant5_small_spec.gin + gin/cpu_tiny.gin + tests/launch/multiprocess.gin:
tiny T5, explicit (data=4, model=2) mesh, no shuffling/packing), three launches:

1. single process, 8 simulated CPU devices, steps 0→4;
2. two processes × 4 devices, ``jax.distributed`` through T5X's ``--multiprocess_gpu`` flags
   with an explicit 127.0.0.1 coordinator (``python -m t5spec.launch.node``), steps 0→2,
   orbax checkpoint (and every process's data position) at step 2;
3. the same two processes relaunched through ``launch/slurm_train.sbatch`` with a stand-in
   ``srun`` that sets SLURM's per-task environment: JAX's own SLURM detection finds the
   coordinator; T5X restores checkpoint_2 from MODEL_DIR and trains to step 4.

The per-step training losses of (2)+(3) must equal (1) to 1e-5 relative, and so must every
parameter of checkpoint_2 (written by two processes) and checkpoint_4 (after the restore).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
GIN = ["--gin_file=gin/flant5_small_spec.gin", "--gin_file=gin/cpu_tiny.gin",
       "--gin_file=tests/launch/multiprocess.gin"]
SLURM_PORT_BASE = 65535 - 2**12 + 1  # JAX's SlurmCluster: port = job id % 4096 + this
LAUNCH_TIMEOUT_S = 900


def _free_port(lo: int = 0, hi: int = 0) -> int:
    for port in range(lo, hi) if lo else [0]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def _env(cache: Path, **extra: str) -> dict[str, str]:
    """Clean environment; JAX's persistent compilation cache shared by the launches."""
    env = dict(os.environ)
    for key in [k for k in env if k.startswith("SLURM_")]:
        del env[key]
    env.update(JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2",
               JAX_COMPILATION_CACHE_DIR=str(cache), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0", **extra)
    return env


def _run_all(cmds: list[list[str]], logs: list[Path], env: dict[str, str]) -> None:
    procs = []
    for cmd, log in zip(cmds, logs, strict=True):
        with open(log, "w") as f:
            procs.append(subprocess.Popen(cmd, cwd=REPO, env=env, stdout=f,
                                          stderr=subprocess.STDOUT))
    try:
        codes = [p.wait(timeout=LAUNCH_TIMEOUT_S) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for code, log in zip(codes, logs, strict=True):
        assert code == 0, f"{log} (exit {code}):\n" + log.read_text()[-4000:]


def _node(model_dir: Path, steps: int, devices: int, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "t5spec.launch.node", f"--cpu_devices={devices}", *extra,
            "--", *GIN, f"--gin.MODEL_DIR='{model_dir}'", f"--gin.TRAIN_STEPS={steps}"]


def _params(checkpoint: Path) -> dict[str, np.ndarray]:
    """A T5X checkpoint's parameters by their '/'-joined path."""
    from t5spec.models.t5x_checkpoint import read_t5x_params

    flat: dict[str, np.ndarray] = {}

    def walk(tree: object, prefix: str) -> None:
        if isinstance(tree, dict):
            for key, value in tree.items():
                walk(value, f"{prefix}/{key}" if prefix else str(key))
        else:
            flat[prefix] = np.asarray(tree)

    walk(read_t5x_params(checkpoint), "")
    return flat


def _assert_same_params(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> float:
    """Every parameter equal within 1e-5 (relative; 1e-6 absolute); returns the largest
    absolute difference."""
    assert sorted(got) == sorted(want) and want
    for name, value in want.items():
        assert got[name].shape == value.shape, name
        np.testing.assert_allclose(got[name], value, rtol=1e-5, atol=1e-6, err_msg=name)
    return max(float(np.max(np.abs(got[n] - want[n]))) for n in want)


def _losses(model_dir: Path, tag: str = "loss") -> dict[int, float]:
    import tensorflow as tf

    out: dict[int, float] = {}
    for path in sorted((model_dir / "train").glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag == tag:
                    out[int(event.step)] = float(tf.make_ndarray(value.tensor))
    return out


@pytest.mark.slow
def test_two_processes_match_one_through_checkpoint_restore(tmp_path: Path) -> None:
    single, multi, cache = tmp_path / "single", tmp_path / "multi", tmp_path / "jax_cache"

    _run_all([_node(single, 4, 8, [])], [tmp_path / "single.log"], _env(cache))

    port = _free_port()
    coordinator = [f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2"]
    _run_all([_node(multi, 2, 4, [*coordinator, f"--process_index={i}"]) for i in (0, 1)],
             [tmp_path / f"multi_a{i}.log" for i in (0, 1)], _env(cache))
    assert (multi / "checkpoint_2").is_dir()
    assert not (multi / "checkpoint_4").exists()

    job_id = _free_port(SLURM_PORT_BASE, 65536) - SLURM_PORT_BASE
    slurm_env = _env(
        cache,
        PATH=f"{REPO / 'tests/launch/bin'}{os.pathsep}{os.environ['PATH']}",
        SLURM_JOB_ID=str(job_id), SLURM_JOB_NUM_NODES="2", SLURM_JOB_NODELIST="127.0.0.1",
        FAKE_SRUN_LOG_PREFIX=str(tmp_path / "multi_b"), T5SPEC_GPUS_PER_NODE="4",
        XLA_FLAGS="--xla_force_host_platform_device_count=4", PYTHON=sys.executable,
    )
    _run_all([["bash", "launch/slurm_train.sbatch", *GIN, f"--gin.MODEL_DIR='{multi}'",
               "--gin.TRAIN_STEPS=4"]], [tmp_path / "sbatch.log"], slurm_env)
    task0 = (tmp_path / "multi_b.0").read_text()
    assert f"Connecting to JAX distributed service on 127.0.0.1:{SLURM_PORT_BASE + job_id}" \
        in task0
    assert f"Restoring checkpoint from {multi}/checkpoint_2" in task0

    # Each process checkpointed its own data position; metrics came from process 0 only.
    assert sorted(p.name for p in (multi / "checkpoint_2" / "dataset").glob("process_*")) == [
        "process_0-of-2", "process_1-of-2"]
    assert len(list((multi / "train").glob("events.out.tfevents.*"))) == 2  # one per launch

    want, got = _losses(single), _losses(multi)
    assert sorted(want) == sorted(got) == [1, 2, 3, 4], (want, got)
    np.testing.assert_allclose([got[s] for s in range(1, 5)], [want[s] for s in range(1, 5)],
                               rtol=1e-5)
    assert len(set(want.values())) == 4  # a different batch (and parameters) every step
    print("per-step loss single:", want, "multi:", got)

    for step in (2, 4):  # written by two processes; then after the restore
        diff = _assert_same_params(_params(multi / f"checkpoint_{step}"),
                                   _params(single / f"checkpoint_{step}"))
        print(f"checkpoint_{step}: largest parameter difference {diff:.3g}")
    moved = [n for n, v in _params(single / "checkpoint_2").items()
             if not np.array_equal(v, _params(single / "checkpoint_4")[n])]
    assert moved  # steps 3-4 changed the parameters: the comparison is not of two inits
