"""Deterministic dev/test splits, identical on every machine and Python version.

An item's place in a split depends only on (split name, seed, its index in the source file):
indices are ordered by ``sha256("t5spec-split/<name>/<seed>/<index>")`` and the first
``n_dev`` form the dev set, the rest the test set. No ``random``, no ``hash()`` (salted per
process), no numpy — so the ids are stable across processes and library versions, and adding
or removing other items never moves an item across the dev/test boundary by accident
(only the boundary count does).

The sizes (the paper's text is inconsistent — "randomly sample 500 instances as the validation
set, and use the remaining instances (800 for GSM8K, 400 for MultiArith, 18K for ASDiv, 500 for
SVAMP) as the test set" — so t5spec fixes them here):

=========== ============================ ====== ==============================
dataset     pool                         dev    test
=========== ============================ ====== ==============================
gsm8k       test.jsonl (1319)            500    819
svamp       SVAMP.json (1000)            500    500
multiarith  MultiArith.json (600)        200    400
asdiv       ASDiv.xml single-number      500    the rest (see math_datasets)
            answers
bbh         each task's examples         50     the rest (per task)
=========== ============================ ====== ==============================
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

DEFAULT_SEED = 0

# dataset -> number of dev items (the rest of the pool is test).
DEV_SIZES: dict[str, int] = {"gsm8k": 500, "svamp": 500, "multiarith": 200, "asdiv": 500}
BBH_DEV_SIZE = 50


def _key(name: str, seed: int, index: int) -> bytes:
    return hashlib.sha256(f"t5spec-split/{name}/{seed}/{index}".encode()).digest()


def split_indices(
    name: str, pool: Sequence[int], n_dev: int, *, seed: int = DEFAULT_SEED
) -> tuple[list[int], list[int]]:
    """Splits source-file indices into (dev, test), each sorted ascending.

    Args:
      name: split namespace, e.g. ``"svamp"`` or ``"bbh/snarks"``; different names give
        independent permutations.
      pool: the eligible source indices (distinct).
      n_dev: how many go to dev; 0 <= n_dev <= len(pool).
      seed: permutation seed.
    """
    if len(set(pool)) != len(pool):
        raise ValueError("pool indices must be distinct")
    if not 0 <= n_dev <= len(pool):
        raise ValueError(f"n_dev={n_dev} outside [0, {len(pool)}]")
    order = sorted(pool, key=lambda i: _key(name, seed, i))
    return sorted(order[:n_dev]), sorted(order[n_dev:])
