"""The devices of a TPU slice that is not attached, for ahead-of-time compilation on a CPU host.

With ``libtpu`` installed (``pip install -e '.[tpu]'``),
``jax.experimental.topologies.get_topology_desc`` describes any TPU slice without the hardware;
a ``jax.jit(...).lower(...)`` on a mesh of its devices then ``.compile()``s with the real TPU
compiler, which reports per-device memory and FLOPs. Everything else in the process stays on
the CPU (``JAX_PLATFORMS=cpu``).

libtpu, loaded without TPU hardware, asks the GCE metadata server and the environment for the
accelerator type and worker hostnames and prints errors when they are missing;
:func:`tpu_devices` sets the variables that answer those questions (only where unset), so the
compile is quiet. Nothing here runs at import time.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from t5spec.errors import InputError
from t5spec.launch.topology import Topology, tpu_topology_name

GOOGLE_PCI_VENDOR = "0x1ae0"  # TPU chips show up as PCI devices of this vendor
INSTALL_HINT = "pip install -c constraints.txt -e '.[tpu]'"
_MEGACORE = ("v4", "v5p")  # two TensorCores per chip, one JAX device per chip


def libtpu_installed() -> bool:
    return importlib.util.find_spec("libtpu") is not None


def tpu_attached(pci_root: Path = Path("/sys/bus/pci/devices")) -> bool:
    """Whether a TPU chip is on this host's PCI bus (how JAX's own hardware check decides)."""
    for vendor in pci_root.glob("*/vendor"):
        try:
            if vendor.read_text().strip() == GOOGLE_PCI_VENDOR:
                return True
        except OSError:
            continue
    return False


def skip_tpu_probe_without_tpu(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Sets ``JAX_PLATFORMS=cpu`` where JAX would probe libtpu for a TPU that is not there.

    Only when ``JAX_PLATFORMS`` is unset, libtpu is installed, no TPU chip is attached and no
    JAX GPU plugin is installed (so JAX would end on the CPU anyway): start-up then stays as
    fast and quiet as without libtpu. Returns whether it set the variable.
    """
    if "JAX_PLATFORMS" in environ or not libtpu_installed() or tpu_attached():
        return False
    if any(importlib.util.find_spec(p) for p in ("jax_cuda12_plugin", "jax_cuda13_plugin",
                                                    "jax_rocm60_plugin")):
        return False
    environ["JAX_PLATFORMS"] = "cpu"
    return True


def quiet_libtpu_env(topology: Topology) -> None:
    """Answers libtpu's start-up questions for an unattached slice (unset variables only)."""
    os.environ.setdefault("TPU_SKIP_MDS_QUERY", "1")
    os.environ.setdefault("TPU_ACCELERATOR_TYPE", topology.name)
    os.environ.setdefault("TPU_WORKER_HOSTNAMES", "localhost")
    # libtpu takes /tmp/libtpu_lockfile (one TPU-owning process per host); a compile-only
    # process owns no chip, so several may run at once (tests, a background compile).
    os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")


def tpu_devices(topology: Topology) -> list[Any]:
    """The JAX devices (one per chip) of ``topology``, described by libtpu; none attached.

    Raises:
      InputError: libtpu is not installed (names the extra), or the topology is not a TPU.
    """
    name = tpu_topology_name(topology)  # InputError for GPUs, before anything slow
    if not libtpu_installed():
        raise InputError(None, f"--compile needs libtpu (the TPU compiler): {INSTALL_HINT}",
                         field="tpu extra")
    quiet_libtpu_env(topology)
    from jax.experimental import topologies

    kwargs: dict[str, Any] = {}
    if topology.family.name in _MEGACORE:
        kwargs["chip_config_name"] = "megacore"
    if topology.devices < 4:  # slices smaller than one 2x2 host (v5e-1): the slice is the host
        kwargs["chips_per_host_bounds"] = (*map(int, name.split(":")[1].split("x")), 1)
    desc = topologies.get_topology_desc(platform="tpu", topology_name=name, **kwargs)
    devices = list(desc.devices)
    if len(devices) != topology.devices:
        raise InputError(None, f"libtpu describes {name} with {len(devices)} devices, "
                         f"expected {topology.devices}", field="topology")
    return devices
