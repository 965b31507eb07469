"""Run folders holding per-item test predictions, in the files the PredictionsLogger writes."""

from __future__ import annotations

import json
from pathlib import Path

MATH = ("gsm8k", "multiarith", "asdiv", "svamp")


def write_predictions(run: Path, step: int, column: str, correct: list[bool],
                      split: str = "test", tasks: tuple[str, ...] = ()) -> Path:  # fmt: skip
    """``RUN/eval/<split>_checkpoint_<step>/inference_eval/predictions/<task>-…jsonl``."""
    bench, mode = column.split("/")
    folder = run / "eval" / f"{split}_checkpoint_{step}" / "inference_eval" / "predictions"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"t5spec_eval_{bench}_{mode}-{split}-{step:06d}.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for i, ok in enumerate(correct):
            task = tasks[i % len(tasks)] if tasks else ""
            f.write(json.dumps({"id": f"{bench}-{i}", "benchmark": bench, "mode": mode,
                                "split": split, "bbh_task": task, "input": "q",
                                "output": "o", "extracted": "1", "gold": "1",
                                "correct": bool(ok)}) + "\n")  # fmt: skip
    return path


def write_results(run: Path, step: int, accuracy: dict[str, float], split: str = "test") -> None:
    """The matching ``results.jsonl`` line per column (what the ResultsLogger writes)."""
    path = run / "eval" / f"{split}_checkpoint_{step}" / "inference_eval" / "results.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        for column, acc in accuracy.items():
            f.write(json.dumps({"step": step, "column": column, "split": split,
                                "num_examples": 10, "metrics": {"accuracy": acc}}) + "\n")


def write_selection(run: Path, step: int) -> None:
    rules = {rule: {"step": step, "score": 0.1} for rule in ("gsm8k_dev", "mas_dev")}
    run.mkdir(parents=True, exist_ok=True)
    (run / "selection.json").write_text(json.dumps({"rules": rules}))
