"""The methods experiment's ``teacher`` reference row (MethodsConfig.teacher_row): one
``eval_teacher`` stage after ``teacher``, its t5x.eval commands (the teacher's checkpoint, model
gin and vocabulary; the cells' test items, cap and lengths), the SeqIO tasks in the teacher's
sampling prompt, and the row in methods.md and results.json (built from prediction files)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from t5spec import report_results
from t5spec.evaluate import items
from t5spec.lab import methods, methods_eval, methods_graph, methods_report, pipeline, stages
from t5spec.lab import results as lab_results

REPO = Path(__file__).resolve().parents[2]
QUICK = str(REPO / "gin" / "lab_methods_quick.gin")
MATH = ("gsm8k", "multiarith", "asdiv", "svamp")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """(cfg, mcfg, paths) of the quick methods gin over a real lab data folder."""
    cfg, mcfg = methods.load([QUICK], ["methods.MethodsConfig.seeds = (0, 1)"])
    paths = stages.LabPaths(tmp_path_factory.mktemp("teacher_row"))
    pipeline.build_stages(cfg, paths)[0].action(None)  # the data stage: world, vocabularies
    return cfg, mcfg, paths


def test_one_teacher_eval_stage_after_the_teacher(lab) -> None:
    cfg, mcfg, paths = lab
    assert mcfg.teacher_row  # lab_methods_quick.gin turns it on
    graph = methods_graph.build_stages(cfg, mcfg, paths)
    names = [s.name for s in graph]
    deps = {s.name: s.deps for s in graph}
    assert [n for n in names if "teacher" in n] == ["teacher", "eval_teacher"]  # once per world
    assert deps["eval_teacher"] == ("teacher",)
    assert names.index("eval_teacher") > names.index("teacher")
    assert "eval_teacher" in deps["methods_report"]
    assert sum(n.startswith("eval_") for n in names) == 1 + len(methods.runs(mcfg))
    off, moff = methods.load([QUICK], ["methods.MethodsConfig.teacher_row = False"])
    plain = [s.name for s in methods_graph.build_stages(off, moff, paths)]
    assert "eval_teacher" not in plain and not moff.teacher_row
    _, decisive = methods.load([str(REPO / "gin" / "lab_methods_decisive.gin")])
    assert decisive.teacher_row and decisive.generalist_row


def _flag(argv: list[str], name: str) -> str:
    return next(a.split("=", 1)[1] for a in argv if a.startswith(f"--gin.{name}="))


def test_teacher_eval_uses_the_teachers_model_on_the_cells_items(lab) -> None:
    cfg, mcfg, paths = lab
    cell = methods.MethodRun(mcfg.students[0], "sm", 1)
    cell_argvs = methods_eval.eval_argvs(cfg, mcfg, paths, cell)
    argvs = methods_eval.teacher_eval_argvs(cfg, mcfg, paths)
    assert len(argvs) == 2  # the four math slots in the teacher's prompt, then BBH-AO
    ckpt = paths.run("teacher") / f"checkpoint_{cfg.teacher_train.steps}"
    out = paths.run("teacher") / "eval" / f"test_checkpoint_{cfg.teacher_train.steps}"
    assert methods.teacher_eval_dir(cfg, paths) == out
    for argv in argvs:
        assert argv[1:3] == ["-m", "t5x.eval"]
        assert f"--gin_file={paths.model_gin('teacher')}" in argv
        assert f"--gin_file={REPO / 'gin' / 'lab' / 'teacher_eval.gin'}" in argv
        assert _flag(argv, "CHECKPOINT_PATH") == repr(str(ckpt))
        assert _flag(argv, "T5SPEC_VOCAB") == repr(str(paths.vocab("teacher")))
        assert _flag(argv, "EVAL_OUTPUT_DIR") == repr(str(out))
        for same in ("EVAL_SPLIT", "EVAL_MAX_EXAMPLES", "MAX_DECODE_LENGTH",
                     "utils.DatasetConfig.task_feature_lengths", "TaskPaths.data_dir"):
            assert _flag(argv, same) == _flag(cell_argvs[0], same), same
    assert _flag(argvs[0], "EVAL_MAX_EXAMPLES") == str(mcfg.test_examples)
    assert _flag(argvs[0], "MIXTURE_OR_TASK_NAME") == "'t5spec_eval_math_lab_teacher'"
    assert _flag(argvs[1], "MIXTURE_OR_TASK_NAME") == "'t5spec_eval_bbh_ao'"  # as the cells'
    assert "t5spec_eval_bbh_ao" in " ".join(cell_argvs[0])
    cost = methods_eval.teacher_cost_argv(cfg, mcfg, paths)
    assert "--mode=lab_teacher" in cost and f"--checkpoint={ckpt}" in cost
    assert f"--vocab={paths.vocab('teacher')}" in cost
    assert f"--output={out / 'inference_cost.json'}" in cost
    text = methods_graph.commands_text(cfg, mcfg, paths)
    assert text.count("t5spec_eval_math_lab_teacher") == 1 and "--mode=lab_teacher" in text


def test_teacher_tasks_ask_the_cells_questions_in_the_teachers_prompt(lab, monkeypatch) -> None:
    import seqio

    import gin
    from t5spec.data import formats, math_datasets
    from t5spec.evaluate import tasks as eval_tasks
    from t5spec.lab.world import TEACHER_INSTRUCTION, TEACHER_PROMPT_ID
    from t5spec.tasks import lab as lab_tasks

    _, _, paths = lab
    monkeypatch.setenv("T5SPEC_DATA_DIR", str(paths.data))
    eval_tasks.register()  # the cells' tasks (gin/eval_spec.gin imports them)
    mixture = seqio.get_mixture_or_task(lab_tasks.TEACHER_EVAL_MIXTURE)
    assert {t.name for t in mixture.tasks} == {f"t5spec_eval_{b}_lab_teacher" for b in MATH}
    for bench in MATH:
        rows = list(seqio.get_mixture_or_task(f"t5spec_eval_{bench}_lab_teacher").source
                    .get_dataset("test").as_numpy_iterator())
        cells = list(seqio.get_mixture_or_task(f"t5spec_eval_{bench}_zs_cot").source
                     .get_dataset("test").as_numpy_iterator())
        assert [r["id"] for r in rows] == [r["id"] for r in cells] and len(rows) >= 100
        assert [r["answer"] for r in rows] == [r["answer"] for r in cells]
        test = math_datasets.load(bench, "test", str(paths.data))
        assert rows[0]["inputs"].decode() == formats.teacher_prompt(
            test[0].question, str(paths.data), TEACHER_PROMPT_ID)
        assert rows[0]["inputs"].decode().startswith(TEACHER_INSTRUCTION)
        assert {r["mode"] for r in rows} == {b"lab_teacher"}
    train = next(seqio.get_mixture_or_task(lab_tasks.TEACHER_TASK).source
                 .get_dataset("train").as_numpy_iterator())  # how the teacher was trained
    first = math_datasets.load("gsm8k", "train", str(paths.data))[0]
    assert train["inputs"].decode() == formats.teacher_prompt(first.question, str(paths.data),
                                                              TEACHER_PROMPT_ID)  # fmt: skip
    with gin.unlock_config():
        gin.bind_parameter("EvalBudget.max_examples", 3)  # EVAL_MAX_EXAMPLES, as for cells
    try:
        capped = seqio.get_mixture_or_task("t5spec_eval_svamp_lab_teacher").source
        assert len(list(capped.get_dataset("test").as_numpy_iterator())) == 3
    finally:
        gin.clear_config()


# ------------------------------------------------------------------ the report and results
def _predictions(folder: Path, bench: str, mode: str, correct: list[bool]) -> None:
    """One predictions file as the PredictionsLogger writes it (ids as the world's)."""
    preds = folder / "inference_eval" / "predictions"
    preds.mkdir(parents=True, exist_ok=True)
    tasks = ("t1", "t2") if bench == "bbh" else ("",)
    lines = [json.dumps({"id": f"{bench}-{i}", "benchmark": bench, "mode": mode, "split": "test",
                         "bbh_task": tasks[i % len(tasks)], "correct": bool(c)})
             for i, c in enumerate(correct)]  # fmt: skip
    (preds / f"t5spec_eval_{bench}_{mode}-test-000008.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "inference_cost.json").write_text(json.dumps(
        {"tokens_per_answer": 30.0, "seconds_per_100_answers": 2.0}))


def _write_evals(cfg, mcfg, paths: stages.LabPaths, n: int = 200) -> None:
    """Every cell right on 20% of each slot; the teacher right on 70% (no BBH slot)."""
    for run in methods.runs(mcfg):
        mode = methods.EVAL_MODE[run.method]
        for bench in MATH:
            _predictions(methods.eval_dir(cfg, mcfg, paths, run), bench, mode,
                         [(i + run.seed) % 5 == 0 for i in range(n)])
        _predictions(methods.eval_dir(cfg, mcfg, paths, run), "bbh", "ao",
                     [i % 2 == 0 for i in range(60)])
    for bench in MATH:
        _predictions(methods.teacher_eval_dir(cfg, paths), bench, "lab_teacher",
                     [i % 10 < 7 for i in range(n)])


def test_the_report_and_results_show_the_teacher_row(lab, tmp_path: Path) -> None:
    cfg, mcfg, paths = lab
    _write_evals(cfg, mcfg, paths)
    report = next(s for s in methods_graph.build_stages(cfg, mcfg, paths)
                  if s.name == "methods_report")
    report.action(report)
    md = (paths.report / "methods.md").read_text()
    label = methods.teacher_label(cfg)
    row = next(ln for ln in md.splitlines() if ln.startswith("| teacher |"))
    params = methods.param_count(cfg.teacher, stages.vocab_rows(paths.vocab("teacher")))
    assert row.startswith(f"| teacher | {label} | {params:,} | 70.0 [")
    assert row.split(" | ")[5] == methods_report.NOT_EVALUATED  # no BBH predictions
    assert md.count("| teacher |") == 1  # once, not per size or seed
    line = next(ln for ln in md.splitlines()
                if ln.startswith("- In-distribution (each method − teacher"))
    for student in mcfg.students:  # every size, paired on the same items: −50 points
        for method in mcfg.methods:
            assert f"at {student} teacher wins over {method} by +50.0 points [+" in line
    assert "lib_prompt/lab_teacher.txt" in md and "zero-shot" in md  # its answer mode
    assert not (paths.report / "methods_teacher.png").exists()
    meta = lab_results.meta("t", "c", [QUICK], [], None, paths, [])
    out = lab_results.write_methods(cfg, mcfg, paths, meta)
    doc = json.loads((paths.report / "results.json").read_text())
    teacher = [c for c in doc["cells"] if c["method"] == "teacher"]
    assert len(teacher) == 1 and teacher[0]["size"] == label and teacher[0]["params"] == params
    assert teacher[0]["step"] == cfg.teacher_train.steps and "bbh" not in teacher[0]["correct"]
    assert ["sm", "teacher"] in doc["comparisons"]
    assert ["hybrid_cot", "hybrid", "same seeds"] in doc["comparisons"]  # vs its trained method
    assert ["hybrid", "sbs"] in doc["comparisons"]
    text = out.read_text()
    assert f"| teacher | {label} | {params:,} | 1 | 70.0 [" in text
    for student in mcfg.students:
        assert f"| {student} | sm − teacher | gsm8k | 200 | -50.0 [" in text
    assert report_results.regenerate([paths.report / "results.json"]) == text


def test_the_decisive_experiment_pairs_each_onpolicy_method_with_sm_and_dm() -> None:
    """Issue 32: the on-policy methods' differences against sm and dm, at every size."""
    _, mcfg = methods.load([str(REPO / "gin" / "lab_methods_decisive.gin")])
    pairs = lab_results.methods_comparisons(mcfg)
    onpolicy = set(mcfg.methods) & set(methods.ONPOLICY)
    assert onpolicy >= {"onpolicy", "onpolicy_warm"}
    assert {a for a, b, *_ in pairs if b == "dm"} == onpolicy
    assert {(m, "sm") for m in onpolicy} <= set(pairs)
    assert len(pairs) == len(set(pairs)) == len({p[:2] for p in pairs})
    _, moff = methods.load([str(REPO / "gin" / "lab_methods_decisive.gin")],
                             ["methods.MethodsConfig.methods = ('sm', 'onpolicy')"])
    assert not [p for p in lab_results.methods_comparisons(moff) if p[1] == "dm"]


def _found(p: float) -> dict:
    """100 GSM8K-slot items, the first 100·p answered right."""
    return {"gsm8k": items.Items(tuple(f"q{i}" for i in range(100)),
                                 np.array([i < 100 * p for i in range(100)]))}


def test_a_world_row_is_no_reference_when_it_shares_its_size(tmp_path: Path) -> None:
    """results.md pairs B across sizes only for a row alone at its own size."""
    cells = [report_results.cell("sm", "a", 1, 0, 1, _found(0.2)),
             report_results.cell("sm", "b", 2, 0, 1, _found(0.2)),
             report_results.cell("teacher", "t", 9, 0, 1, _found(0.9))]
    text = report_results.render(report_results.document({}, cells, [("sm", "teacher")]))
    for size in ("a", "b"):
        assert f"| {size} | sm − teacher | gsm8k | 100 | -70.0 [" in text
    assert text.count("teacher wins over sm") == 2
    shared = [*cells, report_results.cell("dm", "t", 9, 0, 1, _found(0.5))]
    text = report_results.render(report_results.document({}, shared, [("sm", "dm")]))
    assert "| sm − dm |" not in text  # dm shares size t with the teacher: no world row


def test_a_same_seeds_comparison_pairs_seed_with_seed(tmp_path: Path) -> None:
    """sm_vote (seed 1 only) − sm (seeds 0, 1): the same students, so only seed 1 of sm; as a
    plain comparison sm's seed 0 would enter its per-item average."""
    cells = [report_results.cell("sm", "a", 1, 0, 1, _found(0.1)),
             report_results.cell("sm", "a", 1, 1, 1, _found(0.3)),
             report_results.cell("sm_vote", "a", 1, 1, 1, _found(0.3))]
    same = report_results.document({}, cells, [("sm_vote", "sm", report_results.SAME_SEEDS)])
    text = report_results.render(same)
    assert "| a | sm_vote − sm (seeds 1) | gsm8k | 100 | +0.0 [+0.0, +0.0] |" in text
    plain = report_results.render(report_results.document({}, cells, [("sm_vote", "sm")]))
    assert "| a | sm_vote − sm | gsm8k | 100 | +10.0 [" in plain
    path = tmp_path / "results.json"
    path.write_text(json.dumps(same))
    again = report_results.load([path, path])
    assert again["comparisons"] == [["sm_vote", "sm", "same seeds"]]
    assert report_results.merge_comparisons([["sm_vote", "sm"]], [["sm_vote", "sm", "same seeds"]],
                                            [["dm", "sm"]]) == [["sm_vote", "sm", "same seeds"],
                                                                ["dm", "sm"]]  # fmt: skip
    _, mcfg = methods.load([str(REPO / "gin" / "lab_methods_decisive.gin")])
    pairs = lab_results.methods_comparisons(mcfg)
    assert ("sm_vote", "sm", "same seeds") in pairs and ("sm_vote", "sm") not in pairs
    path.write_text(json.dumps({**same, "comparisons": [["sm_vote", "sm", "any seeds"]]}))
    with pytest.raises(report_results.InputError, match="comparison 0"):
        report_results.load([path])
