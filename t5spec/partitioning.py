"""T5X's ``PjitPartitioner`` with an explicit (data, model) mesh where T5X would guess.

T5X's ``default_mesh`` builds the TPU mesh from ``num_partitions`` /
``model_parallel_submesh``, but on CPU it ignores ``num_partitions`` (``get_cpu_mesh()`` puts
every local device on the ``model`` axis). :class:`MeshPartitioner` keeps T5X's behaviour on
TPU and, on CPU or when ``mesh_shape`` is given, lays the devices out as
``(data, model) = mesh_shape`` (default ``(n / num_partitions, num_partitions)``). Logical axis
rules are T5X's ``standard_logical_axis_rules`` unless overridden.

The devices are ``jax.devices()`` unless the caller hands others over with
:meth:`MeshPartitioner.with_devices` — ``t5spec plan --compile`` gives it the devices of a TPU
slice that is not attached (``jax.experimental.topologies``) and lays them out with
``mesh_utils.create_device_mesh``, which follows the slice's physical torus.

Gin::

    from t5spec import partitioning as spec_partitioning
    train_script.train.partitioner = @spec_partitioning.MeshPartitioner()
    spec_partitioning.MeshPartitioner.num_partitions = 2        # model axis
    spec_partitioning.MeshPartitioner.mesh_shape = (4, 2)       # optional, explicit
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.experimental import mesh_utils
from jax.sharding import Mesh
from t5x import partitioning


def explicit_mesh(data: int, model: int, devices: list | None = None) -> Mesh:
    """A ('data', 'model') mesh of ``data × model`` devices, model-parallel groups adjacent."""
    devices = list(jax.devices() if devices is None else devices)
    if data * model != len(devices):
        raise ValueError(
            f"mesh_shape ({data}, {model}) needs {data * model} devices, have {len(devices)}"
        )
    return Mesh(np.asarray(devices, dtype=object).reshape(data, model), ("data", "model"))


class MeshPartitioner(partitioning.PjitPartitioner):
    """``PjitPartitioner`` whose mesh is explicit on CPU or when ``mesh_shape`` is set.

    Args:
      mesh_shape: ``(data, model)``; None = T5X's default mesh on TPU/GPU and
        ``(n // num_partitions, num_partitions)`` on CPU.
      Other arguments as ``t5x.partitioning.PjitPartitioner``.
    """

    def __init__(self, *args, mesh_shape: tuple[int, int] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._mesh_shape = None if mesh_shape is None else tuple(int(x) for x in mesh_shape)
        self._devices: tuple[Any, ...] | None = None

    def with_devices(self, devices: Sequence[Any]) -> MeshPartitioner:
        """A copy that lays out ``devices`` (e.g. an unattached TPU slice's) on its mesh.

        ``mesh_shape`` or ``(n / num_partitions, num_partitions)`` gives the layout; TPU
        devices are placed by ``mesh_utils.create_device_mesh`` (model groups on
        neighbouring chips), others in order.
        """
        if "mesh" in self.__dict__:
            raise ValueError("with_devices() after the mesh was built")
        other = copy.copy(self)
        other._devices = tuple(devices)
        return other

    @partitioning.cached_property
    def mesh(self) -> Mesh:
        if self._devices is not None:
            return self._mesh_of_given_devices(list(self._devices))
        devices = jax.devices(self._backend)
        if self._mesh_shape is not None:
            return explicit_mesh(*self._mesh_shape, devices)
        if devices[-1].platform == "cpu" and not self._model_parallel_submesh:
            model = self._num_partitions or 1
            if len(devices) % model:
                raise ValueError(f"num_partitions={model} does not divide {len(devices)} devices")
            return explicit_mesh(len(devices) // model, model, devices)
        return super().mesh

    def _mesh_of_given_devices(self, devices: list[Any]) -> Mesh:
        data, model = self._mesh_shape or (0, self._num_partitions or 1)
        if not data:
            if len(devices) % model:
                raise ValueError(f"num_partitions={model} does not divide {len(devices)} devices")
            data = len(devices) // model
        if data * model != len(devices):
            raise ValueError(f"mesh_shape ({data}, {model}) needs {data * model} devices, "
                             f"have {len(devices)}")
        if devices[0].platform != "tpu":
            return explicit_mesh(data, model, devices)
        try:
            grid = mesh_utils.create_device_mesh((data, model), devices)
        except NotImplementedError:  # e.g. model=8 on a 4x4x4 torus: split a physical axis,
            grid = mesh_utils.create_device_mesh(  # as T5X's default_mesh does (4, 2, 1, 1)
                (data, model), devices, allow_split_physical_axes=True)
        return Mesh(grid, ("data", "model"))
