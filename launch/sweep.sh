#!/usr/bin/env bash
# a sweep file of named override sets -> one job each (launch/sweeps/)
# Run with --help for flags; --dry_run prints every command instead of running it.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" -m t5spec.launch.sweep "$@"
