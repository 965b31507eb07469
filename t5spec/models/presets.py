"""Student presets: the model gin files, and loading T5X without TensorFlow on an accelerator.

The architectures themselves are T5X's (``t5x/examples/t5/t5_1_1/<size>.gin``); the files under
``gin/models/flant5_<preset>.gin`` add the FlanT5 vocabulary, activation dtype and dropout;
``gin/models/t5_efficient_{tiny,mini}.gin`` (presets ``efficient_tiny`` / ``efficient_mini``)
are smaller students in T5-Efficient-like shapes (18M / 31M parameters, tied embeddings).
Every function that imports T5X calls :func:`hide_tf_from_accelerators` first, as T5X's own
entrypoints do, so TensorFlow (imported by T5X and SeqIO) never takes GPU memory from JAX.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from t5spec import gin_names, paths
from t5spec.errors import InputError

PRESETS = ("tiny", "small", "base", "large", "xl", "xxl")
# Students below T5-small, T5-Efficient-like shapes (gin/models/t5_efficient_<size>.gin).
EFFICIENT_PRESETS = ("efficient_tiny", "efficient_mini")
ALL_PRESETS = (*PRESETS, *EFFICIENT_PRESETS)
GIN_DIR = paths.gin_dir() / "models"
VOCAB_MACRO = gin_names.T5SPEC_VOCAB


def gin_file(preset: str) -> Path:
    """The model gin of a preset name in :data:`ALL_PRESETS`.

    ``gin/models/flant5_<preset>.gin`` for :data:`PRESETS`, ``gin/models/t5_<preset>.gin``
    for :data:`EFFICIENT_PRESETS` (``efficient_tiny`` → ``t5_efficient_tiny.gin``).
    """
    if preset in PRESETS:
        return GIN_DIR / f"flant5_{preset}.gin"
    if preset in EFFICIENT_PRESETS:
        return GIN_DIR / f"t5_{preset}.gin"
    raise InputError(None, f"unknown preset {preset!r}; choose from {', '.join(ALL_PRESETS)}",
                     field="preset")


def hide_tf_from_accelerators() -> None:
    """Keeps TensorFlow on the CPU (it only feeds data); JAX keeps the accelerators."""
    import tensorflow as tf

    try:
        tf.config.set_visible_devices([], "GPU")
        tf.config.set_visible_devices([], "TPU")
    except (RuntimeError, ValueError):  # already initialized, or no such device type
        pass


def t5x_gin_search_path() -> str:
    """The directory that makes ``include 't5x/examples/...'`` resolve (site-packages)."""
    hide_tf_from_accelerators()
    import t5x

    return os.path.dirname(os.path.dirname(t5x.__file__))


def parse_model_gin(gin_path: str | os.PathLike, bindings: tuple[str, ...] = ()) -> Any:
    """Parses a model gin file (fresh gin state) and returns its ``t5x.models.EncoderDecoderModel``.

    Resets gin's global configuration: call this from entry points and tests, not from inside a
    gin-configured ``t5x.train`` run.
    """
    hide_tf_from_accelerators()
    from t5x import models

    return _build_from_gin(gin_path, bindings, models.EncoderDecoderModel)


def network_config(gin_path: str | os.PathLike, bindings: tuple[str, ...] = ()) -> Any:
    """The ``t5x.examples.t5.network.T5Config`` a model gin file binds (no vocabulary loaded)."""
    hide_tf_from_accelerators()
    from t5x.examples.t5 import network

    return _build_from_gin(gin_path, bindings, network.T5Config)


def _build_from_gin(gin_path: str | os.PathLike, bindings: tuple[str, ...], fn: Any) -> Any:
    import gin

    search = t5x_gin_search_path()
    gin.clear_config(clear_constants=True)
    gin.add_config_file_search_path(search)
    gin.add_config_file_search_path(str(GIN_DIR.parents[1]))
    try:
        gin.parse_config_files_and_bindings([os.fspath(gin_path)], list(bindings))
        return gin.get_configurable(fn)()
    except (OSError, ValueError) as e:
        raise InputError(gin_path, f"cannot build {fn.__name__} from this gin file: {e}") from e
    finally:
        gin.clear_config(clear_constants=True)


def param_count(config: Any) -> int:
    """Number of parameters of ``network.Transformer(config)``, by ``jax.eval_shape``."""
    import jax

    shapes = abstract_params(config)
    return sum(int(x.size) for x in jax.tree_util.tree_leaves(shapes))


def abstract_params(config: Any) -> Any:
    """Shapes and dtypes of the parameter tree of ``network.Transformer(config)``."""
    hide_tf_from_accelerators()
    import jax
    import jax.numpy as jnp
    from t5x.examples.t5 import network

    module = network.Transformer(config)
    tokens = jnp.ones((1, 1), jnp.int32)

    def init() -> Any:
        return module.init(jax.random.PRNGKey(0), tokens, tokens, tokens, enable_dropout=False)

    variables = jax.eval_shape(init)
    return unbox(variables["params"])


def unbox(tree: Any) -> Any:
    """Strips Flax partitioning boxes (``Partitioned`` metadata) off a parameter tree."""
    import flax

    return flax.core.meta.unbox(tree)
