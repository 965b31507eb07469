"""Test-wide setup: where the shared raw data lives, and offline tiktoken.

Tests read the data from ``../shared/data`` beside the checkout (as CI lays it out) unless
``$T5SPEC_DATA_DIR`` already points elsewhere. Nothing here is a default for users.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("T5SPEC_DATA_DIR") or REPO.parent / "shared" / "data")
os.environ["T5SPEC_DATA_DIR"] = str(SHARED_DATA)
os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(SHARED_DATA / "tiktoken" / "cache"))
# TensorFlow (imported by SeqIO) must never grab an accelerator in tests.
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The raw-data root (layout of shared/data)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared data not found at {SHARED_DATA}: put shared/ beside the checkout")
    return SHARED_DATA


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO
