"""Transformers' ``T5ForConditionalGeneration`` weights <-> T5X's T5 1.1 network parameters.

Pure name/shape mapping plus safetensors I/O; no pickle is ever read. One table,
:func:`weight_map`, pairs each transformers tensor with a T5X parameter path. Linear layers
are ``[out, in]`` in transformers and ``[in, out]`` kernels in T5X (a transpose):

- ``shared.weight`` [V, d] -> ``token_embedder/embedding`` [V, d]
- ``{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight`` [buckets, H]
  -> ``{stack}/relpos_bias/rel_embedding`` [H, buckets] (first layer only, shared by all)
- ``encoder.block.i.layer.0.SelfAttention.{q,k,v,o}`` ->
  ``encoder/layers_i/attention/{query,key,value,out}/kernel``
- ``decoder.block.i.layer.{0,1}`` ``SelfAttention`` / ``EncDecAttention`` ->
  ``decoder/layers_i/self_attention`` / ``encoder_decoder_attention``
- ``DenseReluDense.{wi_0,wi_1,wo}`` (last sub-layer) -> ``mlp/{wi_0,wi_1,wo}/kernel``
- ``layer.j.layer_norm`` / ``final_layer_norm`` -> ``pre_*_layer_norm`` / ``{encoder,decoder}_norm``
- ``lm_head.weight`` [V, d] (T5 1.1: untied, unscaled) -> ``decoder/logits_dense/kernel`` [d, V]

Every transposition is exact, so HF -> T5X -> HF is bit-exact. T5X's network fixes
``relative_attention_num_buckets = 32``, ``max_distance = 128`` and ``layer_norm_epsilon = 1e-6``;
other values are rejected rather than silently changed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from t5spec.errors import InputError

HF_WEIGHTS = "model.safetensors"
HF_INDEX = "model.safetensors.index.json"
HF_CONFIG = "config.json"
T5X_FIXED = {"relative_attention_num_buckets": 32, "relative_attention_max_distance": 128}
LAYER_NORM_EPSILON = 1e-6
# transformers `feed_forward_proj` <-> T5X `mlp_activations` (flax.linen names; HF's
# "gated-gelu" is the tanh approximation, as is flax's `gelu`).
ACTIVATIONS = {
    "gated-gelu": ("gelu", "linear"),
    "gated-silu": ("silu", "linear"),
    "gated-relu": ("relu", "linear"),
    "relu": ("relu",),
    "silu": ("silu",),
}
# Tensors transformers itself ignores when loading T5 (an old, unused bias).
HF_IGNORED = ("decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight",)
HF_TIED_ALIASES = ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight")


@dataclasses.dataclass(frozen=True)
class Mapped:
    """One transformers tensor and the T5X parameter it becomes (``transpose``: 2-D swap)."""

    hf_name: str
    t5x_path: tuple[str, ...]
    transpose: bool


def t5_config_from_hf(hf: Mapping[str, Any], path: str | os.PathLike) -> Any:
    """``network.T5Config`` (float32 activations) for a transformers T5 ``config.json`` dict."""
    from t5x.examples.t5 import network

    if not isinstance(hf, Mapping):
        kind = "list" if isinstance(hf, list) else type(hf).__name__
        raise InputError(path, f"expected a JSON object, got a JSON {kind}")
    if hf.get("model_type", "t5") != "t5" or not hf.get("is_encoder_decoder", True):
        raise InputError(path, "not an encoder-decoder T5 config", field="model_type")
    for key, value in T5X_FIXED.items():
        if hf.get(key, value) != value:
            raise InputError(
                path, f"architecture mismatch: {key}={hf[key]}, T5X's network fixes {value}",
                field=key)
    eps = hf.get("layer_norm_epsilon", LAYER_NORM_EPSILON)
    if (isinstance(eps, bool) or not isinstance(eps, (int, float))
            or not np.isclose(eps, LAYER_NORM_EPSILON)):
        raise InputError(path, f"architecture mismatch: layer_norm_epsilon {json.dumps(eps)}, "
                         "T5X's LayerNorm uses epsilon 1e-6", field="layer_norm_epsilon")
    proj = hf.get("feed_forward_proj", "relu")
    if not isinstance(proj, str) or proj not in ACTIVATIONS:
        raise InputError(path, f"unsupported feed_forward_proj {proj!r}; T5X equivalents exist "
                         f"for {', '.join(ACTIVATIONS)}", field="feed_forward_proj")
    sizes = {key: _positive_int(hf, key, path) for key in SIZE_KEYS}
    decoder_layers = hf.get("num_decoder_layers")
    if decoder_layers is not None:
        sizes["num_decoder_layers"] = _positive_int(hf, "num_decoder_layers", path)
    dropout = hf.get("dropout_rate", 0.1)
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise InputError(path, f"expected a number in [0, 1), got {json.dumps(dropout)}",
                         field="dropout_rate")
    return network.T5Config(
        vocab_size=sizes["vocab_size"],
        dtype="float32",
        emb_dim=sizes["d_model"],
        num_heads=sizes["num_heads"],
        num_encoder_layers=sizes["num_layers"],
        num_decoder_layers=sizes.get("num_decoder_layers", sizes["num_layers"]),
        head_dim=sizes["d_kv"],
        mlp_dim=sizes["d_ff"],
        mlp_activations=ACTIVATIONS[proj],
        dropout_rate=float(dropout),
        logits_via_embedding=_scales_decoder_output(hf),
    )


SIZE_KEYS = ("vocab_size", "d_model", "num_heads", "num_layers", "d_kv", "d_ff")


def _positive_int(hf: Mapping[str, Any], key: str, path: Any) -> int:
    """``hf[key]`` when it is a JSON integer >= 1; InputError naming the key otherwise."""
    if key not in hf:
        raise InputError(path, "missing (a T5 config.json gives every size)", field=key)
    value = hf[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(path, f"expected an integer, got {json.dumps(value)[:40]}", field=key)
    if value < 1:
        raise InputError(path, f"expected an integer >= 1, got {value}", field=key)
    return value




def _scales_decoder_output(hf: Mapping[str, Any]) -> bool:
    """T5 1.0 ties lm_head to the embedding and scales by d_model**-0.5; T5 1.1 does neither."""
    if "scale_decoder_outputs" in hf:  # transformers >= 5 records the choice explicitly
        return bool(hf["scale_decoder_outputs"])
    return hf.get("tie_word_embeddings", True) is not False


def hf_config(config: Any, *, eos_id: int = 1, pad_id: int = 0) -> dict[str, Any]:
    """The transformers ``config.json`` dict equivalent to a ``network.T5Config``."""
    proj = {v: k for k, v in ACTIVATIONS.items()}.get(tuple(config.mlp_activations))
    if proj is None:
        raise InputError(None, f"mlp_activations {config.mlp_activations} have no transformers "
                         "T5 equivalent", field="mlp_activations")
    tied = bool(config.logits_via_embedding)
    return {
        "architectures": ["T5ForConditionalGeneration"],
        "model_type": "t5",
        "is_encoder_decoder": True,
        "vocab_size": config.vocab_size,
        "d_model": config.emb_dim,
        "d_kv": config.head_dim,
        "d_ff": config.mlp_dim,
        "num_layers": config.num_encoder_layers,
        "num_decoder_layers": config.num_decoder_layers,
        "num_heads": config.num_heads,
        "feed_forward_proj": proj,
        "dropout_rate": float(config.dropout_rate),
        "layer_norm_epsilon": LAYER_NORM_EPSILON,
        **T5X_FIXED,
        "tie_word_embeddings": tied,
        "scale_decoder_outputs": tied,
        "decoder_start_token_id": pad_id,
        "pad_token_id": pad_id,
        "eos_token_id": eos_id,
        "dtype": "float32",
    }


def weight_map(config: Any) -> list[Mapped]:
    """Every transformers tensor of this architecture with its T5X parameter path."""
    mlp = ["wi_0", "wi_1"] if len(config.mlp_activations) > 1 else ["wi"]
    out = [Mapped("shared.weight", ("token_embedder", "embedding"), False)]
    for stack, n, parts in (
        ("encoder", config.num_encoder_layers, (("SelfAttention", "attention"),)),
        ("decoder", config.num_decoder_layers,
         (("SelfAttention", "self_attention"), ("EncDecAttention", "encoder_decoder_attention"))),
    ):
        rel = f"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight"
        out.append(Mapped(rel, (stack, "relpos_bias", "rel_embedding"), True))
        norms = (["pre_attention_layer_norm"] if stack == "encoder"
                 else ["pre_self_attention_layer_norm", "pre_cross_attention_layer_norm"])
        for i in range(n):
            blk, lyr = f"{stack}.block.{i}", (stack, f"layers_{i}")
            for j, (hf_attn, t5x_attn) in enumerate(parts):
                for a, b in zip("qkvo", ("query", "key", "value", "out"), strict=True):
                    out.append(Mapped(f"{blk}.layer.{j}.{hf_attn}.{a}.weight",
                                      (*lyr, t5x_attn, b, "kernel"), True))
                out.append(Mapped(f"{blk}.layer.{j}.layer_norm.weight", (*lyr, norms[j], "scale"),
                                  False))
            j = len(parts)
            for w in [*mlp, "wo"]:
                out.append(Mapped(f"{blk}.layer.{j}.DenseReluDense.{w}.weight",
                                  (*lyr, "mlp", w, "kernel"), True))
            out.append(Mapped(f"{blk}.layer.{j}.layer_norm.weight",
                              (*lyr, "pre_mlp_layer_norm", "scale"), False))
        final = "encoder_norm" if stack == "encoder" else "decoder_norm"
        out.append(Mapped(f"{stack}.final_layer_norm.weight", (stack, final, "scale"), False))
    if not config.logits_via_embedding:
        out.append(Mapped("lm_head.weight", ("decoder", "logits_dense", "kernel"), True))
    return out


def hf_shapes(config: Any) -> dict[str, tuple[int, ...]]:
    """Expected transformers tensor shapes, from the T5X parameter shapes."""
    from t5spec.models.presets import abstract_params

    flat = _flatten(abstract_params(config))
    return {m.hf_name: _maybe_t(flat[m.t5x_path].shape, m.transpose) for m in weight_map(config)}


def check_tensors(
    found: Mapping[str, tuple[int, ...]], expected: Mapping[str, tuple[int, ...]], path: Any
) -> None:
    """One :class:`InputError` listing every missing, unexpected or mis-shaped tensor."""
    problems = [f"{k} (expected {list(v)}, found missing)" for k, v in expected.items()
                if k not in found]
    problems += [f"{k} (expected nothing, found {list(v)})" for k, v in found.items()
                 if k not in expected]
    problems += [f"{k} (expected {list(v)}, found {list(found[k])})" for k, v in expected.items()
                 if k in found and tuple(found[k]) != tuple(v)]
    if problems:
        raise InputError(path, f"{len(problems)} tensor(s) do not match the architecture: "
                         + "; ".join(problems))


def hf_to_t5x_params(tensors: Mapping[str, np.ndarray], config: Any, path: Any) -> dict:
    """Nested T5X ``params`` dict (float32) from transformers tensors; checks names and shapes."""
    tensors = _resolve_tied(dict(tensors), config, path)
    check_tensors({k: v.shape for k, v in tensors.items()}, hf_shapes(config), path)
    flat = {m.t5x_path: _maybe_t(tensors[m.hf_name], m.transpose).astype(np.float32)
            for m in weight_map(config)}
    return _unflatten(flat)


def t5x_to_hf_tensors(params: Mapping[str, Any], config: Any, path: Any = None) -> dict:
    """transformers tensors (contiguous float32 numpy) from a T5X ``params`` tree."""
    from t5spec.models.presets import abstract_params

    flat = _flatten(params)
    expected = {"/".join(k): v.shape for k, v in _flatten(abstract_params(config)).items()}
    check_tensors({"/".join(k): v.shape for k, v in flat.items()}, expected, path)
    return {m.hf_name: np.ascontiguousarray(_maybe_t(np.asarray(flat[m.t5x_path], np.float32),
                                                     m.transpose))
            for m in weight_map(config)}


def _resolve_tied(tensors: dict, config: Any, path: Any) -> dict:
    """Drops tensors transformers ties to ``shared.weight``, after checking they equal it."""
    for name in HF_IGNORED:
        tensors.pop(name, None)
    tied = [*HF_TIED_ALIASES, *(["lm_head.weight"] if config.logits_via_embedding else [])]
    if "shared.weight" not in tensors:
        alias = next((n for n in HF_TIED_ALIASES if n in tensors), None)
        if alias is not None:
            tensors["shared.weight"] = tensors[alias]
    for name in tied:
        if name in tensors and "shared.weight" in tensors:
            if not np.array_equal(tensors[name], tensors["shared.weight"]):
                raise InputError(path, f"{name} differs from shared.weight, but this "
                                 "architecture ties them", field=name)
            del tensors[name]
    return tensors


def read_hf_dir(directory: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(config dict, tensors)`` from a transformers directory; safetensors only, never pickle."""
    from safetensors.numpy import load_file

    d = Path(directory)
    if not (d / HF_CONFIG).is_file():
        raise InputError(d / HF_CONFIG, "file not found (a transformers model directory needs it)")
    try:
        config = json.loads((d / HF_CONFIG).read_text())
    except json.JSONDecodeError as e:
        raise InputError(d / HF_CONFIG, f"invalid JSON: {e}") from e
    tensors: dict[str, np.ndarray] = {}
    for file in _weight_files(d):
        try:
            tensors.update(load_file(file))
        except Exception as e:  # safetensors raises its own error types
            raise InputError(file, f"unreadable safetensors file: {e}") from e
    return config, tensors


def _weight_files(d: Path) -> list[Path]:
    if (d / HF_WEIGHTS).is_file():
        return [d / HF_WEIGHTS]
    if (d / HF_INDEX).is_file():
        try:
            weight_map_ = json.loads((d / HF_INDEX).read_text())["weight_map"]
        except (json.JSONDecodeError, KeyError) as e:
            raise InputError(d / HF_INDEX, f"not a safetensors index: {e}") from e
        files = [d / f for f in sorted(set(weight_map_.values()))]
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise InputError(missing[0], f"shard listed in {HF_INDEX} not found")
        return files
    pickles = sorted(p.name for p in d.glob("*.bin"))
    extra = f" (found {', '.join(pickles)}: pickle is not loaded)" if pickles else ""
    raise InputError(d, f"no {HF_WEIGHTS} or {HF_INDEX}{extra}")


def existing_hf_files(directory: str | os.PathLike) -> list[Path]:
    """The transformers model files (config, weights, index) already in ``directory``."""
    d = Path(directory)
    if not d.is_dir():
        return []
    names = {HF_CONFIG, HF_WEIGHTS, HF_INDEX}
    return sorted(p for p in d.iterdir()
                  if p.name in names or re.fullmatch(r"model-\d+-of-\d+\.safetensors", p.name))


def check_writable(directory: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """``directory`` (absolute); InputError if it is a file, or already holds a model and
    ``overwrite`` is not set."""
    d = Path(os.fspath(directory)).expanduser().resolve()
    if d.exists() and not d.is_dir():
        raise InputError(d, "is a file, not a directory", field="OUT_DIR")
    existing = existing_hf_files(d)
    if existing and not overwrite:
        raise InputError(d, f"already holds a model ({', '.join(p.name for p in existing)}); "
                         "pass --overwrite to replace it", field="OUT_DIR")
    return d


def write_hf_dir(
    directory: str | os.PathLike, config: Any, tensors: Mapping[str, np.ndarray],
    *, max_shard_bytes: int = 5 << 30, overwrite: bool = False,
) -> Path:
    """Writes ``config.json`` and safetensors weights (sharded with an index above the limit).

    Everything is written into a staging folder first; only then are the old model files
    (with ``overwrite``; otherwise their presence is an InputError) replaced, so a failed
    write leaves the old model whole and no mix of old and new shards remains.
    """
    d = check_writable(directory, overwrite=overwrite)
    d.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".convert-", dir=d))
    try:
        _write_model_files(staging, config, tensors, max_shard_bytes)
        old = staging.with_name(staging.name + ".old")
        old.mkdir()
        for path in existing_hf_files(d):
            path.rename(old / path.name)
        for path in sorted(staging.iterdir()):
            path.rename(d / path.name)
        shutil.rmtree(old)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return d


def _write_model_files(d: Path, config: Any, tensors: Mapping[str, np.ndarray],
                       max_shard_bytes: int) -> None:
    from safetensors.numpy import save_file

    shards = list(_shards(tensors, max_shard_bytes))
    if len(shards) == 1:
        save_file(shards[0], d / HF_WEIGHTS, metadata={"format": "pt"})
    else:
        names = {}
        for i, shard in enumerate(shards, 1):
            fname = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
            save_file(shard, d / fname, metadata={"format": "pt"})
            names.update(dict.fromkeys(shard, fname))
        total = sum(int(v.nbytes) for v in tensors.values())
        index = {"metadata": {"total_size": total}, "weight_map": names}
        (d / HF_INDEX).write_text(json.dumps(index, indent=2) + "\n")
    (d / HF_CONFIG).write_text(json.dumps(hf_config(config), indent=2) + "\n")


def _shards(tensors: Mapping[str, np.ndarray], limit: int) -> Iterator[dict]:
    shard: dict[str, np.ndarray] = {}
    size = 0
    for name, value in tensors.items():
        if shard and size + value.nbytes > limit:
            yield shard
            shard, size = {}, 0
        shard[name] = value
        size += value.nbytes
    yield shard


def _maybe_t(x: Any, transpose: bool) -> Any:
    if isinstance(x, tuple):
        return tuple(reversed(x)) if transpose else x
    return x.T if transpose else x


def _flatten(tree: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    flat = {}
    for k, v in tree.items():
        if isinstance(v, Mapping):
            flat.update(_flatten(v, (*prefix, k)))
        else:
            flat[(*prefix, k)] = v
    return flat


def _unflatten(flat: Mapping[tuple[str, ...], Any]) -> dict:
    tree: dict = {}
    for path, v in flat.items():
        node = tree
        for k in path[:-1]:
            node = node.setdefault(k, {})
        node[path[-1]] = v
    return tree
