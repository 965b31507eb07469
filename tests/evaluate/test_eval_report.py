"""The report renders every table and figure from results files; missing inputs read "not run"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eval_fixtures import assert_nontrivial_png, dev_rows, write_results

from t5spec import report, report_data
from t5spec.evaluate import runinfo

pytest.importorskip("matplotlib")


def _specialized(root: Path, name: str, *, loss_weight: float, mixture: str) -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / "config.gin").write_text(
        "MODEL = @spec_models.SpecializationModel()\n"
        f"MIXTURE_OR_TASK_NAME = '{mixture}'\nTRAIN_STEPS = 300\n"
        f"spec_models.SpecializationModel.distill_weight = {loss_weight}\n"
        "network.T5Config.emb_dim = 512\nnetwork.T5Config.num_encoder_layers = 8\n"
    )
    rows = (
        dev_rows(100, 0.10, (0.3, 0.3, 0.3), (0.40, 0.30))
        + dev_rows(200, 0.20, (0.4, 0.4, 0.4), (0.35, 0.25))
        + [(200, "gsm8k/ic_cot", "dev", 0.15)]
    )
    write_results(run / "inference_eval" / "results.jsonl", rows)
    test = [
        (200, c, "test", v)
        for c, v in zip(report.TABLE_COLS, (0.21, 0.5, 0.45, 0.4, 0.33, 0.22), strict=True)
    ]
    write_results(run / "eval" / "test_checkpoint_200" / "inference_eval" / "results.jsonl", test)
    return run


def test_report_tables_figures_and_not_run(tmp_path: Path) -> None:
    kl = _specialized(tmp_path, "small_kl", loss_weight=1.0, mixture="t5spec_gsm8k_spec")
    ce = _specialized(
        tmp_path, "small_ce_zs", loss_weight=0.0, mixture="t5spec_gsm8k_spec_zero_shot"
    )
    base = tmp_path / "flant5_small_before"
    write_results(
        base / "eval" / "validation_checkpoint_1" / "inference_eval" / "results.jsonl",
        dev_rows(1198000, 0.05, (0.2, 0.2, 0.2), (0.45, 0.35)),
    )
    runinfo.write_run_info(base, stage="baseline", model="small")

    preds = kl / "inference_eval" / "predictions" / "t5spec_eval_gsm8k_zs_cot-dev-000200.jsonl"
    preds.parent.mkdir(parents=True)
    preds.write_text("".join(json.dumps(  # the fields PredictionsLogger writes
        {"id": f"gsm8k/dev/{i}", "benchmark": "gsm8k", "mode": "zs_cot", "output": o,
         "extracted": e, "correct": e == "5"}) + "\n"
        for i, (o, e) in enumerate((("The answer is 5", "5"), ("The answer is 5", "5"),
                                    ("2 | 3 = 5\nok", "5"), ("The answer is 6", "6")))))

    md = report.build_report([base, kl, ce], tmp_path / "out").read_text()
    table1 = md.split("## Table 1")[1].split("## Table 2")[0]
    assert (
        "| small_kl | small | kl | all | 200 | 21.0 | 50.0 | 45.0 | 40.0 | 33.0 | 22.0 |" in table1
    )
    assert "| small_ce_zs | small | ce | zero_shot | 200 |" in table1
    # the baseline has no test results: explicit "not run", never 0
    assert "| flant5_small_before | small | — | — | 1198000 | not run | not run |" in table1
    table2 = md.split("## Table 2")[1].split("## Table 3")[0]
    assert "5.0 → 20.0" in table2 and "45.0 → 35.0" in table2
    table3 = md.split("## Table 3")[1].split("## Figure 2")[0]
    assert "| small_kl | gsm8k_dev | 200 | 20.0 | 21.0 | 45.0 | 27.5 |" in table3
    assert "| small_kl | bbh_dev | 100 | 35.0 | not run | not run | not run |" in table3
    outputs = md.split("## Outputs")[1].split("## Figure 2")[0]
    assert "| small_kl | 200 | 4 | 2 | The answer is 5 (50.0) | 25.0 |" in outputs
    assert "| small_ce_zs | 200 | not run | not run | not run | not run |" in outputs  # no files
    for name in report.FIGURES:
        assert_nontrivial_png(tmp_path / "out" / name)


def test_loss_curve_reads_tensor_and_simple_values_and_stops_at_a_torn_record(tmp_path) -> None:
    """T5X writes scalars as tensors (TF2 summaries), older writers as simple values; a record
    still being written (torn tail) ends the curve instead of failing the report."""
    import tensorflow as tf  # a T5X dependency: always here

    train = tmp_path / "run" / "train"
    writer = tf.summary.create_file_writer(str(train))
    with writer.as_default():
        for step, value in ((10, 2.5), (20, 1.25)):
            tf.summary.scalar("loss", value, step=step)
            tf.summary.scalar("accuracy", 0.5, step=step)
    writer.close()
    legacy = tf.compat.v1.Summary(value=[tf.compat.v1.Summary.Value(tag="loss", simple_value=0.75)])
    event = tf.compat.v1.Event(step=30, summary=legacy)
    with tf.io.TFRecordWriter(str(train / "events.out.tfevents.2.legacy")) as records:
        records.write(event.SerializeToString())
    with (train / "events.out.tfevents.2.legacy").open("ab") as f:
        f.write(b"\x40\x00\x00")  # a length header cut short
    assert report_data.read_loss_curve(tmp_path / "run") == [(10, 2.5), (20, 1.25), (30, 0.75)]
    assert report_data.read_loss_curve(tmp_path / "missing") == []
