"""The on-policy round's training data: the student's scored records mixed with the off-policy
teacher samples at an on-policy fraction λ (GKD's mixture rate), deterministically by seed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def _order(key: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def mix_counts(n_on: int, n_off: int, rate: float) -> tuple[int, int]:
    """(on-policy, off-policy) record counts whose on-policy fraction is λ = ``rate``, using
    as many records as that allows (all of one kind, a part of the other)."""
    if rate >= 1.0 or n_off == 0:
        return n_on, 0
    want_off = round(n_on * (1.0 - rate) / rate)
    if want_off <= n_off:
        return n_on, want_off
    return min(n_on, max(1, round(n_off * rate / (1.0 - rate)))), n_off


def mix(on_policy: Path, off_policy: Path, output: Path, rate: float, seed: int) -> dict:
    """Writes ``output/gsm8k_train-*.tfrecord``: :func:`mix_counts` records of each kind,
    each kind's records chosen by a seeded content hash of their keys (deterministic), and
    ``output/mix.json`` with the counts. Returns that summary."""
    from t5spec.align import store

    on = sorted(store.read_aligned(on_policy), key=lambda s: _order(s.key, seed))
    off = sorted(store.read_aligned(off_policy), key=lambda s: _order(s.key, seed))
    n_on, n_off = mix_counts(len(on), len(off), rate)
    output.mkdir(parents=True, exist_ok=True)
    for old in output.glob("gsm8k_train-*.tfrecord*"):
        old.unlink()
    store.write_shards([*on[:n_on], *off[:n_off]], output)
    summary = {"on_policy": n_on, "off_policy": n_off, "on_policy_available": len(on),
               "off_policy_available": len(off), "mixture_rate": rate,
               "on_policy_fraction": n_on / max(1, n_on + n_off)}  # fmt: skip
    (output / "mix.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return summary
