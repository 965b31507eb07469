"""``t5spec lab --experiment=methods``: config errors, the stage graph and its T5X commands,
the bootstrap intervals and the methods report (on constructed evaluation folders)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from t5spec.cli import main as t5spec_main
from t5spec.evaluate import stats
from t5spec.lab import methods, methods_eval, methods_graph, methods_report, pipeline, stages
from t5spec.launch import ginconfig

REPO = Path(__file__).resolve().parents[2]
QUICK = str(REPO / "gin" / "lab_methods_quick.gin")


@pytest.fixture(scope="module")
def quick() -> tuple:
    return methods.load([QUICK])


def test_gin_files_bind_the_matrix(quick) -> None:
    cfg, mcfg = quick
    _, full = methods.load([str(REPO / "gin" / "lab_methods.gin")])
    trained = set(mcfg.methods) - set(methods.EVAL_VARIANTS)
    assert trained == set(full.methods) == set(methods.METHODS)
    assert len(mcfg.students) >= 3 and len(full.students) >= 3 and len(full.seeds) == 3
    rows = 1024
    sizes = [methods.param_count(mcfg.shape(s), rows) for s in mcfg.students]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)  # smallest first
    assert methods.param_count(methods.LAB_PRESETS["lab_xs"], 1024) == 90_464  # T5X's count
    assert cfg.student == methods.LAB_PRESETS["lab_xs"]  # lab_quick.gin's student
    for name in ("lab_methods.gin", "lab_methods_quick.gin", "lab/stepbystep.gin"):
        head = (REPO / "gin" / name).read_text().splitlines()[:14]
        assert all(any(k in ln for ln in head) for k in ("Command", "Hardware", "Expected"))


@pytest.mark.parametrize("binding, match", [
    ("methods.MethodsConfig.methods = ('sm', 'distill')", "unknown or repeated method"),
    ("methods.MethodsConfig.rationale_weight = -0.5", "λ"),
    ("methods.MethodsConfig.students = ('lab_xs', 'lab_huge')", "unknown student preset"),
    ("methods.MethodsConfig.seeds = ()", "seeds"),
    ("methods.MethodsConfig.generic_tasks = ('gsm8k/zs_cot',)", "generic_tasks"),
    ("methods/lab.TrainBudget.steps = 0", "steps"),
    ("methods.MethodsConfig.methods = ('sm', 'sbs_cot')", "add sbs to methods"),
    ("methods.MethodsConfig.methods = ('sbs', 'sm_vote')", "add sm to methods"),
    ("methods.MethodsConfig.vote_samples = 1", "vote_samples must be >= 2"),
    ("methods.MethodsConfig.vote_temperature = 0.0", "vote_temperature > 0"),
])  # fmt: skip
def test_bad_settings_fail_before_training(binding: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        methods.load([QUICK], [binding])


def test_bad_settings_exit_2_from_the_cli(tmp_path: Path, capsys) -> None:
    code = t5spec_main(["lab", "--experiment=methods", "--quick", "--print_only",
                        f"--lab_dir={tmp_path}",
                        "--gin_param=methods.MethodsConfig.methods = ('sm', 'nope')"])
    assert code == 2 and "unknown or repeated method" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # nothing trained


def test_stage_graph_of_a_small_matrix(tmp_path: Path) -> None:
    cfg, mcfg = methods.load([QUICK], ["methods.MethodsConfig.seeds = (0, 1)"])
    graph = methods_graph.build_stages(cfg, mcfg, stages.LabPaths(tmp_path))
    names = [s.name for s in graph]
    assert names[:4] == ["data", "teacher", "sample", "align"]  # the lab's own stages, once
    assert "specialize_dm" not in names and "generalist" not in names
    cells = len(mcfg.students) * len(mcfg.methods) * 2
    variants = len(mcfg.students) * len(set(mcfg.methods) & set(methods.EVAL_VARIANTS)) * 2
    assert sum(n.startswith("train_") for n in names) == cells - variants
    assert sum(n.startswith("eval_") for n in names) == cells + 1  # + eval_teacher
    deps = {s.name: s.deps for s in graph}
    assert deps["train_lab_xs_hybrid_s1"] == ("generalist_lab_xs", "align")
    assert deps["eval_lab_xs_hybrid_s1"] == ("train_lab_xs_hybrid_s1",)
    assert set(deps["methods_report"]) == {n for n in names if n.startswith("eval_")}
    assert names.index("methods_report") == len(names) - 1
    assert len({s.fingerprint for s in graph}) == len(graph)  # every cell its own command


def test_cot_variants_evaluate_the_trained_students_by_rationale(tmp_path: Path) -> None:
    """sbs_cot / hybrid_cot: no training of their own, the sbs / hybrid checkpoint answered in
    the rationale mode (its own eval folder), timed in the rationale mode."""
    cfg, mcfg = methods.load([QUICK], [
        "methods.MethodsConfig.methods = ('sm', 'sbs', 'hybrid', 'sbs_cot', 'hybrid_cot')"])
    paths = stages.LabPaths(tmp_path)
    graph = methods_graph.build_stages(cfg, mcfg, paths)
    names = [s.name for s in graph]
    deps = {s.name: s.deps for s in graph}
    student = mcfg.students[0]
    assert f"train_{student}_sbs_cot_s0" not in names
    assert deps[f"eval_{student}_sbs_cot_s0"] == (f"train_{student}_sbs_s0",)
    assert deps[f"eval_{student}_hybrid_cot_s0"] == (f"train_{student}_hybrid_s0",)
    base, variant = (methods.MethodRun(student, m, 0) for m in ("hybrid", "hybrid_cot"))
    assert methods.run_dir(paths, variant) == methods.run_dir(paths, base)
    assert methods.eval_dir(cfg, mcfg, paths, variant) != methods.eval_dir(cfg, mcfg, paths, base)
    evaluated = " ".join(" ".join(a) for a in methods_eval.eval_argvs(cfg, mcfg, paths, variant))
    assert "t5spec_eval_math_sbs_rationale" in evaluated and "sbs_label" not in evaluated
    assert "--mode=rationale" in methods_eval.cost_argv(cfg, mcfg, paths, variant)
    assert len({s.fingerprint for s in graph}) == len(graph)


def test_vote_rows_evaluate_the_trained_students_by_self_consistency(tmp_path: Path) -> None:
    """sm_vote / sbs_vote: no training, one vote_eval run on the trained cell's last
    checkpoint (its own eval folder), seeded per cell, in the trained method's input mode."""
    cfg, mcfg = methods.load([QUICK], [
        "methods.MethodsConfig.methods = ('sm', 'sbs', 'sm_vote', 'sbs_vote')",
        "methods.MethodsConfig.seeds = (0, 1)", "methods.MethodsConfig.vote_samples = 7"])
    paths = stages.LabPaths(tmp_path)
    graph = {s.name: s for s in methods_graph.build_stages(cfg, mcfg, paths)}
    student = mcfg.students[0]
    assert f"train_{student}_sm_vote_s1" not in graph
    assert graph[f"eval_{student}_sm_vote_s1"].deps == (f"train_{student}_sm_s1",)
    run, base = (methods.MethodRun(student, m, 1) for m in ("sbs_vote", "sbs"))
    (argv,) = methods_eval.cell_commands(cfg, mcfg, paths, run)
    assert argv[1:3] == ["-m", "t5spec.lab.vote_eval"]
    final = methods.final_step(cfg, mcfg)
    assert f"--checkpoint={methods.run_dir(paths, base) / f'checkpoint_{final}'}" in argv
    assert {"--mode=label", "--samples=7", f"--seed={cfg.seed + 3}",
            f"--examples={mcfg.test_examples}"} <= set(argv)
    assert f"--output_dir={methods.eval_dir(cfg, mcfg, paths, run)}" in argv
    assert methods.eval_dir(cfg, mcfg, paths, run) != methods.eval_dir(cfg, mcfg, paths, base)
    sm_vote = methods.MethodRun(student, "sm_vote", 0)
    assert "--mode=zs_cot" in methods_eval.cell_commands(cfg, mcfg, paths, sm_vote)[0]
    assert len({s.fingerprint for s in graph.values()}) == len(graph)


def test_every_methods_command_resolves(quick, tmp_path: Path, monkeypatch) -> None:
    """Generalist and all four methods' T5X commands build T5X's train() arguments;
    the evaluation asks for each method's answer mode."""
    cfg, mcfg = quick
    paths = stages.LabPaths(tmp_path)
    pipeline.build_stages(cfg, paths)[0].action(None)  # the data stage
    monkeypatch.setenv("T5SPEC_DATA_DIR", str(paths.data))
    student = mcfg.students[0]
    methods_graph.write_model_gin(mcfg, paths, student)
    final = cfg.generalist.steps + mcfg.specialize.steps
    resolved = ginconfig.resolve(*_split(methods.generalist_argv(cfg, paths, student)))
    assert resolved.train_dataset_cfg.mixture_or_task_name == "t5spec_lab_generalist"
    assert resolved.model.module.config.emb_dim == mcfg.shape(student).emb_dim
    assert resolved.train_kwargs.get("infer_eval_dataset_cfg") is None  # test numbers only
    assert "no_dev_eval.gin" in " ".join(
        methods.specialize_argv(cfg, mcfg, paths, methods.MethodRun(student, "sm", 0)))
    for method, mixture, loss in [("sm", "t5spec_gsm8k_spec", 0.0),
                                  ("dm", "t5spec_gsm8k_spec", 1.0),
                                  ("sbs", "t5spec_gsm8k_sbs", "ce"),
                                  ("hybrid", "t5spec_gsm8k_sbs", "kl")]:  # fmt: skip
        run = methods.MethodRun(student, method, 1)
        argv = methods.specialize_argv(cfg, mcfg, paths, run)
        resolved = ginconfig.resolve(*_split(argv))
        assert resolved.train_dataset_cfg.mixture_or_task_name == mixture, method
        assert resolved.train_kwargs["total_steps"] == final
        assert resolved.train_kwargs.get("infer_eval_dataset_cfg") is None  # eval: own stage
        model = resolved.model
        if isinstance(loss, float):
            assert model.distill_weight == loss and model.objective == "specialization"
        else:
            assert model.objective == "stepbystep"
            assert (model.rationale_loss, model.rationale_weight) == (loss, 1.0)
        assert f"--gin.RANDOM_SEED={cfg.seed + 3}" in argv
        assert stages.exemplars_flag(cfg) in argv  # the generalist's exemplar count too
        evaluated = " ".join(" ".join(a) for a in methods_eval.eval_argvs(cfg, mcfg, paths, run))
        mode = "sbs_label" if method in ("sbs", "hybrid") else "zs_cot"
        svamp = "t5spec_eval_math_sbs_label" if mode == "sbs_label" else "t5spec_eval_svamp_zs_cot"
        assert svamp in evaluated and "t5spec_eval_bbh_ao" in evaluated
        assert f"checkpoint_{final}" in evaluated and "'test'" in evaluated
        cost = methods_eval.cost_argv(cfg, mcfg, paths, run)
        assert f"--mode={'label' if mode == 'sbs_label' else 'zs_cot'}" in cost


def _split(argv: list[str]) -> tuple[list[str], list[str]]:
    files = [a.split("=", 1)[1] for a in argv if a.startswith("--gin_file=")]
    return files, [a for a in argv if a.startswith("--gin.")]


# ------------------------------------------------------------------------------ bootstrap
def _bools(accuracy: float, n: int, seed: int) -> np.ndarray:
    out = np.zeros(n, bool)
    out[np.random.default_rng(seed).permutation(n)[: round(accuracy * n)]] = True
    return out


def test_bootstrap_interval_covers_the_mean_and_is_reproducible() -> None:
    per_seed = [[_bools(0.4, 100, s), _bools(0.6, 50, s + 10)] for s in range(3)]
    est = methods_report.bootstrap_ci(per_seed, samples=1000)
    assert est.mean == pytest.approx(0.5)  # mean over seeds of the mean over slots
    assert est.low < est.mean < est.high and est.high - est.low < 0.2
    assert methods_report.bootstrap_ci(per_seed, samples=1000) == est  # fixed Generator seed
    wider = methods_report.bootstrap_ci([[a[:10] for a in s] for s in per_seed], samples=1000)
    assert wider.high - wider.low > est.high - est.low  # fewer examples, more noise
    ones = stats.wilson_interval(10, 10)  # all right: Wilson over the 2 seeds' 10 examples
    assert methods_report.bootstrap_ci([[np.ones(5, bool)]] * 2) == methods_report.Estimate(
        1, ones.low, 1)
    assert methods_report.bootstrap_ci([[np.zeros(5, bool)]]).high > 0.4  # not the point 0
    with pytest.raises(ValueError, match="same slots"):
        methods_report.bootstrap_ci([[np.ones(3)], [np.ones(3), np.ones(3)]])


def test_seed_to_seed_spread_widens_the_interval() -> None:
    stable = [[_bools(0.5, 200, s)] for s in range(3)]
    unstable = [[_bools(a, 200, s)] for s, a in enumerate((0.2, 0.5, 0.8))]
    a = methods_report.bootstrap_ci(stable, samples=1000)
    b = methods_report.bootstrap_ci(unstable, samples=1000)
    assert a.mean == pytest.approx(b.mean) and (b.high - b.low) > 2 * (a.high - a.low)


# ------------------------------------------------------------------------------ the report
def _cell(root: Path, student: str, params: int, method: str, seed: int, acc: dict,
          tokens: float) -> methods_report.CellDir:  # fmt: skip
    folder = root / student / f"{method}_s{seed}"
    preds = folder / "inference_eval" / "predictions"
    preds.mkdir(parents=True)
    for bench, accuracy in acc.items():
        lines = [json.dumps({"id": f"{bench}/test/{i}", "benchmark": bench, "mode": "x",
                             "correct": bool(c)})
                 for i, c in enumerate(_bools(accuracy, 80, seed))]
        (preds / f"t5spec_eval_{bench}_x-test-000008.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "inference_cost.json").write_text(json.dumps(
        {"tokens_per_answer": tokens, "seconds_per_100_answers": tokens / 10}))
    return methods_report.CellDir(student, params, method, seed, folder)


def test_report_table_verdicts_and_plots(tmp_path: Path) -> None:
    cells = []
    for student, params in (("small", 1_000), ("big", 10_000)):
        for seed in range(2):
            base = {"gsm8k": 0.3, "multiarith": 0.3, "asdiv": 0.3, "svamp": 0.3, "bbh": 0.5}
            cells.append(_cell(tmp_path, student, params, "sm", seed, base, 40.0))
            better = {**base, "gsm8k": 0.9} if student == "big" else base
            cells.append(_cell(tmp_path, student, params, "sbs", seed, better, 5.0))
    md = methods_report.write_report(cells, tmp_path / "report", samples=500).read_text()
    assert "| sbs | big | 10,000 | 90.0 [" in md and "| 5.0 | 0.50 | 2 |" in md
    assert "| sm | small | 1,000 | 30.0 [" in md
    assert "at big sbs wins over sm by +60.0 points [+" in md  # paired, seeds x items
    assert "at small sbs − sm: inside the noise, +0.0 [+0.0, +0.0]" in md  # identical answers
    for method in ("sm", "sbs"):
        png = tmp_path / "report" / f"methods_{method}.png"
        assert png.read_bytes()[:4] == b"\x89PNG" and f"]({png.name})" in md


def test_paired_difference_of_a_noisy_gap_is_inside_the_noise(tmp_path: Path) -> None:
    cells = []
    for seed in range(3):  # 3 seeds x 80 items: 31% vs 30% is noise
        cells.append(_cell(tmp_path, "s", 1, "sm", seed, {"gsm8k": 0.30}, 1.0))
        cells.append(_cell(tmp_path, "s", 1, "dm", seed, {"gsm8k": 0.3125}, 1.0))
    text = methods_report.verdicts(cells, "in-distribution", samples=500)
    assert text.startswith("In-distribution (each method − sm, points): at s dm − sm: "
                           "inside the noise, +1.2 [")


def test_missing_predictions_are_an_input_error(tmp_path: Path) -> None:
    from t5spec.errors import InputError

    with pytest.raises(InputError, match="no test predictions"):
        methods_report.read_correct(tmp_path)
