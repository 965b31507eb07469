"""The lab's gin config, the T5X commands it builds, and the stage runner's caching."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from t5spec import subprocs
from t5spec.lab import config as lab_config
from t5spec.lab import pipeline, runner, stages
from t5spec.launch import ginconfig

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def quick() -> lab_config.LabConfig:
    return lab_config.load([str(REPO / "gin" / "lab_quick.gin")])


def test_gin_files_bind_the_config(quick: lab_config.LabConfig) -> None:
    default = lab_config.load([str(REPO / "gin" / "lab.gin")])
    assert default.student.emb_dim == 128 and default.teacher.num_layers == 3
    assert default.sampling.keep_incorrect is False and quick.sampling.keep_incorrect is True
    assert quick.student.emb_dim < default.student.emb_dim  # quick overrides lab.gin
    assert quick.world.gsm8k_train == 300 and quick.world.svamp == default.world.svamp
    assert lab_config.run_names(default) == ["dm", "sm"]
    math = lab_config.load([str(REPO / "gin" / "lab_math.gin")])
    assert (default.specialize_formats, math.specialize_formats) == ("all", "zero_shot")
    assert math.sampling.questions == math.world.gsm8k_train > default.world.gsm8k_train
    # the default's easier world and one exemplar; lab_math keeps what it was measured with
    assert (default.world.max_value, default.math_shots) == (20, 1)
    assert (math.world.max_value, math.math_shots) == (999, 4)
    lab_gins = map(str, (REPO / "gin" / "lab").glob("[gst]*.gin"))
    for path in ("gin/lab.gin", "gin/lab_quick.gin", "gin/lab_math.gin", "gin/lab_earlier.gin",
                 *lab_gins):
        head = (REPO / path).read_text().splitlines()[:12]
        assert any("Command" in ln for ln in head) and any("Hardware" in ln for ln in head), path


def test_default_lab_tests_300_gsm8k_slot_problems(tmp_path: Path) -> None:
    """The main claim's slot gets 300 test problems (the world's 800 less the 500 dev ones);
    the other slots keep ``test_examples``; lab_earlier keeps the 100 it was measured with."""
    import gin
    from t5spec.data.splits import DEV_SIZES
    from t5spec.evaluate import benchmarks
    from t5spec.evaluate import tasks as eval_tasks

    default = lab_config.load([str(REPO / "gin" / "lab.gin")])
    earlier = lab_config.load([str(REPO / "gin" / "lab_earlier.gin")])
    assert default.world.gsm8k_test - DEV_SIZES["gsm8k"] == 300
    assert (earlier.world.gsm8k_test, earlier.evaluation.gsm8k_test_examples) == (600, None)
    argv = stages.select_argv(default, stages.LabPaths(tmp_path), "dm")
    assert "--max_examples=100" in argv
    caps = [a.split("=", 1)[1] for a in argv if "per_benchmark" in a]
    assert len(caps) == 1 and not stages.select_argv(earlier, stages.LabPaths(tmp_path), "dm")[
        -1].startswith("--gin=t5spec.evaluate.tasks.EvalBudget.per_benchmark")
    with gin.unlock_config():
        gin.parse_config(caps)
    try:
        budget = eval_tasks.EvalBudget(max_examples=100)
        task = {t.column: t for t in benchmarks.EVAL_TASKS}
        assert budget.cap(task["gsm8k/zs_cot"]) == 300
        assert budget.cap(task["asdiv/zs_cot"]) == budget.cap(task["bbh/ao"]) == 100
    finally:
        gin.clear_config()


@pytest.mark.parametrize("binding, match", [
    ("lab.LabConfig.distill_weights = (1.0, 1.0)", "repeat"),
    ("lab.LabConfig.distill_weights = (1.5,)", "in \\[0, 1\\]"),
    ("specialize/lab.TrainBudget.steps = 0", "steps"),
    ("lab.SamplingConfig.questions = 100000", "gsm8k_train"),
    ("lab.LabConfig.specialize_formats = 'few_shot'", "specialize_formats"),
    ("lab.LabConfig.math_shots = 0", "math_shots"),
    ("lab.EvalConfig.gsm8k_test_examples = 0", "gsm8k_test_examples"),
])  # fmt: skip
def test_bad_settings_fail_before_anything_runs(binding: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        lab_config.load([str(REPO / "gin" / "lab_quick.gin")], [binding])


def _split(argv: list[str]) -> tuple[list[str], list[str]]:
    files = [a.split("=", 1)[1] for a in argv if a.startswith("--gin_file=")]
    return files, [a for a in argv if a.startswith("--gin.")]


def test_every_t5x_command_resolves(quick, tmp_path: Path, monkeypatch) -> None:
    """The generalist, teacher and specialization commands build T5X's train() arguments
    (gin/lab/*.gin + the generated model gins parse; unknown bindings would fail)."""
    paths = stages.LabPaths(tmp_path)
    zero_shot = dataclasses.replace(quick, specialize_formats="zero_shot")
    pipeline.build_stages(quick, paths)[0].action(None)  # the data stage: data + model gins
    monkeypatch.setenv("T5SPEC_DATA_DIR", str(paths.data))
    for argv, mixture, steps in [
        (stages.generalist_argv(quick, paths), "t5spec_lab_generalist", 4),
        (stages.teacher_argv(quick, paths), "t5spec_lab_teacher", 40),
        (stages.specialize_argv(quick, paths, 0.0), "t5spec_gsm8k_spec", 8),
        (stages.specialize_argv(zero_shot, paths, 1.0), "t5spec_gsm8k_spec_zero_shot", 8),
    ]:  # fmt: skip
        resolved = ginconfig.resolve(*_split(argv))
        assert resolved.train_dataset_cfg.mixture_or_task_name == mixture
        assert resolved.train_kwargs["total_steps"] == steps
        assert resolved.model.module.config.emb_dim in (quick.student.emb_dim,
                                                        quick.teacher.emb_dim)  # fmt: skip
        # dev evaluation: the generalist's last checkpoint is both specializations' "before"
        infer = resolved.train_kwargs.get("infer_eval_dataset_cfg")
        assert (infer is not None) == (mixture != "t5spec_lab_teacher"), mixture
        assert not resolved.train_kwargs.get("run_eval_before_training"), mixture
    assert "INITIAL_CHECKPOINT_PATH='" + str(paths.run("generalist") / "checkpoint_4") in "".join(
        stages.specialize_argv(quick, paths, 1.0))
    model_gin = paths.model_gin("student").read_text()
    assert f"LAB_EMB_DIM = {quick.student.emb_dim}" in model_gin
    import sentencepiece as spm

    pieces = spm.SentencePieceProcessor(model_file=str(paths.vocab("student"))).get_piece_size()
    rows = -(-(pieces + 100) // 128) * 128  # pieces + 100 extra ids, rounded up to 128
    assert f"LAB_VOCAB_ROWS = {rows}" in model_gin


def _stage(name: str, deps=(), log: list | None = None, fail: bool = False, fp: str = "x"):
    def action(stage):
        if fail:
            raise runner.StageFailed(f"{name} broke")
        log.append(name)
        return f"{name} ok"

    return runner.Stage(name, tuple(deps), action, fp)


def test_runner_orders_caches_and_reruns_dependents(tmp_path: Path) -> None:
    paths, log = stages.LabPaths(tmp_path), []
    graph = [_stage("a", (), log), _stage("b", ("a",), log), _stage("c", ("a",), log),
             _stage("d", ("b", "c"), log)]  # fmt: skip
    outcomes = runner.Runner(paths, graph, jobs=2, progress=False).run()
    assert [o.status for o in outcomes] == ["ran"] * 4
    assert log[0] == "a" and log[-1] == "d" and sorted(log) == ["a", "b", "c", "d"]
    assert json.loads(paths.marker("d").read_text())["summary"] == "d ok"
    log.clear()
    assert {o.status for o in runner.Runner(paths, graph, progress=False).run()} == {"cached"}
    assert log == []
    runner.Runner(paths, graph, redo=["b"], progress=False).run()
    assert sorted(log) == ["b", "d"]  # b again, and d because b ran
    log.clear()
    graph[2] = _stage("c", ("a",), log, fp="changed")  # c's command changed
    runner.Runner(paths, graph, progress=False).run()
    assert sorted(log) == ["c", "d"]


def test_runner_stops_at_a_failure_and_says_which(tmp_path: Path) -> None:
    paths, log = stages.LabPaths(tmp_path), []
    graph = [_stage("a", (), log), _stage("b", ("a",), log, fail=True), _stage("c", ("b",), log)]
    lab = runner.Runner(paths, graph, progress=False)
    with pytest.raises(runner.StageFailed, match="'b' failed: b broke"):
        lab.run()
    assert [lab.outcomes[n].status for n in "abc"] == ["ran", "failed", "not run"]
    assert not paths.marker("b").exists() and log == ["a"]
    with pytest.raises(ValueError, match="unknown stage"):
        runner.Runner(paths, graph, redo=["zzz"])


def test_a_failing_command_reports_its_log(tmp_path: Path) -> None:
    import sys

    log = tmp_path / "x.log"
    with pytest.raises(runner.StageFailed, match="exit 3") as e:
        runner.run_logged([sys.executable, "-c", "print('boom'); raise SystemExit(3)"], log, {})
    assert "boom" in str(e.value) and "boom" in log.read_text()


def test_a_t5x_run_stuck_in_teardown_after_finished_counts_as_done(tmp_path: Path) -> None:
    import sys
    import time

    log = tmp_path / "train.log"
    child = ("import time; print('I1123 train.py:588] Finished.', flush=True); time.sleep(60)")
    t0 = time.monotonic()
    runner.run_logged([sys.executable, "-c", child], log, {}, finished=subprocs.T5X_TRAIN_FINISHED)
    assert time.monotonic() - t0 < 30  # stopped after the grace period, not after 60 s
    assert "stopped after its finish line" in log.read_text()
    with pytest.raises(runner.StageFailed, match="exit 4"):  # no finish line: its exit counts
        runner.run_logged([sys.executable, "-c", "raise SystemExit(4)"], log, {},
                          finished=subprocs.T5X_TRAIN_FINISHED)  # fmt: skip


def test_t5x_log_parsing(tmp_path: Path) -> None:
    log = tmp_path / "t.log"
    log.write_text("I1 [0] collection=train loss=9.5\nI2 [20] collection=train accuracy=0, "
                   "loss=3.25, z_loss=0.1\nI3 [20] collection=train timing/seconds=1\n")
    assert runner.logged_train_step(log) == 20
    assert runner.last_train_scalar(log, "loss") == 3.25
    assert runner.last_train_scalar(log, "missing") is None


def test_startup_is_launch_to_t5xs_first_step_per_process(tmp_path: Path) -> None:
    """Two real processes that log T5X's train-loop line (glog's local-time stamp) after
    ~0.3 s and ~0.6 s, a third that never does: 0.9 s of start-up; ``since`` drops the first."""
    import sys
    import time

    log = tmp_path / "train.log"
    child = ("import time, datetime; time.sleep({d}); t = datetime.datetime.now(); "
             "print(t.strftime('I%m%d %H:%M:%S.%f') + ' 1 train.py:674] BEGIN Train loop.')")
    assert runner.startup_seconds(log) is None  # no log yet
    runner.run_logged([sys.executable, "-c", child.format(d=0.3)], log, {})
    time.sleep(1.1)  # since is honored to a second
    between = time.time()
    runner.run_logged([sys.executable, "-c", child.format(d=0.6)], log, {})
    runner.run_logged([sys.executable, "-c", "print('no train loop here')"], log, {})
    both, second = runner.startup_seconds(log), runner.startup_seconds(log, since=between)
    assert 0.9 <= both < 0.9 + 2 * 5.0  # each: its sleep plus the interpreter's start
    assert 0.6 <= second < both - 0.3 + 0.1
    time.sleep(1.1)  # run_logged returns as soon as a child exits; since is to a second
    assert runner.startup_seconds(log, since=time.time()) is None
    table = runner.time_table([runner.Outcome("train", "ran", 2.0, "ok", second),
                               runner.Outcome("data", "cached", 1.0, "ok")], 3.0)
    assert f"| train | ran | 2 | {second:.0f} | ok |" in table
    assert "| data | cached | 1 |  | ok |" in table
    assert f"| **3** | {second:.0f} | wall time of this invocation; start-up of the 1 " in table


def test_math_shots_reach_the_in_context_exemplars(quick, tmp_path: Path) -> None:
    """``LabConfig.math_shots`` is bound on the generalist and specialization commands, and
    the binding is what ``t5spec.tasks.specialization`` reads when it draws exemplars."""
    import gin
    from t5spec.tasks import specialization

    paths, two = stages.LabPaths(tmp_path), dataclasses.replace(quick, math_shots=2)
    flag = stages.exemplars_flag(two)
    assert flag in stages.generalist_argv(two, paths)
    assert flag in stages.specialize_argv(two, paths, 1.0)
    assert specialization.ExemplarConfig().num_exemplars == 4  # the paper's, unbound
    try:
        gin.parse_config(flag.removeprefix("--gin."))
        assert specialization.ExemplarConfig().num_exemplars == 2
    finally:
        gin.clear_config(clear_constants=True)
