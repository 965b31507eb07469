"""T5X's ``PjitPartitioner`` with an explicit (data, model) mesh where T5X would guess.

T5X's ``default_mesh`` builds the TPU mesh from ``num_partitions`` /
``model_parallel_submesh``, but on CPU it ignores ``num_partitions`` (``get_cpu_mesh()`` puts
every local device on the ``model`` axis). :class:`MeshPartitioner` keeps T5X's behaviour on
TPU and, on CPU or when ``mesh_shape`` is given, lays the devices out as
``(data, model) = mesh_shape`` (default ``(n / num_partitions, num_partitions)``). Logical axis
rules are T5X's ``standard_logical_axis_rules`` unless overridden.

Gin::

    from t5spec import partitioning as spec_partitioning
    train_script.train.partitioner = @spec_partitioning.MeshPartitioner()
    spec_partitioning.MeshPartitioner.num_partitions = 2        # model axis
    spec_partitioning.MeshPartitioner.mesh_shape = (4, 2)       # optional, explicit
"""

from __future__ import annotations

import jax
import numpy as np
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

    @partitioning.cached_property
    def mesh(self) -> Mesh:
        devices = jax.devices(self._backend)
        if self._mesh_shape is not None:
            return explicit_mesh(*self._mesh_shape, devices)
        if devices[-1].platform == "cpu" and not self._model_parallel_submesh:
            model = self._num_partitions or 1
            if len(devices) % model:
                raise ValueError(f"num_partitions={model} does not divide {len(devices)} devices")
            return explicit_mesh(len(devices) // model, model, devices)
        return super().mesh
