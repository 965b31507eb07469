"""``t5spec lab --experiment=methods``: which distillation method, at which student size.

The matrix {student sizes} × {methods} × {seeds} of issue 11, on the lab's data and budgets:

========= =================================================== ==============================
method    training (from the size's own generalist)            test evaluation (answers)
========= =================================================== ==============================
``sm``    gin/lab/specialize.gin, ``DISTILL_WEIGHT = 0``       zero-shot CoT (``zs_cot``)
          (sample matching: CE on the teacher's samples)
``dm``    gin/lab/specialize.gin, ``DISTILL_WEIGHT = 1``       zero-shot CoT (``zs_cot``)
          (distribution matching: sparse top-k KL)
``sbs``   gin/lab/stepbystep.gin, ``RATIONALE_LOSS = 'ce'``    label prefix only (``sbs_label``)
          (distilling step-by-step: label CE + λ · CE)
``hybrid`` gin/lab/stepbystep.gin, ``RATIONALE_LOSS = 'kl'``   label prefix only (``sbs_label``)
          (label CE + λ · sparse top-k KL on rationales)
``sbs_cot`` no training of its own: the ``sbs`` / ``hybrid``       its rationale prefix, then the
``hybrid_cot`` cell's student (same run folder and checkpoint)     answer (``sbs_rationale``): a CoT
                                                               answer, sm's inference cost
``*_vote`` no training of its own: the ``sm`` / ``sbs`` /      self-consistency: majority of
          ``hybrid`` cell's student                          m sampled answers (vote_eval)
``onpolicy`` R rounds: the student samples, the teacher scores   zero-shot CoT (``zs_cot``)
          (:mod:`t5spec.lab.onpolicy`), specialize.gin with dm's
          loss on a λ-mixture; ``onpolicy_jsd``: GKD's JSD(β);
          ``onpolicy_warm``: from the dm cell after W steps
``teacher`` none: the ``teacher`` stage's model itself, once per    its sampling prompt
          world (``teacher_row``, stage ``eval_teacher``)      (``lab_teacher``)
========= =================================================== ==============================

The graph (:mod:`t5spec.lab.methods_graph`) reuses the ordinary lab's ``data``, ``teacher``,
``sample`` and ``align`` stages (:func:`t5spec.lab.pipeline.build_stages`) and adds, per size, a
generalist (same generic tasks and budget as the lab's, its own model gin
``LAB/gin/student_<size>.gin``) and, per (size, method, seed), a specialization run
``LAB/runs/methods/<size>/<method>_s<seed>`` (no dev evaluation: the same budget for every
method, the last checkpoint is the result) and an evaluation stage: ``python -m t5x.eval`` on
the test split (:mod:`t5spec.evaluate.command`, per-example ``predictions/*.jsonl``) and the
inference cost (:mod:`t5spec.lab.inference_cost`: generated tokens per answer, seconds per 100
answers). ``methods_report`` then writes ``LAB/report/methods.md`` + PNGs
(:mod:`t5spec.lab.methods_report`). Seeds vary the specialization only (T5X ``RANDOM_SEED`` and
data order = ``LabConfig.seed + 2 + seed``); each size has one generalist.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from t5spec import gin_names as gn
from t5spec.lab import onpolicy
from t5spec.lab import stages as st
from t5spec.lab.config import LAB_PRESETS, SPECIALIZE_MIXTURES, LabConfig, ModelShape, TrainBudget
from t5spec.lab.config import param_count as param_count  # re-exported: the report's column
from t5spec.lab.onpolicy import OnPolicyConfig

METHODS = ("sm", "dm", "sbs", "hybrid")
ONPOLICY = tuple(onpolicy.METHODS)  # same total training steps as METHODS (t5spec.lab.onpolicy)
# ``gold``: sample matching on the world's gold rationales (tasks t5spec_gsm8k_gold_spec*), the
# ceiling of "more data"; ``generalist``: the size's generalist itself, evaluated (no training);
# ``teacher``: the lab's teacher itself (the ``teacher`` stage's last checkpoint, its own model
# gin and vocabulary), one row per world, not per size or seed (``MethodsConfig.teacher_row``).
REFERENCES = ("gold", "generalist", "teacher")
# Evaluation-only rows: a trained method's student answering another way (no training of its
# own; the cell's run folder and checkpoint are the trained method's). Step-by-step students
# answer with the label only (7 tokens); ``*_cot`` asks them for their rationale first, so they
# are compared with sm/dm at the same inference cost (issue 29 item 3).
# ``*_vote`` answer by self-consistency (:mod:`t5spec.lab.vote_eval`): the majority of
# ``MethodsConfig.vote_samples`` sampled answers — sbs/hybrid's 7-token labels voted at about sm's
# token budget, sm's chains at that many times it.
EVAL_VARIANTS = {"sbs_cot": "sbs", "hybrid_cot": "hybrid", "sm_vote": "sm", "sbs_vote": "sbs",
                 "hybrid_vote": "hybrid"}
VOTE_INPUT = {"sm_vote": "zs_cot", "sbs_vote": "label", "hybrid_vote": "label"}  # vote_eval modes
TEACHER = "teacher"
# Test-time answer mode of each method (a t5spec.evaluate.benchmarks / tasks.stepbystep mode;
# ``lab_teacher``: the teacher's sampling prompt, t5spec.tasks.lab's t5spec_eval_*_lab_teacher).
EVAL_MODE = {"sm": "zs_cot", "dm": "zs_cot", "sbs": "sbs_label", "hybrid": "sbs_label",
             "sbs_cot": "sbs_rationale", "hybrid_cot": "sbs_rationale",
             "gold": "zs_cot", "generalist": "zs_cot", TEACHER: "lab_teacher",
             "sm_vote": "zs_cot_vote", "sbs_vote": "sbs_label_vote",
             "hybrid_vote": "sbs_label_vote", **dict.fromkeys(ONPOLICY, "zs_cot")}
COST_MODE = {"zs_cot": "zs_cot", "sbs_label": "label", "sbs_rationale": "rationale",
             "lab_teacher": "lab_teacher", "zs_cot_vote": "zs_cot_vote",
             "sbs_label_vote": "sbs_label_vote"}
OOD = ("multiarith", "asdiv", "svamp")



@dataclasses.dataclass(frozen=True)
class MethodsConfig:
    """The methods experiment (bound by ``gin/lab_methods.gin``).

    Attributes:
      students: student sizes, smallest first: names of :data:`LAB_PRESETS` or of ``shapes``.
      shapes: extra named student shapes (override presets of the same name).
      methods: a subset of :data:`METHODS`, :data:`ONPOLICY` and ``gold`` (trained cells), and
        of :data:`EVAL_VARIANTS` (evaluation-only rows; their trained method must be listed).
      generalist_row: also evaluate each size's generalist on test (a reference row, the
        "before" every method is compared with).
      teacher_row: also evaluate the lab's teacher on the same test items (one reference row
        per world, stage ``eval_teacher``; it answers in its sampling prompt, greedy).
      seeds: specialization seeds (one run per size × method × seed).
      rationale_weight: λ of ``sbs`` / ``hybrid`` (label CE + λ · rationale loss), ≥ 0.
      specialize: the budget of every specialization run; None: ``LabConfig.specialize``.
      test_examples: test examples per evaluation task; None: ``LabConfig.evaluation``'s
        (its GSM8K cap too).
      generic_tasks: generic-ability columns evaluated for every method (``bbh/ao``,
        ``bbh/cot``; empty: none).
      cost_examples: GSM8K-slot test questions timed for the inference cost.
      bootstrap_samples: bootstrap resamples of the report's 95% intervals.
      vote_samples / vote_temperature / vote_top_k: the ``*_vote`` rows' self-consistency
        (samples per answer ≥ 2, temperature > 0, top-k; 0: the whole vocabulary).
      onpolicy: the loop of ``onpolicy`` / ``onpolicy_jsd`` (rounds, m, temperature, λ, β).
    """

    students: Sequence[str] = ("lab_s", "lab_m", "lab_l")
    shapes: Mapping[str, ModelShape] = dataclasses.field(default_factory=dict)
    methods: Sequence[str] = METHODS
    generalist_row: bool = False
    teacher_row: bool = False
    seeds: Sequence[int] = (0, 1, 2)
    rationale_weight: float = 1.0
    specialize: TrainBudget | None = None
    test_examples: int | None = None
    generic_tasks: Sequence[str] = ("bbh/ao",)
    cost_examples: int = 20
    bootstrap_samples: int = 2000
    vote_samples: int = 5
    vote_temperature: float = 0.7
    vote_top_k: int = 40
    onpolicy: OnPolicyConfig = dataclasses.field(default_factory=OnPolicyConfig)

    def shape(self, student: str) -> ModelShape:
        """The shape of a student name; ValueError naming the known ones if there is none."""
        known = {**LAB_PRESETS, **dict(self.shapes)}
        if student not in known:
            raise ValueError(f"unknown student preset {student!r}; known: {', '.join(known)}")
        return known[student]

    def validate(self) -> None:
        """ValueError on a matrix no run could train (before anything is trained)."""
        if not self.students or len(set(self.students)) != len(self.students):
            raise ValueError(f"students must be non-empty and distinct, got {self.students}")
        for student in self.students:
            s = self.shape(student)
            if min(s.emb_dim, s.num_heads, s.head_dim, s.mlp_dim, s.num_layers) <= 0:
                raise ValueError(f"student {student!r}: every dimension must be > 0, got {s}")
        known = (*METHODS, *ONPOLICY, "gold", *EVAL_VARIANTS)
        unknown = [m for m in self.methods if m not in known]
        if unknown or not self.methods or len(set(self.methods)) != len(self.methods):
            raise ValueError(f"unknown or repeated method(s) in {list(self.methods)}; "
                             f"choose distinct ones from {', '.join(known)}")
        needs = {**EVAL_VARIANTS, **onpolicy.WARM_FROM}  # rows built on another method's run
        orphans = [m for m in self.methods if needs.get(m, m) not in self.methods]
        if orphans:
            raise ValueError(f"{', '.join(orphans)} build(s) on another method's run: add "
                             f"{', '.join(needs[m] for m in orphans)} to methods")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be non-empty and distinct, got {self.seeds}")
        lam = float(self.rationale_weight)
        if not math.isfinite(lam) or lam < 0:
            raise ValueError(f"rationale_weight (λ) must be a finite number >= 0, got {lam}")
        bad = [t for t in self.generic_tasks if t not in ("bbh/ao", "bbh/cot")]
        if bad:
            raise ValueError(f"generic_tasks must be bbh/ao or bbh/cot, got {bad}")
        b = self.specialize
        if b is not None and min(b.steps, b.batch_size, b.checkpoint_period) <= 0:
            raise ValueError("specialize: steps, checkpoint_period and batch_size must be > 0")
        if (self.test_examples is not None and self.test_examples <= 0) or \
                self.cost_examples <= 0 or self.bootstrap_samples <= 0:
            raise ValueError("test_examples, cost_examples and bootstrap_samples must be > 0")
        if self.vote_samples < 2 or not self.vote_temperature > 0 or self.vote_top_k < 0:
            raise ValueError("vote_samples must be >= 2, vote_temperature > 0 and vote_top_k "
                             f">= 0 (got {self.vote_samples}, {self.vote_temperature}, "
                             f"{self.vote_top_k})")


@dataclasses.dataclass(frozen=True)
class MethodRun:
    """One cell of the matrix: a student size trained by a method with a seed."""

    student: str
    method: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.student}_{self.method}_s{self.seed}"


def load(gin_files: Sequence[str], bindings: Sequence[str] = ()) -> tuple[LabConfig,
                                                                       MethodsConfig]:
    """(LabConfig, MethodsConfig) bound by ``gin_files`` then ``bindings``; ValueError on
    settings no run could use."""
    import gin
    from t5spec.lab import config as lab_config

    cfg = lab_config.load(gin_files, bindings)
    mcfg = gin.get_configurable(MethodsConfig)()
    mcfg.validate()
    if set(mcfg.methods) & set(ONPOLICY):
        mcfg.onpolicy.validate(budget(cfg, mcfg).steps)
    if set(mcfg.methods) & set(onpolicy.WARM_FROM):
        mcfg.onpolicy.validate_warm(budget(cfg, mcfg).steps, budget(cfg, mcfg).checkpoint_period)
    return cfg, mcfg


def runs(mcfg: MethodsConfig) -> list[MethodRun]:
    """Every cell, by size, then method, then seed."""
    return [MethodRun(s, m, seed) for s in mcfg.students for m in mcfg.methods
            for seed in mcfg.seeds]  # fmt: skip


# ------------------------------------------------------------------------------ paths & argv
def generalist_dir(paths: st.LabPaths, student: str) -> Path:
    return paths.run("methods") / student / "generalist"


def trained_method(method: str) -> str:
    """The method whose training produced ``method``'s students (itself but for variants)."""
    return EVAL_VARIANTS.get(method, method)


def run_dir(paths: st.LabPaths, run: MethodRun) -> Path:
    if run.method == "generalist":  # the reference row: the size's generalist itself
        return generalist_dir(paths, run.student)
    return paths.run("methods") / run.student / f"{trained_method(run.method)}_s{run.seed}"


def result_dir(mcfg: MethodsConfig, paths: st.LabPaths, run: MethodRun) -> Path:
    """The MODEL_DIR of the cell's evaluated checkpoint (on-policy: its last round's)."""
    folder = run_dir(paths, run)
    if run.method not in ONPOLICY:
        return folder
    return onpolicy.final_model_dir(folder, mcfg.onpolicy.for_method(run.method))


def onpolicy_cell(cfg: LabConfig, mcfg: MethodsConfig, paths: st.LabPaths,
                  run: MethodRun) -> onpolicy.Cell:  # fmt: skip
    """The cell's rounds: from the size's generalist, or (a warm method) from the same seed's
    ``dm`` run after ``warm_start_steps``, the rounds then sharing the rest of the budget."""
    g, b = cfg.generalist.steps, budget(cfg, mcfg)
    start = (st.last_checkpoint(generalist_dir(paths, run.student), g),
             f"generalist_{run.student}", g)
    if run.method in onpolicy.WARM_FROM:
        w = mcfg.onpolicy.warm_start_steps
        source = MethodRun(run.student, onpolicy.WARM_FROM[run.method], run.seed)
        start = (st.last_checkpoint(run_dir(paths, source), g + w), f"train_{source.name}", g + w)
        b = dataclasses.replace(b, steps=b.steps - w)
    return onpolicy.Cell(run.name, run.method, run_dir(paths, run), model_gin(paths, run.student),
                         *start, b, cfg.seed + 2 + run.seed)


def model_gin(paths: st.LabPaths, student: str) -> Path:
    return paths.model_gin(f"student_{student}")


def budget(cfg: LabConfig, mcfg: MethodsConfig) -> TrainBudget:
    return mcfg.specialize or cfg.specialize


def final_step(cfg: LabConfig, mcfg: MethodsConfig) -> int:
    """The step of every specialization run's last checkpoint (generalist steps included)."""
    return cfg.generalist.steps + budget(cfg, mcfg).steps


def cell_step(cfg: LabConfig, mcfg: MethodsConfig, run: MethodRun) -> int:
    """The checkpoint a cell is evaluated at: its last (the generalist's own for its row)."""
    return cfg.generalist.steps if run.method == "generalist" else final_step(cfg, mcfg)


def reference_runs(mcfg: MethodsConfig) -> list[MethodRun]:
    """The generalist rows (``generalist_row``): one per size, seed 0."""
    return [MethodRun(s, "generalist", 0) for s in mcfg.students] if mcfg.generalist_row else []


def eval_dir(cfg: LabConfig, mcfg: MethodsConfig, paths: st.LabPaths, run: MethodRun) -> Path:
    """Where ``t5x.eval`` of the last checkpoint writes (as ``t5spec eval`` files it; an
    evaluation-only variant beside its trained method's, named by its answer mode)."""
    folder = f"test_checkpoint_{cell_step(cfg, mcfg, run)}"
    if run.method in EVAL_VARIANTS:
        folder += f"_{EVAL_MODE[run.method]}"
    return result_dir(mcfg, paths, run) / "eval" / folder


def generalist_argv(cfg: LabConfig, paths: st.LabPaths, student: str) -> list[str]:
    argv = st._train_argv(model_gin(paths, student), "generalist.gin",
                          generalist_dir(paths, student), cfg.generalist, cfg.generalist.steps,
                          cfg.seed)  # fmt: skip
    # no dev evaluation: the matrix compares test numbers only (each cell's own stage)
    return [*argv, *st.generalist_task_argv(cfg),
            f"--gin_file={st.GIN / 'lab' / 'no_dev_eval.gin'}"]  # fmt: skip


def _method_bindings(cfg: LabConfig, mcfg: MethodsConfig, method: str) -> list[str]:
    if method in ("sm", "dm", "gold"):
        mixture = SPECIALIZE_MIXTURES[cfg.specialize_formats]
        if method == "gold":  # the same formats, on the gold rationales
            mixture = mixture.replace("t5spec_gsm8k_spec", "t5spec_gsm8k_gold_spec")
        # (formats 'all' is specialize.gin's own mixture: no flag, earlier runs stay cached)
        flag = [] if mixture == SPECIALIZE_MIXTURES["all"] else \
            [f"--gin.{gn.MIXTURE_OR_TASK_NAME}={mixture!r}"]
        return [f"--gin_file={st.GIN / 'lab' / 'no_dev_eval.gin'}",  # test eval: own stage
                f"--gin.{gn.DISTILL_WEIGHT}={1.0 if method == 'dm' else 0.0}", *flag]  # fmt: skip
    loss = "kl" if method == "hybrid" else "ce"
    return [f"--gin.{gn.RATIONALE_LOSS}={loss!r}",
            f"--gin.{gn.RATIONALE_WEIGHT}={float(mcfg.rationale_weight)}"]  # fmt: skip


def specialize_argv(cfg: LabConfig, mcfg: MethodsConfig, paths: st.LabPaths,
                    run: MethodRun) -> list[str]:  # fmt: skip
    """``python -m t5x.train`` of one cell, from the size's generalist."""
    run_gin = "specialize.gin" if EVAL_MODE[run.method] == "zs_cot" else "stepbystep.gin"
    start = cfg.generalist.steps
    argv = st._train_argv(model_gin(paths, run.student), run_gin, run_dir(paths, run),
                          budget(cfg, mcfg), final_step(cfg, mcfg),
                          cfg.seed + 2 + run.seed)  # fmt: skip
    init = st.last_checkpoint(generalist_dir(paths, run.student), start)
    return [*argv, f"--gin.{gn.INITIAL_CHECKPOINT_PATH}={str(init)!r}",
            f"--gin.{gn.SAVE_DATASET}=False",  # see stages.specialize_argv
            f"--gin.{gn.ALIGNED_DATA}={str(paths.aligned / 'gsm8k_train-*.tfrecord*')!r}",
            st.exemplars_flag(cfg), *_method_bindings(cfg, mcfg, run.method)]  # fmt: skip


def teacher_eval_dir(cfg: LabConfig, paths: st.LabPaths) -> Path:
    """Where the teacher row's ``t5x.eval`` writes (its last checkpoint, as for a cell)."""
    return paths.run("teacher") / "eval" / f"test_checkpoint_{cfg.teacher_train.steps}"


def teacher_label(cfg: LabConfig) -> str:
    """``teacher-256d-4L``: the teacher row's size column."""
    return f"teacher-{cfg.teacher.emb_dim}d-{cfg.teacher.num_layers}L"
