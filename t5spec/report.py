"""The paper's tables and figures, regenerated from run directories.

:func:`build_report` reads each run (results files, ``config.gin`` / ``run_info.json``,
TensorBoard training events) and writes ``report.md`` plus PNG figures (matplotlib, Agg):

* Table 1 — test accuracy per model: GSM8K, MultiArith, ASDiv, SVAMP (zero-shot CoT), BBH-AO,
  BBH-CoT, at the checkpoint selected on GSM8K dev (baselines: their evaluated checkpoint).
* Table 2 — dev accuracy before → after specialization (before: the run's own pre-training
  evaluation when ``run_eval_before_training``, else the last dev evaluation of a baseline run
  of the same model size, e.g. the lab's generalist), each with its 95% interval.
* Table 3 — in distribution (GSM8K test) vs out of distribution (M-A-S test mean) and BBH test
  under each selection rule (``gsm8k_dev``, ``mas_dev``, ``bbh_dev``).
* Outputs — what Table 1's checkpoint wrote on GSM8K dev (zero-shot CoT): distinct answers,
  the most common output and its share, outputs with a worked step
  (:mod:`t5spec.evaluate.diversity`), so a student that answers one constant is visible.
* Figure 2 (``fig2_curves.png``) — GSM8K / M-A-S / BBH-AO / BBH-CoT dev accuracy vs steps.
* Figure 3 (``fig3_matching.png``) — distribution (KL) vs sample (CE) matching: training loss
  and GSM8K dev accuracy vs steps.
* Figure 4 (``fig4_formats.png``) — tuning formats (in-context / zero-shot / all) × GSM8K dev
  tested in-context and zero-shot.

Accuracies print as percentages. A number that no evaluation produced prints ``not run``
(and is drawn as "not run" in figures) — never 0.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from t5spec import report_stats
from t5spec.errors import InputError
from t5spec.evaluate import diversity, items, select
from t5spec.evaluate.results import mean_of
from t5spec.report_data import (
    BBH_COLS,
    COL_NAMES,
    FIGURES,
    MAS_COLS,
    MATH_COLS,
    NOT_RUN,
    TABLE_COLS,
    RunData,
    load_run_data,
    row_at,
)
from t5spec.report_figures import figure2, figure3, figure4


# ------------------------------------------------------------------------------------ tables
def pct(value: float | None) -> str:
    """``"42.5"`` for 0.425; ``not run`` for None."""
    return NOT_RUN if value is None else f"{100 * value:.1f}"


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _describe(run: RunData) -> list[str]:
    i = run.info
    return [i.name, i.model, "—" if run.baseline else i.loss, "—" if run.baseline else i.formats]


def table1(runs: Sequence[RunData]) -> str:
    """Test accuracy per model at the GSM8K-dev-selected checkpoint."""
    rows = []
    for run in runs:
        step = run.report_step()
        row = row_at(run.test, step)
        found = report_stats.read_test_items(run.info.path, step)  # 95% intervals
        rows.append(
            [
                *_describe(run),
                NOT_RUN if step is None else step,
                *(report_stats.cell(found, c, row.get(c), NOT_RUN) for c in TABLE_COLS),
            ]
        )
    return _markdown(["run", "model", "loss", "formats", "step", *COL_NAMES], rows)


def comparisons(runs: Sequence[RunData]) -> str:
    """Paired test differences at Table 1's checkpoints (:mod:`t5spec.report_stats`)."""
    scored = [(r.info.name, r.baseline, report_stats.read_test_items(r.info.path,
                                                                     r.report_step()))
              for r in runs]  # fmt: skip
    rows = report_stats.comparisons(scored, TABLE_COLS, COL_NAMES)
    if not rows:
        rows = [[NOT_RUN, "—", "0", NOT_RUN, "no per-item test predictions to pair"]]
    return _markdown(["A − B", "column", "items", "difference [95%]", "verdict"], rows)


def _before(run: RunData, runs: Sequence[RunData]) -> tuple[RunData, int] | None:
    """Where Table 2's "before" comes from: the run's own step-0 evaluation, else the last dev
    evaluation of a baseline of the same model (a baseline row: its own last)."""
    if run.baseline or run.info.eval_before_training:
        return (run, (max if run.baseline else min)(run.dev)) if run.dev else None
    for other in runs:
        if other.baseline and other.info.model == run.info.model and other.dev:
            return other, max(other.dev)
    return None


def _dev_cells(run: RunData | None, step: int | None) -> list[str]:
    """Table 2's dev accuracies of ``run`` at ``step`` with their 95% intervals."""
    row = {} if run is None else row_at(run.dev, step)
    found = {} if run is None or step is None else items.read_items(run.info.path, "dev", step)
    return [report_stats.cell(found, c, row.get(c), NOT_RUN) for c in TABLE_COLS]


def table2(runs: Sequence[RunData]) -> str:
    """Dev accuracy before → after specialization, per specialized run, with intervals."""
    rows = []
    targets = [r for r in runs if not r.baseline] or list(runs)
    for run in targets:
        before = _dev_cells(*(_before(run, runs) or (None, None)))
        after = _dev_cells(None, None) if run.baseline else _dev_cells(run, run.report_step())
        rows.append([*_describe(run), *(f"{b} → {a}" for b, a in zip(before, after, strict=True))])
    return _markdown(["run", "model", "loss", "formats", *COL_NAMES], rows)


def table3(runs: Sequence[RunData]) -> str:
    """In- vs out-of-distribution test accuracy under each selection rule."""
    rows = []
    for run in (r for r in runs if not r.baseline):
        for rule in select.RULES:
            sel = run.selections.get(rule)
            test = row_at(run.test, None if sel is None else sel.step)
            bbh = mean_of(test, BBH_COLS)
            found = report_stats.read_test_items(run.info.path, None if sel is None else sel.step)
            rows.append(
                [
                    run.info.name,
                    rule,
                    NOT_RUN if sel is None else sel.step,
                    pct(None if sel is None else sel.score),
                    report_stats.cell(found, MATH_COLS[0], test.get(MATH_COLS[0]), NOT_RUN),
                    report_stats.mean_cell(found, MAS_COLS, mean_of(test, MAS_COLS), NOT_RUN),
                    report_stats.mean_cell(found, BBH_COLS, bbh, NOT_RUN),
                ]
            )
    if not rows:
        rows.append([NOT_RUN] * 7)
    header = [
        "run",
        "selected by",
        "step",
        "dev score",
        "GSM8K test (in-dist.)",
        "M-A-S test (out-of-dist.)",
        "BBH test (AO+CoT)/2",
    ]
    return _markdown(header, rows)


def outputs_table(runs: Sequence[RunData]) -> str:
    """What each run's Table 1 checkpoint wrote on GSM8K dev (zero-shot CoT)."""
    rows = []
    for run in runs:
        step = run.report_step() if run.dev else None
        summary = None if step is None else diversity.read_summary(run.info.path, step)
        if summary is None:
            rows.append([run.info.name, NOT_RUN if step is None else step, *[NOT_RUN] * 4])
            continue
        top = summary.top_output.replace("\n", " / ").replace("|", "\\|")
        top = top if len(top) <= 60 else top[:57] + "..."
        rows.append([run.info.name, step, summary.examples, summary.distinct_answers,
                     f"{top} ({pct(summary.top_share)})", pct(summary.with_steps)])
    return _markdown(["run", "step", "examples", "distinct answers",
                      "most common output (%)", "with a step (%)"], rows)


# ------------------------------------------------------------------------------------ report
def _runs_section(runs: Sequence[RunData]) -> str:
    rows = []
    for r in runs:
        name, *described = _describe(r)
        rows.append([name, r.info.path, r.info.stage, *described, len(r.dev), len(r.test)])
    return _markdown(
        ["run", "path", "stage", "model", "loss", "formats", "dev steps", "test steps"], rows
    )


def build_report(run_dirs: Sequence[str | os.PathLike], output: str | os.PathLike) -> Path:
    """Writes ``report.md`` and the three figures into ``output``; returns report.md's path."""
    import matplotlib

    matplotlib.use("Agg")
    runs = [load_run_data(d) for d in run_dirs]
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise InputError(out, "is a file, not a directory", field="output")
    text = _report_text(runs)  # reads every input file first: bad input writes nothing
    out.mkdir(parents=True, exist_ok=True)
    figure2(runs, out / FIGURES[0])
    figure3(runs, out / FIGURES[1])
    figure4(runs, out / FIGURES[2])
    path = out / "report.md"
    path.write_text(text + "\n", encoding="utf-8")
    return path


def _report_text(runs: list[RunData]) -> str:
    return "\n\n".join(
        [
            "# t5spec report",
            "Accuracy in %. `not run`: no evaluation produced that number. Math columns use "
            "zero-shot CoT prompting; BBH is the macro average over its 27 tasks. Accuracies "
            "carry their 95% interval `[low, high]` (bootstrap over the evaluated items; none "
            "where the evaluation kept no per-item predictions).",
            "## Runs\n\n" + _runs_section(runs),
            "## Table 1: test accuracy (checkpoint selected on GSM8K dev)\n\n" + table1(runs),
            "## Comparisons: paired test differences at Table 1's checkpoints\n\n"
            "Points, A − B on the same test items, paired bootstrap 95% interval; a run "
            "\"wins\" only when the interval excludes 0.\n\n" + comparisons(runs),
            "## Table 2: dev accuracy before → after specialization\n\n" + table2(runs),
            "## Table 3: in- vs out-of-distribution under each selection rule\n\n" + table3(runs),
            "## Outputs: what Table 1's checkpoint wrote on GSM8K dev (zero-shot CoT)\n\n"
            + outputs_table(runs),
            f"## Figure 2\n\n![curves]({FIGURES[0]})",
            f"## Figure 3\n\n![matching]({FIGURES[1]})",
            f"## Figure 4\n\n![formats]({FIGURES[2]})",
        ]
    )
