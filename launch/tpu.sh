#!/usr/bin/env bash
# Cloud TPU VM pods: create (queued resource, --spot), setup, train on --worker=all, logs,
# delete; `run` does all and relaunches after preemption (T5X resumes from MODEL_DIR).
# See docs/launch_tpu.md. Example:
#   launch/tpu.sh run --name=t5spec-xl --zone=us-central2-b --topology=v4-32 --spot \
#     --gin_file=gin/flant5_xl_spec.gin --model_dir=gs://BUCKET/t5spec/xl --dry_run
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" -m t5spec.launch.tpu "$@"
