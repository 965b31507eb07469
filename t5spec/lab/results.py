"""The lab's ``report/results.json`` + ``results.md`` (:mod:`t5spec.report_results`).

Written at the end of ``t5spec lab`` (both experiments) from the per-item test predictions of
each cell: the default lab's generalist, dm and sm at their ``gsm8k_dev``-selected checkpoints
(comparisons: each specialization − generalist, dm − sm); the methods experiment's
(size, method, seed) cells at their last checkpoint (each method − sm, − generalist and − the
teacher with those reference rows; the teacher is one cell, sized ``teacher-<d>d-<L>L``).
The metadata names the command, gin files, commit, machine, date and this invocation's wall
time (stages found cached cost nothing in it; ``stage_seconds`` keeps what each stage took
when it ran).
"""

from __future__ import annotations

import json
import platform
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from t5spec import report_results
from t5spec.evaluate import items
from t5spec.lab import config as lab_config
from t5spec.lab import stages as st
from t5spec.lab.config import LabConfig


def machine() -> str:
    """``"AMD EPYC 7B13, 2 cores, Linux x86_64"`` (CPU model from /proc/cpuinfo)."""
    import os

    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model}, {cores} cores, {platform.system()} {platform.machine()}"


def commit() -> str:
    """The repository's HEAD (short), ``+dirty`` when tracked files differ; ``unknown``."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=st.REPO, check=True,
                              capture_output=True, text=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=st.REPO, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def meta(title: str, command: str, gin_files: Sequence[str], bindings: Sequence[str],
         wall_s: float | None, paths: st.LabPaths, stage_names: Sequence[str]) -> dict:  # fmt: skip
    """The document's metadata; ``stage_seconds`` from each stage's marker."""
    seconds = {}
    for name in stage_names:
        try:
            seconds[name] = json.loads(paths.marker(name).read_text())["seconds"]
        except (OSError, KeyError, json.JSONDecodeError):
            continue
    repo = str(st.REPO) + "/"
    return {"title": title, "command": command,
            "gin": [str(g).replace(repo, "") for g in gin_files], "bindings": list(bindings),
            "commit": commit(), "machine": machine(), "date": time.strftime("%Y-%m-%d"),
            "wall_time_s": None if wall_s is None else round(wall_s, 1),
            "stage_seconds": seconds}  # fmt: skip


def _params(shape, paths: st.LabPaths) -> int | None:
    """Trainable parameters at the lab vocabulary's rows; None without the vocabulary."""
    from t5spec.lab import methods

    vocab = paths.vocab("student")
    return methods.param_count(shape, st.vocab_rows(vocab)) if vocab.is_file() else None


def spec_cells(cfg: LabConfig, paths: st.LabPaths) -> list[dict]:
    """The default lab's cells: generalist, dm, sm at their ``gsm8k_dev`` checkpoints (a run
    without a selection or per-item predictions is left out)."""
    from t5spec.lab import pipeline

    params = _params(cfg.student, paths)
    cells = []
    for name in ("generalist", *lab_config.run_names(cfg)):
        try:
            selection = json.loads((paths.run(name) / "selection.json").read_text())
            step = int(selection["rules"]["gsm8k_dev"]["step"])
        except (OSError, KeyError, TypeError, ValueError):
            continue
        found = items.read_items(paths.run(name), "test", step)
        if found:
            cells.append(report_results.cell(name, pipeline.student_label(cfg), params,
                                             cfg.seed, step, found))  # fmt: skip
    return cells


def spec_comparisons(cfg: LabConfig) -> list[tuple[str, str]]:
    runs = lab_config.run_names(cfg)
    pairs = [(r, "generalist") for r in runs]
    return pairs + [(a, b) for i, a in enumerate(runs) for b in runs[i + 1:]]


def write_spec(cfg: LabConfig, paths: st.LabPaths, meta_: dict) -> Path:
    """``LAB/report/results.{json,md}`` of the default lab; returns the Markdown path."""
    doc = report_results.document(meta_, spec_cells(cfg, paths), spec_comparisons(cfg))
    return report_results.write(doc, paths.report)


def methods_cells(cfg: LabConfig, mcfg, paths: st.LabPaths) -> list[dict]:
    """The methods experiment's cells, slots named by benchmark (``gsm8k``, …, ``bbh``) so
    methods answering in different modes pair on the same problems
    (:func:`t5spec.lab.methods_report.read_slots`); cells not evaluated are left out."""
    from t5spec.lab import methods, methods_report

    cells = []
    teacher = methods.teacher_eval_dir(cfg, paths)
    if mcfg.teacher_row and (teacher / "inference_eval").is_dir():
        vocab = paths.vocab("teacher")
        params = methods.param_count(cfg.teacher, st.vocab_rows(vocab)) if vocab.is_file() \
            else None
        cells.append(report_results.cell(methods.TEACHER, methods.teacher_label(cfg), params, 0,
                                         cfg.teacher_train.steps,
                                         methods_report.read_slots(teacher)))  # fmt: skip
    for run in [*methods.reference_runs(mcfg), *methods.runs(mcfg)]:
        folder = methods.eval_dir(cfg, mcfg, paths, run)
        if not (folder / "inference_eval").is_dir():
            continue
        cells.append(report_results.cell(
            run.method, run.student, _params(mcfg.shape(run.student), paths),
            run.seed, methods.cell_step(cfg, mcfg, run), methods_report.read_slots(folder)))
    return cells


def part_name(sizes: Sequence[str], seeds: Sequence[int]) -> str:
    """``results`` for a whole run; ``results_lab_xs_s0-1`` for a part (``--sizes/--seeds``)."""
    if not sizes and not seeds:
        return "results"
    return "results_" + "-".join(sizes or ["all"]) + "_s" + "-".join(map(str, seeds or ["all"]))


def methods_comparisons(mcfg) -> list[tuple[str, ...]]:
    """The methods experiment's paired comparisons ``(A, B)`` (A − B on the same items): each
    method − sm, − the generalist and − the teacher (where those rows run); an evaluation-only
    variant − its trained method, seed with seed (``(A, B, "same seeds")``: the same
    students); the hybrid − sbs (issue 29: beat both sm and sbs); each on-policy method − dm
    (issue 32: it continues dm's KL on the student's own samples)."""
    from t5spec.lab import methods

    chosen = list(mcfg.methods)
    pairs: list[tuple[str, ...]] = [(m, "sm") for m in chosen if m != "sm"] \
        if "sm" in chosen else []
    pairs += [(m, "generalist") for m in chosen] if mcfg.generalist_row else []
    pairs += [(m, "teacher") for m in chosen] if mcfg.teacher_row else []
    pairs += [(m, methods.EVAL_VARIANTS[m], report_results.SAME_SEEDS)  # the same students
              for m in chosen if m in methods.EVAL_VARIANTS]
    pairs += [("hybrid", "sbs")] if {"hybrid", "sbs"} <= set(chosen) else []
    pairs += [(m, "dm") for m in chosen if m in methods.ONPOLICY] if "dm" in chosen else []
    return [tuple(p) for p in report_results.merge_comparisons(pairs)]


def write_methods(cfg: LabConfig, mcfg, paths: st.LabPaths, meta_: dict,
                  part: str = "results") -> Path:  # fmt: skip
    """``LAB/report/<part>/results.{json,md}`` of the methods experiment (``part``:
    :func:`part_name`); returns the Markdown path."""
    doc = report_results.document(meta_, methods_cells(cfg, mcfg, paths),
                                  methods_comparisons(mcfg))  # fmt: skip
    folder = paths.report if part == "results" else paths.report / part
    return report_results.write(doc, folder)
