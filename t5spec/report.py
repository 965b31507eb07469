"""The paper's tables and figures, regenerated from run directories.

:func:`build_report` reads each run (results files, ``config.gin`` / ``run_info.json``,
TensorBoard training events) and writes ``report.md`` plus PNG figures (matplotlib, Agg):

* Table 1 — test accuracy per model: GSM8K, MultiArith, ASDiv, SVAMP (zero-shot CoT), BBH-AO,
  BBH-CoT, at the checkpoint selected on GSM8K dev (baselines: their evaluated checkpoint).
* Table 2 — dev accuracy before → after specialization (before: the run's own pre-training
  evaluation when ``run_eval_before_training``, else the last dev evaluation of a baseline run
  of the same model size, e.g. the lab's generalist).
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

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

from t5spec import report_stats
from t5spec.errors import InputError
from t5spec.evaluate import diversity, results, runinfo, select
from t5spec.evaluate.benchmarks import BBH_MODES, DEFAULT_MATH_MODE, MATH_BENCHMARKS
from t5spec.evaluate.results import Table, mean_of

NOT_RUN = "not run"
MATH_COLS = tuple(f"{b}/{DEFAULT_MATH_MODE}" for b in MATH_BENCHMARKS)
BBH_COLS = tuple(f"bbh/{m}" for m in BBH_MODES)
MAS_COLS = MATH_COLS[1:]
TABLE_COLS = (*MATH_COLS, *BBH_COLS)
COL_NAMES = ("GSM8K", "MultiArith", "ASDiv", "SVAMP", "BBH-AO", "BBH-CoT")
FIGURES = ("fig2_curves.png", "fig3_matching.png", "fig4_formats.png")


@dataclasses.dataclass
class RunData:
    """Everything the report needs from one run directory."""

    info: runinfo.RunInfo
    dev: Table
    test: Table
    selections: dict[str, select.Selection | None]
    loss: list[tuple[int, float]]

    @property
    def baseline(self) -> bool:
        return self.info.stage == "baseline"

    def report_step(self, rule: str = "gsm8k_dev") -> int | None:
        """The checkpoint a table row shows: selected by ``rule``; baselines: latest test."""
        if self.baseline:
            steps = list(self.test) or list(self.dev)
            return max(steps) if steps else None
        sel = self.selections.get(rule)
        return None if sel is None else sel.step


def read_loss_curve(run_dir: Path, tag: str = "loss") -> list[tuple[int, float]]:
    """``[(step, value)]`` of a training scalar from ``RUN/train/events.*`` (empty if none).

    Read with TensorBoard's own TFRecord reader and protos, without importing TensorFlow (6 of
    the report's 8 seconds on a CPU host); a record still being written ends a file's points.
    """
    files = sorted((run_dir / "train").glob("events.out.tfevents.*"))
    if not files:
        return []
    from tensorboard.compat.proto import event_pb2
    from tensorboard.compat.tensorflow_stub import errors, pywrap_tensorflow
    from tensorboard.util import tensor_util

    points: dict[int, float] = {}
    for path in files:
        reader = pywrap_tensorflow.PyRecordReader_New(str(path).encode(), 0, b"", None)
        while True:
            try:
                reader.GetNext()
            except (errors.OutOfRangeError, errors.DataLossError):
                break
            event = event_pb2.Event.FromString(reader.record())
            for value in event.summary.value:
                if value.tag != tag:
                    continue
                kind = value.WhichOneof("value")
                number = (
                    float(tensor_util.make_ndarray(value.tensor))
                    if kind == "tensor"
                    else float(value.simple_value)
                )
                points[int(event.step)] = number
    return sorted(points.items())


def load_run_data(run_dir: str | os.PathLike) -> RunData:
    """Reads one run; InputError if it has no evaluation results at all."""
    path = Path(run_dir)
    records = results.load_run(path)
    info = runinfo.read_run_info(path)
    dev = results.accuracy_table(records, "dev")
    return RunData(
        info=info,
        dev=dev,
        test=results.accuracy_table(records, "test"),
        selections=_selections(dev, info.eval_before_training),
        loss=read_loss_curve(path),
    )


def _selections(dev: results.Table, eval_before_training: bool) -> dict:
    candidates = select.trained_steps(dev, eval_before_training)
    return select.select_all(candidates) if candidates else dict.fromkeys(select.RULES)


# ------------------------------------------------------------------------------------ tables
def pct(value: float | None) -> str:
    """``"42.5"`` for 0.425; ``not run`` for None."""
    return NOT_RUN if value is None else f"{100 * value:.1f}"


def _row_at(table: Table, step: int | None) -> dict[str, float]:
    return {} if step is None else table.get(step, {})


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
        row = _row_at(run.test, step)
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


def _before_row(run: RunData, runs: Sequence[RunData]) -> dict[str, float]:
    if run.info.eval_before_training and run.dev:
        return run.dev[min(run.dev)]
    for other in runs:
        if other.baseline and other.info.model == run.info.model and other.dev:
            return other.dev[max(other.dev)]
    return {}


def table2(runs: Sequence[RunData]) -> str:
    """Dev accuracy before → after specialization, per specialized run."""
    rows = []
    targets = [r for r in runs if not r.baseline] or list(runs)
    for run in targets:
        before = (
            _before_row(run, runs)
            if not run.baseline
            else run.dev.get(max(run.dev), {})
            if run.dev
            else {}
        )
        after = {} if run.baseline else _row_at(run.dev, run.report_step())
        cells = [f"{pct(before.get(c))} → {pct(after.get(c))}" for c in TABLE_COLS]
        rows.append([*_describe(run), *cells])
    return _markdown(["run", "model", "loss", "formats", *COL_NAMES], rows)


def table3(runs: Sequence[RunData]) -> str:
    """In- vs out-of-distribution test accuracy under each selection rule."""
    rows = []
    for run in (r for r in runs if not r.baseline):
        for rule in select.RULES:
            sel = run.selections.get(rule)
            test = _row_at(run.test, None if sel is None else sel.step)
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


# ----------------------------------------------------------------------------------- figures
def _series(table: Table, cols: Sequence[str]) -> tuple[list[int], list[float]]:
    points = [(s, mean_of(row, cols)) for s, row in table.items()]
    points = [(s, 100 * v) for s, v in points if v is not None]
    return [p[0] for p in points], [p[1] for p in points]


def _not_run(ax, text: str = NOT_RUN) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="gray")


def _curves(ax, runs: Sequence[RunData], cols: Sequence[str], title: str) -> None:
    drawn = False
    for run in runs:
        steps, values = _series(run.dev, cols)
        if not steps:
            continue
        if run.baseline:
            ax.axhline(values[-1], linestyle=":", color="gray", label=run.info.label)
        else:
            ax.plot(steps, values, marker="o", label=run.info.label)
        drawn = True
    ax.set_title(title)
    ax.set_xlabel("step")
    ax.set_ylabel("dev accuracy (%)")
    ax.set_ylim(-2, 102)
    if drawn:
        ax.legend(fontsize=6)
    else:
        _not_run(ax)


def figure2(runs: Sequence[RunData], path: Path) -> Path:
    """Math and BBH dev accuracy vs training steps."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    panels = [
        (MATH_COLS[:1], "GSM8K dev"),
        (MAS_COLS, "M-A-S dev (mean)"),
        (BBH_COLS[:1], "BBH answer-only dev"),
        (BBH_COLS[1:], "BBH CoT dev"),
    ]
    for ax, (cols, title) in zip(axes.flat, panels, strict=True):
        _curves(ax, runs, cols, title)
    fig.suptitle("Figure 2: specialization trades generic (BBH) for math ability")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def figure3(runs: Sequence[RunData], path: Path) -> Path:
    """Distribution vs sample matching: training loss and GSM8K dev accuracy vs steps."""
    import matplotlib.pyplot as plt

    trained = [r for r in runs if not r.baseline]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4))
    with_loss = [r for r in trained if r.loss]
    for run in with_loss:
        loss_ax.plot(
            [p[0] for p in run.loss],
            [p[1] for p in run.loss],
            label=f"{run.info.name} ({run.info.loss})",
        )
    loss_ax.set_title("training loss")
    loss_ax.set_xlabel("step")
    if with_loss:
        loss_ax.legend(fontsize=6)
    else:
        _not_run(loss_ax)
    _curves(acc_ax, trained, MATH_COLS[:1], "GSM8K dev accuracy")
    fig.suptitle("Figure 3: distribution matching (kl) vs sample matching (ce)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def figure4(runs: Sequence[RunData], path: Path) -> Path:
    """Tuning formats vs test prompting: GSM8K dev, in-context and zero-shot CoT."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    trained = [r for r in runs if not r.baseline] or list(runs)
    modes = (("ic_cot", "tested in-context"), ("zs_cot", "tested zero-shot"))
    fig, ax = plt.subplots(figsize=(max(5, 2.2 * len(trained)), 4))
    width = 0.38
    for k, (mode, _) in enumerate(modes):
        for i, run in enumerate(trained):
            value = _row_at(run.dev, run.report_step()).get(f"gsm8k/{mode}")
            x = i + (k - 0.5) * width
            if value is None:
                ax.text(x, 1, NOT_RUN, rotation=90, ha="center", va="bottom", fontsize=7)
            else:
                ax.bar(x, 100 * value, width, color=f"C{k}")
                ax.text(x, 100 * value + 1, f"{100 * value:.1f}", ha="center", fontsize=7)
    ax.set_xticks(range(len(trained)))
    ax.set_xticklabels([f"{r.info.name}\ntuned: {r.info.formats}" for r in trained], fontsize=7)
    ax.set_ylabel("GSM8K dev accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(handles=[Patch(color=f"C{k}", label=m[1]) for k, m in enumerate(modes)], fontsize=7)
    ax.set_title("Figure 4: tuning formats × test prompting")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


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
            "zero-shot CoT prompting; BBH is the macro average over its 27 tasks. Test numbers "
            "carry their 95% interval `[low, high]` (bootstrap over test items; none where the "
            "evaluation kept no per-item predictions).",
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
