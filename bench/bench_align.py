"""Benchmark: compiled alignment DP vs the plain-Python reference DP, plus teacher coverage.

Run (CPU, one core; needs ../shared/data or $T5SPEC_DATA_DIR)::

    python bench/bench_align.py [--synthetic 10000] [--reference_subset 40]

(a) the 52 real Codex samples of the paper release (teacher tokens as the default mode
    aligns them, T5 pieces of their target text): both DPs on all 52;
(b) N synthetic pairs of 150 teacher tokens (p50k_base) × their T5 pieces, built from random
    GSM8K training rationales: the compiled DP on all N in batches of 256, the reference on
    a subset, extrapolated per pair (printed as such). Outputs are compared on every pair
    the reference ran. Times are CPU seconds of this process (time.process_time), so other
    load on the machine does not skew the ratio; wall-clock pairs/s is printed too.
Also prints the % of T5 positions that get a teacher distribution on the 52 samples, for
paper_compat, the default mode, and the default mode without each of its matching choices.
Goal: ratio ≥ 50 and ≥ 2,000 pairs/s on (b). Last line: ``align_dp ratio: <x> (goal 50)``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("T5SPEC_DATA_DIR", str(REPO.parent / "shared" / "data"))

from t5spec.align import dp  # noqa: E402
from t5spec.align.aligner import AlignConfig, Aligner  # noqa: E402
from t5spec.align.paper_release import load_codex_samples  # noqa: E402
from t5spec.align.teacher_tokens import retokenize  # noqa: E402
from t5spec.align.vocab import T5Vocab  # noqa: E402
from t5spec.paths import data_file, t5_vocab_path  # noqa: E402

BATCH = 256


def _timed(fn):
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c0, time.perf_counter() - w0


def _compiled(pairs):
    out = []
    for i in range(0, len(pairs), BATCH):
        out += dp.align_batch(pairs[i:i + BATCH])
    return out


def _same(compiled, reference) -> bool:
    return all(c.tolist() == [list(p) for p in r] for c, r in zip(compiled, reference, strict=True))


def synthetic_pairs(vocab: T5Vocab, n: int, length: int = 150, seed: int = 0):
    """(teacher tokens, T5 pieces) of ``length`` p50k tokens of GSM8K-style text."""
    lines = data_file("gsm8k/train.jsonl").read_text(encoding="utf-8").splitlines()
    rationales = [re.sub(r"<<[^>]*>>", "", json.loads(x)["answer"].split("####")[0])
                  for x in lines]
    rng = random.Random(seed)
    pairs = []
    while len(pairs) < n:
        text = ""
        while len(text) < 6 * length:
            text += rng.choice(rationales)
        toks = retokenize(text)[:length]
        _, pieces = vocab.encode("".join(toks).strip())
        pairs.append((toks, pieces))
    return pairs


def coverage_table(vocab: T5Vocab, samples) -> None:
    configs = {
        "paper_compat": AlignConfig(paper_compat=True),
        "default": AlignConfig(),
        "default w/o word-initial match": AlignConfig(match_word_initial=False),
        "default w/o whitespace-invisible": AlignConfig(ignore_whitespace_tokens=False),
    }
    finished = [s for s in samples if s.finish_reason == "stop"]
    for name, cfg in configs.items():
        aligner = Aligner(vocab, cfg)
        for label, group in (("52 samples", samples), ("51 finished", finished)):
            jobs = []
            for s in group:
                try:
                    jobs.append(aligner.prepare(s))
                except Exception:  # paper_compat rejects the unfinished sample
                    continue
            out = aligner.finish(jobs)
            pos = sum(o.length for o in out)
            cov = sum(int(o.teacher_mask.sum()) for o in out)
            print(f"coverage {name:34s} {label}: {100 * cov / pos:5.1f}% of {pos} T5 positions"
                  f" ({len(out)} aligned)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", type=int, default=10_000)
    parser.add_argument("--reference_subset", type=int, default=40)
    args = parser.parse_args(argv)

    vocab = T5Vocab(t5_vocab_path())
    samples = load_codex_samples()
    coverage_table(vocab, samples)

    aligner = Aligner(vocab, AlignConfig())
    jobs = [aligner.prepare(s) for s in samples]
    real = [(j.prepared.teacher, j.t5_pieces) for j in jobs]
    dp.align_batch(real[:2])  # compile / load the numba cache outside the timings

    comp, c_cpu, c_wall = _timed(lambda: _compiled(real))
    ref, r_cpu, _ = _timed(lambda: [dp.align_reference(a, b) for a, b in real])
    print(f"(a) 52 real samples: compiled {1e3 * c_cpu:.1f} ms CPU ({len(real) / c_wall:.0f} "
          f"pairs/s wall), reference {1e3 * r_cpu:.0f} ms CPU; ratio {r_cpu / c_cpu:.0f}x; "
          f"identical: {_same(comp, ref)}")

    syn = synthetic_pairs(vocab, args.synthetic)
    mean_n = sum(len(a) for a, _ in syn) / len(syn)
    mean_m = sum(len(b) for _, b in syn) / len(syn)
    comp, c_cpu, c_wall = _timed(lambda: _compiled(syn))
    sub = syn[: args.reference_subset]
    ref, r_cpu, _ = _timed(lambda: [dp.align_reference(a, b) for a, b in sub])
    per_ref, per_comp = r_cpu / len(sub), c_cpu / len(syn)
    ratio = per_ref / per_comp
    print(f"(b) {len(syn)} synthetic pairs ({mean_n:.0f} x {mean_m:.0f} tokens): compiled "
          f"{c_cpu:.2f} s CPU = {len(syn) / c_cpu:.0f} pairs/s CPU ({len(syn) / c_wall:.0f} "
          f"pairs/s wall, goal 2000)")
    print(f"    reference on the first {len(sub)} pairs only: {1e3 * per_ref:.1f} ms/pair, "
          f"extrapolated to {per_ref * len(syn):.0f} s for all {len(syn)}; identical on the "
          f"subset: {_same(comp[: len(sub)], ref)}")
    print(f"align_dp ratio: {ratio:.0f} (goal 50)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
