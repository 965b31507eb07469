"""The ``--compile`` branch of ``t5spec plan``: compile, compare with the analytic plan, print.

Exit status 0 when XLA says both steps fit the chip's HBM, 1 when not (with the numbers), 2 for
bad input (an existing ``--json`` file, a non-TPU topology, libtpu missing, a gin that does
not resolve) — raised as :class:`t5spec.errors.InputError`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from t5spec import gin_names as gn
from t5spec.errors import InputError
from t5spec.launch.topology import Topology


def run_compile(args: argparse.Namespace, topology: Topology) -> int:
    from t5spec.launch import aot, compile_plan, compile_report, planning

    out = Path(args.json) if args.json else None
    if out is not None and out.exists():
        raise InputError(str(out), "exists; --json never overwrites a file", field="json")
    aot.tpu_devices(topology)  # exit 2 (no libtpu / not a TPU) before the slow gin work
    overrides = list(args.gin_bindings)
    if args.num_partitions:
        overrides.append(f"{gn.NUM_PARTITIONS}={int(args.num_partitions)}")
    plan = compile_plan.compile_plan(args.gin_file, topology, overrides)
    analytic = planning.build_plan(args.gin_file, topology, overrides)
    plan = dataclasses.replace(plan, analytic=analytic)
    print(compile_report.format_compiled(plan))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(compile_report.to_json(plan), indent=2) + "\n")
        print(f"wrote {out}", file=sys.stderr)
    if not plan.fits:
        print(f"does not fit: XLA needs {plan.train.total_bytes / 2**30:.2f} GiB per chip for "
              f"the train step, {topology.name} chips have {topology.family.hbm_gib:g} GiB",
              file=sys.stderr)
    return 0 if plan.fits else 1

