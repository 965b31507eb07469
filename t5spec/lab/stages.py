"""The lab's stages as ordinary commands: ``python -m t5x.train``, ``t5spec serve``, ``teacher
sample``, ``align``, ``select``, ``report`` — built from a :class:`~t5spec.lab.config.LabConfig`.

Pure functions of (config, lab directory): nothing here runs anything (``t5spec.lab.runner``
does), so every command a lab run executes can be printed (``t5spec lab --print_only``) and
copied to real hardware with only the paths and sizes changed.

Lab directory layout (``LabPaths``)::

    data/               generated data in shared/data's layout (T5SPEC_DATA_DIR of every stage)
    gin/student.gin     model gins written from the config (include gin/lab/model.gin)
    gin/teacher.gin
    runs/generalist/    T5X MODEL_DIRs (+ eval/ of the generalist's last checkpoint)
    runs/teacher/
    runs/<dm|sm|…>/     specialization runs (+ eval/ of the selected checkpoints)
    teacher_samples/    `t5spec teacher sample` store (served teacher, top-5 logprobs)
    aligned/            `t5spec align` shards
    report/             report.md + PNGs
    logs/<stage>.log    each stage's stdout/stderr
    stages/<stage>.json done markers (seconds, config fingerprint)
    jax_cache/          JAX's persistent compilation cache of every stage (unless the user's
                        environment names one in JAX_COMPILATION_CACHE_DIR)
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from t5spec import gin_names as gn
from t5spec.lab import config as lab_config
from t5spec.lab.config import GIN, REPO, LabConfig, ModelShape, TrainBudget
from t5spec.tokenization import EXTRA_IDS


@dataclasses.dataclass(frozen=True)
class LabPaths:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def teacher_samples(self) -> Path:
        return self.root / "teacher_samples"

    @property
    def aligned(self) -> Path:
        return self.root / "aligned"

    @property
    def report(self) -> Path:
        return self.root / "report"

    def log(self, stage: str) -> Path:
        return self.root / "logs" / f"{stage}.log"

    @property
    def jax_cache(self) -> Path:
        return self.root / "jax_cache"

    def marker(self, stage: str) -> Path:
        return self.root / "stages" / f"{stage}.json"

    def model_gin(self, role: str) -> Path:
        return self.root / "gin" / f"{role}.gin"

    def run(self, name: str) -> Path:
        return self.root / "runs" / name

    def vocab(self, role: str) -> Path:
        from t5spec.lab import tokenizers

        return self.data / (tokenizers.STUDENT_PATH if role == "student" else
                            tokenizers.TEACHER_PATH)  # fmt: skip


def _q(value: object) -> str:
    return repr(str(value))


def vocab_rows(vocab_file: Path) -> int:
    """Embedding rows for a SentencePiece file: pieces + extra ids, rounded up to 128."""
    import sentencepiece as spm

    n = spm.SentencePieceProcessor(model_file=str(vocab_file)).get_piece_size() + EXTRA_IDS
    return -(-n // 128) * 128


def model_gin_text(shape: ModelShape, vocab_file: Path, rows: int) -> str:
    """The generated ``gin/<role>.gin``: gin/lab/model.gin with the shape's macros."""
    return "\n".join([
        "# Written by `t5spec lab` from its LabConfig (gin/lab.gin); a model gin for T5X runs",
        "# and `t5spec select --model`. Command/hardware/expected: those of the including run.",
        f"include {_q(GIN / 'lab' / 'model.gin')}",
        f"{gn.LAB_EMB_DIM} = {shape.emb_dim}",
        f"{gn.LAB_NUM_HEADS} = {shape.num_heads}",
        f"{gn.LAB_HEAD_DIM} = {shape.head_dim}",
        f"{gn.LAB_MLP_DIM} = {shape.mlp_dim}",
        f"{gn.LAB_NUM_LAYERS} = {shape.num_layers}",
        f"{gn.LAB_VOCAB_ROWS} = {rows}",
        f"{gn.T5SPEC_VOCAB} = {_q(vocab_file)}",
        "",
    ])  # fmt: skip


def _train_argv(model_gin: Path, run_gin: str, model_dir: Path, budget: TrainBudget,
                total_steps: int, seed: int) -> list[str]:  # fmt: skip
    lengths = {"inputs": budget.inputs_length, "targets": budget.targets_length}
    return [
        sys.executable, "-m", "t5x.train", f"--gin_search_paths={REPO}",
        f"--gin_file={model_gin}", f"--gin_file={GIN / 'lab' / run_gin}",
        f"--gin.{gn.MODEL_DIR}={_q(model_dir)}", f"--gin.{gn.TRAIN_STEPS}={total_steps}",
        f"--gin.{gn.BATCH_SIZE}={budget.batch_size}",
        f"--gin.{gn.LEARNING_RATE}={budget.learning_rate}",
        f"--gin.{gn.TASK_FEATURE_LENGTHS}={lengths!r}",
        f"--gin.{gn.CHECKPOINT_PERIOD}={budget.checkpoint_period}",
        f"--gin.{gn.RANDOM_SEED}={seed}", f"--gin.{gn.TRAIN_DATA_SEED}={seed}",
        f"--gin.{gn.STATS_PERIOD}={max(1, min(budget.checkpoint_period, budget.steps // 10))}",
    ]  # fmt: skip


def generalist_argv(cfg: LabConfig, paths: LabPaths) -> list[str]:
    argv = _train_argv(paths.model_gin("student"), "generalist.gin", paths.run("generalist"),
                       cfg.generalist, cfg.generalist.steps, cfg.seed)  # fmt: skip
    return [*argv, *generalist_task_argv(cfg), *dev_eval_argv(cfg)]


def generalist_task_argv(cfg: LabConfig) -> list[str]:
    """The generalist's training mixture: generic examples, their seed, the math rate and
    the in-context math formats' exemplar count."""
    return [f"--gin.{gn.LAB_GENERIC_EXAMPLES}={cfg.generic_train_examples}",
            f"--gin.{gn.LAB_GENERIC_SEED}={cfg.seed + 1001}",
            f"--gin.{gn.LAB_MATH_RATE}={cfg.math_rate}",
            exemplars_flag(cfg)]  # fmt: skip


def exemplars_flag(cfg: LabConfig) -> str:
    """Exemplars per in-context GSM8K-format input (t5spec.tasks.specialization)."""
    return f"--gin.{gn.NUM_EXEMPLARS}={cfg.math_shots}"


def dev_eval_argv(cfg: LabConfig) -> list[str]:
    """T5X's inference evaluation on the lab's dev tasks (gin/infer_eval.gin) at every
    checkpoint: the generalist's last one is the "before" of every specialization from it."""
    ev = cfg.evaluation
    return [
        f"--gin.{gn.EVAL_MIXTURE}=@{gn.MIXTURE_OF}()",
        f"--gin.{gn.MIXTURE_OF_TASKS}={eval_tasks(cfg)!r}",
        f"--gin.{gn.EVAL_MAX_EXAMPLES}={ev.dev_examples}",
        f"--gin.{gn.MAX_DECODE_LENGTH}={ev.max_decode_length}",
        f"--gin.{gn.EVAL_BATCH_SIZE}={ev.batch_size}",
        f"--gin.{gn.EVAL_TASK_PERIODS}={{}}",  # BBH too, every checkpoint: the selected one has it
        f"--gin.{gn.INFER_EVAL_FEATURE_LENGTHS}={eval_lengths(cfg)!r}",
    ]


def teacher_argv(cfg: LabConfig, paths: LabPaths) -> list[str]:
    return _train_argv(paths.model_gin("teacher"), "teacher.gin", paths.run("teacher"),
                       cfg.teacher_train, cfg.teacher_train.steps, cfg.seed + 1)  # fmt: skip


def last_checkpoint(run: Path, step: int) -> Path:
    return run / f"checkpoint_{step}"


def eval_tasks(cfg: LabConfig) -> list[str]:
    return list(cfg.evaluation.tasks)


def specialize_argv(cfg: LabConfig, paths: LabPaths, distill_weight: float) -> list[str]:
    start = cfg.generalist.steps
    name = lab_config.run_name(distill_weight)
    argv = _train_argv(paths.model_gin("student"), "specialize.gin", paths.run(name),
                       cfg.specialize, start + cfg.specialize.steps, cfg.seed + 2)  # fmt: skip
    return [
        *argv,
        f"--gin.{gn.INITIAL_CHECKPOINT_PATH}="
        f"{_q(last_checkpoint(paths.run('generalist'), start))}",
        # T5X would restore the generalist's data position into this run's other pipeline
        # (an Orbax initial checkpoint + save_dataset); the lab's runs are short, so none.
        f"--gin.{gn.SAVE_DATASET}=False",
        f"--gin.{gn.ALIGNED_DATA}={_q(paths.aligned / 'gsm8k_train-*.tfrecord*')}",
        f"--gin.{gn.DISTILL_WEIGHT}={float(distill_weight)}",
        f"--gin.{gn.MIXTURE_OR_TASK_NAME}="
        f"{_q(lab_config.SPECIALIZE_MIXTURES[cfg.specialize_formats])}",
        exemplars_flag(cfg),
        *dev_eval_argv(cfg),
    ]


def eval_lengths(cfg: LabConfig) -> dict[str, int]:
    """Fixed evaluation lengths: one compiled decode for every task."""
    return {"inputs": cfg.evaluation.max_input_length,
            "targets": cfg.evaluation.max_decode_length}  # fmt: skip


def t5spec_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "t5spec.cli", *args]


def serve_argv(cfg: LabConfig, paths: LabPaths, port: int) -> list[str]:
    checkpoint = last_checkpoint(paths.run("teacher"), cfg.teacher_train.steps)
    return t5spec_argv(
        "serve", f"--checkpoint={checkpoint}", f"--vocab={paths.vocab('teacher')}",
        "--model_name=lab-teacher", "--host=127.0.0.1", f"--port={port}",
        f"--max_tokens={cfg.sampling.max_tokens}",
        f"--max_input_tokens={2 * cfg.teacher_train.inputs_length}",
        f"--max_batch={cfg.sampling.max_batch}", f"--seed={cfg.seed}",
        # one decode shape: a sample's log-probs do not depend on what it was batched with
        f"--min_batch={cfg.sampling.max_batch}",
        f"--min_input_tokens={cfg.teacher_train.inputs_length}",
    )  # fmt: skip


def sample_argv(cfg: LabConfig, paths: LabPaths, base_url: str) -> list[str]:
    from t5spec.lab.world import TEACHER_PROMPT_ID

    s = cfg.sampling
    return t5spec_argv(
        "teacher", "sample", f"--base_url={base_url}", "--model=lab-teacher",
        "--dataset=gsm8k", "--split=train", f"--data_dir={paths.data}",
        f"--limit={s.questions}", f"--prompt_id={TEACHER_PROMPT_ID}",
        f"--num_samples={s.samples_per_question}", f"--temperature={s.temperature}",
        f"--max_tokens={s.max_tokens}", "--top_logprobs=5", f"--seed={cfg.seed}",
        f"--concurrency={s.concurrency}", "--encoding=none",
        f"--output={paths.teacher_samples}", "--no_progress",
    )  # fmt: skip


def align_argv(cfg: LabConfig, paths: LabPaths) -> list[str]:
    return t5spec_argv(
        "align", f"--teacher_samples={paths.teacher_samples}", f"--output={paths.aligned}",
        f"--vocab={paths.vocab('student')}", f"--data_dir={paths.data}", "--skip_invalid",
        "--no_progress", *(["--include_incorrect"] if cfg.sampling.keep_incorrect else []),
    )  # fmt: skip


def select_argv(cfg: LabConfig, paths: LabPaths, run: str) -> list[str]:
    """``t5spec select`` under every rule at once: one ``t5x.eval`` for their checkpoints."""
    ev = cfg.evaluation
    return t5spec_argv(
        "select", f"--run={paths.run(run)}", f"--by={','.join(ev.rules)}",
        f"--model={paths.model_gin('student')}", f"--vocab={paths.vocab('student')}",
        f"--data_dir={paths.data}", f"--benchmarks={','.join(eval_tasks(cfg))}",
        "--split=test", f"--max_examples={ev.test_examples}",
        f"--max_decode_length={ev.max_decode_length}", f"--batch_size={ev.batch_size}",
        f"--gin={gn.EVAL_FEATURE_LENGTHS}={eval_lengths(cfg)!r}",
        *(f"--gin={b}" for b in test_cap_bindings(cfg)),
    )  # fmt: skip


def test_cap_bindings(cfg: LabConfig) -> tuple[str, ...]:
    """The GSM8K slot's own test cap (``EvalConfig.gsm8k_test_examples``) as a gin binding."""
    n = cfg.evaluation.gsm8k_test_examples
    return () if n is None else (f"{gn.EVAL_PER_BENCHMARK}={ {'gsm8k': n}!r}",)


def report_argv(cfg: LabConfig, paths: LabPaths) -> list[str]:
    runs = [str(paths.run(name)) for name in ("generalist", *lab_config.run_names(cfg))]
    return t5spec_argv("report", "--runs", *runs, f"--output={paths.report}")


def commands_text(cfg: LabConfig, paths: LabPaths) -> str:
    """Every command of a lab run as shell lines (``t5spec lab --print_only``)."""
    import shlex

    argvs = [generalist_argv(cfg, paths), teacher_argv(cfg, paths),
             serve_argv(cfg, paths, 8000), sample_argv(cfg, paths, "http://127.0.0.1:8000/v1"),
             align_argv(cfg, paths)]  # fmt: skip
    argvs += [specialize_argv(cfg, paths, a) for a in cfg.distill_weights]
    argvs += [select_argv(cfg, paths, n) for n in ("generalist", *lab_config.run_names(cfg))]
    argvs.append(report_argv(cfg, paths))
    env = f"T5SPEC_DATA_DIR={shlex.quote(str(paths.data))} JAX_PLATFORMS=cpu"
    return "\n".join(f"{env} {shlex.join(['python', *a[1:]])}" for a in argvs)
