"""A tiny real model trained a few steps with ``python -m t5x.train``, evaluated end to end.

The run uses the project's own gins (gin/flant5_small_spec.gin + gin/cpu_tiny.gin, i.e.
gin/infer_eval.gin) on GSM8K gold rationales, with infer_eval on math and BBH dev subsets
before training and at each checkpoint (BBH only before training and at the end). Then
``t5spec select`` evaluates the chosen checkpoint on the test splits through ``t5x.eval``
(gin/eval_spec.gin) and ``t5spec report`` renders every table and figure from the run.
Accuracies of a random 518k-parameter model are 0.0 — the point is real numbers flowing
through every stage, not accuracy.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from eval_fixtures import assert_nontrivial_png

from t5spec.cli import main
from t5spec.evaluate import results, select

pytestmark = pytest.mark.slow
EVAL_TASKS = {"gsm8k/zs_cot", "gsm8k/ic_cot", "multiarith/zs_cot", "asdiv/zs_cot",
              "svamp/zs_cot", "bbh/ao", "bbh/cot"}  # fmt: skip


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, repo_root: Path, data_dir: Path) -> Path:
    run = tmp_path_factory.mktemp("tiny") / "tiny_gold"
    argv = [
        sys.executable, "-m", "t5x.train",
        "--gin_file=gin/flant5_small_spec.gin", "--gin_file=gin/cpu_tiny.gin",
        f"--gin.MODEL_DIR='{run}'",
        f"--gin.T5SPEC_VOCAB='{data_dir / 't5_vocab' / 'spiece.model'}'",
        "--gin.MIXTURE_OR_TASK_NAME='t5spec_gsm8k_gold_spec'",
        "--gin.EVAL_MIXTURE='t5spec_eval_all'",
        "--gin.EVAL_TASK_PERIODS={'t5spec_eval_bbh_*': 0}",
        "--gin.train.run_eval_before_training=True",
        "--gin.EVAL_MAX_EXAMPLES=3", "--gin.MAX_DECODE_LENGTH=8",
    ]  # fmt: skip
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(argv, cwd=repo_root, env=env, capture_output=True, text=True,
                          timeout=1200, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    return run


def _tb_scalars(event_dir: Path, tag: str) -> dict[int, float]:
    import tensorflow as tf

    out = {}
    for path in event_dir.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for v in event.summary.value:
                if v.tag == tag:
                    out[event.step] = float(tf.make_ndarray(v.tensor))
    return out


def test_infer_eval_writes_tensorboard_and_results(tiny_run: Path) -> None:
    assert sorted(p.name for p in tiny_run.glob("checkpoint_*")) == [
        "checkpoint_0", "checkpoint_3", "checkpoint_6"]  # fmt: skip
    dev = results.accuracy_table(results.load_run(tiny_run), "dev")
    assert set(dev) == {0, 3, 6}
    assert set(dev[0]) == set(dev[6]) == EVAL_TASKS  # before training and at the end: all
    assert set(dev[3]) == EVAL_TASKS - {"bbh/ao", "bbh/cot"}  # BBH not due at step 3
    assert all(0.0 <= v <= 1.0 for row in dev.values() for v in row.values())
    scalars = _tb_scalars(tiny_run / "inference_eval" / "t5spec_eval_gsm8k_zs_cot",
                          "eval/accuracy")  # fmt: skip
    assert set(scalars) == {0, 3, 6} and scalars[6] == dev[6]["gsm8k/zs_cot"]
    assert _tb_scalars(tiny_run / "train", "loss")  # T5X's own training scalars
    preds = tiny_run / "inference_eval" / "predictions" / "t5spec_eval_bbh_cot-dev-000006.jsonl"
    lines = [json.loads(x) for x in preds.read_text().splitlines()]
    assert len(lines) == 3 and all(isinstance(ln["correct"], bool) for ln in lines)


def _best_step(dev: results.Table, rule: str) -> int:
    cols = select.rule_columns(rule)
    score = {s: sum(row[c] for c in cols) / len(cols) for s, row in dev.items()}
    return min(s for s, v in score.items() if v == max(score.values()))


@pytest.fixture(scope="module")
def selected_run(tiny_run: Path, data_dir: Path) -> Path:
    """The tiny run after `t5spec select` (the report reads its selection and test rows)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["select", f"--run={tiny_run}", "--by=mas_dev,gsm8k_dev", "--max_examples=2",
                     "--max_decode_length=8", "--batch_size=4",
                     f"--vocab={data_dir / 't5_vocab' / 'spiece.model'}"])  # fmt: skip
    assert code == 0, err.getvalue()[-4000:]
    return tiny_run


def test_select_evaluates_each_rules_argmax_on_test(selected_run: Path) -> None:
    dev = results.accuracy_table(results.load_run(selected_run), "dev")
    trained = {s: row for s, row in dev.items() if s != 0}  # step 0: the "before" baseline
    best = {rule: _best_step(trained, rule) for rule in ("mas_dev", "gsm8k_dev")}
    chosen = json.loads((selected_run / "selection.json").read_text())["rules"]
    assert {rule: chosen[rule]["step"] for rule in best} == best
    test = results.accuracy_table(results.load_run(selected_run), "test")
    assert set(test) == set(best.values())  # one t5x.eval, every selected checkpoint
    assert all(set(row) == EVAL_TASKS for row in test.values())


def test_select_again_finds_every_step_done_and_runs_nothing(
        selected_run: Path, capsys) -> None:
    """A second ``select`` (the lab's resume after a kill once the test results were written)
    evaluates nothing, makes no empty checkpoint folder and exits 0."""
    before = sorted((selected_run / "eval").iterdir())
    assert main(["select", f"--run={selected_run}", "--by=mas_dev,gsm8k_dev"]) == 0
    assert "already has test results" in capsys.readouterr().out
    assert sorted((selected_run / "eval").iterdir()) == before


def test_report_renders_every_table_and_figure(selected_run: Path, tmp_path: Path) -> None:
    assert main(["report", f"--runs={selected_run}", f"--output={tmp_path}"]) == 0
    md = (tmp_path / "report.md").read_text()
    for heading in ("## Table 1", "## Table 2", "## Table 3", "## Figure 2", "## Figure 3",
                    "## Figure 4"):  # fmt: skip
        assert heading in md
    table1 = md.split("## Table 1")[1].split("## Table 2")[0]
    assert "| tiny_gold | tiny | ce | gold:all |" in table1
    row = next(ln for ln in table1.splitlines() if ln.startswith("| tiny_gold"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert all(float(c.split()[0]) >= 0 for c in cells[5:]), row  # numbers [interval], no "not run"
    table2 = md.split("## Table 2")[1].split("## Table 3")[0]
    row2 = next(ln for ln in table2.splitlines() if ln.startswith("| tiny_gold"))
    pairs = [c.strip().split(" → ") for c in row2.strip("|").split("|")[4:]]
    assert len(pairs) == 6 and all(before != "not run" for before, _ in pairs)  # step 0
    # after = the GSM8K-dev pick among trained steps (3 or 6): math always evaluated there
    assert all(after != "not run" for _, after in pairs[:4]), row2
    for name in ("fig2_curves.png", "fig3_matching.png", "fig4_formats.png"):
        assert_nontrivial_png(tmp_path / name)
