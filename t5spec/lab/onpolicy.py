"""On-policy distillation through the teacher's API (GKD, Agarwal et al. 2024) as lab stages.

One methods cell (``onpolicy``: sparse top-k forward KL; ``onpolicy_jsd``: GKD's JSD(β),
:mod:`t5spec.losses.gjsd`) trains in ``R`` rounds of ``S = steps / R`` steps, from the size's
generalist. Round ``r`` (``LAB/runs/methods/<size>/<method>_s<seed>/round<r>/``)::

    sample_<cell>_r<r>  the student at its latest checkpoint (round r−1's, the generalist's for
                        r = 1) writes m chains of thought per training question: python -m
                        t5x.infer, gin/lab/onpolicy_sample.gin (temperature sampling) over
                        prompts.jsonl (t5spec.tasks.onpolicy) -> samples/ -> texts.jsonl
    score_<cell>_r<r>   t5spec teacher score against the lab's `t5spec serve` teacher (echo
                        log-probs of the student's text) -> scored/ (source = "student")
    align_<cell>_r<r>   t5spec align --include_incorrect -> aligned/; then the mixture:
                        mixed/ = these on-policy records and off-policy teacher samples
                        (LAB/aligned) with a fraction λ of on-policy records
                        (:func:`t5spec.lab.onpolicy_mix.mix`)
    train_<cell>_r<r>   python -m t5x.train (gin/lab/specialize.gin, the same trainer and
                        SpecializationModel as sm/dm; DISTILL_WEIGHT = 1, the divergence a gin
                        binding) from that checkpoint for S steps on mixed/ -> model/

Each is an ordinary cached stage (:mod:`t5spec.lab.runner`): a kill at any point, then the same
command, redoes only the interrupted stage, which resumes (T5X infer by chunks, the teacher
store by record, T5X training from its last checkpoint) or, being deterministic, rewrites the
same records. T5X infer draws each chunk's samples from ``PRNGKey(0)`` folded with the chunk
index, so a round's samples depend only on its checkpoint and prompts.

Budget: the cell's total training steps equal the off-policy methods' (``R·S`` = the methods
budget; the last checkpoint is at the same step), so rows compare at equal training compute.
The teacher is asked more: the off-policy samples plus ``R · questions · m`` scoring calls.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

from t5spec.lab import onpolicy_mix
from t5spec.lab import stages as st
from t5spec.lab.config import SPECIALIZE_MIXTURES, LabConfig, TrainBudget

#: method -> the divergence of its loss (t5spec.losses.config.DIVERGENCES)
METHODS = {"onpolicy": "kl", "onpolicy_jsd": "gjsd", "onpolicy_warm": "kl"}
#: on-policy methods that start from the same seed's ``dm`` cell after ``warm_start_steps``
#: (GKD starts from a supervised student; from the generalist, round 1 learns from samples
#: that are mostly wrong), not from the generalist; the off-policy method they continue:
WARM_FROM = {"onpolicy_warm": "dm"}
PREDICTIONS = "t5spec_onpolicy_prompts-predict.jsonl-00000-of-00001"
# How SentencePiece renders ids no text can hold: <unk> and the sentinel ids.
_NOT_TEXT = re.compile(r"\u2047|<extra_id_\d+>")


@dataclasses.dataclass(frozen=True)
class OnPolicyConfig:
    """The on-policy loop of methods ``onpolicy`` / ``onpolicy_jsd`` (``MethodsConfig.onpolicy``).

    Attributes:
      rounds: R; each round trains ``steps / R`` steps (the methods budget must divide).
      samples_per_question: m, the student's samples per training question per round.
      questions: training questions sampled each round (the first N); None: the teacher's
        ``SamplingConfig.questions`` (the same questions the off-policy samples cover).
      temperature: the student's sampling temperature (GKD: 1).
      mixture_rate: λ ∈ (0, 1], the fraction of a round's training records that are on-policy
        (the rest: off-policy teacher samples); GKD's λ.
      beta: β of ``onpolicy_jsd``'s JSD(β).
      max_decode_length: student tokens per sample; None: ``SamplingConfig.max_tokens``.
      warm_start_steps: ``onpolicy_warm``: steps of the same seed's ``dm`` run it starts from
        (a multiple of the budget's ``checkpoint_period``: dm keeps that checkpoint); its
        ``warm_rounds`` rounds share the rest of the budget.
      warm_rounds: ``onpolicy_warm``'s rounds.
    """

    rounds: int = 2
    samples_per_question: int = 2
    questions: int | None = None
    temperature: float = 1.0
    mixture_rate: float = 0.5
    beta: float = 0.5
    max_decode_length: int | None = None
    warm_start_steps: int = 1000
    warm_rounds: int = 1

    def for_method(self, method: str) -> OnPolicyConfig:
        """The loop of ``method`` (a warm method: ``warm_rounds`` rounds)."""
        return dataclasses.replace(self, rounds=self.warm_rounds) if method in WARM_FROM \
            else self

    def validate_warm(self, steps: int, checkpoint_period: int) -> None:
        """ValueError on a warm start no dm checkpoint or round split could serve."""
        w = self.warm_start_steps
        if not 0 < w < steps or w % checkpoint_period:
            raise ValueError(f"onpolicy warm_start_steps must be in (0, {steps}) and a multiple "
                             f"of checkpoint_period ({checkpoint_period}), got {w}")
        self.for_method("onpolicy_warm").validate(steps - w)

    def validate(self, steps: int) -> None:
        """ValueError on a loop no run could train with ``steps`` total training steps."""
        if self.rounds <= 0 or steps % self.rounds:
            raise ValueError(f"onpolicy rounds ({self.rounds}) must be > 0 and divide the "
                             f"methods' training steps ({steps})")
        if self.samples_per_question <= 0 or (self.questions is not None and self.questions <= 0):
            raise ValueError("onpolicy samples_per_question and questions must be > 0")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"onpolicy temperature must be > 0, got {self.temperature}")
        if not 0.0 < self.mixture_rate <= 1.0:
            raise ValueError(f"onpolicy mixture_rate (λ) must be in (0, 1], got "
                             f"{self.mixture_rate}")
        if not 0.0 <= self.beta <= 1.0:
            raise ValueError(f"onpolicy beta must be in [0, 1], got {self.beta}")

    def describe(self, methods: Sequence[str] = ()) -> str:
        """One sentence for the methods report's settings (the warm start where ``methods``
        has a warm method)."""
        warm = (f" onpolicy_warm: the same seed's dm run after {self.warm_start_steps} steps, "
                f"then {self.warm_rounds} such round(s) over the rest."
                if set(methods) & set(WARM_FROM) else "")
        return (f" onpolicy/onpolicy_jsd: the same steps in {self.rounds} rounds, each on the "
                f"student's {self.samples_per_question} samples per question (temperature "
                f"{self.temperature:g}) scored by the teacher, on-policy fraction λ = "
                f"{self.mixture_rate:g}; onpolicy_jsd β = {self.beta:g}.{warm}")


@dataclasses.dataclass(frozen=True)
class Cell:
    """What a cell's rounds need from the methods experiment.

    Attributes:
      name: the cell's name (``<size>_<method>_s<seed>``), the stem of its stage names.
      method: a key of :data:`METHODS`.
      root: the cell's folder (rounds under it).
      model_gin: the size's model gin.
      start_checkpoint / start_stage / start_step: the generalist's last checkpoint, its stage
        and its step.
      budget: the methods' specialization budget (``steps``: all rounds together).
      seed: T5X ``RANDOM_SEED`` and data order of every round.
    """

    name: str
    method: str
    root: Path
    model_gin: Path
    start_checkpoint: Path
    start_stage: str
    start_step: int
    budget: TrainBudget
    seed: int


# ------------------------------------------------------------------------------ paths
def round_dir(cell: Cell, r: int) -> Path:
    return cell.root / f"round{r}"


def model_dir(cell: Cell, r: int) -> Path:
    """Round ``r``'s T5X MODEL_DIR; the last round's holds the cell's result."""
    return round_dir(cell, r) / "model"


def final_model_dir(root: Path, ocfg: OnPolicyConfig) -> Path:
    """The last round's MODEL_DIR of the cell folder ``root`` (what is evaluated)."""
    return root / f"round{ocfg.rounds}" / "model"


def round_steps(cell: Cell, ocfg: OnPolicyConfig) -> int:
    return cell.budget.steps // ocfg.rounds


def checkpoint(cell: Cell, ocfg: OnPolicyConfig, r: int) -> Path:
    """The checkpoint after round ``r`` (0: the generalist's)."""
    if r == 0:
        return cell.start_checkpoint
    return st.last_checkpoint(model_dir(cell, r), cell.start_step + r * round_steps(cell, ocfg))


def last_stage(cell: Cell, ocfg: OnPolicyConfig) -> str:
    return f"train_{cell.name}_r{ocfg.rounds}"


# ------------------------------------------------------------------------------ sample
def write_prompts(cfg: LabConfig, ocfg: OnPolicyConfig, data_dir: Path, path: Path) -> int:
    """Writes ``prompts.jsonl``: the first N GSM8K-slot train questions, each m times, in the
    zero-shot CoT format the student is tested in. Returns the line count."""
    from t5spec.data import formats, math_datasets
    from t5spec.data.answers import format_number

    questions = ocfg.questions or cfg.sampling.questions
    train = list(math_datasets.load("gsm8k", "train", data_dir))[:questions]
    lines = [json.dumps({"key": f"{ex.id}#{i}", "question_id": ex.id, "sample_index": i,
                         "question": ex.question, "gold": format_number(ex.answer),
                         "inputs": formats.build_inputs(ex.question, "zero_shot_cot")})
             for ex in train for i in range(ocfg.samples_per_question)]  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return len(lines)


def sample_argv(cfg: LabConfig, ocfg: OnPolicyConfig, paths: st.LabPaths, cell: Cell,
                r: int) -> list[str]:  # fmt: skip
    """``python -m t5x.infer`` of the student's round-``r`` samples."""
    import sys

    folder = round_dir(cell, r)
    lengths = {"inputs": cell.budget.inputs_length,
               "targets": ocfg.max_decode_length or cfg.sampling.max_tokens}
    return [
        sys.executable, "-m", "t5x.infer", f"--gin_search_paths={st.REPO}",
        f"--gin_file={cell.model_gin}", f"--gin_file={st.GIN / 'lab' / 'onpolicy_sample.gin'}",
        f"--gin.CHECKPOINT_PATH={str(checkpoint(cell, ocfg, r - 1))!r}",
        f"--gin.INFER_OUTPUT_DIR={str(folder / 'samples')!r}",
        f"--gin.OnPolicyPrompts.path={str(folder / 'prompts.jsonl')!r}",
        f"--gin.TEMPERATURE={float(ocfg.temperature)}",
        f"--gin.INFER_BATCH_SIZE={cfg.evaluation.batch_size}",
        f"--gin.TASK_FEATURE_LENGTHS={lengths!r}",
    ]  # fmt: skip


def texts_from_predictions(predictions: Path, prompts: Path, texts: Path) -> tuple[int, int]:
    """T5X infer's predictions -> ``teacher score`` input (question_id, sample_index,
    question, continuation, gold). T5X writes predictions in the prompts' order with only the
    ``*_pretokenized`` features, so line i is prompt i (checked against its input text). A
    sample is cut before its first id that is no text (``⁇`` = <unk>, ``<extra_id_N>``: no
    tokenizer reproduces them; an undertrained student emits them) and left out if nothing is
    left. The continuation gets the leading space a T5 teacher's text has (its SentencePiece
    dummy prefix). Returns (texts written, samples left out)."""
    from t5spec.lab.runner import StageFailed

    asked = [json.loads(x) for x in prompts.read_text(encoding="utf-8").splitlines()]
    got = [json.loads(x) for x in predictions.read_text(encoding="utf-8").splitlines()]
    if len(got) != len(asked):
        raise StageFailed(f"{predictions}: {len(got)} predictions for {len(asked)} prompts")
    rows, empty = [], 0
    for n, (ex, pred) in enumerate(zip(asked, got, strict=True), 1):
        if pred["inputs"].get("inputs_pretokenized") != ex["inputs"]:
            raise StageFailed(f"{predictions}:{n}: the prediction of another input")
        text = _NOT_TEXT.split(str(pred["prediction"]), maxsplit=1)[0].strip()
        if not text:
            empty += 1
            continue
        rows.append({"question_id": ex["question_id"], "sample_index": ex["sample_index"],
                     "question": ex["question"], "continuation": f" {text}",
                     "gold": ex["gold"]})  # fmt: skip
    texts.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return len(rows), empty


def _sample(cfg, ocfg, paths: st.LabPaths, cell: Cell, r: int, stage) -> str:
    from t5spec.lab.runner import StageFailed, child_env, run_logged

    folder = round_dir(cell, r)
    n = write_prompts(cfg, ocfg, paths.data, folder / "prompts.jsonl")
    run_logged(sample_argv(cfg, ocfg, paths, cell, r), paths.log(stage.name), child_env(paths))
    written, empty = texts_from_predictions(folder / "samples" / PREDICTIONS,
                                            folder / "prompts.jsonl", folder / "texts.jsonl")
    if not written:
        raise StageFailed(f"the student wrote {n} empty samples; see {paths.log(stage.name)}")
    return f"{written} student samples ({empty} empty before their first non-text id left out)"


# ------------------------------------------------------------------------------ score
def score_argv(cfg: LabConfig, paths: st.LabPaths, cell: Cell, r: int,
               base_url: str) -> list[str]:  # fmt: skip
    from t5spec.lab.world import TEACHER_PROMPT_ID

    folder = round_dir(cell, r)
    return st.t5spec_argv(
        "teacher", "score", f"--base_url={base_url}", "--model=lab-teacher",
        "--echo=decoder_prompt", f"--texts={folder / 'texts.jsonl'}",
        f"--prompt_id={TEACHER_PROMPT_ID}", f"--data_dir={paths.data}", "--top_logprobs=5",
        f"--concurrency={cfg.sampling.concurrency}", f"--output={folder / 'scored'}",
        "--no_progress",
    )  # fmt: skip


def serve_flags(cfg: LabConfig, ocfg: OnPolicyConfig) -> list[str]:
    """Added to the lab's ``t5spec serve``: the student's text in teacher tokens can be longer
    than the student's (another tokenizer); the server refuses a longer decoder_prompt."""
    return [f"--max_tokens={4 * (ocfg.max_decode_length or cfg.sampling.max_tokens)}"]


def _score(cfg, ocfg, paths: st.LabPaths, cell: Cell, r: int, stage) -> str:
    from t5spec.lab import pipeline
    from t5spec.lab.runner import child_env, run_logged
    from t5spec.teacher import store

    with pipeline.served_teacher(cfg, paths, extra_argv=serve_flags(cfg, ocfg),
                                 log_name=f"serve_{cell.name}_r{r}") as base_url:  # fmt: skip
        run_logged(score_argv(cfg, paths, cell, r, base_url), paths.log(stage.name),
                   child_env(paths))
    records = list(store.read_samples(round_dir(cell, r) / "scored"))
    return f"{sum(s.valid for s in records)} of {len(records)} scored texts valid"


# ------------------------------------------------------------------------------ align + mix
def align_argv(paths: st.LabPaths, cell: Cell, r: int) -> list[str]:
    folder = round_dir(cell, r)
    return st.t5spec_argv(
        "align", f"--teacher_samples={folder / 'scored'}", f"--output={folder / 'aligned'}",
        f"--vocab={paths.vocab('student')}", f"--data_dir={paths.data}", "--skip_invalid",
        "--no_progress", "--include_incorrect",  # the student's samples: right or wrong
    )  # fmt: skip


def _align(ocfg, paths: st.LabPaths, cell: Cell, r: int, stage) -> str:
    from t5spec.lab.runner import StageFailed, child_env, run_logged

    run_logged(align_argv(paths, cell, r), paths.log(stage.name), child_env(paths))
    folder = round_dir(cell, r)
    summary = onpolicy_mix.mix(folder / "aligned", paths.aligned, folder / "mixed",
                               ocfg.mixture_rate, cell.seed)
    if summary["on_policy"] == 0:
        raise StageFailed(f"no student sample of round {r} aligned; see {folder / 'aligned'}")
    return (f"{summary['on_policy']} on-policy + {summary['off_policy']} off-policy records "
            f"(on-policy fraction {summary['on_policy_fraction']:.2f})")


# ------------------------------------------------------------------------------ train
def loss_flags(ocfg: OnPolicyConfig, method: str) -> list[str]:
    """The loss as a config choice: DISTILL_WEIGHT 1 (dm's) and the method's divergence."""
    flags = ["--gin.DISTILL_WEIGHT=1.0", f"--gin.SpecializationModel.divergence="
             f"{METHODS[method]!r}"]  # fmt: skip
    return flags + ([f"--gin.SpecializationModel.beta={float(ocfg.beta)}"]
                    if METHODS[method] == "gjsd" else [])


def train_argv(cfg: LabConfig, ocfg: OnPolicyConfig, cell: Cell, r: int) -> list[str]:
    """``python -m t5x.train`` of round ``r``: from the previous round's checkpoint for S
    steps on ``round<r>/mixed``."""
    steps = round_steps(cell, ocfg)
    budget = dataclasses.replace(cell.budget, steps=steps, checkpoint_period=steps)
    argv = st._train_argv(cell.model_gin, "specialize.gin", model_dir(cell, r), budget,
                          cell.start_step + r * steps, cell.seed)  # fmt: skip
    mixture = SPECIALIZE_MIXTURES[cfg.specialize_formats]
    flag = [] if cfg.specialize_formats == "all" else [f"--gin.MIXTURE_OR_TASK_NAME={mixture!r}"]
    return [*argv, f"--gin.INITIAL_CHECKPOINT_PATH={str(checkpoint(cell, ocfg, r - 1))!r}",
            "--gin.utils.SaveCheckpointConfig.save_dataset=False",  # see stages.specialize_argv
            f"--gin.ALIGNED_DATA={str(round_dir(cell, r) / 'mixed' / 'gsm8k_train-*.tfrecord*')!r}",
            st.exemplars_flag(cfg), f"--gin_file={st.GIN / 'lab' / 'no_dev_eval.gin'}",
            *flag, *loss_flags(ocfg, cell.method)]  # fmt: skip


# ------------------------------------------------------------------------------ the graph
def round_stages(cfg: LabConfig, ocfg: OnPolicyConfig, paths: st.LabPaths,
                 cell: Cell) -> list:  # fmt: skip
    """Every round's four stages, in order (see the module docstring)."""
    from t5spec.lab import pipeline
    from t5spec.lab.runner import Stage, fingerprint

    graph, previous = [], cell.start_stage
    for r in range(1, ocfg.rounds + 1):
        folder, tag = round_dir(cell, r), f"{cell.name}_r{r}"
        sample = sample_argv(cfg, ocfg, paths, cell, r)
        graph.append(Stage(
            f"sample_{tag}", (previous, "data"),
            lambda s, r=r: _sample(cfg, ocfg, paths, cell, r, s),
            fingerprint(sample, ocfg.questions or cfg.sampling.questions,
                        ocfg.samples_per_question),
            outputs=(folder / "samples", folder / "prompts.jsonl", folder / "texts.jsonl",
                     paths.log(f"sample_{tag}"))))
        graph.append(Stage(
            f"score_{tag}", (f"sample_{tag}", "teacher"),
            lambda s, r=r: _score(cfg, ocfg, paths, cell, r, s),
            fingerprint(score_argv(cfg, paths, cell, r, "URL"), serve_flags(cfg, ocfg),
                        st.serve_argv(cfg, paths, 0)),
            outputs=(folder / "scored", paths.log(f"score_{tag}"),
                     paths.log(f"serve_{tag}"))))
        graph.append(Stage(
            f"align_{tag}", (f"score_{tag}", "align"),
            lambda s, r=r: _align(ocfg, paths, cell, r, s),
            fingerprint(align_argv(paths, cell, r), ocfg.mixture_rate, cell.seed),
            outputs=(folder / "aligned", folder / "mixed", paths.log(f"align_{tag}"))))
        steps = round_steps(cell, ocfg)
        graph.append(pipeline.train_stage(
            f"train_{tag}", (f"align_{tag}",), train_argv(cfg, ocfg, cell, r),
            model_dir(cell, r), steps, paths, start=cell.start_step + (r - 1) * steps))
        previous = f"train_{tag}"
    return graph


def commands(cfg: LabConfig, ocfg: OnPolicyConfig, paths: st.LabPaths,
             cell: Cell) -> Sequence[list[str]]:  # fmt: skip
    """Every round's commands (``t5spec lab --print_only``; the teacher at port 8000)."""
    out = []
    for r in range(1, ocfg.rounds + 1):
        out += [sample_argv(cfg, ocfg, paths, cell, r),
                score_argv(cfg, paths, cell, r, "http://127.0.0.1:8000/v1"),
                align_argv(paths, cell, r), train_argv(cfg, ocfg, cell, r)]  # fmt: skip
    return out
