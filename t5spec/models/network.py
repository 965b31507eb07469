"""T5X's T5 1.1 encoder-decoder with the token embedding's lookup made selectable.

``t5x.examples.t5.network.Transformer`` hard-codes ``one_hot=True`` on its shared
``layers.Embed``: every token's embedding is a ``[tokens, vocab] x [vocab, emb]`` contraction,
which T5X's docstring says SPMD partitioning needed on TPU. On CPU and GPU that contraction is
pure overhead: for T5-small shapes (32128 vocabulary rows) it is ~200 GFLOP forward and as
much backward per 6144-token batch, about a quarter of the train step's FLOPs, where a gather
is a memory copy (``bench/bench_train_step.py``: 20.6 → 14.9 s per step on 2 CPU cores).

:class:`Transformer` is T5X's class with one field added, ``one_hot_embedding``. ``True`` (the
default) is T5X's network exactly; ``False`` gathers rows (``layers.Embed(one_hot=False)``,
T5X's own code path, which also constrains the output to ``('batch', 'length', 'embed')``).
The parameter tree is the same either way, so checkpoints move freely between the two and
T5X's ``network.Transformer``; encode / decode are T5X's, inherited (t5spec's decoding lays
the decoder caches out its own way: ``models/decode_cache.py``).

Gin: ``gin/runs/spec.gin`` makes it the module of every t5spec training run, with
``EMBED_ONE_HOT = False`` (gather) by default; ``--gin.EMBED_ONE_HOT=True`` is T5X's network.
``tests/train/test_train_t5x.py`` checks that the gather gives T5X's loss and gradients on a
(data=4, model=2) mesh whose ``model`` axis splits the vocabulary rows.
"""

from __future__ import annotations

from flax import linen as nn
from jax import numpy as jnp
from t5x.examples.t5 import layers, network


class Transformer(network.Transformer):
    """``network.Transformer(config)`` whose shared embedding gathers unless one-hot is asked.

    Attributes:
      config: T5X's ``network.T5Config``.
      one_hot_embedding: ``True`` = T5X's one-hot contraction; ``False`` = a row gather.
    """

    one_hot_embedding: bool = True

    def setup(self) -> None:
        cfg = self.config
        self.shared_embedding = layers.Embed(
            num_embeddings=cfg.vocab_size,
            features=cfg.emb_dim,
            dtype=cfg.dtype,
            attend_dtype=jnp.float32,  # as T5X: logits in float32 for stability
            embedding_init=nn.initializers.normal(stddev=1.0),
            one_hot=self.one_hot_embedding,
            name="token_embedder",
        )
        self.encoder = network.Encoder(config=cfg, shared_embedding=self.shared_embedding)
        self.decoder = network.Decoder(config=cfg, shared_embedding=self.shared_embedding)
