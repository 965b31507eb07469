"""Helpers shared by the evaluation tests: results files as the ResultsLogger writes them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def write_results(path: Path, rows: list[tuple[int, str, str, float]]) -> Path:
    """rows: (step, column, split, accuracy) as the ResultsLogger writes them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        for step, column, split, acc in rows:
            bench, mode = column.split("/")
            f.write(
                json.dumps(
                    {
                        "step": step,
                        "task": f"t5spec_eval_{bench}_{mode}",
                        "benchmark": bench,
                        "mode": mode,
                        "split": split,
                        "column": column,
                        "num_examples": 10,
                        "metrics": {"accuracy": acc},
                    }
                )
                + "\n"
            )
    return path


def dev_rows(step: int, gsm: float, mas: tuple[float, float, float], bbh: tuple[float, float]):
    cols = [
        "gsm8k/zs_cot",
        "multiarith/zs_cot",
        "asdiv/zs_cot",
        "svamp/zs_cot",
        "bbh/ao",
        "bbh/cot",
    ]
    return [(step, c, "dev", v) for c, v in zip(cols, (gsm, *mas, *bbh), strict=True)]


def assert_nontrivial_png(path: Path) -> None:
    """A real picture: PNG signature, not tiny, not a constant colour."""
    import matplotlib.image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 5_000
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[0] >= 200 and pixels.shape[1] >= 300
    assert np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0).shape[0] > 10
