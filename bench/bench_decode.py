"""Decoding speed: t5spec's decoder (T5X temperature_sample + per-step top-k records) vs HF.

T5-small shape (FlanT5-small: d_model 512, 8+8 layers, 32128 vocab), random weights shared by
both sides, float32, CPU; batch 32, 64 input tokens, 128 new tokens greedy, EOS disabled, the
decoder cache on both sides. Ours also returns per-token log-probs and the top-5 alternatives
at each step; HF `generate` returns tokens only. Compile time is reported apart.

  python bench/bench_decode.py        # last line: decode ratio: <x> (goal 2.0)
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

BATCH, INPUT_LEN, NEW_TOKENS = 32, 64, 128


def main() -> None:
    import numpy as np
    import torch
    import transformers

    from t5spec.models import hf_convert, presets
    from t5spec.models.decoding import Decoder, SamplingParams

    config = presets.network_config(presets.gin_file("small")).replace(dtype="float32")
    hf_cfg = transformers.T5Config(**{k: v for k, v in hf_convert.hf_config(config).items()
                                      if k not in ("architectures", "dtype")})
    torch.manual_seed(0)
    hf = transformers.T5ForConditionalGeneration(hf_cfg).eval()
    hf.lm_head.weight = torch.nn.Parameter(torch.randn(config.vocab_size, config.emb_dim))
    params = hf_convert.hf_to_t5x_params(
        {k: v.numpy() for k, v in hf.state_dict().items()}, config, "random")
    enc = np.random.RandomState(0).randint(2, 32000, size=(BATCH, INPUT_LEN))

    decoder = Decoder(config, params, eos_id=None)
    sampling = SamplingParams(max_new_tokens=NEW_TOKENS, num_alternatives=5)
    t0 = time.perf_counter()
    decoder.generate(enc, sampling)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = decoder.generate(enc, sampling)
    ours_s = time.perf_counter() - t0

    with torch.no_grad():
        t0 = time.perf_counter()
        out = hf.generate(input_ids=torch.tensor(enc), attention_mask=torch.ones(BATCH, INPUT_LEN),
                          max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False,
                          eos_token_id=None, use_cache=True)
        hf_s = time.perf_counter() - t0
    same = float((out[:, 1:].numpy() == ours.tokens).mean())
    toks = BATCH * NEW_TOKENS
    print(f"torch threads {torch.get_num_threads()}; tokens agreeing with HF: {same:.3f}")
    print(f"ours: {ours_s:.2f} s ({toks / ours_s:.0f} tok/s; first call incl. compile "
          f"{compile_s:.2f} s); HF generate: {hf_s:.2f} s ({toks / hf_s:.0f} tok/s)")
    print(f"decode ratio: {hf_s / ours_s:.2f} (goal 2.0)")


if __name__ == "__main__":
    main()
