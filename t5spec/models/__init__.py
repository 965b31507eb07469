"""The student: T5X's T5 1.1 network (FlanT5 architecture), checkpoints, decoding, and the
specialization model whose loss (sparse top-k KL / CE, or step-by-step) is a config choice.

Names here resolve lazily so that ``import t5spec.models`` does not import JAX or T5X.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "SpecializationModel": "t5spec.models.specialization",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 't5spec.models' has no attribute {name!r}")
