"""A small student trained in-process on the step-by-step mixture (real aligned Codex data).

Shared by the inference tests: T5X's network at a CPU-friendly shape, the step-by-step
``SpecializationModel``'s ``loss_fn``, batches from the SeqIO mixture through
``DistillationFeatureConverter``, Adam.
"""

from __future__ import annotations

import dataclasses
from typing import Any

LENGTHS = {"inputs": 64, "targets": 24}


@dataclasses.dataclass
class TrainedStudent:
    config: Any
    model: Any
    params: Any
    batches: list[dict]
    losses: list[float]


def student_config() -> Any:
    from t5x.examples.t5 import network

    return network.T5Config(
        vocab_size=32128, dtype="float32", emb_dim=16, num_heads=2, num_encoder_layers=2,
        num_decoder_layers=2, head_dim=8, mlp_dim=32, mlp_activations=("gelu", "linear"),
        dropout_rate=0.0, logits_via_embedding=False)


def make_model(config: Any, vocabulary: Any, **kwargs: Any) -> Any:
    from t5x.examples.t5 import network

    from t5spec.models.specialization import SpecializationModel

    return SpecializationModel(module=network.Transformer(config), input_vocabulary=vocabulary,
                               output_vocabulary=vocabulary, optimizer_def=None,
                               objective="stepbystep", **kwargs)


def mixture_batches(name: str, batch_size: int, n: int, seed: int = 0) -> list[dict]:
    """``n`` batches drawn with replacement from one epoch of the mixture (converted once)."""
    import numpy as np
    import seqio

    from t5spec.feature_converters import DistillationFeatureConverter

    ds = seqio.get_mixture_or_task(name).get_dataset(
        LENGTHS, split="train", shuffle=False, num_epochs=1)
    examples = list(DistillationFeatureConverter(pack=False)(ds, LENGTHS).as_numpy_iterator())
    rng = np.random.default_rng(seed)
    picks = [rng.choice(len(examples), batch_size, replace=False) for _ in range(n)]
    return [{k: np.stack([examples[i][k] for i in idx]) for k in examples[0]} for idx in picks]


def train(vocabulary: Any, steps: int = 150, batch_size: int = 16, lr: float = 3e-3,
          **model_kwargs: Any) -> TrainedStudent:
    import jax
    import optax

    config = student_config()
    model = make_model(config, vocabulary, **model_kwargs)
    shapes = {"encoder_input_tokens": (1, LENGTHS["inputs"]),
              "decoder_input_tokens": (1, LENGTHS["targets"])}
    params = model.get_initial_variables(jax.random.PRNGKey(0), shapes)["params"]
    params = jax.tree_util.tree_map(lambda x: getattr(x, "value", x), params)
    opt = optax.adam(lr)
    state = opt.init(params)

    @jax.jit
    def step(params, state, batch):
        (loss, _), grads = jax.value_and_grad(model.loss_fn, has_aux=True)(params, batch, None)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    batches = mixture_batches("t5spec_gsm8k_sbs", batch_size, steps)
    losses = []
    for batch in batches:
        params, state, loss = step(params, state, batch)
        losses.append(float(loss))
    return TrainedStudent(config, model, params, batches, losses)
