"""What ``t5spec plan --compile`` reports: XLA's figures per step, beside the analytic plan.

Pure data and formatting; :mod:`t5spec.launch.compile_plan` fills it. Sizes are bytes per
device, FLOPs per step. The step-time bounds divide the step's FLOPs (all devices) by the
slice's dense bf16 peak (per-chip figure × chips, :data:`t5spec.launch.topology.PEAK_SOURCE`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from t5spec.launch.topology import GIB, PEAK_SOURCE, Topology


@dataclasses.dataclass(frozen=True)
class StepFigures:
    """XLA's figures for one compiled step on one device.

    ``total_bytes`` = arguments + outputs − aliased (donated) + temporaries + code; for a
    step the compiler refused (``fits`` False with ``error``) it is the compiler's "Used"
    figure and the breakdown is 0.
    """

    name: str
    fits: bool
    total_bytes: float
    hbm_bytes: float
    compile_seconds: float
    argument_bytes: int = 0
    output_bytes: int = 0
    alias_bytes: int = 0
    temp_bytes: int = 0
    code_bytes: int = 0
    flops_per_device: float = 0.0
    bytes_accessed_per_device: float = 0.0
    lower_seconds: float = 0.0
    error: str = ""


@dataclasses.dataclass(frozen=True)
class CompiledPlan:
    """One gin config compiled for one slice (train step, infer_eval step)."""

    gin_files: tuple[str, ...]
    overrides: tuple[str, ...]
    topology: Topology
    mesh: dict[str, int]
    batch_size: int
    num_microbatches: int
    lengths: dict[str, int]
    train: StepFigures
    infer: StepFigures | None
    largest_kernel: tuple[str, tuple[int, ...], tuple]
    analytic: Any = None  # t5spec.launch.planning.Plan

    @property
    def fits(self) -> bool:
        return self.train.fits and (self.infer is None or self.infer.fits)

    @property
    def step_flops(self) -> float:
        """The training step's FLOPs over all devices.

        T5X accumulates microbatch gradients in a loop (``fori_loop``) whose body XLA's cost
        analysis counts once, so its count is scaled by ``num_microbatches``; that over-counts
        the once-per-step optimizer update (O(parameters) FLOPs) by ``num_microbatches - 1``.
        """
        return self.train.flops_per_device * self.topology.devices * max(1, self.num_microbatches)

    def step_seconds(self, fraction_of_peak: float) -> float:
        peak = self.topology.peak_flops_per_device * self.topology.devices
        return self.step_flops / (peak * fraction_of_peak)


def _gib(x: float) -> str:
    return f"{x / GIB:7.2f} GiB" if abs(x) >= GIB / 10 else f"{x / 2**20:7.1f} MiB"


def _seconds(x: float) -> str:
    return f"{x:.3f} s" if x >= 0.1 else f"{x * 1e3:.3f} ms"


def _step_rows(s: StepFigures, label: str) -> list[tuple[str, str]]:
    verdict = "yes" if s.fits else "NO"
    if s.error:
        return [(f"{label} per device", f"{_gib(s.total_bytes)} of {s.hbm_bytes / GIB:.0f} GiB "
                 f"(TPU compiler refused it: {s.error})"),
                (f"{label} fits", verdict),
                (f"{label} compile", f"{s.compile_seconds:.1f} s")]
    return [
        (f"{label} per device", ""),
        ("  arguments", _gib(s.argument_bytes)),
        ("  outputs (− donated)", _gib(s.output_bytes - s.alias_bytes)),
        ("  temporaries", _gib(s.temp_bytes)),
        ("  code", _gib(s.code_bytes)),
        ("  total", f"{_gib(s.total_bytes)} of {s.hbm_bytes / GIB:.0f} GiB "
                    f"({s.total_bytes / s.hbm_bytes:.0%}); fits: {verdict}"),
        (f"{label} compile", f"{s.compile_seconds:.1f} s (lowering {s.lower_seconds:.1f} s)"),
    ]


def format_compiled(plan: CompiledPlan) -> str:
    """The XLA table; with the analytic plan beside it when ``plan.analytic`` is set."""
    topo, tr = plan.topology, plan.train
    rows: list[tuple[str, str]] = [
        ("config", " + ".join(plan.gin_files)),
        ("topology", f"{topo.name}: {topo.devices} chips × {topo.family.hbm_gib:g} GiB HBM, "
                     f"{topo.family.peak_tflops:g} TFLOP/s bf16 peak per chip"),
        ("mesh", " × ".join(f"{k}={v}" for k, v in plan.mesh.items())),
        ("batch", f"{plan.batch_size} rows × (inputs {plan.lengths['inputs']} + targets "
                  f"{plan.lengths['targets']}), {plan.num_microbatches} microbatch(es)"),
        ("largest kernel", f"{plan.largest_kernel[0]} {plan.largest_kernel[1]} → "
                           f"{plan.largest_kernel[2]}"),
        *_step_rows(tr, "XLA train step"),
    ]
    if not tr.error:
        rows += [
            ("step FLOPs", f"{plan.step_flops:.3e} ({tr.flops_per_device:.3e} per device"
                           + (f" and microbatch × {plan.num_microbatches})"
                              if plan.num_microbatches > 1 else ")")),
            ("step time", f"{_seconds(plan.step_seconds(1.0))} at 100% of peak, "
                          f"{_seconds(plan.step_seconds(0.5))} at 50%"),
        ]
    if plan.infer is not None:
        rows += _step_rows(plan.infer, "XLA infer_eval step")
    rows += _analytic_rows(plan)
    rows += [("fits", "yes" if plan.fits else "NO"), ("peak source", PEAK_SOURCE)]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}".rstrip() for k, v in rows)


def _analytic_rows(plan: CompiledPlan) -> list[tuple[str, str]]:
    a = plan.analytic
    if a is None:
        return []
    xla, est = plan.train.total_bytes, a.memory.total
    rows = [("analytic per device", f"{_gib(est)} vs XLA {_gib(xla)}: "
                                    f"{memory_ratio(est, xla):.2f}× apart ({est - xla:+.2e} B)")]
    if not plan.train.error:
        rows.append(("analytic FLOPs", f"{a.step_flops:.3e} vs XLA {plan.step_flops:.3e}: "
                                       f"{plan.step_flops / a.step_flops - 1:+.1%}"))
    return rows


def memory_ratio(a: float, b: float) -> float:
    """The larger of two sizes over the smaller (1.0 = equal)."""
    lo, hi = sorted((float(a), float(b)))
    return hi / lo if lo > 0 else float("inf")


def to_json(plan: CompiledPlan) -> dict[str, Any]:
    """Everything printed, as plain JSON values."""
    out: dict[str, Any] = {
        "gin_files": list(plan.gin_files),
        "overrides": list(plan.overrides),
        "topology": plan.topology.name,
        "chips": plan.topology.devices,
        "hbm_gib_per_chip": plan.topology.family.hbm_gib,
        "peak_tflops_per_chip": plan.topology.family.peak_tflops,
        "peak_source": PEAK_SOURCE,
        "mesh": dict(plan.mesh),
        "batch_size": plan.batch_size,
        "num_microbatches": plan.num_microbatches,
        "lengths": dict(plan.lengths),
        "largest_kernel": {"name": plan.largest_kernel[0], "shape": list(plan.largest_kernel[1]),
                           "mesh_axes": list(plan.largest_kernel[2])},
        "train": dataclasses.asdict(plan.train),
        "infer_eval": None if plan.infer is None else dataclasses.asdict(plan.infer),
        "fits": plan.fits,
        "step_flops": plan.step_flops,
        "step_seconds_at_peak": plan.step_seconds(1.0),
        "step_seconds_at_half_peak": plan.step_seconds(0.5),
    }
    if plan.analytic is not None:
        a = plan.analytic
        out["analytic"] = {
            "per_device_bytes": a.memory.total,
            "parts": dataclasses.asdict(a.memory),
            "step_flops": a.step_flops,
            "num_params": a.num_params,
            "memory_ratio_vs_xla": memory_ratio(a.memory.total, plan.train.total_bytes),
        }
    return out
