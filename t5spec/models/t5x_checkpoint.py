"""Reading and writing T5X checkpoints of the student with T5X's own ``Checkpointer``.

A checkpoint written here is an ordinary T5X ``checkpoint_<step>`` directory holding a
``FlaxOptimTrainState`` (parameters plus freshly initialized optimizer state, T5X's Adafactor
from ``t5_1_1/base.gin`` unless another optimizer is given), so ``python -m t5x.train`` restores
it through ``INITIAL_CHECKPOINT_PATH``. To fine-tune with a different optimizer, skip the stored
optimizer state as T5X documents: ``utils.RestoreCheckpointConfig.assignment_map =
((r'state.*', None),)`` with ``fallback_to_scratch = True``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from t5spec.errors import InputError
from t5spec.paths import absolute_local


def default_optimizer() -> Any:
    """T5X's Adafactor exactly as ``t5x/examples/t5/t5_1_1/base.gin`` binds it."""
    from t5x import adafactor

    return adafactor.Adafactor(
        decay_rate=0.8, step_offset=0,
        logical_factor_rules=adafactor.standard_logical_factor_rules(),
    )


def check_writable(out_dir: str | os.PathLike, step: int = 0, *, overwrite: bool = False) -> Path:
    """``out_dir/checkpoint_<step>`` as an absolute path; InputError if it exists and
    ``overwrite`` is not set (T5X's Checkpointer would silently keep the old one)."""
    target = Path(os.fspath(out_dir)).expanduser().resolve() / f"checkpoint_{step}"
    if target.exists() and not overwrite:
        raise InputError(target, "already exists (pass --overwrite to replace it)",
                         field="OUT_DIR")
    if target.parent.exists() and not target.parent.is_dir():
        raise InputError(target.parent, "is a file, not a directory", field="OUT_DIR")
    return target


def write_t5x_checkpoint(
    params: dict, config: Any, out_dir: str | os.PathLike, *,
    optimizer_def: Any = None, step: int = 0, overwrite: bool = False,
) -> Path:
    """Writes ``out_dir/checkpoint_<step>`` (float32) and returns that directory (absolute).

    The checkpoint is written beside the target first and moved into place when complete; an
    existing ``checkpoint_<step>`` is an InputError unless ``overwrite``, then replaced whole.
    """
    target = check_writable(out_dir, step, overwrite=overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        written = _save_state(params, config, staging, optimizer_def, step)
        if not (written / "checkpoint").is_file() and not (written / "state").is_dir():
            raise RuntimeError(f"T5X's Checkpointer wrote no checkpoint into {written}")
        replace_path(written, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def replace_path(new: Path, target: Path) -> None:
    """Moves ``new`` to ``target`` (same filesystem); an old ``target`` is removed only once
    the new one is in place."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
    new.rename(target)
    if old is not None:
        shutil.rmtree(old) if old.is_dir() else old.unlink()


def _save_state(params: dict, config: Any, out_dir: Path, optimizer_def: Any, step: int) -> Path:
    """T5X's Checkpointer writing a fresh train state into ``out_dir/checkpoint_<step>``."""
    from t5spec.models.presets import hide_tf_from_accelerators

    hide_tf_from_accelerators()
    import jax
    import jax.numpy as jnp
    from t5x import checkpoints, partitioning
    from t5x import train_state as train_state_lib
    from t5x.examples.t5 import network

    module = network.Transformer(config)
    tokens = jnp.ones((1, 1), jnp.int32)
    abstract = jax.eval_shape(
        lambda: module.init(jax.random.PRNGKey(0), tokens, tokens, tokens, enable_dropout=False))
    variables = {"params": jax.tree_util.tree_map(jnp.asarray, params),
                 "params_axes": abstract["params_axes"]}
    state = train_state_lib.FlaxOptimTrainState.create(
        optimizer_def or default_optimizer(), variables)
    state = state.replace_step(jnp.asarray(step, jnp.int32))
    checkpointer = checkpoints.Checkpointer(
        state, partitioning.PjitPartitioner(num_partitions=1), os.fspath(out_dir),
        save_dtype=np.float32)
    checkpointer.save(state)
    return out_dir / f"checkpoint_{step}"


def read_t5x_params(path: str | os.PathLike) -> dict:
    """The parameter tree (numpy float32) of a T5X checkpoint directory or its parent.

    A relative ``path`` is resolved first (Orbax reads no metadata from relative paths).
    """
    from t5spec.models.presets import hide_tf_from_accelerators

    hide_tf_from_accelerators()
    from t5x import checkpoints

    path = absolute_local(path)
    if "://" not in path and not Path(path).is_dir():
        raise InputError(path, "checkpoint directory does not exist", field="checkpoint")
    state = Path(path) / "state"
    try:
        if state.is_dir():  # the Orbax layout `python -m t5x.train` writes (checkpoint_N/state)
            contents = _read_orbax_state(state)
        else:  # the msgpack layout (checkpoint_N/checkpoint), e.g. public FlanT5 checkpoints
            contents = checkpoints.load_t5x_checkpoint(os.fspath(path))
    except (OSError, ValueError, FileNotFoundError) as e:
        raise InputError(path, f"not a readable T5X checkpoint: {e}") from e
    target = contents.get("target", contents)
    return _to_numpy(target)


def _read_orbax_state(state: Path) -> dict:
    """The ``{'target': params, 'state': optimizer state}`` tree of an Orbax T5X checkpoint,
    restored as host numpy arrays (no target structure or sharding needed)."""
    import jax
    import orbax.checkpoint as ocp

    checkpointer = ocp.PyTreeCheckpointer()
    tree = dict(checkpointer.metadata(state).item_metadata)
    args = jax.tree_util.tree_map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), tree)
    return checkpointer.restore(state, restore_args=args)


def _to_numpy(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _to_numpy(v) for k, v in tree.items()}
    return np.asarray(tree, dtype=np.float32)


def config_from_params(
    params: dict, path: Any = None, *, mlp_activations: tuple[str, ...] | None = None,
    dropout_rate: float = 0.1,
) -> Any:
    """Infers a float32 ``network.T5Config`` from the parameter shapes.

    The shapes determine every size; they cannot tell gelu from silu, so a gated MLP is taken
    to be FlanT5's gated-gelu unless ``mlp_activations`` says otherwise (a model gin does).
    """
    from t5x.examples.t5 import network

    try:
        enc, dec = params["encoder"], params["decoder"]
        num_heads = enc["relpos_bias"]["rel_embedding"].shape[0]
        attn = enc["layers_0"]["attention"]
        mlp = enc["layers_0"]["mlp"]
        emb = params["token_embedder"]["embedding"]
    except (KeyError, TypeError) as e:
        raise InputError(path, f"not a T5X T5 1.1 parameter tree (missing {e})") from e
    gated = "wi_0" in mlp
    acts = mlp_activations or (("gelu", "linear") if gated else ("relu",))
    return network.T5Config(
        vocab_size=emb.shape[0],
        dtype="float32",
        emb_dim=emb.shape[1],
        num_heads=num_heads,
        num_encoder_layers=sum(k.startswith("layers_") for k in enc),
        num_decoder_layers=sum(k.startswith("layers_") for k in dec),
        head_dim=attn["query"]["kernel"].shape[1] // num_heads,
        mlp_dim=(mlp["wi_0"] if gated else mlp["wi"])["kernel"].shape[1],
        mlp_activations=tuple(acts),
        dropout_rate=dropout_rate,
        logits_via_embedding="logits_dense" not in dec,
    )


ARCH_FIELDS = ("vocab_size", "emb_dim", "num_heads", "num_encoder_layers", "num_decoder_layers",
               "head_dim", "mlp_dim", "mlp_activations", "logits_via_embedding")


def check_same_architecture(found: Any, expected: Any, path: Any) -> None:
    """InputError naming every architecture field (vocabulary size first) that differs."""
    diffs = [f"{f}: expected {getattr(expected, f)!r}, found {getattr(found, f)!r}"
             for f in ARCH_FIELDS if tuple(np.atleast_1d(getattr(found, f)))
             != tuple(np.atleast_1d(getattr(expected, f)))]
    if diffs:
        kind = "vocabulary-size" if diffs[0].startswith("vocab_size") else "architecture"
        raise InputError(path, f"{kind} mismatch with the model config: " + "; ".join(diffs))
