"""`t5spec report` prints test accuracies with 95% intervals and paired comparisons, from the
per-item prediction files the evaluation keeps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from eval_fixtures import dev_rows, write_results

from t5spec import report, report_stats
from t5spec.evaluate import diversity, items, runinfo, stats

pytest.importorskip("matplotlib")
N = 200


def _predictions(run: Path, step: int, column: str, correct: list[bool],
                 tasks: tuple[str, ...] = ("",)) -> None:  # fmt: skip
    bench, mode = column.split("/")
    folder = run / "eval" / f"test_checkpoint_{step}" / "inference_eval" / "predictions"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"t5spec_eval_{bench}_{mode}-test-{step:06d}.jsonl").open("w") as f:
        for i, ok in enumerate(correct):
            f.write(json.dumps({"id": str(i), "benchmark": bench, "mode": mode, "split": "test",
                                "bbh_task": tasks[i % len(tasks)], "correct": ok}) + "\n")


def _run(root: Path, name: str, step: int, gsm: list[bool], bbh: list[bool], *,
         baseline: bool) -> Path:  # fmt: skip
    run = root / name
    test = [(step, "gsm8k/zs_cot", "test", sum(gsm) / N), (step, "bbh/ao", "test", 0.5)]
    write_results(run / "eval" / f"test_checkpoint_{step}" / "inference_eval" / "results.jsonl",
                  test)  # fmt: skip
    _predictions(run, step, "gsm8k/zs_cot", gsm)
    _predictions(run, step, "bbh/ao", bbh, tasks=("task_a", "task_b"))
    if baseline:
        runinfo.write_run_info(run, stage="baseline", model="lab")
    else:
        write_results(run / "inference_eval" / "results.jsonl",
                      dev_rows(step, 0.2, (0.1, 0.1, 0.1), (0.3, 0.3)))  # fmt: skip
    return run


def test_table1_intervals_and_paired_comparisons(tmp_path: Path) -> None:
    base = [i % 20 == 0 for i in range(N)]  # 5%
    dm = [b or i % 5 == 1 for i, b in enumerate(base)]  # 25%, never worse: a paired win
    bbh = [i % 4 < 2 for i in range(N)]  # 50% in each task
    runs = [_run(tmp_path, "generalist", 100, base, bbh, baseline=True),
            _run(tmp_path, "dm", 300, dm, bbh, baseline=False),
            _run(tmp_path, "sm", 300, base, bbh, baseline=False)]  # fmt: skip
    md = report.build_report(runs, tmp_path / "out").read_text()
    table1 = md.split("## Table 1")[1].split("## Comparisons")[0]
    gsm = stats.bootstrap_accuracy(dm, samples=report_stats.SAMPLES)
    assert f"| 300 | 25.0 [{100 * gsm.low:.1f}, {100 * gsm.high:.1f}] |" in table1
    assert "| not run | not run | not run | 50.0 [" in table1  # BBH-AO, macro over 2 tasks
    comparisons = md.split("## Comparisons")[1].split("## Table 2")[0]
    assert "| dm − generalist | GSM8K | 200 | +20.0 [+" in comparisons
    assert "dm wins over generalist by +20.0 points [+" in comparisons
    assert "| sm − generalist | GSM8K | 200 | +0.0 [+0.0, +0.0] | sm − generalist: inside " \
        "the noise, +0.0 [+0.0, +0.0] |" in comparisons  # identical answers: exactly 0
    assert "| dm − sm | BBH-AO | 200 | +0.0 [+0.0, +0.0] |" in comparisons
    table3 = md.split("## Table 3")[1].split("## Outputs")[0]
    # BBH (AO+CoT)/2 needs both modes: not run, no interval
    ci = f"{100 * gsm.low:.1f}, {100 * gsm.high:.1f}"
    assert f"| dm | gsm8k_dev | 300 | 20.0 | 25.0 [{ci}] | not run | not run |" in table3


def test_without_per_item_files_numbers_print_without_intervals(tmp_path: Path) -> None:
    run = tmp_path / "old"
    write_results(run / "eval" / "test_checkpoint_1" / "inference_eval" / "results.jsonl",
                  [(1, "gsm8k/zs_cot", "test", 0.05)])  # fmt: skip
    runinfo.write_run_info(run, stage="baseline", model="lab")
    md = report.build_report([run], tmp_path / "out").read_text()
    assert "| old | lab | — | — | 1 | 5.0 | not run |" in md
    assert "no per-item test predictions to pair" in md


def test_items_pair_by_key_not_by_position(tmp_path: Path) -> None:
    a = items.Items(("1", "2", "3"), np.array([True, False, True]))
    b = items.Items(("3", "1"), np.array([False, True]))
    (xa, xb), groups = items.common([a, b])
    assert xa.tolist() == [True, True] and xb.tolist() == [True, False] and groups is None
    with pytest.raises(ValueError, match="share no test item"):
        items.common([a, items.Items(("9",), np.array([True]))])


def _dev_predictions(folder: Path, step: int, correct: list[bool]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"t5spec_eval_gsm8k_zs_cot-dev-{step:06d}.jsonl").open("w") as f:
        for i, ok in enumerate(correct):
            f.write(json.dumps({"id": str(i), "benchmark": "gsm8k", "mode": "zs_cot",
                                "split": "dev", "bbh_task": "", "correct": ok,
                                "output": "The answer is 5", "extracted": "5"}) + "\n")


def test_table2_before_and_after_carry_dev_intervals(tmp_path: Path) -> None:
    base, dm = [i % 20 == 0 for i in range(N)], [i % 5 == 0 for i in range(N)]  # 5% -> 20%
    gen = _run(tmp_path, "generalist", 100, base, base, baseline=True)
    dev_dir = gen / "eval" / "validation_checkpoint_100" / "inference_eval"
    write_results(dev_dir / "results.jsonl", dev_rows(100, 0.05, (0.1, 0.1, 0.1), (0.3, 0.3)))
    _dev_predictions(dev_dir / "predictions", 100, base)
    run = _run(tmp_path, "dm", 300, dm, base, baseline=False)
    _dev_predictions(run / "inference_eval" / "predictions", 300, dm)
    runinfo.write_run_info(run, model="lab")  # "before" = the same model's generalist
    md = report.build_report([gen, run], tmp_path / "out").read_text()
    table2 = md.split("## Table 2")[1].split("## Table 3")[0]
    before, after = (stats.bootstrap_accuracy(x, samples=report_stats.SAMPLES) for x in (base, dm))
    assert (f"| 5.0 [{100 * before.low:.1f}, {100 * before.high:.1f}] → "
            f"20.0 [{100 * after.low:.1f}, {100 * after.high:.1f}] | 10.0 → 10.0 |") in table2


def test_a_predictions_line_without_its_output_names_file_line_and_field(tmp_path: Path) -> None:
    from t5spec.errors import InputError

    folder = tmp_path / "run" / "inference_eval" / "predictions"
    _dev_predictions(folder, 3, [True])
    path = folder / "t5spec_eval_gsm8k_zs_cot-dev-000003.jsonl"
    path.write_text(path.read_text().replace('"output"', '"outptu"'))
    with pytest.raises(InputError, match=r"dev-000003.jsonl:line 1: field 'output': missing"):
        diversity.read_summary(tmp_path / "run", 3)
