"""Parity with transformers' T5ForConditionalGeneration (PyTorch, random weights, float32).

For each config in conftest.HF_SHAPES: HF -> T5X checkpoint -> HF is bit-exact through the
``t5spec convert`` CLI; logits on a padded batch agree within 1e-4; greedy decoding gives the
same 32 tokens (also with a per-row EOS) and the same token / top-k log-probs within 1e-4.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from t5spec.cli import main
from t5spec.models import hf_convert, presets, t5x_checkpoint
from t5spec.models.decoding import Decoder, SamplingParams

TOL = 1e-4
STEPS = 32


@pytest.fixture(scope="module")
def converted(hf_dir, tmp_path_factory):
    """(hf model, T5X checkpoint dir, T5X config, T5X params) via ``t5spec convert``."""
    import transformers

    out = tmp_path_factory.mktemp("t5x")
    assert main(["convert", "hf-to-t5x", str(hf_dir), str(out)]) == 0
    ckpt = out / "checkpoint_0"
    params = t5x_checkpoint.read_t5x_params(ckpt)
    hf = transformers.T5ForConditionalGeneration.from_pretrained(hf_dir).eval()
    return hf, ckpt, t5x_checkpoint.config_from_params(params, ckpt), params


def _batch(vocab: int, seed: int = 0) -> np.ndarray:
    """[3, 12] encoder inputs with right padding (0) of different lengths."""
    tokens = np.random.RandomState(seed).randint(2, min(vocab, 32100), size=(3, 12))
    tokens[1, 7:] = 0
    tokens[2, 3:] = 0
    return tokens


def test_roundtrip_is_bit_exact(converted, hf_dir, tmp_path):
    import transformers

    hf, ckpt, _, _ = converted
    back = tmp_path / "hf_back"
    assert main(["convert", "t5x-to-hf", str(ckpt), str(back)]) == 0
    _, original = hf_convert.read_hf_dir(hf_dir)
    _, roundtrip = hf_convert.read_hf_dir(back)
    assert sorted(original) == sorted(roundtrip)
    for name, value in original.items():
        assert roundtrip[name].dtype == value.dtype and np.array_equal(roundtrip[name], value), name
    reloaded = transformers.T5ForConditionalGeneration.from_pretrained(back)
    assert reloaded.lm_head.weight.data_ptr() != reloaded.shared.weight.data_ptr()
    for name, value in hf.state_dict().items():
        assert torch.equal(reloaded.state_dict()[name], value), name
    assert json.loads((back / "config.json").read_text())["feed_forward_proj"] == "gated-gelu"


def test_logits_match_on_padded_batch(converted):
    from t5x.examples.t5 import network

    hf, _, config, params = converted
    enc = _batch(config.vocab_size)
    targets = np.random.RandomState(1).randint(2, min(config.vocab_size, 32100), size=(3, 9))
    targets[0, 5:] = 0
    targets[2, 2:] = 0
    dec_in = np.concatenate([np.zeros((3, 1), int), targets[:, :-1]], axis=1)
    ours = network.Transformer(config).apply(
        {"params": params}, enc, dec_in, targets, enable_dropout=False)
    with torch.no_grad():
        theirs = hf(input_ids=torch.tensor(enc), attention_mask=torch.tensor(enc > 0),
                    decoder_input_ids=torch.tensor(dec_in),
                    decoder_attention_mask=torch.tensor(targets > 0)).logits.numpy()
    valid = targets > 0
    diff = np.abs(np.asarray(ours)[valid] - theirs[valid]).max()
    print(f"logits max abs diff: {diff:.3g}")
    assert diff < TOL


def _hf_greedy(hf, enc, eos_id):
    kwargs = ({"eos_token_id": None, "min_new_tokens": STEPS} if eos_id is None
              else {"eos_token_id": eos_id, "pad_token_id": 0})
    with torch.no_grad():
        out = hf.generate(input_ids=torch.tensor(enc), attention_mask=torch.tensor(enc > 0),
                          max_new_tokens=STEPS, do_sample=False, output_logits=True,
                          return_dict_in_generate=True, **kwargs)
    tokens = out.sequences[:, 1:].numpy()
    logp = torch.log_softmax(torch.stack(out.logits, 1).float(), -1).numpy()
    pad = STEPS - tokens.shape[1]
    return np.pad(tokens, ((0, 0), (0, pad))), logp


def _compare(gen, tokens, logp, k):
    assert np.array_equal(gen.tokens, tokens)
    steps = logp.shape[1]
    valid = np.arange(steps)[None, :] < gen.lengths[:, None]
    token_lp = np.take_along_axis(logp, tokens[:, :steps, None], -1)[..., 0]
    diff = np.abs(gen.token_logprobs[:, :steps] - token_lp)[valid].max()
    top = -np.sort(-logp, axis=-1)[..., :k]
    top_diff = np.abs(gen.top_logprobs[:, :steps] - top)[valid].max()
    assert np.array_equal(gen.top_ids[:, :steps][valid][:, 0], logp.argmax(-1)[valid])
    return diff, top_diff


def test_greedy_tokens_and_logprobs_match(converted):
    hf, _, config, params = converted
    enc = _batch(config.vocab_size)
    gen = Decoder(config, params, eos_id=None).generate(
        enc, SamplingParams(max_new_tokens=STEPS))
    assert (gen.lengths == STEPS).all()
    diff, top_diff = _compare(gen, *_hf_greedy(hf, enc, None), k=5)
    print(f"greedy token logprob max abs diff: {diff:.3g}; top-5: {top_diff:.3g}")
    assert diff < TOL and top_diff < TOL


def test_greedy_with_per_row_eos_matches(converted):
    hf, _, config, params = converted
    enc = _batch(config.vocab_size)
    free = Decoder(config, params, eos_id=None).generate(enc, SamplingParams(STEPS))
    eos = int(free.tokens[0, 4])  # row 0 ends by step 5 at the latest; others differ
    gen = Decoder(config, params, eos_id=eos).generate(enc, SamplingParams(STEPS))
    assert gen.lengths[0] <= 5 and gen.tokens[0, gen.lengths[0] - 1] == eos
    assert (gen.tokens[0, gen.lengths[0]:] == 0).all()
    assert (gen.token_logprobs[0, gen.lengths[0]:] == 0).all()
    diff, _ = _compare(gen, *_hf_greedy(hf, enc, eos), k=5)
    assert diff < TOL


def test_checkpoint_restores_through_t5x_trainer_path(converted, data_dir):
    """What ``t5x.train`` does with INITIAL_CHECKPOINT_PATH (tiny: with flant5_tiny.gin's model)."""
    import flax
    import jax
    import seqio
    from t5x import models, partitioning, utils
    from t5x.examples.t5 import network

    _, ckpt, config, params = converted
    if config.vocab_size == 32128:  # the tiny shape: the model gin's own MODEL
        model = presets.parse_model_gin(presets.gin_file("tiny"), (
            f"{presets.VOCAB_MACRO} = '{data_dir / 't5_vocab' / 'spiece.model'}'",))
    else:
        vocab = seqio.PassThroughVocabulary(config.vocab_size, eos_id=1)
        model = models.EncoderDecoderModel(network.Transformer(config), vocab, vocab,
                                           t5x_checkpoint.default_optimizer())
    initializer = utils.TrainStateInitializer(
        optimizer_def=model.optimizer_def, init_fn=model.get_initial_variables,
        input_shapes={"encoder_input_tokens": (2, 8), "decoder_input_tokens": (2, 4)},
        partitioner=partitioning.PjitPartitioner(num_partitions=1))
    state = initializer.from_checkpoint(
        [utils.RestoreCheckpointConfig(path=str(ckpt), mode="specific", dtype="float32")],
        init_rng=jax.random.PRNGKey(0))
    restored = flax.core.unfreeze(state.params)
    same = jax.tree_util.tree_map(lambda a, b: np.array_equal(np.asarray(a), b), restored, params)
    assert all(jax.tree_util.tree_leaves(same))
