"""Run in a subprocess with 8 simulated CPU devices: loss on a (data=4, model=2) mesh vs 1 device.

Single device: T5X's ``network.Transformer`` (one-hot embedding). On the mesh: the same network,
and t5spec's gather-embedding network (``t5spec.models.network``, vocabulary rows split over
``model``) with the same parameters. Prints one line ``MESH <data>x<model> single=<loss>
sharded=<loss> gather_sharded=<loss> grad_diff=<max |grad gather - grad one-hot|>
model_sharded=<n params>``.
"""

from __future__ import annotations

import sys

import jax
import numpy as np
import seqio
from t5x import adafactor, train_state
from t5x.examples.t5 import network

from t5spec.models import SpecializationModel
from t5spec.models import network as spec_network
from t5spec.partitioning import MeshPartitioner


def main(vocab_path: str) -> None:
    assert jax.device_count() == 8, jax.devices()
    cfg = network.T5Config(vocab_size=32128, dtype="float32", emb_dim=8, num_heads=4,
                           num_encoder_layers=2, num_decoder_layers=2, head_dim=3, mlp_dim=16,
                           mlp_activations=("gelu", "linear"), dropout_rate=0.0,
                           logits_via_embedding=False)
    vocab = seqio.SentencePieceVocabulary(vocab_path, extra_ids=100)
    model, gather = (SpecializationModel(
        net, vocab, vocab, adafactor.Adafactor(), z_loss=1e-4,
        loss_normalizing_factor="NUM_REAL_TARGET_TOKENS")
        for net in (network.Transformer(cfg),
                    spec_network.Transformer(cfg, one_hot_embedding=False)))
    rng = np.random.default_rng(0)
    b, li, lt, k = 8, 12, 10, 5
    batch = {
        "encoder_input_tokens": rng.integers(2, 32000, (b, li)).astype(np.int32),
        "decoder_target_tokens": rng.integers(2, 32000, (b, lt)).astype(np.int32),
        "decoder_teacher_ids": rng.integers(0, 32000, (b, lt, k)).astype(np.int32),
        "decoder_teacher_probs": rng.dirichlet(np.ones(k), (b, lt)).astype(np.float32),
        "decoder_teacher_mask": rng.integers(0, 2, (b, lt)).astype(np.int32),
    }
    batch["decoder_input_tokens"] = np.pad(batch["decoder_target_tokens"][:, :-1], ((0, 0), (1, 0)))
    batch["decoder_loss_weights"] = np.ones((b, lt), np.int32)
    shapes = {k_: v.shape for k_, v in batch.items()}
    variables = model.get_initial_variables(jax.random.PRNGKey(0), shapes)
    state = train_state.FlaxOptimTrainState.create(model.optimizer_def, variables)

    def loss(params, batch, m=model):
        return m.loss_fn(params, batch, None)[0]

    single = float(jax.jit(loss)(state.params, batch))
    part = MeshPartitioner(num_partitions=2, mesh_shape=(4, 2))
    axes = part.get_mesh_axes(state).params
    sharded, gathered = (
        part.partition(fn, in_axis_resources=(axes, part.data_partition_spec),
                       out_axis_resources=None)
        for fn in (loss, jax.value_and_grad(lambda p, b: loss(p, b, gather))))
    sharded = float(sharded(state.params, batch))
    gather_loss, gather_grads = gathered(state.params, batch)
    grads = jax.jit(jax.grad(loss))(state.params, batch)
    grad_diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
                    for a, b in zip(jax.tree_util.tree_leaves(gather_grads),
                                    jax.tree_util.tree_leaves(grads), strict=True))
    n_model = sum("model" in str(a) for a in jax.tree_util.tree_leaves(
        axes, is_leaf=lambda x: isinstance(x, jax.sharding.PartitionSpec)))
    mesh = part.mesh.shape
    print(f"MESH {mesh['data']}x{mesh['model']} single={single!r} sharded={sharded!r} "
          f"gather_sharded={float(gather_loss)!r} grad_diff={grad_diff!r} "
          f"model_sharded={n_model}")


if __name__ == "__main__":
    main(sys.argv[1])
