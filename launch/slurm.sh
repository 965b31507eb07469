#!/usr/bin/env bash
# SLURM: sbatch launch/slurm_train.sbatch on N nodes x G GPUs (docs/launch_gpu.md)
# Run with --help for flags; --dry_run prints every command instead of running it.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" -m t5spec.launch.slurm "$@"
