"""The evaluation benchmarks by name: which SeqIO task evaluates what, in which prompting mode.

One table links four vocabularies that would otherwise drift apart: SeqIO task names
(:mod:`t5spec.evaluate.tasks` registers exactly :data:`EVAL_TASKS` and :data:`SBS_EVAL_TASKS`),
the results-file columns (``"<benchmark>/<mode>"``, e.g. ``"gsm8k/zs_cot"``), the data layer's
format names and the ``--by`` selection rules. Pure Python: importing it starts neither
TensorFlow nor JAX.

Prompting modes (math): ``zs_cot`` zero-shot CoT, ``ic_cot`` in-context CoT (4 exemplars),
``zs_ao`` zero-shot answer-only, ``ic_ao`` in-context answer-only — the four tuning formats of
:mod:`t5spec.data.formats`. BIG-Bench Hard: ``ao`` answer-only and ``cot`` chain of thought
(3-shot, the BBH prompts). Splits: ``dev`` and ``test`` (SeqIO split names ``validation`` and
``test``); GSM8K also has ``paper_dev`` (the authors' 200 *train* problems) and every math set
``full_test`` (dev ∪ test).
"""

from __future__ import annotations

import dataclasses

from t5spec.errors import InputError

MATH_BENCHMARKS = ("gsm8k", "multiarith", "asdiv", "svamp")
OOD_BENCHMARKS = ("multiarith", "asdiv", "svamp")  # M-A-S: out of distribution
BENCHMARKS = (*MATH_BENCHMARKS, "bbh")

# mode code -> the data layer's format name (t5spec.data.formats.FORMATS).
MATH_MODES: dict[str, str] = {
    "zs_cot": "zero_shot_cot",
    "ic_cot": "in_context_cot",
    "zs_ao": "zero_shot_answer_only",
    "ic_ao": "in_context_answer_only",
}
BBH_MODES = ("ao", "cot")
DEFAULT_MATH_MODE = "zs_cot"

# SeqIO split name -> t5spec split name (t5spec.data.math_datasets / bbh).
SEQIO_SPLITS: dict[str, str] = {
    "validation": "dev",
    "test": "test",
    "full_test": "full_test",
    "paper_dev": "paper_dev",
}
SPLIT_TO_SEQIO = {v: k for k, v in SEQIO_SPLITS.items()}
TASK_PREFIX = "t5spec_eval_"


@dataclasses.dataclass(frozen=True)
class EvalTask:
    """One SeqIO evaluation task: a benchmark in one prompting mode.

    Attributes:
      benchmark: ``"gsm8k"``, ``"multiarith"``, ``"asdiv"``, ``"svamp"`` or ``"bbh"``.
      mode: a :data:`MATH_MODES` key for math, ``"ao"``/``"cot"`` for BBH.
    """

    benchmark: str
    mode: str

    @property
    def name(self) -> str:
        """The SeqIO task name, e.g. ``t5spec_eval_gsm8k_zs_cot``, ``t5spec_eval_bbh_cot``."""
        return f"{TASK_PREFIX}{self.benchmark}_{self.mode}"

    @property
    def column(self) -> str:
        """The results column, e.g. ``gsm8k/zs_cot``."""
        return f"{self.benchmark}/{self.mode}"

    @property
    def seqio_splits(self) -> tuple[str, ...]:
        """The SeqIO splits this task provides."""
        if self.benchmark == "bbh":
            return ("validation", "test")
        if self.benchmark == "gsm8k":
            return ("validation", "test", "full_test", "paper_dev")
        return ("validation", "test", "full_test")


EVAL_TASKS: tuple[EvalTask, ...] = tuple(
    [EvalTask(b, m) for b in MATH_BENCHMARKS for m in MATH_MODES]
    + [EvalTask("bbh", m) for m in BBH_MODES]
)
# Distilling step-by-step's test-time modes (``tasks/stepbystep.py`` registers their tasks):
# the label prefix alone (an answer, no rationale) or the rationale prefix (rationale, answer).
SBS_MODES = ("sbs_label", "sbs_rationale")
SBS_EVAL_TASKS: tuple[EvalTask, ...] = tuple(
    EvalTask(b, m) for b in MATH_BENCHMARKS for m in SBS_MODES
)
_BY_NAME = {t.name: t for t in (*EVAL_TASKS, *SBS_EVAL_TASKS)}
_BY_COLUMN = {t.column: t for t in (*EVAL_TASKS, *SBS_EVAL_TASKS)}


def math_mixture(mode: str = DEFAULT_MATH_MODE) -> tuple[str, ...]:
    """Task names of the four math benchmarks in one mode."""
    return tuple(EvalTask(b, mode).name for b in MATH_BENCHMARKS)


# Mixture name -> task names. Documented in t5spec/evaluate/tasks.py, registered there.
MIXTURES: dict[str, tuple[str, ...]] = {
    "t5spec_eval_math": math_mixture(),
    **{f"t5spec_eval_math_{m}": math_mixture(m) for m in MATH_MODES},
    "t5spec_eval_math_all_modes": tuple(t.name for t in EVAL_TASKS if t.benchmark != "bbh"),
    "t5spec_eval_bbh": tuple(EvalTask("bbh", m).name for m in BBH_MODES),
    "t5spec_eval_all": (
        *math_mixture(),
        EvalTask("gsm8k", "ic_cot").name,
        *(EvalTask("bbh", m).name for m in BBH_MODES),
    ),
}

# The step-by-step mixtures (registered by tasks/stepbystep.py with their tasks).
SBS_MIXTURES: dict[str, tuple[str, ...]] = {
    **{f"t5spec_eval_math_{m}": math_mixture(m) for m in SBS_MODES},
    "t5spec_eval_sbs": tuple(t.name for t in SBS_EVAL_TASKS),
}
_ALL_MIXTURES = {**MIXTURES, **SBS_MIXTURES}


def mixture_named(tasks: tuple[str, ...]) -> str | None:
    """The registered mixture of exactly these task names, in order, if there is one."""
    return next((name for name, ts in _ALL_MIXTURES.items() if tuple(ts) == tasks), None)


def task_by_name(name: str) -> EvalTask:
    """The :class:`EvalTask` of a SeqIO task name; InputError for an unknown one."""
    if name not in _BY_NAME:
        raise InputError(None, f"unknown evaluation task {name!r}", field="task")
    return _BY_NAME[name]


def task_by_column(column: str) -> EvalTask:
    """The :class:`EvalTask` of a results column (``"svamp/zs_cot"``); InputError if unknown."""
    if column not in _BY_COLUMN:
        known = ", ".join(sorted(_BY_COLUMN))
        raise InputError(None, f"unknown benchmark {column!r}; known: {known}", field="benchmark")
    return _BY_COLUMN[column]


def resolve_names(names: str) -> tuple[str, ...]:
    """Comma-separated task names, mixture names or columns → SeqIO task names.

    ``"gsm8k"`` alone means GSM8K in the default mode, ``"bbh"`` both BBH modes, ``"math"``
    the four math benchmarks. Raises InputError naming the first unknown entry.
    """
    out: list[str] = []
    for raw in (n.strip() for n in names.split(",")):
        if not raw:
            continue
        if raw in _ALL_MIXTURES or f"{TASK_PREFIX}{raw}" in _ALL_MIXTURES:
            out += _ALL_MIXTURES.get(raw) or _ALL_MIXTURES[f"{TASK_PREFIX}{raw}"]
        elif raw in _BY_NAME or f"{TASK_PREFIX}{raw}" in _BY_NAME:
            out.append(raw if raw in _BY_NAME else f"{TASK_PREFIX}{raw}")
        elif raw in MATH_BENCHMARKS:
            out.append(EvalTask(raw, DEFAULT_MATH_MODE).name)
        elif raw in _BY_COLUMN:
            out.append(_BY_COLUMN[raw].name)
        else:
            known = ", ".join([*BENCHMARKS, "math", *sorted(_BY_COLUMN), *_ALL_MIXTURES])
            raise InputError(None, f"unknown benchmark {raw!r}; known: {known}", field="benchmark")
    if not out:
        raise InputError(None, "no benchmark named", field="benchmark")
    return tuple(dict.fromkeys(out))
