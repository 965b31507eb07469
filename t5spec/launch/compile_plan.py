"""``t5spec plan --compile``: the run gin's real training step, compiled for a TPU slice on a CPU.

What ``python -m t5x.train`` would build, built the same way, without a TPU or any memory:

1. the gin config resolves exactly as ``t5x.train`` parses it (:mod:`t5spec.launch.ginconfig`)
   and, while it is live, the gin's own ``trainer_cls`` is constructed — so the gin's
   ``num_microbatches``, learning-rate schedule, model (and its loss) and partitioner (and its
   logical-axis rules) are the ones T5X would use — on an abstract train state
   (``jax.eval_shape``; nothing materialized) with the partitioner's ``get_mesh_axes``;
2. the partitioner lays out the devices of the unattached slice (:mod:`t5spec.launch.aot`);
3. the batch is the model's feature converter's output for the training task lengths and
   batch size (teacher arrays included), as ``ShapeDtypeStruct`` s;
4. ``trainer._partitioned_train_step`` — T5X's ``train_with_lr`` wrapped by
   ``partitioner.partition`` with the train-state axes and donated state — is lowered and
   compiled by the TPU compiler; so is the ``infer_eval`` decode step
   (``model.predict_batch_with_aux`` partitioned as ``t5x.utils.get_infer_fn`` does it), at the
   infer_eval batch size, ``MAX_DECODE_LENGTH`` targets and the training ``inputs`` length
   (the longest an eval input can be; T5X sizes eval inputs from the data, so this bounds it).

XLA's figures per device: arguments, outputs, temporaries, generated code; FLOPs from
``cost_analysis`` of the per-device SPMD program (they cover the whole microbatch loop: the
tiny gin's step with 2 microbatches counts 1.02× the FLOPs of the same step in one; the
infer_eval decode loop's body is counted once, so its FLOPs are not a per-step figure).
When the program does not fit, the TPU compiler refuses it with a RESOURCE_EXHAUSTED message;
its "Used X of Y hbm" numbers are reported instead of a crash.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from t5spec import gin_names as gn
from t5spec import paths
from t5spec.errors import InputError
from t5spec.launch import aot, ginconfig
from t5spec.launch.compile_report import CompiledPlan, StepFigures
from t5spec.launch.topology import Topology

# The TPU compiler's two ways of refusing a program: "Used 45.2G of 31.25G hbm" and "the
# total memory required for HLO temporaries (3.01T) exceeds available HBM (15.75G)".
_OOM = re.compile(r"Used ([0-9.]+)([KMGT]?) of [0-9.]+[KMGT]? hbm"
                  r"|required for [^(]*\(([0-9.]+)([KMGT]?)\) exceeds available HBM")
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def abstract_batch(model: Any, lengths: dict[str, int], batch_size: int, pack: bool) -> dict:
    """``{feature: ShapeDtypeStruct}`` of one batch from ``model.FEATURE_CONVERTER_CLS``.

    The converter runs on one synthetic example of the task features (``inputs``,
    ``targets``); teacher arrays are added by the converter at its own ``k``, as for a data
    set without them (same shapes as aligned data with the default ``teacher_k``).
    """
    import jax
    import numpy as np
    import tensorflow as tf

    example = {key: tf.ones([n], tf.int32) for key, n in lengths.items()}
    ds = tf.data.Dataset.from_tensors(example)
    converter = model.FEATURE_CONVERTER_CLS(pack=pack)
    spec = converter(ds, lengths).element_spec
    return {
        key: jax.ShapeDtypeStruct((batch_size, *s.shape), np.dtype(s.dtype.as_numpy_dtype))
        for key, s in sorted(spec.items())
    }


@dataclasses.dataclass
class _Built:
    trainer: Any
    state: Any
    axes: Any


def _build_trainer(devices: Sequence[Any]) -> Any:
    """A ``ginconfig.resolve(within=...)`` hook: the gin's trainer on an abstract state."""

    def build(kwargs: dict[str, Any]) -> _Built:
        import jax

        partitioner = kwargs["partitioner"]
        if not hasattr(partitioner, "with_devices"):
            raise TypeError(f"--compile needs t5spec.partitioning.MeshPartitioner, the gin "
                            f"binds {type(partitioner).__name__}")
        partitioner = partitioner.with_devices(devices)
        model = kwargs["model"]
        lengths = dict(kwargs["train_dataset_cfg"].task_feature_lengths)
        shapes = {"encoder_input_tokens": (1, lengths["inputs"]),
                  "decoder_input_tokens": (1, lengths["targets"])}
        state = _abstract_state(model, shapes)
        axes = partitioner.get_mesh_axes(state)
        trainer = kwargs["trainer_cls"](
            model=model, train_state=state, partitioner=partitioner, train_state_axes=axes,
            eval_names=[], summary_dir=None, rng=jax.random.PRNGKey(0))
        return _Built(trainer, state, axes)

    return build


def _abstract_state(model: Any, shapes: dict[str, tuple[int, int]]) -> Any:
    import jax
    import jax.numpy as jnp
    from t5x import train_state as train_state_lib

    types = dict.fromkeys(shapes, jnp.int32)

    def init(rng: jax.Array) -> Any:
        variables = model.get_initial_variables(rng, shapes, types)
        return train_state_lib.FlaxOptimTrainState.create(model.optimizer_def, variables)

    return jax.eval_shape(init, jax.random.PRNGKey(0))


def compile_figures(name: str, lowered: Any, hbm_bytes: float) -> StepFigures:
    """Compiles ``lowered`` and reads XLA's memory and cost analyses (or its OOM message)."""
    start = time.perf_counter()
    try:
        compiled = lowered.compile()
    except Exception as e:  # the TPU compiler's OOM is an XlaRuntimeError
        used = _OOM.search(str(e))
        if used is None:
            raise
        seconds = time.perf_counter() - start
        number, unit = (used.group(1), used.group(2)) if used.group(1) else used.group(3, 4)
        total = float(number) * _UNITS[unit]
        return StepFigures(name=name, fits=False, total_bytes=total, hbm_bytes=hbm_bytes,
                           compile_seconds=seconds, error=_first_line(str(e)))
    seconds = time.perf_counter() - start
    mem = compiled.memory_analysis()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    args, out = mem.argument_size_in_bytes, mem.output_size_in_bytes
    alias, temp = mem.alias_size_in_bytes, mem.temp_size_in_bytes
    code = mem.generated_code_size_in_bytes
    total = args + out - alias + temp + code
    return StepFigures(
        name=name, fits=total <= hbm_bytes, total_bytes=float(total), hbm_bytes=hbm_bytes,
        compile_seconds=seconds, argument_bytes=args, output_bytes=out, alias_bytes=alias,
        temp_bytes=temp, code_bytes=code,
        flops_per_device=float(cost.get("flops", 0.0)),
        bytes_accessed_per_device=float(cost.get("bytes accessed", 0.0)),
    )


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if "hbm" in line.lower()]
    return (lines or [text.strip()])[0][:400]


def _lower_infer(built: _Built, config: ginconfig.ResolvedConfig, inputs_len: int) -> Any:
    import jax

    cfg = config.train_kwargs.get("infer_eval_dataset_cfg")
    if cfg is None:
        return None
    trainer, model = built.trainer, config.model
    partitioner = trainer._partitioner
    lengths = {"inputs": inputs_len, "targets": int(cfg.task_feature_lengths["targets"])}
    batch = abstract_batch(model, lengths, int(cfg.batch_size), pack=False)

    def infer_step(params: Any, batch: Any, rng: Any) -> Any:
        return model.predict_batch_with_aux(params, batch, rng=rng)

    step = partitioner.partition(
        infer_step,
        in_axis_resources=(built.axes.params, partitioner.data_partition_spec, None),
        out_axis_resources=None,
    )
    rng = jax.ShapeDtypeStruct((2,), jax.numpy.uint32)
    return step.lower(built.state.params, batch, rng)


def compile_plan(
    gin_files: Sequence[str], topology: Topology, overrides: Sequence[str] = ()
) -> CompiledPlan:
    """Resolves, builds and compiles the config's train and infer_eval steps (module doc)."""
    devices = aot.tpu_devices(topology)  # InputError without libtpu, before the slow part
    overrides = _with_model_dir(overrides)
    config = _resolve(gin_files, overrides, _build_trainer(devices))
    built: _Built = config.built
    if config.train_kwargs.get("infer_eval_dataset_cfg") is not None:
        _check_vocabulary(config)  # before the minutes of the train compile
    lengths = ginconfig.feature_lengths(config)
    train_cfg = config.train_dataset_cfg
    batch = abstract_batch(config.model, lengths, int(train_cfg.batch_size),
                           pack=bool(train_cfg.pack))
    step = built.trainer._partitioned_train_step
    hbm = topology.hbm_bytes_per_device
    try:
        start = time.perf_counter()
        lowered = step.lower(built.state, batch)
        lower_seconds = time.perf_counter() - start
        train = compile_figures("train", lowered, hbm)
        train = dataclasses.replace(train, lower_seconds=lower_seconds)
        start = time.perf_counter()
        infer_lowered = _lower_infer(built, config, lengths["inputs"])
        lower_seconds = time.perf_counter() - start
        infer = None
        if infer_lowered is not None:
            infer = dataclasses.replace(compile_figures("infer_eval", infer_lowered, hbm),
                                        lower_seconds=lower_seconds)
    finally:
        built.trainer.close()
    mesh = dict(built.trainer._partitioner.mesh.shape)
    kernel = largest_kernel_spec(built.state, built.axes)
    return CompiledPlan(
        gin_files=tuple(config.gin_files), overrides=tuple(config.bindings),
        topology=topology, mesh=mesh, batch_size=int(train_cfg.batch_size),
        num_microbatches=config.num_microbatches, lengths=lengths, train=train, infer=infer,
        largest_kernel=kernel)


def largest_kernel_spec(state: Any, axes: Any) -> tuple[str, tuple[int, ...], tuple]:
    """(name, shape, mesh axes) of the largest parameter, to check the rules shard it."""
    import math

    from flax import traverse_util

    shapes = traverse_util.flatten_dict(state.params, sep="/")
    specs = traverse_util.flatten_dict(axes.params, sep="/")
    name = max(shapes, key=lambda k: math.prod(shapes[k].shape))
    spec = tuple(specs.get(name) or ())
    return name, tuple(shapes[name].shape), tuple(None if a is None else str(a) for a in spec)


def _resolve(gin_files: Sequence[str], overrides: list[str], build: Any
             ) -> ginconfig.ResolvedConfig:
    """Resolves with the local copy of the T5 vocabulary when the gin's is on GCS.

    The decode step reads ``eos_id`` from the model's SentencePiece file while it is traced;
    the run gins name ``gs://t5-data/…/sentencepiece.model``, byte-identical to
    ``<data>/t5_vocab/spiece.model`` (``shared/data/t5_vocab/SOURCE.md``). Shapes do not
    depend on the file. A ``T5SPEC_VOCAB`` override, or a gin without that macro, is kept.
    """
    local = _local_vocab()
    if local is None or any(_name(o) == gn.T5SPEC_VOCAB for o in overrides):
        return ginconfig.resolve(gin_files, overrides, within=build)
    try:
        return ginconfig.resolve(gin_files, [*overrides, f"{gn.T5SPEC_VOCAB}='{local}'"],
                                 within=build)
    except InputError as e:
        if gn.T5SPEC_VOCAB not in str(e):
            raise
        return ginconfig.resolve(gin_files, overrides, within=build)


def _check_vocabulary(config: ginconfig.ResolvedConfig) -> None:
    """The decode step needs ``eos_id`` from the SentencePiece file: fail fast (exit 2)."""
    vocab = config.model.output_vocabulary
    try:
        vocab.eos_id  # noqa: B018 - reads the file
    except Exception as e:  # tf.errors.* from gs:// without network, OSError, ...
        where = getattr(vocab, "sentencepiece_model_file", "?")
        raise InputError(", ".join(config.gin_files), f"cannot read the vocabulary {where} "
                         f"({type(e).__name__}); set $T5SPEC_DATA_DIR (its t5_vocab/spiece.model "
                         "is used) or --gin_bindings=T5SPEC_VOCAB=\"'/path/spiece.model'\"",
                         field="T5SPEC_VOCAB") from e


def _name(override: str) -> str:
    return override.lstrip("-").removeprefix("gin.").split("=", 1)[0].strip()


def _local_vocab() -> Path | None:
    root = paths.data_dir_or_none()  # $T5SPEC_DATA_DIR (t5spec.paths: no silent default)
    path = root / "t5_vocab" / "spiece.model" if root else None
    return path.resolve() if path is not None and path.is_file() else None


def _with_model_dir(overrides: Sequence[str]) -> list[str]:
    out = list(overrides)
    if not any(_name(o) == gn.MODEL_DIR for o in out):
        out.append(f"{gn.MODEL_DIR}='/tmp/t5spec-plan-unused'")
    return out

