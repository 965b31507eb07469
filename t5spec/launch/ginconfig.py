"""Resolve a T5X training gin config without training: what ``python -m t5x.train`` would build.

The launch scripts check a config before they spend money on hardware, and the planner sizes
it: both need the objects T5X's ``train()`` would receive (model, partitioner, dataset
configs) and the shapes and shardings of the train state — at full XL/XXL size, without
allocating it. This module parses the gin files exactly as ``t5x.train`` does (same search
paths, same ``--gin.NAME=VALUE`` rewriting, ``gin.finalize`` so unknown bindings and
unset ``%gin.REQUIRED`` macros fail), builds ``train()``'s arguments through gin, and
evaluates the train state with :func:`jax.eval_shape` (no memory is spent).

T5X run gins bind ``train_script.train`` where ``train_script`` is ``__main__``; like
``t5x/main.py`` we put a ``train`` attribute on ``__main__`` while parsing (a stand-in with
T5X ``train``'s signature that returns its arguments) and remove it afterwards.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from t5spec import gin_names, paths
from t5spec.errors import InputError


def gin_search_paths(extra: Sequence[str] = ()) -> list[str]:
    """Where ``include`` and ``--gin_file`` paths are looked up: repo, then T5X's own dir."""
    import t5x

    t5x_parent = str(Path(t5x.__file__).resolve().parents[1])
    return [*extra, str(paths.gin_root()), ".", t5x_parent]


def split_overrides(args: Sequence[str]) -> list[str]:
    """Turns ``--gin.NAME=VALUE`` / ``NAME=VALUE`` overrides into gin binding strings.

    Raises:
      InputError: an override without ``=``, or one that uses a renamed macro or configurable
        (:data:`t5spec.gin_names.RENAMED`: "... was renamed to X").
    """
    gin_names.check_not_renamed(args, flag="gin")
    bindings = []
    for arg in args:
        body = arg[len("--gin."):] if arg.startswith("--gin.") else arg
        if "=" not in body:
            raise InputError(None, f"override {arg!r} is not NAME=VALUE", field="gin")
        name, value = body.split("=", 1)
        bindings.append(f"{name.strip()} = {value.strip()}")
    return bindings


@functools.cache
def train_stand_in() -> Any:
    """T5X's ``train`` signature, returning its kwargs: the ``__main__.train`` for parsing run
    gins outside ``t5x.train``. One function per process — gin registers the object it first
    sees as ``train_script.train`` and refuses a different one later, so every parser in a
    process (this module, tests) must put this same object on ``__main__``."""
    from t5x import train as t5x_train

    @functools.wraps(t5x_train.train)
    def train(**kwargs: Any) -> dict[str, Any]:
        return kwargs

    return train


@contextlib.contextmanager
def _train_stand_in() -> Iterator[Any]:
    """Puts a ``train`` with T5X's signature on ``__main__`` (as ``t5x/main.py`` does)."""
    train = train_stand_in()
    main = sys.modules["__main__"]
    had, old = hasattr(main, "train"), getattr(main, "train", None)
    main.train = train  # type: ignore[attr-defined]
    try:
        yield train
    finally:
        if had:
            main.train = old  # type: ignore[attr-defined]
        else:
            delattr(main, "train")


@dataclasses.dataclass
class ResolvedConfig:
    """The arguments T5X ``train()`` would get from a gin config, plus the config text.

    Attributes:
      gin_files: the files parsed, in order.
      bindings: the override bindings applied after them.
      train_kwargs: ``train()``'s keyword arguments, built (``model``, ``partitioner``,
        ``train_dataset_cfg``, ``total_steps``, ``trainer_cls``, …).
      operative_config: gin's config string after building (what T5X writes to MODEL_DIR).
      num_microbatches: ``trainer.Trainer.num_microbatches`` (1 when unset).
    """

    gin_files: list[str]
    bindings: list[str]
    train_kwargs: dict[str, Any]
    operative_config: str

    @property
    def model(self) -> Any:
        return self.train_kwargs["model"]

    @property
    def partitioner(self) -> Any:
        return self.train_kwargs["partitioner"]

    @property
    def train_dataset_cfg(self) -> Any:
        return self.train_kwargs["train_dataset_cfg"]

    num_microbatches: int = 1
    built: Any = None


def resolve(
    gin_files: Sequence[str | os.PathLike],
    overrides: Sequence[str] = (),
    *,
    search_paths: Sequence[str] = (),
    within: Callable[[dict[str, Any]], Any] | None = None,
) -> ResolvedConfig:
    """Parses ``gin_files`` + ``overrides`` like ``t5x.train`` and builds ``train()``'s args.

    Args:
      gin_files: gin files (relative to the repo or T5X's package dir, or absolute).
      overrides: ``--gin.NAME=VALUE`` or ``NAME=VALUE`` strings, applied last.
      search_paths: extra directories searched first.
      within: called with ``train()``'s kwargs while the config is still live (objects such
        as ``trainer_cls`` get their bindings only when called); its result is ``built``.

    Raises:
      InputError: a missing file, an unknown configurable or parameter, an unset
        ``%gin.REQUIRED`` macro, or an import error inside the gin files.
    """
    from t5x import gin_utils

    import gin

    files = [os.fspath(f) for f in gin_files]
    if not files:
        raise InputError(None, "no gin file given", field="gin_file")
    bindings = split_overrides(overrides)
    where = ", ".join(files)
    gin.clear_config(clear_constants=True)
    try:
        with _train_stand_in() as stand_in:
            try:
                _check_macros_exist(files, bindings, gin_search_paths(search_paths))
                gin.clear_config(clear_constants=True)
                gin_utils.parse_gin_flags(gin_search_paths(search_paths), files, bindings)
                train_kwargs = gin.get_configurable(stand_in)()
                operative = gin.operative_config_str()
                micro = _query(gin, gin_names.NUM_MICROBATCHES)
                built = within(train_kwargs) if within is not None else None
            except (ValueError, KeyError, AttributeError, TypeError, ImportError,
                    OSError, NameError) as e:
                message = _one_line(e)
                raise InputError(where, message + gin_names.renamed_hint(message),
                                 field="gin") from e
    finally:
        gin.clear_config(clear_constants=True)
    return ResolvedConfig(files, bindings, train_kwargs, operative, int(micro or 1), built)


def _query(gin: Any, selector: str) -> Any:
    try:
        return gin.query_parameter(selector)
    except ValueError:
        return None


_MACRO = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_macros_exist(files: list[str], bindings: list[str], paths: list[str]) -> None:
    """A macro override must name a macro of the files: gin would accept a typo silently.

    (Gin itself checks configurable and parameter names, not macro names.)
    """
    from t5x import gin_utils

    import gin

    macros = [b.split("=", 1)[0].strip() for b in bindings]
    macros = [m for m in macros if _MACRO.fullmatch(m)]
    if not macros:
        return
    gin_utils.parse_gin_flags(paths, files, [], finalize_config=False)
    unknown = []
    for name in macros:
        try:
            gin.query_parameter(f"%{name}")
        except ValueError:
            unknown.append(name)
    if unknown:
        raise ValueError(f"override(s) of macro(s) {', '.join(unknown)} that the gin files do "
                         "not define (a typo? gin would silently ignore them)")


def _one_line(error: BaseException) -> str:
    text = " | ".join(line.strip() for line in str(error).splitlines() if line.strip())
    return f"{type(error).__name__}: {text}"


def feature_lengths(config: ResolvedConfig) -> dict[str, int]:
    """The training task feature lengths (``inputs``/``targets``) of ``config``."""
    lengths = dict(config.train_dataset_cfg.task_feature_lengths or {})
    if not {"inputs", "targets"} <= lengths.keys():
        raise InputError(
            ", ".join(config.gin_files),
            f"TASK_FEATURE_LENGTHS must give 'inputs' and 'targets', got {lengths}",
            field="TASK_FEATURE_LENGTHS",
        )
    return {k: int(v) for k, v in lengths.items()}


def abstract_train_state(config: ResolvedConfig, batch_size: int = 1) -> Any:
    """The train state's shapes (a pytree of ``jax.ShapeDtypeStruct``), never allocated.

    The same construction as ``t5x.utils.TrainStateInitializer``: initial variables from
    encoder/decoder inputs of the task feature lengths, then the optimizer state.
    """
    import jax
    import jax.numpy as jnp
    from t5x import train_state as train_state_lib

    lengths = feature_lengths(config)
    shapes = {
        "encoder_input_tokens": (batch_size, lengths["inputs"]),
        "decoder_input_tokens": (batch_size, lengths["targets"]),
    }
    types = dict.fromkeys(shapes, jnp.int32)
    model = config.model

    def init(rng: jax.Array) -> Any:
        variables = model.get_initial_variables(rng, shapes, types)
        return train_state_lib.FlaxOptimTrainState.create(model.optimizer_def, variables)

    return jax.eval_shape(init, jax.random.PRNGKey(0))


@dataclasses.dataclass(frozen=True)
class ParamSharding:
    """One array of the train state: its shape, dtype, sharding and per-device size.

    Attributes:
      name: ``params/encoder/layers_0/mlp/wi_0/kernel`` style path.
      shape: global shape.
      dtype: numpy dtype name.
      spec: the mesh axis per dimension (None = replicated along it).
      per_device_bytes: bytes one device holds (dims divided by their mesh axis sizes).
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    spec: tuple[Any, ...]
    per_device_bytes: int

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def total_bytes(self) -> int:
        import numpy as np

        return self.size * int(np.dtype(self.dtype).itemsize)

    @property
    def sharded(self) -> bool:
        return any(axis is not None for axis in self.spec)


def shardings(
    config: ResolvedConfig, state_shape: Any, mesh_shape: Mapping[str, int]
) -> list[ParamSharding]:
    """Every train-state array with its sharding under the config's partitioner rules.

    Uses the gin-built partitioner's own ``get_mesh_axes`` (logical axis rules → mesh axes),
    which needs no devices; ``mesh_shape`` (``{"data": D, "model": M}``) gives the sizes.
    """
    import numpy as np
    from flax import traverse_util

    axes = config.partitioner.get_mesh_axes(state_shape)
    flat_shapes = traverse_util.flatten_dict(state_shape.state_dict(), sep="/")
    flat_axes = traverse_util.flatten_dict(axes.state_dict(), sep="/")
    out = []
    for name, leaf in sorted(flat_shapes.items()):
        if not hasattr(leaf, "shape"):
            continue
        spec = tuple(flat_axes.get(name) or ())
        spec = spec + (None,) * (len(leaf.shape) - len(spec))
        per_device = 1
        for dim, axis in zip(leaf.shape, spec, strict=True):
            per_device *= math.ceil(dim / _axis_size(axis, mesh_shape))
        itemsize = np.dtype(leaf.dtype).itemsize
        out.append(ParamSharding(name, tuple(leaf.shape), str(np.dtype(leaf.dtype)), spec,
                                 per_device * itemsize))
    return out


def _axis_size(axis: Any, mesh_shape: Mapping[str, int]) -> int:
    if axis is None:
        return 1
    if isinstance(axis, str):
        return int(mesh_shape.get(axis, 1))
    return math.prod(int(mesh_shape.get(a, 1)) for a in axis)
