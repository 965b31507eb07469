"""How far the fast analytic ``t5spec plan`` is from XLA's compiled memory per device.

For each run gin on its documented topology: the analytic plan's per-device memory
(``t5spec.launch.planning``: exact parameter/optimizer shards + the ``costs.py`` activation
estimate) against XLA's for the real T5X train step compiled for that TPU slice
(``t5spec plan --compile``: arguments + outputs − donated + temporaries + code). The ratio of a
gin is the larger of the two over the smaller; the benchmark's is the worst over the gins.
FlanT5-Small and -Base are compiled in this run (libtpu, minutes on 2 cores); the step-by-step
gin, Large, XL and XXL, whose compiles take many minutes, are read from their committed compiles
(the latest ``docs/results/<date>-tpu-compile/*.json``: XLA's figure; the analytic one is
recomputed with today's ``costs.py``).

Usage: JAX_PLATFORMS=cpu python bench/bench_plan.py [--compile small,base]
       [--from_json sbs,large,xl,xxl]
Last line: ``plan_accuracy ratio: X (goal ≤ 1.25)``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "docs" / "results"
GINS = {  # size -> (run gin, the topology its header names)
    "small": ("gin/flant5_small_spec.gin", "v4-8"),
    "sbs": ("gin/flant5_small_sbs.gin", "v4-8"),
    "base": ("gin/flant5_base_spec.gin", "v4-8"),
    "large": ("gin/flant5_large_spec.gin", "v4-16"),
    "xl": ("gin/flant5_xl_spec.gin", "v4-32"),
    "xxl": ("gin/flant5_xxl_spec.gin", "v4-128"),
}


def _compiled(size: str) -> tuple[float, float, float]:
    """(analytic bytes, XLA bytes, compile seconds) of ``size``, compiled now."""
    from t5spec.launch import compile_plan, planning
    from t5spec.launch.topology import parse_topology

    gin, topo = GINS[size]
    topology = parse_topology(topo)
    start = time.perf_counter()
    plan = compile_plan.compile_plan([gin], topology)
    seconds = time.perf_counter() - start
    analytic = planning.build_plan([gin], topology)
    return analytic.memory.total, plan.train.total_bytes, seconds


def _from_json(size: str) -> tuple[float, float]:
    """(analytic bytes with today's costs.py, XLA bytes) of ``size``'s committed compile."""
    from t5spec.launch import planning

    gin, topo = GINS[size]
    name = Path(gin).stem
    found = sorted(RESULTS.glob(f"*-tpu-compile/{name}-{topo}.json"))  # dated folders
    if not found:
        raise SystemExit(f"no committed compile of {gin} on {topo} under {RESULTS}")
    data = json.loads(found[-1].read_text())
    return planning.replan_compiled(data).memory.total, data["train"]["total_bytes"]


def main() -> None:
    from absl import logging

    from t5spec.launch.compile_report import memory_ratio

    logging.set_verbosity(logging.ERROR)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--compile", default="small,base", help="sizes compiled in this run")
    p.add_argument("--from_json", default="sbs,large,xl,xxl",
                   help="sizes read from committed compiles")
    a = p.parse_args()
    worst = 0.0
    rows = [(s, "compiled now") for s in a.compile.split(",") if s]
    rows += [(s, "committed JSON") for s in a.from_json.split(",") if s]
    for size, source in rows:
        if source == "compiled now":
            est, xla, seconds = _compiled(size)
            source = f"compiled now in {seconds:.0f} s"
        else:
            est, xla = _from_json(size)
        ratio = memory_ratio(est, xla)
        worst = max(worst, ratio)
        gin, topo = GINS[size]
        print(f"{gin:<30} {topo:<7} analytic {est / 2**30:6.2f} GiB  XLA {xla / 2**30:6.2f} GiB"
              f"  ratio {ratio:.2f}  ({source})", flush=True)
    print(f"plan_accuracy ratio: {worst:.2f} (goal ≤ 1.25)")


if __name__ == "__main__":
    main()
