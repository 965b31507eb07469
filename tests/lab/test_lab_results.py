"""The lab's printed claim and its results files, from per-item prediction files."""

from __future__ import annotations

from pathlib import Path

from results_fixtures import write_predictions, write_selection

from t5spec.lab import config as lab_config
from t5spec.lab import pipeline, stages

REPO = Path(__file__).resolve().parents[2]


def _cfg() -> lab_config.LabConfig:
    return lab_config.load([str(REPO / "gin" / "lab_quick.gin")])


def test_main_claim_prints_a_paired_interval_per_specialization(tmp_path: Path) -> None:
    paths = stages.LabPaths(tmp_path)
    n = 200
    base = [i % 20 == 0 for i in range(n)]  # 5%
    for name, step, correct in (("generalist", 4, base),
                                ("dm", 8, [b or i % 4 == 1 for i, b in enumerate(base)]),
                                ("sm", 8, [(b or i % 50 == 1) and i % 100 != 0  # +4, -2 items
                                          for i, b in enumerate(base)])):
        write_predictions(paths.run(name), step, "gsm8k/zs_cot", correct)
        write_selection(paths.run(name), step)
    lines = pipeline.main_claim(_cfg(), paths)
    assert len(lines) == 2
    assert lines[0].startswith("GSM8K-slot test, 200 problems: generalist 5.0 [")
    assert "dm wins over generalist by +25.0 points [+" in lines[0]
    assert "sm − generalist: inside the noise, +1.0 [" in lines[1]


def test_main_claim_says_why_it_cannot_pair(tmp_path: Path) -> None:
    paths = stages.LabPaths(tmp_path)
    lines = pipeline.main_claim(_cfg(), paths)
    assert lines == [f"no paired interval: {paths.run('generalist') / 'selection.json'} names "
                     "no gsm8k_dev checkpoint"]
    write_selection(paths.run("generalist"), 4)
    assert "no per-item gsm8k/zs_cot test predictions of generalist at step 4" in \
        pipeline.main_claim(_cfg(), paths)[0]
