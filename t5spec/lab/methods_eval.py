"""The methods experiment's evaluation commands (:mod:`t5spec.lab.methods` holds the matrix,
its folders and training commands; :mod:`t5spec.lab.methods_graph` runs these as stages).

A cell answers its test items in its method's mode (``methods.EVAL_MODE``) through
``python -m t5x.eval`` (:mod:`t5spec.evaluate.command`), then ``python -m
t5spec.lab.inference_cost`` times that mode; a ``*_vote`` row is one ``python -m
t5spec.lab.vote_eval`` run, which writes its predictions and its cost itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

from t5spec import gin_names as gn
from t5spec.lab import stages as st
from t5spec.lab.config import LabConfig
from t5spec.lab.methods import (
    COST_MODE,
    EVAL_MODE,
    OOD,
    TEACHER,
    VOTE_INPUT,
    MethodRun,
    MethodsConfig,
    cell_step,
    eval_dir,
    model_gin,
    result_dir,
    teacher_eval_dir,
)


def cell_commands(cfg: LabConfig, mcfg: MethodsConfig, paths: st.LabPaths,
                  run: MethodRun) -> list[list[str]]:  # fmt: skip
    """Every command of a cell's evaluation stage: ``t5x.eval`` + the inference cost, or the
    self-consistency run of a ``*_vote`` row."""
    if run.method in VOTE_INPUT:
        return [vote_argv(cfg, mcfg, paths, run)]
    return [*eval_argvs(cfg, mcfg, paths, run), cost_argv(cfg, mcfg, paths, run)]


def vote_argv(cfg: LabConfig, mcfg: MethodsConfig, paths: st.LabPaths,
              run: MethodRun) -> list[str]:  # fmt: skip
    """``python -m t5spec.lab.vote_eval`` of a ``*_vote`` row: the trained method's last
    checkpoint, the cells' test cap and decode budget, sampling seeded per cell."""
    step = cell_step(cfg, mcfg, run)
    ev = cfg.evaluation
    return [sys.executable, "-m", "t5spec.lab.vote_eval",
            f"--checkpoint={st.last_checkpoint(result_dir(mcfg, paths, run), step)}",
            f"--vocab={paths.vocab('student')}", f"--data_dir={paths.data}",
            f"--mode={VOTE_INPUT[run.method]}", f"--samples={mcfg.vote_samples}",
            f"--temperature={mcfg.vote_temperature}", f"--top_k={mcfg.vote_top_k}",
            f"--seed={cfg.seed + 2 + run.seed}",
            f"--examples={mcfg.test_examples or ev.test_examples}",
            f"--max_new_tokens={ev.max_decode_length}", f"--batch_size={ev.batch_size}",
            f"--output_dir={eval_dir(cfg, mcfg, paths, run)}", "--overwrite"]  # fmt: skip


def eval_tasks(mcfg: MethodsConfig, method: str) -> tuple[str, ...]:
    """SeqIO task names evaluated on the test split for a method's students."""
    mode = EVAL_MODE[method]
    math = [f"t5spec_eval_{b}_{mode}" for b in ("gsm8k", *OOD)]
    return (*math, *(f"t5spec_eval_bbh_{t.split('/')[1]}" for t in mcfg.generic_tasks))


def _eval_mixtures(mcfg: MethodsConfig, method: str) -> list[str | tuple[str, ...]]:
    """One ``t5x.eval`` mixture per run for sm/dm (an ad-hoc ``eval_tasks.mixture_of``);
    sbs/hybrid (teacher): the registered ``t5spec_eval_math_sbs_label``
    (``t5spec_eval_math_lab_teacher``) mixture, then the generic tasks (``mixture_of``
    resolves only :mod:`t5spec.evaluate.benchmarks` names)."""
    tasks = eval_tasks(mcfg, method)
    if EVAL_MODE[method] == "zs_cot":
        return [tasks]
    generic = tasks[1 + len(OOD):]
    return [f"t5spec_eval_math_{EVAL_MODE[method]}",
            *([generic[0]] if len(generic) == 1 else [generic] if generic else [])]


def _eval_argvs(cfg: LabConfig, mcfg: MethodsConfig, paths: st.LabPaths, method: str,
                checkpoint: Path, model: Path, role: str, out: Path) -> list[list[str]]:
    """``python -m t5x.eval`` of one checkpoint on the test tasks of ``method``'s answer
    mode, every cell's example cap, decode budget and lengths; ``role``: whose vocabulary."""
    from t5spec.evaluate import command

    ev = cfg.evaluation
    return [command.t5x_eval_argv(command.EvalRequest(
        checkpoint=str(checkpoint), model_gin=str(model), output_dir=str(out),
        mixture=mixture, split="test", max_examples=mcfg.test_examples or ev.test_examples,
        max_decode_length=ev.max_decode_length, batch_size=ev.batch_size,
        vocab=str(paths.vocab(role)), data_dir=str(paths.data),
        bindings=(f"{gn.EVAL_FEATURE_LENGTHS}={st.eval_lengths(cfg)!r}",
                  *(st.test_cap_bindings(cfg) if mcfg.test_examples is None else ())),
    )) for mixture in _eval_mixtures(mcfg, method)]


def eval_argvs(cfg: LabConfig, mcfg: MethodsConfig, paths: st.LabPaths,
               run: MethodRun) -> list[list[str]]:  # fmt: skip
    """``python -m t5x.eval`` of the last checkpoint (:mod:`t5spec.evaluate.command`), all
    writing into :func:`eval_dir`."""
    checkpoint = st.last_checkpoint(result_dir(mcfg, paths, run), cell_step(cfg, mcfg, run))
    return _eval_argvs(cfg, mcfg, paths, run.method, checkpoint, model_gin(paths, run.student),
                       "student", eval_dir(cfg, mcfg, paths, run))  # fmt: skip


def teacher_eval_argvs(cfg: LabConfig, mcfg: MethodsConfig,
                       paths: st.LabPaths) -> list[list[str]]:  # fmt: skip
    """The teacher row's ``t5x.eval`` commands: the ``teacher`` stage's last checkpoint, its
    model gin (``LAB/gin/teacher.gin``) and vocabulary, the cells' test tasks and cap, in its
    sampling prompt (gin/lab/teacher_eval.gin registers those tasks); into
    :func:`teacher_eval_dir`."""
    checkpoint = st.last_checkpoint(paths.run("teacher"), cfg.teacher_train.steps)
    argvs = _eval_argvs(cfg, mcfg, paths, TEACHER, checkpoint, paths.model_gin("teacher"),
                        "teacher", teacher_eval_dir(cfg, paths))  # fmt: skip
    return [[*a, f"--gin_file={st.GIN / 'lab' / 'teacher_eval.gin'}"] for a in argvs]


def _cost_argv(cfg: LabConfig, mcfg: MethodsConfig, paths: st.LabPaths, method: str,
               checkpoint: Path, role: str, out: Path) -> list[str]:  # fmt: skip
    return [sys.executable, "-m", "t5spec.lab.inference_cost", f"--checkpoint={checkpoint}",
            f"--vocab={paths.vocab(role)}", f"--data_dir={paths.data}",
            f"--mode={COST_MODE[EVAL_MODE[method]]}", f"--examples={mcfg.cost_examples}",
            f"--max_new_tokens={cfg.evaluation.max_decode_length}",
            f"--batch_size={cfg.evaluation.batch_size}",
            f"--output={out / 'inference_cost.json'}"]  # fmt: skip


def cost_argv(cfg: LabConfig, mcfg: MethodsConfig, paths: st.LabPaths,
              run: MethodRun) -> list[str]:  # fmt: skip
    """``python -m t5spec.lab.inference_cost`` of the last checkpoint in the method's mode."""
    checkpoint = st.last_checkpoint(result_dir(mcfg, paths, run), cell_step(cfg, mcfg, run))
    return _cost_argv(cfg, mcfg, paths, run.method, checkpoint, "student",
                      eval_dir(cfg, mcfg, paths, run))


def teacher_cost_argv(cfg: LabConfig, mcfg: MethodsConfig, paths: st.LabPaths) -> list[str]:
    """The teacher row's inference cost, in its sampling prompt, with its vocabulary."""
    checkpoint = st.last_checkpoint(paths.run("teacher"), cfg.teacher_train.steps)
    return _cost_argv(cfg, mcfg, paths, TEACHER, checkpoint, "teacher",
                      teacher_eval_dir(cfg, paths))
