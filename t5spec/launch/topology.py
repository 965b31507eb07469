"""Known accelerator topologies: how many devices, how much memory and compute each has.

A topology name is what the scheduler calls the slice: Cloud TPU accelerator types
(``v4-32``, ``v5litepod-16``, ``v5p-128``, ``v6e-64``; for v4 and v5p the number counts
TensorCores, two per chip) or a GPU count (``h100-16`` = 16 H100 80 GB GPUs). One JAX device
is one chip on v4/v5e/v5p/v6e (megacore) and one GPU on GPUs.

Peak numbers are vendor dense bf16 figures; HBM is per chip / per GPU (:data:`PEAK_SOURCE`).
"""

from __future__ import annotations

import dataclasses
import math
import re

from t5spec.errors import InputError

GIB = 1024**3
PEAK_SOURCE = ("dense bf16 peak per chip from the Cloud TPU system-architecture pages "
               "(cloud.google.com/tpu/docs/v4, /v5e, /v5p, /v6e: 275, 197, 459, 918 TFLOP/s) "
               "and NVIDIA's data sheets")


@dataclasses.dataclass(frozen=True)
class Family:
    """One accelerator generation.

    Attributes:
      name: the prefix of the topology name (``v4``, ``v5litepod``, ``h100``).
      platform: ``"tpu"`` or ``"gpu"``.
      hbm_gib: device memory per JAX device, GiB.
      peak_tflops: dense bf16 peak per JAX device, TFLOP/s.
      cores_per_device: how many units the topology number counts per JAX device
        (2 for v4/v5p, whose names count TensorCores).
      devices_per_host: JAX devices attached to one host (VM / node).
      runtime_version: the TPU VM software version to create it with (TPU only).
      sizes: the allowed topology numbers.
    """

    name: str
    platform: str
    hbm_gib: float
    peak_tflops: float
    cores_per_device: int
    devices_per_host: int
    runtime_version: str | None
    sizes: tuple[int, ...]


def _powers(lo: int, hi: int) -> tuple[int, ...]:
    return tuple(2**i for i in range(lo, hi + 1))


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("v4", "tpu", 32, 275, 2, 4, "tpu-ubuntu2204-base", _powers(3, 12)),
        Family("v5litepod", "tpu", 16, 197, 1, 4, "v2-alpha-tpuv5-lite", (1, 4, 8, 16, 32,
                                                                         64, 128, 256)),
        Family("v5p", "tpu", 95, 459, 2, 4, "v2-alpha-tpuv5", _powers(3, 13)),
        Family("v6e", "tpu", 32, 918, 1, 4, "v2-alpha-tpuv6e", (1, 4, 8, 16, 32, 64, 128, 256)),
        Family("a100-40g", "gpu", 40, 312, 1, 8, None, _powers(0, 12)),
        Family("a100-80g", "gpu", 80, 312, 1, 8, None, _powers(0, 12)),
        Family("h100", "gpu", 80, 989, 1, 8, None, _powers(0, 12)),
        Family("h200", "gpu", 141, 989, 1, 8, None, _powers(0, 12)),
    )
}
# ``v5e-N`` is what people say; ``v5litepod-N`` is what gcloud wants.
ALIASES = {"v5e": "v5litepod"}


@dataclasses.dataclass(frozen=True)
class Topology:
    """A concrete slice: ``family`` × ``size``.

    Attributes:
      name: the canonical name (``v5litepod-16``, not ``v5e-16``).
      family: the accelerator generation.
      devices: JAX devices in the slice (chips or GPUs).
      hosts: processes / VMs / nodes in the slice (one JAX process each).
    """

    name: str
    family: Family
    devices: int
    hosts: int

    @property
    def hbm_bytes_per_device(self) -> float:
        return self.family.hbm_gib * GIB

    @property
    def peak_flops_per_device(self) -> float:
        return self.family.peak_tflops * 1e12

    @property
    def devices_per_host(self) -> int:
        return self.devices // self.hosts


def known_names() -> list[str]:
    """One example name per family, for error messages and docs."""
    return [f"{f.name}-{f.sizes[min(3, len(f.sizes) - 1)]}" for f in FAMILIES.values()]


def parse_topology(name: str) -> Topology:
    """Returns the topology called ``name`` or an InputError listing the known ones."""
    match = re.fullmatch(r"([a-z0-9]+(?:-[0-9]+g)?)-([0-9]+)", name.strip().lower())
    family = None
    if match:
        family = FAMILIES.get(ALIASES.get(match.group(1), match.group(1)))
    if family is None or match is None:
        raise InputError(
            None,
            f"unknown topology {name!r}; known families: {', '.join(FAMILIES)} "
            f"(e.g. {', '.join(known_names())})",
            field="topology",
        )
    size = int(match.group(2))
    if size not in family.sizes:
        raise InputError(
            None,
            f"{family.name} comes in sizes {', '.join(map(str, family.sizes))}, not {size}",
            field="topology",
        )
    devices = max(1, size // family.cores_per_device)
    hosts = max(1, devices // family.devices_per_host)
    if family.name in ("v5litepod", "v6e") and size <= 8:
        hosts = 1  # the single-host shapes (1, 4, 8 chips) sit on one VM
    return Topology(f"{family.name}-{size}", family, devices, hosts)


def tpu_topology_name(topology: Topology) -> str:
    """The chip grid of a TPU slice as ``jax.experimental.topologies`` names it.

    ``v4-32`` (16 chips) → ``"v4:2x2x4"``, ``v5litepod-16`` → ``"v5e:4x4"``; 3-D tori (v4,
    v5p) grow from 2x2x1 by doubling the shortest axis, 2-D grids (v5e, v6e) from 1x1.

    Raises:
      InputError: not a TPU topology.
    """
    family = topology.family
    if family.platform != "tpu":
        raise InputError(None, f"{topology.name} is not a TPU slice; --compile needs one of "
                         f"{', '.join(f.name for f in FAMILIES.values() if f.platform == 'tpu')}",
                         field="topology")
    dims = [2, 2, 1] if family.name in ("v4", "v5p") else [1, 1]
    chips = topology.devices
    while math.prod(dims) < chips:
        shortest = min(dims)
        i = max(j for j, d in enumerate(dims) if d == shortest)
        dims[i] *= 2
    if math.prod(dims) != chips:
        raise InputError(None, f"{topology.name}: no TPU grid of {chips} chips", field="topology")
    short = {"v5litepod": "v5e"}.get(family.name, family.name)
    return f"{short}:{'x'.join(map(str, dims))}"

