"""``t5spec lab --quick`` end to end: every stage really runs (T5X training, the served teacher
answering the teacher client, alignment, specialization with dev evaluation, selection with
test evaluation, the report), then a second invocation finds everything cached.

The module's lab run is itself interrupted: the first ``t5spec lab --quick`` (a child process
group) is SIGKILLed once ``specialize_dm`` has written a checkpoint, and the same command run
again must resume that stage from the checkpoint and finish, so every test below reads the
output of a resumed run.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import tensorflow as tf
from lab_procs import run_until_then_kill

from t5spec.cli import main
from t5spec.evaluate import results
from t5spec.lab import config as lab_config
from t5spec.lab import runner, stages
from t5spec.subprocs import T5X_TRAIN_FINISHED as T5X_FINISHED
from t5spec.teacher import store

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # the lab run, killed and resumed
REPO = Path(__file__).resolve().parents[2]
CHECKPOINT_SAVED = re.compile(
    r"Finished saving checkpoint .*? to `(\S*/runs/dm/checkpoint_\d+)\S*`")


def run_until_checkpoint_then_kill(argv: list[str], log: Path, out: Path,
                                   timeout_s: float = 1200) -> str:
    """Runs ``t5spec *argv`` (output to ``out``) in its own process group; SIGKILLs the group
    once ``log`` shows a committed checkpoint of the dm run. Returns that checkpoint's path."""
    def saved() -> str | None:
        text = log.read_text(errors="replace") if log.is_file() else ""
        found = CHECKPOINT_SAVED.search(text)
        return found.group(1) if found else None

    return run_until_then_kill(argv, saved, out, timeout_s, what=f"no dm checkpoint in {log}")


@pytest.fixture(scope="module")
def killed_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("lab")
    argv = ["lab", "--quick", f"--lab_dir={root}", "--no_progress"]
    checkpoint = run_until_checkpoint_then_kill(
        argv, stages.LabPaths(root).log("specialize_dm"), root.parent / f"{root.name}.out")
    assert not stages.LabPaths(root).marker("specialize_dm").exists()  # killed mid-stage
    assert main(argv) == 0  # the same command again
    return root, checkpoint


@pytest.fixture(scope="module")
def lab_dir(killed_checkpoint: tuple[Path, str]) -> Path:
    return killed_checkpoint[0]


def test_the_killed_specialization_resumed_from_its_checkpoint(killed_checkpoint) -> None:
    root, checkpoint = killed_checkpoint
    log = stages.LabPaths(root).log("specialize_dm").read_text(errors="replace")
    first, rerun = log.split("\n$ ")[-2:]  # run_logged starts each invocation with "$ argv"
    assert f"Restoring checkpoint from {checkpoint}" not in first
    assert f"Restoring checkpoint from {checkpoint}" in rerun  # not the generalist's
    assert T5X_FINISHED.search(rerun)
    assert (root / "report" / "report.md").is_file()


def test_every_stage_ran_and_left_its_artifacts(lab_dir: Path) -> None:
    cfg = lab_config.load([str(REPO / "gin" / "lab_quick.gin")])
    paths = stages.LabPaths(lab_dir)
    names = ["data", "generalist", "teacher", "sample", "align", "specialize_dm",
             "specialize_sm", "select_generalist", "select_dm", "select_sm", "report"]  # fmt: skip
    for name in names:
        marker = json.loads(paths.marker(name).read_text())
        assert marker["seconds"] >= 0 and marker["summary"], name
        if name in ("generalist", "teacher", "specialize_dm", "specialize_sm"):  # t5x.train
            assert 0 < marker["startup_seconds"] < marker["seconds"], name
        else:
            assert marker["startup_seconds"] is None, name
    for run, steps in (("generalist", 4), ("teacher", 40)):
        assert (paths.run(run) / f"checkpoint_{steps}" / "state").is_dir()
    start = cfg.generalist.steps
    for run in ("dm", "sm"):
        assert sorted(int(p.name.split("_")[1]) for p in paths.run(run).glob("checkpoint_*")) \
            == [start, start + 4]
    assert (paths.data / "teacher_vocab" / "teacher.model").is_file()
    cache = Path(runner.child_env(paths)["JAX_COMPILATION_CACHE_DIR"])  # LAB/jax_cache by default
    assert any(cache.iterdir())  # compiled programs, reused by later processes


def test_the_served_teacher_answered_with_top5_logprobs(lab_dir: Path) -> None:
    samples = list(store.read_samples(lab_dir / "teacher_samples"))
    assert len(samples) == 12 * 2  # questions × samples per question (gin/lab_quick.gin)
    assert all(s.model == "lab-teacher" and s.valid for s in samples)
    for s in samples:
        assert s.tokens and len(s.top_logprobs) == len(s.tokens)
        assert all(len(alts) == 5 for alts in s.top_logprobs)
        assert all(lp <= 0.0 and math.isfinite(lp) for lp in s.token_logprobs)
        assert "".join(s.tokens) == s.text


def test_aligned_data_has_distribution_positions(lab_dir: Path) -> None:
    shards = sorted((lab_dir / "aligned").glob("gsm8k_train-*.tfrecord*"))
    masks = []
    for record in tf.data.TFRecordDataset([str(p) for p in shards]):
        ex = tf.train.Example.FromString(record.numpy())
        masks.append(list(ex.features.feature["teacher_mask"].int64_list.value))
    # The quick teacher is untrained: most of its samples hold byte-fallback garbage the student
    # tokenizer cannot encode (rejected, with reasons, in rejects.jsonl); what aligns carries
    # the teacher's distribution at one-to-one positions.
    assert masks and all(sum(m) > 0 for m in masks)
    summary = json.loads((lab_dir / "aligned" / "_summary.json").read_text())
    rejects = (lab_dir / "aligned" / "rejects.jsonl").read_text().splitlines()
    assert len(masks) + len(rejects) == 24, summary


DEV_COLUMNS = {"gsm8k/zs_cot", "multiarith/zs_cot", "asdiv/zs_cot", "svamp/zs_cot", "bbh/ao",
               "bbh/cot"}  # fmt: skip


def test_students_have_evaluated_dev_and_test_numbers(lab_dir: Path) -> None:
    for run in ("dm", "sm"):
        records = results.load_run(lab_dir / "runs" / run)
        dev, test = results.accuracy_table(records, "dev"), results.accuracy_table(records, "test")
        assert list(dev) == [8]  # the last checkpoint; "before" is the generalist's evaluation
        assert set(dev[8]) == DEV_COLUMNS
        assert test and all(0.0 <= v <= 1.0 for row in test.values() for v in row.values())
        preds = list((lab_dir / "runs" / run / "inference_eval" / "predictions").glob("*.jsonl"))
        assert preds and all(isinstance(json.loads(ln)["correct"], bool)
                             for ln in preds[0].read_text().splitlines())  # fmt: skip


def test_the_generalist_is_every_specializations_before_and_tested_alike(lab_dir) -> None:
    records = results.load_run(lab_dir / "runs" / "generalist")
    dev = results.accuracy_table(records, "dev")
    assert list(dev) == [4] and set(dev[4]) == DEV_COLUMNS  # its last checkpoint, all tasks
    md = (lab_dir / "report" / "report.md").read_text()
    table2 = md.split("## Table 2")[1].split("## Table 3")[0]
    before = {line.split(" | ")[0].strip("| "): line for line in table2.splitlines()
              if line.startswith(("| dm ", "| sm "))}  # fmt: skip
    # the first column's "before" cell: the generalist's accuracy and its 95% interval
    value = f"| {100 * dev[4]['gsm8k/zs_cot']:.1f}"
    first = re.compile(re.escape(value) + r" \[[\d.]+, [\d.]+\] → ")
    assert set(before) == {"dm", "sm"} and all(first.search(line) for line in before.values())
    assert "| generalist |" in md.split("## Table 1")[0]  # listed as the runs' baseline
    # select_generalist: the same test evaluation as the students', so Table 1 compares them
    test = results.accuracy_table(records, "test")
    assert list(test) == [4] and set(test[4]) == DEV_COLUMNS
    table1 = md.split("## Table 1")[1].split("## Table 2")[0]
    row = next(ln for ln in table1.splitlines() if ln.startswith("| generalist |"))
    assert "not run" not in row and f"| {100 * test[4]['gsm8k/zs_cot']:.1f} [" in row  # [95% CI]


def test_report_renders_with_the_lab_settings(lab_dir: Path) -> None:
    md = (lab_dir / "report" / "report.md").read_text()
    for heading in ("## Table 1", "## Table 2", "## Table 3", "## Figure 2",
                    "## Lab settings and stage times"):  # fmt: skip
        assert heading in md
    assert "| specialize_dm | ran |" in md and "| dm | lab-32d-1L | kl | all |" in md
    # what the selected checkpoints wrote on dev, read from their predictions files
    outputs = md.split("## Outputs")[1].split("## Figure 2")[0]
    for run in ("generalist", "dm", "sm"):
        assert re.search(rf"^\| {run} \| \d+ \| [1-9]\d* \| [1-9]\d* \| .+ \(\d+\.\d\) \| "
                         rf"\d+\.\d \|$", outputs, re.MULTILINE), outputs
    assert all((lab_dir / "report" / f).stat().st_size > 1000
               for f in ("fig2_curves.png", "fig3_matching.png"))  # fmt: skip


def test_a_second_run_is_all_cached_but_the_report(lab_dir: Path, capsys) -> None:
    assert main(["lab", "--quick", f"--lab_dir={lab_dir}", "--no_progress"]) == 0
    out = capsys.readouterr().out
    assert "| generalist | cached |" in out and "| specialize_sm | cached |" in out
    assert "| report | ran |" in out and "## Table 1" in out


def test_results_json_regenerates_and_the_claim_has_its_interval(lab_dir: Path) -> None:
    from t5spec import report_results
    from t5spec.lab import pipeline

    report = lab_dir / "report"
    doc = json.loads((report / "results.json").read_text())
    assert [c["method"] for c in doc["cells"]] == ["generalist", "dm", "sm"]
    assert all(set(c["correct"]) == DEV_COLUMNS for c in doc["cells"])  # every test column
    assert report_results.regenerate([report / "results.json"]) == \
        (report / "results.md").read_text()  # byte for byte, from the JSON alone
    cfg = lab_config.load([str(REPO / "gin" / "lab_quick.gin")])
    claim = pipeline.main_claim(cfg, stages.LabPaths(lab_dir))
    assert len(claim) == 2 and all(ln.startswith("GSM8K-slot test, ") for ln in claim), claim
    assert all("(paired bootstrap over items, 95%)" in ln for ln in claim)
