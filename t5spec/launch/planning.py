"""A plan of one training config on one topology: mesh, memory per device, FLOPs, warnings.

``build_plan`` resolves the gin config (:mod:`t5spec.launch.ginconfig`), evaluates the train
state abstractly, shards it under the config's own partitioner rules on the topology's
(data, model) mesh, and combines the exact parameter/optimizer bytes with the activation and
FLOP estimates of :mod:`t5spec.launch.costs`. ``format_plan`` renders it as a table.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from t5spec.errors import InputError
from t5spec.launch import costs, ginconfig
from t5spec.launch.topology import GIB, Topology, parse_topology

# Above this a device is considered full: XLA needs scratch space and fragments memory.
USABLE_HBM_FRACTION = 0.85
# An unsharded array bigger than this per device is worth a warning.
UNSHARDED_WARN_BYTES = 64 * 1024**2


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything ``t5spec plan`` prints. Sizes in bytes, FLOPs per training step."""

    gin_files: tuple[str, ...]
    topology: Topology
    mesh: dict[str, int]
    batch_size: int
    num_microbatches: int
    lengths: dict[str, int]
    shape: costs.T5Shape
    num_params: int
    param_bytes_total: int
    optimizer_bytes_total: int
    memory: costs.DeviceMemory
    step_flops: float
    arrays: tuple[ginconfig.ParamSharding, ...]
    warnings: tuple[str, ...]

    @property
    def fits(self) -> bool:
        return self.memory.total <= USABLE_HBM_FRACTION * self.topology.hbm_bytes_per_device

    def step_seconds(self, mfu: float) -> float:
        """Step time at model-FLOPs utilization ``mfu`` (0–1) of the slice's bf16 peak."""
        peak = self.topology.peak_flops_per_device * self.topology.devices
        return self.step_flops / (peak * mfu)


def model_parallelism(partitioner: Any) -> int:
    """How many devices share one model replica, read from a T5X partitioner."""
    submesh = getattr(partitioner, "_model_parallel_submesh", None)
    if submesh:
        return math.prod(int(x) for x in submesh)
    mesh_shape = getattr(partitioner, "_mesh_shape", None)  # t5spec MeshPartitioner
    if mesh_shape:
        return int(mesh_shape[1])
    return int(getattr(partitioner, "_num_partitions", None) or 1)


def t5_shape(model: Any) -> costs.T5Shape:
    """The T5 shape numbers of a T5X model whose module carries a ``T5Config``."""
    cfg = getattr(getattr(model, "module", None), "config", None)
    if cfg is None or not hasattr(cfg, "emb_dim"):
        raise InputError(None, f"cannot read a T5Config from model {type(model).__name__}",
                         field="MODEL")
    return costs.T5Shape.from_t5_config(cfg)


def build_plan(
    gin_files: Sequence[str],
    topology: Topology,
    overrides: Sequence[str] = (),
    *,
    num_partitions: int | None = None,
) -> Plan:
    """Resolves the config and computes the plan (see module docstring)."""
    overrides = list(overrides)
    if not any(o.lstrip("-").removeprefix("gin.").startswith("MODEL_DIR") for o in overrides):
        overrides.append("MODEL_DIR='/tmp/t5spec-plan-unused'")
    config = ginconfig.resolve(gin_files, overrides)
    lengths = ginconfig.feature_lengths(config)
    batch = int(config.train_dataset_cfg.batch_size)
    micro = config.num_microbatches
    model_parallel = num_partitions or model_parallelism(config.partitioner)
    where = ", ".join(config.gin_files)
    if topology.devices % model_parallel:
        raise InputError(where, f"model parallelism {model_parallel} does not divide the "
                         f"{topology.devices} devices of {topology.name}",
                         field="num_partitions")
    mesh = {"data": topology.devices // model_parallel, "model": model_parallel}
    state = ginconfig.abstract_train_state(config)
    arrays = ginconfig.shardings(config, state, mesh)
    params = [a for a in arrays if a.name.startswith("target/")]
    opt = [a for a in arrays if not a.name.startswith("target/")]
    shape = t5_shape(config.model)
    memory = costs.device_memory(
        param_bytes=sum(a.per_device_bytes for a in params),
        optimizer_bytes=sum(a.per_device_bytes for a in opt),
        shape=shape,
        rows_per_device=batch / mesh["data"],
        len_in=lengths["inputs"],
        len_out=lengths["targets"],
        model_parallel=model_parallel,
        num_microbatches=micro,
    )
    plan = Plan(
        gin_files=tuple(config.gin_files),
        topology=topology,
        mesh=mesh,
        batch_size=batch,
        num_microbatches=micro,
        lengths=lengths,
        shape=shape,
        num_params=sum(a.size for a in params),
        param_bytes_total=sum(a.total_bytes for a in params),
        optimizer_bytes_total=sum(a.total_bytes for a in opt),
        memory=memory,
        step_flops=costs.train_step_flops(shape, batch, lengths["inputs"], lengths["targets"]),
        arrays=tuple(arrays),
        warnings=(),
    )
    return dataclasses.replace(plan, warnings=tuple(_warnings(plan)))


def replan_compiled(record: dict[str, Any]) -> Plan:
    """Today's analytic plan of a ``t5spec plan --compile --json`` record (its gin files,
    overrides and topology): what :mod:`costs` says now beside what XLA said then."""
    return build_plan(record["gin_files"], parse_topology(record["topology"]),
                      record["overrides"])


def _warnings(plan: Plan) -> list[str]:
    out = []
    hbm = plan.topology.hbm_bytes_per_device
    if not plan.fits:
        out.append(
            f"WILL NOT FIT: needs ~{plan.memory.total / GIB:.1f} GiB per device, "
            f"{plan.topology.name} has {hbm / GIB:.0f} GiB ({USABLE_HBM_FRACTION:.0%} usable); "
            "raise Trainer.num_microbatches, PjitPartitioner.num_partitions, or use a larger "
            "topology"
        )
    if plan.batch_size % plan.mesh["data"]:
        out.append(f"batch size {plan.batch_size} is not divisible by the data axis "
                   f"({plan.mesh['data']}): T5X will refuse to start")
    per_micro = plan.batch_size // max(1, plan.num_microbatches)
    if plan.num_microbatches > 1 and per_micro % plan.mesh["data"]:
        out.append(f"microbatch of {per_micro} rows is not divisible by the data axis "
                   f"({plan.mesh['data']})")
    for a in plan.arrays:
        if not a.sharded and a.per_device_bytes > UNSHARDED_WARN_BYTES:
            out.append(f"unsharded array {a.name} {a.shape} takes "
                       f"{a.per_device_bytes / 2**20:.0f} MiB on every device")
    return out


def _gib(x: float) -> str:
    return f"{x / GIB:8.2f} GiB"


def format_plan(plan: Plan, *, mfu: float = 0.4) -> str:
    """The plan as a human-readable table (what ``t5spec plan`` prints)."""
    topo, m, mem = plan.topology, plan.mesh, plan.memory
    hbm = topo.hbm_bytes_per_device
    tokens = plan.batch_size * (plan.lengths["inputs"] + plan.lengths["targets"])
    s = plan.shape
    rows = [
        ("config", " + ".join(plan.gin_files)),
        ("topology", f"{topo.name}: {topo.devices} {topo.family.platform.upper()} devices "
                     f"× {topo.family.hbm_gib:g} GiB, {topo.hosts} host(s), "
                     f"{topo.family.peak_tflops:g} TFLOP/s bf16 each"),
        ("mesh", f"data={m['data']} × model={m['model']}"),
        ("model", f"d_model={s.d_model} heads={s.num_heads}×{s.head_dim} d_ff={s.d_ff} "
                  f"layers={s.encoder_layers}+{s.decoder_layers} vocab={s.vocab}"),
        ("batch", f"{plan.batch_size} rows × (inputs {plan.lengths['inputs']} + targets "
                  f"{plan.lengths['targets']}) tokens, {plan.num_microbatches} microbatch(es)"),
        ("parameters", f"{plan.num_params / 1e9:.3f} B ({plan.param_bytes_total / GIB:.2f} GiB "
                       "float32 in all)"),
        ("optimizer state", f"{plan.optimizer_bytes_total / GIB:.2f} GiB in all"),
        ("per device", ""),
        ("  params", _gib(mem.params)),
        ("  gradients", _gib(mem.grads)),
        ("  grad accumulator", _gib(mem.grad_accumulator)),
        ("  optimizer state", _gib(mem.optimizer)),
        ("  activations (est.)", _gib(mem.activations)),
        ("  total", f"{_gib(mem.total)} of {hbm / GIB:.0f} GiB ({mem.total / hbm:.0%})"),
        ("step FLOPs", f"{plan.step_flops:.3e} (3 × forward), {tokens} tokens/step"),
        ("step time", f"{plan.step_seconds(1.0):.3f} s at peak, {plan.step_seconds(mfu):.3f} s "
                      f"at {mfu:.0%} MFU → {tokens / plan.step_seconds(mfu):,.0f} tokens/s"),
        ("fits", "yes" if plan.fits else "NO"),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}".rstrip() for k, v in rows]
    lines += [f"warning: {w}" for w in plan.warnings]
    return "\n".join(lines)


def format_shardings(plan: Plan, *, params_only: bool = True) -> str:
    """One line per array: name, shape, mesh axes, MiB per device."""
    lines = []
    for a in plan.arrays:
        if params_only and not a.name.startswith("target/"):
            continue
        spec = "(" + ", ".join(str(x) for x in a.spec) + ")"
        lines.append(f"{a.name:<70} {a.shape!s:<18} {spec:<20} "
                     f"{a.per_device_bytes / 2**20:10.2f} MiB")
    return "\n".join(lines)
