"""On-policy distillation in the methods experiment (:mod:`t5spec.lab.onpolicy`): the λ
mixture, the round graph and its commands (fast), and one real round at the tiniest sizes,
SIGKILLed mid-round and resumed by the same command (slow)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lab_procs import run_until_then_kill

from t5spec.align import store
from t5spec.lab import methods, methods_graph, onpolicy, onpolicy_mix, runner, stages
from t5spec.launch import ginconfig

REPO = Path(__file__).resolve().parents[2]
GIN = str(REPO / "gin" / "lab_onpolicy_quick.gin")


@given(n_on=st.integers(1, 500), n_off=st.integers(0, 500), rate=st.floats(0.05, 1.0))
def test_mix_counts_hit_the_rate_within_available_records(n_on, n_off, rate):
    on, off = onpolicy_mix.mix_counts(n_on, n_off, rate)
    assert 1 <= on <= n_on and 0 <= off <= n_off
    if rate >= 1.0 or n_off == 0:
        assert (on, off) == (n_on, 0)
    else:
        assert on == n_on or off == n_off  # as many records as the rate allows
        assert abs(on / (on + off) - rate) <= 1.0 / min(on + off, 2 * min(on, off) + 1) + 1e-9


def _sample(key: str, n: int = 3) -> store.AlignedSample:
    return store.AlignedSample(
        key=key, question_id=key, sample_index=0, question="q", gold="1", target_text="t",
        targets=np.arange(1, n + 1, dtype=np.int32), teacher_ids=np.ones((n, 5), np.int32),
        teacher_probs=np.full((n, 5), 0.2, np.float32), teacher_mask=np.ones(n, np.int32))


def test_mix_writes_the_chosen_records_deterministically(tmp_path: Path) -> None:
    store.write_shards([_sample(f"on{i}") for i in range(4)], tmp_path / "on")
    store.write_shards([_sample(f"off{i}") for i in range(10)], tmp_path / "off")
    first = onpolicy_mix.mix(tmp_path / "on", tmp_path / "off", tmp_path / "mixed", 0.5, seed=3)
    keys = [s.key for s in store.read_aligned(tmp_path / "mixed")]
    again = onpolicy_mix.mix(tmp_path / "on", tmp_path / "off", tmp_path / "mixed", 0.5, seed=3)
    assert first == again and keys == [s.key for s in store.read_aligned(tmp_path / "mixed")]
    assert (first["on_policy"], first["off_policy"]) == (4, 4)
    assert sorted(k for k in keys if k.startswith("on")) == [f"on{i}" for i in range(4)]
    assert json.loads((tmp_path / "mixed" / "mix.json").read_text()) == first


def test_the_round_graph_chains_rounds_from_the_generalist(tmp_path: Path) -> None:
    cfg, mcfg = methods.load([GIN], ["onpolicy.OnPolicyConfig.rounds = 2"])
    graph = methods_graph.build_stages(cfg, mcfg, stages.LabPaths(tmp_path))
    deps = {s.name: s.deps for s in graph}
    cell = "lab_xxs_onpolicy_s0"
    assert deps[f"sample_{cell}_r1"] == ("generalist_lab_xxs", "data")
    assert deps[f"score_{cell}_r1"] == (f"sample_{cell}_r1", "teacher")
    assert deps[f"align_{cell}_r1"] == (f"score_{cell}_r1", "align")
    assert deps[f"sample_{cell}_r2"] == (f"train_{cell}_r1", "data")
    assert deps[f"eval_{cell}"] == (f"train_{cell}_r2",)
    assert len({s.fingerprint for s in graph}) == len(graph)
    run = methods.MethodRun("lab_xxs", "onpolicy", 0)
    assert methods.eval_dir(cfg, mcfg, stages.LabPaths(tmp_path), run).is_relative_to(
        tmp_path / "runs" / "methods" / "lab_xxs" / "onpolicy_s0" / "round2" / "model")


WARM = ["methods.MethodsConfig.methods = ('dm', 'onpolicy_warm')",
        "methods/lab.TrainBudget.checkpoint_period = 2",
        "onpolicy.OnPolicyConfig.warm_start_steps = 2", "onpolicy.OnPolicyConfig.warm_rounds = 2"]


def test_the_warm_cell_continues_the_dm_run(tmp_path: Path) -> None:
    """onpolicy_warm: its first round samples from the same seed's dm checkpoint after W
    steps; its warm_rounds rounds share the rest; it ends at the off-policy methods' step."""
    cfg, mcfg = methods.load([GIN], WARM)
    paths = stages.LabPaths(tmp_path)
    deps = {s.name: s.deps for s in methods_graph.build_stages(cfg, mcfg, paths)}
    cell_name, g = "lab_xxs_onpolicy_warm_s0", cfg.generalist.steps
    assert deps[f"sample_{cell_name}_r1"] == ("train_lab_xxs_dm_s0", "data")
    assert deps[f"eval_{cell_name}"] == (f"train_{cell_name}_r2",)
    assert f"train_{cell_name}_r3" not in deps  # warm_rounds, not rounds
    cell = methods.onpolicy_cell(cfg, mcfg, paths, methods.MethodRun("lab_xxs", "onpolicy_warm", 0))
    dm = methods.run_dir(paths, methods.MethodRun("lab_xxs", "dm", 0))
    assert cell.start_checkpoint == dm / f"checkpoint_{g + 2}" and cell.start_step == g + 2
    loop = mcfg.onpolicy.for_method("onpolicy_warm")
    assert onpolicy.round_steps(cell, loop) == 1
    final = g + mcfg.specialize.steps
    assert onpolicy.checkpoint(cell, loop, 2).name == f"checkpoint_{final}"
    assert f"--gin.CHECKPOINT_PATH={str(dm / f'checkpoint_{g + 2}')!r}" in \
        onpolicy.sample_argv(cfg, loop, paths, cell, 1)
    assert methods.result_dir(mcfg, paths, methods.MethodRun("lab_xxs", "onpolicy_warm", 0)) \
        == tmp_path / "runs" / "methods" / "lab_xxs" / "onpolicy_warm_s0" / "round2" / "model"


@pytest.mark.parametrize("bindings, match", [
    (WARM[1:], "add dm to methods"),  # no dm run to start from
    ([*WARM[:3], "onpolicy.OnPolicyConfig.warm_start_steps = 3"], "multiple of checkpoint"),
    ([*WARM[:3], "onpolicy.OnPolicyConfig.warm_start_steps = 4"], "warm_start_steps"),
])
def test_bad_warm_settings_fail_before_training(bindings: list[str], match: str) -> None:
    if bindings[0].startswith("methods/lab"):  # the default methods: no dm
        bindings = ["methods.MethodsConfig.methods = ('onpolicy_warm',)", *bindings]
    with pytest.raises(ValueError, match=match):
        methods.load([GIN], bindings)


@pytest.mark.parametrize("binding, match", [
    ("onpolicy.OnPolicyConfig.rounds = 3", "divide"),  # 4 steps in 3 rounds
    ("onpolicy.OnPolicyConfig.mixture_rate = 0.0", "mixture_rate"),
    ("onpolicy.OnPolicyConfig.temperature = 0.0", "temperature"),
])
def test_bad_loop_settings_fail_before_training(binding: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        methods.load([GIN], [binding])


def test_round_commands_resolve_with_the_budget_matched(tmp_path: Path, monkeypatch) -> None:
    """Each round's T5X train() arguments: from the previous checkpoint, S = steps / R steps,
    the mixture's shards, dm's weight and the method's divergence as bindings; the sampling
    gin binds temperature sampling."""
    import gin
    from t5spec.lab import pipeline

    cfg, mcfg = methods.load([GIN], ["onpolicy.OnPolicyConfig.rounds = 2"])
    paths = stages.LabPaths(tmp_path)
    pipeline.build_stages(cfg, paths)[0].action(None)  # the data stage
    monkeypatch.setenv("T5SPEC_DATA_DIR", str(paths.data))
    methods_graph.write_model_gin(mcfg, paths, "lab_xxs")
    for method, divergence in (("onpolicy", "kl"), ("onpolicy_jsd", "gjsd")):
        cell = methods.onpolicy_cell(cfg, mcfg, paths, methods.MethodRun("lab_xxs", method, 0))
        final = cfg.generalist.steps + mcfg.specialize.steps  # the off-policy methods' step
        for r in (1, 2):
            argv = onpolicy.train_argv(cfg, mcfg.onpolicy, cell, r)
            resolved = ginconfig.resolve(*_split(argv))
            assert resolved.train_kwargs["total_steps"] == cfg.generalist.steps + r * 2
            assert resolved.model.loss_config.divergence == divergence
            assert resolved.model.distill_weight == 1.0
            assert str(onpolicy.checkpoint(cell, mcfg.onpolicy, r - 1)) in " ".join(argv)
        assert onpolicy.checkpoint(cell, mcfg.onpolicy, 2).name == f"checkpoint_{final}"
    sample = onpolicy.sample_argv(cfg, mcfg.onpolicy, paths, cell, 1)
    files, bindings = _split(sample)
    import sys

    from t5x import infer  # the gin binds __main__.infer: t5x.infer run as a script

    monkeypatch.setattr(sys.modules["__main__"], "infer", infer.infer, raising=False)
    with gin.unlock_config():
        gin.clear_config()
    try:
        gin.add_config_file_search_path(str(REPO))
        gin.parse_config_files_and_bindings(files, [b[len("--gin."):] for b in bindings],
                                            finalize_config=False)
        assert gin.query_parameter("%TEMPERATURE") == mcfg.onpolicy.temperature
        assert "temperature_sample" in str(
            gin.query_parameter("models.EncoderDecoderModel.decode_fn"))
        assert gin.query_parameter("utils.DatasetConfig.split") == "train"
    finally:
        gin.clear_config()


def _split(argv: list[str]) -> tuple[list[str], list[str]]:
    files = [a.split("=", 1)[1] for a in argv if a.startswith("--gin_file=")]
    return files, [a for a in argv if a.startswith("--gin.")]


def test_prompts_and_texts_round_trip(tmp_path: Path) -> None:
    cfg, mcfg = methods.load([GIN])
    from t5spec.lab import pipeline

    paths = stages.LabPaths(tmp_path)
    pipeline.build_stages(cfg, paths)[0].action(None)
    n = onpolicy.write_prompts(cfg, mcfg.onpolicy, paths.data, tmp_path / "prompts.jsonl")
    assert n == mcfg.onpolicy.questions * mcfg.onpolicy.samples_per_question
    prompts = [json.loads(x) for x in (tmp_path / "prompts.jsonl").read_text().splitlines()]
    preds = [{"inputs": {"inputs_pretokenized": p["inputs"], "targets_pretokenized": ""},
              "prediction": "\u2047 x" if i == 0 else f"step {i}. The answer is 3.<extra_id_7>"}
             for i, p in enumerate(prompts)]  # what T5X infer writes, in the prompts' order
    (tmp_path / "pred.jsonl").write_text("".join(json.dumps(p) + "\n" for p in preds))
    written, empty = onpolicy.texts_from_predictions(
        tmp_path / "pred.jsonl", tmp_path / "prompts.jsonl", tmp_path / "texts.jsonl")
    assert (written, empty) == (n - 1, 1)
    texts = [json.loads(x) for x in (tmp_path / "texts.jsonl").read_text().splitlines()]
    assert texts[0]["continuation"] == " step 1. The answer is 3."
    assert (texts[0]["question_id"], texts[0]["sample_index"]) == (prompts[1]["question_id"], 1)
    assert not math.isnan(float(texts[0]["gold"]))
    (tmp_path / "pred.jsonl").write_text("".join(json.dumps(p) + "\n" for p in preds[::-1]))
    with pytest.raises(runner.StageFailed, match="another input"):
        onpolicy.texts_from_predictions(tmp_path / "pred.jsonl", tmp_path / "prompts.jsonl",
                                        tmp_path / "texts.jsonl")


def test_the_cli_runs_the_glue_steps_and_exits_2_on_bad_input(tmp_path: Path, capsys) -> None:
    from t5spec.lab import onpolicy_cli

    store.write_shards([_sample(f"on{i}") for i in range(2)], tmp_path / "on")
    store.write_shards([_sample(f"off{i}") for i in range(6)], tmp_path / "off")
    argv = ["mix", f"--on_policy={tmp_path / 'on'}", f"--off_policy={tmp_path / 'off'}",
            f"--output={tmp_path / 'mixed'}", "--seed=1"]
    assert onpolicy_cli.main([*argv, "--rate=0.25"]) == 0
    assert "2 on-policy + 6 off-policy" in capsys.readouterr().out
    assert onpolicy_cli.main([*argv, "--rate=0"]) == 2
    assert "--rate must be in (0, 1]" in capsys.readouterr().err
    missing = ["texts", f"--prompts={tmp_path / 'none.jsonl'}",
               f"--predictions={tmp_path / 'p.jsonl'}", f"--output={tmp_path / 't.jsonl'}"]
    assert onpolicy_cli.main(missing) == 2
    assert "none.jsonl" in capsys.readouterr().err


# ------------------------------------------------------------------------------ a real round
ROUND = "lab_xxs_onpolicy_jsd_s0_r1"
ONE_METHOD = "methods.MethodsConfig.methods = ('onpolicy_jsd',)"


def _records(folder: Path) -> dict[str, str]:
    """The teacher store's lines by key (each key must occur once)."""
    lines = [ln for p in sorted(folder.glob("samples-*.jsonl")) for ln in p.read_text().splitlines()
             if ln.strip()]
    by_key = {json.loads(ln)["key"]: ln for ln in lines}
    assert len(by_key) == len(lines), "a record stored twice"
    return by_key


@pytest.fixture(scope="module")
def killed_round(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """One on-policy round at the quick sizes, SIGKILLed while the teacher scores the
    student's samples (some records stored, the stage not done), then the same command."""
    from t5spec.cli import main

    root = tmp_path_factory.mktemp("onpolicy")
    paths = stages.LabPaths(root)
    scored = root / "runs" / "methods" / "lab_xxs" / "onpolicy_jsd_s0" / "round1" / "scored"
    argv = ["lab", "--experiment=methods", f"--gin_file={GIN}", f"--gin_param={ONE_METHOD}",
            f"--lab_dir={root}", "--no_progress"]

    def scoring_started() -> dict[str, str] | None:
        if paths.marker(f"score_{ROUND}").exists():
            raise AssertionError("the scoring stage finished before it could be killed")
        if not scored.is_dir():
            return None
        try:
            return _records(scored) or None
        except (json.JSONDecodeError, KeyError):
            return None  # a line being written

    before = run_until_then_kill(argv, scoring_started, root.parent / f"{root.name}.out")
    assert not paths.marker(f"score_{ROUND}").exists()  # killed mid-stage
    assert main(argv) == 0  # the same command again
    return root, before


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_the_killed_round_resumed_with_the_same_records(killed_round) -> None:
    root, before = killed_round
    folder = root / "runs" / "methods" / "lab_xxs" / "onpolicy_jsd_s0" / "round1"
    after = _records(folder / "scored")
    texts = [json.loads(ln) for ln in (folder / "texts.jsonl").read_text().splitlines()]
    assert {k: after[k] for k in before} == before  # stored before the kill: untouched
    assert len(after) == len(texts)  # every text scored exactly once
    log = stages.LabPaths(root).log(f"score_{ROUND}").read_text(errors="replace")
    assert log.count("teacher score") >= 2  # the killed invocation and the resumed one
    summary = json.loads((folder / "mixed" / "mix.json").read_text())
    assert summary["on_policy"] >= 1 and summary["mixture_rate"] == 0.5
    cfg, _ = methods.load([GIN], [ONE_METHOD])
    assert summary == onpolicy_mix.mix(folder / "aligned", root / "aligned", folder / "mixed",
                                   0.5, seed=cfg.seed + 2)  # deterministic: the same records


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_the_round_trained_from_the_generalist_and_is_a_report_row(killed_round) -> None:
    root, _ = killed_round
    cfg, mcfg = methods.load([GIN], [ONE_METHOD])
    model = root / "runs" / "methods" / "lab_xxs" / "onpolicy_jsd_s0" / "round1" / "model"
    final = cfg.generalist.steps + mcfg.specialize.steps  # the off-policy methods' last step
    assert (model / f"checkpoint_{final}").is_dir()
    log = stages.LabPaths(root).log(f"train_{ROUND}").read_text(errors="replace")
    assert "--gin.SpecializationModel.divergence='gjsd'" in log
    assert "generalist/checkpoint_" in log
    report = (root / "report" / "methods.md").read_text()
    assert "| onpolicy_jsd | lab_xxs |" in report
