"""The report's collapse check: what a checkpoint wrote, read back from the predictions files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from t5spec.evaluate import diversity


def _write(path: Path, rows: list[tuple[str, str, str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(
        json.dumps({"benchmark": b, "mode": m, "output": o, "extracted": e}) + "\n"
        for b, m, o, e in rows), encoding="utf-8")


def test_a_constant_answer_is_one_distinct_answer_at_full_share() -> None:
    s = diversity.summarize(["The answer is 21"] * 3, ["21"] * 3)
    assert (s.examples, s.distinct_answers, s.top_output, s.top_share, s.with_steps) == (
        3, 1, "The answer is 21", 1.0, 0.0)


def test_worked_steps_and_distinct_answers_are_counted() -> None:
    outputs = ["4 + 4 = 8\nThe answer is 8", "The answer is 9", "The answer is 9", "no idea"]
    s = diversity.summarize(outputs, ["8", "9", "9", ""])
    assert s.distinct_answers == 3  # 8, 9 and the empty extraction
    assert (s.top_output, s.top_share, s.with_steps) == ("The answer is 9", 0.5, 0.25)


def test_mismatched_or_empty_inputs_are_errors() -> None:
    with pytest.raises(ValueError, match="2 outputs but 1 extracted"):
        diversity.summarize(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="no outputs"):
        diversity.summarize([], [])


def test_reads_training_and_eval_layouts_and_keeps_only_the_asked_task(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _write(run / "inference_eval" / "predictions" / "t5spec_eval_gsm8k_zs_cot-dev-000120.jsonl",
           [("gsm8k", "zs_cot", "The answer is 3", "3"), ("gsm8k", "zs_cot", "1 + 2 = 3", "3")])
    # t5x.eval's layout, same step: a BBH file and an in-context GSM8K file are not counted
    folder = run / "eval" / "validation_checkpoint_120" / "inference_eval" / "predictions"
    _write(folder / "t5spec_eval_bbh_ao-dev-000120.jsonl", [("bbh", "ao", "(A)", "(A)")])
    _write(folder / "t5spec_eval_gsm8k_ic_cot-dev-000120.jsonl",
           [("gsm8k", "ic_cot", "The answer is 7", "7")])
    _write(folder / "t5spec_eval_gsm8k_zs_cot-dev-000120.jsonl",
           [("gsm8k", "zs_cot", "The answer is 3", "3")])
    s = diversity.read_summary(run, 120)
    assert s is not None
    assert (s.examples, s.distinct_answers, s.top_output) == (3, 1, "The answer is 3")
    assert s.top_share == pytest.approx(2 / 3) and s.with_steps == pytest.approx(1 / 3)
    assert diversity.read_summary(run, 140) is None  # no predictions at that step
    assert diversity.read_summary(run, 120, split="test") is None
