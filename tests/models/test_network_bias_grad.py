"""t5spec's ``Transformer`` (``models/network.py``): each attention's relative-position bias
broadcast to the batch, and every kernel product
a matrix product — the same loss and gradients as T5X's network, no reduce over the batch axis
of a ``[batch, heads, q, k]`` gradient left in the train step, and T5X's own form in programs
for TPU devices and in cached decoding."""

from __future__ import annotations

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest
from t5x.examples.t5 import network as t5x_network

from t5spec.launch import aot, topology
from t5spec.models import network

B, L, T, VOCAB = 3, 12, 7, 64


def _config(layers: int = 2) -> t5x_network.T5Config:
    return t5x_network.T5Config(
        vocab_size=VOCAB, dtype="float32", emb_dim=16, num_heads=2, num_encoder_layers=layers,
        num_decoder_layers=layers, head_dim=8, mlp_dim=32, mlp_activations=("gelu", "linear"),
        dropout_rate=0.0, logits_via_embedding=False)


def _batch(seed: int = 0) -> tuple[jax.Array, jax.Array, jax.Array]:
    rng = np.random.RandomState(seed)
    enc = rng.randint(2, VOCAB, (B, L))
    enc[0, L // 2:] = 0  # padding: the mask's bias joins the relative-position bias
    dec = rng.randint(2, VOCAB, (B, T))
    return jnp.asarray(enc), jnp.asarray(dec), jnp.asarray(rng.randint(2, VOCAB, (B, T)))


def _loss(module, enc, dec, tgt):
    def f(params):
        logits = module.apply({"params": params}, enc, dec, tgt, enable_dropout=False)
        return jnp.mean(jax.nn.log_softmax(logits)[..., 3] * (tgt > 0))

    return f


@pytest.mark.parametrize("seed", [0, 1])
def test_loss_and_gradients_are_t5xs(seed: int) -> None:
    enc, dec, tgt = _batch(seed)
    config = _config()
    params = t5x_network.Transformer(config).init(
        jax.random.PRNGKey(seed), enc, dec, tgt, enable_dropout=False)["params"]
    ref_loss, ref = jax.value_and_grad(_loss(t5x_network.Transformer(config), enc, dec, tgt))(
        params)
    ours = network.Transformer(config, one_hot_embedding=True)
    assert ours.bias_grad_matmul  # the default
    loss, grads = jax.value_and_grad(_loss(ours, enc, dec, tgt))(params)
    assert loss == ref_loss  # the forward pass is bit-identical
    for path, g in jax.tree_util.tree_leaves_with_path(grads):
        want = dict(jax.tree_util.tree_leaves_with_path(ref))[path]
        np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-7, err_msg=str(path))
    rel = grads["encoder"]["relpos_bias"]["rel_embedding"]
    assert float(jnp.abs(rel).max()) > 0  # the bias's gradient is not vacuous


def _grad_eqns(module, params, enc, dec, tgt):
    """Every equation of the gradient's jaxpr, sub-jaxprs (custom_vjp, pjit) included."""
    def walk(jp):
        for eqn in jp.eqns:
            yield eqn
            for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                yield from walk(sub)

    yield from walk(jax.make_jaxpr(jax.grad(_loss(module, enc, dec, tgt)))(params).jaxpr)


def _batch_reduces(module, params, enc, dec, tgt) -> list[tuple[int, ...]]:
    """Shapes of 4-D operands (more than one row) the gradient's jaxpr reduces over axis 0."""
    return [tuple(e.invars[0].aval.shape) for e in _grad_eqns(module, params, enc, dec, tgt)
            if e.primitive.name == "reduce_sum" and 0 in e.params["axes"]
            and e.invars[0].aval.ndim == 4 and e.invars[0].aval.shape[0] > 1]


def test_no_batch_axis_reduce_of_attention_gradients_is_left() -> None:
    enc, dec, tgt = _batch()
    config = _config()
    params = t5x_network.Transformer(config).init(
        jax.random.PRNGKey(0), enc, dec, tgt, enable_dropout=False)["params"]
    t5x_style = network.Transformer(config, bias_grad_matmul=False)
    before = _batch_reduces(t5x_style, params, enc, dec, tgt)
    assert (B, 2, L, L) in before and (B, 2, T, T) in before  # T5X's: one per attention
    assert _batch_reduces(network.Transformer(config), params, enc, dec, tgt) == []


def test_cached_decoding_keeps_t5xs_bias() -> None:
    """decode=True slices the bias per step: the interceptor leaves it alone."""
    enc, dec, tgt = _batch()
    config = _config(layers=1)
    ours = network.Transformer(config)
    params = ours.init(jax.random.PRNGKey(0), enc, dec, tgt, enable_dropout=False)["params"]
    encoded = ours.apply({"params": params}, enc, enable_dropout=False, method=ours.encode)
    cache = ours.init(jax.random.PRNGKey(0), enc, dec, tgt, enable_dropout=False,
                      decode=True)["cache"]
    step = ours.apply({"params": params, "cache": cache}, encoded, enc, dec[:, :1], tgt[:, :1],
                      enable_dropout=False, decode=True, max_decode_length=T,
                      mutable=["cache"], method=ours.decode)[0]
    full = ours.apply({"params": params}, encoded, enc, dec, tgt, enable_dropout=False,
                      method=ours.decode)
    np.testing.assert_allclose(step[:, 0], full[:, 0], rtol=1e-5, atol=1e-6)



def _multi_row_products(module, params, enc, dec, tgt) -> list[tuple[int, ...]]:
    """Left-operand shapes of the gradient's dot_generals without batch dimensions (the
    kernels' products, forward and backward) over more than one token axis: contracting
    the trailing axes with two or more free ones before them (forward, input gradient), or
    contracting two or more leading axes (kernel gradient)."""
    found = []
    for eqn in _grad_eqns(module, params, enc, dec, tgt):
        if eqn.primitive.name != "dot_general":
            continue
        (contract, _), batch = eqn.params["dimension_numbers"]
        n, c = eqn.invars[0].aval.ndim, sorted(contract)
        trailing, leading = c == list(range(n - len(c), n)), c == list(range(len(c)))
        if batch == ((), ()) and ((trailing and n - len(c) > 1)
                                  or (leading and not trailing and len(c) > 1)):
            found.append(tuple(eqn.invars[0].aval.shape))
    return found


def test_every_kernel_product_is_a_matrix_product_on_cpu() -> None:
    """``dense_as_matrix``: T5X's ``DenseGeneral`` multiplies [batch, length, ...] inputs as
    dot_generals with two free axes (XLA:CPU's gradient of those copies the activations
    transposed); ours merges the leading axes first: every product is [rows, ...] x kernel."""
    enc, dec, tgt = _batch()
    config = _config()
    params = t5x_network.Transformer(config).init(
        jax.random.PRNGKey(0), enc, dec, tgt, enable_dropout=False)["params"]
    t5x_style = network.Transformer(config, one_hot_embedding=False, dense_as_matrix=False)
    before = _multi_row_products(t5x_style, params, enc, dec, tgt)
    assert (B, L, 16) in before and (B, T, 32) in before  # e.g. wi_0 and wo's inputs
    ours = network.Transformer(config, one_hot_embedding=False)
    assert _multi_row_products(ours, params, enc, dec, tgt) == []


@pytest.mark.skipif(not aot.libtpu_installed(), reason="needs the tpu extra (libtpu)")
def test_a_program_for_tpu_devices_keeps_t5xs_products() -> None:
    """Traced under a mesh of a TPU slice's devices (as ``t5spec plan --compile`` does on this
    CPU host), the network keeps T5X's products: the CPU rewrite is for CPU programs only."""
    enc, dec, tgt = _batch()
    config = _config()
    params = t5x_network.Transformer(config).init(
        jax.random.PRNGKey(0), enc, dec, tgt, enable_dropout=False)["params"]
    ours = network.Transformer(config, one_hot_embedding=False)
    devices = aot.tpu_devices(topology.parse_topology("v4-8"))
    with jax.sharding.Mesh(np.array(devices).reshape(-1, 1), ("data", "model")):
        assert not network.cpu_program()
        on_tpu = _multi_row_products(ours, params, enc, dec, tgt)
    assert network.cpu_program()
    assert (B, L, 16) in on_tpu and _multi_row_products(ours, params, enc, dec, tgt) == []
