"""The lab's printed claim and its results files, from per-item prediction files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from results_fixtures import write_predictions, write_selection

from t5spec import report_results
from t5spec.cli import main
from t5spec.errors import InputError
from t5spec.lab import config as lab_config
from t5spec.lab import pipeline, stages
from t5spec.lab import results as lab_results

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


# ---------------------------------------------------------------- results.json -> results.md
def _spec_lab(root: Path) -> stages.LabPaths:
    paths = stages.LabPaths(root)
    n = 120
    base = [i % 20 == 0 for i in range(n)]
    for name, step, correct in (("generalist", 4, base),
                                ("dm", 8, [b or i % 4 == 1 for i, b in enumerate(base)]),
                                ("sm", 8, [b or i % 6 == 1 for i, b in enumerate(base)])):
        write_predictions(paths.run(name), step, "gsm8k/zs_cot", correct)
        write_predictions(paths.run(name), step, "bbh/ao", correct[:60], tasks=("t1", "t2"))
        write_selection(paths.run(name), step)
    return paths


def _meta(paths: stages.LabPaths) -> dict:
    return lab_results.meta("t5spec lab", "t5spec lab --quick", [str(REPO / "gin/lab.gin")],
                            [], 12.5, paths, ["data"])  # fmt: skip


def test_results_json_regenerates_results_md_byte_identically(tmp_path: Path) -> None:
    paths = _spec_lab(tmp_path / "lab")
    md = lab_results.write_spec(_cfg(), paths, _meta(paths))
    doc = json.loads((paths.report / "results.json").read_text())
    assert doc["schema"] == report_results.SCHEMA and doc["gin"] == ["gin/lab.gin"]
    assert [c["method"] for c in doc["cells"]] == ["generalist", "dm", "sm"]
    assert len(doc["cells"][1]["correct"]["gsm8k/zs_cot"]) == 120
    assert doc["slots"]["bbh/ao"]["groups"][:2] == ["t1", "t2"]
    text = md.read_text()
    assert "| dm | lab-" in text and "dm wins over generalist by +25.0 points" in text
    assert "| lab-" in text and "| dm − sm | gsm8k/zs_cot | 120 |" in text
    out = tmp_path / "again"
    assert main(["report", "--from_results", str(paths.report / "results.json"),
                 f"--output={out}"]) == 0  # fmt: skip
    assert (out / "results.md").read_bytes() == md.read_bytes()
    (out / "results.md").write_text("an older result\n")
    with pytest.raises(InputError, match="never overwritten"):
        report_results.write_regenerated([paths.report / "results.json"], out)
    assert (out / "results.md").read_text() == "an older result\n"


def test_parts_merge_and_other_items_are_refused(tmp_path: Path) -> None:
    paths = _spec_lab(tmp_path / "lab")
    lab_results.write_spec(_cfg(), paths, _meta(paths))
    doc = json.loads((paths.report / "results.json").read_text())
    part = {**doc, "cells": [{**c, "size": "other"} for c in doc["cells"]]}
    (tmp_path / "part.json").write_text(json.dumps(part))
    merged = report_results.regenerate([paths.report / "results.json", tmp_path / "part.json"])
    assert merged.count("| other | dm − generalist | gsm8k/zs_cot |") == 1
    assert merged.count("dm wins over generalist") == 2 * 2  # two sizes, two slots
    assert "**Merged from 2 parts**" in merged and merged.count("`t5spec lab --quick` at") == 2
    assert "- **Wall time:** 25 s in all parts" in merged  # 12.5 s each
    again = report_results.load([paths.report / "results.json", paths.report / "results.json"])
    assert len(again["cells"]) == 3  # a cell repeated by two parts counts once
    twisted = {**doc, "cells": [{**doc["cells"][0], "correct": doc["cells"][1]["correct"]}]}
    (tmp_path / "twisted.json").write_text(json.dumps(twisted))
    with pytest.raises(InputError, match="differs from the same cell"):
        report_results.load([paths.report / "results.json", tmp_path / "twisted.json"])
    part["slots"]["gsm8k/zs_cot"]["items"][0] = "elsewhere"
    (tmp_path / "part.json").write_text(json.dumps(part))
    with pytest.raises(InputError, match="slot gsm8k/zs_cot lists other items"):
        report_results.load([paths.report / "results.json", tmp_path / "part.json"])
    part["cells"][0]["correct"]["gsm8k/zs_cot"] = "01"
    (tmp_path / "part.json").write_text(json.dumps(part))
    with pytest.raises(InputError, match="cell 0"):
        report_results.load([tmp_path / "part.json"])


def test_every_committed_result_regenerates_byte_identically() -> None:
    """Each ``results.json`` its ``results.md``; a ``merged/results.md`` from the folder's
    ``results_*/results.json`` parts in name order."""
    docs = sorted((REPO / "docs" / "results").rglob("results.json"))
    assert len(docs) >= 5
    for doc in docs:
        expected = (doc.parent / "results.md").read_text(encoding="utf-8")
        assert report_results.regenerate([doc]) == expected, doc
    for merged in sorted((REPO / "docs" / "results").glob("*/merged/results.md")):
        parts = sorted(merged.parent.parent.glob("results_*/results.json"))
        assert report_results.regenerate(parts) == merged.read_text(encoding="utf-8"), merged


def test_parts_are_methods_only_and_bind_the_matrix() -> None:
    assert main(["lab", "--sizes=lab_xs", "--print_only"]) == 2  # not the spec experiment
    assert main(["lab", "--experiment=methods", "--quick", "--seeds=x", "--print_only"]) == 2
    assert lab_results.part_name(["lab_xs", "lab_s"], [0]) == "results_lab_xs-lab_s_s0"
    assert lab_results.part_name([], []) == "results"


# ------------------------------------------------------------- the decisive methods experiment
def test_decisive_gin_binds_the_issue_budget(tmp_path: Path) -> None:
    from t5spec.lab import methods, methods_graph

    gin_file = REPO / "gin" / "lab_methods_decisive.gin"
    cfg, mcfg = methods.load([str(gin_file)])
    sizes = [methods.param_count(mcfg.shape(s), 1024) for s in mcfg.students]
    assert len(sizes) >= 3 and sizes == sorted(sizes) and sizes[0] <= 500_000
    assert len(mcfg.seeds) >= 3 and mcfg.generalist_row
    assert set(mcfg.methods) == {"sm", "dm", "sbs", "hybrid", "gold", "onpolicy", "onpolicy_warm",
                                 "sbs_cot", "hybrid_cot", "sm_vote", "sbs_vote", "hybrid_vote"}
    mcfg.onpolicy.validate(mcfg.specialize.steps)  # its rounds divide the same budget
    assert cfg.teacher_train.steps == 1200 and mcfg.test_examples >= 300  # lab_math's teacher
    head = gin_file.read_text().splitlines()[:40]
    assert all(any(k in ln for ln in head) for k in ("Command", "Hardware", "Expected"))
    paths = stages.LabPaths(tmp_path)
    graph = {s.name: s for s in methods_graph.build_stages(cfg, mcfg, paths)}
    assert graph["eval_lab_s_generalist_s0"].deps == ("generalist_lab_s",)
    assert "train_lab_s_generalist_s0" not in graph
    rounds = [n for n in graph if n.startswith("train_lab_s_onpolicy_s0_r")]
    assert len(rounds) == mcfg.onpolicy.rounds == 3 and "score_lab_s_onpolicy_s0_r2" in graph
    gold = methods.specialize_argv(cfg, mcfg, paths, methods.MethodRun("lab_s", "gold", 0))
    assert "--gin.MIXTURE_OR_TASK_NAME='t5spec_gsm8k_gold_spec_zero_shot'" in gold
    assert "--gin.DISTILL_WEIGHT=0.0" in gold
    sm = methods.specialize_argv(cfg, mcfg, paths, methods.MethodRun("lab_s", "sm", 0))
    assert "--gin.MIXTURE_OR_TASK_NAME='t5spec_gsm8k_spec_zero_shot'" in sm  # zero_shot formats
    reference = methods.eval_dir(cfg, mcfg, paths, methods.MethodRun("lab_s", "generalist", 0))
    assert reference == methods.generalist_dir(paths, "lab_s") / "eval" / "test_checkpoint_100"
