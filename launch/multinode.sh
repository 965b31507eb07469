#!/usr/bin/env bash
# multi-node GPU without a scheduler: one ssh per host (docs/launch_gpu.md)
# Run with --help for flags; --dry_run prints every command instead of running it.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" -m t5spec.launch.multinode "$@"
