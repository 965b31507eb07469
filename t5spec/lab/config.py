"""What a ``t5spec lab`` run does, as plain frozen dataclasses bound by ``gin/lab.gin``.

``gin/lab.gin`` (default, ≤ 15 minutes on 2 cores), ``gin/lab_quick.gin`` (``--quick``,
smoke-test sizes) and ``gin/lab_math.gin`` (the budget where the math gain is clear) bind
:class:`LabConfig` and its parts with gin's dynamic registration; ``t5spec lab --gin_file=…
--gin_param=…`` overrides any of them. The pipeline turns the config into ordinary T5X,
``t5spec teacher``/``align``/``select``/``report`` commands (:mod:`t5spec.lab.stages`), so
sizes and budgets are the only things the lab swaps.

Units: steps are T5X train steps (one global batch each); lengths are SentencePiece tokens;
learning rates are Adafactor's constant rate (T5X's finetune default schedule).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from t5spec import paths
from t5spec.lab.world import WorldSizes

# Where gin/ lives (the checkout, or the installed package's resources): the gin search path
# (includes name 'gin/…') and the working directory of the lab's T5X processes.
REPO = paths.gin_root()
GIN = REPO / "gin"

#: ``LabConfig.specialize_formats`` -> the SeqIO mixture the specialization trains on.
SPECIALIZE_MIXTURES = {"all": "t5spec_gsm8k_spec", "in_context": "t5spec_gsm8k_spec_in_context",
                       "zero_shot": "t5spec_gsm8k_spec_zero_shot"}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ModelShape:
    """A T5 1.1 shape (T5X ``network.T5Config``); the vocabulary is the lab's own."""

    emb_dim: int = 128
    num_heads: int = 4
    head_dim: int = 32
    mlp_dim: int = 512
    num_layers: int = 2  # encoder and decoder each


# Lab student presets, smallest first (T5 1.1 shapes; parameters: param_count(·, 1024 rows)).
LAB_PRESETS: dict[str, ModelShape] = {
    "lab_xxs": ModelShape(emb_dim=16, num_heads=2, head_dim=8, mlp_dim=32, num_layers=1),
    "lab_xs": ModelShape(emb_dim=32, num_heads=2, head_dim=16, mlp_dim=64, num_layers=1),
    "lab_s": ModelShape(emb_dim=64, num_heads=4, head_dim=16, mlp_dim=256, num_layers=2),
    "lab_m": ModelShape(emb_dim=96, num_heads=4, head_dim=24, mlp_dim=384, num_layers=2),
    "lab_l": ModelShape(emb_dim=128, num_heads=4, head_dim=32, mlp_dim=512, num_layers=3),
}


def param_count(shape: ModelShape, vocab_rows: int) -> int:
    """Trainable parameters of the lab's T5 1.1 network (untied logits, gated-GeLU MLP,
    32-bucket relative position biases), e.g. 90_464 for ``lab_xs`` with 1024 rows."""
    d, m, inner = shape.emb_dim, shape.mlp_dim, shape.num_heads * shape.head_dim
    attention, mlp = 4 * d * inner, 3 * d * m
    encoder = shape.num_layers * (attention + mlp + 2 * d) + d
    decoder = shape.num_layers * (2 * attention + mlp + 3 * d) + d
    return 2 * vocab_rows * d + encoder + decoder + 2 * 32 * shape.num_heads


@dataclasses.dataclass(frozen=True)
class TrainBudget:
    """One T5X training run's budget.

    Attributes:
      steps: train steps of this run (added to the initial checkpoint's step).
      batch_size: global batch (examples, packed for scratch runs).
      learning_rate: constant Adafactor rate.
      inputs_length / targets_length: ``TASK_FEATURE_LENGTHS``.
      checkpoint_period: steps between checkpoints (each followed by dev evaluation).
    """

    steps: int = 200
    batch_size: int = 32
    learning_rate: float = 0.003
    inputs_length: int = 512
    targets_length: int = 128
    checkpoint_period: int = 100


@dataclasses.dataclass(frozen=True)
class SamplingConfig:
    """Teacher sampling through ``t5spec serve`` + ``t5spec teacher sample``.

    Attributes:
      questions: GSM8K-slot train questions to sample (the first N of the train file).
      samples_per_question: ``--num_samples`` (paper: 40).
      temperature: ``--temperature`` (paper: 0.5).
      max_tokens: ``--max_tokens`` per sample.
      concurrency: concurrent client requests (the server batches them).
      max_batch: server rows per decode.
      keep_incorrect: align wrong samples too (``t5spec align --include_incorrect``); only
        for smoke tests, where an untrained teacher gets nothing right.
    """

    questions: int = 400
    samples_per_question: int = 4
    temperature: float = 0.7
    max_tokens: int = 96
    concurrency: int = 64
    max_batch: int = 64
    keep_incorrect: bool = False


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """Dev evaluation during training and test evaluation of the selected checkpoints.

    Attributes:
      dev_examples: per dev task (``EVAL_MAX_EXAMPLES``; BBH: per mode over all its tasks).
      test_examples: per test task for ``t5spec select``.
      gsm8k_test_examples: the GSM8K slot's test cap instead (the slot of the lab's main claim,
        which wants more items than the others for a tight paired interval); None:
        ``test_examples``.
      max_decode_length: ``MAX_DECODE_LENGTH``.
      max_input_length: every evaluation input is padded to this many tokens, so T5X compiles
        one decode function for all tasks instead of one per task (longer inputs are cut).
      batch_size: ``EVAL_BATCH_SIZE``.
      tasks: evaluation tasks / columns during training and at test.
      rules: selection rules; the first picks the checkpoint whose numbers the report shows.
    """

    dev_examples: int = 100
    test_examples: int = 100
    gsm8k_test_examples: int | None = None
    max_decode_length: int = 96
    max_input_length: int = 1024
    batch_size: int = 64
    tasks: Sequence[str] = ("gsm8k/zs_cot", "multiarith/zs_cot", "asdiv/zs_cot", "svamp/zs_cot",
                            "bbh/ao", "bbh/cot")  # fmt: skip
    rules: Sequence[str] = ("gsm8k_dev", "mas_dev")


@dataclasses.dataclass(frozen=True)
class LabConfig:
    """The whole lab run.

    Attributes:
      seed: world, tokenizers and training seeds derive from it.
      world: problems per family file (:class:`t5spec.lab.world.WorldSizes`).
      bbh_examples: examples per generated BBH-format task in the data folder (dev 50 + test).
      bbh_shots: exemplars in the generated BBH prompts (BBH: 3; fewer keeps inputs short).
      generic_train_examples: generated generic training examples per task (generalist).
      student / teacher: model shapes (the teacher uses the teacher tokenizer).
      generalist / teacher_train / specialize: training budgets.
      math_rate: weight of each GSM8K gold format in the generalist mixture (generic = 1).
      math_shots: exemplars in each in-context GSM8K-format input, generalist and
        specialization (the paper: 4; each adds ~120 student tokens to the input).
      specialize_formats: the specialization's training formats: ``"all"`` (the paper's four,
        mixture ``t5spec_gsm8k_spec``), ``"in_context"`` or ``"zero_shot"`` (its two-format
        mixtures ``t5spec_gsm8k_spec_<formats>``, the paper's format ablation).
      distill_weights: one specialization run per entry, named ``dm`` (1.0), ``sm`` (0.0) or
        ``mix<α>``; 1.0 is distribution matching, 0.0 sample matching.
      sampling / evaluation: see :class:`SamplingConfig`, :class:`EvalConfig`.
    """

    seed: int = 0
    world: WorldSizes = dataclasses.field(default_factory=WorldSizes)
    bbh_examples: int = 100
    bbh_shots: int = 1
    generic_train_examples: int = 400
    student: ModelShape = dataclasses.field(default_factory=ModelShape)
    teacher: ModelShape = ModelShape(emb_dim=192, num_heads=6, head_dim=32, mlp_dim=768,
                                     num_layers=3)  # fmt: skip
    generalist: TrainBudget = TrainBudget()
    teacher_train: TrainBudget = TrainBudget()
    specialize: TrainBudget = TrainBudget()
    math_rate: float = 0.25
    math_shots: int = 4
    specialize_formats: str = "all"
    distill_weights: Sequence[float] = (1.0, 0.0)
    sampling: SamplingConfig = SamplingConfig()
    evaluation: EvalConfig = EvalConfig()

    def validate(self) -> None:
        """ValueError on settings no run could use (before anything is trained)."""
        self.world.validate()
        for name in ("generalist", "teacher_train", "specialize"):
            budget = getattr(self, name)
            if budget.steps <= 0 or budget.checkpoint_period <= 0 or budget.batch_size <= 0:
                raise ValueError(f"{name}: steps, checkpoint_period and batch_size must be > 0")
        if not self.distill_weights or any(not 0.0 <= a <= 1.0 for a in self.distill_weights):
            raise ValueError(f"distill_weights must be in [0, 1], got {self.distill_weights}")
        if len(set(run_names(self))) != len(self.distill_weights):
            raise ValueError(f"distill_weights repeat a value: {self.distill_weights}")
        if self.math_shots < 1:
            raise ValueError(f"math_shots must be >= 1, got {self.math_shots}")
        if self.specialize_formats not in SPECIALIZE_MIXTURES:
            raise ValueError(f"specialize_formats must be one of {sorted(SPECIALIZE_MIXTURES)}, "
                             f"got {self.specialize_formats!r}")
        if self.sampling.questions > self.world.gsm8k_train:
            raise ValueError("sampling.questions exceeds world.gsm8k_train")
        ev = self.evaluation
        caps = (ev.dev_examples, ev.test_examples, ev.gsm8k_test_examples)
        if min(c for c in caps if c is not None) <= 0:
            raise ValueError("evaluation: dev_examples, test_examples and gsm8k_test_examples "
                             "must be > 0")


def run_name(distill_weight: float) -> str:
    """``dm`` for α = 1, ``sm`` for α = 0, ``mix0.5`` in between."""
    return {1.0: "dm", 0.0: "sm"}.get(float(distill_weight), f"mix{distill_weight:g}")


def run_names(config: LabConfig) -> list[str]:
    return [run_name(a) for a in config.distill_weights]


def load(gin_files: Sequence[str], bindings: Sequence[str] = ()) -> LabConfig:
    """The :class:`LabConfig` bound by ``gin_files`` then ``bindings`` (gin's own parser)."""
    import gin

    gin.add_config_file_search_path(str(REPO))
    with gin.unlock_config():
        gin.clear_config(clear_constants=True)
    gin.parse_config_files_and_bindings(list(gin_files), list(bindings), finalize_config=False)
    config = gin.get_configurable(LabConfig)()
    config.validate()
    return config
