"""Model selection: which checkpoint of a run to keep, under each dev-set rule.

Rules (``--by``), each a score per evaluated step computed from the dev accuracy table:

============== =======================================================================
rule           score of a step
============== =======================================================================
``gsm8k_dev``  GSM8K dev accuracy (in distribution)
``mas_dev``    mean of MultiArith, ASDiv and SVAMP dev accuracy (M-A-S, out of
               distribution) — all three must be present
``bbh_dev``    mean of BBH answer-only and BBH CoT dev accuracy — both must be present
============== =======================================================================

Math columns are read in one prompting mode (default zero-shot CoT, ``zs_cot``). Only steps
that have every column a rule needs are candidates; the best score wins and ties go to the
EARLIEST step (the checkpoint closest to the base model among equals). A run that evaluated
before training (T5X's ``run_eval_before_training``) keeps that first step as its "before"
baseline, not as a candidate (:func:`trained_steps`): a selected checkpoint has been trained.
Pure functions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from t5spec.errors import InputError
from t5spec.evaluate import benchmarks
from t5spec.evaluate.results import Table, mean_of

RULES = ("gsm8k_dev", "mas_dev", "bbh_dev")


def rule_columns(rule: str, mode: str = benchmarks.DEFAULT_MATH_MODE) -> tuple[str, ...]:
    """The results columns a rule averages."""
    modes = [*benchmarks.MATH_MODES, *benchmarks.SBS_MODES]
    if mode not in modes:
        raise InputError(None, f"unknown mode {mode!r}; choose from {modes}", field="mode")
    if rule == "gsm8k_dev":
        return (f"gsm8k/{mode}",)
    if rule == "mas_dev":
        return tuple(f"{b}/{mode}" for b in benchmarks.OOD_BENCHMARKS)
    if rule == "bbh_dev":
        return tuple(f"bbh/{m}" for m in benchmarks.BBH_MODES)
    raise InputError(
        None, f"unknown selection rule {rule!r}; choose from {', '.join(RULES)}", field="by"
    )


def rule_scores(
    dev: Table, rule: str, mode: str = benchmarks.DEFAULT_MATH_MODE
) -> dict[int, float]:
    """``{step: score}`` over the steps that have every column of ``rule``."""
    cols = rule_columns(rule, mode)
    scores = {step: mean_of(row, cols) for step, row in dev.items()}
    return {step: s for step, s in scores.items() if s is not None}


@dataclasses.dataclass(frozen=True)
class Selection:
    """The checkpoint a rule keeps: ``step`` with dev ``score`` among ``candidates`` steps."""

    rule: str
    step: int
    score: float
    candidates: int
    columns: tuple[str, ...]


def select(dev: Table, rule: str, mode: str = benchmarks.DEFAULT_MATH_MODE) -> Selection:
    """The best step under ``rule`` (ties: earliest); InputError when no step qualifies."""
    scores = rule_scores(dev, rule, mode)
    cols = rule_columns(rule, mode)
    if not scores:
        present = sorted({c for row in dev.values() for c in row})
        raise InputError(
            None,
            f"no evaluated step has dev results for {', '.join(cols)} (rule {rule}); "
            f"dev columns present: {', '.join(present) or 'none'}",
            field="by",
        )
    best = max(scores.values())
    step = min(s for s, v in scores.items() if v == best)
    return Selection(rule=rule, step=step, score=best, candidates=len(scores), columns=cols)


def trained_steps(dev: Table, eval_before_training: bool) -> Table:
    """``dev`` without the run's first step when that step is the evaluation before training
    (the initial checkpoint, e.g. the base model a specialization starts from)."""
    if not eval_before_training or not dev:
        return dev
    first = min(dev)
    return {step: row for step, row in dev.items() if step != first}


def select_all(
    dev: Table, rules: Sequence[str] = RULES, mode: str = benchmarks.DEFAULT_MATH_MODE
) -> dict[str, Selection | None]:
    """:func:`select` under every rule; None where a rule has no candidate step."""
    out: dict[str, Selection | None] = {}
    for rule in rules:
        rule_columns(rule, mode)  # unknown rule or mode: raise, never "not run"
        try:
            out[rule] = select(dev, rule, mode)
        except InputError:
            out[rule] = None
    return out
