"""The stage graph of ``t5spec lab --experiment=methods`` (:mod:`t5spec.lab.methods` holds the
matrix's config, folders and commands): the lab's data/teacher/sample/align stages, per size a
generalist, per cell a training (or on-policy rounds) and an evaluation stage, with
``teacher_row`` one ``eval_teacher`` stage (the teacher on the same test items), and the report;
``commands_text`` prints every command (``--print_only``)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from t5spec.lab import onpolicy
from t5spec.lab import stages as st
from t5spec.lab.config import LabConfig
from t5spec.lab.methods import (
    EVAL_MODE,
    EVAL_VARIANTS,
    ONPOLICY,
    TEACHER,
    MethodsConfig,
    budget,
    eval_dir,
    generalist_argv,
    generalist_dir,
    model_gin,
    onpolicy_cell,
    param_count,
    reference_runs,
    run_dir,
    runs,
    specialize_argv,
    teacher_eval_dir,
    teacher_label,
    trained_method,
)
from t5spec.lab.methods_eval import (
    cell_commands,
    teacher_cost_argv,
    teacher_eval_argvs,
)

BASE_STAGES = ("data", "teacher", "sample", "align")


def write_model_gin(mcfg: MethodsConfig, paths: st.LabPaths, student: str) -> Path:
    """Writes ``LAB/gin/student_<size>.gin`` (needs the data stage's student vocabulary)."""
    gin_file = model_gin(paths, student)
    vocab = paths.vocab("student")
    gin_file.parent.mkdir(parents=True, exist_ok=True)
    gin_file.write_text(st.model_gin_text(mcfg.shape(student), vocab, st.vocab_rows(vocab)))
    return gin_file


def _generalist(cfg: LabConfig, mcfg: MethodsConfig, paths: st.LabPaths, student: str, stage):
    from t5spec.lab import pipeline

    write_model_gin(mcfg, paths, student)
    argv = generalist_argv(cfg, paths, student)
    return pipeline.train_run(argv, paths.log(stage.name), paths, stage)


def _evaluate(paths: st.LabPaths, argvs: list[list[str]], folder: Path, stage) -> str:
    """Runs a cell's (or the teacher's) evaluation commands; a one-line summary of
    ``folder``'s accuracies and inference cost."""
    import json

    from t5spec.lab.runner import child_env, run_logged

    for argv in argvs:
        run_logged(argv, paths.log(stage.name), child_env(paths))
    cost = json.loads((folder / "inference_cost.json").read_text())
    results = folder / "inference_eval" / "results.jsonl"
    accs = [json.loads(ln) for ln in results.read_text().splitlines() if ln.strip()]
    cells = ", ".join(f"{r['column']} {r['metrics']['accuracy']:.2f}" for r in accs)
    return f"{cells}; {cost['tokens_per_answer']:.1f} tokens/answer"


def build_stages(cfg: LabConfig, mcfg: MethodsConfig, paths: st.LabPaths) -> list:
    """The methods graph: the lab's data/teacher/sample/align stages, then per size a
    generalist, per cell a training and an evaluation stage, and ``methods_report``."""
    from t5spec.lab import pipeline
    from t5spec.lab.runner import Stage, fingerprint, logged_train_step

    graph = [s for s in pipeline.build_stages(cfg, paths) if s.name in BASE_STAGES]
    for student in mcfg.students:
        name, argv = f"generalist_{student}", generalist_argv(cfg, paths, student)
        log = paths.log(name)
        graph.append(Stage(
            name, ("data",), lambda s, u=student: _generalist(cfg, mcfg, paths, u, s),
            fingerprint(argv, mcfg.shape(student)),
            outputs=(generalist_dir(paths, student), log),
            progress=(cfg.generalist.steps, lambda lg=log: logged_train_step(lg))))
    start, steps = cfg.generalist.steps, budget(cfg, mcfg).steps
    if mcfg.teacher_row:  # once per world: the teacher on the cells' test items
        evals = [*teacher_eval_argvs(cfg, mcfg, paths), teacher_cost_argv(cfg, mcfg, paths)]
        graph.append(Stage(
            "eval_teacher", ("teacher",),
            lambda s, a=evals: _evaluate(paths, a, teacher_eval_dir(cfg, paths), s),
            fingerprint(evals), outputs=(teacher_eval_dir(cfg, paths),
                                         paths.log("eval_teacher"))))
    for run in [*reference_runs(mcfg), *runs(mcfg)]:
        # an evaluation-only variant waits for its trained method's stage (validate(): listed)
        trained = f"train_{dataclasses.replace(run, method=trained_method(run.method)).name}"
        if run.method in ONPOLICY:
            cell = onpolicy_cell(cfg, mcfg, paths, run)
            loop = mcfg.onpolicy.for_method(run.method)
            graph += onpolicy.round_stages(cfg, loop, paths, cell)
            trained = onpolicy.last_stage(cell, loop)
        elif run.method not in ("generalist", *EVAL_VARIANTS):
            graph.append(pipeline.train_stage(
                trained, (f"generalist_{run.student}", "align"),
                specialize_argv(cfg, mcfg, paths, run),
                run_dir(paths, run), steps, paths, start=start))
        evals = cell_commands(cfg, mcfg, paths, run)
        graph.append(Stage(
            f"eval_{run.name}", (f"generalist_{run.student}" if run.method == "generalist"
                                 else trained,),
            lambda s, r=run, a=evals: _evaluate(paths, a, eval_dir(cfg, mcfg, paths, r), s),
            fingerprint(evals),
            outputs=(eval_dir(cfg, mcfg, paths, run), paths.log(f"eval_{run.name}"))))
    evaluated = [*(["eval_teacher"] if mcfg.teacher_row else []),
                 *(f"eval_{r.name}" for r in [*reference_runs(mcfg), *runs(mcfg)])]
    graph.append(Stage("methods_report", tuple(evaluated), lambda s: _report(cfg, mcfg, paths),
                       fingerprint("methods_report", time.time())))
    return graph


def _report(cfg: LabConfig, mcfg: MethodsConfig, paths: st.LabPaths) -> str:
    from t5spec.lab import methods_report

    cells = []
    if mcfg.teacher_row:  # one row per world
        cells.append(methods_report.CellDir(
            student=teacher_label(cfg), method=TEACHER, seed=0,
            params=param_count(cfg.teacher, st.vocab_rows(paths.vocab("teacher"))),
            eval_dir=teacher_eval_dir(cfg, paths)))
    rows = st.vocab_rows(paths.vocab("student"))
    for run in [*reference_runs(mcfg), *runs(mcfg)]:
        cells.append(methods_report.CellDir(
            student=run.student, params=param_count(mcfg.shape(run.student), rows),
            method=run.method, seed=run.seed, eval_dir=eval_dir(cfg, mcfg, paths, run)))
    out = methods_report.write_report(cells, paths.report, samples=mcfg.bootstrap_samples,
                                      settings=_settings_text(cfg, mcfg))
    return str(out)


def _settings_text(cfg: LabConfig, mcfg: MethodsConfig) -> str:
    b = budget(cfg, mcfg)
    return (f"Each cell: the size's generalist ({cfg.generalist.steps} steps) specialized for "
            f"{b.steps} steps (batch {b.batch_size}, learning rate {b.learning_rate}) on the "
            f"same aligned teacher samples; λ = {mcfg.rationale_weight:g} for sbs/hybrid; "
            f"seeds {list(mcfg.seeds)}; test examples per task "
            f"{mcfg.test_examples or cfg.evaluation.test_examples}; the last checkpoint."
            + (mcfg.onpolicy.describe(mcfg.methods) if set(mcfg.methods) & set(ONPOLICY) else "")
            + (teacher_text(cfg) if mcfg.teacher_row else ""))


def teacher_text(cfg: LabConfig) -> str:
    """How the teacher row was measured (its answer mode), for ``methods.md``."""
    from t5spec.lab.world import TEACHER_INSTRUCTION, TEACHER_PROMPT_ID

    return (f" The teacher row ({teacher_label(cfg)}: the `teacher` stage's checkpoint_"
            f"{cfg.teacher_train.steps}, its own model gin and vocabulary, once per world) "
            f"answers the same test items greedily in its sampling prompt, zero-shot: "
            f"lib_prompt/{TEACHER_PROMPT_ID}.txt (\"{TEACHER_INSTRUCTION}\") + \"Question: "
            "…\" + \"Let's think step by step\" (answer mode "
            f"{EVAL_MODE[TEACHER]}: the prompt its samples were drawn with, there at "
            f"temperature {cfg.sampling.temperature:g}); its BBH slot uses the cells' "
            "3-shot BBH prompts (the lab teacher was trained on GSM8K-slot chains of thought "
            "only). A slot it was not evaluated on reads \"not evaluated\".")


def _train_commands(cfg: LabConfig, mcfg: MethodsConfig, paths: st.LabPaths,
                    run) -> list[list[str]]:  # fmt: skip
    """A cell's training commands (none for a reference row or an evaluation-only one)."""
    if run.method in ("generalist", *EVAL_VARIANTS):
        return []
    if run.method in ONPOLICY:
        return list(onpolicy.commands(cfg, mcfg.onpolicy.for_method(run.method), paths,
                                      onpolicy_cell(cfg, mcfg, paths, run)))
    return [specialize_argv(cfg, mcfg, paths, run)]


def commands_text(cfg: LabConfig, mcfg: MethodsConfig, paths: st.LabPaths) -> str:
    """Every command of a methods run as shell lines (``t5spec lab --print_only``)."""
    import shlex

    argvs = [st.teacher_argv(cfg, paths), st.serve_argv(cfg, paths, 8000),
             st.sample_argv(cfg, paths, "http://127.0.0.1:8000/v1"), st.align_argv(cfg, paths)]
    argvs += [generalist_argv(cfg, paths, s) for s in mcfg.students]
    if mcfg.teacher_row:
        argvs += [*teacher_eval_argvs(cfg, mcfg, paths), teacher_cost_argv(cfg, mcfg, paths)]
    for run in [*reference_runs(mcfg), *runs(mcfg)]:
        argvs += [*_train_commands(cfg, mcfg, paths, run),
                  *cell_commands(cfg, mcfg, paths, run)]
    env = f"T5SPEC_DATA_DIR={shlex.quote(str(paths.data))} JAX_PLATFORMS=cpu"
    return "\n".join(f"{env} {shlex.join(['python', *a[1:]])}" for a in argvs)
