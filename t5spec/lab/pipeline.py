"""The lab's stage graph: what each stage does, with which command, after which others.

::

    data ─┬─ generalist ─┬─────────────────────────────────────────── select_generalist ──┬─ report
          │              └────────────────────────────────┬─ specialize_dm ── select_dm ──┤
          └─ teacher ── sample (serve + client) ── align ─┴─ specialize_sm ── select_sm ──┘

The generalist evaluates the dev tasks at its last checkpoint; the report reads it as the
baseline ("before" in Table 2, the dotted line in Figure 2) of both specializations, which
evaluate only their own checkpoints. ``select_generalist`` runs the same test evaluation on
that checkpoint as ``select_<run>`` on the selected ones, so Table 1 compares them on test.

``sample`` starts ``t5spec serve`` on the teacher's last checkpoint (127.0.0.1, a free port),
waits for ``/health``, runs ``t5spec teacher sample`` against it — the client that talks to
real APIs — and stops the server. Everything else is one command from :mod:`stages`.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

from t5spec import gin_names
from t5spec.lab import config as lab_config
from t5spec.lab import stages as st
from t5spec.lab.config import LabConfig
from t5spec.lab.runner import (
    REPO,
    Stage,
    StageFailed,
    child_env,
    fingerprint,
    last_train_scalar,
    logged_train_step,
    run_logged,
)
from t5spec.subprocs import T5X_TRAIN_FINISHED, stop

SERVE_START_TIMEOUT_S = 300.0
# A training stage of at least this many steps starts with one glibc malloc arena
# (hugepages.ONE_ARENA): XLA's step temporaries are then reused, not mapped and faulted in
# again each step (~0.1 s a step of two processes at once), at ~2 s more compilation and
# ~1.6 GB more peak memory a process; the quick lab's 4-8 step stages do without
# (docs/benchmarks.md, "One arena for long training stages").
ONE_ARENA_MIN_STEPS = 50


def one_arena(steps: int) -> bool:
    """Whether a lab training stage of ``steps`` steps starts with one malloc arena."""
    return steps >= ONE_ARENA_MIN_STEPS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served_teacher(cfg: LabConfig, paths: st.LabPaths, extra_argv: Sequence[str] = (),
                   log_name: str = "serve") -> Iterator[str]:  # fmt: skip
    """``t5spec serve`` on the teacher checkpoint (``extra_argv`` appended: later flags win)
    for the duration, output in ``logs/<log_name>.log``; yields the base URL."""
    port = _free_port()
    log = paths.log(log_name)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as out:
        proc = subprocess.Popen([*st.serve_argv(cfg, paths, port), *extra_argv], cwd=REPO,
                                env=child_env(paths), stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + SERVE_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise StageFailed(f"t5spec serve exited {proc.returncode}; see {log}")
            with contextlib.suppress(OSError), urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/health", timeout=2):
                break
            if time.monotonic() > deadline:
                raise StageFailed(f"t5spec serve not healthy after {SERVE_START_TIMEOUT_S} s")
            time.sleep(1.0)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        stop(proc, timeout_s=30)


def _store_count(directory: Path) -> int:
    """Records in a teacher store so far (one JSON line each; progress only)."""
    total = 0
    for path in directory.glob("*.jsonl") if directory.is_dir() else ():
        with path.open("rb") as f:
            total += sum(1 for _ in f)
    return total


# ------------------------------------------------------------------------------- actions
def _data(cfg: LabConfig, paths: st.LabPaths) -> str:
    from t5spec.lab import build_data

    written = build_data(paths.data, seed=cfg.seed, sizes=cfg.world,
                         bbh_examples=cfg.bbh_examples, bbh_shots=cfg.bbh_shots)
    for role, shape in (("student", cfg.student), ("teacher", cfg.teacher)):
        vocab = paths.vocab(role)
        gin_file = paths.model_gin(role)
        gin_file.parent.mkdir(parents=True, exist_ok=True)
        gin_file.write_text(st.model_gin_text(shape, vocab, st.vocab_rows(vocab)))
    return f"{len(written)} files, world {cfg.world}"


def train_run(argv: list[str], log: Path, paths: st.LabPaths, stage: Stage,
           run_info: dict[str, str] | None = None) -> str:  # fmt: skip
    arena = stage.progress is not None and one_arena(stage.progress[0])
    run_logged(argv, log, child_env(paths, one_arena=arena),
               poll=stage.progress[1] if stage.progress else None, finished=T5X_TRAIN_FINISHED)
    if run_info:  # e.g. the report's "model" column (T5X's config.gin names no preset size)
        from t5spec.evaluate.runinfo import write_run_info

        write_run_info(_model_dir(argv), **run_info)
    loss = last_train_scalar(log, "loss")
    return f"final train loss {loss:.3f}" if loss is not None else "trained"


def _sample(cfg: LabConfig, paths: st.LabPaths, stage: Stage) -> str:
    from t5spec.teacher import filtering, store

    with served_teacher(cfg, paths) as base_url:
        run_logged(st.sample_argv(cfg, paths, base_url), paths.log(stage.name),
                   child_env(paths), poll=stage.progress[1] if stage.progress else None)
    stats = filtering.compute_stats(store.read_samples(paths.teacher_samples))
    (paths.teacher_samples / "lab_stats.json").write_text(json.dumps(stats.to_json(), indent=1))
    if stats.kept == 0 and not cfg.sampling.keep_incorrect:
        raise StageFailed(f"the teacher answered no question correctly ({stats.summary()}); "
                          "train it longer (gin/lab.gin: teacher/lab.TrainBudget.steps)")
    return f"teacher: {stats.summary()}"


def _command(argv: list[str], paths: st.LabPaths, stage: Stage, summary: str) -> str:
    run_logged(argv, paths.log(stage.name), child_env(paths))
    return summary


def _select(cfg: LabConfig, paths: st.LabPaths, run: str, stage: Stage) -> str:
    run_logged(st.select_argv(cfg, paths, run), paths.log(stage.name), child_env(paths))
    chosen = json.loads((paths.run(run) / "selection.json").read_text())["rules"]
    return "; ".join(f"{rule}: step {chosen[rule]['step']}" for rule in cfg.evaluation.rules
                     if chosen.get(rule))  # fmt: skip


def student_label(cfg: LabConfig) -> str:
    """``lab-64d-2L``: the lab student's shape, for the report's model column."""
    return f"lab-{cfg.student.emb_dim}d-{cfg.student.num_layers}L"


# ------------------------------------------------------------------------------- the graph
def _model_dir(argv: list[str]) -> str:
    value = next(a for a in argv if a.startswith(f"--gin.{gin_names.MODEL_DIR}=")).split("=", 1)[1]
    return value.strip("'\"")


def train_stage(name: str, deps: tuple[str, ...], argv: list[str], run: Path, steps: int,
                 paths: st.LabPaths, start: int = 0, **run_info: str) -> Stage:
    log = paths.log(name)
    return Stage(name, deps, lambda s: train_run(argv, log, paths, s, run_info), fingerprint(argv),
                 outputs=(run, log),
                 progress=(steps, lambda: max(0, logged_train_step(log) - start)))


def build_stages(cfg: LabConfig, paths: st.LabPaths) -> list[Stage]:
    """Every stage of a lab run, in a valid order."""
    runs = lab_config.run_names(cfg)
    g_steps = cfg.generalist.steps
    stages = [
        Stage("data", (), lambda s: _data(cfg, paths), fingerprint(cfg.seed, cfg.world,
              cfg.bbh_examples, cfg.bbh_shots, cfg.student, cfg.teacher, str(paths.root)),
              outputs=(paths.data, paths.root / "gin")),
        # the report's baseline: its last dev evaluation is every specialization's "before"
        train_stage("generalist", ("data",), st.generalist_argv(cfg, paths),
                     paths.run("generalist"), g_steps, paths, model=student_label(cfg),
                     stage="baseline"),
        train_stage("teacher", ("data",), st.teacher_argv(cfg, paths), paths.run("teacher"),
                     cfg.teacher_train.steps, paths),
        Stage("sample", ("teacher",), lambda s: _sample(cfg, paths, s),
              fingerprint(st.sample_argv(cfg, paths, "URL"), st.serve_argv(cfg, paths, 0)),
              outputs=(paths.teacher_samples, paths.log("sample"), paths.log("serve")),
              progress=(cfg.sampling.questions * cfg.sampling.samples_per_question,
                        lambda: _store_count(paths.teacher_samples))),
        Stage("align", ("sample",), lambda s: _align(cfg, paths, s),
              fingerprint(st.align_argv(cfg, paths)), outputs=(paths.aligned, paths.log("align"))),
    ]
    for alpha, name in zip(cfg.distill_weights, runs, strict=True):
        stages.append(train_stage(f"specialize_{name}", ("generalist", "align"),
                                   st.specialize_argv(cfg, paths, alpha), paths.run(name),
                                   cfg.specialize.steps, paths, start=g_steps,
                                   model=student_label(cfg)))
    tested = ("generalist", *runs)  # each gets a select_<name> test evaluation
    for name in tested:
        dep = "generalist" if name == "generalist" else f"specialize_{name}"
        stages.append(Stage(f"select_{name}", (dep,),
                            lambda s, n=name: _select(cfg, paths, n, s),
                            fingerprint(st.select_argv(cfg, paths, name)),
                            outputs=(paths.run(name) / "eval", paths.log(f"select_{name}"))))
    stages.append(Stage("report", tuple(f"select_{n}" for n in tested),
                        lambda s: _command(st.report_argv(cfg, paths), paths, s,
                                           f"{paths.report / 'report.md'}"),
                        fingerprint(st.report_argv(cfg, paths), time.time())))
    return stages


def _align(cfg: LabConfig, paths: st.LabPaths, stage: Stage) -> str:
    run_logged(st.align_argv(cfg, paths), paths.log(stage.name), child_env(paths))
    shards = sorted(paths.aligned.glob("gsm8k_train-*.tfrecord*"))
    if not shards:
        raise StageFailed(f"t5spec align wrote no shards into {paths.aligned}")
    return f"{len(shards)} shard(s) in {paths.aligned}"


# ------------------------------------------------------------------------------- the claim
CLAIM_COLUMN = "gsm8k/zs_cot"


def main_claim(cfg: LabConfig, paths: st.LabPaths, samples: int = 2000) -> list[str]:
    """The lab's main claim with its paired 95% interval: each specialized student's
    GSM8K-slot test accuracy minus the generalist's, on the same test items (checkpoints
    chosen by ``gsm8k_dev``; :mod:`t5spec.evaluate.stats`). One line per specialization; a
    line saying why when the selection or the per-item predictions are missing."""
    from t5spec.evaluate import items, stats

    scored = {}
    for name in ("generalist", *lab_config.run_names(cfg)):
        selection = paths.run(name) / "selection.json"
        try:
            step = json.loads(selection.read_text())["rules"]["gsm8k_dev"]["step"]
        except (OSError, KeyError, TypeError, json.JSONDecodeError):
            return [f"no paired interval: {selection} names no gsm8k_dev checkpoint"]
        found = items.read_items(paths.run(name), "test", int(step)).get(CLAIM_COLUMN)
        if found is None:
            return [f"no paired interval: no per-item {CLAIM_COLUMN} test predictions of "
                    f"{name} at step {step}"]
        scored[name] = found
    lines = []
    for name in lab_config.run_names(cfg):
        (a, b), _ = items.common([scored[name], scored["generalist"]])
        diff = stats.paired_difference(a, b, samples=samples)
        acc_a, acc_b = stats.bootstrap_accuracy(a), stats.bootstrap_accuracy(b)
        lines.append(f"GSM8K-slot test, {len(a)} problems: generalist {acc_b} -> {name} "
                     f"{acc_a}; " + stats.verdict(name, "generalist", diff) +
                     " (paired bootstrap over items, 95%)")
    return lines

